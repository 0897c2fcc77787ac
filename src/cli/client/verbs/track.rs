//! The wait for one instance ([`Tracker`]), pure: fed status readings and
//! events, it says when the instance is there, failed, or still on the
//! way; and [`describe`], its state in one line.

use std::time::Duration;

use openclaw_supervisor::protocol::{Event, EventKind, InstanceStatus};

use crate::cli::human;

/// One line about an instance's state, for progress and timeouts:
/// `starting (pid 1234)`, `running (pid 1234), not ready: discord`.
pub fn describe(instance: &InstanceStatus) -> String {
    let pid = instance
        .pid
        .map(|pid| format!(" (pid {pid})"))
        .unwrap_or_default();
    match instance.state.as_str() {
        "running" => match readiness(instance) {
            Readiness::Passed => format!("running{pid}, ready"),
            Readiness::NoProbe => format!("running{pid}, startup passed (no readiness probe)"),
            Readiness::Failing(failing) if failing.is_empty() => {
                format!("running{pid}, not ready")
            }
            Readiness::Failing(failing) => {
                format!("running{pid}, not ready: {}", failing.join(", "))
            }
            Readiness::Unknown => format!("running{pid}, readiness not known yet"),
        },
        state => format!("{state}{pid}"),
    }
}

/// The current process's readiness.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Readiness {
    Passed,
    /// The declaration turns the readiness probe off.
    NoProbe,
    Failing(Vec<String>),
    /// No result of this process yet.
    Unknown,
}

fn readiness(instance: &InstanceStatus) -> Readiness {
    if instance.probes_off.iter().any(|probe| probe == "readiness") {
        return Readiness::NoProbe;
    }
    // A result older than the spawn is an earlier process's.
    let current = |at: u64| instance.spawned_at.is_none_or(|spawned| at >= spawned);
    match &instance.probes.readiness {
        Some(probe) if current(probe.at) && probe.ok => Readiness::Passed,
        Some(probe) if current(probe.at) => Readiness::Failing(probe.failing.clone()),
        _ => Readiness::Unknown,
    }
}

/// What `--wait` waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Goal {
    /// Running and ready; for a restart, a process other than `not_pid`.
    Ready { not_pid: Option<u32> },
    /// Stopped: its processes gone.
    Stopped,
}

/// Where one waited-for instance stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Still on the way; a line to print when its state changed.
    Pending(Option<String>),
    /// There: the line saying so.
    Done(String),
    /// It failed (or was removed): the lines saying why.
    Failed(Vec<String>),
}

/// The wait for one instance: pure, fed status readings and events.
#[derive(Debug, Clone)]
pub struct Tracker {
    pub name: String,
    goal: Goal,
    /// The state, pid and last exit before the command: a reading equal to
    /// it may not show the command yet, so a failure in it is not judged.
    before: Option<Fingerprint>,
    /// The command has visibly taken effect (a change, or an event).
    armed: bool,
    /// A `failed` or `backoff` event seen: its kind and detail.
    failure: Option<(EventKind, String)>,
    /// A `rolled_back` seen and no `spawned` since: a failure now is the
    /// broken config's (a retry that was under way), not the rollback's.
    awaiting_spawn: bool,
    last_line: Option<String>,
}

impl Tracker {
    pub fn new(name: &str, goal: Goal, before: Option<&InstanceStatus>) -> Tracker {
        Tracker {
            name: name.to_string(),
            goal,
            before: before.map(fingerprint),
            armed: false,
            failure: None,
            awaiting_spawn: false,
            last_line: before.map(describe),
        }
    }

    /// An event about this instance (the caller filters by name).
    pub fn event(&mut self, event: &Event) {
        match event.kind {
            EventKind::Command | EventKind::Dropped | EventKind::Subscribed => {}
            // A rollback comes before the restart it asks for: until that
            // restart spawns, what fails is the config it replaced.
            EventKind::RolledBack => {
                self.armed = false;
                self.failure = None;
                self.awaiting_spawn = true;
            }
            EventKind::Spawned => {
                self.armed = true;
                self.awaiting_spawn = false;
            }
            EventKind::Failed | EventKind::Backoff if self.awaiting_spawn => {}
            EventKind::Failed | EventKind::Backoff => {
                self.armed = true;
                if matches!(self.goal, Goal::Ready { .. }) {
                    self.failure = Some((event.kind, event.detail.clone()));
                }
            }
            _ => self.armed = true,
        }
    }

    /// A status reading (`None`: no such instance any more); `elapsed`
    /// since the command was sent.
    pub fn observe(&mut self, status: Option<&InstanceStatus>, elapsed: Duration) -> Step {
        let name = &self.name;
        let Some(status) = status else {
            return Step::Failed(vec![format!("{name}: no longer declared")]);
        };
        if self.before.as_ref() != Some(&fingerprint(status)) && !self.awaiting_spawn {
            self.armed = true;
        }
        let after = human::duration(elapsed);
        match self.goal {
            Goal::Stopped if status.pid.is_none() && status.state == "stopped" => {
                return Step::Done(format!("{name}: stopped after {after}"));
            }
            Goal::Ready { not_pid } if status.state == "running" && status.pid != not_pid => {
                let pid = status
                    .pid
                    .map(|p| format!(" (pid {p})"))
                    .unwrap_or_default();
                match readiness(status) {
                    Readiness::Passed => {
                        return Step::Done(format!("{name}: ready after {after}{pid}"));
                    }
                    Readiness::NoProbe => {
                        return Step::Done(format!(
                            "{name}: running after {after}{pid}, startup passed (no readiness probe)"
                        ));
                    }
                    _ => {}
                }
            }
            Goal::Ready { .. } => {
                let failed = status.state == "failed" || status.state == "backoff";
                if let Some((kind, detail)) = self.failure.clone().filter(|_| failed) {
                    return Step::Failed(failure_lines(name, kind, &detail, status));
                }
                if self.armed && failed {
                    let kind = match status.state.as_str() {
                        "failed" => EventKind::Failed,
                        _ => EventKind::Backoff,
                    };
                    return Step::Failed(failure_lines(name, kind, "", status));
                }
            }
            Goal::Stopped => {}
        }
        let line = describe(status);
        if self.last_line.as_ref() == Some(&line) {
            return Step::Pending(None);
        }
        self.last_line = Some(line.clone());
        Step::Pending(Some(format!("{name}: {line}")))
    }

    /// Whether status should be re-read soon without an event: running
    /// with no readiness verdict of this process (its first pass is silent).
    pub fn needs_poll(&self, status: Option<&InstanceStatus>) -> bool {
        matches!(self.goal, Goal::Ready { .. })
            && status.is_some_and(|s| s.state == "running" && readiness(s) != Readiness::Passed)
    }

    /// The lines for a timeout: what it is doing now.
    pub fn timed_out(&self, status: Option<&InstanceStatus>, after: Duration) -> Vec<String> {
        let now = match status {
            Some(status) => describe(status),
            None => String::from("no longer declared"),
        };
        let mut lines = vec![format!(
            "{}: timed out after {}; now {now}",
            self.name,
            human::duration(after)
        )];
        if let Some(status) = status {
            lines.extend(status.last_error_lines.iter().map(|l| format!("  {l}")));
        }
        lines
    }
}

/// What tells a reading after the command from one before it: the state,
/// the pid and when the last process exited (a new failure of a failed
/// instance changes only that).
type Fingerprint = (String, Option<u32>, Option<u64>);

fn fingerprint(status: &InstanceStatus) -> Fingerprint {
    (
        status.state.clone(),
        status.pid,
        status.last_exit.as_ref().map(|exit| exit.at),
    )
}

/// `main: failed: exit 78: ...` and the last error lines from status.
fn failure_lines(
    name: &str,
    kind: EventKind,
    detail: &str,
    status: &InstanceStatus,
) -> Vec<String> {
    let what = match kind {
        EventKind::Failed => "failed",
        _ => "went into backoff after a crash",
    };
    let mut lines = vec![match detail {
        "" => format!("{name}: {what}"),
        detail => format!("{name}: {what}: {detail}"),
    }];
    lines.extend(
        status
            .last_error_lines
            .iter()
            .filter(|line| line.as_str() != detail && !detail.ends_with(line.as_str()))
            .map(|line| format!("  {line}")),
    );
    lines
}
