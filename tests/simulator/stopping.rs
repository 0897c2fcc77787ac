//! Stops and restarts: SIGTERM exits 0, the drain of a turn in flight,
//! SIGUSR2 in external mode, `OPENCLAW_NO_RESPAWN`, and the boot records'
//! restart-loop breaker.

use std::fs;

use nix::sys::signal::Signal;

use crate::exit_code;
use crate::sim_support::{DEADLINE, Sim, get, http, wait_for};

#[test]
fn sigterm_exits_0_and_removes_the_lock_file() {
    let mut sim = Sim::start(&[], &[]);
    let locks = sim.lock_files();
    assert_eq!(locks.len(), 1, "one lock file: {locks:?}");
    let record: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&locks[0]).expect("read lock")).expect("json");
    assert_eq!(record["pid"], sim.pid().as_raw());
    assert_eq!(record["port"], sim.port);
    assert_eq!(record["stateDir"], sim.state_dir().to_str().expect("utf-8"));
    assert!(
        record["configPath"]
            .as_str()
            .expect("configPath")
            .ends_with("openclaw.json")
    );

    sim.signal(Signal::SIGTERM);
    assert_eq!(exit_code(&mut sim), Some(0));
    assert!(
        sim.lock_files().is_empty(),
        "lock file left: {:?}",
        sim.lock_files()
    );
    assert!(sim.stdout().contains("[shutdown] completed cleanly"));
}
#[test]
fn ignoring_sigterm_keeps_it_running_until_sigint() {
    let mut sim = Sim::start(&["--sim-ignore-sigterm"], &[]);
    sim.signal(Signal::SIGTERM);
    wait_for("the ignore log line", || {
        sim.stdout().contains("ignoring it").then_some(())
    });
    assert_eq!(sim.try_exit(), None);
    assert_eq!(get(sim.port, "/healthz").expect("still answers").0, 200);
    sim.signal(Signal::SIGINT);
    assert_eq!(exit_code(&mut sim), Some(0));
}

#[test]
fn a_slow_stop_is_a_turn_in_flight_the_drain_waits_for() {
    let mut sim = Sim::start(&[], &[("OPENCLAW_SIM_STOP_DELAY", "1h")]);
    sim.signal(Signal::SIGTERM);
    wait_for("the drain log line", || {
        sim.stdout()
            .contains("draining active work before stop with timeout 315000ms: embeddedRuns=1")
            .then_some(())
    });
    assert_eq!(sim.try_exit(), None, "still running during its drain");
    assert_eq!(sim.lock_files().len(), 1, "the lock stays until the exit");
}

#[test]
fn a_stop_during_a_turn_drains_ignores_more_stop_signals_and_exits_0_when_the_turn_ends() {
    let mut sim = Sim::start(&[], &[]);
    let (status, body) = http(sim.port, "POST", "/__sim/turn", DEADLINE).expect("post");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).expect("JSON")["active"],
        1
    );
    sim.signal(Signal::SIGTERM);
    wait_for("the drain log line", || {
        sim.stdout()
            .contains("draining active work before stop with timeout 315000ms: embeddedRuns=1")
            .then_some(())
    });
    // Draining: /readyz says so alone, as the real readiness checker does.
    let (status, body) = get(sim.port, "/readyz").expect("readyz while draining");
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).expect("JSON")["failing"],
        serde_json::json!(["gateway-draining"])
    );
    sim.signal(Signal::SIGTERM);
    wait_for("the second SIGTERM to be ignored", || {
        sim.stdout()
            .contains("received SIGTERM during shutdown; ignoring")
            .then_some(())
    });
    assert_eq!(
        sim.try_exit(),
        None,
        "a second SIGTERM does not cut the drain"
    );
    assert!(
        !sim.stdout().contains("times in 5 min"),
        "two are no warning: {}",
        sim.stdout()
    );
    sim.signal(Signal::SIGTERM);
    wait_for("the repeated-signal warning", || {
        sim.stdout()
            .contains("received SIGTERM 3 times in 5 min: another supervisor may be managing this Gateway")
            .then_some(())
    });
    http(sim.port, "POST", "/__sim/turns/finish", DEADLINE).expect("finish the turn");
    assert_eq!(exit_code(&mut sim), Some(0));
    let stdout = sim.stdout();
    assert!(
        stdout.contains("active-work drain settled; beginning server close"),
        "{stdout}"
    );
    assert!(sim.lock_files().is_empty());
}

#[test]
fn an_idle_stop_logs_no_drain() {
    let mut sim = Sim::start(&[], &[]);
    sim.signal(Signal::SIGTERM);
    assert_eq!(exit_code(&mut sim), Some(0));
    let stdout = sim.stdout();
    assert!(
        stdout.contains("received SIGTERM; shutting down"),
        "{stdout}"
    );
    assert!(!stdout.contains("draining active work"), "{stdout}");
}

#[test]
fn three_unclean_boots_trip_the_breaker_on_the_next_boot_and_a_clean_stop_is_not_one() {
    let mut sim = Sim::prepare();
    for boot in 1..=3 {
        sim.spawn(&[], &[]);
        sim.wait_listening();
        assert!(
            !sim.stderr().contains("breaker tripped"),
            "boot {boot}: {}",
            sim.stderr()
        );
        sim.signal(Signal::SIGKILL);
        sim.wait_exit();
        sim.status = None;
    }
    sim.spawn(&[], &[]);
    sim.wait_listening();
    let stderr = sim.stderr();
    assert!(
        stderr.contains("gateway restart-loop breaker tripped: 3 unclean boot(s) within 300000ms; suppressing channel/provider account auto-start."),
        "{stderr}"
    );
    // The gateway still says all is well (it has no channels to list as suppressed).
    assert_eq!(get(sim.port, "/readyz").expect("readyz").0, 200);
    // A clean stop completes its boot: still 3 unclean on the next boot.
    sim.signal(Signal::SIGTERM);
    assert_eq!(exit_code(&mut sim), Some(0));
    sim.status = None;
    sim.spawn(&[], &[]);
    sim.wait_listening();
    assert!(
        sim.stderr().contains("breaker tripped: 3 unclean boot(s)"),
        "{}",
        sim.stderr()
    );
}

#[test]
fn openclaw_no_respawn_keeps_restarts_in_process_even_in_external_mode() {
    let mut sim = Sim::start(
        &[],
        &[
            ("OPENCLAW_SUPERVISOR_MODE", "external"),
            ("OPENCLAW_NO_RESPAWN", " Yes "),
        ],
    );
    sim.signal(Signal::SIGUSR2);
    wait_for("the in-process restart log line", || {
        sim.stdout()
            .contains("in-process restart (OPENCLAW_NO_RESPAWN)")
            .then_some(())
    });
    assert_eq!(sim.try_exit(), None, "the same pid goes on");
}

#[test]
fn sigusr2_exits_0_in_external_mode_only() {
    let mut external = Sim::start(&[], &[("OPENCLAW_SUPERVISOR_MODE", "external")]);
    external.signal(Signal::SIGUSR2);
    assert_eq!(exit_code(&mut external), Some(0));

    let mut internal = Sim::start(&[], &[]);
    internal.signal(Signal::SIGUSR2);
    wait_for("the in-process restart log line", || {
        internal
            .stdout()
            .contains("restart mode: in-process restart")
            .then_some(())
    });
    assert_eq!(internal.try_exit(), None);
    assert_eq!(
        get(internal.port, "/healthz").expect("still answers").0,
        200
    );
}
