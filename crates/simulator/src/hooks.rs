//! The simulated gateway's hooks, as openclaw 2026.9.6 serves them
//! (`dist/hooks-*.mjs`, `docs/gateway/config-hooks.md`): with
//! `hooks.enabled` and a token, `POST {hooks.path}/wake` and
//! `{hooks.path}/agent`; a `token` query parameter 400, a method other than
//! POST 405, a missing or wrong token 401 (`Authorization: Bearer` or
//! `x-openclaw-token`), 429 after 20 failures in a minute, a body over
//! 256 KiB 413, invalid JSON or a missing `text`/`message` 400, another
//! path below the base 404. Disabled hooks are not routed at all (the
//! real gateway falls through to the rest of its routes: a 404 here).
//!
//! Each accepted request is appended as one JSON line to
//! `<state dir>/hooks-received.jsonl` (`at`, `endpoint`, `body`), for tests.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{ALLOW, AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};

/// The normal hooks body limit.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// Failed authentications a minute before 429.
const FAILURES_A_MINUTE: usize = 20;
/// The file of accepted requests, in the state dir.
pub const RECEIVED_FILE: &str = "hooks-received.jsonl";

/// `hooks.*` of the config, when enabled with a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HooksConfig {
    pub token: String,
    /// Normalised: a leading slash, no trailing one.
    pub base_path: String,
}

impl HooksConfig {
    /// From a config's `hooks` object: `None` unless enabled with a token.
    pub fn from_config(config: Option<&Value>) -> Option<HooksConfig> {
        let hooks = config?.get("hooks")?;
        if hooks.get("enabled") != Some(&Value::Bool(true)) {
            return None;
        }
        // `${VAR}` is substituted from the gateway's environment, as
        // openclaw does when it loads its config (left as is when unset).
        let written = hooks.get("token")?.as_str()?;
        let env: openclaw_supervisor_core::openclaw::EnvMap = std::env::vars().collect();
        let token = openclaw_supervisor_core::openclaw::channels::substitute_env(written, &env)
            .unwrap_or_else(|_| written.to_string())
            .trim()
            .to_string();
        if token.is_empty() {
            return None;
        }
        let path = hooks
            .get("path")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|path| !path.is_empty())
            .unwrap_or("/hooks");
        let with_slash = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/{path}")
        };
        let base_path = with_slash.trim_end_matches('/').to_string();
        Some(HooksConfig {
            token,
            base_path: if base_path.is_empty() {
                "/hooks".to_string()
            } else {
                base_path
            },
        })
    }
}

/// The hooks' state: config, failed authentications, the record file.
#[derive(Debug)]
pub struct Hooks {
    config: HooksConfig,
    record: PathBuf,
    failures: Mutex<Vec<Instant>>,
    runs: Mutex<u64>,
    /// Authorised requests still to be answered 503 (a gateway not ready).
    unavailable: Mutex<u32>,
}

type Answer = Response<Full<Bytes>>;

fn text(status: StatusCode, body: &'static str) -> Answer {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn json_answer(status: StatusCode, body: Value) -> Answer {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

fn header<'a>(request: &'a Request<Incoming>, name: &str) -> Option<&'a str> {
    request.headers().get(name)?.to_str().ok().map(str::trim)
}

impl Hooks {
    pub fn new(config: HooksConfig, state_dir: &std::path::Path, unavailable: u32) -> Hooks {
        Hooks {
            config,
            record: state_dir.join(RECEIVED_FILE),
            failures: Mutex::new(Vec::new()),
            runs: Mutex::new(0),
            unavailable: Mutex::new(unavailable),
        }
    }

    /// Whether `path` is the hooks' to answer.
    pub fn owns(&self, path: &str) -> bool {
        let base = &self.config.base_path;
        path == base || path.starts_with(&format!("{base}/"))
    }

    /// The token the request carries: a non-empty Bearer first.
    fn token_of(request: &Request<Incoming>) -> Option<String> {
        if let Some(auth) = header(request, AUTHORIZATION.as_str())
            && auth.to_ascii_lowercase().starts_with("bearer ")
        {
            let token = auth[7..].trim();
            if !token.is_empty() {
                return Some(token.to_string());
            }
        }
        header(request, "x-openclaw-token")
            .filter(|token| !token.is_empty())
            .map(str::to_string)
    }

    /// Answer one request below the base path.
    pub async fn handle(&self, request: Request<Incoming>) -> Answer {
        let has_token_query = request.uri().query().is_some_and(|query| {
            query
                .split('&')
                .any(|pair| pair.split('=').next() == Some("token"))
        });
        if has_token_query {
            return text(
                StatusCode::BAD_REQUEST,
                "Hook token must be provided via Authorization: Bearer <token> or X-OpenClaw-Token header (query parameters are not allowed).",
            );
        }
        if request.method() != Method::POST {
            let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("POST"));
            return response;
        }
        if Self::token_of(&request).as_deref() != Some(self.config.token.as_str()) {
            return self.refuse();
        }
        self.failures_now().clear();
        {
            let mut unavailable = self.unavailable.lock().unwrap_or_else(|e| e.into_inner());
            if *unavailable > 0 {
                *unavailable -= 1;
                return json_answer(
                    StatusCode::SERVICE_UNAVAILABLE,
                    json!({ "ok": false, "error": "not ready" }),
                );
            }
        }
        let sub_path = request.uri().path()[self.config.base_path.len()..]
            .trim_start_matches('/')
            .to_string();
        if sub_path.is_empty() {
            return text(StatusCode::NOT_FOUND, "Not Found");
        }
        let body = match Limited::new(request.into_body(), MAX_BODY_BYTES)
            .collect()
            .await
        {
            Ok(body) => body.to_bytes(),
            Err(_) => {
                return json_answer(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    json!({ "ok": false, "error": "payload too large" }),
                );
            }
        };
        let payload: Value = if body.is_empty() {
            json!({})
        } else {
            match serde_json::from_slice(&body) {
                Ok(value) => value,
                Err(_) => {
                    return json_answer(
                        StatusCode::BAD_REQUEST,
                        json!({ "ok": false, "error": "invalid JSON" }),
                    );
                }
            }
        };
        let field = |name: &str| {
            payload
                .get(name)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|value| !value.is_empty())
                .is_some()
        };
        match sub_path.as_str() {
            "wake" if !field("text") => json_answer(
                StatusCode::BAD_REQUEST,
                json!({ "ok": false, "error": "text required" }),
            ),
            "wake" => {
                let mode = payload
                    .get("mode")
                    .and_then(Value::as_str)
                    .filter(|mode| *mode == "next-heartbeat")
                    .unwrap_or("now");
                self.record("wake", &payload);
                json_answer(
                    StatusCode::OK,
                    json!({ "ok": true, "mode": mode, "eventOutcome": "queued" }),
                )
            }
            "agent" if !field("message") => json_answer(
                StatusCode::BAD_REQUEST,
                json!({ "ok": false, "error": "message required" }),
            ),
            "agent" => {
                let run = {
                    let mut runs = self.runs.lock().unwrap_or_else(|p| p.into_inner());
                    *runs += 1;
                    *runs
                };
                self.record("agent", &payload);
                json_answer(
                    StatusCode::OK,
                    json!({ "ok": true, "runId": format!("sim-run-{run}") }),
                )
            }
            _ => text(StatusCode::NOT_FOUND, "Not Found"),
        }
    }

    fn failures_now(&self) -> std::sync::MutexGuard<'_, Vec<Instant>> {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures.retain(|at| at.elapsed() < Duration::from_secs(60));
        failures
    }

    /// 401, or 429 once 20 failures in a minute were counted.
    fn refuse(&self) -> Answer {
        let mut failures = self.failures_now();
        if failures.len() >= FAILURES_A_MINUTE {
            let retry_after = failures
                .first()
                .map(|first| 60u64.saturating_sub(first.elapsed().as_secs()).max(1))
                .unwrap_or(1);
            let mut response = text(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests");
            if let Ok(value) = HeaderValue::from_str(&retry_after.to_string()) {
                response.headers_mut().insert(RETRY_AFTER, value);
            }
            return response;
        }
        failures.push(Instant::now());
        text(StatusCode::UNAUTHORIZED, "Unauthorized")
    }

    /// One line in the record file (and one in the output, without the body).
    fn record(&self, endpoint: &str, payload: &Value) {
        let at = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let line = json!({ "at": at, "endpoint": endpoint, "body": payload });
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.record)
            .and_then(|mut file| writeln!(file, "{line}"));
        if let Err(err) = written {
            let _ = writeln!(
                std::io::stderr().lock(),
                "[hooks] sim: cannot record the request in {}: {err}",
                self.record.display()
            );
        }
        let _ = writeln!(std::io::stdout().lock(), "[hooks] {endpoint} hook accepted");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hooks_are_on_only_when_enabled_with_a_token() {
        let rows = [
            (json!({}), None),
            (json!({ "hooks": { "enabled": false, "token": "t" } }), None),
            (json!({ "hooks": { "enabled": true } }), None),
            (json!({ "hooks": { "enabled": true, "token": " " } }), None),
            (
                json!({ "hooks": { "enabled": true, "token": "t" } }),
                Some(("t", "/hooks")),
            ),
            (
                json!({ "hooks": { "enabled": true, "token": "t", "path": "rescue/" } }),
                Some(("t", "/rescue")),
            ),
        ];
        for (config, expected) in rows {
            let read = HooksConfig::from_config(Some(&config));
            assert_eq!(
                read.as_ref()
                    .map(|c| (c.token.as_str(), c.base_path.as_str())),
                expected,
                "{config}"
            );
        }
    }
}
