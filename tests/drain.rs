//! A stop waits for the gateway's drain, and what the supervisor says about
//! it; the gateway's own restart-loop breaker and the unclean boots the
//! supervisor caused, as `status` and `events` show them (issue 14, items 6
//! and 7). The real binary over simulated gateways.
#![allow(clippy::disallowed_methods)] // A test starts the programs it tests.

mod daemon_support;

use std::fs;
use std::time::{SystemTime, UNIX_EPOCH};

use daemon_support::{Daemon, Events, is, sim_post, wait_for};
use serde_json::Value;

fn pid_of(status: &Value) -> i64 {
    status["pid"].as_i64().expect("a pid")
}

fn text_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Main's status once it runs with its gateway's breaker reported.
fn running_with_breaker(daemon: &Daemon) -> Value {
    wait_for("the breaker in status", || {
        daemon
            .instance("main")
            .filter(|i| i["breaker"].is_object() && i["state"] == "running")
    })
}

#[test]
fn a_stop_during_an_agent_turn_waits_for_the_drain_and_says_so() {
    let (daemon, port) = Daemon::gateways(&[("main", "")]);
    daemon.wait_state("main", "running");
    let mut events = Events::follow(&daemon);
    sim_post(port, "/__sim/turn");

    let output = daemon.client(&["stop", "main"]);
    assert!(output.status.success(), "{output:?}");
    let stopping = wait_for("main to drain", || {
        daemon
            .instance("main")
            .filter(|i| i["state"] == "stopping" && i["stopping_since"].is_u64())
    });
    assert!(
        stopping["pid"].is_i64(),
        "the gateway is still there: {stopping}"
    );
    let table = text_of(&daemon.client(&["status"]));
    assert!(table.contains("stopping (draining "), "{table}");
    let detail = text_of(&daemon.client(&["status", "main"]));
    assert!(
        detail.contains("main (main): stopping (draining "),
        "{detail}"
    );

    // The turn ends: the gateway exits 0 by itself, no SIGKILL.
    sim_post(port, "/__sim/turns/finish");
    events.wait("main to stop", is("main", "stopped"));
    let stopped = daemon.wait_state("main", "stopped");
    assert_eq!(stopped["last_exit"]["code"], 0, "{stopped}");
    assert_eq!(stopped["stopping_since"], Value::Null, "{stopped}");
    assert_eq!(stopped["supervisor_kills"], 0, "{stopped}");
    assert_eq!(events.count("main", "killed"), 0);
    let log = fs::read_to_string(daemon.state_dir.join("logs/main.log")).expect("main's log");
    assert!(
        log.contains("draining active work before stop with timeout 315000ms: embeddedRuns=1"),
        "{log}"
    );
    assert!(
        !log.contains("received SIGTERM during shutdown"),
        "one stop signal only: {log}"
    );
}

#[test]
fn sigkills_at_the_stop_timeout_are_counted_and_trip_the_gateways_breaker() {
    let (daemon, port) = Daemon::gateways(&[("main", "stop: { timeout: 1s }")]);
    let mut pid = pid_of(&daemon.wait_state("main", "running"));
    let mut events = Events::follow(&daemon);
    for kill in 1..=3 {
        // A turn that outlasts the stop timeout: the restart has to SIGKILL.
        sim_post(port, "/__sim/turn");
        let output = daemon.client(&["restart", "main"]);
        assert!(output.status.success(), "{output:?}");
        let killed = events.wait_count("a killed event", kill, is("main", "killed"));
        let detail = killed["detail"].as_str().expect("detail");
        assert!(
            detail.contains(&format!(
                "{kill} such kill(s) by the supervisor in the last 5 min"
            )),
            "{detail}"
        );
        assert_eq!(
            detail.contains("restart-loop breaker suppresses channel auto-start"),
            kill == 3,
            "{detail}"
        );
        // Running (its startup probe passed): it listens, a turn can begin.
        pid = wait_for("a new gateway running", || {
            daemon
                .instance("main")
                .filter(|i| i["state"] == "running" && i["pid"].as_i64() != Some(pid))
                .map(|i| pid_of(&i))
        });
    }
    // Three unclean boots: the fourth gateway logs its breaker tripped.
    let breaker = events.wait("a breaker event", is("main", "breaker"));
    assert!(
        breaker["detail"]
            .as_str()
            .is_some_and(|d| d.contains("breaker tripped: 3 unclean boot(s) within 300000ms")),
        "{breaker}"
    );
    let status = running_with_breaker(&daemon);
    assert_eq!(status["breaker"]["unclean_boots"], 3, "{status}");
    assert_eq!(status["supervisor_kills"], 3, "{status}");
    let table = text_of(&daemon.client(&["status"]));
    assert!(table.contains("breaker"), "{table}");
    assert!(
        table.contains(
            "main: breaker tripped: channel auto-start suppressed after 3 unclean boots in 5 min"
        ),
        "{table}"
    );
    assert!(
        table.contains("main: 3 SIGKILL(s) by the supervisor in the last 5 min"),
        "{table}"
    );
}

#[test]
fn the_breaker_shows_while_the_gateway_reports_it_and_clears_after_a_boot_without_it() {
    let (mut daemon, _) = Daemon::prepare(&[("main", "")]);
    // Three unclean boots in the window, as the simulator records them.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    let boots = daemon.path().join("instances/main/state/sim-boots.json");
    fs::create_dir_all(boots.parent().expect("parent")).expect("state dir");
    let rows: Vec<Value> = (1..=3)
        .map(|n| serde_json::json!({ "pid": n, "started_at_ms": now - n * 1000 }))
        .collect();
    fs::write(&boots, serde_json::to_string(&rows).expect("JSON")).expect("seed boots");
    daemon.start();

    let tripped = running_with_breaker(&daemon);
    assert_eq!(tripped["breaker"]["unclean_boots"], 3, "{tripped}");
    assert_eq!(tripped["supervisor_kills"], 0, "not ours: {tripped}");
    let detail = text_of(&daemon.client(&["status", "main"]));
    assert!(
        detail.contains("breaker      breaker tripped: channel auto-start suppressed"),
        "{detail}"
    );
    // The gateway's own probes say all is well meanwhile.
    assert_eq!(tripped["probes"]["startup"]["ok"], true, "{tripped}");

    // The window drains (here: the records go), and the next boot does not
    // report it: status clears once that gateway has started.
    fs::remove_file(&boots).expect("remove the boot records");
    let old = pid_of(&tripped) as i32;
    let output = daemon.client(&["restart", "main"]);
    assert!(output.status.success(), "{output:?}");
    daemon.wait_new_pid("main", Some(old));
    let cleared = wait_for("the breaker to clear", || {
        daemon
            .instance("main")
            .filter(|i| i["breaker"].is_null() && i["probes"]["startup"]["ok"] == true)
    });
    assert_eq!(cleared["state"], "running", "{cleared}");
}
