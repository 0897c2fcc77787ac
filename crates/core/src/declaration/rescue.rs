//! The rescue-related keys of a declaration: `wake` (which hooks endpoint
//! of a rescue's gateway is posted to), `rollback` (manual or auto) and
//! `notify` (the operator's command). Re-exported by `crate::declaration`.

use serde::{Deserialize, Serialize};

use super::{HumanDuration, redacted_args};

/// `wake`: which hooks endpoint of a rescue's own gateway the supervisor
/// posts to when its main fails (see `wake`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WakeEndpoint {
    /// `POST {hooks.path}/agent`: an agent turn with the message.
    Agent,
    /// `POST {hooks.path}/wake`: a system event and a heartbeat now.
    Wake,
}

impl WakeEndpoint {
    /// The path below `hooks.path`: `agent` or `wake`.
    pub fn as_str(self) -> &'static str {
        match self {
            WakeEndpoint::Agent => "agent",
            WakeEndpoint::Wake => "wake",
        }
    }
}

/// What the supervisor does when a gateway fails on a config that is not
/// its last known good (`rollback:`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum RollbackMode {
    /// Only `rollback NAME` puts the last good config back (`off` is the same).
    #[default]
    #[serde(alias = "off")]
    Manual,
    /// An exit 78 right after the config changed puts the last good config
    /// back and restarts, once until a new good is recorded.
    Auto,
}

impl RollbackMode {
    pub(super) fn is_manual(&self) -> bool {
        *self == RollbackMode::Manual
    }
}

/// The notifications `notify.on` may name, in the order they are listed.
pub const NOTIFY_EVENTS: &[&str] = &["failed", "rescue_started", "recovered", "rolled_back"];

/// `notify`: an argv run (no shell) with the event as JSON on stdin.
#[derive(Clone, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NotifySpec {
    /// The program and its arguments: an absolute path or a bare name
    /// looked up on the supervisor's PATH, never a shell line.
    pub command: Vec<String>,
    /// Which notifications run it: `failed`, `rescue_started`, `recovered`,
    /// `rolled_back` (default: all four).
    #[serde(default = "default_notify_on")]
    pub on: Vec<String>,
    /// At most one run per this long for this instance; what comes in
    /// between is folded into the next run (`suppressed`).
    #[serde(default = "default_notify_interval")]
    pub min_interval: HumanDuration,
    /// The command's group is killed after this long.
    #[serde(default = "default_notify_timeout")]
    pub timeout: HumanDuration,
}

fn default_notify_on() -> Vec<String> {
    NOTIFY_EVENTS
        .iter()
        .map(|event| event.to_string())
        .collect()
}

fn default_notify_interval() -> HumanDuration {
    HumanDuration::from_secs(60)
}

fn default_notify_timeout() -> HumanDuration {
    HumanDuration::from_secs(10)
}

// The argv may carry a token (`--token X`): shown redacted, as `args` is.
impl std::fmt::Debug for NotifySpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotifySpec")
            .field("command", &redacted_args(&self.command))
            .field("on", &self.on)
            .field("min_interval", &self.min_interval)
            .field("timeout", &self.timeout)
            .finish()
    }
}
