use std::time::{Duration, Instant};

use super::*;
use crate::declaration::HumanDuration;

fn notify(on: &[&str]) -> Option<NotifySpec> {
    Some(NotifySpec {
        command: vec!["/bin/true".to_string()],
        on: on.iter().map(|s| s.to_string()).collect(),
        min_interval: HumanDuration::from_secs(60),
        timeout: HumanDuration::from_secs(10),
    })
}

/// A kind by its wire name; a name the protocol does not know fails.
fn event_kind(name: &str) -> EventKind {
    let kind: EventKind = serde_json::from_value(serde_json::Value::String(name.to_string()))
        .unwrap_or(EventKind::Other);
    assert_ne!(kind, EventKind::Other, "no event kind `{name}`");
    kind
}

const ALL: &[&str] = &["failed", "rescue_started", "recovered", "rolled_back"];

/// main and its rescue, both with `notify` on everything; `quiet` with none.
fn targets() -> Targets {
    [
        ("main", notify(ALL), None),
        ("rescue", notify(ALL), Some("main")),
        ("only-failed", notify(&["failed"]), None),
        ("quiet", None, None),
        ("quiet-rescue", None, Some("main")),
    ]
    .into_iter()
    .map(|(name, notify, rescue_of)| {
        (
            name.to_string(),
            Target {
                notify,
                rescue_of: rescue_of.map(str::to_string),
            },
        )
    })
    .collect()
}

#[test]
fn events_fire_notifications_once_an_episode() {
    use Trigger::*;
    // What, then a sequence of (instance, event kind) and what each fires.
    type Step = (&'static str, &'static str, Vec<(&'static str, Trigger)>);
    // An `exited` row's detail is the exit in words; others have none.
    let rows: Vec<(&str, Vec<Step>)> = vec![
        (
            "a crash loop is one `failed`, the end of its episode one `recovered`",
            vec![
                ("main", "spawned", vec![]),
                ("main", "exited:exit code 1", vec![("main", Failed)]),
                ("main", "backoff", vec![]),
                ("main", "spawned", vec![]),
                ("main", "exited:killed by SIGKILL", vec![]),
                ("main", "backoff", vec![]),
                ("main", "started", vec![]),
                ("main", "recovered", vec![("main", Recovered)]),
                ("main", "started", vec![]),
                ("main", "backoff", vec![("main", Failed)]),
            ],
        ),
        (
            "each failure kind opens an episode; exit 0 alone is none",
            vec![
                ("main", "exited:exit code 0", vec![]),
                ("main", "unhealthy", vec![("main", Failed)]),
                ("main", "startup_timed_out", vec![]),
                ("main", "failed", vec![]),
                ("rescue", "startup_timed_out", vec![("rescue", Failed)]),
                ("only-failed", "failed", vec![("only-failed", Failed)]),
            ],
        ),
        (
            "after a stop, a failure is `failed` again",
            vec![
                ("main", "exited:killed by SIGTERM", vec![("main", Failed)]),
                ("main", "failed", vec![]),
                ("main", "stopped", vec![]),
                ("main", "started", vec![]),
                ("main", "backoff", vec![("main", Failed)]),
            ],
        ),
        (
            "a rescue started tells the rescue and its main",
            vec![
                ("main", "backoff", vec![("main", Failed)]),
                (
                    "rescue",
                    "rescue_triggered",
                    vec![("rescue", RescueStarted), ("main", RescueStarted)],
                ),
                (
                    "quiet-rescue",
                    "rescue_triggered",
                    vec![("main", RescueStarted)],
                ),
            ],
        ),
        (
            "`on` chooses; an instance without `notify` hears nothing",
            vec![
                ("only-failed", "failed", vec![("only-failed", Failed)]),
                ("only-failed", "started", vec![]),
                ("only-failed", "rolled_back", vec![]),
                ("quiet", "backoff", vec![]),
                ("quiet", "started", vec![]),
                ("unknown", "backoff", vec![]),
            ],
        ),
        (
            "rolled back; notify's own failure and other events fire nothing",
            vec![
                ("main", "rolled_back", vec![("main", RolledBack)]),
                ("main", "notify_failed", vec![]),
                ("quiet", "recovered", vec![]),
                ("main", "memory_guard", vec![]),
                ("main", "killed", vec![]),
                ("main", "command", vec![]),
            ],
        ),
    ];
    let targets = targets();
    for (what, steps) in rows {
        let mut router = Router::default();
        for (index, (instance, kind, expected)) in steps.into_iter().enumerate() {
            let expected: Vec<(String, Trigger)> = expected
                .into_iter()
                .map(|(owner, trigger)| (owner.to_string(), trigger))
                .collect();
            let (kind, detail) = kind.split_once(':').unwrap_or((kind, ""));
            assert_eq!(
                router.route(instance, event_kind(kind), detail, &targets),
                expected,
                "{what}, step {index}: {instance} {kind}"
            );
        }
    }
}

#[test]
fn the_rate_limit_holds_the_newest_and_counts_the_rest() {
    use Trigger::*;
    /// An offer at a second (the trigger and a payload number) or the
    /// end of the run under way, or a poll; then the run that starts
    /// (trigger, payload, suppressed).
    enum Step {
        Offer(u64, Trigger, u32),
        Finished,
        Poll(u64),
    }
    use Step::*;
    type Row = (&'static str, Vec<(Step, Option<(Trigger, u32, u32)>)>);
    let rows: Vec<Row> = vec![
        (
            "the first goes at once, the next in the window waits for its end",
            vec![
                (Offer(0, Failed, 1), Some((Failed, 1, 0))),
                (Finished, None),
                (Offer(10, Failed, 2), None),
                (Poll(59), None),
                (Poll(60), Some((Failed, 2, 0))),
            ],
        ),
        (
            "a crash loop's notifications are folded into one, the newest kept",
            vec![
                (Offer(0, Failed, 1), Some((Failed, 1, 0))),
                (Finished, None),
                (Offer(5, Failed, 2), None),
                (Offer(6, Failed, 3), None),
                (Offer(7, Failed, 4), None),
                (Poll(60), Some((Failed, 4, 2))),
                (Finished, None),
                (Poll(200), None),
            ],
        ),
        (
            "a recovered right after a failed goes at once, the next change waits",
            vec![
                (Offer(0, Failed, 1), Some((Failed, 1, 0))),
                (Finished, None),
                (Offer(2, Recovered, 2), Some((Recovered, 2, 0))),
                (Finished, None),
                (Offer(3, Failed, 3), None),
                (Offer(4, Recovered, 4), None),
                // A window after the last run (at 2), not the first.
                (Poll(61), None),
                (Poll(62), Some((Recovered, 4, 1))),
            ],
        ),
        (
            "one run at a time: what comes meanwhile goes when it ends",
            vec![
                (Offer(0, Failed, 1), Some((Failed, 1, 0))),
                (Offer(1, RescueStarted, 2), None),
                (Poll(100), None),
                (Finished, None),
                (Poll(100), Some((RescueStarted, 2, 0))),
            ],
        ),
        (
            "a held notification is replaced by a change that may go: counted",
            vec![
                (Offer(0, Failed, 1), Some((Failed, 1, 0))),
                (Finished, None),
                (Offer(1, Failed, 2), None),
                (Offer(2, Recovered, 3), Some((Recovered, 3, 1))),
                (Finished, None),
                (Poll(500), None),
            ],
        ),
    ];
    for (what, steps) in rows {
        let start = Instant::now();
        let at = |secs: u64| start + Duration::from_secs(secs);
        let mut limiter: Limiter<u32> = Limiter::new(Duration::from_secs(60));
        for (index, (step, expected)) in steps.into_iter().enumerate() {
            let got = match step {
                Offer(secs, trigger, payload) => limiter.offer(at(secs), trigger, payload),
                Finished => {
                    limiter.finished();
                    None
                }
                Poll(secs) => limiter.poll(at(secs)),
            };
            let got = got.map(|run| (run.trigger, run.payload, run.suppressed));
            assert_eq!(got, expected, "{what}, step {index}");
        }
    }
}

#[test]
fn a_held_notification_is_due_at_its_window_end() {
    let start = Instant::now();
    let at = |secs: u64| start + Duration::from_secs(secs);
    let mut limiter: Limiter<()> = Limiter::new(Duration::from_secs(60));
    assert_eq!(limiter.due(at(0)), None, "nothing held");
    assert!(limiter.offer(at(0), Trigger::Failed, ()).is_some());
    assert!(limiter.offer(at(1), Trigger::Failed, ()).is_none());
    assert_eq!(limiter.due(at(1)), None, "a run under way");
    limiter.finished();
    assert_eq!(limiter.due(at(2)), Some(at(60)));
    assert!(limiter.offer(at(3), Trigger::Recovered, ()).is_some());
    limiter.finished();
    assert!(limiter.offer(at(4), Trigger::Failed, ()).is_none());
    assert_eq!(
        limiter.due(at(5)),
        Some(at(60)),
        "the change of kind was spent"
    );
}
