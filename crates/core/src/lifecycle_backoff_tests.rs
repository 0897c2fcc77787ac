//! The lifecycle's backoff: its delays, a crash loop, and the reset after
//! a long enough run (the transitions are in `lifecycle_tests.rs`).

use super::tests::{SEC, ctx, machine, policy};
use super::*;

#[test]
fn backoff_grows_exponentially_caps_and_jitters_down() {
    let max = Duration::from_secs(300);
    let rows: &[(u32, f64, Duration)] = &[
        (1, 0.0, SEC),
        (2, 0.0, 2 * SEC),
        (3, 0.0, 4 * SEC),
        (9, 0.0, 256 * SEC),
        (10, 0.0, max),
        (1000, 0.0, max),
        (u32::MAX, 0.0, max),
        (1, 1.0, SEC.mul_f64(0.8)),
        (1000, 0.5, max.mul_f64(0.9)),
        (0, 0.0, SEC),
    ];
    for (failures, jitter, expected) in rows {
        assert_eq!(
            backoff_delay(SEC, max, *failures, *jitter),
            *expected,
            "failures {failures} jitter {jitter}"
        );
    }
}

#[test]
fn a_zero_initial_backoff_restarts_at_once_first_then_doubles_from_the_floor() {
    let max = Duration::from_secs(300);
    let ms = Duration::from_millis;
    let rows: &[(u32, f64, Duration, Duration)] = &[
        (0, 0.0, max, Duration::ZERO),
        (1, 0.0, max, Duration::ZERO),
        // Jitter of nothing is nothing.
        (1, 1.0, max, Duration::ZERO),
        (2, 0.0, max, ms(100)),
        (3, 0.0, max, ms(200)),
        (4, 0.0, max, ms(400)),
        (2, 1.0, max, ms(80)),
        (13, 0.0, max, ms(204_800)),
        (14, 0.0, max, max),
        (u32::MAX, 0.0, max, max),
        // A cap below the floor still caps.
        (5, 0.0, ms(50), ms(50)),
    ];
    for (failures, jitter, cap, expected) in rows {
        assert_eq!(
            backoff_delay(Duration::ZERO, *cap, *failures, *jitter),
            *expected,
            "failures {failures} jitter {jitter} max {cap:?}"
        );
    }
}

/// The backoff delays of `crashes` crashes in a row, each gateway
/// exiting with `exit` at once, each restart when its timer fires (and
/// checked to spawn: a crash loop never gives up).
fn crash_loop_delays(policy: Policy, crashes: usize, exit: ExitKind) -> (Vec<Duration>, Lifecycle) {
    let mut lifecycle = Lifecycle::new(policy);
    let mut now = Instant::now();
    let mut delays = Vec::new();
    lifecycle.step(Event::Start, ctx(now));
    for _ in 0..crashes {
        lifecycle.step(Event::Spawned, ctx(now));
        let actions = lifecycle.step(Event::Exited(exit), ctx(now));
        let delay = actions
            .iter()
            .find_map(|action| match action {
                Action::ArmTimer(TimerKind::Backoff, delay) => Some(*delay),
                _ => None,
            })
            .expect("every crash arms a backoff timer");
        delays.push(delay);
        now += delay;
        let actions = lifecycle.step(Event::Timer(TimerKind::Backoff), ctx(now));
        assert!(actions.contains(&Action::Spawn), "it never gives up");
    }
    (delays, lifecycle)
}

#[test]
fn with_a_zero_initial_backoff_a_crash_loop_restarts_at_once_then_backs_off() {
    let policy = Policy {
        backoff_initial: Duration::ZERO,
        ..policy()
    };
    let (delays, _) = crash_loop_delays(policy, 4, ExitKind::Signal(9));
    let ms = Duration::from_millis;
    assert_eq!(delays, [Duration::ZERO, ms(100), ms(200), ms(400)]);
}

#[test]
fn a_crash_loop_grows_its_delay_to_the_cap_and_keeps_retrying() {
    let (delays, lifecycle) = crash_loop_delays(policy(), 12, ExitKind::Code(1));
    let secs: Vec<u64> = delays.iter().map(Duration::as_secs).collect();
    assert_eq!(secs, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
    assert_eq!(lifecycle.restarts, 12);
}

#[test]
fn running_past_reset_after_resets_the_backoff() {
    let t0 = Instant::now();
    let mut lifecycle = machine(State::Running { since: t0 }, policy());
    lifecycle.failures = 7;
    let actions = lifecycle.step(
        Event::Exited(ExitKind::Code(1)),
        ctx(t0 + Duration::from_secs(601)),
    );
    assert!(actions.contains(&Action::ArmTimer(TimerKind::Backoff, SEC)));
    assert_eq!(lifecycle.failures, 1);

    let mut short_run = machine(State::Running { since: t0 }, policy());
    short_run.failures = 3;
    let actions = short_run.step(
        Event::Exited(ExitKind::Code(1)),
        ctx(t0 + Duration::from_secs(10)),
    );
    assert!(actions.contains(&Action::ArmTimer(TimerKind::Backoff, 8 * SEC)));
}
