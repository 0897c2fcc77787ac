//! Exiting: the leader exited and left processes behind. One path for
//! every case (a crash, a stop under way, a probe's restart): the stop
//! signal once, the stop timeout's SIGKILL, and the exit heard when the
//! group is empty, leading where it would have led without leftovers.

use super::tests::{ctx, machine, policy};
use super::*;

/// (name, state, event, expected state, expected actions)
type Row = (&'static str, State, Event, State, Vec<Action>);

#[test]
fn exiting_table() {
    let t0 = Instant::now();
    let later = t0 + Duration::from_secs(5);
    let crash = ExitKind::Code(1);
    let clean = ExitKind::Code(0);
    let stop_timeout = policy().stop_timeout;
    let running = State::Running { since: t0 };
    let starting = State::Starting { since: t0 };
    let stopping = |then| State::Stopping { since: t0, then };
    let exiting = |exit, was| State::Exiting {
        since: later,
        exit,
        was,
    };
    let was_running = Was::Running { since: t0 };
    let was_starting = Was::Starting { since: t0 };
    let was_stopping = |then| Was::Stopping { since: t0, then };
    let was_stopping_now = |then| Was::Stopping { since: later, then };
    // A crash with leftovers: told at once, the leftovers signalled once
    // and given the stop timeout.
    let crash_told = vec![
        Action::Probes(ProbePhase::Off),
        Action::CancelTimer(TimerKind::StartupDeadline),
        Action::Notify(Notice::Exited(crash)),
        Action::SignalStop,
        Action::ArmTimer(TimerKind::StopTimeout, stop_timeout),
    ];
    let rows: Vec<Row> = vec![
        (
            "a crash with leftovers: told at once; they get the stop signal once and a deadline",
            running,
            Event::LeaderExited(crash),
            exiting(crash, was_running),
            crash_told.clone(),
        ),
        (
            "a crash while starting exits the same way",
            starting,
            Event::LeaderExited(crash),
            exiting(crash, was_starting),
            crash_told.clone(),
        ),
        (
            "a stop under way keeps its signal and its deadline: nothing is sent twice",
            stopping(Then::Stop),
            Event::LeaderExited(clean),
            exiting(clean, was_stopping(Then::Stop)),
            vec![
                Action::Probes(ProbePhase::Off),
                Action::CancelTimer(TimerKind::StartupDeadline),
            ],
        ),
        (
            "the stop timeout while exiting is SIGKILL",
            exiting(crash, was_running),
            Event::Timer(TimerKind::StopTimeout),
            exiting(crash, was_running),
            vec![Action::Kill],
        ),
        (
            "the group empty after a crash: where the exit leads (backoff), not told twice",
            exiting(crash, was_running),
            Event::GroupEmpty,
            State::Backoff {
                until: later + Duration::from_secs(1),
            },
            vec![
                Action::CancelTimer(TimerKind::StopTimeout),
                Action::Probes(ProbePhase::Off),
                Action::CancelTimer(TimerKind::StartupDeadline),
                Action::ArmTimer(TimerKind::Backoff, Duration::from_secs(1)),
                Action::Notify(Notice::Backoff {
                    delay: Duration::from_secs(1),
                }),
            ],
        ),
        (
            "the group empty after a stop: stopped, the stop's timer cancelled once",
            exiting(clean, was_stopping(Then::Stop)),
            Event::GroupEmpty,
            State::Stopped,
            vec![
                Action::CancelTimer(TimerKind::StopTimeout),
                Action::Notify(Notice::Stopped),
            ],
        ),
        (
            "a stop while exiting a crash: stopped once the group is empty",
            exiting(crash, was_running),
            Event::Stop,
            exiting(crash, was_stopping_now(Then::Stop)),
            vec![],
        ),
        (
            "a restart while exiting a stop: the stop wins",
            exiting(clean, was_stopping(Then::Stop)),
            Event::Restart,
            exiting(clean, was_stopping(Then::Stop)),
            vec![],
        ),
        (
            "a removal while exiting: forgotten once the group is empty",
            exiting(crash, was_stopping(Then::Restart)),
            Event::Remove,
            exiting(crash, was_stopping(Then::Forget)),
            vec![],
        ),
        (
            "a start while exiting changes nothing (the exit decides)",
            exiting(crash, was_running),
            Event::Start,
            exiting(crash, was_running),
            vec![],
        ),
        (
            "a late probe result while exiting changes nothing",
            exiting(crash, was_starting),
            Event::StartupPassed,
            exiting(crash, was_starting),
            vec![],
        ),
        (
            "a leader exit heard twice changes nothing",
            exiting(crash, was_running),
            Event::LeaderExited(crash),
            exiting(crash, was_running),
            vec![],
        ),
        (
            "no leader exit outside a state with a process",
            State::Stopped,
            Event::LeaderExited(crash),
            State::Stopped,
            vec![],
        ),
    ];
    for (name, state, event, expected_state, expected_actions) in rows {
        let mut lifecycle = machine(state, policy());
        let actions = lifecycle.step(event, ctx(later));
        assert_eq!(lifecycle.state, expected_state, "{name}: state");
        assert_eq!(actions, expected_actions, "{name}: actions");
    }
}

#[test]
fn a_stop_asked_while_exiting_ends_stopped_not_in_backoff() {
    let t0 = Instant::now();
    let mut lifecycle = machine(State::Running { since: t0 }, policy());
    let told = lifecycle.step(Event::LeaderExited(ExitKind::Code(1)), ctx(t0));
    assert!(
        told.contains(&Action::Notify(Notice::Exited(ExitKind::Code(1)))),
        "the crash is told before the stop: {told:?}"
    );
    assert!(
        told.iter()
            .any(|action| matches!(action, Action::Notify(notice) if notice.is_failure()))
    );
    assert_eq!(lifecycle.state.name(), StateName::Exiting);
    assert!(lifecycle.state.has_process());
    lifecycle.step(Event::Stop, ctx(t0));
    let actions = lifecycle.step(Event::GroupEmpty, ctx(t0));
    assert_eq!(lifecycle.state, State::Stopped);
    assert!(actions.contains(&Action::Notify(Notice::Stopped)));
    assert!(!actions.contains(&Action::Spawn));
}
