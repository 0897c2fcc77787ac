use super::*;

pub(super) const SEC: Duration = Duration::from_secs(1);

pub(super) fn policy() -> Policy {
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

pub(super) fn ctx(now: Instant) -> Ctx {
    Ctx { now, jitter: 0.0 }
}

/// A machine put in `state` at time `t0`, with `failures` so far.
pub(super) fn machine(state: State, policy: Policy) -> Lifecycle {
    let mut lifecycle = Lifecycle::new(policy);
    lifecycle.state = state;
    lifecycle
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
