//! The control protocol: wire types and codec. Pure: no IO.
//!
//! One JSON object per line each way (UTF-8, `\n`-terminated, at most
//! [`MAX_LINE`] bytes for a request). A request is
//! `{"v":1,"id":7,"request":{"type":"status","name":null}}`; every reply line
//! echoes the request's `id`: `{"v":1,"id":7,"response":{"type":"status",...}}`.
//! Streaming requests (`logs` with `follow`, `events`) get many reply lines
//! with the same id, closed by one `{"type":"end",...}`. PROTOCOL.md is the
//! reference a client in another language is written from; keep them in step.
//!
//! Wire types are separate from the daemon's internal types (the daemon
//! converts at the edge), so the wire format changes only on purpose. Only
//! this module knows the JSON shape.

use serde::{Deserialize, Serialize};
use thiserror::Error;

mod codec;
mod signal;
mod status;
#[cfg(test)]
mod tests;
pub use codec::{
    DecodeError, DecodeProblem, decode_request, decode_response, encode_request, encode_response,
};

pub use signal::{SignalName, UnknownSignal};
pub use status::{
    AdoptionStatus, LastNotify, Limit, NotifyMessage, RolledBack, Tracking, WakeStatus,
};
pub use status::{
    Breaker, ErrorSource, Event, EventKind, ExplicitPort, InstanceStatus, LastExit, LogLine,
    LogStream, Paths, Ports, ProbeStatus, Probes, RejectedFile, Role,
};

/// The protocol's major version. A request carrying another `v` gets an
/// `unsupported_version` error; additions that old clients can ignore (new
/// optional fields, new event kinds) do not change it.
pub const PROTOCOL_VERSION: u32 = 1;

/// The longest request line the daemon reads, newline included. Longer lines
/// get a `too_large` error and the connection is closed.
pub const MAX_LINE: usize = 64 * 1024;

/// The longest reply line a client accepts. Replies are bounded by the
/// daemon's own data (status of every instance, a log tail), not by the peer.
pub const MAX_RESPONSE_LINE: usize = 16 * 1024 * 1024;

/// One request line: version, the caller's id (echoed in every reply line),
/// and the request itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestEnvelope {
    pub v: u32,
    pub id: u64,
    pub request: Request,
}

impl RequestEnvelope {
    pub fn new(id: u64, request: Request) -> Self {
        RequestEnvelope {
            v: PROTOCOL_VERSION,
            id,
            request,
        }
    }
}

/// Everything a client can ask. Closed: an unknown `type` is an
/// `unknown_request` error naming it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    /// Every instance (`name: null`) or one.
    Status {
        #[serde(default)]
        name: Option<String>,
    },
    /// Start an instance and clear a stop by hand.
    Start {
        name: String,
    },
    /// Stop an instance and keep it stopped across supervisor restarts.
    Stop {
        name: String,
    },
    /// Stop and start an instance. A running gateway is stopped only when
    /// openclaw accepts its config (`config validate`), unless `force`.
    Restart {
        name: String,
        /// Skip the validation. Absent on the wire when false.
        #[serde(default, skip_serializing_if = "is_false")]
        force: bool,
    },
    /// Send a signal to the instance's process group.
    Signal {
        name: String,
        signal: SignalName,
    },
    /// The last `lines` lines of the instance's log (daemon default when
    /// null); with `follow`, then every new line until the client leaves.
    /// Without a name, every instance's, interleaved in time order (`lines`
    /// per instance).
    Logs {
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        lines: Option<usize>,
        #[serde(default)]
        follow: bool,
        /// Only lines read at or after this time (Unix ms); then `lines`
        /// is no limit unless given. Absent on the wire when null.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since_ms: Option<u64>,
    },
    /// Rescan the declarations directory.
    Reload,
    /// Run the isolation check over the current declarations.
    Check,
    /// State changes. With none of `name`, `lines`, `since_ms` and with
    /// `follow` absent or false (`{"type":"events"}`, as protocol 1 always
    /// had it): a live stream until the client leaves or the daemon stops.
    /// Otherwise the backlog from the daemon's event journal (only `name`'s
    /// events, those at or after `since_ms`, the last `lines` of them), then
    /// `end`, or with `follow` every new event after it, with no gap and no
    /// duplicate.
    Events {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lines: Option<usize>,
        /// Unix time in milliseconds.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since_ms: Option<u64>,
        #[serde(default, skip_serializing_if = "is_false")]
        follow: bool,
    },
    /// Stop every instance and exit.
    Shutdown,
    Version,
    /// The Prometheus text exposition of every instance and the supervisor.
    Metrics,
    /// The instance's OpenClaw config and declaration against its last
    /// known good, as a unified diff with secret values redacted (`ok`
    /// with the text as `message`).
    Diff {
        name: String,
    },
    /// Put the instance's last known good OpenClaw config back (the
    /// current one kept beside it) and restart it; `refused` when there is
    /// no last good or the config is the last good.
    Rollback {
        name: String,
    },
    /// Re-execute the supervisor in place (the binary at its path, maybe a
    /// newer build), keeping its pid and its socket: `ok`, then the
    /// connection closes with the exec (an `error` line follows when the
    /// exec fails); a `refused` error when it cannot be done now, and why.
    Reexec,
}

fn is_false(value: &bool) -> bool {
    !*value
}

impl Request {
    /// `events` as protocol 1 always had it: the live stream alone.
    pub fn live_events() -> Request {
        Request::Events {
            name: None,
            lines: None,
            since_ms: None,
            follow: false,
        }
    }

    /// Whether an `events` request asks for the journal's backlog (any
    /// field given) rather than the live stream alone.
    pub fn wants_backlog(&self) -> bool {
        match self {
            Request::Events {
                name,
                lines,
                since_ms,
                follow,
            } => name.is_some() || lines.is_some() || since_ms.is_some() || *follow,
            _ => false,
        }
    }
}

impl Request {
    /// The wire name of the request type, for logs and messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Request::Status { .. } => "status",
            Request::Start { .. } => "start",
            Request::Stop { .. } => "stop",
            Request::Restart { .. } => "restart",
            Request::Signal { .. } => "signal",
            Request::Logs { .. } => "logs",
            Request::Reload => "reload",
            Request::Check => "check",
            Request::Events { .. } => "events",
            Request::Shutdown => "shutdown",
            Request::Version => "version",
            Request::Metrics => "metrics",
            Request::Diff { .. } => "diff",
            Request::Rollback { .. } => "rollback",
            Request::Reexec => "reexec",
        }
    }

    /// Whether the reply is a stream of lines closed by `end`.
    pub fn is_streaming(&self) -> bool {
        matches!(
            self,
            Request::Events { .. } | Request::Logs { follow: true, .. }
        )
    }
}

/// Every request type, as spelled on the wire.
pub const REQUEST_TYPES: &[&str] = &[
    "status", "start", "stop", "restart", "signal", "logs", "reload", "check", "events",
    "shutdown", "version", "metrics", "diff", "rollback", "reexec",
];

/// One reply line. `id` is null only for errors about the connection or a
/// line whose id could not be read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseEnvelope {
    pub v: u32,
    pub id: Option<u64>,
    pub response: Response,
}

impl ResponseEnvelope {
    pub fn new(id: Option<u64>, response: Response) -> Self {
        ResponseEnvelope {
            v: PROTOCOL_VERSION,
            id,
            response,
        }
    }
}

/// Everything the daemon can answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Response {
    /// The action was accepted (start, stop, restart, signal, reload,
    /// shutdown); for an instance's command, carried out.
    Ok {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
        /// What became of a `start`, `stop`, `restart`, `rollback` or
        /// `signal`, once the instance acted on it. Absent on the wire
        /// when null: for other requests, from a daemon older than the
        /// field, and when the instance had not acted within the daemon's
        /// wait (the message says so).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        outcome: Option<CommandOutcome>,
    },
    Error {
        kind: ErrorKind,
        message: String,
    },
    Status {
        instances: Vec<InstanceStatus>,
        /// Declaration files the daemon refused to run, and why.
        #[serde(default)]
        rejected: Vec<RejectedFile>,
    },
    /// The tail of a log (`logs` without `follow`); `name` is null for
    /// every instance's (each line then names its own).
    Logs {
        #[serde(default)]
        name: Option<String>,
        lines: Vec<LogLine>,
    },
    /// One line of a followed log.
    LogLine(LogLine),
    /// One state change of an `events` stream.
    Event(Event),
    Version {
        /// The daemon's package version.
        version: String,
        protocol: u32,
    },
    /// The isolation report; `ok` is false when any conflict was found.
    Check {
        ok: bool,
        report: serde_json::Value,
    },
    /// The last line of a stream.
    End {
        reason: EndReason,
    },
    /// The Prometheus text exposition (format 0.0.4), as `GET /metrics`
    /// of the metrics listener serves it.
    Metrics {
        text: String,
    },
}

impl Response {
    pub fn error(kind: ErrorKind, message: impl Into<String>) -> Self {
        Response::Error {
            kind,
            message: message.into(),
        }
    }

    pub fn ok() -> Self {
        Response::Ok {
            message: None,
            outcome: None,
        }
    }

    pub fn ok_with(message: impl Into<String>) -> Self {
        Response::Ok {
            message: Some(message.into()),
            outcome: None,
        }
    }
}

/// An `ok` reply's `outcome`: what an instance did with a command, told
/// once it had done it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandOutcome {
    /// The instance's state right after it acted (a state name as in
    /// `status`; a newer daemon may add one).
    pub state: String,
    /// False when nothing was done because the instance already was where
    /// the command leads, or on its way there (a start of a running
    /// instance, a stop of a stopped one).
    pub acted: bool,
}

/// Why a stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The source has nothing more (an instance was removed, say).
    Finished,
    /// The daemon is shutting down.
    Shutdown,
    /// A newer daemon's reason this client does not know.
    #[serde(other)]
    Other,
}

/// What went wrong, for scripts to branch on; the message is for humans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Well-formed JSON, known type, but a field has the wrong type or value.
    BadRequest,
    /// The line is not UTF-8.
    NotUtf8,
    /// The line is not a JSON object.
    MalformedJson,
    /// `request.type` names no request this daemon knows.
    UnknownRequest,
    /// A required field is missing.
    MissingField,
    /// The line is longer than the limit; the connection is then closed.
    TooLarge,
    /// `v` is not [`PROTOCOL_VERSION`].
    UnsupportedVersion,
    /// No instance has that name.
    UnknownInstance,
    /// Not allowed: a peer that fails the credential check, or an action the
    /// daemon declines in the instance's current state.
    Refused,
    /// Too many clients are connected; the connection is closed.
    Busy,
    /// No request arrived within the idle timeout; the connection is closed.
    IdleTimeout,
    /// A request line was not complete within the request timeout of its
    /// first byte; the connection is closed.
    RequestTimeout,
    /// The daemon is shutting down and takes no new work.
    ShuttingDown,
    /// A bug or an unexpected failure inside the daemon.
    Internal,
    /// A newer daemon's kind this client does not know.
    #[serde(other)]
    Other,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::NotUtf8 => "not_utf8",
            ErrorKind::MalformedJson => "malformed_json",
            ErrorKind::UnknownRequest => "unknown_request",
            ErrorKind::MissingField => "missing_field",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::UnsupportedVersion => "unsupported_version",
            ErrorKind::UnknownInstance => "unknown_instance",
            ErrorKind::Refused => "refused",
            ErrorKind::Busy => "busy",
            ErrorKind::IdleTimeout => "idle_timeout",
            ErrorKind::RequestTimeout => "request_timeout",
            ErrorKind::ShuttingDown => "shutting_down",
            ErrorKind::Internal => "internal",
            ErrorKind::Other => "other",
        }
    }
}
