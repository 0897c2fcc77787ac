//! Tables: what `all` acts on, the wait's verdicts, the exit codes.

use super::track::describe;
use super::*;
use openclaw_supervisor::protocol::{LastExit, ProbeStatus, Probes, Role};

fn instance(name: &str, state: &str, pid: Option<u32>) -> InstanceStatus {
    InstanceStatus {
        state: state.to_string(),
        pid,
        uptime_secs: pid.map(|_| 3),
        spawned_at: pid.map(|_| 1_000),
        restarts: 0,
        cpu_percent: None,
        memory_bytes: None,
        ..crate::cli::client::fixture::instance(name)
    }
}

fn rescue(state: &str, pid: Option<u32>) -> InstanceStatus {
    InstanceStatus {
        role: Role::Rescue,
        standby: true,
        rescue_of: Some(String::from("main")),
        ..instance("rescue", state, pid)
    }
}

fn readiness(ok: bool, at: u64, failing: &[&str]) -> Probes {
    Probes {
        readiness: Some(ProbeStatus {
            ok,
            at,
            latency_ms: 1,
            consecutive_failures: u32::from(!ok),
            failing: failing.iter().map(|f| f.to_string()).collect(),
            detail: None,
        }),
        ..Probes::default()
    }
}

fn ready(name: &str, pid: u32) -> InstanceStatus {
    InstanceStatus {
        probes: readiness(true, 2_000, &[]),
        ..instance(name, "running", Some(pid))
    }
}

fn event(kind: EventKind, detail: &str) -> Event {
    Event {
        at: 5_000,
        instance: Some(String::from("main")),
        kind,
        detail: detail.to_string(),
        seq: None,
    }
}

fn acted(targets: &[Target]) -> Vec<&str> {
    targets
        .iter()
        .filter_map(|t| match t {
            Target::Act(name) => Some(name.as_str()),
            Target::Skip(..) => None,
        })
        .collect()
}

#[test]
fn all_leaves_a_waiting_standby_rescue_alone() {
    let main = instance("main", "stopped", None);
    let other = instance("other", "running", Some(7));
    let rows: Vec<(Verb, InstanceStatus, Vec<&str>)> = vec![
        // In standby: armed, nothing runs; every verb leaves it so.
        (Verb::Start, rescue("standby", None), vec!["main", "other"]),
        (Verb::Stop, rescue("standby", None), vec!["main", "other"]),
        (
            Verb::Restart { force: false },
            rescue("standby", None),
            vec!["main", "other"],
        ),
        // Stopped by hand: `start all` does not run it beside main.
        (Verb::Start, rescue("stopped", None), vec!["main", "other"]),
        (
            Verb::Stop,
            rescue("stopped", None),
            vec!["main", "other", "rescue"],
        ),
        // Running (its main failed): every verb includes it.
        (
            Verb::Start,
            rescue("running", Some(9)),
            vec!["main", "other", "rescue"],
        ),
        (
            Verb::Stop,
            rescue("running", Some(9)),
            vec!["main", "other", "rescue"],
        ),
        (
            Verb::Restart { force: true },
            rescue("running", Some(9)),
            vec!["main", "other", "rescue"],
        ),
        // Failed or in backoff: it was started, so it is tried again.
        (
            Verb::Start,
            rescue("failed", None),
            vec!["main", "other", "rescue"],
        ),
        // A rescue that is not `standby: true` is like any other.
        (
            Verb::Start,
            InstanceStatus {
                standby: false,
                ..rescue("stopped", None)
            },
            vec!["main", "other", "rescue"],
        ),
    ];
    for (verb, rescue, expected) in rows {
        let state = rescue.state.clone();
        let plan = plan_all(verb, &[main.clone(), other.clone(), rescue]);
        assert_eq!(acted(&plan), expected, "{verb:?} with rescue {state}");
        for target in &plan {
            if let Target::Skip(name, why) = target {
                assert!(why.starts_with(&format!("{name}: left ")), "{why}");
            }
        }
    }
}

#[test]
fn names_are_acted_on_as_given() {
    let names = vec![String::from("rescue"), String::from("main")];
    assert_eq!(
        targets(&names, None, Verb::Start),
        vec![Target::Act("rescue".into()), Target::Act("main".into())]
    );
}

#[test]
fn descriptions_say_what_it_is_doing() {
    let rows = [
        (instance("main", "starting", Some(12)), "starting (pid 12)"),
        (instance("main", "stopped", None), "stopped"),
        (ready("main", 12), "running (pid 12), ready"),
        (
            instance("main", "running", Some(12)),
            "running (pid 12), readiness not known yet",
        ),
        (
            InstanceStatus {
                probes: readiness(false, 2_000, &["discord", "slack"]),
                ..instance("main", "running", Some(12))
            },
            "running (pid 12), not ready: discord, slack",
        ),
        (
            // An earlier process's result does not count.
            InstanceStatus {
                probes: readiness(true, 999, &[]),
                ..instance("main", "running", Some(12))
            },
            "running (pid 12), readiness not known yet",
        ),
        (
            InstanceStatus {
                probes_off: vec![String::from("readiness")],
                ..instance("main", "running", Some(12))
            },
            "running (pid 12), startup passed (no readiness probe)",
        ),
    ];
    for (status, expected) in rows {
        assert_eq!(describe(&status), expected);
    }
}

#[test]
fn a_start_is_done_when_running_and_ready() {
    let secs = Duration::from_millis(1_500);
    let mut tracker = Tracker::new(
        "main",
        Goal::Ready { not_pid: None },
        Some(&instance("main", "stopped", None)),
    );
    // The reply may come before the actor acted: same state, nothing new.
    assert_eq!(
        tracker.observe(Some(&instance("main", "stopped", None)), secs),
        Step::Pending(None)
    );
    assert_eq!(
        tracker.observe(Some(&instance("main", "starting", Some(12))), secs),
        Step::Pending(Some(String::from("main: starting (pid 12)")))
    );
    assert_eq!(
        tracker.observe(Some(&instance("main", "starting", Some(12))), secs),
        Step::Pending(None)
    );
    assert!(tracker.needs_poll(Some(&instance("main", "running", Some(12)))));
    assert_eq!(
        tracker.observe(Some(&instance("main", "running", Some(12))), secs),
        Step::Pending(Some(String::from(
            "main: running (pid 12), readiness not known yet"
        )))
    );
    assert_eq!(
        tracker.observe(Some(&ready("main", 12)), secs),
        Step::Done(String::from("main: ready after 1.5 s (pid 12)"))
    );
    // No readiness probe: startup passed is enough.
    let mut tracker = Tracker::new("main", Goal::Ready { not_pid: None }, None);
    let no_probe = InstanceStatus {
        probes_off: vec![String::from("readiness")],
        ..instance("main", "running", Some(3))
    };
    assert!(!tracker.needs_poll(None));
    assert!(
        matches!(tracker.observe(Some(&no_probe), secs), Step::Done(line) if line.contains("no readiness probe"))
    );
}

#[test]
fn a_restart_waits_for_a_new_process() {
    let secs = Duration::from_secs(2);
    let mut tracker = Tracker::new(
        "main",
        Goal::Ready { not_pid: Some(12) },
        Some(&ready("main", 12)),
    );
    assert_eq!(
        tracker.observe(Some(&ready("main", 12)), secs),
        Step::Pending(None)
    );
    assert_eq!(
        tracker.observe(Some(&instance("main", "stopping", Some(12))), secs),
        Step::Pending(Some(String::from("main: stopping (pid 12)")))
    );
    assert_eq!(
        tracker.observe(Some(&ready("main", 13)), secs),
        Step::Done(String::from("main: ready after 2.0 s (pid 13)"))
    );
}

#[test]
fn a_stop_is_done_when_stopped() {
    let secs = Duration::from_millis(300);
    let mut tracker = Tracker::new("main", Goal::Stopped, Some(&ready("main", 12)));
    assert_eq!(
        tracker.observe(Some(&instance("main", "stopping", Some(12))), secs),
        Step::Pending(Some(String::from("main: stopping (pid 12)")))
    );
    assert_eq!(
        tracker.observe(Some(&instance("main", "stopped", None)), secs),
        Step::Done(String::from("main: stopped after 300 ms"))
    );
}

#[test]
fn a_wait_fails_early_on_failed_or_backoff() {
    let secs = Duration::from_secs(1);
    let failed = InstanceStatus {
        last_error_lines: vec![
            String::from("exit 78: configuration error"),
            String::from("config invalid"),
        ],
        ..instance("main", "failed", None)
    };
    // Starting a failed instance: a reading still `failed` is the old state.
    let mut tracker = Tracker::new("main", Goal::Ready { not_pid: None }, Some(&failed));
    assert_eq!(tracker.observe(Some(&failed), secs), Step::Pending(None));
    // A rollback's event comes before its restart moves the instance.
    tracker.event(&event(EventKind::RolledBack, "by operator: ..."));
    assert_eq!(tracker.observe(Some(&failed), secs), Step::Pending(None));
    // A retry of the broken config that was under way fails after the
    // rollback, before its restart spawns: not the rollback's failure.
    tracker.event(&event(EventKind::Failed, "exit 78: configuration error"));
    let stale = InstanceStatus {
        last_exit: Some(LastExit {
            code: Some(78),
            signal: None,
            at: 8_000,
        }),
        ..failed.clone()
    };
    assert!(matches!(
        tracker.observe(Some(&stale), secs),
        Step::Pending(_)
    ));
    // Its new gateway fails again: the event says so.
    tracker.event(&event(EventKind::Spawned, "pid 4"));
    tracker.event(&event(EventKind::Failed, "exit 78: configuration error"));
    assert_eq!(
        tracker.observe(Some(&failed), secs),
        Step::Failed(vec![
            String::from("main: failed: exit 78: configuration error"),
            String::from("  config invalid"),
        ])
    );
    // A new failure read without its event: only the last exit changed.
    let mut tracker = Tracker::new("main", Goal::Ready { not_pid: None }, Some(&failed));
    let again = InstanceStatus {
        last_exit: Some(LastExit {
            code: Some(78),
            signal: None,
            at: 9_000,
        }),
        ..failed.clone()
    };
    assert!(
        matches!(tracker.observe(Some(&again), secs), Step::Failed(lines) if lines[0] == "main: failed")
    );
    // A change of state read without its event.
    let mut tracker = Tracker::new(
        "main",
        Goal::Ready { not_pid: None },
        Some(&instance("main", "stopped", None)),
    );
    let backoff = InstanceStatus {
        last_error_lines: vec![String::from("boom")],
        ..instance("main", "backoff", None)
    };
    assert_eq!(
        tracker.observe(Some(&backoff), secs),
        Step::Failed(vec![
            String::from("main: went into backoff after a crash"),
            String::from("  boom"),
        ])
    );
    // A stop does not fail on them; a removed instance fails every wait.
    let mut tracker = Tracker::new("main", Goal::Stopped, Some(&ready("main", 1)));
    tracker.event(&event(EventKind::Backoff, "restarting in 1s"));
    assert!(matches!(
        tracker.observe(Some(&backoff), secs),
        Step::Pending(_)
    ));
    assert_eq!(
        tracker.observe(None, secs),
        Step::Failed(vec![String::from("main: no longer declared")])
    );
}

#[test]
fn a_timeout_says_what_it_is_doing_now() {
    let tracker = Tracker::new("main", Goal::Ready { not_pid: None }, None);
    let status = InstanceStatus {
        probes: readiness(false, 2_000, &["discord"]),
        ..instance("main", "running", Some(12))
    };
    assert_eq!(
        tracker.timed_out(Some(&status), Duration::from_secs(2)),
        vec![String::from(
            "main: timed out after 2.0 s; now running (pid 12), not ready: discord"
        )]
    );
}

#[test]
fn status_exit_codes_are_systemctls() {
    let rows = [
        ("running", 0),
        ("starting", 3),
        ("stopping", 3),
        ("stopped", 3),
        ("failed", 3),
        ("backoff", 3),
        ("standby", 3),
        ("a-new-state", 3),
    ];
    for (state, code) in rows {
        assert_eq!(status_exit(state), code, "{state}");
    }
}

#[test]
fn timeouts_parse_and_refuse_zero() {
    assert_eq!(parse_timeout("90s"), Ok(Duration::from_secs(90)));
    assert_eq!(parse_timeout("2m"), Ok(Duration::from_secs(120)));
    assert!(parse_timeout("0s").is_err());
    assert!(parse_timeout("soon").is_err());
}
