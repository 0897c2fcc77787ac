//! Wire shapes of instance status, events and log lines.
//!
//! Times are unix milliseconds (`*_at`, `at`); paths are strings (lossy for
//! the rare non-UTF-8 path). Nothing here may carry an environment value, a
//! token or any other secret from an instance's env or config: the status is
//! read by anyone who may use the socket, including the rescue bot.

use serde::{Deserialize, Serialize};

/// What an instance is for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    #[default]
    Main,
    Rescue,
    /// A newer daemon's role this client does not know.
    #[serde(other)]
    Other,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Main => "main",
            Role::Rescue => "rescue",
            Role::Other => "other",
        }
    }
}

/// One instance as the daemon sees it now. `Default` is an empty one
/// (no state, no pid, port 0), for building one field by field.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InstanceStatus {
    pub name: String,
    pub role: Role,
    /// The lifecycle state, e.g. `starting`, `running`, `backoff`, `failed`,
    /// `stopping`, `stopped`, `standby`. A string so that new states need no
    /// protocol change.
    pub state: String,
    /// The gateway's pid while a child is alive.
    pub pid: Option<u32>,
    /// Seconds since the current child was spawned.
    pub uptime_secs: Option<u64>,
    /// When the current child was spawned (unix ms): a probe result older
    /// than this is an earlier process's. Null without a child, and from
    /// daemons before it was added.
    #[serde(default)]
    pub spawned_at: Option<u64>,
    /// The probes its declaration turns off (`startup`, `liveness`,
    /// `readiness`): such a probe stays null for ever. Empty from daemons
    /// before it was added.
    #[serde(default)]
    pub probes_off: Vec<String>,
    /// Restarts since the supervisor started (operator restarts included).
    pub restarts: u32,
    pub last_exit: Option<LastExit>,
    pub probes: Probes,
    /// When the next automatic restart is due (in backoff).
    pub next_restart_at: Option<u64>,
    pub ports: Ports,
    pub paths: Paths,
    /// The declaration file this instance came from.
    pub declaration_file: String,
    /// CPU use of the whole process tree, in percent of one core, over the
    /// last 10 s (`usage::WINDOW`), the same for every client.
    pub cpu_percent: Option<f32>,
    /// Resident memory of the whole process tree.
    pub memory_bytes: Option<u64>,
    /// Why it failed (the supervisor's own words, when it has some), then
    /// the last lines of output of the process that exited (`last_error_from`);
    /// empty unless failed or backing off. Lines of earlier processes are
    /// never mixed in: `logs NAME` has them.
    #[serde(default)]
    pub last_error_lines: Vec<String>,
    /// The process whose output `last_error_lines` holds, and how it ended.
    #[serde(default)]
    pub last_error_from: Option<ErrorSource>,
    /// A rescue that waits, not running, until its main instance fails.
    #[serde(default)]
    pub standby: bool,
    /// The instance this one rescues.
    #[serde(default)]
    pub rescue_of: Option<String>,
    /// Lines of the gateway's output that could not be written to its log
    /// file (a full disk, an unwritable directory, a burst faster than the
    /// disk), since the supervisor started.
    #[serde(default)]
    pub dropped_log_lines: u64,
    /// When the stop signal went out, while the gateway is still draining
    /// (it waits for agent turns in flight, up to 315 s).
    #[serde(default)]
    pub stopping_since: Option<u64>,
    /// The gateway's own restart-loop breaker, tripped: it is not
    /// auto-starting its channel and provider accounts (from its output).
    #[serde(default)]
    pub breaker: Option<Breaker>,
    /// SIGKILLs the supervisor sent this instance's gateway in the last 5
    /// minutes (the stop timeout passed): unclean boots the gateway counts
    /// towards its breaker (3 in 5 minutes trip it).
    #[serde(default)]
    pub supervisor_kills: u32,
    /// The last event about this instance since the supervisor started
    /// (null before its first, and from a daemon older than this field).
    #[serde(default)]
    pub last_event: Option<Event>,
    /// Why the supervisor last restarted the gateway on its own, in words:
    /// `memory 1.6 GiB above 1.5 GiB for 5m` (the memory guard), `liveness
    /// failed 3 times in a row`, `startup timed out`. Null before the first
    /// such restart, and from a daemon older than this field.
    #[serde(default)]
    pub last_restart_reason: Option<String>,
    /// How the instance's processes are tracked: in a cgroup v2 of its own,
    /// or by the spawn marker (and why). Null from daemons before it was
    /// added.
    #[serde(default)]
    pub tracking: Option<Tracking>,
    /// Each declared `limits` key, applied or not (and why). Empty when
    /// none is declared, and from daemons before it was added.
    #[serde(default)]
    pub limits: Vec<Limit>,
    /// A rescue with `wake`: its last wake (null before the first, for any
    /// other instance, and from daemons before it was added). Never the
    /// token.
    #[serde(default)]
    pub wake: Option<WakeStatus>,
    /// The last run of this instance's `notify` command since the
    /// supervisor started: null before the first, without `notify`, and
    /// from daemons before it was added.
    #[serde(default)]
    pub last_notify: Option<LastNotify>,
    /// The last time the supervisor put this instance's last known good
    /// OpenClaw config back (`rollback NAME`, `rollback: auto`). Null
    /// before the first, and from daemons before it was added.
    #[serde(default)]
    pub rolled_back: Option<RolledBack>,
    /// What became of the instance's gateway when this supervisor started:
    /// adopted from an earlier supervisor, or started anew (no record, or a
    /// record that did not match). Null for an instance added by a later
    /// reload, and from daemons before it was added.
    #[serde(default)]
    pub adoption: Option<AdoptionStatus>,
}

/// What became of an instance's gateway when the supervisor started,
/// tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AdoptionStatus {
    /// The gateway an earlier supervisor left running was taken over
    /// through its keeper, at `at` (unix ms); `pid` is the gateway's.
    Adopted { at: u64, pid: u32 },
    /// No record of a gateway: it was started anew.
    NoRecord,
    /// A record that did not name a kept gateway (`reason`): whatever it
    /// named was stopped and the gateway started anew.
    RecordDidNotMatch { reason: String },
    /// A newer daemon's kind this client does not know.
    #[serde(other)]
    Other,
}

/// The last wake of a rescue's agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WakeStatus {
    /// When the answer came (unix ms).
    pub at: u64,
    /// The path posted to: `/hooks/agent` or `/hooks/wake`.
    pub endpoint: String,
    /// `failure` or `recovered`.
    pub message: String,
    /// The HTTP status, when the gateway answered.
    #[serde(default)]
    pub http_status: Option<u16>,
    /// The gateway answered `ok: true`.
    pub ok: bool,
    /// In words: `200 ok`, `401 the hook token was refused: ...; not retried`.
    pub outcome: String,
    /// Tries of this message so far.
    pub tries: u32,
}

/// One run of an instance's `notify` command, as status shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastNotify {
    /// When it ran (unix ms).
    pub at: u64,
    /// The notification: `failed`, `rescue_started`, `recovered`,
    /// `rolled_back` (a string: a newer daemon may add one).
    pub notify: String,
    /// The instance the event was about (a rescue's, for `rescue_started`
    /// on its main).
    pub instance: String,
    /// Notifications folded into this run by the rate limit.
    #[serde(default)]
    pub suppressed: u32,
    /// Whether the command ran and exited 0 within its timeout.
    pub ok: bool,
    /// Why not, in words, with the end of its output.
    #[serde(default)]
    pub error: Option<String>,
}

/// What a `notify` command reads on its stdin: the event that fired it,
/// exactly as `events --json` prints it, plus the notification, the
/// instance whose `notify` this is, and how many notifications the rate
/// limit folded into this one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifyMessage {
    #[serde(flatten)]
    pub event: Event,
    /// `failed`, `rescue_started`, `recovered` or `rolled_back`.
    pub notify: String,
    /// The instance whose `notify` setting ran (main, for a rescue's
    /// `rescue_started`).
    pub notify_of: String,
    /// Notifications of this instance held back by `min_interval` since
    /// the last run, folded into this one (0 for most).
    pub suppressed: u32,
}

/// A rollback to the last known good config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolledBack {
    /// Unix ms.
    pub at: u64,
    /// Where the replaced config is kept (`<config>.<UTC time>.rejected`);
    /// null when there was no config file to keep.
    pub from: Option<String>,
    /// `by operator`, or `exit 78 right after its config changed (rollback: auto)`.
    pub reason: String,
}

/// One declared limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limit {
    /// `memory`, `cpu` or `pids`.
    pub key: String,
    /// As a person reads it: `2 GiB (high 1.8 GiB)`, `1.5 CPUs`, `512`.
    pub value: String,
    /// Whether the kernel enforces it.
    pub applied: bool,
    /// Why not, when not applied.
    #[serde(default)]
    pub reason: Option<String>,
}

/// How an instance's processes are tracked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tracking {
    /// `cgroup` or `marker` (a string: a newer daemon may add a mode).
    pub mode: String,
    /// The instance's cgroup directory, in `cgroup` mode.
    #[serde(default)]
    pub cgroup: Option<String>,
    /// Why there is no cgroup, in `marker` mode.
    #[serde(default)]
    pub reason: Option<String>,
}

/// The gateway's restart-loop breaker, as the gateway logged it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Breaker {
    /// When the gateway logged it.
    pub since: u64,
    /// The unclean boots it counted, when it said.
    #[serde(default)]
    pub unclean_boots: Option<u32>,
    /// The gateway's own words (no secrets: counts and a fixed sentence).
    pub detail: String,
}

/// The gateway process a crash report's lines came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorSource {
    pub pid: u32,
    /// How it ended, in words: `exit code 78`, `killed by SIGKILL`.
    pub exit: String,
}

/// How the last child ended: `code` for an exit, `signal` for a death by signal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastExit {
    #[serde(default)]
    pub code: Option<i32>,
    /// The signal's name, e.g. `SIGKILL`.
    #[serde(default)]
    pub signal: Option<String>,
    pub at: u64,
}

/// The last result of each probe; null until the probe first ran (or when
/// the instance has no such probe).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probes {
    #[serde(default)]
    pub startup: Option<ProbeStatus>,
    #[serde(default)]
    pub liveness: Option<ProbeStatus>,
    #[serde(default)]
    pub readiness: Option<ProbeStatus>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeStatus {
    pub ok: bool,
    /// When the last result came in.
    pub at: u64,
    pub latency_ms: u64,
    pub consecutive_failures: u32,
    /// What `/readyz` reported as failing (channels, say); empty otherwise.
    #[serde(default)]
    pub failing: Vec<String>,
    /// Why the last attempt failed (timeout, connection refused, status 503).
    #[serde(default)]
    pub detail: Option<String>,
}

/// The instance's ports: the gateway port (`base`), the derived block it owns
/// and ports set explicitly in its config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ports {
    pub base: u16,
    pub block_start: u16,
    pub block_end: u16,
    #[serde(default)]
    pub explicit: Vec<ExplicitPort>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExplicitPort {
    /// The config key it came from, e.g. `browser.cdpUrl`.
    pub key: String,
    pub port: u16,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paths {
    pub config: String,
    pub state_dir: String,
    pub workspace: String,
    pub log_file: String,
}

/// A declaration file the daemon refused to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedFile {
    pub file: String,
    pub reason: String,
}

/// One state change, as streamed by `events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub at: u64,
    /// The instance it is about; null for supervisor-wide events.
    pub instance: Option<String>,
    pub kind: EventKind,
    /// A human sentence, e.g. `exited with code 1`.
    pub detail: String,
    /// The supervisor's number for this event: it grows by one with each
    /// event, across supervisor restarts (the journal carries it on), so a
    /// follower can tell the backlog from the live events. Absent on
    /// `dropped` and from daemons before the journal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Spawned,
    Exited,
    ProbeChanged,
    Backoff,
    Failed,
    RescueTriggered,
    Started,
    Stopped,
    /// A declaration file was refused (or its instance removed by a reload).
    Rejected,
    Reloaded,
    /// Events were dropped because this client read too slowly.
    Dropped,
    /// The stream's live part begins: every event after it happened after
    /// the subscription. Sent once to a stream that follows (after its
    /// backlog), never journaled: a client that waits for it before it acts
    /// misses nothing its action causes.
    Subscribed,
    Added,
    Removed,
    StartupTimedOut,
    Unhealthy,
    Standby,
    Forgotten,
    /// An operator's command (start, stop, restart, signal).
    Command,
    /// The supervisor SIGKILLed a gateway that outlived its stop timeout.
    Killed,
    /// The gateway reported its restart-loop breaker tripped (or recovered).
    Breaker,
    /// The memory guard restarts a gateway whose tree stayed above
    /// `restart.memory_above`.
    MemoryGuard,
    /// A rescue's agent was woken (or the wake refused, retried, given up).
    Wake,
    /// An instance runs again after a failure episode.
    Recovered,
    /// An instance's config was put back to its last known good one.
    RolledBack,
    /// An instance's `notify` command failed (exit, timeout, cannot run).
    NotifyFailed,
    /// A gateway of an earlier supervisor was taken over through its
    /// keeper (after a crash of the supervisor, or `reexec`).
    Adopted,
    /// The supervisor re-executed itself in place (`reexec`, SIGUSR2).
    Reexecuted,
    /// A newer daemon's kind this client does not know.
    #[serde(other)]
    Other,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Spawned => "spawned",
            EventKind::Adopted => "adopted",
            EventKind::Exited => "exited",
            EventKind::ProbeChanged => "probe_changed",
            EventKind::Backoff => "backoff",
            EventKind::Failed => "failed",
            EventKind::RescueTriggered => "rescue_triggered",
            EventKind::Started => "started",
            EventKind::Stopped => "stopped",
            EventKind::Rejected => "rejected",
            EventKind::Reloaded => "reloaded",
            EventKind::Dropped => "dropped",
            EventKind::Subscribed => "subscribed",
            EventKind::Added => "added",
            EventKind::Removed => "removed",
            EventKind::StartupTimedOut => "startup_timed_out",
            EventKind::Unhealthy => "unhealthy",
            EventKind::Standby => "standby",
            EventKind::Forgotten => "forgotten",
            EventKind::Command => "command",
            EventKind::Killed => "killed",
            EventKind::Breaker => "breaker",
            EventKind::MemoryGuard => "memory_guard",
            EventKind::Wake => "wake",
            EventKind::Recovered => "recovered",
            EventKind::RolledBack => "rolled_back",
            EventKind::NotifyFailed => "notify_failed",
            EventKind::Reexecuted => "reexecuted",
            EventKind::Other => "other",
        }
    }
}

/// One line of an instance's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// When the supervisor read it, when known.
    #[serde(default)]
    pub at: Option<u64>,
    /// Which output it came from, when known.
    #[serde(default)]
    pub stream: Option<LogStream>,
    pub text: String,
    /// The instance it came from: set in a `logs` reply for every instance
    /// (absent on the wire otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogStream {
    Stdout,
    Stderr,
}
