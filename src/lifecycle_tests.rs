use super::*;

const SEC: Duration = Duration::from_secs(1);

fn policy() -> Policy {
    Policy {
        restart: RestartPolicy::Always,
        backoff_initial: SEC,
        backoff_max: Duration::from_secs(300),
        reset_after: Duration::from_secs(600),
        stop_timeout: Duration::from_secs(60),
        startup_allowance: Some(Duration::from_secs(120)),
        standby: false,
    }
}

fn ctx(now: Instant) -> Ctx {
    Ctx { now, jitter: 0.0 }
}

/// A machine put in `state` at time `t0`, with `failures` so far.
fn machine(state: State, policy: Policy) -> Lifecycle {
    let mut lifecycle = Lifecycle::new(policy);
    lifecycle.state = state;
    lifecycle
}

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

#[test]
fn with_a_zero_initial_backoff_a_crash_loop_restarts_at_once_then_backs_off() {
    let policy = Policy {
        backoff_initial: Duration::ZERO,
        ..policy()
    };
    let mut lifecycle = Lifecycle::new(policy);
    let mut now = Instant::now();
    let ctx = |now| Ctx { now, jitter: 0.0 };
    lifecycle.step(Event::Start, ctx(now));
    lifecycle.step(Event::Spawned, ctx(now));
    let mut delays = Vec::new();
    for _ in 0..4 {
        now += Duration::from_secs(1);
        let actions = lifecycle.step(Event::Exited(ExitKind::Signal(9)), ctx(now));
        let delay = actions
            .iter()
            .find_map(|action| match action {
                Action::ArmTimer(TimerKind::Backoff, delay) => Some(*delay),
                _ => None,
            })
            .expect("every crash arms a backoff timer");
        delays.push(delay);
        lifecycle.step(Event::Timer(TimerKind::Backoff), ctx(now + delay));
        lifecycle.step(Event::Spawned, ctx(now + delay));
    }
    let ms = Duration::from_millis;
    assert_eq!(delays, [Duration::ZERO, ms(100), ms(200), ms(400)]);
}

/// (name, state, policy, event, expected state, expected actions)
type Row = (&'static str, State, Policy, Event, State, Vec<Action>);

#[test]
fn transitions_table() {
    let t0 = Instant::now();
    let later = t0 + Duration::from_secs(5);
    let never = Policy {
        restart: RestartPolicy::Never,
        ..policy()
    };
    let on_failure = Policy {
        restart: RestartPolicy::OnFailure,
        ..policy()
    };
    let no_startup = Policy {
        startup_allowance: None,
        ..policy()
    };
    let standby = Policy {
        standby: true,
        ..policy()
    };
    let zero_no_startup = Policy {
        backoff_initial: Duration::ZERO,
        ..no_startup.clone()
    };
    let starting = State::Starting { since: t0 };
    let running = State::Running { since: t0 };
    let backoff = State::Backoff { until: later };
    let stopping = |then| State::Stopping { since: t0, then };
    let stopping_now = |then| State::Stopping { since: later, then };
    let allowance = Duration::from_secs(120);
    let stop_timeout = Duration::from_secs(60);
    let spawn_actions = vec![
        Action::Spawn,
        Action::ArmTimer(TimerKind::StartupDeadline, allowance),
        Action::Probes(ProbePhase::Startup),
    ];
    let stop_actions = vec![
        Action::Probes(ProbePhase::Off),
        Action::CancelTimer(TimerKind::StartupDeadline),
        Action::SignalStop,
        Action::ArmTimer(TimerKind::StopTimeout, stop_timeout),
    ];
    let exit_prefix = |exit| {
        vec![
            Action::Probes(ProbePhase::Off),
            Action::CancelTimer(TimerKind::StartupDeadline),
            Action::Notify(Notice::Exited(exit)),
        ]
    };
    let concat = |a: Vec<Action>, b: Vec<Action>| a.into_iter().chain(b).collect::<Vec<_>>();
    let backoff_1s = vec![
        Action::ArmTimer(TimerKind::Backoff, SEC),
        Action::Notify(Notice::Backoff { delay: SEC }),
    ];
    let backoff_0 = vec![
        Action::ArmTimer(TimerKind::Backoff, Duration::ZERO),
        Action::Notify(Notice::Backoff {
            delay: Duration::ZERO,
        }),
    ];

    // (name, state, policy, event, expected state, expected actions)
    let rows: Vec<Row> = vec![
        (
            "start a stopped instance",
            State::Stopped,
            policy(),
            Event::Start,
            State::Starting { since: later },
            spawn_actions.clone(),
        ),
        (
            "start without a startup probe",
            State::Stopped,
            no_startup.clone(),
            Event::Start,
            State::Starting { since: later },
            vec![Action::Spawn],
        ),
        (
            "spawned without a startup probe is running",
            starting,
            no_startup.clone(),
            Event::Spawned,
            State::Running { since: later },
            vec![
                Action::Notify(Notice::Spawned),
                Action::CancelTimer(TimerKind::StartupDeadline),
                Action::Probes(ProbePhase::Live),
                Action::Notify(Notice::Started),
            ],
        ),
        (
            "spawned with a startup probe keeps starting",
            starting,
            policy(),
            Event::Spawned,
            starting,
            vec![Action::Notify(Notice::Spawned)],
        ),
        (
            "startup passed",
            starting,
            policy(),
            Event::StartupPassed,
            State::Running { since: later },
            vec![
                Action::CancelTimer(TimerKind::StartupDeadline),
                Action::Probes(ProbePhase::Live),
                Action::Notify(Notice::Started),
            ],
        ),
        (
            "startup deadline is a graceful restart",
            starting,
            policy(),
            Event::Timer(TimerKind::StartupDeadline),
            stopping_now(Then::Relaunch),
            concat(
                vec![Action::Notify(Notice::StartupTimedOut)],
                stop_actions.clone(),
            ),
        ),
        (
            "liveness failed is a graceful restart",
            running,
            policy(),
            Event::LivenessFailed,
            stopping_now(Then::Relaunch),
            concat(
                vec![Action::Notify(Notice::Unhealthy)],
                stop_actions.clone(),
            ),
        ),
        (
            "the memory guard is a graceful restart, not a failure",
            running,
            policy(),
            Event::MemoryAbove,
            stopping_now(Then::Restart),
            concat(
                vec![Action::Notify(Notice::MemoryGuard)],
                stop_actions.clone(),
            ),
        ),
        (
            "the memory guard during startup is ignored",
            starting,
            policy(),
            Event::MemoryAbove,
            starting,
            vec![],
        ),
        (
            "liveness failure during startup is ignored",
            starting,
            policy(),
            Event::LivenessFailed,
            starting,
            vec![],
        ),
        (
            "crash while running backs off",
            running,
            policy(),
            Event::Exited(ExitKind::Code(1)),
            State::Backoff { until: later + SEC },
            concat(exit_prefix(ExitKind::Code(1)), backoff_1s.clone()),
        ),
        (
            "crash while starting backs off",
            starting,
            policy(),
            Event::Exited(ExitKind::Signal(9)),
            State::Backoff { until: later + SEC },
            concat(exit_prefix(ExitKind::Signal(9)), backoff_1s.clone()),
        ),
        (
            "exit 78 fails without retry",
            running,
            policy(),
            Event::Exited(ExitKind::Code(78)),
            State::Failed {
                reason: FailReason::ConfigError,
            },
            concat(
                exit_prefix(ExitKind::Code(78)),
                vec![Action::Notify(Notice::Failed(FailReason::ConfigError))],
            ),
        ),
        (
            "exit 0 after start relaunches at once",
            running,
            policy(),
            Event::Exited(ExitKind::Code(0)),
            State::Starting { since: later },
            concat(exit_prefix(ExitKind::Code(0)), spawn_actions.clone()),
        ),
        (
            "without a startup probe, exit 0 after backoff.initial relaunches at once",
            running,
            no_startup.clone(),
            Event::Exited(ExitKind::Code(0)),
            State::Starting { since: later },
            concat(exit_prefix(ExitKind::Code(0)), vec![Action::Spawn]),
        ),
        (
            "without a startup probe, exit 0 at once is a failure, not a hot loop",
            State::Running { since: later },
            no_startup,
            Event::Exited(ExitKind::Code(0)),
            State::Backoff { until: later + SEC },
            concat(exit_prefix(ExitKind::Code(0)), backoff_1s.clone()),
        ),
        (
            "a zero initial backoff: exit 0 within the floor is a failure (restarted at once the first time)",
            State::Running {
                since: later - ZERO_BACKOFF_FLOOR / 2,
            },
            zero_no_startup.clone(),
            Event::Exited(ExitKind::Code(0)),
            State::Backoff { until: later },
            concat(exit_prefix(ExitKind::Code(0)), backoff_0.clone()),
        ),
        (
            "a zero initial backoff: exit 0 after the floor relaunches",
            State::Running {
                since: later - ZERO_BACKOFF_FLOOR,
            },
            zero_no_startup.clone(),
            Event::Exited(ExitKind::Code(0)),
            State::Starting { since: later },
            concat(exit_prefix(ExitKind::Code(0)), vec![Action::Spawn]),
        ),
        (
            "a zero initial backoff: the first crash restarts at once",
            running,
            zero_no_startup,
            Event::Exited(ExitKind::Signal(9)),
            State::Backoff { until: later },
            concat(exit_prefix(ExitKind::Signal(9)), backoff_0),
        ),
        (
            "exit 0 during startup is a failure, not a hot loop",
            starting,
            policy(),
            Event::Exited(ExitKind::Code(0)),
            State::Backoff { until: later + SEC },
            concat(exit_prefix(ExitKind::Code(0)), backoff_1s.clone()),
        ),
        (
            "on-failure: exit 0 stays stopped",
            running,
            on_failure.clone(),
            Event::Exited(ExitKind::Code(0)),
            State::Stopped,
            concat(
                exit_prefix(ExitKind::Code(0)),
                vec![Action::Notify(Notice::Stopped)],
            ),
        ),
        (
            "on-failure: crash backs off",
            running,
            on_failure,
            Event::Exited(ExitKind::Code(1)),
            State::Backoff { until: later + SEC },
            concat(exit_prefix(ExitKind::Code(1)), backoff_1s.clone()),
        ),
        (
            "never: crash fails",
            running,
            never.clone(),
            Event::Exited(ExitKind::Code(1)),
            State::Failed {
                reason: FailReason::Exited(ExitKind::Code(1)),
            },
            concat(
                exit_prefix(ExitKind::Code(1)),
                vec![Action::Notify(Notice::Failed(FailReason::Exited(
                    ExitKind::Code(1),
                )))],
            ),
        ),
        (
            "never: exit 0 stops",
            running,
            never,
            Event::Exited(ExitKind::Code(0)),
            State::Stopped,
            concat(
                exit_prefix(ExitKind::Code(0)),
                vec![Action::Notify(Notice::Stopped)],
            ),
        ),
        (
            "spawn failure backs off",
            starting,
            policy(),
            Event::SpawnFailed,
            State::Backoff { until: later + SEC },
            concat(
                vec![
                    Action::Probes(ProbePhase::Off),
                    Action::CancelTimer(TimerKind::StartupDeadline),
                ],
                backoff_1s.clone(),
            ),
        ),
        (
            "backoff timer spawns",
            backoff,
            policy(),
            Event::Timer(TimerKind::Backoff),
            State::Starting { since: later },
            spawn_actions.clone(),
        ),
        (
            "operator start cuts a backoff short",
            backoff,
            policy(),
            Event::Start,
            State::Starting { since: later },
            concat(
                vec![Action::CancelTimer(TimerKind::Backoff)],
                spawn_actions.clone(),
            ),
        ),
        (
            "rescue needed cuts a backoff short",
            backoff,
            policy(),
            Event::RescueNeeded,
            State::Starting { since: later },
            concat(
                vec![Action::CancelTimer(TimerKind::Backoff)],
                spawn_actions.clone(),
            ),
        ),
        (
            "stop during backoff",
            backoff,
            policy(),
            Event::Stop,
            State::Stopped,
            vec![
                Action::CancelTimer(TimerKind::Backoff),
                Action::Notify(Notice::Stopped),
            ],
        ),
        (
            "stop a running instance gracefully",
            running,
            policy(),
            Event::Stop,
            stopping_now(Then::Stop),
            stop_actions.clone(),
        ),
        (
            "restart a running instance",
            running,
            policy(),
            Event::Restart,
            stopping_now(Then::Restart),
            stop_actions.clone(),
        ),
        (
            "remove a running instance",
            running,
            policy(),
            Event::Remove,
            stopping_now(Then::Forget),
            stop_actions.clone(),
        ),
        (
            "stop timeout kills",
            stopping(Then::Stop),
            policy(),
            Event::Timer(TimerKind::StopTimeout),
            stopping(Then::Stop),
            vec![Action::Kill],
        ),
        (
            "stopped after stop",
            stopping(Then::Stop),
            policy(),
            Event::Exited(ExitKind::Code(0)),
            State::Stopped,
            vec![
                Action::CancelTimer(TimerKind::StopTimeout),
                Action::Notify(Notice::Stopped),
            ],
        ),
        (
            "restart spawns at once after exit",
            stopping(Then::Restart),
            policy(),
            Event::Exited(ExitKind::Code(0)),
            State::Starting { since: later },
            concat(
                vec![Action::CancelTimer(TimerKind::StopTimeout)],
                spawn_actions.clone(),
            ),
        ),
        (
            "forced restart backs off after exit",
            stopping(Then::Relaunch),
            policy(),
            Event::Exited(ExitKind::Signal(15)),
            State::Backoff { until: later + SEC },
            concat(
                vec![Action::CancelTimer(TimerKind::StopTimeout)],
                backoff_1s.clone(),
            ),
        ),
        (
            "forget after exit",
            stopping(Then::Forget),
            policy(),
            Event::Exited(ExitKind::Code(0)),
            State::Stopped,
            vec![
                Action::CancelTimer(TimerKind::StopTimeout),
                Action::Forget,
                Action::Notify(Notice::Forgotten),
            ],
        ),
        (
            "stop while restarting wins",
            stopping(Then::Restart),
            policy(),
            Event::Stop,
            stopping(Then::Stop),
            vec![],
        ),
        (
            "restart while stopping keeps the stop",
            stopping(Then::Stop),
            policy(),
            Event::Restart,
            stopping(Then::Stop),
            vec![],
        ),
        (
            "remove while stopping forgets",
            stopping(Then::Stop),
            policy(),
            Event::Remove,
            stopping(Then::Forget),
            vec![],
        ),
        (
            "failed is retried when the config changes",
            State::Failed {
                reason: FailReason::ConfigError,
            },
            policy(),
            Event::Changed,
            State::Starting { since: later },
            spawn_actions.clone(),
        ),
        (
            "failed ignores the backoff timer",
            State::Failed {
                reason: FailReason::ConfigError,
            },
            policy(),
            Event::Timer(TimerKind::Backoff),
            State::Failed {
                reason: FailReason::ConfigError,
            },
            vec![],
        ),
        (
            "operator start retries a failed instance",
            State::Failed {
                reason: FailReason::ConfigError,
            },
            policy(),
            Event::Start,
            State::Starting { since: later },
            spawn_actions.clone(),
        ),
        (
            "a change does not start a stopped instance",
            State::Stopped,
            policy(),
            Event::Changed,
            State::Stopped,
            vec![],
        ),
        (
            "standby starts when needed",
            State::Standby,
            standby.clone(),
            Event::RescueNeeded,
            State::Starting { since: later },
            spawn_actions.clone(),
        ),
        (
            "a running rescue is left alone",
            running,
            standby.clone(),
            Event::RescueNeeded,
            running,
            vec![],
        ),
        (
            "a stopped rescue stays stopped",
            State::Stopped,
            standby.clone(),
            Event::RescueNeeded,
            State::Stopped,
            vec![],
        ),
        (
            "standby rescue returns to standby",
            running,
            standby.clone(),
            Event::ReturnToStandby,
            stopping_now(Then::Standby),
            stop_actions.clone(),
        ),
        (
            "a standby rescue in backoff returns to standby",
            backoff,
            standby.clone(),
            Event::ReturnToStandby,
            State::Standby,
            vec![
                Action::CancelTimer(TimerKind::Backoff),
                Action::Notify(Notice::Standby),
            ],
        ),
        (
            "a rescue in backoff that is not standby keeps its backoff",
            backoff,
            policy(),
            Event::ReturnToStandby,
            backoff,
            vec![],
        ),
        (
            "non-standby ignores return to standby",
            running,
            policy(),
            Event::ReturnToStandby,
            running,
            vec![],
        ),
        (
            "back in standby after exit",
            stopping(Then::Standby),
            standby,
            Event::Exited(ExitKind::Code(0)),
            State::Standby,
            vec![
                Action::CancelTimer(TimerKind::StopTimeout),
                Action::Notify(Notice::Standby),
            ],
        ),
        (
            "start of a running instance does nothing",
            running,
            policy(),
            Event::Start,
            running,
            vec![],
        ),
        (
            "remove a stopped instance",
            State::Stopped,
            policy(),
            Event::Remove,
            State::Stopped,
            vec![Action::Forget, Action::Notify(Notice::Forgotten)],
        ),
    ];
    for (name, state, policy, event, expected_state, expected_actions) in rows {
        let mut lifecycle = machine(state, policy);
        let actions = lifecycle.step(event, ctx(later));
        assert_eq!(lifecycle.state, expected_state, "{name}: state");
        assert_eq!(actions, expected_actions, "{name}: actions");
    }
}

#[test]
fn a_crash_loop_grows_its_delay_to_the_cap_and_keeps_retrying() {
    let mut lifecycle = Lifecycle::new(policy());
    let mut now = Instant::now();
    let mut delays = Vec::new();
    lifecycle.step(Event::Start, ctx(now));
    for _ in 0..12 {
        lifecycle.step(Event::Spawned, ctx(now));
        let actions = lifecycle.step(Event::Exited(ExitKind::Code(1)), ctx(now));
        let delay = actions
            .iter()
            .find_map(|a| match a {
                Action::ArmTimer(TimerKind::Backoff, d) => Some(*d),
                _ => None,
            })
            .expect("every crash arms a backoff timer");
        delays.push(delay.as_secs());
        now += delay;
        let actions = lifecycle.step(Event::Timer(TimerKind::Backoff), ctx(now));
        assert!(actions.contains(&Action::Spawn), "it never gives up");
    }
    assert_eq!(
        delays,
        vec![1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]
    );
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
