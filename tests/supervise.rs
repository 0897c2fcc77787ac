//! Supervising: spawn, stop and restart each gateway on its own, with the
//! real binary over simulated gateways.
#![allow(clippy::disallowed_methods)] // A test starts the programs it tests.

mod daemon_support;

use std::fs;

use daemon_support::*;
use nix::sys::signal::Signal;
use serde_json::Value;

fn restarts(instance: &Value) -> u64 {
    instance["restarts"].as_u64().unwrap_or(0)
}

#[test]
fn a_crash_is_restarted_with_growing_delays() {
    let (daemon, _) = Daemon::gateways(&[(
        "main",
        "env: { OPENCLAW_SIM_EXIT_CODE: \"3\" }\nrestart: { backoff: { initial: 100ms, max: 10s } }",
    )]);
    let mut delays = Vec::new();
    let mut events = Events::follow(&daemon);
    events.wait("four backoff delays", |event| {
        if event["kind"] == "backoff" {
            let detail = event["detail"].as_str().unwrap_or_default();
            let delay = detail
                .strip_prefix("restarting in ")
                .and_then(|rest| rest.split(':').next())
                .and_then(|text| humantime::parse_duration(text.trim()).ok())
                .unwrap_or_else(|| panic!("a backoff event names its delay: {detail}"));
            delays.push(delay);
        }
        delays.len() >= 4
    });
    for pair in delays.windows(2) {
        assert!(pair[1] > pair[0], "delays grow: {delays:?}");
    }
    let main = daemon.instance("main").expect("main");
    assert!(restarts(&main) >= 3, "it keeps restarting: {main}");
    assert_eq!(main["last_exit"]["code"], 3);
}

#[test]
fn exit_78_is_failed_and_not_retried() {
    let port = free_base_port();
    let daemon = Daemon::with(|root| {
        let mut text = sim_declaration(
            root,
            "main",
            port,
            "restart: { backoff: { initial: 10ms } }",
        );
        // No config file at all: the gateway exits 78 like the real one.
        text = text.replace("config: ", "config: /nonexistent-dir/");
        vec![("main.yaml", text)]
    });
    let failed = daemon.wait_state("main", "failed");
    assert_eq!(failed["last_exit"]["code"], 78);
    let reason = failed["last_error_lines"].to_string();
    assert!(
        reason.contains("Missing config"),
        "the gateway's own words explain it: {reason}"
    );
    // A round trip through the supervisor's loop (reload) and it is still
    // failed with no restart: nothing retries a configuration error.
    assert!(daemon.client(&["reload"]).status.success());
    let after = daemon.instance("main").expect("main");
    assert_eq!(after["state"], "failed");
    assert_eq!(restarts(&after), 0);
}

#[test]
fn the_error_lines_are_only_those_of_the_process_that_exited() {
    let (daemon, _) = Daemon::gateways(&[("main", "")]);
    let healthy = daemon.wait_state("main", "running");
    let healthy_pid = healthy["pid"].as_u64().expect("a pid");
    // The next gateway refuses its config (exit 78); the healthy one's lines
    // ("started", "shutting down", "completed cleanly") must not be in the
    // report of the one that failed.
    let config = daemon.path().join("instances/main/openclaw.json");
    fs::write(&config, "{ gateway: ").expect("break the config");
    // Forced: a plain restart would refuse a config openclaw refuses.
    assert!(
        daemon
            .client(&["restart", "--force", "main"])
            .status
            .success()
    );
    let failed = daemon.wait_state("main", "failed");
    let from = &failed["last_error_from"];
    let failed_pid = from["pid"].as_u64().expect("the failed process's pid");
    assert_ne!(failed_pid, healthy_pid, "{failed}");
    assert_eq!(from["exit"], "exit code 78");
    let lines: Vec<&str> = failed["last_error_lines"]
        .as_array()
        .expect("lines")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("Invalid config") || l.contains("JSON5")),
        "the failed gateway's own words: {lines:?}"
    );
    for line in &lines {
        assert!(
            !line.contains("shutting down") && !line.contains("completed cleanly"),
            "a line of the healthy process {healthy_pid} in the report of {failed_pid}: {lines:?}"
        );
    }
    // Every line, the healthy process's included, is still in `logs`.
    let logs = daemon.client(&["logs", "main", "-n", "200"]);
    assert!(String::from_utf8_lossy(&logs.stdout).contains("shutting down"));
}

#[test]
fn a_child_ignoring_sigterm_is_killed_after_the_stop_timeout() {
    let (daemon, _) = Daemon::gateways(&[(
        "main",
        "env: { OPENCLAW_SIM_IGNORE_SIGTERM: \"1\" }\nstop: { timeout: 500ms }",
    )]);
    daemon.wait_state("main", "running");
    let pid = daemon.instance_pid("main").expect("a pid");
    let output = daemon.client(&["stop", "main"]);
    assert!(output.status.success(), "{output:?}");
    let stopped = daemon.wait_state("main", "stopped");
    assert_eq!(stopped["last_exit"]["signal"], "SIGKILL");
    assert!(!alive(pid));
}

#[test]
fn grandchildren_and_escaped_descendants_are_gone_after_stop() {
    let (daemon, _, pids) = main_with_pidfile(
        ", OPENCLAW_SIM_GRANDCHILDREN: \"2\", OPENCLAW_SIM_SETSID_GRANDCHILDREN: \"2\"",
        "stop: { timeout: 2s }",
        5,
    );
    assert!(
        pids.iter().all(|pid| alive(*pid)),
        "all running before the stop"
    );
    assert!(daemon.client(&["stop", "main"]).status.success());
    daemon.wait_state("main", "stopped");
    let left: Vec<i32> = pids.into_iter().filter(|pid| alive(*pid)).collect();
    assert!(left.is_empty(), "left alive after stop: {left:?}");
}

#[test]
fn a_crash_looping_main_leaves_the_rescue_alone() {
    let (daemon, _, _) = main_and_rescue(
        "env: { OPENCLAW_SIM_EXIT_CODE: \"1\" }\nrestart: { backoff: { initial: 20ms, max: 100ms } }",
        "",
    );
    let rescue = daemon.wait_state("rescue", "running");
    let rescue_pid = rescue["pid"].as_i64().expect("rescue pid");
    let uptime_before = rescue["uptime_secs"].as_u64().unwrap_or(0);
    wait_for("main to crash five times", || {
        daemon.instance("main").filter(|m| restarts(m) >= 5)
    });
    let rescue = daemon.instance("rescue").expect("rescue");
    assert_eq!(
        rescue["pid"].as_i64(),
        Some(rescue_pid),
        "same rescue process"
    );
    assert_eq!(rescue["state"], "running");
    assert_eq!(restarts(&rescue), 0);
    assert!(rescue["uptime_secs"].as_u64().unwrap_or(0) >= uptime_before);
}

#[test]
fn sigterm_to_the_supervisor_stops_every_child_and_exits_0() {
    let (mut daemon, _) = Daemon::gateways(&[("a", ""), ("b", "")]);
    daemon.wait_state("a", "running");
    daemon.wait_state("b", "running");
    let children: Vec<i32> = ["a", "b"]
        .iter()
        .map(|n| daemon.instance_pid(n).expect("pid"))
        .collect();
    daemon.signal(Signal::SIGTERM);
    let status = daemon.wait_exit();
    assert!(status.success(), "exit 0, got {status}");
    for pid in children {
        assert!(!alive(pid), "gateway {pid} outlived the supervisor");
    }
    assert!(tagged(&daemon.tag).is_empty());
}

#[test]
fn a_supervisor_whose_stderr_reader_went_away_keeps_supervising_and_stops_on_sigterm() {
    // `start 2>&1 | head -1`: every log line after the first meets a closed
    // pipe. tracing-subscriber used to report that with `eprintln!`, which
    // panicked on the same pipe: the supervisor died, its gateways orphaned.
    let (mut daemon, _) = Daemon::prepare(&[("main", "")]);
    let (reader, writer) = nix::unistd::pipe().expect("pipe");
    drop(reader);
    daemon.start_with_setup(|command| {
        command
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::from(writer));
    });
    daemon.wait_state("main", "running");
    let gateway = daemon.instance_pid("main").expect("pid");
    daemon.client(&["restart", "main", "--force"]);
    let new = daemon.wait_new_pid("main", Some(gateway));
    daemon.signal(Signal::SIGTERM);
    let status = daemon.wait_exit();
    assert!(status.success(), "exit 0, got {status}");
    assert!(!alive(new), "gateway {new} outlived the supervisor");
    assert!(tagged(&daemon.tag).is_empty());
}

#[test]
fn a_new_supervisor_adopts_the_gateway_an_old_one_left_behind() {
    let (mut daemon, _) = Daemon::gateways(&[("main", "")]);
    daemon.wait_state("main", "running");
    let old = daemon.instance_pid("main").expect("pid");
    daemon.signal(Signal::SIGKILL);
    daemon.wait_exit();
    assert!(
        alive(old),
        "SIGKILL of the supervisor leaves its gateway running"
    );
    daemon.start();
    let main = daemon.wait_state("main", "running");
    assert_eq!(
        main["pid"].as_i64(),
        Some(i64::from(old)),
        "the same gateway runs on: {main}"
    );
    assert!(alive(old));
    assert_eq!(main["restarts"].as_u64(), Some(0), "{main}");
    let adoption = main["adoption"].clone();
    assert_eq!(adoption["kind"].as_str(), Some("adopted"), "{main}");
    assert_eq!(adoption["pid"].as_i64(), Some(i64::from(old)), "{main}");
    let status = daemon.client(&["status", "main"]);
    let text = String::from_utf8_lossy(&status.stdout).to_string();
    assert!(
        text.contains("  at start     adopted ") && text.contains(&format!(" ago (pid {old})\n")),
        "status main says so: {text}"
    );
    let status = daemon.client(&["status"]);
    let text = String::from_utf8_lossy(&status.stdout).to_string();
    assert!(text.contains("* adopted:"), "the table marks it: {text}");
    let events = daemon.client(&["events", "main", "-n", "50"]);
    let text = String::from_utf8_lossy(&events.stdout).to_string();
    assert!(
        text.contains(&format!(" main adopted pid {old}\n")),
        "an adopted event with the pid: {text}"
    );
    // Exactly one gateway for the instance.
    assert_eq!(daemon.descendants(), vec![old]);
}

#[test]
fn a_command_gone_after_loading_retries_that_instance_and_the_other_runs() {
    let port = free_base_port();
    let daemon = Daemon::with(|root| {
        // A command that exists when the declaration is loaded (else the
        // file is rejected), and is then removed (an upgrade in progress).
        std::os::unix::fs::symlink(SIM, root.join("gw")).expect("symlink the gateway");
        let broken = sim_declaration(
            root,
            "broken",
            port,
            "restart: { backoff: { initial: 20ms, max: 50ms } }",
        )
        .replace(SIM, &root.join("gw").display().to_string());
        vec![
            ("broken.yaml", broken),
            ("good.yaml", sim_declaration(root, "good", port + 1000, "")),
        ]
    });
    daemon.wait_state("good", "running");
    daemon.wait_state("broken", "running");
    fs::remove_file(daemon.path().join("gw")).expect("remove the command");
    crash(port, 1);
    let broken = wait_for("the broken instance to retry", || {
        daemon.instance("broken").filter(|b| restarts(b) >= 2)
    });
    assert!(
        broken["last_error_lines"]
            .to_string()
            .contains(&daemon.path().join("gw").display().to_string()),
        "the error names the command: {broken}"
    );
    assert_eq!(daemon.state("good").as_deref(), Some("running"));
}

#[test]
fn a_relative_command_under_a_relative_dir_runs() {
    let port = free_base_port();
    let mut daemon = Daemon::new(&[]);
    std::os::unix::fs::symlink(SIM, daemon.path().join("gw")).expect("symlink the gateway");
    let text = sim_declaration(daemon.path(), "main", port, "")
        .replace(&format!("command: {SIM}"), "command: ../gw");
    fs::write(daemon.dir.join("main.yaml"), text).expect("write main.yaml");
    // `--dir supervisor.d`, relative to the supervisor's working directory.
    daemon.dir = std::path::PathBuf::from("supervisor.d");
    daemon.start();
    let main = daemon.wait_state("main", "running");
    assert!(main["pid"].as_i64().is_some(), "{main}");
}

#[test]
fn a_broken_file_at_start_is_rejected_and_main_and_rescue_run() {
    let (mut daemon, _) =
        Daemon::prepare(&[("main", ""), ("rescue", "role: rescue\nrescue_of: main\n")]);
    fs::write(daemon.dir.join("typo.yaml"), "port: [\n").expect("write typo.yaml");
    daemon.start();
    daemon.wait_state("main", "running");
    daemon.wait_state("rescue", "running");
    let status = daemon.status_json();
    let rejected = status["rejected"].as_array().cloned().unwrap_or_default();
    assert_eq!(rejected.len(), 1, "{status:#}");
    assert!(
        rejected[0]["file"]
            .as_str()
            .is_some_and(|file| file.ends_with("typo.yaml")),
        "{status:#}"
    );
    let reason = rejected[0]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("typo.yaml:1:"), "line and column: {reason}");
    let log = daemon.log_text();
    assert!(
        log.contains("declaration rejected") && log.contains("typo.yaml"),
        "the supervisor log says so: {log}"
    );
    let table = daemon.client(&["status"]);
    assert!(
        String::from_utf8_lossy(&table.stdout).contains("typo.yaml"),
        "{}",
        String::from_utf8_lossy(&table.stdout)
    );
}

#[test]
fn a_typo_in_main_does_not_stop_its_rescue() {
    let (mut daemon, _) =
        Daemon::prepare(&[("main", ""), ("rescue", "role: rescue\nrescue_of: main\n")]);
    let main = fs::read_to_string(daemon.dir.join("main.yaml")).expect("main.yaml");
    fs::write(daemon.dir.join("main.yaml"), format!("{main}prot: 1\n")).expect("write");
    daemon.start();
    daemon.wait_state("rescue", "running");
    assert!(daemon.instance("main").is_none(), "main is not run");
    let rejected = daemon.status_json()["rejected"].clone();
    assert!(rejected.to_string().contains("main.yaml"), "{rejected:#}");
}

#[test]
fn strict_start_refuses_everything_when_one_file_is_broken() {
    let (mut daemon, _) = Daemon::prepare(&[("main", "")]);
    fs::write(daemon.dir.join("typo.yaml"), "port: [\n").expect("write typo.yaml");
    let (status, stderr) = daemon.start_expecting_exit(&["--strict"]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--strict") && stderr.contains("typo.yaml:1:"),
        "{stderr}"
    );
    assert!(tagged(&daemon.tag).is_empty(), "nothing was spawned");
}

#[test]
fn start_exits_1_when_no_declaration_can_run() {
    let port = free_base_port();
    let mut daemon = Daemon::new(&[]);
    // Two newcomers in conflict: neither can be preferred, neither runs.
    for (name, at) in [("a", port), ("b", port + 20)] {
        let text = sim_declaration(daemon.path(), name, at, "");
        fs::write(daemon.dir.join(format!("{name}.yaml")), text).expect("write");
    }
    fs::write(daemon.dir.join("typo.yaml"), "port: [\n").expect("write typo.yaml");
    let (status, stderr) = daemon.start_expecting_exit(&[]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    for words in ["no declaration can run", "typo.yaml:1:", "a.yaml", "b.yaml"] {
        assert!(stderr.contains(words), "`{words}` not in: {stderr}");
    }
    assert!(tagged(&daemon.tag).is_empty(), "nothing was spawned");
}

#[path = "supervise/exiting.rs"]
mod exiting;
#[path = "supervise/full_disk.rs"]
mod full_disk;
#[path = "supervise/keepers.rs"]
mod keepers;
#[path = "supervise/outlive.rs"]
mod outlive;
#[path = "supervise/records.rs"]
mod records;

/// A listener of the test's own (not a gateway) on alpha's port at `host`
/// fails alpha, naming the holder, and only alpha, until it is dropped.
fn a_port_held_on(host: &str) {
    let (mut daemon, port) = Daemon::prepare(&[
        (
            "alpha",
            "restart: { backoff: { initial: 100ms, max: 200ms } }",
        ),
        ("bravo", ""),
    ]);
    let holder = std::net::TcpListener::bind((host, port)).expect("hold alpha's port");
    daemon.start();
    daemon.wait_state("bravo", "running");
    let me = format!("pid {}", std::process::id());
    let alpha = wait_for("alpha to name the holder", || {
        daemon.instance("alpha").filter(|alpha| {
            alpha["state"] != "running" && alpha["last_error_lines"].to_string().contains(&me)
        })
    });
    assert!(
        alpha["last_error_lines"]
            .to_string()
            .contains(&format!("port {port} is held by {me}")),
        "{alpha}"
    );
    assert!(alpha["pid"].is_null(), "never spawned: {alpha}");
    drop(holder);
    daemon.wait_state("alpha", "running");
    assert_eq!(daemon.state("bravo").as_deref(), Some("running"));
}

#[test]
fn a_port_held_by_another_process_fails_only_that_instance_until_it_is_free() {
    a_port_held_on("127.0.0.1");
}

#[test]
fn a_port_held_on_the_ipv6_loopback_alone_is_refused_too() {
    // The gateway would serve on 127.0.0.1 only, while `localhost` clients
    // reach the holder on ::1.
    a_port_held_on("::1");
}
