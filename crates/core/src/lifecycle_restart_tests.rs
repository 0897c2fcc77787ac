//! What counts as a failure (the rescue's triggers), and the restarts that
//! are not one: new spawn settings, the memory guard (the transitions are in
//! `lifecycle_tests.rs`).

use super::tests::{SEC, ctx, machine, policy};
use super::*;

#[test]
fn failure_notices_are_the_rescue_triggers() {
    let rows = [
        (Notice::Exited(ExitKind::Code(1)), true),
        (Notice::Exited(ExitKind::Signal(9)), true),
        (Notice::Exited(ExitKind::Code(0)), false),
        (Notice::StartupTimedOut, true),
        (Notice::Unhealthy, true),
        (Notice::Backoff { delay: SEC }, true),
        (Notice::Failed(FailReason::ConfigError), true),
        (Notice::Started, false),
        (Notice::Spawned, false),
        (Notice::Stopped, false),
        (Notice::Standby, false),
        (Notice::MemoryGuard, false),
    ];
    for (notice, expected) in rows {
        assert_eq!(notice.is_failure(), expected, "{notice:?}");
    }
}

#[test]
fn new_spawn_settings_restart_only_a_gateway_that_runs_or_is_on_its_way() {
    let t0 = Instant::now();
    let rows = [
        (State::Stopped, "stopped"),
        (State::Standby, "standby"),
        (State::Starting { since: t0 }, "stopping"),
        (State::Running { since: t0 }, "stopping"),
        (State::Backoff { until: t0 }, "starting"),
        // A failed instance is retried on any change, as for `Changed`.
        (
            State::Failed {
                reason: FailReason::Exited(ExitKind::Code(EXIT_CONFIG_ERROR)),
            },
            "starting",
        ),
    ];
    for (state, expected) in rows {
        let mut lifecycle = machine(state, policy());
        lifecycle.step(Event::Respawn, ctx(t0));
        assert_eq!(lifecycle.state.name(), expected, "from {}", state.name());
    }
}

#[test]
fn a_memory_guard_restart_is_no_failure_unless_the_new_gateway_fails() {
    let t0 = Instant::now();
    let mut lifecycle = machine(State::Running { since: t0 }, policy());
    let notices = |actions: &[Action]| -> Vec<Notice> {
        actions
            .iter()
            .filter_map(|action| match action {
                Action::Notify(notice) => Some(*notice),
                _ => None,
            })
            .collect()
    };
    let guard = lifecycle.step(Event::MemoryAbove, ctx(t0));
    assert_eq!(notices(&guard), [Notice::MemoryGuard]);
    assert!(guard.contains(&Action::SignalStop), "{guard:?}");
    // The drained gateway exits 0: a new one at once, no backoff, no failure.
    let exited = lifecycle.step(Event::Exited(ExitKind::Code(0)), ctx(t0 + SEC));
    assert!(exited.contains(&Action::Spawn), "{exited:?}");
    assert!(notices(&exited).iter().all(|notice| !notice.is_failure()));
    assert_eq!(lifecycle.failures, 0);
    assert_eq!(lifecycle.restarts, 1);
    // The new gateway cannot be spawned: that is a failure, a rescue's trigger.
    let failed = lifecycle.step(Event::SpawnFailed, ctx(t0 + 2 * SEC));
    assert!(
        notices(&failed).iter().any(Notice::is_failure),
        "{failed:?}"
    );
    assert!(matches!(lifecycle.state, State::Backoff { .. }));
}
