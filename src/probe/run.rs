//! One probe attempt: HTTP through hyper or a TCP connect, always to loopback.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::Request;
use hyper::header::{CONNECTION, HOST, USER_AGENT};
use hyper_util::rt::TokioIo;
use serde::{Serialize, Serializer};
use tokio::net::TcpStream;

use super::ProbeKind;

/// Bodies past this size are not read: probe answers are a few hundred bytes.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// Where a probe goes. Probe traffic is loopback only: whatever the gateway's
/// bind mode, it listens on 127.0.0.1 too, and [`run_once`] refuses any other
/// address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ProbeTarget {
    pub host: IpAddr,
    pub port: u16,
}

impl ProbeTarget {
    /// 127.0.0.1:`port`.
    pub fn loopback(port: u16) -> Self {
        ProbeTarget {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port,
        }
    }

    /// The target for a gateway with bind mode `bind` on `port`: always
    /// 127.0.0.1, since every mode (`loopback`, `lan`, `auto`, ...) listens there.
    pub fn for_bind(_bind: &str, port: u16) -> Self {
        ProbeTarget::loopback(port)
    }

    fn address(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }
}

/// Why an attempt did not answer yes. Serialized as its message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeFailure {
    #[error("{0} is not a loopback address: probes only go to 127.0.0.1 or ::1")]
    NotLoopback(IpAddr),
    #[error("connection refused")]
    Refused,
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("no answer within {}", humantime::format_duration(*.0))]
    Timeout(Duration),
    #[error("http status {0}")]
    Status(u16),
    #[error("json field `{field}` is {found}, expected \"{expected}\"")]
    JsonMismatch {
        field: String,
        expected: String,
        /// The field's JSON text, or `missing`.
        found: String,
    },
    #[error("the body is not a JSON object: {0}")]
    Body(String),
    #[error("http error: {0}")]
    Http(String),
    #[error("exec probes run through the supervisor's spawner: call run_once_with an ExecRunner")]
    ExecUnavailable,
    #[error("exited with code {0}")]
    ExitCode(i32),
    #[error("killed by signal {0}")]
    Signal(i32),
    #[error("cannot run the probe command: {0}")]
    Spawn(String),
}

impl Serialize for ProbeFailure {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The result of one attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbeOutcome {
    /// `None` when the probe answered yes.
    pub failure: Option<ProbeFailure>,
    /// The HTTP status, when an HTTP answer came.
    pub http_status: Option<u16>,
    /// From the start of the attempt to its end (success or failure).
    #[serde(serialize_with = "serialize_millis")]
    pub latency: Duration,
    /// The body's top-level `failing` list (what `/readyz` reports), when it has one.
    pub failing: Option<Vec<String>>,
}

fn serialize_millis<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
}

impl ProbeOutcome {
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }

    fn failed(failure: ProbeFailure, latency: Duration) -> Self {
        ProbeOutcome {
            failure: Some(failure),
            http_status: None,
            latency,
            failing: None,
        }
    }
}

/// A boxed future, so [`ExecRunner`] can be used as a trait object.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How an exec probe's process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecExit {
    Code(i32),
    Signal(i32),
    /// The runner killed it at the timeout.
    TimedOut,
    SpawnFailed(String),
}

/// Runs exec probes. The supervisor implements it with its single spawner
/// and reaper (nothing else in the process may fork or `waitpid`).
pub trait ExecRunner: Send + Sync {
    /// Runs `argv` without a shell, stdin from /dev/null, and waits at most
    /// `timeout`; past that it kills the process (and its group) and
    /// answers [`ExecExit::TimedOut`].
    fn run<'a>(&'a self, argv: &'a [String], timeout: Duration) -> BoxFuture<'a, ExecExit>;
}

/// One attempt of an HTTP or TCP probe. An exec probe answers
/// [`ProbeFailure::ExecUnavailable`]: use [`run_once_with`] for those.
pub async fn run_once(probe: &ProbeKind, target: &ProbeTarget, timeout: Duration) -> ProbeOutcome {
    run_once_with(probe, target, timeout, None).await
}

/// One attempt of any probe; `exec` runs exec probes.
pub async fn run_once_with(
    probe: &ProbeKind,
    target: &ProbeTarget,
    timeout: Duration,
    exec: Option<&dyn ExecRunner>,
) -> ProbeOutcome {
    let start = Instant::now();
    if !target.host.is_loopback() {
        return ProbeOutcome::failed(ProbeFailure::NotLoopback(target.host), start.elapsed());
    }
    match probe {
        ProbeKind::Http { path, json } => {
            match tokio::time::timeout(timeout, http_attempt(target, path, json)).await {
                Ok(mut outcome) => {
                    outcome.latency = start.elapsed();
                    outcome
                }
                Err(_) => ProbeOutcome::failed(ProbeFailure::Timeout(timeout), start.elapsed()),
            }
        }
        ProbeKind::Tcp => {
            let failure =
                match tokio::time::timeout(timeout, TcpStream::connect(target.address())).await {
                    Ok(Ok(_stream)) => None,
                    Ok(Err(err)) => Some(connect_failure(&err)),
                    Err(_) => Some(ProbeFailure::Timeout(timeout)),
                };
            ProbeOutcome {
                failure,
                http_status: None,
                latency: start.elapsed(),
                failing: None,
            }
        }
        ProbeKind::Exec { argv } => {
            let failure = match exec {
                None => Some(ProbeFailure::ExecUnavailable),
                Some(runner) => match runner.run(argv, timeout).await {
                    ExecExit::Code(0) => None,
                    ExecExit::Code(code) => Some(ProbeFailure::ExitCode(code)),
                    ExecExit::Signal(signal) => Some(ProbeFailure::Signal(signal)),
                    ExecExit::TimedOut => Some(ProbeFailure::Timeout(timeout)),
                    ExecExit::SpawnFailed(why) => Some(ProbeFailure::Spawn(why)),
                },
            };
            ProbeOutcome {
                failure,
                http_status: None,
                latency: start.elapsed(),
                failing: None,
            }
        }
    }
}

fn connect_failure(err: &std::io::Error) -> ProbeFailure {
    if err.kind() == std::io::ErrorKind::ConnectionRefused {
        ProbeFailure::Refused
    } else {
        ProbeFailure::Connect(err.to_string())
    }
}

/// Aborts the connection task when the attempt ends, however it ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// An HTTP/1 connection to a loopback target: send requests through
/// `sender`; the connection ends when this is dropped.
pub(crate) struct Http1<B> {
    pub sender: hyper::client::conn::http1::SendRequest<B>,
    _connection: AbortOnDrop,
}

/// Connect to `target` (loopback only) and hand-shake HTTP/1.
pub(crate) async fn http1_connect<B>(target: &ProbeTarget) -> Result<Http1<B>, ProbeFailure>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if !target.host.is_loopback() {
        return Err(ProbeFailure::NotLoopback(target.host));
    }
    let stream = TcpStream::connect(target.address())
        .await
        .map_err(|err| connect_failure(&err))?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|err| ProbeFailure::Http(err.to_string()))?;
    let connection = AbortOnDrop(tokio::spawn(async move {
        // Errors surface through the request future as well.
        let _ = connection.await;
    }));
    Ok(Http1 {
        sender,
        _connection: connection,
    })
}

async fn http_attempt(
    target: &ProbeTarget,
    path: &str,
    json: &std::collections::BTreeMap<String, String>,
) -> ProbeOutcome {
    let failed = |failure| ProbeOutcome::failed(failure, Duration::ZERO);
    let Http1 {
        mut sender,
        _connection,
    } = match http1_connect(target).await {
        Ok(connection) => connection,
        Err(failure) => return failed(failure),
    };
    let request = Request::get(path)
        .header(HOST, target.address().to_string())
        .header(
            USER_AGENT,
            concat!("openclaw-supervisor/", env!("CARGO_PKG_VERSION")),
        )
        .header(CONNECTION, "close")
        .body(Empty::<Bytes>::new());
    let request = match request {
        Ok(request) => request,
        Err(err) => {
            return failed(ProbeFailure::Http(format!(
                "bad request for `{path}`: {err}"
            )));
        }
    };
    let response = match sender.send_request(request).await {
        Ok(response) => response,
        Err(err) => return failed(ProbeFailure::Http(err.to_string())),
    };
    let status = response.status();
    let body = match Limited::new(response.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
    {
        Ok(body) => body.to_bytes(),
        Err(err) => {
            return ProbeOutcome {
                http_status: Some(status.as_u16()),
                ..failed(ProbeFailure::Http(format!("reading the body: {err}")))
            };
        }
    };
    let parsed: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
    let failing = parsed.as_ref().and_then(failing_list);
    let failure = if !status.is_success() {
        Some(ProbeFailure::Status(status.as_u16()))
    } else {
        check_json(parsed.as_ref(), &body, json).err()
    };
    ProbeOutcome {
        failure,
        http_status: Some(status.as_u16()),
        latency: Duration::ZERO,
        failing,
    }
}

/// The top-level `failing` list of strings, if the body has one.
fn failing_list(value: &serde_json::Value) -> Option<Vec<String>> {
    let items = value.get("failing")?.as_array()?;
    Some(
        items
            .iter()
            .map(|item| match item {
                serde_json::Value::String(text) => text.clone(),
                other => other.to_string(),
            })
            .collect(),
    )
}

fn check_json(
    parsed: Option<&serde_json::Value>,
    body: &[u8],
    expected: &std::collections::BTreeMap<String, String>,
) -> Result<(), ProbeFailure> {
    if expected.is_empty() {
        return Ok(());
    }
    let Some(object) = parsed.and_then(|value| value.as_object()) else {
        let preview: String = String::from_utf8_lossy(body).chars().take(80).collect();
        return Err(ProbeFailure::Body(format!("{preview:?}")));
    };
    for (field, want) in expected {
        let found = match object.get(field) {
            None => "missing".to_string(),
            Some(serde_json::Value::String(text)) if text == want => continue,
            Some(serde_json::Value::String(text)) => format!("\"{text}\""),
            Some(other) => {
                let text = other.to_string();
                if text == *want {
                    continue;
                }
                text
            }
        };
        return Err(ProbeFailure::JsonMismatch {
            field: field.clone(),
            expected: want.clone(),
            found,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_checks() {
        #[allow(clippy::type_complexity)] // a table row: name, body fields, verdict
        let rows: Vec<(&str, &[(&str, &str)], Result<(), ProbeFailure>)> = vec![
            (r#"{"status":"started"}"#, &[("status", "started")], Ok(())),
            (r#"{"ok":true}"#, &[("ok", "true")], Ok(())),
            (r#"{"n":3}"#, &[("n", "3")], Ok(())),
            (r#"anything"#, &[], Ok(())),
            (
                r#"{"status":"starting"}"#,
                &[("status", "started")],
                Err(ProbeFailure::JsonMismatch {
                    field: "status".into(),
                    expected: "started".into(),
                    found: "\"starting\"".into(),
                }),
            ),
            (
                r#"{}"#,
                &[("status", "started")],
                Err(ProbeFailure::JsonMismatch {
                    field: "status".into(),
                    expected: "started".into(),
                    found: "missing".into(),
                }),
            ),
            (
                r#"not json"#,
                &[("status", "started")],
                Err(ProbeFailure::Body("\"not json\"".into())),
            ),
        ];
        for (body, expected, result) in rows {
            let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
            let expected = expected
                .iter()
                .map(|(key, value)| (key.to_string(), value.to_string()))
                .collect();
            assert_eq!(
                check_json(parsed.as_ref(), body.as_bytes(), &expected),
                result,
                "{body}"
            );
        }
    }

    #[test]
    fn failing_lists() {
        let rows: Vec<(&str, Option<Vec<&str>>)> = vec![
            (
                r#"{"ready":false,"failing":["discord","telegram"]}"#,
                Some(vec!["discord", "telegram"]),
            ),
            (r#"{"ready":true,"failing":[]}"#, Some(vec![])),
            (r#"{"ready":true}"#, None),
            (r#"{"failing":"discord"}"#, None),
        ];
        for (body, expected) in rows {
            let value: serde_json::Value = serde_json::from_str(body).expect("json");
            let expected = expected.map(|list| list.into_iter().map(String::from).collect());
            assert_eq!(failing_list(&value), expected, "{body}");
        }
    }
}
