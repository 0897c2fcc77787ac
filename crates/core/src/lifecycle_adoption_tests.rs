//! `Event::Adopted`: a kept gateway taken over lands where a spawn would,
//! without the spawn, from every state an actor can start in; anywhere else
//! it changes nothing.

use super::*;

fn policy(startup_allowance: Option<Duration>, standby: bool) -> Policy {
    Policy {
        restart: crate::declaration::RestartPolicy::Always,
        backoff_initial: Duration::from_secs(1),
        backoff_max: Duration::from_secs(300),
        reset_after: Duration::from_secs(600),
        stop_timeout: Duration::from_secs(60),
        startup_allowance,
        standby,
    }
}

/// (name, state, startup allowance, standby, expected state, expected actions)
type Row = (
    &'static str,
    State,
    Option<Duration>,
    bool,
    State,
    Vec<Action>,
);

#[test]
fn an_adopted_gateway_is_starting_or_running_without_a_spawn() {
    let now = Instant::now();
    let allowance = Duration::from_secs(120);
    let probed = || {
        vec![
            Action::Notify(Notice::Adopted),
            Action::ArmTimer(TimerKind::StartupDeadline, allowance),
            Action::Probes(ProbePhase::Startup),
        ]
    };
    let unprobed = || {
        vec![
            Action::Notify(Notice::Adopted),
            Action::CancelTimer(TimerKind::StartupDeadline),
            Action::Probes(ProbePhase::Live),
            Action::Notify(Notice::Started),
        ]
    };
    let rows: Vec<Row> = vec![
        (
            "stopped, startup probe",
            State::Stopped,
            Some(allowance),
            false,
            State::Starting { since: now },
            probed(),
        ),
        (
            "standby rescue",
            State::Standby,
            Some(allowance),
            true,
            State::Starting { since: now },
            probed(),
        ),
        (
            "failed (a saved exit 78, its gateway kept)",
            State::Failed {
                reason: FailReason::ConfigError,
            },
            Some(allowance),
            false,
            State::Starting { since: now },
            probed(),
        ),
        (
            "no startup probe: running at once",
            State::Stopped,
            None,
            false,
            State::Running { since: now },
            unprobed(),
        ),
        (
            "already running: nothing",
            State::Running { since: now },
            Some(allowance),
            false,
            State::Running { since: now },
            vec![],
        ),
        (
            "in backoff: nothing",
            State::Backoff { until: now },
            Some(allowance),
            false,
            State::Backoff { until: now },
            vec![],
        ),
    ];
    for (name, state, allowance, standby, expected_state, expected) in rows {
        let mut lifecycle = Lifecycle::new(policy(allowance, standby));
        lifecycle.state = state;
        let actions = lifecycle.step(Event::Adopted, Ctx { now, jitter: 0.0 });
        assert_eq!(lifecycle.state, expected_state, "{name}");
        assert_eq!(actions, expected, "{name}");
        assert_eq!(lifecycle.restarts, 0, "{name}: an adoption is no restart");
    }
}
