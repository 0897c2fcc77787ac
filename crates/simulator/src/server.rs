//! The simulated gateway's HTTP side: the real probe endpoints, plus the
//! simulator-only `/__sim/*` control endpoints (not part of the real gateway).

use std::convert::Infallible;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{ALLOW, CONNECTION, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde_json::json;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// What the version field of `/startupz` reports.
pub const SIM_GATEWAY_VERSION: &str = "2026.9.6-sim";

/// Requests the HTTP side passes to the main loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerEvent {
    /// `POST /__sim/crash`: exit with this code once the answer is sent.
    Crash(u8),
}

/// State shared by every connection.
#[derive(Debug)]
pub struct SimState {
    process_start: Instant,
    start_delay: Duration,
    wedged: AtomicBool,
    ready_failing: Mutex<Vec<String>>,
    events: mpsc::UnboundedSender<ServerEvent>,
    /// Agent turns in flight, each until its end (`POST /__sim/turn`).
    turns: Mutex<Vec<tokio::time::Instant>>,
    /// Woken when a turn begins or is finished early.
    turns_changed: tokio::sync::Notify,
    /// Shutting down: `/readyz` says `gateway-draining`, as the real one does.
    draining: AtomicBool,
    /// `POST {hooks.path}/wake|agent`, when the config enables hooks.
    hooks: Option<super::hooks::Hooks>,
}

/// How long a turn lasts when `POST /__sim/turn` names no `for`: until
/// `POST /__sim/turns/finish`.
const UNTIL_FINISHED: Duration = Duration::from_secs(365 * 86_400);

impl SimState {
    pub fn new(
        process_start: Instant,
        start_delay: Duration,
        ready_failing: Vec<String>,
        events: mpsc::UnboundedSender<ServerEvent>,
        hooks: Option<super::hooks::Hooks>,
    ) -> Self {
        SimState {
            process_start,
            start_delay,
            wedged: AtomicBool::new(false),
            ready_failing: Mutex::new(clean_list(ready_failing)),
            events,
            turns: Mutex::new(Vec::new()),
            turns_changed: tokio::sync::Notify::new(),
            draining: AtomicBool::new(false),
            hooks,
        }
    }

    fn turns(&self) -> std::sync::MutexGuard<'_, Vec<tokio::time::Instant>> {
        self.turns
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// An agent turn in flight for `length`.
    pub fn begin_turn(&self, length: Duration) {
        self.turns().push(tokio::time::Instant::now() + length);
        self.turns_changed.notify_waiters();
    }

    /// Every turn in flight ends now.
    pub fn finish_turns(&self) {
        self.turns().clear();
        self.turns_changed.notify_waiters();
    }

    /// Turns still in flight, and when the last of them ends.
    pub fn active_turns(&self) -> (usize, Option<tokio::time::Instant>) {
        let now = tokio::time::Instant::now();
        let mut turns = self.turns();
        turns.retain(|end| *end > now);
        (turns.len(), turns.iter().max().copied())
    }

    /// Resolves when a turn begins or is finished early (register before
    /// looking at the turns, so nothing is missed).
    pub fn turns_changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.turns_changed.notified()
    }

    pub fn set_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    pub fn wedge(&self) {
        self.wedged.store(true, Ordering::SeqCst);
    }

    fn is_wedged(&self) -> bool {
        self.wedged.load(Ordering::SeqCst)
    }

    fn started(&self) -> bool {
        self.process_start.elapsed() >= self.start_delay
    }

    fn uptime_ms(&self) -> u64 {
        u64::try_from(self.process_start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn failing(&self) -> Vec<String> {
        match self.ready_failing.lock() {
            Ok(list) => list.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn set_failing(&self, list: Vec<String>) {
        match self.ready_failing.lock() {
            Ok(mut guard) => *guard = list,
            Err(poisoned) => *poisoned.into_inner() = list,
        }
    }
}

fn clean_list(list: Vec<String>) -> Vec<String> {
    list.into_iter()
        .map(|item| item.trim().to_string())
        .filter(|item| !item.is_empty())
        .collect()
}

/// Accepts connections for ever. Wedged, it still accepts but never answers.
pub async fn serve(listener: TcpListener, state: Arc<SimState>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _peer)) => stream,
            Err(err) => {
                // Out of file descriptors and the like: back off instead of spinning.
                let _ = writeln!(std::io::stderr().lock(), "[gateway] accept failed: {err}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            if state.is_wedged() {
                swallow(stream).await;
            } else {
                serve_connection(stream, state).await;
            }
        });
    }
}

/// Holds a connection open without answering until the peer goes away.
async fn swallow(mut stream: TcpStream) {
    let mut buffer = [0u8; 1024];
    while let Ok(read) = stream.read(&mut buffer).await {
        if read == 0 {
            break;
        }
    }
}

async fn serve_connection(stream: TcpStream, state: Arc<SimState>) {
    // A crash asked on this connection waits until the connection closes, so
    // the answer is on the wire before the process exits.
    let crash_code: Arc<OnceLock<u8>> = Arc::new(OnceLock::new());
    let service_state = Arc::clone(&state);
    let service_crash = Arc::clone(&crash_code);
    let service = service_fn(move |request| {
        let state = Arc::clone(&service_state);
        let crash = Arc::clone(&service_crash);
        async move { handle(request, state, crash).await }
    });
    // A client that disconnects mid-request is no concern of the simulator.
    let _ = http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
    if let Some(code) = crash_code.get() {
        let _ = state.events.send(ServerEvent::Crash(*code));
    }
}

fn json_response(status: StatusCode, body: serde_json::Value) -> Response<Full<Bytes>> {
    body_response(status, &body)
}

fn body_response(status: StatusCode, body: &impl Serialize) -> Response<Full<Bytes>> {
    let text = serde_json::to_string(body).expect("probe bodies always serialize");
    let mut response = Response::new(Full::new(Bytes::from(text)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

fn method_not_allowed(allow: &'static str) -> Response<Full<Bytes>> {
    let mut response = json_response(
        StatusCode::METHOD_NOT_ALLOWED,
        json!({ "ok": false, "error": "method not allowed" }),
    );
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    response
}

fn query_param(request: &Request<Incoming>, name: &str) -> Option<String> {
    request.uri().query().and_then(|query| {
        query.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (key == name).then(|| value.replace("%2C", ",").replace("%2c", ","))
        })
    })
}

async fn handle(
    request: Request<Incoming>,
    state: Arc<SimState>,
    crash: Arc<OnceLock<u8>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if state.is_wedged() {
        // A wedged gateway never answers, even on a connection opened earlier.
        std::future::pending::<()>().await;
    }
    let path = request.uri().path().to_string();
    if let Some(hooks) = state.hooks.as_ref().filter(|hooks| hooks.owns(&path)) {
        return Ok(hooks.handle(request).await);
    }
    let readable = request.method() == Method::GET || request.method() == Method::HEAD;
    let response = match path.as_str() {
        "/healthz" | "/health" | "/startupz" | "/startup" | "/readyz" | "/ready" if !readable => {
            method_not_allowed("GET, HEAD")
        }
        "/healthz" | "/health" => body_response(
            StatusCode::OK,
            &HealthBody {
                ok: true,
                status: "live",
            },
        ),
        "/startupz" | "/startup" => startup(&state),
        "/readyz" | "/ready" => readiness(&state),
        "/__sim/crash"
        | "/__sim/wedge"
        | "/__sim/ready"
        | "/__sim/turn"
        | "/__sim/turns/finish"
            if request.method() != Method::POST =>
        {
            method_not_allowed("POST")
        }
        "/__sim/crash" => {
            let code = query_param(&request, "code")
                .map(|text| text.parse::<u8>())
                .transpose();
            match code {
                Ok(code) => {
                    let code = code.unwrap_or(1);
                    let _ = crash.set(code);
                    let mut response =
                        json_response(StatusCode::OK, json!({ "ok": true, "exitCode": code }));
                    // Closing the connection lets the answer go out before the exit.
                    response
                        .headers_mut()
                        .insert(CONNECTION, HeaderValue::from_static("close"));
                    response
                }
                Err(_) => json_response(
                    StatusCode::BAD_REQUEST,
                    json!({ "ok": false, "error": "code must be 0..255" }),
                ),
            }
        }
        "/__sim/wedge" => {
            let _ = writeln!(
                std::io::stdout().lock(),
                "[gateway] sim: wedged on request; no request will be answered from now on"
            );
            state.wedge();
            json_response(StatusCode::OK, json!({ "ok": true, "wedged": true }))
        }
        "/__sim/ready" => {
            let list = query_param(&request, "failing")
                .map(|text| clean_list(text.split(',').map(str::to_string).collect()))
                .unwrap_or_default();
            state.set_failing(list.clone());
            json_response(StatusCode::OK, json!({ "ok": true, "failing": list }))
        }
        "/__sim/turn" => {
            let length = query_param(&request, "for")
                .map(|text| humantime::parse_duration(&text))
                .transpose();
            match length {
                Ok(length) => {
                    let length = length.unwrap_or(UNTIL_FINISHED);
                    state.begin_turn(length);
                    let _ = writeln!(
                        std::io::stdout().lock(),
                        "[gateway] sim: agent turn started ({})",
                        humantime::format_duration(length)
                    );
                    json_response(
                        StatusCode::OK,
                        json!({ "ok": true, "active": state.active_turns().0 }),
                    )
                }
                Err(_) => json_response(
                    StatusCode::BAD_REQUEST,
                    json!({ "ok": false, "error": "for must be a duration like 30s" }),
                ),
            }
        }
        "/__sim/turns/finish" => {
            state.finish_turns();
            json_response(StatusCode::OK, json!({ "ok": true, "active": 0 }))
        }
        _ => json_response(
            StatusCode::NOT_FOUND,
            json!({ "ok": false, "error": "not found" }),
        ),
    };
    Ok(response)
}

/// `/healthz` body.
#[derive(Serialize)]
struct HealthBody {
    ok: bool,
    status: &'static str,
}

/// What the real gateway waits for while `/startupz` says "starting" (its
/// `pendingReason`, and the name `/readyz` lists as failing meanwhile).
pub const PENDING_REASON: &str = "startup-sidecars";

/// `/startupz` body, fields in the real gateway's order: 503
/// `{"ok":false,"status":"starting","version":..,"uptimeMs":..,"pendingReason":"startup-sidecars"}`,
/// then 200 `{"ok":true,"status":"started","version":..,"uptimeMs":..}`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StartupBody {
    ok: bool,
    status: &'static str,
    version: &'static str,
    uptime_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pending_reason: Option<&'static str>,
}

/// `/readyz` body (the real one also carries an `eventLoop` report).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReadyBody {
    ready: bool,
    failing: Vec<String>,
    uptime_ms: u64,
}

fn startup(state: &SimState) -> Response<Full<Bytes>> {
    let started = state.started();
    body_response(
        if started {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        &StartupBody {
            ok: started,
            status: if started { "started" } else { "starting" },
            version: SIM_GATEWAY_VERSION,
            uptime_ms: state.uptime_ms(),
            pending_reason: (!started).then_some(PENDING_REASON),
        },
    )
}

fn readiness(state: &SimState) -> Response<Full<Bytes>> {
    let mut failing = state.failing();
    if state.draining.load(Ordering::SeqCst) {
        // The real readiness checker answers this alone while draining.
        failing = vec!["gateway-draining".to_string()];
    } else if !state.started() {
        failing.insert(0, PENDING_REASON.to_string());
    }
    let ready = failing.is_empty();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    body_response(
        status,
        &ReadyBody {
            ready,
            failing,
            uptime_ms: state.uptime_ms(),
        },
    )
}
