//! Telling the operator: an instance's `notify` command, run on chosen
//! events with the event as JSON on its stdin.
//!
//! Theory of operation. The notifier ([`Alerts`]) follows the event bus
//! like any `events -f` client; it never sits on the supervisor loop. Each
//! event goes through three steps:
//!
//! 1. [`Router::route`] (pure): which instances' `notify` it fires and as
//!    which notification. An event about X fires X's. A failure (an
//!    `exited` other than exit code 0, `backoff`, `failed`,
//!    `startup_timed_out`, `unhealthy`: what wakes a rescue) opens a failure episode
//!    and fires `failed` once: the retries of a crash loop are the same
//!    episode, as for the rescue rule (`rescue`). `started` closing an
//!    episode fires `recovered`; a stop, a removal or standby closes it
//!    silently. A rescue's `rescue_triggered` fires `rescue_started` for
//!    the rescue and for its main, so `notify` on main alone hears the
//!    whole episode. `rolled_back` fires `rolled_back`. `notify_failed`
//!    fires nothing, so a broken command cannot feed itself.
//! 2. [`Limiter`] (pure, one per instance): at most one run per
//!    `min_interval`; the rest is held, the newest kept and the others
//!    counted, and goes out when the window ends (`suppressed` in the
//!    JSON). A notification of another kind than the last one sent (the
//!    `recovered` after a `failed`) goes at once, once a window.
//! 3. [`run::run`] (IO): the argv through the one spawner, in its own
//!    process group, the JSON on stdin, killed (the group) at `timeout`,
//!    its output kept (bounded) for the error. A failure is an event
//!    `notify_failed` and shows in `status` (`last_notify`).

use std::collections::{BTreeMap, HashSet};

use crate::declaration::NotifySpec;
use crate::protocol::EventKind;

mod limiter;
mod run;
mod task;

pub use limiter::{Limiter, Run};
pub use run::{Outcome, command_warning, notify_env};
pub use task::Alerts;

/// A notification, as `notify.on` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Trigger {
    Failed,
    RescueStarted,
    Recovered,
    RolledBack,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Failed => "failed",
            Trigger::RescueStarted => "rescue_started",
            Trigger::Recovered => "recovered",
            Trigger::RolledBack => "rolled_back",
        }
    }
}

/// What the notifier knows of one instance: its `notify` and whom it
/// rescues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub notify: Option<NotifySpec>,
    pub rescue_of: Option<String>,
}

/// Every declared instance by name.
pub type Targets = BTreeMap<String, Target>;

/// Event kinds that are a failure of their instance, besides an `exited`
/// other than exit code 0: the events of `Notice::is_failure`, the rule
/// the rescue follows too.
const FAILURE_KINDS: &[EventKind] = &[
    EventKind::Failed,
    EventKind::Backoff,
    EventKind::StartupTimedOut,
    EventKind::Unhealthy,
];

/// Whether an event is a failure of its instance. An `exited` event's
/// detail is the exit as `ExitKind` says it; only `exit code 0` (a
/// relaunch the gateway asked for) is none.
fn is_failure(kind: EventKind, detail: &str) -> bool {
    FAILURE_KINDS.contains(&kind)
        || (kind == EventKind::Exited && detail != crate::process::ExitKind::Code(0).to_string())
}

/// Event kinds that end a failure episode without a recovery.
const QUIET_ENDS: &[EventKind] = &[
    EventKind::Stopped,
    EventKind::Standby,
    EventKind::Removed,
    EventKind::Forgotten,
];

/// The failure episodes under way, by instance.
#[derive(Debug, Default)]
pub struct Router {
    failing: HashSet<String>,
}

impl Router {
    /// The `notify` settings the event `kind` about `instance` fires:
    /// (the instance whose `notify` runs, the notification), only those
    /// whose `on` names it.
    pub fn route(
        &mut self,
        instance: &str,
        kind: EventKind,
        detail: &str,
        targets: &Targets,
    ) -> Vec<(String, Trigger)> {
        let mut fired: Vec<(String, Trigger)> = Vec::new();
        if is_failure(kind, detail) {
            if self.failing.insert(instance.to_string()) {
                fired.push((instance.to_string(), Trigger::Failed));
            }
        } else if kind == EventKind::Recovered {
            // The supervisor's one rule says when an episode ends (its
            // `recovered` event, which also wakes a rescue): not this.
            self.failing.remove(instance);
            fired.push((instance.to_string(), Trigger::Recovered));
        } else if QUIET_ENDS.contains(&kind) {
            self.failing.remove(instance);
        } else if kind == EventKind::RescueTriggered {
            fired.push((instance.to_string(), Trigger::RescueStarted));
            if let Some(main) = targets.get(instance).and_then(|t| t.rescue_of.as_ref())
                && main != instance
            {
                fired.push((main.clone(), Trigger::RescueStarted));
            }
        } else if kind == EventKind::RolledBack {
            fired.push((instance.to_string(), Trigger::RolledBack));
        }
        fired.retain(|(owner, trigger)| {
            targets
                .get(owner)
                .and_then(|target| target.notify.as_ref())
                .is_some_and(|notify| notify.on.iter().any(|on| on == trigger.as_str()))
        });
        fired
    }
}

#[cfg(test)]
mod tests;
