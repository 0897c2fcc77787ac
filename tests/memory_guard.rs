//! The memory guard (`restart.memory_above`) with the real binary over
//! simulated gateways: a gateway whose tree stays above the size is
//! restarted gracefully, once per episode, with a `memory_guard` event and
//! the reason in status; its standby rescue is not woken; a gateway below
//! the size, under the same guard, is left alone.
#![allow(clippy::disallowed_methods)] // A test starts the programs it tests.

mod daemon_support;

use serde_json::Value;

use daemon_support::*;

const PROBES: &str = "probes:\n  \
    startup: { every: 100ms, timeout: 20s }\n  \
    liveness: { every: 200ms, timeout: 1s, failures: 3 }";

/// The same guard for both gateways: 64 MiB for 1 s.
const GUARD: &str = "restart: { memory_above: { size: 64MiB, for: 1s } }";

/// `main`'s events from the journal (every one since the supervisor started).
fn journal(daemon: &Daemon, name: &str) -> Vec<Value> {
    let output = daemon.client(&["events", name, "-n", "10000", "--json"]);
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("an event per line"))
        .collect()
}

fn kind(event: &Value) -> &str {
    event["kind"].as_str().unwrap_or_default()
}

/// The kinds of events up to the second `started` (the `added` left out).
fn kinds_until_the_second_start(events: &[Value]) -> Vec<&str> {
    let second_start = events
        .iter()
        .enumerate()
        .filter(|(_, event)| kind(event) == "started")
        .nth(1)
        .map(|(at, _)| at)
        .unwrap_or_else(|| panic!("started twice: {events:#?}"));
    events[..=second_start]
        .iter()
        .map(kind)
        .filter(|kind| *kind != "added")
        .collect()
}

#[test]
fn a_gateway_above_its_memory_guard_is_restarted_once_gracefully_and_wakes_no_rescue() {
    // main holds 128 MiB from the start and drains 300 ms on a stop; calm
    // holds nothing under the same guard; rescue waits in standby for main.
    let (daemon, _) = Daemon::gateways(&[
        (
            "main",
            &format!(
                "env: {{ OPENCLAW_SIM_ALLOCATE_MIB: '128', OPENCLAW_SIM_STOP_DELAY: 300ms }}\n\
                 {GUARD}\n{PROBES}"
            ),
        ),
        ("calm", &format!("{GUARD}\n{PROBES}")),
        (
            "rescue",
            &format!("role: rescue\nrescue_of: main\nstandby: true\n{PROBES}"),
        ),
    ]);
    let main = wait_for(
        "main restarted by its memory guard and running again",
        || {
            daemon.instance("main").filter(|main| {
                main["state"] == "running"
                    && main["restarts"].as_u64().is_some_and(|n| n >= 1)
                    && !main["last_restart_reason"].is_null()
            })
        },
    );
    let reason = main["last_restart_reason"].as_str().expect("a reason");
    assert!(
        reason.starts_with("memory ") && reason.ends_with(" MiB above 64.0 MiB for 1s"),
        "{main}"
    );

    // From the first gateway to the second's start: one guard event, no
    // failure of any kind (no exit, backoff, unhealthy, SIGKILL).
    let events = journal(&daemon, "main");
    let kinds = kinds_until_the_second_start(&events);
    assert_eq!(
        kinds,
        ["spawned", "started", "memory_guard", "spawned", "started"],
        "{events:#?}"
    );
    let guard = events
        .iter()
        .find(|event| kind(event) == "memory_guard")
        .expect("a memory_guard event");
    assert_eq!(guard["detail"], reason, "the event and status agree");

    // The stop was the graceful one: the drain ran and the gateway exited 0.
    let logs = daemon.client(&["logs", "main", "-n", "1000"]);
    let logs = String::from_utf8_lossy(&logs.stdout);
    assert!(
        logs.contains("exited with code 0 (memory guard)"),
        "the exit marker names the guard: {logs}"
    );

    // The rescue was never woken, and calm, under the same guard but below
    // it all along, was never restarted.
    assert!(
        !journal(&daemon, "rescue")
            .iter()
            .any(|event| kind(event) == "rescue_triggered"),
        "the guard's restart is no failure"
    );
    let rescue = daemon.instance("rescue").expect("rescue");
    assert_eq!(rescue["state"], "standby", "{rescue}");
    let calm = daemon.instance("calm").expect("calm");
    assert_eq!(calm["state"], "running", "{calm}");
    assert_eq!(calm["restarts"], 0, "{calm}");
    assert!(calm["last_restart_reason"].is_null(), "{calm}");
    assert!(
        !journal(&daemon, "calm")
            .iter()
            .any(|event| kind(event) == "memory_guard"),
        "calm stays below its guard"
    );
}

#[test]
fn a_guard_added_by_a_reload_applies_to_the_running_gateway_without_a_restart() {
    let holding = "env: { OPENCLAW_SIM_ALLOCATE_MIB: '128' }";
    let (daemon, port) = Daemon::gateways(&[("main", &format!("{holding}\n{PROBES}"))]);
    let running = daemon.wait_state("main", "running");
    let pid = running["pid"].as_u64().expect("a pid");
    let mut events = Events::follow(&daemon);

    let text = sim_declaration(
        daemon.path(),
        "main",
        port,
        &format!("{holding}\n{GUARD}\n{PROBES}"),
    );
    let temp = daemon.dir.join(".main.yaml.tmp");
    std::fs::write(&temp, text).expect("write the declaration");
    std::fs::rename(&temp, daemon.dir.join("main.yaml")).expect("rename it into place");
    let reload = events.reloaded("main");
    assert_eq!(reload["detail"], "updated: main", "applied in place");

    // The same gateway, now under the guard, is restarted by it.
    let guard = events.wait_count("main's memory guard", 1, is("main", "memory_guard"));
    assert_eq!(
        events.count("main", "spawned"),
        0,
        "no restart before the guard's: {:#?}",
        events.seen
    );
    let detail = guard["detail"].as_str().expect("a detail");
    assert!(detail.ends_with(" MiB above 64.0 MiB for 1s"), "{guard}");
    events.wait("main's new gateway", is("main", "spawned"));
    let main = daemon.wait_state("main", "running");
    assert_ne!(main["pid"].as_u64(), Some(pid), "{main}");
}

#[test]
fn in_marker_mode_the_guard_restarts_a_growing_gateway_once_from_its_trees_rss() {
    // No cgroup: the guard reads the RSS of the gateway's tree from /proc.
    let (mut daemon, _) = Daemon::prepare(&[(
        "main",
        &format!("env: {{ OPENCLAW_SIM_GROW_MIB_PER_SEC: '64' }}\n{GUARD}\n{PROBES}"),
    )]);
    daemon.start_with_env(&[("OPENCLAW_SUPERVISOR_CGROUPS", "off")]);
    let main = wait_for("main restarted by its memory guard", || {
        daemon
            .instance("main")
            .filter(|main| main["state"] == "running" && !main["last_restart_reason"].is_null())
    });
    assert_eq!(main["tracking"]["mode"], "marker", "{main}");
    let reason = main["last_restart_reason"].as_str().expect("a reason");
    assert!(reason.ends_with(" MiB above 64.0 MiB for 1s"), "{main}");
    let events = journal(&daemon, "main");
    let kinds = kinds_until_the_second_start(&events);
    assert_eq!(
        kinds,
        ["spawned", "started", "memory_guard", "spawned", "started"],
        "one graceful restart, no failure: {events:#?}"
    );
}
