//! The rescue rule as a pure decision: which rescues a failure of their
//! main changes, and why.
//!
//! A failure of main (any failure notice: an exit other than 0, a startup
//! deadline, a failed liveness probe, a backoff, a final failure) makes its
//! rescues available at once: a rescue waiting in standby is started, one
//! waiting out its own backoff is retried now. A rescue already starting,
//! running, stopping or exiting (its gateway gone, its leftovers not yet), stopped by the operator, or failed is left alone.
//! A main failing again before it has started (each retry of a backoff
//! loop) is the same episode: a rescue it already changed is not changed
//! again (it is running, or retrying on its own). So each real change is
//! one `rescue_triggered` event, with its reason.

use crate::lifecycle::{Notice, StateName};

/// What the supervisor knows of one rescue when its main fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RescueView<'a> {
    pub name: &'a str,
    /// The rescue's state, as its snapshot has it.
    pub state: StateName,
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
                StateName::Standby => (Change::StartFromStandby, "started from standby"),
                StateName::Backoff => {
                    (Change::RetryNow, "retried now instead of after its backoff")
                }
                StateName::Stopped
                | StateName::Starting
                | StateName::Running
                | StateName::Stopping
                | StateName::Exiting
                | StateName::Failed => return None,
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
    use crate::lifecycle::StateName::{
        Backoff, Exiting, Failed, Running, Standby, Starting, Stopped, Stopping,
    };
    use crate::spawn::ExitKind;

    fn view(name: &'static str, state: StateName, changed: bool) -> RescueView<'static> {
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
                vec![view("rescue", Standby, false)],
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
                vec![view("rescue", Backoff, false)],
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
                    view("a", Running, false),
                    view("b", Starting, false),
                    view("c", Stopping, false),
                    view("d", Stopped, false),
                    view("e", Failed, false),
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
                    view("started", Standby, true),
                    view("retrying", Backoff, true),
                ],
                vec![],
            ),
            (
                "main's relaunch it asked for (exit 0) is no failure",
                Notice::Exited(ExitKind::Code(0)),
                "exit code 0",
                vec![view("rescue", Standby, false)],
                vec![],
            ),
            (
                "the memory guard's restart wakes no rescue",
                Notice::MemoryGuard,
                "memory 1.6 GiB above 1.5 GiB for 5m",
                vec![view("rescue", Standby, false), view("b", Backoff, false)],
                vec![],
            ),
            (
                "a final failure names its detail",
                Notice::Failed(FailReason::ConfigError),
                "exit 78: configuration error",
                vec![view("rescue", Standby, false)],
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
                vec![view("one", Standby, false), view("two", Running, false)],
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

    /// A failure of main against one rescue in each state, changed this
    /// episode or not: (the rescue's state, changed, the change or none).
    #[test]
    fn each_state_of_a_rescue_against_a_failure_of_its_main() {
        let rows: &[(StateName, bool, Option<Change>)] = &[
            (Stopped, false, None),
            (Stopped, true, None),
            (Standby, false, Some(Change::StartFromStandby)),
            (Standby, true, None),
            (Starting, false, None),
            (Starting, true, None),
            (Running, false, None),
            (Running, true, None),
            (Stopping, false, None),
            (Stopping, true, None),
            (Backoff, false, Some(Change::RetryNow)),
            (Backoff, true, None),
            (Failed, false, None),
            (Failed, true, None),
            (Exiting, false, None),
            (Exiting, true, None),
        ];
        assert_eq!(
            rows.iter().filter(|(_, changed, _)| !changed).count(),
            StateName::ALL.len(),
            "a row for each state"
        );
        let failures = [
            (Notice::Exited(ExitKind::Code(1)), "exit code 1"),
            (Notice::Exited(ExitKind::Signal(9)), "signal 9 (SIGKILL)"),
            (Notice::StartupTimedOut, ""),
            (Notice::Unhealthy, ""),
            (
                Notice::Backoff {
                    delay: Duration::from_secs(1),
                },
                "restarting in 1s",
            ),
            (Notice::Failed(FailReason::ConfigError), "exit 78"),
        ];
        for (notice, detail) in &failures {
            for (state, changed, expected) in rows {
                let got = plan("main", notice, detail, &[view("rescue", *state, *changed)]);
                let got: Vec<Change> = got.iter().map(|trigger| trigger.change).collect();
                assert_eq!(
                    got,
                    expected.iter().copied().collect::<Vec<_>>(),
                    "{notice:?}: a rescue {state}, changed this episode: {changed}"
                );
            }
        }
        // No failure: no rescue changes, whatever its state.
        let calm = [
            Notice::Exited(ExitKind::Code(0)),
            Notice::Started,
            Notice::Stopped,
            Notice::MemoryGuard,
        ];
        for notice in &calm {
            let rescues: Vec<RescueView> = StateName::ALL
                .iter()
                .map(|state| view("rescue", *state, false))
                .collect();
            assert_eq!(plan("main", notice, "", &rescues), Vec::new(), "{notice:?}");
        }
    }
}
