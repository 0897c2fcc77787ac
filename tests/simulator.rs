//! The gateway simulator speaks the real gateway's contract.
#![allow(clippy::disallowed_methods)] // A test starts the programs it tests.

mod sim_support;

use std::fs;
use std::net::{Ipv6Addr, TcpListener, TcpStream};
use std::time::Duration;

use nix::sys::signal::Signal;
use nix::unistd::{Pid, getpgid, getsid};
use sim_support::{DEADLINE, Sim, get, http, http_to, sim_command, wait_for};

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
fn exits_78_without_a_config() {
    let mut sim = Sim::prepare();
    fs::remove_file(sim.dir.path().join("openclaw.json")).expect("remove config");
    sim.spawn(&[], &[]);
    assert_eq!(exit_code(&mut sim), Some(78));
    let stderr = sim.stderr();
    assert!(stderr.contains("Missing config"), "{stderr}");
    assert!(
        stderr.contains("set gateway.mode=local or pass --allow-unconfigured"),
        "{stderr}"
    );
}

#[test]
fn an_unknown_config_key_exits_78_with_the_real_lines() {
    let mut sim = Sim::prepare();
    let config = sim.dir.path().join("openclaw.json");
    fs::write(&config, "{ gateway: { mode: 'local', wibble: 1 } }").expect("write config");
    sim.spawn(&[], &[("NO_COLOR", "1")]);
    assert_eq!(exit_code(&mut sim), Some(78));
    let stderr = sim.stderr();
    // openclaw 2026.9.6 wrote these lines (each timestamped line without a tag).
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 5, "{stderr}");
    assert!(
        lines[0].ends_with(&format!(
            " Gateway failed to start: Invalid config at {}:",
            config.display()
        )),
        "{stderr}"
    );
    assert_eq!(
        &lines[1..4],
        [
            "openclaw.json:1 \u{2014} gateway: Unrecognized key: \"wibble\"",
            "Run \"openclaw doctor --fix\" to repair, then retry.",
            "If startup is still blocked, inspect the adjacent .bak backup before restoring it manually.",
        ]
    );
    assert!(
        lines[4].ends_with(" Run \"openclaw doctor --fix\" to repair the config, then retry."),
        "{stderr}"
    );
}

#[test]
fn config_validate_answers_like_openclaw() {
    let sim = Sim::prepare();
    let config = sim.dir.path().join("openclaw.json");
    let validate = |json: bool| {
        let mut command = std::process::Command::new(sim_support::SIM);
        command
            .args(["config", "validate"])
            .env_clear()
            .env("OPENCLAW_CONFIG_PATH", &config)
            .env("HOME", sim.dir.path());
        if json {
            command.arg("--json");
        }
        command.output().expect("run the simulator")
    };
    let sound = validate(true);
    assert_eq!(sound.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&sound.stdout),
        format!(
            "{{\"valid\":true,\"path\":\"{}\",\"warnings\":[]}}\n",
            config.display()
        )
    );
    fs::write(&config, "{ gateway: { mode: 'local', wibble: 1 } }").expect("write config");
    let broken = validate(true);
    assert_eq!(broken.status.code(), Some(1));
    let answer: serde_json::Value = serde_json::from_slice(&broken.stdout).expect("JSON");
    assert_eq!(answer["valid"], false);
    assert_eq!(
        answer["issues"],
        serde_json::json!([{ "path": "gateway", "message": "Unrecognized key: \"wibble\"" }])
    );
    let text = validate(false);
    assert_eq!(text.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&text.stderr).starts_with(
            "OpenClaw config is invalid: ~/openclaw.json\n  \u{d7} openclaw.json:1 \u{2014} gateway: Unrecognized key: \"wibble\"\n"
        ),
        "{}",
        String::from_utf8_lossy(&text.stderr)
    );
}

#[test]
fn allow_unconfigured_starts_without_a_config() {
    let mut sim = Sim::prepare();
    fs::remove_file(sim.dir.path().join("openclaw.json")).expect("remove config");
    sim.spawn(&["--allow-unconfigured"], &[]);
    sim.wait_listening();
}

#[test]
fn bad_configs_exit_78() {
    // (config text, words the message must contain)
    let rows = [
        ("{ gateway: { mode: 'local' ", "Invalid config"),
        ("{ gateway: { port: 1 } }", "gateway.mode=local"),
        ("[1, 2]", "top level"),
    ];
    for (text, needle) in rows {
        let mut sim = Sim::prepare();
        fs::write(sim.dir.path().join("openclaw.json"), text).expect("write config");
        sim.spawn(&[], &[]);
        assert_eq!(exit_code(&mut sim), Some(78), "config {text}");
        assert!(
            sim.stderr().contains(needle),
            "config {text}: {}",
            sim.stderr()
        );
    }
}

#[test]
fn exit_code_on_request_comes_before_the_config() {
    let mut sim = Sim::prepare();
    fs::remove_file(sim.dir.path().join("openclaw.json")).expect("remove config");
    sim.spawn(&[], &[("OPENCLAW_SIM_EXIT_CODE", "3")]);
    assert_eq!(exit_code(&mut sim), Some(3));
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
fn a_live_gateway_owns_its_state_dir() {
    let first = Sim::start(&[], &[]);
    let mut second = Sim::prepare();
    let mut command = sim_command(first.dir.path(), second.port, &[], &[]);
    // Same state dir and config, own logs.
    command.stderr(fs::File::create(second.dir.path().join("stderr.log")).expect("stderr"));
    command.stdout(fs::File::create(second.dir.path().join("stdout.log")).expect("stdout"));
    second.child = Some(command.spawn().expect("spawn"));
    assert_eq!(exit_code(&mut second), Some(78));
    assert!(
        second.stderr().contains("already running"),
        "{}",
        second.stderr()
    );
    assert_eq!(first.lock_files().len(), 1);
}

#[test]
fn a_stale_lock_is_reclaimed() {
    let mut sim = Sim::prepare();
    sim.spawn(&["--sim-crash-after", "0s"], &[]);
    assert_eq!(exit_code(&mut sim), Some(1));
    assert_eq!(sim.lock_files().len(), 1, "a crash leaves its lock behind");
    sim.spawn(&[], &[]);
    sim.status = None;
    sim.wait_listening();
    let locks = sim.lock_files();
    assert_eq!(locks.len(), 1);
    let record: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&locks[0]).expect("read lock")).expect("json");
    assert_eq!(
        record["pid"],
        sim.pid().as_raw(),
        "the new gateway took the lock"
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

/// A simulator spawned while the test holds its port on `host`.
fn spawned_with_the_port_held_on(host: &str) -> (Sim, TcpListener) {
    let mut sim = Sim::prepare();
    let holder = TcpListener::bind((host, sim.port)).expect("hold the port");
    sim.spawn(&[], &[]);
    (sim, holder)
}

#[test]
fn port_in_use_on_127_0_0_1_exits_1_with_the_real_lines_naming_the_holder() {
    let (mut sim, _holder) = spawned_with_the_port_held_on("127.0.0.1");
    let port = sim.port;
    assert_eq!(exit_code(&mut sim), Some(1));
    let stderr = sim.stderr();
    for line in [
        format!(
            "Gateway failed to start: another gateway instance is already listening on ws://127.0.0.1:{port}"
        ),
        "If the gateway is supervised, stop it with: openclaw gateway stop".to_string(),
        format!("Port {port} is already in use."),
        format!("- pid {}: ", std::process::id()),
        format!("(127.0.0.1:{port})"),
    ] {
        assert!(stderr.contains(&line), "{line:?} in {stderr}");
    }
    assert!(sim.lock_files().is_empty());
}

#[test]
fn it_serves_on_both_loopback_addresses() {
    let sim = Sim::start(&[], &[]);
    let port = sim.port;
    wait_for("both listeners", || {
        sim.stdout()
            .contains(&format!("listening on [::1]:{port} (PID {})", sim.pid()))
            .then_some(())
    });
    let (status, _) = http_to(
        std::net::SocketAddr::new(Ipv6Addr::LOCALHOST.into(), port),
        "GET",
        "/healthz",
        DEADLINE,
    )
    .expect("answers on [::1]");
    assert_eq!(status, 200);
}

#[test]
fn port_in_use_on_the_ipv6_loopback_alone_is_a_warning_and_127_0_0_1_is_served() {
    let (mut sim, holder) = spawned_with_the_port_held_on("::1");
    let port = sim.port;
    sim.wait_listening();
    let warning = format!(
        "failed to bind loopback alias ::1:{port} (GatewayLockError: another gateway instance is already listening on ws://::1:{port})"
    );
    wait_for("the real gateway's warning", || {
        sim.stdout().contains(&warning).then_some(())
    });
    // Tagged `[gateway]` like every line, as the real one prints it.
    assert!(
        sim.stdout().contains(&format!("[gateway] {warning}")),
        "{}",
        sim.stdout()
    );
    assert_eq!(sim.try_exit(), None, "it goes on");
    assert_eq!(get(port, "/healthz").expect("127.0.0.1").0, 200);
    // A client of [::1] reaches the holder, not the gateway.
    let _client = TcpStream::connect(("::1", port)).expect("connect [::1]");
    holder.accept().expect("the holder has the client");
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

#[test]
fn test_ports_are_claimed_below_the_ephemeral_range_and_never_shared() {
    let (ephemeral_low, _) = sim_support::ephemeral_range();
    let mine = sim_support::claim_ports(2_111);
    assert!(u32::from(mine) + 2_111 <= u32::from(ephemeral_low));
    // Another test running now (here: another thread) gets other ports.
    let theirs = std::thread::spawn(|| sim_support::claim_ports(2_111))
        .join()
        .expect("the other claim");
    assert!(
        theirs >= mine + 2_111 || mine >= theirs + 2_111,
        "{mine} and {theirs}"
    );
    // A port plain bind would have handed out comes from the ephemeral range.
    let os_pick = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("an OS-picked port")
        .port();
    assert!(
        os_pick >= ephemeral_low,
        "why the tests no longer ask the OS"
    );
}
