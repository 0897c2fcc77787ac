//! Waking a rescue's agent when its main fails: the message it gets (pure),
//! when it is sent (the planner in `plan.rs`, pure) and the sending (`send.rs`,
//! one loopback `POST` to the rescue's own gateway's hooks endpoint).
//!
//! The message says which instance failed, how, since when, the restarts so
//! far, main's last error lines (terminal escapes stripped, secrets
//! redacted: the tokens known from the configs and anything written as a
//! `token`, `password`, `secret` or `Bearer` value) and main's last events,
//! then the supervisor commands the agent can run. It stays far below the
//! hooks' 256 KiB body limit.

use std::path::Path;
use std::time::SystemTime;

use crate::declaration::WakeEndpoint;
use crate::openclaw::hooks::HookToken;
use crate::protocol::EventKind;

pub mod plan;
pub mod send;

pub use plan::{Answer, Kind, Planner, Step};

/// The most error lines a message carries (the last ones).
pub const MAX_ERROR_LINES: usize = 30;
/// The most events of main a message carries (the last ones).
pub const MAX_EVENTS: usize = 8;
/// A longer line is cut here (in characters).
const MAX_LINE_CHARS: usize = 400;
/// The whole text never passes this many bytes (the body limit is 256 KiB).
pub const MAX_MESSAGE_BYTES: usize = 32 * 1024;
/// What replaces a secret.
pub const REDACTED: &str = "<redacted>";

/// One event of main, as the message lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventLine {
    pub at: SystemTime,
    pub kind: EventKind,
    pub detail: String,
}

/// What the supervisor knows of main's failure when it sends the message.
#[derive(Debug, Clone)]
pub struct FailureFacts<'a> {
    /// The failed instance.
    pub main: &'a str,
    /// How, in words: `exited (exit code 1)`, `failed its liveness probe`.
    pub how: &'a str,
    /// When the failure episode began.
    pub since: SystemTime,
    /// main's restarts since the supervisor started.
    pub restarts: u32,
    /// main's state as the notice that woke the rescue left it
    /// (`backoff`, `failed`, ...).
    pub state: &'a str,
    /// How main's config was rolled back in this episode (`rollback: auto`).
    pub rolled_back: Option<&'a str>,
    /// main's last output lines that explain the failure, as captured.
    pub error_lines: &'a [String],
    /// main's last events, oldest first.
    pub events: &'a [EventLine],
    /// The supervisor's own binary (`std::env::current_exe`).
    pub supervisor: &'a Path,
    /// Secret values to take out of every line.
    pub secrets: &'a [HookToken],
}

fn utc(at: SystemTime) -> String {
    humantime::format_rfc3339_seconds(at).to_string()
}

/// The text the rescue's agent gets when main fails.
pub fn failure_message(facts: &FailureFacts) -> String {
    let main = facts.main;
    let mut text = format!(
        "openclaw-supervisor: the OpenClaw gateway `{main}` on this host has failed and may need you.\n\n\
         What happened: {main} {how}\n\
         Since: {since} (UTC)\n\
         Restarts so far: {restarts}\n\
         State now: {state}\n",
        how = facts.how,
        since = utc(facts.since),
        restarts = facts.restarts,
        state = facts.state,
    );
    if let Some(rolled_back) = facts.rolled_back {
        text.push_str(&format!(
            "Rolled back: {main}'s config was rolled back to its last known good ({}); it is started again with it\n",
            clean_line(rolled_back, facts.secrets)
        ));
    }
    let lines = &facts.error_lines[facts.error_lines.len().saturating_sub(MAX_ERROR_LINES)..];
    if !lines.is_empty() {
        text.push_str(&format!(
            "\nLast output lines of {main} (secrets redacted):\n"
        ));
        for line in lines {
            text.push_str("  ");
            text.push_str(&cut(&clean_line(line, facts.secrets)));
            text.push('\n');
        }
    }
    let events = &facts.events[facts.events.len().saturating_sub(MAX_EVENTS)..];
    if !events.is_empty() {
        text.push_str(&format!("\nLast events of {main}:\n"));
        for event in events {
            let detail = clean_line(&event.detail, facts.secrets);
            let line = format!("{} {} {}", utc(event.at), event.kind.as_str(), cut(&detail));
            text.push_str(&format!("  {}\n", line.trim_end()));
        }
    }
    text.push_str(&commands(main, facts.supervisor));
    limit(text)
}

/// The commands the agent can run, each with the supervisor's full path.
fn commands(main: &str, supervisor: &Path) -> String {
    let bin = supervisor.display();
    format!(
        "\nYou can look and act through the supervisor from your exec tool \
         (OPENCLAW_SUPERVISOR_SOCKET is already in your environment):\n\
         \x20 {bin} status\n\
         \x20 {bin} logs {main} -n 100\n\
         \x20 {bin} restart {main}\n\
         \x20 {bin} diff {main}\n\
         \x20 {bin} rollback {main}\n\
         Look first (status, logs, diff); restart or roll back only when the cause is clear.\n"
    )
}

/// The text the rescue's agent gets once main runs again.
pub fn recovered_message(main: &str, since: SystemTime, now: SystemTime, restarts: u32) -> String {
    let down = now.duration_since(since).unwrap_or_default();
    let down = humantime::format_duration(std::time::Duration::from_secs(down.as_secs()));
    format!(
        "openclaw-supervisor: `{main}` has recovered: it runs again and passed its startup probe \
         at {} (UTC), after {down} (failing since {} UTC, {restarts} restarts so far). \
         Nothing more is needed from you for this failure.\n",
        utc(now),
        utc(since),
    )
}

/// The JSON body for `endpoint`: `/agent` gets `{message, name}`, `/wake`
/// gets `{text, mode: "now"}`.
pub fn body(endpoint: WakeEndpoint, text: &str) -> serde_json::Value {
    match endpoint {
        WakeEndpoint::Agent => serde_json::json!({
            "message": text,
            "name": "openclaw-supervisor",
        }),
        WakeEndpoint::Wake => serde_json::json!({ "text": text, "mode": "now" }),
    }
}

/// A secret value shorter than this is not replaced by value (a `1` or a
/// `true` would blank out half the text); labels still catch it.
pub const MIN_SECRET_CHARS: usize = 8;

/// A line without terminal escapes and without secrets: each known secret
/// value (of at least [`MIN_SECRET_CHARS`], the longest first) replaced,
/// then every value after a secret label, then what looks like an API key
/// (`sk-...`) or a Telegram bot token (`123456:ABC...`).
pub fn clean_line(line: &str, secrets: &[HookToken]) -> String {
    let mut text = strip_ansi_escapes::strip_str(line);
    let mut values: Vec<&str> = secrets
        .iter()
        .map(HookToken::expose)
        .filter(|value| value.chars().count() >= MIN_SECRET_CHARS)
        .collect();
    values.sort_unstable_by_key(|value| std::cmp::Reverse(value.len()));
    for value in values {
        text = text.replace(value, REDACTED);
    }
    redact_shaped(&redact_labelled(&text))
}

/// The words after which a value is a secret, folded (lower case, no `_`
/// or `-`: `api_key`, `x-api-key` and `API-KEY` match `apikey`).
const SECRET_LABELS: [&str; 6] = [
    "authorization",
    "bearer",
    "token",
    "password",
    "secret",
    "apikey",
];

/// Where `label` (folded) matches `lower` at `at`, `_` and `-` allowed
/// between its letters: the end of the match.
fn match_label(lower: &[u8], at: usize, label: &str) -> Option<usize> {
    let mut cursor = at;
    for (index, wanted) in label.bytes().enumerate() {
        if index > 0 {
            while lower.get(cursor).is_some_and(|b| *b == b'_' || *b == b'-') {
                cursor += 1;
            }
        }
        if lower.get(cursor) != Some(&wanted) {
            return None;
        }
        cursor += 1;
    }
    Some(cursor)
}

/// Whether `word` looks like a secret by its shape alone: an OpenAI-style
/// key (`sk-` and 16 more) or a Telegram bot token (digits, `:`, 30 more).
fn looks_secret(word: &str) -> bool {
    let keyish = |rest: &str, least: usize| {
        rest.len() >= least
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    if let Some(rest) = word.strip_prefix("sk-") {
        return keyish(rest, 16);
    }
    if let Some((digits, rest)) = word.split_once(':') {
        let digits = digits
            .rsplit(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap_or("");
        return digits.len() >= 6 && keyish(rest, 30);
    }
    false
}

/// `text` with each word that [`looks_secret`] replaced (a word ends at
/// white space, quotes, `/`, `=`, `,`, `;`, `?`, `&` and brackets).
fn redact_shaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if looks_secret(word) {
            let keep = word
                .split_once(':')
                .filter(|_| !word.starts_with("sk-"))
                .map(|(head, _)| head.trim_end_matches(|c: char| c.is_ascii_digit()))
                .unwrap_or("");
            out.push_str(keep);
            out.push_str(REDACTED);
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_whitespace() || "\"'/=,;?&()[]{}<>".contains(c) {
            flush(&mut word, &mut out);
            out.push(c);
        } else {
            word.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// `text` with the value after each secret label (`Bearer X`, `token=X`,
/// `"token": "X"`, `password: X`) replaced.
fn redact_labelled(text: &str) -> String {
    let lower = text.to_ascii_lowercase().into_bytes();
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut at = 0;
    while at < bytes.len() {
        let Some((label, mut end)) = SECRET_LABELS
            .iter()
            .find_map(|label| Some((*label, match_label(&lower, at, label)?)))
        else {
            at += 1;
            continue;
        };
        // `token` in `tokens` or `tokenFile` is another word.
        if bytes.get(end).is_some_and(|b| b.is_ascii_alphanumeric()) {
            at = end;
            continue;
        }
        let mut cursor = end;
        let skip = |cursor: &mut usize, set: &[u8]| {
            while bytes.get(*cursor).is_some_and(|b| set.contains(b)) {
                *cursor += 1;
            }
        };
        skip(&mut cursor, b"\"'");
        let separator_at = cursor;
        skip(&mut cursor, b" \t");
        if label != "bearer" {
            if !bytes.get(cursor).is_some_and(|b| *b == b'=' || *b == b':') {
                at = end;
                continue;
            }
            cursor += 1;
            skip(&mut cursor, b" \t");
        } else if cursor == separator_at {
            at = end;
            continue;
        }
        skip(&mut cursor, b"\"'");
        // `Authorization: Bearer X`: the value is X.
        if label == "authorization" {
            for scheme in ["bearer", "basic", "token"] {
                if lower[cursor..].starts_with(scheme.as_bytes())
                    && bytes.get(cursor + scheme.len()) == Some(&b' ')
                {
                    cursor += scheme.len();
                    skip(&mut cursor, b" \t");
                    break;
                }
            }
        }
        let value_start = cursor;
        while bytes
            .get(cursor)
            .is_some_and(|b| !b" \t\"',;}]<>".contains(b))
        {
            cursor += 1;
        }
        end = cursor;
        if end > value_start && &text[value_start..end] != REDACTED {
            out.push_str(&text[copied..value_start]);
            out.push_str(REDACTED);
            copied = end;
        }
        at = end.max(at + 1);
    }
    out.push_str(&text[copied..]);
    out
}

/// A line cut at [`MAX_LINE_CHARS`].
fn cut(line: &str) -> String {
    match line.char_indices().nth(MAX_LINE_CHARS) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line.to_string(),
    }
}

/// The text cut at [`MAX_MESSAGE_BYTES`] on a character boundary.
fn limit(mut text: String) -> String {
    if text.len() > MAX_MESSAGE_BYTES {
        let mut at = MAX_MESSAGE_BYTES;
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        text.truncate(at);
        text.push_str("\n[cut]\n");
    }
    text
}

#[cfg(test)]
mod tests;
