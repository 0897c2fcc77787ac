//! The rescue rules: what a failure of main does to each kind of rescue.
use serde_json::Value;

use crate::daemon_support::*;
use crate::support::*;

#[test]
fn a_crash_looping_main_never_touches_a_running_rescue() {
    let (daemon, _, _) = main_and_rescue(
        "env: { OPENCLAW_SIM_CRASH_AFTER: 300ms }\n\
         restart: { backoff: { initial: 50ms, max: 100ms } }\n\
         probes: { startup: { every: 50ms } }",
        FAST_PROBES,
    );
    let rescue = daemon.wait_state("rescue", "running");
    let rescue_pid = pid_of(&rescue).expect("rescue pid");
    let mut events = Events::follow(&daemon);
    // A `rescue_triggered` follows the failure notice it answers at once;
    // each crash's last failure notice is its backoff.
    events.wait_count("main to crash three times", 3, is("main", "exited"));
    events.wait_count("main's third backoff", 3, is("main", "backoff"));
    assert_eq!(
        events.count("rescue", "rescue_triggered"),
        0,
        "a running rescue does not change: {:#?}",
        events.seen
    );
    let rescue = daemon.instance("rescue").expect("rescue");
    assert_eq!(pid_of(&rescue), Some(rescue_pid), "same rescue process");
    assert_eq!(rescue["state"], "running");
    assert_eq!(restarts(&rescue), 0, "{rescue}");
    assert!(rescue["last_exit"].is_null(), "{rescue}");
}

#[test]
fn a_rescue_in_backoff_is_started_at_once_when_main_fails() {
    let (daemon, main_port, rescue_port) = fast_main_and_rescue(
        "restart: { backoff: { initial: 100ms } }",
        "restart: { backoff: { initial: 1h, max: 2h } }",
    );
    daemon.wait_state("main", "running");
    let rescue = daemon.wait_state("rescue", "running");
    let first = pid_of(&rescue).expect("rescue pid");
    crash(rescue_port, 1);
    let backoff = daemon.wait_state("rescue", "backoff");
    let due = backoff["next_restart_at"]
        .as_u64()
        .expect("a backoff has a due time");
    assert!(
        due > now_ms() + 30 * 60 * 1000,
        "the rescue waits about an hour: {backoff}"
    );
    crash(main_port, 1);
    let second = daemon.wait_new_pid("rescue", Some(first));
    let rescue = daemon.wait_state("rescue", "running");
    assert_eq!(pid_of(&rescue), Some(second), "{rescue}");
    assert_eq!(restarts(&rescue), 1, "{rescue}");
    assert_eq!(startupz(rescue_port), Some(200));
}

#[test]
fn a_standby_rescue_starts_when_main_fails_and_returns_to_standby() {
    // An hour of backoff: main stays down until the test starts it.
    let (daemon, main_port, rescue_port) = fast_main_and_rescue(
        "restart: { backoff: { initial: 1h, max: 2h } }",
        "standby: true\nrestart: { reset_after: 1s }",
    );
    let main = daemon.wait_state("main", "running");
    let main_pid = pid_of(&main).expect("main pid");
    // Past the rescue's reset_after with main healthy: still standby, no process.
    let mut events = Events::follow(&daemon);
    wait_for("main to be running for longer than 1s", || {
        daemon
            .instance("main")
            .filter(|m| m["uptime_secs"].as_u64().is_some_and(|up| up >= 2))
    });
    let rescue = daemon.instance("rescue").expect("rescue");
    assert_eq!(rescue["state"], "standby", "{rescue}");
    assert!(rescue["pid"].is_null(), "{rescue}");
    assert_eq!(
        startupz(rescue_port),
        None,
        "nothing listens for the rescue"
    );

    crash(main_port, 1);
    daemon.wait_state("main", "backoff");
    events.wait("main's backoff", is("main", "backoff"));
    let triggered: Vec<&Value> = events
        .seen
        .iter()
        .filter(|e| is("rescue", "rescue_triggered")(e))
        .collect();
    assert_eq!(
        triggered.len(),
        1,
        "one event for one change, not one per failure notice: {:#?}",
        events.seen
    );
    assert_eq!(
        triggered[0]["detail"],
        "main exited (exit code 1); started from standby"
    );
    let rescue_pid = daemon.wait_new_pid("rescue", None);
    wait_for("the rescue to answer /startupz 200", || {
        (startupz(rescue_port) == Some(200)).then_some(())
    });
    let rescue = daemon.wait_state("rescue", "running");
    assert_eq!(pid_of(&rescue), Some(rescue_pid));

    assert!(daemon.client(&["start", "main"]).status.success());
    let main = daemon.wait_state("main", "running");
    assert_ne!(pid_of(&main), Some(main_pid));
    let rescue = daemon.wait_state("rescue", "standby");
    assert!(rescue["pid"].is_null(), "{rescue}");
    wait_for("the rescue process to be gone", || {
        (!alive(rescue_pid)).then_some(())
    });
    events.wait("the rescue's standby event", is("rescue", "standby"));
    assert_eq!(startupz(rescue_port), None, "the rescue's port is closed");
}

#[test]
fn the_rescue_is_given_the_supervisor_socket() {
    let (daemon, _, _) = main_and_rescue("", "");
    let rescue_pid = daemon.wait_new_pid("rescue", None);
    let main_pid = daemon.wait_new_pid("main", None);
    let wanted = format!("OPENCLAW_SUPERVISOR_SOCKET={}", daemon.socket.display());
    let rescue_env = environ(rescue_pid);
    assert!(
        rescue_env.contains(&wanted),
        "the rescue has {wanted}: {rescue_env:?}"
    );
    let main_env = environ(main_pid);
    assert!(
        !main_env
            .iter()
            .any(|e| e.starts_with("OPENCLAW_SUPERVISOR_SOCKET=")),
        "only rescues get the socket: {main_env:?}"
    );
}

#[test]
fn a_standby_rescue_in_backoff_returns_to_standby_when_main_recovers() {
    // A rescue that cannot start: after one try it waits an hour.
    let (daemon, main_port, _) = fast_main_and_rescue(
        "restart: { backoff: { initial: 1h, max: 2h } }",
        "standby: true\n\
         env: { OPENCLAW_SIM_EXIT_CODE: \"1\" }\n\
         restart: { reset_after: 1s, backoff: { initial: 1h, max: 2h } }",
    );
    daemon.wait_state("main", "running");
    crash(main_port, 1);
    let rescue = daemon.wait_state("rescue", "backoff");
    assert_eq!(rescue["last_exit"]["code"], 1, "{rescue}");
    assert!(daemon.client(&["start", "main"]).status.success());
    daemon.wait_state("main", "running");
    let rescue = daemon.wait_state("rescue", "standby");
    assert!(rescue["next_restart_at"].is_null(), "{rescue}");
}

#[test]
fn a_standby_rescue_stopped_by_hand_stays_stopped_across_a_supervisor_restart() {
    let (mut daemon, main_port, _) =
        fast_main_and_rescue("restart: { backoff: { initial: 100ms } }", "standby: true");
    daemon.wait_state("rescue", "standby");
    assert!(daemon.client(&["stop", "rescue"]).status.success());
    daemon.wait_state("rescue", "stopped");
    daemon.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(daemon.wait_exit().success());
    daemon.start();
    let main = daemon.wait_state("main", "running");
    let old = pid_of(&main).expect("main pid");
    let rescue = daemon.instance("rescue").expect("rescue");
    assert_eq!(
        rescue["state"], "stopped",
        "the operator's stop holds: {rescue}"
    );
    let mut events = Events::follow(&daemon);
    crash(main_port, 1);
    // Main's relaunch comes well after the rescue would have been told, so
    // by then the rescue would have acted on it.
    daemon.wait_new_pid("main", Some(old));
    daemon.wait_state("main", "running");
    events.wait("main started again", is("main", "started"));
    let rescue = daemon.instance("rescue").expect("rescue");
    assert_eq!(rescue["state"], "stopped", "{rescue}");
    assert!(rescue["pid"].is_null(), "{rescue}");
    assert_eq!(events.count("rescue", "spawned"), 0, "{:#?}", events.seen);
    assert_eq!(
        events.count("rescue", "rescue_triggered"),
        0,
        "a rescue stopped by hand does not change: {:#?}",
        events.seen
    );
}

#[test]
fn a_main_failing_liveness_starts_its_standby_rescue() {
    let (daemon, main_port, rescue_port) = fast_main_and_rescue(
        "restart: { backoff: { initial: 1h, max: 2h } }",
        "standby: true",
    );
    daemon.wait_state("main", "running");
    assert_eq!(daemon.state("rescue").as_deref(), Some("standby"));
    let mut events = Events::follow(&daemon);
    sim_post(main_port, "/__sim/wedge");
    events.wait("main to be reported unhealthy", is("main", "unhealthy"));
    daemon.wait_new_pid("rescue", None);
    wait_for("the rescue to answer /startupz 200", || {
        (startupz(rescue_port) == Some(200)).then_some(())
    });
    daemon.wait_state("rescue", "running");
}

#[test]
fn a_relaunch_main_asks_for_does_not_wake_its_standby_rescue() {
    let (daemon, _, _) = fast_main_and_rescue("", "standby: true");
    let old = pid_of(&daemon.wait_state("main", "running")).expect("main pid");
    let mut events = Events::follow(&daemon);
    assert!(daemon.client(&["signal", "main", "USR2"]).status.success());
    events.wait("main's exit 0", is("main", "exited"));
    daemon.wait_new_pid("main", Some(old));
    daemon.wait_state("main", "running");
    // The rescue hears of main's failures right away; by the time main has
    // been relaunched and started, it would have been started too.
    events.wait("main started again", is("main", "started"));
    let rescue = daemon.instance("rescue").expect("rescue");
    assert_eq!(rescue["state"], "standby", "{rescue}");
    assert_eq!(
        events.count("rescue", "rescue_triggered"),
        0,
        "{:#?}",
        events.seen
    );
}

#[test]
fn a_main_in_a_backoff_loop_starts_its_standby_rescue_with_one_event() {
    let main_extra = "restart: { backoff: { initial: 50ms, max: 100ms } }";
    let (daemon, main_port, _) = fast_main_and_rescue(main_extra, "standby: true");
    daemon.wait_state("main", "running");
    let mut events = Events::follow(&daemon);
    // From now on every start of main fails at once: a backoff loop.
    let failing = format!("{main_extra}\nenv: {{ OPENCLAW_SIM_EXIT_CODE: \"1\" }}\n{FAST_PROBES}");
    std::fs::write(
        daemon.dir.join("main.yaml"),
        sim_declaration(daemon.path(), "main", main_port, &failing),
    )
    .expect("rewrite main.yaml");
    assert!(daemon.client(&["reload"]).status.success());
    let failed = |e: &Value| is("main", "exited")(e) && e["detail"] == "exit code 1";
    events.wait_count("main to fail three times", 3, failed);
    events.wait_count("main's third backoff", 3, is("main", "backoff"));
    daemon.wait_state("rescue", "running");
    let triggered: Vec<&Value> = events
        .seen
        .iter()
        .filter(|e| is("rescue", "rescue_triggered")(e))
        .collect();
    assert_eq!(triggered.len(), 1, "{:#?}", events.seen);
    assert_eq!(
        triggered[0]["detail"],
        "main exited (exit code 1); started from standby"
    );
}
