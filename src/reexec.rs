//! Re-executing the supervisor in place (`openclaw-supervisor reexec`,
//! SIGUSR2): the state every instance actor carries across the `execve`, as
//! a file the new binary reads back. Pure: the conversions between the
//! lifecycle's [`State`] (monotonic [`Instant`]s, which cannot cross an
//! exec) and wall-clock Unix milliseconds, and the reading of the file with
//! its format check. The loop's side is `supervisor/reexec.rs`, the actor's
//! `instance/freeze.rs`, the descriptors' `daemon/inherit.rs`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::lifecycle::{FailReason, State};
use crate::process::ExitKind;

/// The state file's format. A binary reads this format and older ones it
/// knows; a newer one is refused before the exec (`reexec-check`).
pub const FORMAT: u32 = 1;

/// The file's name in `<state-dir>/run/`: a dot name, so that it is no
/// instance's pid record (`run/<name>.json`; a name starts with a letter or
/// digit) and the leftovers' scan skips it.
pub const STATE_FILE: &str = ".reexec.json";

/// Where the state file is: `<state-dir>/run/.reexec.json`, the one path a
/// new process accepts.
pub fn state_file(state_dir: &std::path::Path) -> std::path::PathBuf {
    state_dir.join("run").join(STATE_FILE)
}

/// The environment the old process hands the new one: the state file, the
/// control socket's listening descriptor, the state-dir lock's descriptor.
pub const STATE_VAR: &str = "OPENCLAW_SUPERVISOR_REEXEC_STATE";
pub const LISTEN_FD_VAR: &str = "OPENCLAW_SUPERVISOR_LISTEN_FD";
pub const LOCK_FD_VAR: &str = "OPENCLAW_SUPERVISOR_LOCK_FD";

/// The hidden subcommand the old process runs with the new binary to learn
/// whether it can read the state file, before it execs it.
pub const CHECK_SUBCOMMAND: &str = "reexec-check";

/// Everything the supervisor carries across the exec.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct SavedState {
    pub format: u32,
    /// The writer's package version.
    pub version: String,
    pub written_at_ms: u64,
    pub instances: BTreeMap<String, SavedInstance>,
}

/// What one instance actor carries across the exec.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct SavedInstance {
    pub state: SavedLifecycle,
    pub failures: u32,
    pub restarts: u32,
    pub last_exit: Option<SavedExit>,
    pub spawned_at_ms: Option<u64>,
    pub last_exit_at_ms: Option<u64>,
    pub last_error: Option<String>,
    pub error_lines: Vec<String>,
    /// The supervisor's SIGKILLs of the gateway in the last 5 minutes.
    pub kills_ms: Vec<u64>,
    pub kills_total: u64,
    pub last_restart_reason: Option<String>,
    /// The liveness probe's failures in a row.
    pub liveness_failures: u32,
}

/// A lifecycle state in wall-clock Unix milliseconds.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SavedLifecycle {
    Stopped,
    Standby,
    Starting { since_ms: u64 },
    Running { since_ms: u64 },
    Backoff { until_ms: u64 },
    Failed { reason: SavedFail },
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SavedFail {
    ConfigError,
    Exited { exit: SavedExit },
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SavedExit {
    Code(i32),
    Signal(i32),
}

impl From<ExitKind> for SavedExit {
    fn from(exit: ExitKind) -> Self {
        match exit {
            ExitKind::Code(code) => SavedExit::Code(code),
            ExitKind::Signal(signal) => SavedExit::Signal(signal),
        }
    }
}

impl From<SavedExit> for ExitKind {
    fn from(exit: SavedExit) -> Self {
        match exit {
            SavedExit::Code(code) => ExitKind::Code(code),
            SavedExit::Signal(signal) => ExitKind::Signal(signal),
        }
    }
}

/// An instance that cannot be saved now: it is stopping, or exiting (its
/// gateway gone, what it left being stopped): its stop timer, escalation
/// and `then` live in the old process only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("is stopping; try again when it has stopped")]
pub struct Busy;

/// Why a state file is not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error(
        "the state file is format {found}, but this binary (version {reader}) reads format {FORMAT} at most; run a binary at least as new as the one that wrote it"
    )]
    NewerFormat { found: u32, reader: &'static str },
    #[error("the state file cannot be read: {0}")]
    Unparsable(String),
}

/// Milliseconds since the Unix epoch (0 before it).
pub fn unix_ms(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The wall-clock time of Unix milliseconds.
pub fn from_unix_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// The wall-clock milliseconds of `at`, given that `now` is `wall`.
fn instant_to_ms(at: Instant, now: Instant, wall: SystemTime) -> u64 {
    let wall_ms = unix_ms(wall);
    if at <= now {
        let ago = u64::try_from(now.duration_since(at).as_millis()).unwrap_or(u64::MAX);
        wall_ms.saturating_sub(ago)
    } else {
        let ahead = u64::try_from(at.duration_since(now).as_millis()).unwrap_or(u64::MAX);
        wall_ms.saturating_add(ahead)
    }
}

/// The instant of wall-clock milliseconds `ms`, given that `now` is `wall`;
/// a past time before the monotonic clock's origin is `now`.
fn ms_to_instant(ms: u64, now: Instant, wall: SystemTime) -> Instant {
    let wall_ms = unix_ms(wall);
    if ms <= wall_ms {
        now.checked_sub(Duration::from_millis(wall_ms - ms))
            .unwrap_or(now)
    } else {
        now + Duration::from_millis(ms - wall_ms)
    }
}

impl SavedLifecycle {
    /// The state in wall-clock time; a stopping or draining instance cannot
    /// be saved.
    pub fn from_state(state: State, now: Instant, wall: SystemTime) -> Result<Self, Busy> {
        Ok(match state {
            State::Stopped => SavedLifecycle::Stopped,
            State::Standby => SavedLifecycle::Standby,
            State::Starting { since } => SavedLifecycle::Starting {
                since_ms: instant_to_ms(since, now, wall),
            },
            State::Running { since } => SavedLifecycle::Running {
                since_ms: instant_to_ms(since, now, wall),
            },
            State::Backoff { until } => SavedLifecycle::Backoff {
                until_ms: instant_to_ms(until, now, wall),
            },
            State::Failed { reason } => SavedLifecycle::Failed {
                reason: match reason {
                    FailReason::ConfigError => SavedFail::ConfigError,
                    FailReason::Exited(exit) => SavedFail::Exited { exit: exit.into() },
                },
            },
            State::Stopping { .. } | State::Exiting { .. } => return Err(Busy),
        })
    }

    /// The state again, in this process's monotonic time: a backoff whose
    /// time has passed is due now, one in the future is kept.
    pub fn to_state(&self, now: Instant, wall: SystemTime) -> State {
        match *self {
            SavedLifecycle::Stopped => State::Stopped,
            SavedLifecycle::Standby => State::Standby,
            SavedLifecycle::Starting { since_ms } => State::Starting {
                since: ms_to_instant(since_ms, now, wall),
            },
            SavedLifecycle::Running { since_ms } => State::Running {
                since: ms_to_instant(since_ms, now, wall),
            },
            SavedLifecycle::Backoff { until_ms } => State::Backoff {
                until: ms_to_instant(until_ms, now, wall).max(now),
            },
            SavedLifecycle::Failed { reason } => State::Failed {
                reason: match reason {
                    SavedFail::ConfigError => FailReason::ConfigError,
                    SavedFail::Exited { exit } => FailReason::Exited(exit.into()),
                },
            },
        }
    }

    /// Whether a gateway was up (or on its way) when the state was saved.
    pub fn had_gateway(&self) -> bool {
        matches!(
            self,
            SavedLifecycle::Starting { .. } | SavedLifecycle::Running { .. }
        )
    }
}

/// What the old process handed over in the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandedOver {
    pub state_file: std::path::PathBuf,
    pub listen_fd: i32,
    pub lock_fd: i32,
}

/// Take the re-exec's variables out of `env` (all of them, always: no
/// child and no later re-exec may see stale ones): none set is a plain
/// start; some set but not all, or a descriptor that is not a number, is
/// an error (the start then goes on as after a crash).
pub fn take_handed_over(env: &mut BTreeMap<String, String>) -> Result<Option<HandedOver>, String> {
    let state = env.remove(STATE_VAR);
    let listen = env.remove(LISTEN_FD_VAR);
    let lock = env.remove(LOCK_FD_VAR);
    let fd = |name: &str, value: String| {
        value
            .parse::<i32>()
            .ok()
            .filter(|fd| *fd > 2)
            .ok_or(format!("{name}={value} is not a descriptor"))
    };
    match (state, listen, lock) {
        (None, None, None) => Ok(None),
        (Some(state), Some(listen), Some(lock)) => Ok(Some(HandedOver {
            state_file: state.into(),
            listen_fd: fd(LISTEN_FD_VAR, listen)?,
            lock_fd: fd(LOCK_FD_VAR, lock)?,
        })),
        _ => Err(format!(
            "{STATE_VAR}, {LISTEN_FD_VAR} and {LOCK_FD_VAR} come together; only some are set"
        )),
    }
}

/// Accept what was handed over only when its state file is the one a
/// re-exec writes (`expected`, [`state_file`]): variables set by someone
/// else must not make the supervisor read, or delete, a file elsewhere.
pub fn accept(handed: HandedOver, expected: &std::path::Path) -> Result<HandedOver, String> {
    if handed.state_file == expected {
        Ok(handed)
    } else {
        Err(format!(
            "{STATE_VAR}={} is not {}",
            handed.state_file.display(),
            expected.display()
        ))
    }
}

/// Only the format, read first: a newer format may have another shape.
#[derive(Deserialize)]
struct FormatOnly {
    format: u32,
}

/// Read a state file: a newer format than [`FORMAT`] is refused with the
/// reason, and so is text that does not parse.
pub fn read(bytes: &[u8]) -> Result<SavedState, ReadError> {
    let format: FormatOnly =
        serde_json::from_slice(bytes).map_err(|err| ReadError::Unparsable(err.to_string()))?;
    if format.format == 0 {
        return Err(ReadError::Unparsable(
            "format 0 was never written".to_string(),
        ));
    }
    if format.format > FORMAT {
        return Err(ReadError::NewerFormat {
            found: format.format,
            reader: env!("CARGO_PKG_VERSION"),
        });
    }
    serde_json::from_slice(bytes).map_err(|err| ReadError::Unparsable(err.to_string()))
}

/// The state file's text.
pub fn write(state: &SavedState) -> Vec<u8> {
    // A struct of strings, numbers and maps with string keys cannot fail
    // to serialize; an empty file would be refused by `read` anyway.
    serde_json::to_vec_pretty(state).unwrap_or_default()
}

#[cfg(test)]
mod tests;
