//! The optional metrics listener (`start --metrics ADDR`): `GET /metrics`
//! over HTTP/1 (hyper), every other path 404. Bounded: at most
//! [`MAX_CONNECTIONS`] connections are served at once (more wait in the
//! kernel's backlog), each for at most [`CONNECTION_TIMEOUT`]; it stops
//! accepting, and drops the connections in flight, when the daemon shuts
//! down.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 16;
/// The longest a connection may last, slow clients included.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(30);
/// The path of the exposition.
pub const PATH: &str = "/metrics";

/// Whatever renders the exposition (the daemon's control handler).
pub trait Source: Send + Sync + 'static {
    /// The exposition now; `None` when the supervisor cannot answer (it is
    /// shutting down).
    fn exposition(&self) -> impl Future<Output = Option<String>> + Send;
}

#[derive(Debug, thiserror::Error)]
#[error(
    "cannot listen for metrics on {addr}: {source}; choose another `--metrics` address, or stop what holds it"
)]
pub struct BindError {
    pub addr: SocketAddr,
    #[source]
    pub source: std::io::Error,
}

/// Binds the listener; a non-loopback address is logged as a warning.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, BindError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| BindError { addr, source })?;
    if !addr.ip().is_loopback() {
        tracing::warn!(%addr, "metrics are served beyond this host: anyone who can reach {addr} reads them (no token or secret is among them)");
    }
    tracing::info!(%addr, "serving metrics at http://{addr}{PATH}");
    Ok(listener)
}

/// What a request gets, by method and path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Metrics,
    NotFound,
    MethodNotAllowed,
}

/// Routes a request: `GET` or `HEAD` of [`PATH`] (any query) is the
/// exposition, another method there 405, any other path 404.
pub fn route(method: &Method, path: &str) -> Route {
    match (path, method) {
        (PATH, &Method::GET | &Method::HEAD) => Route::Metrics,
        (PATH, _) => Route::MethodNotAllowed,
        _ => Route::NotFound,
    }
}

/// Serves until `shutdown` completes.
pub async fn serve<S: Source>(
    listener: TcpListener,
    source: Arc<S>,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        while connections.try_join_next().is_some() {}
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            permit = Arc::clone(&slots).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(err) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %err, "metrics listener: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let source = Arc::clone(&source);
        connections.spawn(async move {
            let _permit = permit;
            let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                let source = Arc::clone(&source);
                async move {
                    let route = route(request.method(), request.uri().path());
                    Ok::<_, Infallible>(respond(route, source.as_ref()).await)
                }
            });
            let connection = http1::Builder::new()
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), service);
            // A client that leaves or dawdles is no concern of the daemon.
            let _ = tokio::time::timeout(CONNECTION_TIMEOUT, connection).await;
        });
    }
    connections.shutdown().await;
}

async fn respond<S: Source>(route: Route, source: &S) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match route {
        Route::Metrics => match source.exposition().await {
            Some(text) => (StatusCode::OK, super::CONTENT_TYPE, text),
            None => (
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain; charset=utf-8",
                String::from("the supervisor is shutting down\n"),
            ),
        },
        Route::NotFound => (
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            format!("not found: metrics are at {PATH}\n"),
        ),
        Route::MethodNotAllowed => (
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            String::from("method not allowed: use GET\n"),
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if route == Route::MethodNotAllowed {
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_get_and_head_of_metrics_are_the_exposition() {
        let rows: &[(Method, &str, Route)] = &[
            (Method::GET, "/metrics", Route::Metrics),
            (Method::HEAD, "/metrics", Route::Metrics),
            (Method::POST, "/metrics", Route::MethodNotAllowed),
            (Method::GET, "/", Route::NotFound),
            (Method::GET, "/metrics/", Route::NotFound),
            (Method::GET, "/status", Route::NotFound),
            (Method::POST, "/other", Route::NotFound),
        ];
        for (method, path, expected) in rows {
            assert_eq!(route(method, path), *expected, "{method} {path}");
        }
    }
}
