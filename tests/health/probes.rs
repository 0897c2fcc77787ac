//! Probes: a wedged gateway, slow starts, readiness, loopback, and the
//! restarts an operator or the gateway itself asks for.

use serde_json::Value;

use crate::daemon_support::*;
use crate::support::*;

#[test]
fn a_gateway_that_stops_answering_probes_is_restarted() {
    let (daemon, port) = fast_main("restart: { backoff: { initial: 100ms } }");
    let running = daemon.wait_state("main", "running");
    let old = pid_of(&running).expect("a pid");
    let mut events = Events::follow(&daemon);
    sim_post(port, "/__sim/wedge");
    events.wait("main to be reported unhealthy", is("main", "unhealthy"));
    let new = daemon.wait_new_pid("main", Some(old));
    assert!(!alive(old), "the wedged gateway is gone");
    let main = daemon.wait_state("main", "running");
    assert_eq!(pid_of(&main), Some(new));
    assert_eq!(restarts(&main), 1, "{main}");
    // The wedged process still handled SIGTERM: the stop was graceful.
    assert_eq!(main["last_exit"]["code"], 0, "{main}");
    // Only liveness restarts it: it was running, not starting, when it failed.
    assert_eq!(
        events.count("main", "startup_timed_out"),
        0,
        "{:#?}",
        events.seen
    );
}

#[test]
fn a_slow_start_inside_the_allowance_is_not_restarted() {
    let (daemon, _) = Daemon::gateways(&[(
        "main",
        "env: { OPENCLAW_SIM_START_DELAY: 1s }\n\
         probes: { startup: { every: 100ms, timeout: 10s } }",
    )]);
    let pid = daemon.wait_new_pid("main", None);
    let running = daemon.wait_state("main", "running");
    assert_eq!(pid_of(&running), Some(pid), "the same process got there");
    assert_eq!(restarts(&running), 0, "{running}");
    let startup = &running["probes"]["startup"];
    assert_eq!(startup["ok"], true, "{running}");
}

#[test]
fn a_start_beyond_the_allowance_is_restarted() {
    let (daemon, _) = Daemon::gateways(&[(
        "main",
        "env: { OPENCLAW_SIM_START_DELAY: 30s }\n\
         restart: { backoff: { initial: 100ms, max: 200ms } }\n\
         probes: { startup: { every: 100ms, timeout: 1s } }",
    )]);
    let first = daemon.wait_new_pid("main", None);
    // Every attempt times out again, so the stream sees one even if it
    // subscribes after the first.
    let mut events = Events::follow(&daemon);
    events.wait(
        "main's startup to time out",
        is("main", "startup_timed_out"),
    );
    daemon.wait_new_pid("main", Some(first));
    let main = wait_for("a restart counted", || {
        daemon.instance("main").filter(|m| restarts(m) >= 1)
    });
    assert_ne!(main["state"], "running", "it never started: {main}");
    assert!(!alive(first), "the first process was stopped");
}

#[test]
fn failing_readiness_shows_in_status_but_restarts_nothing() {
    let (daemon, _) = fast_main("env: { OPENCLAW_SIM_READY_FAILING: \"discord,telegram\" }");
    let running = daemon.wait_state("main", "running");
    let pid = pid_of(&running).expect("a pid");
    // Readiness `failures` is 2: two more failures than that, and still nothing.
    let main = wait_for("readiness to fail 4 times in a row", || {
        daemon.instance("main").filter(|m| {
            m["probes"]["readiness"]["consecutive_failures"]
                .as_u64()
                .is_some_and(|n| n >= 4)
        })
    });
    let readiness = &main["probes"]["readiness"];
    assert_eq!(readiness["ok"], false, "{main}");
    let failing: Vec<&str> = readiness["failing"]
        .as_array()
        .expect("a failing list")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        failing.contains(&"discord") && failing.contains(&"telegram"),
        "{failing:?}"
    );
    assert_eq!(main["state"], "running", "{main}");
    assert_eq!(pid_of(&main), Some(pid), "same process");
    assert_eq!(restarts(&main), 0, "{main}");
    assert_eq!(main["probes"]["liveness"]["ok"], true, "{main}");
}

#[test]
fn probes_go_to_loopback_whatever_the_bind_mode() {
    let (daemon, port) = fast_main("bind: lan");
    let main = wait_for("main's liveness probe to pass", || {
        daemon
            .instance("main")
            .filter(|m| m["probes"]["liveness"]["ok"] == true)
    });
    assert_eq!(port_of(&main), port);
    // The gateway listens on 127.0.0.1 only, so a probe sent to any other
    // address would have been refused: passing probes went to loopback.
    let listeners = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    let local: Vec<&str> = listeners
        .lines()
        .skip(1)
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let local = fields.nth(1)?;
            let state = fields.nth(1)?;
            (state == "0A" && local.ends_with(&format!(":{port:04X}"))).then_some(local)
        })
        .collect();
    assert_eq!(local, vec![format!("0100007F:{port:04X}")], "listeners");
}

#[test]
fn exit_0_in_external_mode_is_relaunched_without_delay() {
    let (daemon, _) = fast_main("restart: { backoff: { initial: 1h, max: 2h } }");
    let main = daemon.wait_state("main", "running");
    let old = pid_of(&main).expect("a pid");
    // Through backoff this would take an hour.
    relaunched_after(&daemon, &["signal", "main", "USR2"], old);
}

#[test]
fn restart_is_graceful_and_leaves_the_other_instance_alone() {
    let (daemon, _, _) = fast_main_and_rescue("", "");
    let old = pid_of(&daemon.wait_state("main", "running")).expect("main pid");
    let rescue_pid = pid_of(&daemon.wait_state("rescue", "running")).expect("rescue pid");
    // The simulator exits 0 on SIGTERM: it was asked, not killed.
    relaunched_after(&daemon, &["restart", "main"], old);
    assert!(!alive(old));
    let rescue = daemon.instance("rescue").expect("rescue");
    assert_eq!(rescue["state"], "running", "{rescue}");
    assert_eq!(pid_of(&rescue), Some(rescue_pid), "{rescue}");
    assert_eq!(restarts(&rescue), 0, "{rescue}");
}

#[test]
fn an_exit_0_before_startup_passed_is_a_failure_not_a_hot_loop() {
    let (daemon, _) = fast_main(
        "env: { OPENCLAW_SIM_EXIT_CODE: \"0\" }\n\
         restart: { backoff: { initial: 1h, max: 2h } }",
    );
    let main = daemon.wait_state("main", "backoff");
    assert_eq!(main["last_exit"]["code"], 0, "{main}");
    assert_eq!(restarts(&main), 0, "{main}");
    assert!(
        main["next_restart_at"]
            .as_u64()
            .is_some_and(|due| due > now_ms() + 30 * 60 * 1000),
        "it waits its backoff: {main}"
    );
}

#[test]
fn without_a_startup_probe_an_exit_0_at_once_is_not_a_hot_loop() {
    let (daemon, _) = Daemon::gateways(&[(
        "main",
        "env: { OPENCLAW_SIM_EXIT_CODE: \"0\" }\n\
         restart: { backoff: { initial: 1h, max: 2h } }\n\
         probes: { startup: { enabled: false } }",
    )]);
    let main = daemon.wait_state("main", "backoff");
    assert_eq!(main["last_exit"]["code"], 0, "{main}");
    assert_eq!(restarts(&main), 0, "{main}");
}

#[test]
fn a_reload_that_changes_liveness_applies_to_the_running_gateway() {
    let port = free_base_port();
    let liveness = |failures: u32| {
        format!(
            "restart: {{ backoff: {{ initial: 100ms }} }}\n\
             probes:\n  startup: {{ every: 100ms }}\n  \
             liveness: {{ every: 100ms, timeout: 200ms, failures: {failures} }}"
        )
    };
    let daemon = Daemon::with(|root| {
        vec![(
            "main.yaml",
            sim_declaration(root, "main", port, &liveness(100_000)),
        )]
    });
    let old = pid_of(&daemon.wait_state("main", "running")).expect("a pid");
    sim_post(port, "/__sim/wedge");
    wait_for("liveness to fail 3 times in a row", || {
        daemon.instance("main").filter(|m| {
            m["probes"]["liveness"]["consecutive_failures"]
                .as_u64()
                .is_some_and(|n| n >= 3)
        })
    });
    assert_eq!(
        daemon.instance_pid("main"),
        Some(old),
        "not yet: 100000 failures"
    );
    let text = sim_declaration(daemon.path(), "main", port, &liveness(3));
    std::fs::write(daemon.dir.join("main.yaml"), text).expect("rewrite the declaration");
    assert!(daemon.client(&["reload"]).status.success());
    let new = daemon.wait_new_pid("main", Some(old));
    assert!(!alive(old));
    let main = daemon.wait_state("main", "running");
    assert_eq!(pid_of(&main), Some(new));
}

/// Run the client `command`, then wait for main to run again in a new
/// process: one restart counted, and the old process exited 0 (it was asked
/// to go, not killed).
fn relaunched_after(daemon: &Daemon, command: &[&str], old: i32) {
    let output = daemon.client(command);
    assert!(output.status.success(), "{output:?}");
    let new = daemon.wait_new_pid("main", Some(old));
    let main = daemon.wait_state("main", "running");
    assert_eq!(pid_of(&main), Some(new));
    assert_eq!(restarts(&main), 1, "{main}");
    assert_eq!(main["last_exit"]["code"], 0, "{main}");
}

/// The living exec probe processes (`sleep 777`) this test's supervisor runs.
fn sleep_probes(daemon: &Daemon) -> Vec<i32> {
    tagged(&daemon.tag)
        .into_iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cmd| cmd.ends_with(b"sleep\x00777\x00"))
        })
        .collect()
}

/// One running `sleep 777` probe, which carries the spawn marker.
fn one_probe(daemon: &Daemon, other_than: &[i32]) -> i32 {
    let pid = wait_for("an exec probe to run", || {
        sleep_probes(daemon)
            .into_iter()
            .find(|pid| !other_than.contains(pid))
    });
    assert!(
        environ(pid)
            .iter()
            .any(|entry| entry.starts_with("OPENCLAW_SUPERVISOR_SPAWN=")),
        "the probe carries the spawn marker"
    );
    pid
}

fn gone(pid: i32) -> bool {
    !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn exec_probes_are_killed_and_reaped_when_their_phase_ends() {
    let (mut daemon, _) = Daemon::gateways(&[(
        "main",
        "probes:\n  startup: { every: 100ms, timeout: 20s }\n  liveness: { exec: [sleep, \"777\"], timeout: 1h }",
    )]);
    daemon.wait_state("main", "running");
    let first = one_probe(&daemon, &[]);
    let old = daemon.instance_pid("main");
    assert!(daemon.client(&["restart", "main"]).status.success());
    daemon.wait_new_pid("main", old);
    assert!(!alive(first), "a restart kills the probe of the last phase");
    wait_for("the probe to be reaped", || gone(first).then_some(()));
    daemon.wait_state("main", "running");
    let second = one_probe(&daemon, &[first]);
    assert!(daemon.client(&["stop", "main"]).status.success());
    daemon.wait_state("main", "stopped");
    assert!(!alive(second), "a stop kills the probe");
    wait_for("the probe to be reaped", || gone(second).then_some(()));
    assert!(daemon.client(&["start", "main"]).status.success());
    daemon.wait_state("main", "running");
    let third = one_probe(&daemon, &[first, second]);
    daemon.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(daemon.wait_exit().success());
    assert!(!alive(third), "shutdown kills the probe");
    assert!(sleep_probes(&daemon).is_empty());
}
