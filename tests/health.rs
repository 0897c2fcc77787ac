//! Health probes and the rescue rules, with the real binary over simulated
//! gateways: what the supervisor does when a gateway stops answering, starts
//! slowly, is not ready, asks to be relaunched, or fails while a rescue waits.

mod daemon_support;
mod sim_support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use daemon_support::*;
use serde_json::Value;

/// Probe settings fast enough for tests: startup polled every 100 ms,
/// liveness and readiness every 200 ms, timeouts short so a wedged gateway
/// fails quickly.
const FAST_PROBES: &str = "probes:\n  \
    startup: { every: 100ms, timeout: 20s }\n  \
    liveness: { every: 200ms, timeout: 300ms, failures: 3 }\n  \
    readiness: { every: 200ms, timeout: 300ms, failures: 2 }";

fn restarts(instance: &Value) -> u64 {
    instance["restarts"].as_u64().unwrap_or(u64::MAX)
}

fn pid_of(instance: &Value) -> Option<i32> {
    instance["pid"].as_i64().map(|pid| pid as i32)
}

fn port_of(instance: &Value) -> u16 {
    instance["ports"]["base"]
        .as_u64()
        .and_then(|port| u16::try_from(port).ok())
        .expect("status names the gateway port")
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A POST to one of the simulator's `/__sim/...` control endpoints.
fn sim_post(port: u16, path: &str) {
    let (status, body) = sim_support::http(port, "POST", path, Duration::from_secs(5))
        .unwrap_or_else(|err| panic!("POST {path} on port {port}: {err}"));
    assert_eq!(status, 200, "POST {path} on port {port}: {body}");
}

/// `GET /startupz` on a gateway: its status code, or None when nothing answers.
fn startupz(port: u16) -> Option<u16> {
    sim_support::http(port, "GET", "/startupz", Duration::from_secs(2))
        .ok()
        .map(|(status, _)| status)
}

/// The environment of a process, as `KEY=value` entries.
fn environ(pid: i32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/environ"))
        .unwrap_or_default()
        .split(|b| *b == 0)
        .map(|entry| String::from_utf8_lossy(entry).to_string())
        .collect()
}

/// A running `events --json` that is known to be subscribed, so nothing the
/// test does after [`Events::follow`] returns can be missed.
struct Events {
    child: Child,
    lines: mpsc::Receiver<Value>,
    seen: Vec<Value>,
}

impl Events {
    /// Follow the events of `daemon`. `running` names an instance that is
    /// running: `start` on it changes nothing but emits an operator event,
    /// which proves the subscription is live.
    fn follow(daemon: &Daemon, running: &str) -> Events {
        let mut child = daemon
            .command()
            .args(["events", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn events");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let event: Value = serde_json::from_str(&line).expect("an event is JSON");
                if tx.send(event).is_err() {
                    break;
                }
            }
        });
        let mut events = Events {
            child,
            lines,
            seen: Vec::new(),
        };
        let start = Instant::now();
        loop {
            assert!(
                daemon.client(&["start", running]).status.success(),
                "start {running}"
            );
            if let Ok(event) = events.lines.recv_timeout(Duration::from_millis(500)) {
                events.seen.push(event);
                return events;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "the events stream never answered"
            );
        }
    }

    /// Wait for an event that `wanted` accepts; every event seen so far
    /// (this one included) is kept in `seen`.
    fn wait(&mut self, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        self.wait_count(what, 1, wanted)
    }

    /// Wait until `count` events that `wanted` accepts have been seen; the last one.
    fn wait_count(&mut self, what: &str, count: usize, wanted: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            let matching: Vec<&Value> = self.seen.iter().filter(|e| wanted(e)).collect();
            if matching.len() >= count {
                return matching[count - 1].clone();
            }
            let left = DEADLINE.saturating_sub(start.elapsed());
            match self.lines.recv_timeout(left) {
                Ok(event) => self.seen.push(event),
                Err(_) => panic!("timed out waiting for {what}; saw {:#?}", self.seen),
            }
        }
    }

    fn count(&self, instance: &str, kind: &str) -> usize {
        self.seen
            .iter()
            .filter(|e| e["instance"] == instance && e["kind"] == kind)
            .count()
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn is(instance: &'static str, kind: &'static str) -> impl Fn(&Value) -> bool {
    move |event| event["instance"] == instance && event["kind"] == kind
}

#[test]
fn a_gateway_that_stops_answering_probes_is_restarted() {
    let port = free_base_port();
    let daemon = Daemon::with(|root| {
        vec![(
            "main.yaml",
            sim_declaration(
                root,
                "main",
                port,
                &format!("restart: {{ backoff: {{ initial: 100ms }} }}\n{FAST_PROBES}"),
            ),
        )]
    });
    let running = daemon.wait_state("main", "running");
    let old = pid_of(&running).expect("a pid");
    let mut events = Events::follow(&daemon, "main");
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
    let port = free_base_port();
    let daemon = Daemon::with(|root| {
        vec![(
            "main.yaml",
            sim_declaration(
                root,
                "main",
                port,
                "env: { OPENCLAW_SIM_START_DELAY: 1s }\n\
                 probes: { startup: { every: 100ms, timeout: 10s } }",
            ),
        )]
    });
    let starting = daemon.wait_state("main", "starting");
    let pid = pid_of(&starting).expect("a pid while starting");
    let running = daemon.wait_state("main", "running");
    assert_eq!(pid_of(&running), Some(pid), "the same process got there");
    assert_eq!(restarts(&running), 0, "{running}");
    let startup = &running["probes"]["startup"];
    assert_eq!(startup["ok"], true, "{running}");
}

#[test]
fn a_start_beyond_the_allowance_is_restarted() {
    let port = free_base_port();
    let daemon = Daemon::with(|root| {
        vec![(
            "main.yaml",
            sim_declaration(
                root,
                "main",
                port,
                "env: { OPENCLAW_SIM_START_DELAY: 30s }\n\
                 restart: { backoff: { initial: 100ms, max: 200ms } }\n\
                 probes: { startup: { every: 100ms, timeout: 1s } }",
            ),
        )]
    });
    let first = daemon.wait_new_pid("main", None);
    // Every attempt times out again, so the stream sees one even if it
    // subscribes after the first.
    let mut events = Events::follow(&daemon, "main");
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
    let port = free_base_port();
    let daemon = Daemon::with(|root| {
        vec![(
            "main.yaml",
            sim_declaration(
                root,
                "main",
                port,
                &format!(
                    "env: {{ OPENCLAW_SIM_READY_FAILING: \"discord,telegram\" }}\n{FAST_PROBES}"
                ),
            ),
        )]
    });
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
    let port = free_base_port();
    let daemon = Daemon::with(|root| {
        vec![(
            "main.yaml",
            sim_declaration(root, "main", port, &format!("bind: lan\n{FAST_PROBES}")),
        )]
    });
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
fn a_crash_looping_main_never_touches_a_running_rescue() {
    let main_port = free_base_port();
    let rescue_port = main_port + 1000;
    let daemon = Daemon::with(|root| {
        vec![
            (
                "main.yaml",
                sim_declaration(
                    root,
                    "main",
                    main_port,
                    "env: { OPENCLAW_SIM_CRASH_AFTER: 300ms }\n\
                     restart: { backoff: { initial: 50ms, max: 100ms } }\n\
                     probes: { startup: { every: 50ms } }",
                ),
            ),
            (
                "rescue.yaml",
                sim_declaration(
                    root,
                    "rescue",
                    rescue_port,
                    &format!("role: rescue\nrescue_of: main\n{FAST_PROBES}"),
                ),
            ),
        ]
    });
    let rescue = daemon.wait_state("rescue", "running");
    let rescue_pid = pid_of(&rescue).expect("rescue pid");
    let mut events = Events::follow(&daemon, "rescue");
    // The rule fires on every failure of main, three times over here.
    events.wait_count("main to crash three times", 3, is("main", "exited"));
    events.wait_count(
        "the rescue rule to fire three times",
        3,
        is("rescue", "rescue_triggered"),
    );
    let rescue = daemon.instance("rescue").expect("rescue");
    assert_eq!(pid_of(&rescue), Some(rescue_pid), "same rescue process");
    assert_eq!(rescue["state"], "running");
    assert_eq!(restarts(&rescue), 0, "{rescue}");
    assert!(rescue["last_exit"].is_null(), "{rescue}");
}

#[test]
fn a_rescue_in_backoff_is_started_at_once_when_main_fails() {
    let main_port = free_base_port();
    let rescue_port = main_port + 1000;
    let daemon = Daemon::with(|root| {
        vec![
            (
                "main.yaml",
                sim_declaration(
                    root,
                    "main",
                    main_port,
                    &format!("restart: {{ backoff: {{ initial: 100ms }} }}\n{FAST_PROBES}"),
                ),
            ),
            (
                "rescue.yaml",
                sim_declaration(
                    root,
                    "rescue",
                    rescue_port,
                    &format!(
                        "role: rescue\nrescue_of: main\n\
                         restart: {{ backoff: {{ initial: 1h, max: 2h }} }}\n{FAST_PROBES}"
                    ),
                ),
            ),
        ]
    });
    daemon.wait_state("main", "running");
    let rescue = daemon.wait_state("rescue", "running");
    let first = pid_of(&rescue).expect("rescue pid");
    sim_post(rescue_port, "/__sim/crash?code=1");
    let backoff = daemon.wait_state("rescue", "backoff");
    let due = backoff["next_restart_at"]
        .as_u64()
        .expect("a backoff has a due time");
    assert!(
        due > now_ms() + 30 * 60 * 1000,
        "the rescue waits about an hour: {backoff}"
    );
    sim_post(main_port, "/__sim/crash?code=1");
    let second = daemon.wait_new_pid("rescue", Some(first));
    let rescue = daemon.wait_state("rescue", "running");
    assert_eq!(pid_of(&rescue), Some(second), "{rescue}");
    assert_eq!(restarts(&rescue), 1, "{rescue}");
    assert_eq!(startupz(rescue_port), Some(200));
}

#[test]
fn a_standby_rescue_starts_when_main_fails_and_returns_to_standby() {
    let main_port = free_base_port();
    let rescue_port = main_port + 1000;
    let daemon = Daemon::with(|root| {
        vec![
            (
                "main.yaml",
                // An hour of backoff: main stays down until the test starts it.
                sim_declaration(
                    root,
                    "main",
                    main_port,
                    &format!("restart: {{ backoff: {{ initial: 1h, max: 2h }} }}\n{FAST_PROBES}"),
                ),
            ),
            (
                "rescue.yaml",
                sim_declaration(
                    root,
                    "rescue",
                    rescue_port,
                    &format!(
                        "role: rescue\nrescue_of: main\nstandby: true\n\
                         restart: {{ reset_after: 1s }}\n{FAST_PROBES}"
                    ),
                ),
            ),
        ]
    });
    let main = daemon.wait_state("main", "running");
    let main_pid = pid_of(&main).expect("main pid");
    // Past the rescue's reset_after with main healthy: still standby, no process.
    let mut events = Events::follow(&daemon, "main");
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

    sim_post(main_port, "/__sim/crash?code=1");
    daemon.wait_state("main", "backoff");
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
fn exit_0_in_external_mode_is_relaunched_without_delay() {
    let port = free_base_port();
    let daemon = Daemon::with(|root| {
        vec![(
            "main.yaml",
            sim_declaration(
                root,
                "main",
                port,
                &format!("restart: {{ backoff: {{ initial: 1h, max: 2h }} }}\n{FAST_PROBES}"),
            ),
        )]
    });
    let main = daemon.wait_state("main", "running");
    let old = pid_of(&main).expect("a pid");
    let output = daemon.client(&["signal", "main", "USR2"]);
    assert!(output.status.success(), "{output:?}");
    // Through backoff this would take an hour.
    let new = daemon.wait_new_pid("main", Some(old));
    let main = daemon.wait_state("main", "running");
    assert_eq!(pid_of(&main), Some(new));
    assert_eq!(restarts(&main), 1, "{main}");
    assert_eq!(main["last_exit"]["code"], 0, "{main}");
}

#[test]
fn restart_is_graceful_and_leaves_the_other_instance_alone() {
    let main_port = free_base_port();
    let rescue_port = main_port + 1000;
    let daemon = Daemon::with(|root| {
        vec![
            (
                "main.yaml",
                sim_declaration(root, "main", main_port, FAST_PROBES),
            ),
            (
                "rescue.yaml",
                sim_declaration(
                    root,
                    "rescue",
                    rescue_port,
                    &format!("role: rescue\nrescue_of: main\n{FAST_PROBES}"),
                ),
            ),
        ]
    });
    let old = pid_of(&daemon.wait_state("main", "running")).expect("main pid");
    let rescue_pid = pid_of(&daemon.wait_state("rescue", "running")).expect("rescue pid");
    let output = daemon.client(&["restart", "main"]);
    assert!(output.status.success(), "{output:?}");
    let new = daemon.wait_new_pid("main", Some(old));
    let main = daemon.wait_state("main", "running");
    assert_eq!(pid_of(&main), Some(new));
    assert_eq!(restarts(&main), 1, "{main}");
    // The simulator exits 0 on SIGTERM: it was asked, not killed.
    assert_eq!(main["last_exit"]["code"], 0, "{main}");
    assert!(!alive(old));
    let rescue = daemon.instance("rescue").expect("rescue");
    assert_eq!(rescue["state"], "running", "{rescue}");
    assert_eq!(pid_of(&rescue), Some(rescue_pid), "{rescue}");
    assert_eq!(restarts(&rescue), 0, "{rescue}");
}

#[test]
fn the_rescue_is_given_the_supervisor_socket() {
    let main_port = free_base_port();
    let rescue_port = main_port + 1000;
    let daemon = Daemon::with(|root| {
        vec![
            ("main.yaml", sim_declaration(root, "main", main_port, "")),
            (
                "rescue.yaml",
                sim_declaration(root, "rescue", rescue_port, "role: rescue\nrescue_of: main"),
            ),
        ]
    });
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
fn an_exit_0_before_startup_passed_is_a_failure_not_a_hot_loop() {
    let port = free_base_port();
    let daemon = Daemon::with(|root| {
        vec![(
            "main.yaml",
            sim_declaration(
                root,
                "main",
                port,
                &format!(
                    "env: {{ OPENCLAW_SIM_EXIT_CODE: \"0\" }}\n\
                     restart: {{ backoff: {{ initial: 1h, max: 2h }} }}\n{FAST_PROBES}"
                ),
            ),
        )]
    });
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
fn a_standby_rescue_in_backoff_returns_to_standby_when_main_recovers() {
    let main_port = free_base_port();
    let rescue_port = main_port + 1000;
    let daemon = Daemon::with(|root| {
        vec![
            (
                "main.yaml",
                sim_declaration(
                    root,
                    "main",
                    main_port,
                    &format!("restart: {{ backoff: {{ initial: 1h, max: 2h }} }}\n{FAST_PROBES}"),
                ),
            ),
            (
                "rescue.yaml",
                // A rescue that cannot start: after one try it waits an hour.
                sim_declaration(
                    root,
                    "rescue",
                    rescue_port,
                    &format!(
                        "role: rescue\nrescue_of: main\nstandby: true\n\
                         env: {{ OPENCLAW_SIM_EXIT_CODE: \"1\" }}\n\
                         restart: {{ reset_after: 1s, backoff: {{ initial: 1h, max: 2h }} }}\n\
                         {FAST_PROBES}"
                    ),
                ),
            ),
        ]
    });
    daemon.wait_state("main", "running");
    sim_post(main_port, "/__sim/crash?code=1");
    let rescue = daemon.wait_state("rescue", "backoff");
    assert_eq!(rescue["last_exit"]["code"], 1, "{rescue}");
    assert!(daemon.client(&["start", "main"]).status.success());
    daemon.wait_state("main", "running");
    let rescue = daemon.wait_state("rescue", "standby");
    assert!(rescue["next_restart_at"].is_null(), "{rescue}");
}

#[test]
fn a_standby_rescue_stopped_by_hand_stays_stopped_across_a_supervisor_restart() {
    let main_port = free_base_port();
    let rescue_port = main_port + 1000;
    let mut daemon = Daemon::with(|root| {
        vec![
            (
                "main.yaml",
                sim_declaration(
                    root,
                    "main",
                    main_port,
                    &format!("restart: {{ backoff: {{ initial: 100ms }} }}\n{FAST_PROBES}"),
                ),
            ),
            (
                "rescue.yaml",
                sim_declaration(
                    root,
                    "rescue",
                    rescue_port,
                    &format!("role: rescue\nrescue_of: main\nstandby: true\n{FAST_PROBES}"),
                ),
            ),
        ]
    });
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
    let mut events = Events::follow(&daemon, "main");
    sim_post(main_port, "/__sim/crash?code=1");
    events.wait("the rescue rule to fire", is("rescue", "rescue_triggered"));
    // Main's relaunch comes well after the rescue was told, so by then the
    // rescue has acted on it (or, rightly, not).
    daemon.wait_new_pid("main", Some(old));
    daemon.wait_state("main", "running");
    let rescue = daemon.instance("rescue").expect("rescue");
    assert_eq!(rescue["state"], "stopped", "{rescue}");
    assert!(rescue["pid"].is_null(), "{rescue}");
    assert_eq!(events.count("rescue", "spawned"), 0, "{:#?}", events.seen);
}

/// A main and a standby rescue of it; main with `main_extra` YAML.
fn main_and_standby_rescue(main_extra: &str) -> (Daemon, u16, u16) {
    let main_port = free_base_port();
    let rescue_port = main_port + 1000;
    let daemon = Daemon::with(|root| {
        vec![
            (
                "main.yaml",
                sim_declaration(
                    root,
                    "main",
                    main_port,
                    &format!("{main_extra}\n{FAST_PROBES}"),
                ),
            ),
            (
                "rescue.yaml",
                sim_declaration(
                    root,
                    "rescue",
                    rescue_port,
                    &format!("role: rescue\nrescue_of: main\nstandby: true\n{FAST_PROBES}"),
                ),
            ),
        ]
    });
    (daemon, main_port, rescue_port)
}

#[test]
fn a_main_failing_liveness_starts_its_standby_rescue() {
    let (daemon, main_port, rescue_port) =
        main_and_standby_rescue("restart: { backoff: { initial: 1h, max: 2h } }");
    daemon.wait_state("main", "running");
    assert_eq!(daemon.state("rescue").as_deref(), Some("standby"));
    let mut events = Events::follow(&daemon, "main");
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
    let (daemon, _, _) = main_and_standby_rescue("");
    let old = pid_of(&daemon.wait_state("main", "running")).expect("main pid");
    let mut events = Events::follow(&daemon, "main");
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
fn without_a_startup_probe_an_exit_0_at_once_is_not_a_hot_loop() {
    let port = free_base_port();
    let daemon = Daemon::with(|root| {
        vec![(
            "main.yaml",
            sim_declaration(
                root,
                "main",
                port,
                "env: { OPENCLAW_SIM_EXIT_CODE: \"0\" }\n\
                 restart: { backoff: { initial: 1h, max: 2h } }\n\
                 probes: { startup: { enabled: false } }",
            ),
        )]
    });
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
