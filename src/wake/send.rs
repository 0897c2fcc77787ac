//! One wake: a `POST` of the message to the rescue's own gateway's hooks
//! endpoint on loopback, with the hook token as `Authorization: Bearer`,
//! bounded by a timeout. The token is only ever put in that header.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::Request;
use hyper::header::{AUTHORIZATION, CONNECTION, CONTENT_TYPE, HOST, USER_AGENT};

use crate::openclaw::hooks::HookToken;
use crate::probe::{Http1, ProbeTarget, http1_connect};

/// A wake that has no answer by then is retried.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(20);
/// Answers are short JSON; more is not read.
const MAX_ANSWER_BYTES: usize = 16 * 1024;

/// How one send ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The HTTP status, when the gateway answered.
    pub status: Option<u16>,
    /// The answer's `ok` field was `true`.
    pub ok: bool,
    /// In words: `200 ok`, `401: the hook token was refused`, `connection refused`.
    pub words: String,
}

/// `POST {path}` with `body` to the gateway at `target`, authorised by `token`.
pub async fn post(
    target: ProbeTarget,
    path: &str,
    token: &HookToken,
    body: &serde_json::Value,
) -> Sent {
    match tokio::time::timeout(SEND_TIMEOUT, attempt(target, path, token, body)).await {
        Ok(sent) => sent,
        Err(_) => no_answer(format!(
            "no answer within {}",
            humantime::format_duration(SEND_TIMEOUT)
        )),
    }
}

fn no_answer(words: String) -> Sent {
    Sent {
        status: None,
        ok: false,
        words,
    }
}

async fn attempt(
    target: ProbeTarget,
    path: &str,
    token: &HookToken,
    body: &serde_json::Value,
) -> Sent {
    let mut connection: Http1<Full<Bytes>> = match http1_connect(&target).await {
        Ok(connection) => connection,
        Err(failure) => return no_answer(failure.to_string()),
    };
    let request = Request::post(path)
        .header(HOST, format!("{}:{}", target.host, target.port))
        .header(
            USER_AGENT,
            concat!("openclaw-supervisor/", env!("CARGO_PKG_VERSION")),
        )
        .header(CONTENT_TYPE, "application/json")
        .header(AUTHORIZATION, format!("Bearer {}", token.expose()))
        .header(CONNECTION, "close")
        .body(Full::new(Bytes::from(body.to_string())));
    let request = match request {
        Ok(request) => request,
        // The path comes from `hooks.path`; the token's text is not named.
        Err(_) => return no_answer(format!("`{path}` cannot be requested: check hooks.path")),
    };
    let response = match connection.sender.send_request(request).await {
        Ok(response) => response,
        Err(err) => return no_answer(format!("the request failed: {err}")),
    };
    let status = response.status().as_u16();
    let answer = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
        .collect()
        .await
        .map(|body| body.to_bytes())
        .unwrap_or_default();
    let parsed: Option<serde_json::Value> = serde_json::from_slice(&answer).ok();
    let ok = parsed
        .as_ref()
        .and_then(|value| value.get("ok"))
        .and_then(serde_json::Value::as_bool)
        == Some(true);
    let error = parsed
        .as_ref()
        .and_then(|value| value.get("error"))
        .and_then(serde_json::Value::as_str);
    Sent {
        status: Some(status),
        ok,
        words: words(status, ok, error),
    }
}

/// A status and the gateway's `error`, in words that say what to check.
pub fn words(status: u16, ok: bool, error: Option<&str>) -> String {
    let hint = match status {
        200..=299 if ok => "ok",
        200..=299 => "accepted, but the answer did not say ok",
        400 => "the gateway refused the request",
        401 => "the hook token was refused: check hooks.token in the rescue's config",
        403 => "forbidden: check hooks.allowedAgentIds in the rescue's config",
        404 => "no hooks there: check hooks.enabled and hooks.path in the rescue's config",
        413 => "the message is too large",
        429 => "too many failed attempts: the gateway throttles",
        500..=599 => "the gateway failed to take it",
        _ => "unexpected answer",
    };
    let error: String = error
        .map(|error| crate::wake::clean_line(error, &[]))
        .map(|error| error.chars().take(200).collect())
        .unwrap_or_default();
    if error.is_empty() || (200..=299).contains(&status) {
        format!("{status} {hint}")
    } else {
        format!("{status} {hint} ({error})")
    }
}
