//! The rescue rule as a pure decision: which rescues a failure of their
//! main changes, and why.
//!
//! A failure of main (any failure notice: an exit other than 0, a startup
//! deadline, a failed liveness probe, a backoff, a final failure) makes its
//! rescues available at once: a rescue waiting in standby is started, one
//! waiting out its own backoff is retried now. A rescue already starting,
//! running or stopping, stopped by the operator, or failed is left alone.
//! A main failing again before it has started (each retry of a backoff
//! loop) is the same episode: a rescue it already changed is not changed
//! again (it is running, or retrying on its own). So each real change is
//! one `rescue_triggered` event, with its reason.

use crate::lifecycle::Notice;

/// What the supervisor knows of one rescue when its main fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RescueView<'a> {
    pub name: &'a str,
    /// The rescue's state, as its snapshot names it (`standby`, `backoff`, ...).
    pub state: &'a str,
    /// Whether this failure episode of main has already changed it.
    pub changed_this_episode: bool,
}

/// How a rescue changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Standby -> starting.
    StartFromStandby,
    /// Backoff -> starting, without waiting out its delay.
    RetryNow,
}

/// One rescue to change, and the `rescue_triggered` event's detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    pub rescue: String,
    pub change: Change,
    pub reason: String,
}

/// The failure of main in words: `exited (exit code 1)`; `None` for a
/// notice that is no failure.
pub fn failure_words(notice: &Notice, detail: &str) -> Option<String> {
    if !notice.is_failure() {
        return None;
    }
    Some(match notice {
        Notice::Exited(exit) => format!("exited ({exit})"),
        Notice::StartupTimedOut => "did not start within its startup allowance".to_string(),
        Notice::Unhealthy => "failed its liveness probe".to_string(),
        Notice::Backoff { .. } => format!("is in backoff ({detail})"),
        _ => format!("failed ({detail})"),
    })
}

/// The rescues of `main` that its failure `notice` (with its `detail`)
/// changes; nothing when the notice is not a failure.
pub fn plan(main: &str, notice: &Notice, detail: &str, rescues: &[RescueView]) -> Vec<Trigger> {
    let Some(failure) = failure_words(notice, detail) else {
        return Vec::new();
    };
    rescues
        .iter()
        .filter(|rescue| !rescue.changed_this_episode)
        .filter_map(|rescue| {
            let (change, what) = match rescue.state {
                "standby" => (Change::StartFromStandby, "started from standby"),
                "backoff" => (Change::RetryNow, "retried now instead of after its backoff"),
                _ => return None,
            };
            Some(Trigger {
                rescue: rescue.name.to_string(),
                change,
                reason: format!("{main} {failure}; {what}"),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::lifecycle::FailReason;
    use crate::spawn::ExitKind;

    fn view(name: &'static str, state: &'static str, changed: bool) -> RescueView<'static> {
        RescueView {
            name,
            state,
            changed_this_episode: changed,
        }
    }

    /// What, main's notice and its detail, the rescues, the triggers
    /// (rescue, change, reason).
    type Row = (
        &'static str,
        Notice,
        &'static str,
        Vec<RescueView<'static>>,
        Vec<(&'static str, Change, &'static str)>,
    );

    #[test]
    fn only_rescues_whose_state_changes_are_triggered_once_an_episode() {
        let exit1 = Notice::Exited(ExitKind::Code(1));
        let rows: Vec<Row> = vec![
            (
                "a standby rescue is started",
                exit1,
                "exit code 1",
                vec![view("rescue", "standby", false)],
                vec![(
                    "rescue",
                    Change::StartFromStandby,
                    "main exited (exit code 1); started from standby",
                )],
            ),
            (
                "a rescue in backoff is retried now",
                Notice::Unhealthy,
                "",
                vec![view("rescue", "backoff", false)],
                vec![(
                    "rescue",
                    Change::RetryNow,
                    "main failed its liveness probe; retried now instead of after its backoff",
                )],
            ),
            (
                "running, starting, stopping, stopped and failed rescues are left alone",
                exit1,
                "exit code 1",
                vec![
                    view("a", "running", false),
                    view("b", "starting", false),
                    view("c", "stopping", false),
                    view("d", "stopped", false),
                    view("e", "failed", false),
                ],
                vec![],
            ),
            (
                "a retry of main in its backoff loop changes nothing already changed",
                Notice::Backoff {
                    delay: Duration::from_millis(100),
                },
                "restarting in 100ms",
                vec![
                    view("started", "standby", true),
                    view("retrying", "backoff", true),
                ],
                vec![],
            ),
            (
                "main's relaunch it asked for (exit 0) is no failure",
                Notice::Exited(ExitKind::Code(0)),
                "exit code 0",
                vec![view("rescue", "standby", false)],
                vec![],
            ),
            (
                "the memory guard's restart wakes no rescue",
                Notice::MemoryGuard,
                "memory 1.6 GiB above 1.5 GiB for 5m",
                vec![
                    view("rescue", "standby", false),
                    view("b", "backoff", false),
                ],
                vec![],
            ),
            (
                "a final failure names its detail",
                Notice::Failed(FailReason::ConfigError),
                "exit 78: configuration error",
                vec![view("rescue", "standby", false)],
                vec![(
                    "rescue",
                    Change::StartFromStandby,
                    "main failed (exit 78: configuration error); started from standby",
                )],
            ),
            (
                "a startup deadline",
                Notice::StartupTimedOut,
                "",
                vec![view("one", "standby", false), view("two", "running", false)],
                vec![(
                    "one",
                    Change::StartFromStandby,
                    "main did not start within its startup allowance; started from standby",
                )],
            ),
        ];
        for (what, notice, detail, rescues, expected) in rows {
            let expected: Vec<Trigger> = expected
                .into_iter()
                .map(|(rescue, change, reason)| Trigger {
                    rescue: rescue.to_string(),
                    change,
                    reason: reason.to_string(),
                })
                .collect();
            assert_eq!(plan("main", &notice, detail, &rescues), expected, "{what}");
        }
    }
}
