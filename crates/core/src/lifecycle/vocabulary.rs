//! The machine's vocabulary: its states (`State`, `StateName`, `Was`), the events it takes, the actions and notices it gives, and `Ctx`, time and randomness passed in.

use super::*;

/// Why an instance is in `failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailReason {
    /// Exit 78: the gateway's configuration is wrong; retrying cannot help.
    ConfigError,
    /// Policy `never` (or `on-failure` after a clean exit) and it exited.
    Exited(ExitKind),
}

/// What happens once a stopping instance has exited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Then {
    /// Stay stopped (operator stop, shutdown).
    Stop,
    /// Back to standby (a rescue whose main is healthy again).
    Standby,
    /// Start again at once (operator restart, changed declaration).
    Restart,
    /// Start again after backoff: the stop was forced by a failing probe.
    Relaunch,
    /// Forget the instance (its declaration was removed).
    Forget,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Stopped,
    Standby,
    Starting {
        since: Instant,
    },
    Running {
        since: Instant,
    },
    Stopping {
        since: Instant,
        then: Then,
    },
    Backoff {
        until: Instant,
    },
    Failed {
        reason: FailReason,
    },
    /// The gateway (its group's leader) exited and left processes behind:
    /// they are being stopped (the declared signal once, SIGKILL at the
    /// stop timeout), and the exit takes effect once the group is empty.
    /// Commands are still taken: a stop or restart now changes what the
    /// exit leads to.
    Exiting {
        since: Instant,
        exit: ExitKind,
        was: Was,
    },
}

/// Where the machine was when the leader exited: where its exit takes it
/// once every process of the instance is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Was {
    Starting { since: Instant },
    Running { since: Instant },
    Stopping { since: Instant, then: Then },
}

impl Was {
    pub(super) fn of(state: State) -> Option<Was> {
        match state {
            State::Starting { since } => Some(Was::Starting { since }),
            State::Running { since } => Some(Was::Running { since }),
            State::Stopping { since, then } => Some(Was::Stopping { since, then }),
            _ => None,
        }
    }

    pub(super) fn state(self) -> State {
        match self {
            Was::Starting { since } => State::Starting { since },
            Was::Running { since } => State::Running { since },
            Was::Stopping { since, then } => State::Stopping { since, then },
        }
    }
}

/// Which state, without its data: what a snapshot, the rescue rule and
/// the loop compare. Words only at the edges ([`StateName::as_str`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StateName {
    Stopped,
    Standby,
    Starting,
    Running,
    Stopping,
    Backoff,
    Failed,
    Exiting,
}

impl StateName {
    pub const ALL: [StateName; 8] = [
        StateName::Stopped,
        StateName::Standby,
        StateName::Starting,
        StateName::Running,
        StateName::Stopping,
        StateName::Backoff,
        StateName::Failed,
        StateName::Exiting,
    ];

    /// The state's name on the wire and in words.
    pub fn as_str(self) -> &'static str {
        match self {
            StateName::Stopped => "stopped",
            StateName::Standby => "standby",
            StateName::Starting => "starting",
            StateName::Running => "running",
            StateName::Stopping => "stopping",
            StateName::Backoff => "backoff",
            StateName::Failed => "failed",
            StateName::Exiting => "exiting",
        }
    }
}

impl std::fmt::Display for StateName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The transition tables name the expected states in words.
#[cfg(test)]
impl PartialEq<&str> for StateName {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl State {
    pub fn name(&self) -> StateName {
        match self {
            State::Stopped => StateName::Stopped,
            State::Standby => StateName::Standby,
            State::Starting { .. } => StateName::Starting,
            State::Running { .. } => StateName::Running,
            State::Stopping { .. } => StateName::Stopping,
            State::Backoff { .. } => StateName::Backoff,
            State::Failed { .. } => StateName::Failed,
            State::Exiting { .. } => StateName::Exiting,
        }
    }

    /// Where a stop under way leads: stopping, or exiting with a stop
    /// asked (before the leader went or since). `None` when no stop is.
    pub fn stop_then(&self) -> Option<Then> {
        match self {
            State::Stopping { then, .. }
            | State::Exiting {
                was: Was::Stopping { then, .. },
                ..
            } => Some(*then),
            _ => None,
        }
    }

    /// Whether a process of this instance may be alive.
    pub fn has_process(&self) -> bool {
        matches!(
            self,
            State::Starting { .. }
                | State::Running { .. }
                | State::Stopping { .. }
                | State::Exiting { .. }
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimerKind {
    Backoff,
    StopTimeout,
    StartupDeadline,
}

/// Which probes the actor should be running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbePhase {
    Off,
    /// The startup probe (until it passes).
    Startup,
    /// Liveness and readiness.
    Live,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Operator start, or the initial start of a wanted instance.
    Start,
    Stop,
    Restart,
    /// The declaration was removed: stop and forget.
    Remove,
    Spawned,
    SpawnFailed,
    /// The leader exited and every process of the instance is gone.
    Exited(ExitKind),
    /// The leader exited and left processes behind (see [`State::Exiting`]).
    LeaderExited(ExitKind),
    /// The last process of an exiting instance is gone.
    GroupEmpty,
    StartupPassed,
    /// Liveness failed `failures` times in a row.
    LivenessFailed,
    /// The memory guard fired: the tree stayed above `restart.memory_above`.
    MemoryAbove,
    Timer(TimerKind),
    /// The declaration or the OpenClaw config file changed.
    Changed,
    /// The declaration changed how the gateway is spawned: a gateway that
    /// runs or is on its way restarts; a stopped, standby or failed one
    /// keeps its state (as for `Changed`) and uses them at its next start.
    Respawn,
    /// A gateway an earlier supervisor (or this one before `reexec`)
    /// started is running under its keeper and is taken over as it is.
    Adopted,
    /// The instance this one rescues has failed.
    RescueNeeded,
    /// The rescued instance has been healthy long enough.
    ReturnToStandby,
}

/// Something the rest of the supervisor should hear about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    Spawned,
    Started,
    /// An exit nobody asked for.
    Exited(ExitKind),
    StartupTimedOut,
    Unhealthy,
    Backoff {
        delay: Duration,
    },
    Failed(FailReason),
    Stopped,
    Standby,
    Forgotten,
    /// Liveness or readiness turned failing or passing (reported by the
    /// actor, not by `step`: probe results are not lifecycle events).
    ProbeChanged,
    /// The gateway outlived its stop timeout and got SIGKILL (reported by
    /// the actor that sent it).
    Killed,
    /// The gateway logged its restart-loop breaker tripped or recovered
    /// (reported by the actor, from the gateway's output).
    Breaker,
    /// The memory guard is restarting the gateway: not a failure (a rescue
    /// is woken only if the new gateway then fails).
    MemoryGuard,
    /// A gateway of an earlier supervisor was taken over (`Adopted`).
    Adopted,
    /// The last known good OpenClaw config was put back (`rollback NAME`,
    /// or `rollback: auto` after an exit 78); reported by the actor.
    RolledBack,
}

impl Notice {
    /// Whether this notice means the instance has failed its users (the
    /// trigger for its rescues). An exit 0 is the gateway's own choice (in
    /// external mode, "relaunch me"), not a failure: waking a 1 GB standby
    /// rescue for every restart the gateway asks for would be waste. An
    /// exit 0 that does count as a failure (before startup passed) is
    /// followed by a `Backoff` notice, which is a trigger.
    pub fn is_failure(&self) -> bool {
        matches!(self, Notice::Exited(exit) if *exit != ExitKind::Code(0))
            || matches!(
                self,
                Notice::StartupTimedOut
                    | Notice::Unhealthy
                    | Notice::Backoff { .. }
                    | Notice::Failed(_)
            )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Spawn,
    /// The declared stop signal to the group and any escaped descendant.
    SignalStop,
    /// SIGKILL to the group and any escaped descendant.
    Kill,
    ArmTimer(TimerKind, Duration),
    CancelTimer(TimerKind),
    Probes(ProbePhase),
    Notify(Notice),
    Forget,
}

/// Time and randomness, passed in so that `step` stays pure.
#[derive(Debug, Clone, Copy)]
pub struct Ctx {
    pub now: Instant,
    /// Uniform in `[0, 1)`: where in the jitter band this delay falls.
    pub jitter: f64,
}
