//! Every client command end to end against the real daemon.

use std::fs;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::daemon_support::*;
use crate::support::*;
use serde_json::Value;

#[test]
fn status_as_a_table_as_json_and_for_one_instance() {
    let (daemon, port) =
        Daemon::gateways(&[("main", ""), ("rescue", "role: rescue\nrescue_of: main")]);
    let main_pid = pid_of(&daemon.wait_state("main", "running"));
    let rescue_pid = pid_of(&daemon.wait_state("rescue", "running"));

    let table = ok(&daemon, &["status"]);
    assert!(
        !table.contains('\x1b'),
        "no colours off a terminal: {table:?}"
    );
    let rows: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows[0],
        [
            "NAME", "ROLE", "STATE", "PID", "UPTIME", "RESTARTS", "HEALTH", "PORT", "CPU", "MEM"
        ]
    );
    for (row, (name, pid, base)) in rows[1..].iter().zip([
        ("main", main_pid, port),
        ("rescue", rescue_pid, port + 1000),
    ]) {
        assert_eq!(row.len(), 10, "{table}");
        assert_eq!(
            &row[..4],
            [name, name, "running", &pid.to_string()],
            "{table}"
        );
        assert_eq!(row[7], base.to_string());
        assert!(row[8].ends_with('%') && row[9].ends_with("iB"), "{table}");
    }

    let json = daemon.status_json();
    let main = &json["instances"][0];
    assert_eq!(main["name"], "main");
    assert_eq!(main["role"], "main");
    assert_eq!(main["ports"]["base"], port);
    assert_eq!(main["ports"]["block_end"], port + 110);
    assert!(main["cpu_percent"].is_number(), "{main}");
    assert!(
        main["memory_bytes"].as_u64().unwrap_or(0) > 1024 * 1024,
        "{main}"
    );
    assert_eq!(main["probes"]["startup"]["ok"], true);
    assert!(
        main["declaration_file"]
            .as_str()
            .is_some_and(|f| f.ends_with("supervisor.d/main.yaml")),
        "{main}"
    );
    assert_eq!(json["instances"][1]["rescue_of"], "main");
    assert_eq!(json["rejected"], serde_json::json!([]));

    let detail = ok(&daemon, &["status", "main"]);
    assert!(detail.starts_with("main (main): running\n"), "{detail}");
    for wanted in [
        format!("pid          {main_pid}"),
        format!("ports        {port} (block {port}-{})", port + 110),
        format!(
            "config       {}",
            daemon.path().join("instances/main/openclaw.json").display()
        ),
    ] {
        assert!(detail.contains(&wanted), "{wanted:?} in {detail}");
    }
    let one: Value = serde_json::from_str(&ok(&daemon, &["status", "main", "--json"]))
        .expect("status NAME --json is JSON");
    assert_eq!(one["instances"].as_array().map(Vec::len), Some(1));
    assert_eq!(one["instances"][0]["name"], "main");
}

#[test]
fn stop_start_restart_and_signal_act_on_the_named_instance_only() {
    let (daemon, _) = Daemon::gateways(&[
        ("main", "restart: { backoff: { initial: 50ms } }"),
        ("other", ""),
    ]);
    let first = pid_of(&daemon.wait_state("main", "running")) as i32;
    let other = pid_of(&daemon.wait_state("other", "running"));

    assert_eq!(ok(&daemon, &["stop", "main"]), "main: stopping\n");
    let stopped = daemon.wait_state("main", "stopped");
    assert!(stopped["pid"].is_null() && !alive(first), "{stopped}");
    let nothing = run(&daemon, &["signal", "main", "HUP"]);
    assert_eq!(nothing.code, 1, "{}", nothing.out);
    assert!(
        nothing
            .err
            .contains("main has no running gateway to signal (it is stopped)"),
        "{}",
        nothing.err
    );

    assert_eq!(ok(&daemon, &["start", "main"]), "main: starting\n");
    let second = daemon.wait_new_pid("main", None);
    daemon.wait_state("main", "running");

    assert_eq!(
        ok(&daemon, &["restart", "main"]),
        "main: stopping, then starting again\n"
    );
    let third = daemon.wait_new_pid("main", Some(second));
    assert!(!alive(second));
    daemon.wait_state("main", "running");

    // The simulator stops cleanly on SIGTERM; policy `always` brings it back.
    assert_eq!(
        ok(&daemon, &["signal", "main", "TERM"]),
        "main: sent SIGTERM\n"
    );
    daemon.wait_new_pid("main", Some(third));
    let main = daemon.wait_state("main", "running");
    assert_eq!(main["last_exit"]["code"], 0, "{main}");

    let other_now = daemon.instance("other").expect("other");
    assert_eq!(pid_of(&other_now), other);
    assert_eq!(other_now["restarts"], 0);
}

#[test]
fn logs_print_the_tail_and_follow_new_lines() {
    let (daemon, port) = Daemon::gateways(&[("main", "")]);
    let pid = pid_of(&daemon.wait_state("main", "running"));
    let listening = |pid: i64| format!("listening on 127.0.0.1:{port} (PID {pid})");

    let tail = ok(&daemon, &["logs", "main", "-n", "5"]);
    let lines: Vec<&str> = tail.lines().collect();
    assert!((1..=5).contains(&lines.len()), "{tail}");
    assert!(tail.contains(&listening(pid)), "{tail}");
    assert_eq!(ok(&daemon, &["logs", "main", "-n", "1"]).lines().count(), 1);

    // The tail line proves the follower is subscribed; then a restart.
    let mut follower = Follower::spawn(&daemon, &["logs", "main", "-f", "-n", "1"]);
    follower.wait_line("the tail", |_| true);
    ok(&daemon, &["restart", "main"]);
    let new = daemon.wait_new_pid("main", Some(pid as i32));
    follower.wait_line("the new gateway's listening line", |line| {
        line.contains(&listening(new as i64))
    });
}

#[test]
fn events_stream_state_changes_as_json_and_as_text() {
    let (daemon, _) = Daemon::gateways(&[("main", "")]);
    let pid = pid_of(&daemon.wait_state("main", "running")) as i32;

    let mut events = Events::follow(&daemon);
    ok(&daemon, &["restart", "main"]);
    let new = daemon.wait_new_pid("main", Some(pid));
    let command = events.wait("the operator's restart", |event| {
        event["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("restart"))
    });
    assert_eq!(command["kind"], "command", "{command}");
    assert_eq!(command["instance"], "main");
    let spawned = events.wait("main spawned", is("main", "spawned"));
    assert!(spawned["at"].as_u64().is_some_and(|at| at > 0), "{spawned}");
    assert!(
        spawned["detail"]
            .as_str()
            .unwrap_or("")
            .contains(&new.to_string()),
        "{spawned}"
    );

    // Text: one line per event, time, instance, kind, detail.
    let mut text = Follower::spawn(&daemon, &["events"]);
    let start = Instant::now();
    let line = loop {
        ok(&daemon, &["signal", "main", "CONT"]);
        if let Some(line) = text.next_within(Duration::from_millis(200)) {
            break line;
        }
        assert!(start.elapsed() < DEADLINE, "no text event arrived");
    };
    let words: Vec<&str> = line.split_whitespace().collect();
    assert!(words[0].ends_with('Z'), "{line}");
    assert_eq!(
        words[1..],
        ["main", "command", "signal", "SIGCONT", "by", "operator"]
    );
}

#[test]
fn readiness_turning_failing_and_back_is_an_event_and_in_the_table() {
    let (daemon, port) = Daemon::gateways(&[(
        "main",
        "probes: { readiness: { every: 100ms, failures: 2 } }",
    )]);
    daemon.wait_state("main", "running");
    let mut events = Events::follow(&daemon);
    sim_post(port, "/__sim/ready?failing=discord");
    let failing = events.wait("readiness failing", |event| {
        event["kind"] == "probe_changed"
    });
    let detail = failing["detail"].as_str().unwrap_or_default();
    assert!(
        detail.starts_with("readiness failing (2 in a row), failing: discord"),
        "{failing}"
    );
    let table = ok(&daemon, &["status"]);
    assert!(table.contains("not ready: discord"), "{table}");

    sim_post(port, "/__sim/ready?failing=");
    let passing = events.wait("readiness passing", |event| {
        event["kind"] == "probe_changed"
    });
    assert_eq!(passing["detail"], "readiness passing again", "{passing}");
    assert_eq!(passing["instance"], "main");
}

#[test]
fn reload_check_and_version_answer_through_the_socket() {
    let (daemon, port) = Daemon::gateways(&[("main", "")]);
    let main_pid = pid_of(&daemon.wait_state("main", "running"));

    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        ok(&daemon, &["version"]),
        format!("client {version}\nsupervisor {version} (protocol 1)\n")
    );
    let mut events = Events::follow(&daemon);
    assert_eq!(
        ok(&daemon, &["reload"]),
        "reloaded: 0 added, 0 restarted, 0 updated, 0 removed, 0 rejected\n"
    );
    let reloaded = events.wait("the reloaded event", |event| event["kind"] == "reloaded");
    assert!(reloaded["instance"].is_null(), "{reloaded}");
    assert_eq!(reloaded["detail"], "nothing changed");
    let (sound, report) = socket_check(&daemon);
    assert!(sound, "{report:#}");
    assert_eq!(report["effective"][0]["name"], "main", "{report:#}");

    // A new file is picked up (by the watcher or by this reload).
    fs::write(
        daemon.dir.join("other.yaml"),
        sim_declaration(daemon.path(), "other", port + 1000, ""),
    )
    .expect("declaration");
    assert!(ok(&daemon, &["reload"]).starts_with("reloaded: "));
    daemon.wait_state("other", "running");

    // A file that takes main's ports: refused, named, and main runs on.
    fs::write(
        daemon.dir.join("copy.yaml"),
        sim_declaration(daemon.path(), "copy", port, ""),
    )
    .expect("declaration");
    let reload = run(&daemon, &["reload"]);
    assert_eq!(reload.code, 1, "{}{}", reload.out, reload.err);
    assert!(reload.err.contains("1 rejected"), "{}", reload.err);
    let status = daemon.status_json();
    let rejected = status["rejected"].to_string();
    assert!(rejected.contains("copy.yaml"), "{status:#}");
    assert!(daemon.instance("copy").is_none());
    let table = ok(&daemon, &["status"]);
    assert!(table.contains("rejected "), "{table}");
    let (sound, report) = socket_check(&daemon);
    assert!(!sound, "{report:#}");
    assert!(
        report["problems"].to_string().contains("copy"),
        "{report:#}"
    );
    assert_eq!(pid_of(&daemon.instance("main").expect("main")), main_pid);
    // The offline check agrees, with its exit code.
    let offline = run(&daemon, &["check"]);
    assert_eq!(offline.code, 1, "{}{}", offline.out, offline.err);
}

#[test]
fn unknown_instance_is_exit_1_and_no_supervisor_is_exit_3() {
    let (daemon, _) = Daemon::gateways(&[("main", ""), ("other", "")]);
    let commands: [&[&str]; 7] = [
        &["status", "nope"],
        &["start", "nope"],
        &["stop", "nope"],
        &["restart", "nope"],
        &["signal", "nope", "TERM"],
        &["logs", "nope"],
        &["logs", "nope", "-f"],
    ];
    for args in commands {
        let ran = run(&daemon, args);
        // `status NAME` has systemctl's code for no such unit.
        let code = if args[0] == "status" { 4 } else { 1 };
        assert_eq!(ran.code, code, "{args:?}: {}{}", ran.out, ran.err);
        assert_eq!(
            ran.err, "openclaw-supervisor: no instance named `nope`; known: main, other\n",
            "{args:?}"
        );
        assert_eq!(ran.out, "", "{args:?}");
    }

    let nowhere = daemon.path().join("nowhere.sock");
    for args in [
        &["status"][..],
        &["stop", "main"],
        &["events"],
        &["logs", "main", "-f"],
    ] {
        let output = Command::new(SUPERVISOR)
            .arg("--socket")
            .arg(&nowhere)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run the client");
        let err = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{args:?}: {err}");
        assert!(
            err.contains("not running") && err.contains(&nowhere.display().to_string()),
            "{err}"
        );
    }
}

#[test]
fn shutdown_stops_every_gateway_and_the_supervisor_exits_0() {
    let (mut daemon, _) = Daemon::gateways(&[("main", ""), ("other", "")]);
    let gateways = [
        pid_of(&daemon.wait_state("main", "running")) as i32,
        pid_of(&daemon.wait_state("other", "running")) as i32,
    ];
    let mut events = Events::follow(&daemon);

    assert_eq!(
        ok(&daemon, &["shutdown"]),
        "shutting down: every gateway is being stopped\n"
    );
    let status = daemon.wait_exit();
    assert!(status.success(), "exit 0, got {status}");
    for pid in gateways {
        assert!(!alive(pid), "gateway {pid} outlived the supervisor");
    }
    assert!(!daemon.socket.exists(), "the socket file is removed");
    // The open event stream was ended, and the follower exited 0.
    let exit = wait_for("the events follower to exit", || {
        events.stream.child.try_wait().expect("try_wait")
    });
    assert!(exit.success(), "{exit}");
    assert!(tagged(&daemon.tag).is_empty(), "{:?}", tagged(&daemon.tag));
    assert_eq!(run(&daemon, &["status"]).code, 3);
}

#[test]
fn a_gateway_that_colours_its_output_is_shown_and_kept_without_escapes() {
    // FORCE_COLOR in `env:` keeps the supervisor's NO_COLOR away, so the
    // simulator colours every line as the real gateway does into a pipe.
    let (daemon, port) = Daemon::gateways(&[("main", "env: { FORCE_COLOR: '1' }")]);
    daemon.wait_state("main", "running");
    let tail = ok(&daemon, &["logs", "main", "-n", "20"]);
    assert!(tail.contains("[gateway]"), "{tail}");
    assert!(!tail.contains('\x1b'), "logs: {tail:?}");
    crash(port, 78);
    let failed = daemon.wait_state("main", "failed");
    let reason = failed.to_string();
    assert!(reason.contains("[gateway]"), "{reason}");
    assert!(!reason.contains("\\u001b"), "status: {reason}");
    let file = fs::read_to_string(daemon.state_dir.join("logs").join("main.log")).expect("log");
    assert!(
        file.contains("[gateway]") && !file.contains('\x1b'),
        "{file:?}"
    );
}

#[test]
fn restart_refuses_a_config_openclaw_refuses_and_keeps_the_running_gateway() {
    let (daemon, port) = Daemon::gateways(&[("main", "")]);
    let healthy = pid_of(&daemon.wait_state("main", "running")) as i32;
    let mut events = Events::follow(&daemon);
    let config = daemon.path().join("instances/main/openclaw.json");
    let sound = fs::read_to_string(&config).expect("main's config");
    fs::write(
        &config,
        format!("{{ gateway: {{ mode: \"local\", port: {port}, wibble: 1 }} }}\n"),
    )
    .expect("an unknown key");

    let refused = run(&daemon, &["restart", "main"]);
    assert_eq!(refused.code, 1, "{}{}", refused.out, refused.err);
    for words in [
        "not restarting main: openclaw refuses its config",
        "  gateway: Unrecognized key: \"wibble\"",
        "restart --force main",
    ] {
        assert!(
            refused.err.contains(words),
            "`{words}` not in {}",
            refused.err
        );
    }
    // Forced, the new gateway refuses the config as the real one does. The
    // refused restart sent nothing: the forced one is the only restart,
    // and it stopped the healthy gateway.
    assert_eq!(
        ok(&daemon, &["restart", "--force", "main"]),
        "main: stopping, then starting again\n"
    );
    let failed = daemon.wait_state("main", "failed");
    assert_eq!(failed["last_exit"]["code"], 78, "{failed}");
    assert!(!alive(healthy));
    let command = |detail: &'static str| {
        move |event: &Value| {
            event["instance"] == "main"
                && event["kind"] == "command"
                && event["detail"]
                    .as_str()
                    .is_some_and(|d| d.starts_with(detail))
        }
    };
    let refusal = events.wait("the refusal", command("restart refused"));
    assert_eq!(
        refusal["detail"],
        "restart refused: openclaw refuses the config: gateway: Unrecognized key: \"wibble\""
    );
    events.wait("the forced restart", command("restart by operator"));
    assert_eq!(events.seen_count(command("restart by operator")), 1);

    // Fixed: a restart validates it (nothing runs, so nothing to keep) and
    // starts it.
    fs::write(&config, sound).expect("fix the config");
    // Started from failed, or (the config watcher saw the fix first and
    // started it) stopped to start again: the reply says which.
    let restarted = ok(&daemon, &["restart", "main"]);
    assert!(
        ["main: starting\n", "main: stopping, then starting again\n"].contains(&restarted.as_str()),
        "{restarted}"
    );
    let running = pid_of(&daemon.wait_state("main", "running")) as i32;
    // A running gateway with a sound config restarts after validation.
    assert_eq!(
        ok(&daemon, &["restart", "main"]),
        "main: stopping, then starting again\n"
    );
    daemon.wait_new_pid("main", Some(running));
}

#[test]
fn restart_goes_on_with_a_note_when_the_command_gives_no_verdict() {
    // An openclaw without `config validate`: no verdict, the restart goes on.
    let (daemon, _) =
        Daemon::gateways(&[("main", "env: { OPENCLAW_SIM_VALIDATE_UNKNOWN: \"1\" }")]);
    let pid = pid_of(&daemon.wait_state("main", "running")) as i32;
    assert_eq!(
        ok(&daemon, &["restart", "main"]),
        "main: stopping, then starting again (its config was not validated: `config validate --json` exited 1 without a JSON verdict: error: unknown command 'config')\n"
    );
    daemon.wait_new_pid("main", Some(pid));
}

#[test]
fn the_cpu_figure_is_the_instances_and_the_same_for_clients_asking_in_a_row() {
    let (daemon, _) = Daemon::gateways(&[("busy", "env: { OPENCLAW_SIM_BUSY: \"1\" }")]);
    daemon.wait_state("busy", "running");
    let cpu = || {
        let busy = daemon.instance("busy").expect("busy");
        busy["cpu_percent"]
            .as_f64()
            .unwrap_or_else(|| panic!("a figure: {busy}"))
    };
    // Clients asking in a row share the daemon's newest reading (one a
    // second at most), so a pair asked back to back agrees unless a new
    // reading fell between them; of three pairs, one at least agrees.
    let pairs: Vec<(f64, f64)> = (0..3).map(|_| (cpu(), cpu())).collect();
    assert!(
        pairs.iter().all(|(a, b)| *a > 0.0 && *b > 0.0),
        "a spinning gateway uses CPU: {pairs:?}"
    );
    assert!(
        pairs.iter().any(|(a, b)| a == b),
        "one figure for every client: {pairs:?}"
    );
}
