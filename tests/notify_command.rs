//! `notify`: the operator's command, run with the event as JSON on its
//! stdin, with the real binary over simulated gateways. The commands here
//! are small `/bin/sh` scripts the test writes and the supervisor executes
//! by argv (the kernel runs the shebang; the supervisor runs no shell).
#![allow(clippy::disallowed_methods)] // A test starts the programs it tests.

mod daemon_support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use daemon_support::*;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

/// Write an executable script `name` under `root` with `body` after the
/// shebang; its path.
fn script(root: &Path, name: &str, body: &str) -> PathBuf {
    let path = root.join(name);
    fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod script");
    path
}

/// A command that appends its stdin (one JSON line) to `received.jsonl`
/// and its two variables to `env.txt`, both under `root`.
fn recorder(root: &Path) -> PathBuf {
    script(
        root,
        "record.sh",
        &format!(
            "cat >> {dir}/received.jsonl\necho \"$OPENCLAW_SUPERVISOR_EVENT $OPENCLAW_SUPERVISOR_INSTANCE\" >> {dir}/env.txt",
            dir = root.display()
        ),
    )
}

/// What the recorder got so far, one JSON object each (a line still being
/// written, without its newline yet, is left for the next look).
fn received(root: &Path) -> Vec<Value> {
    fs::read_to_string(root.join("received.jsonl"))
        .unwrap_or_default()
        .split_inclusive('\n')
        .filter(|line| line.ends_with('\n') && !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).expect("one JSON object a line"))
        .collect()
}

/// Append a `notify` block to `name`'s declaration.
fn add_notify(daemon: &Daemon, name: &str, yaml: &str) {
    let path = daemon.dir.join(format!("{name}.yaml"));
    let mut text = fs::read_to_string(&path).expect("read declaration");
    text.push_str(yaml);
    text.push('\n');
    fs::write(&path, text).expect("write declaration");
}

const FAST_BACKOFF: &str = "restart: { backoff: { initial: 20ms, max: 100ms } }";

/// A started supervisor over a `main` with a fast backoff and the `notify`
/// that `notify(root)` writes (a YAML value), once main runs; its port.
fn main_with_notify(notify: impl FnOnce(&Path) -> String) -> (Daemon, u16) {
    let (mut daemon, port) = Daemon::prepare(&[("main", FAST_BACKOFF)]);
    let value = notify(daemon.path());
    add_notify(&daemon, "main", &format!("notify: {value}"));
    daemon.start();
    daemon.wait_state("main", "running");
    (daemon, port)
}

/// Crash main (exit 1) and wait for its `notify_failed` event.
fn crash_until_notify_failed(daemon: &Daemon, port: u16) -> (Events, Value) {
    let mut events = Events::follow(daemon);
    crash(port, 1);
    let failed = events.wait("notify_failed", is("main", "notify_failed"));
    (events, failed)
}

#[test]
fn a_killed_main_sends_one_failed_then_rescue_started_then_recovered() {
    // main's default backoff (1s) keeps its recovery well after the first
    // two runs, so each goes on its own (10ms apart at least).
    let (mut daemon, _) = Daemon::prepare(&[
        ("main", ""),
        ("rescue", "role: rescue\nrescue_of: main\nstandby: true\n"),
    ]);
    let command = recorder(daemon.path());
    add_notify(
        &daemon,
        "main",
        &format!(
            "notify: {{ command: [{}], min_interval: 10ms }}",
            command.display()
        ),
    );
    daemon.start();
    let pid = daemon.wait_state("main", "running")["pid"]
        .as_i64()
        .expect("main's pid") as i32;
    kill(Pid::from_raw(pid), Signal::SIGKILL).expect("kill main");
    // The third run has ended (its files are written) once status says so.
    let status = wait_for("the recovered run to end", || {
        daemon
            .instance("main")
            .filter(|main| main["last_notify"]["notify"] == "recovered")
    });
    assert_eq!(status["last_notify"]["ok"], true, "{status:#}");
    let root = daemon.path().to_path_buf();
    let got = received(&root);
    let kinds: Vec<&str> = got.iter().filter_map(|m| m["notify"].as_str()).collect();
    assert_eq!(kinds, ["failed", "rescue_started", "recovered"], "{got:#?}");
    let failed = &got[0];
    assert_eq!(failed["instance"], "main");
    assert_eq!(failed["notify_of"], "main");
    assert_eq!(
        failed["kind"], "exited",
        "the event that opened the episode"
    );
    assert_eq!(failed["detail"], "killed by SIGKILL", "{failed}");
    assert!(
        failed["seq"].as_u64().is_some(),
        "the events line's fields: {failed}"
    );
    assert_eq!(failed["suppressed"], 0);
    let rescue = &got[1];
    assert_eq!(rescue["instance"], "rescue");
    assert_eq!(rescue["notify_of"], "main");
    assert_eq!(rescue["kind"], "rescue_triggered");
    assert!(
        rescue["detail"]
            .as_str()
            .is_some_and(|d| d.contains("started from standby")),
        "{rescue}"
    );
    assert_eq!(
        got[2]["kind"], "recovered",
        "the supervisor's event that ends the episode"
    );
    let env = fs::read_to_string(root.join("env.txt")).expect("env.txt");
    assert_eq!(
        env.lines().collect::<Vec<_>>(),
        ["failed main", "rescue_started rescue", "recovered main"]
    );
}

#[test]
fn a_failing_notify_command_is_an_event_and_shows_in_status() {
    let (daemon, port) = main_with_notify(|root| {
        let command = script(
            root,
            "fail.sh",
            "cat > /dev/null\necho 'topic not found' >&2\nexit 1",
        );
        format!("{{ command: [{}], on: [failed] }}", command.display())
    });
    let (mut events, failed) = crash_until_notify_failed(&daemon, port);
    let detail = failed["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("exit code 1") && detail.contains("topic not found"),
        "{failed}"
    );
    // The supervisor goes on: main is restarted and answers.
    events.wait("main started again", is("main", "started"));
    let status = daemon.instance("main").expect("main");
    let last = &status["last_notify"];
    assert_eq!(last["notify"], "failed", "{status:#}");
    assert_eq!(last["ok"], false, "{status:#}");
    assert!(
        last["error"]
            .as_str()
            .is_some_and(|e| e.contains("topic not found")),
        "{status:#}"
    );
    let text = String::from_utf8_lossy(&daemon.client(&["status", "main"]).stdout).into_owned();
    assert!(
        text.contains("last notify") && text.contains("failed: exit code 1: topic not found"),
        "{text}"
    );
    assert!(
        daemon.log_text().contains(
            "main: its notify command failed: the `failed` notification about main: exit code 1"
        ),
        "one log line says so"
    );
    assert_eq!(
        events.count("main", "notify_failed"),
        1,
        "it does not feed itself"
    );
}

#[test]
fn a_notify_command_that_cannot_run_is_an_event() {
    let (daemon, port) =
        main_with_notify(|_| "{ command: [/nonexistent/ntfy-send, --topic, x] }".to_string());
    let (_events, failed) = crash_until_notify_failed(&daemon, port);
    assert!(
        failed["detail"]
            .as_str()
            .is_some_and(|d| d.contains("cannot run it") && d.contains("/nonexistent/ntfy-send")),
        "{failed}"
    );
}

#[test]
fn a_hanging_notify_command_is_killed_at_its_timeout_with_its_children() {
    let (daemon, port) = main_with_notify(|root| {
        let dir = root.display();
        let command = script(
            root,
            "hang.sh",
            &format!("echo $$ > {dir}/sh.pid\nsleep 600 &\necho $! > {dir}/child.pid\nwait"),
        );
        format!(
            "{{ command: [{}], on: [failed], timeout: 1s }}",
            command.display()
        )
    });
    let (_events, failed) = crash_until_notify_failed(&daemon, port);
    assert!(
        failed["detail"]
            .as_str()
            .is_some_and(|d| d.contains("timed out after 1s")),
        "{failed}"
    );
    let read_pid = |name: &str| -> i32 {
        fs::read_to_string(daemon.path().join(name))
            .expect("the script wrote its pid")
            .trim()
            .parse()
            .expect("a pid")
    };
    for pid in [read_pid("sh.pid"), read_pid("child.pid")] {
        wait_for("the command's group to be gone", || {
            (!alive(pid)).then_some(())
        });
    }
}

#[test]
fn the_rate_limit_folds_a_flapping_main_into_fewer_runs_and_counts_them() {
    let (daemon, port) = main_with_notify(|root| {
        format!(
            "{{ command: [{}], on: [failed, recovered], min_interval: 10s }}",
            recorder(root).display()
        )
    });
    let mut events = Events::follow(&daemon);
    let cycles = 3;
    for cycle in 1..=cycles {
        crash(port, 1);
        events.wait_count("main started again", cycle, is("main", "started"));
    }
    // Each cycle is a `failed` and a `recovered`: every one either ran or
    // is counted in a later run's `suppressed`.
    let root = daemon.path().to_path_buf();
    let got = wait_for("every notification sent or counted", || {
        let got = received(&root);
        let counted: u64 = got
            .iter()
            .map(|m| 1 + m["suppressed"].as_u64().unwrap_or(0))
            .sum();
        (counted == 2 * cycles as u64).then_some(got)
    });
    let kinds: Vec<&str> = got.iter().filter_map(|m| m["notify"].as_str()).collect();
    assert_eq!(kinds.first(), Some(&"failed"), "{got:#?}");
    assert_eq!(
        kinds.get(1),
        Some(&"recovered"),
        "at once, a change: {got:#?}"
    );
    assert_eq!(
        kinds.last(),
        Some(&"recovered"),
        "the newest state last: {got:#?}"
    );
    assert!(got.len() < 2 * cycles, "folded: {got:#?}");
}

#[test]
fn a_notify_added_by_a_reload_applies_without_restarting_the_gateway() {
    let (daemon, port) = Daemon::gateways(&[("main", FAST_BACKOFF)]);
    let pid = daemon.wait_state("main", "running")["pid"].as_i64();
    let mut events = Events::follow(&daemon);
    let command = recorder(daemon.path());
    add_notify(
        &daemon,
        "main",
        &format!(
            "notify: {{ command: [{}], on: [failed] }}",
            command.display()
        ),
    );
    let _ = daemon.client(&["reload"]);
    events.reloaded("updated: main");
    assert_eq!(
        daemon.instance("main").expect("main")["pid"].as_i64(),
        pid,
        "the same gateway"
    );
    crash(port, 1);
    let root = daemon.path().to_path_buf();
    let got = wait_for("the failed notification", || {
        let got = received(&root);
        (!got.is_empty()).then_some(got)
    });
    assert_eq!(got[0]["notify"], "failed", "{got:#?}");
}
