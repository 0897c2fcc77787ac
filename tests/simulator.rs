//! The gateway simulator speaks the real gateway's contract.
//!
//! Here: its endpoints, failures on request (crash, wedge) and
//! grandchildren. `simulator/config.rs`: configs it refuses and `config
//! validate`; `simulator/lock_and_ports.rs`: its state dir's lock and its
//! ports; `simulator/stopping.rs`: stops, the drain, restarts and the boot
//! breaker.
#![allow(clippy::disallowed_methods)] // A test starts the programs it tests.

#[path = "simulator/config.rs"]
mod config;
#[path = "simulator/lock_and_ports.rs"]
mod lock_and_ports;
mod sim_support;
#[path = "simulator/stopping.rs"]
mod stopping;

use std::time::Duration;

use nix::unistd::{Pid, getpgid, getsid};
use sim_support::{DEADLINE, Sim, get, http, wait_for};

/// `ready` and `failing` of a `/readyz` body (which also carries `uptimeMs`).
fn readiness(body: &str) -> (bool, Vec<String>) {
    let value: serde_json::Value = serde_json::from_str(body).expect("json body");
    assert!(value["uptimeMs"].is_u64(), "{body}");
    let failing = value["failing"]
        .as_array()
        .expect("failing is a list")
        .iter()
        .map(|item| item.as_str().expect("a name").to_string())
        .collect();
    (value["ready"].as_bool().expect("ready is a bool"), failing)
}

fn exit_code(sim: &mut Sim) -> Option<i32> {
    sim.wait_exit().code()
}
#[test]
fn startup_answers_503_during_the_start_delay() {
    let sim = Sim::start(&[], &[("OPENCLAW_SIM_START_DELAY", "1h")]);
    let (status, body) = get(sim.port, "/startupz").expect("get /startupz");
    assert_eq!(status, 503);
    // The real gateway's fields: version, uptime, what it still waits for.
    let value: serde_json::Value = serde_json::from_str(&body).expect("json body");
    assert_eq!(value["ok"], false, "{body}");
    assert_eq!(value["status"], "starting", "{body}");
    assert_eq!(value["version"], "2026.9.6-sim", "{body}");
    assert!(value["uptimeMs"].is_u64(), "{body}");
    assert_eq!(value["pendingReason"], "startup-sidecars", "{body}");
    let (status, body) = get(sim.port, "/readyz").expect("get /readyz");
    assert_eq!(status, 503);
    let value: serde_json::Value = serde_json::from_str(&body).expect("json body");
    assert_eq!(value["ready"], false, "{body}");
    assert_eq!(
        value["failing"],
        serde_json::json!(["startup-sidecars"]),
        "{body}"
    );
    assert!(value["uptimeMs"].is_u64(), "{body}");
    // Liveness answers while starting, as the real gateway's does.
    assert_eq!(get(sim.port, "/healthz").expect("get /healthz").0, 200);
}

#[test]
fn startup_answers_200_after_the_start_delay() {
    let sim = Sim::start(&["--sim-start-delay", "300ms"], &[]);
    let body = wait_for("/startupz to answer 200", || {
        let (status, body) = get(sim.port, "/startup").ok()?;
        (status == 200).then_some(body)
    });
    let value: serde_json::Value = serde_json::from_str(&body).expect("json body");
    assert_eq!(value["ok"], true);
    assert_eq!(value["status"], "started");
    assert_eq!(value["version"], "2026.9.6-sim");
    // Started means the delay has passed, so uptime is at least the delay.
    assert!(
        value["uptimeMs"].as_u64().expect("uptimeMs") >= 300,
        "{body}"
    );
    wait_for("the `started` log line", || {
        sim.stdout().contains("started").then_some(())
    });
}

#[test]
fn healthz_body_methods_and_unknown_paths() {
    let sim = Sim::start(&[], &[]);
    // (method, path, expected status, expected body or "" for any)
    let rows = [
        ("GET", "/healthz", 200, r#"{"ok":true,"status":"live"}"#),
        ("GET", "/health", 200, r#"{"ok":true,"status":"live"}"#),
        ("HEAD", "/healthz", 200, ""),
        ("GET", "/readyz", 200, ""),
        ("POST", "/healthz", 405, ""),
        ("DELETE", "/startupz", 405, ""),
        ("GET", "/__sim/crash", 405, ""),
        ("GET", "/nowhere", 404, ""),
    ];
    for (method, path, status, body) in rows {
        let (got_status, got_body) =
            http(sim.port, method, path, Duration::from_secs(5)).expect("request");
        assert_eq!(got_status, status, "{method} {path}");
        if !body.is_empty() || method == "HEAD" {
            assert_eq!(got_body, body, "{method} {path}");
        }
    }
    let (_, body) = get(sim.port, "/readyz").expect("get /readyz");
    assert_eq!(readiness(&body), (true, vec![]), "{body}");
    let log = sim.stdout();
    assert!(
        log.contains(&format!("listening on 127.0.0.1:{}", sim.port)),
        "{log}"
    );
}

#[test]
fn readyz_reports_the_failing_list_and_it_can_change() {
    let sim = Sim::start(&[], &[("OPENCLAW_SIM_READY_FAILING", "discord,telegram")]);
    let (status, body) = get(sim.port, "/readyz").expect("get /readyz");
    assert_eq!(status, 503);
    assert_eq!(
        readiness(&body),
        (false, vec!["discord".to_string(), "telegram".to_string()])
    );

    let (status, _) = http(sim.port, "POST", "/__sim/ready?failing=", DEADLINE).expect("post");
    assert_eq!(status, 200);
    let (status, body) = get(sim.port, "/ready").expect("get /ready");
    assert_eq!((status, readiness(&body)), (200, (true, vec![])));

    http(sim.port, "POST", "/__sim/ready?failing=slack", DEADLINE).expect("post");
    let (status, body) = get(sim.port, "/readyz").expect("get /readyz");
    assert_eq!(
        (status, readiness(&body)),
        (503, (false, vec!["slack".to_string()]))
    );
}
#[test]
fn crash_after_a_delay_uses_the_crash_code() {
    let mut sim = Sim::prepare();
    sim.spawn(
        &[],
        &[
            ("OPENCLAW_SIM_CRASH_AFTER", "100ms"),
            ("OPENCLAW_SIM_CRASH_CODE", "42"),
        ],
    );
    assert_eq!(exit_code(&mut sim), Some(42));
}

#[test]
fn crash_endpoint_answers_then_exits_with_the_code() {
    let mut sim = Sim::start(&[], &[]);
    let (status, body) = http(sim.port, "POST", "/__sim/crash?code=7", DEADLINE).expect("post");
    assert_eq!(
        (status, body.as_str()),
        (200, r#"{"exitCode":7,"ok":true}"#)
    );
    assert_eq!(exit_code(&mut sim), Some(7));
}
#[test]
fn a_wedged_gateway_accepts_but_never_answers() {
    // (how it is wedged)
    let rows: [(&[&str], bool); 2] = [(&["--sim-wedge-after", "0s"], false), (&[], true)];
    for (flags, by_endpoint) in rows {
        let mut sim = Sim::prepare();
        sim.spawn(flags, &[]);
        if by_endpoint {
            sim.wait_listening();
            let (status, _) = http(sim.port, "POST", "/__sim/wedge", DEADLINE).expect("post");
            assert_eq!(status, 200);
        } else {
            wait_for("the wedge log line", || {
                sim.stdout().contains("wedged").then_some(())
            });
            wait_for("the listener", || {
                sim.stdout().contains("listening").then_some(())
            });
        }
        let err = http(sim.port, "GET", "/healthz", Duration::from_millis(500))
            .expect_err("a wedged gateway must not answer");
        assert!(
            matches!(
                err.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            "connected but got no answer, not {err:?}"
        );
        assert_eq!(sim.try_exit(), None);
    }
}

#[test]
fn grandchildren_are_in_the_group_or_escaped_and_listed_in_the_pidfile() {
    let sim = Sim::start(
        &["--sim-grandchildren", "2"],
        &[("OPENCLAW_SIM_SETSID_GRANDCHILDREN", "1")],
    );
    let pids = wait_for("the pid file", || {
        let pids = sim.pidfile();
        (pids.len() == 4).then_some(pids)
    });
    assert_eq!(pids[0], sim.pid().as_raw());
    let group = getpgid(Some(sim.pid())).expect("pgid of the simulator");
    assert_eq!(group, sim.pid(), "the test made it a group leader");
    for pid in &pids[1..3] {
        let pid = Pid::from_raw(*pid);
        assert_eq!(
            getpgid(Some(pid)).expect("pgid"),
            group,
            "in the gateway's group"
        );
    }
    let escaped = Pid::from_raw(pids[3]);
    assert_eq!(
        getsid(Some(escaped)).expect("sid"),
        escaped,
        "escaped with setsid"
    );
    assert_ne!(getpgid(Some(escaped)).expect("pgid"), group);
}
