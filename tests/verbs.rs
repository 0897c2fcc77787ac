//! Verbs on several instances, `--wait`, and systemctl's exit codes, with
//! the real binary over simulated gateways.
#![allow(clippy::disallowed_methods)] // A test starts the programs it tests.

mod daemon_support;

use std::process::Output;
use std::time::Duration;

use daemon_support::*;
use openclaw_supervisor::protocol::{Request, Response};

/// Probes fast enough for tests: startup every 100 ms, readiness every 200 ms.
const FAST: &str = "probes:\n  \
    startup: { every: 100ms, timeout: 20s }\n  \
    liveness: { every: 200ms, timeout: 300ms, failures: 3 }\n  \
    readiness: { every: 200ms, timeout: 300ms, failures: 2 }";

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The exit code, with both streams in the message when it is not `code`.
fn expect_code(output: &Output, code: i32) -> (String, String) {
    let (out, err) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout:\n{out}\nstderr:\n{err}"
    );
    (out, err)
}

fn pid(daemon: &Daemon, name: &str) -> Option<i64> {
    daemon.instance(name)?["pid"].as_i64()
}

#[test]
fn verbs_take_several_names_and_all() {
    let rescue = format!("role: rescue\nrescue_of: main\nstandby: true\n{FAST}");
    let (daemon, _) = Daemon::gateways(&[("main", FAST), ("other", FAST), ("rescue", &rescue)]);
    daemon.wait_state("main", "running");
    daemon.wait_state("other", "running");

    // `all` stops both gateways and leaves the waiting rescue armed.
    let output = daemon.client(&["stop", "all", "--wait", "--timeout", "30s"]);
    let (out, err) = expect_code(&output, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..2], ["main: stopping", "other: stopping"], "{out}");
    assert!(lines[2].starts_with("rescue: left in standby"), "{out}");
    assert!(err.contains("main: stopped after"), "{err}");
    assert!(err.contains("other: stopped after"), "{err}");
    // --wait returned only once they were stopped.
    for name in ["main", "other"] {
        let status = daemon.instance(name).expect(name);
        assert_eq!(status["state"], "stopped", "{status}");
        assert!(status["pid"].is_null(), "{status}");
    }
    assert_eq!(daemon.state("rescue").as_deref(), Some("standby"));

    // An unknown name among good ones: the others are still started, in
    // order, each on its line; the unknown one makes the exit 1.
    let output = daemon.client(&[
        "start",
        "other",
        "nope",
        "main",
        "--wait",
        "--timeout",
        "30s",
    ]);
    let (out, err) = expect_code(&output, 1);
    assert_eq!(out, "other: starting\nmain: starting\n");
    assert!(err.contains("no instance named `nope`"), "{err}");
    assert!(err.contains("main: ready after"), "{err}");
    assert!(err.contains("other: ready after"), "{err}");
    for name in ["main", "other"] {
        let status = daemon.instance(name).expect(name);
        assert_eq!(status["state"], "running", "{status}");
        assert_eq!(status["probes"]["readiness"]["ok"], true, "{status}");
    }

    // A restart --wait returns with new, ready processes.
    let old = (pid(&daemon, "main"), pid(&daemon, "other"));
    let output = daemon.client(&["restart", "--force", "all", "--wait", "--timeout", "30s"]);
    let (out, _) = expect_code(&output, 0);
    assert!(
        out.starts_with(
            "main: stopping, then starting again\nother: stopping, then starting again\n"
        ),
        "{out}"
    );
    let new = (pid(&daemon, "main"), pid(&daemon, "other"));
    assert!(new.0.is_some() && new.0 != old.0, "{old:?} {new:?}");
    assert!(new.1.is_some() && new.1 != old.1, "{old:?} {new:?}");
    assert_eq!(daemon.state("rescue").as_deref(), Some("standby"));

    // `all` goes alone.
    let output = daemon.client(&["stop", "all", "main"]);
    let (_, err) = expect_code(&output, 1);
    assert!(err.contains("give it alone"), "{err}");
    assert_eq!(daemon.state("main").as_deref(), Some("running"));
}

#[test]
fn a_wait_times_out_on_a_gateway_that_never_gets_ready() {
    let extra = format!("env: {{ OPENCLAW_SIM_READY_FAILING: discord }}\n{FAST}");
    let (daemon, _) = Daemon::gateways(&[("main", &extra)]);
    daemon.wait_state("main", "running");
    let output = daemon.client(&["stop", "main", "--wait", "--timeout", "30s"]);
    expect_code(&output, 0);

    let output = daemon.client(&["start", "main", "--wait", "--timeout", "2s"]);
    let (out, err) = expect_code(&output, 1);
    assert_eq!(out, "main: starting\n");
    assert!(err.contains("main: timed out after 2.0 s; now "), "{err}");
    assert!(!err.contains("ready after"), "{err}");
    // It runs (not ready), so that is what the timeout said it was doing.
    let status = daemon.wait_state("main", "running");
    assert_eq!(status["probes"]["readiness"]["ok"], false, "{status}");
}

#[test]
fn a_wait_fails_early_when_the_gateway_exits_78() {
    let extra = format!("env: {{ OPENCLAW_SIM_EXIT_CODE: \"78\" }}\n{FAST}");
    let (daemon, _) = Daemon::gateways(&[("main", &extra)]);
    daemon.wait_state("main", "failed");
    // A long timeout: only the failure can end this wait in time.
    let output = daemon.client(&["start", "main", "--wait", "--timeout", "10m"]);
    let (out, err) = expect_code(&output, 1);
    assert_eq!(out, "main: starting\n");
    assert!(err.contains("main: failed"), "{err}");
    assert!(err.contains("exit 78"), "{err}");
    assert!(!err.contains("timed out"), "{err}");
}

#[test]
fn a_wait_fails_early_when_the_gateway_crashes_into_backoff() {
    // It crashes before its startup probe can pass, every time.
    let extra = format!(
        "env: {{ OPENCLAW_SIM_START_DELAY: 60s, OPENCLAW_SIM_CRASH_AFTER: 300ms }}\n\
         restart: {{ backoff: {{ initial: 60s, max: 60s }} }}\n{FAST}"
    );
    let (daemon, _) = Daemon::gateways(&[("main", &extra)]);
    daemon.wait_state("main", "backoff");
    let output = daemon.client(&["start", "main", "--wait", "--timeout", "10m"]);
    let (out, err) = expect_code(&output, 1);
    assert_eq!(out, "main: starting\n");
    // (Its `starting` may come and go between two readings: no line then.)
    assert!(
        err.contains("main: went into backoff after a crash"),
        "{err}"
    );
    assert!(err.contains("sim: crashing with exit code 1"), "{err}");
    assert!(!err.contains("timed out"), "{err}");
}

#[test]
fn is_active_and_status_exit_as_systemctl() {
    let (daemon, _) = Daemon::gateways(&[("main", FAST), ("other", FAST)]);
    daemon.wait_state("main", "running");
    let output = daemon.client(&["stop", "other", "--wait", "--timeout", "30s"]);
    expect_code(&output, 0);

    let (out, _) = expect_code(&daemon.client(&["is-active", "main"]), 0);
    assert_eq!(out, "running\n");
    let (out, err) = expect_code(&daemon.client(&["is-active", "main", "other", "nope"]), 3);
    assert_eq!(out, "running\nstopped\nunknown\n");
    assert!(
        err.contains("not active: other (stopped), nope (unknown)"),
        "{err}"
    );
    let (out, err) = expect_code(&daemon.client(&["is-active", "--quiet", "other"]), 3);
    assert_eq!((out.as_str(), err.as_str()), ("", ""));

    let (out, err) = expect_code(&daemon.client(&["status", "main"]), 0);
    assert!(out.starts_with("main (main): running"), "{out}");
    assert_eq!(err, "");
    let (out, err) = expect_code(&daemon.client(&["status", "other"]), 3);
    assert!(out.starts_with("other (main): stopped"), "{out}");
    assert!(err.contains("other is not running (stopped)"), "{err}");
    expect_code(&daemon.client(&["status", "--json", "other"]), 3);
    let (_, err) = expect_code(&daemon.client(&["status", "nope"]), 4);
    assert!(err.contains("no instance named `nope`"), "{err}");
    // The table of all is 0 whatever the states.
    expect_code(&daemon.client(&["status"]), 0);

    // No supervisor: 3 too, and stderr says which.
    let none = |args: &[&str]| {
        std::process::Command::new(SUPERVISOR)
            .args(["--socket", "/nonexistent/none.sock"])
            .args(args)
            .output()
            .expect("run the client")
    };
    let output = none(&["status", "main"]);
    let (_, err) = expect_code(&output, 3);
    assert!(err.contains("the supervisor is not running"), "{err}");
    let (out, _) = expect_code(&none(&["start", "main", "other", "--wait"]), 3);
    assert_eq!(out, "");
}

#[test]
fn a_wait_without_a_readiness_probe_ends_when_startup_passed() {
    let extra = "probes:\n  \
        startup: { every: 100ms, timeout: 20s }\n  \
        readiness: { enabled: false }";
    let (daemon, _) = Daemon::gateways(&[("main", extra)]);
    let running = daemon.wait_state("main", "running");
    assert_eq!(running["probes_off"], serde_json::json!(["readiness"]));
    assert!(running["spawned_at"].as_u64().is_some(), "{running}");
    let output = daemon.client(&["restart", "main", "--wait", "--timeout", "30s"]);
    let (out, err) = expect_code(&output, 0);
    assert_eq!(out, "main: stopping, then starting again\n");
    assert!(err.contains("main: running after"), "{err}");
    assert!(err.contains("startup passed (no readiness probe)"), "{err}");
    let main = daemon.instance("main").expect("main");
    assert_eq!(main["state"], "running", "{main}");
    assert!(main["probes"]["readiness"].is_null(), "{main}");
    assert_ne!(main["pid"], running["pid"], "a new process");
}

#[test]
fn a_wait_ends_when_the_supervisor_shuts_down() {
    use std::io::BufRead;
    let extra = format!("env: {{ OPENCLAW_SIM_READY_FAILING: discord }}\n{FAST}");
    let (daemon, _) = Daemon::gateways(&[("main", &extra)]);
    daemon.wait_state("main", "running");
    expect_code(
        &daemon.client(&["stop", "main", "--wait", "--timeout", "30s"]),
        0,
    );
    let mut waiter = daemon
        .command()
        .args(["start", "main", "--wait", "--timeout", "10m"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start --wait");
    let mut stderr = std::io::BufReader::new(waiter.stderr.take().expect("stderr"));
    let mut said = String::new();
    while !said.contains("not ready: discord") {
        let mut line = String::new();
        let read = stderr.read_line(&mut line).expect("read stderr");
        assert!(read > 0, "the wait ended early: {said}");
        said.push_str(&line);
    }
    expect_code(&daemon.client(&["shutdown"]), 0);
    let status = wait_for("the wait to end", || waiter.try_wait().expect("try_wait"));
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).expect("read stderr");
    // Exit 1 (the status refused as shutting down, or the connection
    // lost) or 3 (gone), with the reason, never a wait for the 10 minutes.
    assert!(
        matches!(status.code(), Some(1 | 3)),
        "{status:?}: {said}{rest}"
    );
    assert!(
        rest.lines()
            .any(|line| line.starts_with("openclaw-supervisor: ")),
        "the reason: {rest}"
    );
    assert!(!rest.contains("timed out"), "{rest}");
}

/// One request over the socket, its reply.
fn ask(daemon: &Daemon, request: openclaw_supervisor::protocol::Request) -> Response {
    openclaw_supervisor::control::request_blocking(&daemon.socket, request, Duration::from_secs(60))
        .expect("a reply")
}

/// `name`'s state in a `status` asked over the socket.
fn state_now(daemon: &Daemon, name: &str) -> String {
    match ask(
        daemon,
        Request::Status {
            name: Some(name.to_string()),
        },
    ) {
        Response::Status { instances, .. } => instances[0].state.clone(),
        other => panic!("a status reply: {other:?}"),
    }
}

/// An `ok` reply's message and outcome (state, acted).
fn answered(response: Response) -> (String, String, bool) {
    match response {
        Response::Ok {
            message: Some(message),
            outcome: Some(outcome),
        } => (message, outcome.state, outcome.acted),
        other => panic!("an ok reply with its outcome: {other:?}"),
    }
}

#[test]
fn a_reply_comes_once_the_instance_has_acted() {
    let (daemon, _) = Daemon::gateways(&[("main", FAST)]);
    daemon.wait_state("main", "running");
    let name = || String::from("main");
    // Each reply is true when it arrives: the status asked right after it
    // shows what the reply said the instance did, never the state before.
    for _ in 0..5 {
        let (message, state, acted) = answered(ask(&daemon, Request::Stop { name: name() }));
        assert_eq!((message.as_str(), acted), ("main: stopping", true));
        assert_eq!(state, "stopping");
        let now = state_now(&daemon, "main");
        assert!(
            now == "stopping" || now == "stopped",
            "after the stop: {now}"
        );
        daemon.wait_state("main", "stopped");

        let (message, state, acted) = answered(ask(&daemon, Request::Start { name: name() }));
        assert_eq!((message.as_str(), acted), ("main: starting", true));
        assert_eq!(state, "starting");
        let now = state_now(&daemon, "main");
        assert!(
            now == "starting" || now == "running",
            "after the start: {now}"
        );
        daemon.wait_state("main", "running");
    }
}

#[test]
fn a_command_with_nothing_to_do_says_so() {
    // A gateway that drains for 10 min once told to stop: it is `stopping`
    // for the whole test, until the test kills it.
    let slow = format!("env: {{ OPENCLAW_SIM_STOP_DELAY: 10m }}\n{FAST}");
    let (daemon, _) = Daemon::gateways(&[("main", &slow)]);
    daemon.wait_state("main", "running");

    // Already where the command leads: said, and exit 0 (as systemctl's
    // start of an active unit).
    let (out, err) = expect_code(&daemon.client(&["start", "main"]), 0);
    assert_eq!(
        (out.as_str(), err.as_str()),
        ("main: already running\n", "")
    );
    let (message, state, acted) = answered(ask(
        &daemon,
        Request::Start {
            name: String::from("main"),
        },
    ));
    assert_eq!(
        (message.as_str(), state.as_str(), acted),
        ("main: already running", "running", false)
    );

    let (out, _) = expect_code(&daemon.client(&["stop", "main"]), 0);
    assert_eq!(out, "main: stopping\n");
    assert_eq!(state_now(&daemon, "main"), "stopping");
    let (out, _) = expect_code(&daemon.client(&["stop", "main"]), 0);
    assert_eq!(out, "main: already stopping\n");

    // Not done, and not where it is heading: refused, exit 1.
    let (out, err) = expect_code(&daemon.client(&["start", "main"]), 1);
    assert_eq!(out, "");
    assert!(
        err.contains("main: not started: it is stopping; `start main` again once it has stopped"),
        "{err}"
    );
    let (_, err) = expect_code(&daemon.client(&["restart", "--force", "main"]), 1);
    assert!(err.contains("main: not restarted: it is stopping"), "{err}");
    assert_eq!(state_now(&daemon, "main"), "stopping");

    // The signal reply says it was sent: the drain ends with the gateway.
    let (out, _) = expect_code(&daemon.client(&["signal", "main", "KILL"]), 0);
    assert_eq!(out, "main: sent SIGKILL\n");
    daemon.wait_state("main", "stopped");
    let (out, _) = expect_code(&daemon.client(&["stop", "main"]), 0);
    assert_eq!(out, "main: already stopped\n");
}
