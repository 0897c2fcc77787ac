//! `logs` from the captured files, with the real binary over simulated
//! gateways: after a supervisor restart, across rotation (`-n` and `-f`),
//! `--since`, every instance interleaved, and the supervisor's spawn and
//! exit markers.
#![allow(clippy::disallowed_methods)] // A test starts the programs it tests.

mod daemon_support;

use std::fs;
use std::path::Path;

use daemon_support::*;

/// Every line of an instance's log files, oldest first, as `(time prefix,
/// text)`: what `logs` must agree with. Also the number of files.
fn file_lines(daemon: &Daemon, name: &str) -> (Vec<(String, String)>, usize) {
    let dir = daemon.state_dir.join("logs");
    let mut paths = vec![dir.join(format!("{name}.log"))];
    for n in 1.. {
        let path = dir.join(format!("{name}.log.{n}"));
        if !path.exists() {
            break;
        }
        paths.push(path);
    }
    let count = paths.len();
    let mut lines = Vec::new();
    for path in paths.iter().rev() {
        lines.extend(read_prefixed(path));
    }
    (lines, count)
}

/// A log file's lines split at the documented prefix: RFC 3339 UTC with
/// milliseconds (24 characters) and one space.
fn read_prefixed(path: &Path) -> Vec<(String, String)> {
    let text = fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|line| {
            assert!(
                line.len() > 24 && line.as_bytes()[24] == b' ' && line.as_bytes()[23] == b'Z',
                "every line starts with its time: {line:?}"
            );
            humantime::parse_rfc3339(&line[..24]).unwrap_or_else(|err| panic!("{line:?}: {err}"));
            (line[..24].to_string(), line[25..].to_string())
        })
        .collect()
}

fn texts(lines: &[(String, String)]) -> Vec<String> {
    lines.iter().map(|(_, text)| text.clone()).collect()
}

/// The client's stdout lines; the command must succeed.
fn client_lines(daemon: &Daemon, args: &[&str]) -> Vec<String> {
    let output = daemon.client(args);
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

fn spawned(pid: i32) -> String {
    format!("[openclaw-supervisor] spawned pid {pid}")
}

#[test]
fn logs_after_a_supervisor_restart_show_the_earlier_run_from_disk() {
    let (mut daemon, _) = Daemon::gateways(&[("main", "")]);
    daemon.wait_state("main", "running");
    let first = daemon.instance_pid("main").expect("a pid");
    assert!(daemon.client(&["shutdown"]).status.success());
    assert!(daemon.wait_exit().success());
    daemon.start();
    daemon.wait_state("main", "running");
    let second = daemon.instance_pid("main").expect("a pid");
    assert_ne!(first, second);
    // Stopped, so the file no longer grows while it is compared.
    assert!(daemon.client(&["stop", "main"]).status.success());
    daemon.wait_state("main", "stopped");

    let (files, _) = file_lines(&daemon, "main");
    let shown = client_lines(&daemon, &["logs", "main", "-n", "100000"]);
    assert_eq!(
        shown,
        texts(&files),
        "every line of the file, without its time"
    );
    let at = |wanted: &str| shown.iter().position(|line| line == wanted);
    let spawn_1 = at(&spawned(first)).expect("the first run's spawn");
    let exit_1 = shown
        .iter()
        .position(|line| line.starts_with(&format!("[openclaw-supervisor] pid {first} exited")))
        .expect("the first run's exit");
    let spawn_2 = at(&spawned(second)).expect("this run's spawn");
    assert!(spawn_1 < exit_1 && exit_1 < spawn_2, "{shown:#?}");
    // More than the supervisor's in-memory tail of this run would hold.
    assert!(
        spawn_1 + 1 < spawn_2,
        "the first run's output too: {shown:#?}"
    );
    // `-n` is the last lines of the files.
    let last = client_lines(&daemon, &["logs", "main", "-n", "2"]);
    assert_eq!(last, shown[shown.len() - 2..]);
}

#[test]
fn logs_read_across_rotation_and_follow_through_it() {
    let (daemon, _) = Daemon::gateways(&[("main", "logs: { max_size: 300B, keep: 100 }")]);
    daemon.wait_state("main", "running");
    let mut follower = Follower::spawn(&daemon, &["logs", "main", "-f", "-n", "2"]);
    // The backlog is printed once the follower is subscribed.
    follower.wait_line("the first backlog line", |_| true);
    follower.wait_line("the second backlog line", |_| true);
    let mut pid = daemon.instance_pid("main").expect("a pid");
    for _ in 0..3 {
        assert!(daemon.client(&["restart", "main"]).status.success());
        pid = daemon.wait_new_pid("main", Some(pid));
        daemon.wait_state("main", "running");
    }
    assert!(daemon.client(&["stop", "main"]).status.success());
    daemon.wait_state("main", "stopped");
    let stopped = format!("[openclaw-supervisor] pid {pid} exited with code 0 (stop requested)");
    follower.wait_line("the last exit marker", |line| line == stopped);

    let (files, count) = file_lines(&daemon, "main");
    let all = texts(&files);
    assert!(count >= 4, "the log rotated several times: {count} files");
    assert_eq!(all.last(), Some(&stopped), "nothing after the last exit");
    // Followed: the two backlog lines, then every later line, each once.
    let seen = follower.seen().clone();
    assert!(seen.len() > 2 && seen.len() <= all.len(), "{seen:#?}");
    assert_eq!(
        seen,
        all[all.len() - seen.len()..],
        "no line lost or repeated"
    );
    let current = read_prefixed(&daemon.state_dir.join("logs/main.log")).len();
    assert!(seen.len() > current, "followed through a rotation");
    // `-n` reaches back into the rotated files, oldest first.
    let n = current + 3;
    let shown = client_lines(&daemon, &["logs", "main", "-n", &n.to_string()]);
    assert_eq!(shown, all[all.len() - n..]);
    let shown = client_lines(&daemon, &["logs", "main", "-n", "100000"]);
    assert_eq!(shown, all);
}

#[test]
fn since_shows_the_lines_from_that_time_on() {
    let (daemon, _) = Daemon::gateways(&[("main", "")]);
    daemon.wait_state("main", "running");
    let first = daemon.instance_pid("main").expect("a pid");
    assert!(daemon.client(&["restart", "main"]).status.success());
    let second = daemon.wait_new_pid("main", Some(first));
    daemon.wait_state("main", "running");
    assert!(daemon.client(&["stop", "main"]).status.success());
    daemon.wait_state("main", "stopped");

    let (files, _) = file_lines(&daemon, "main");
    let (boundary, _) = files
        .iter()
        .find(|(_, text)| *text == spawned(second))
        .expect("the second spawn in the file")
        .clone();
    // The prefix's text sorts as its time does.
    let expected: Vec<String> = files
        .iter()
        .filter(|(at, _)| *at >= boundary)
        .map(|(_, text)| text.clone())
        .collect();
    let shown = client_lines(&daemon, &["logs", "main", "--since", &boundary]);
    assert_eq!(shown, expected);
    assert!(shown.contains(&spawned(second)));
    assert!(!shown.contains(&spawned(first)), "{shown:#?}");
    // `--timestamps` shows the time of each line as the file has it.
    let stamped = client_lines(
        &daemon,
        &["logs", "main", "--since", &boundary, "--timestamps"],
    );
    let expected: Vec<String> = files
        .iter()
        .filter(|(at, _)| *at >= boundary)
        .map(|(at, text)| format!("{at} {text}"))
        .collect();
    assert_eq!(stamped, expected);
    // A duration ago: everything here was written within the hour.
    let hour = client_lines(&daemon, &["logs", "main", "--since", "1h"]);
    assert_eq!(hour, texts(&files));
    let limited = client_lines(&daemon, &["logs", "main", "--since", "1h", "-n", "1"]);
    assert_eq!(limited, texts(&files[files.len() - 1..]));
    let future = client_lines(
        &daemon,
        &["logs", "main", "--since", "2099-01-01T00:00:00Z"],
    );
    assert!(future.is_empty(), "{future:#?}");
    let bad = daemon.client(&["logs", "main", "--since", "yesterday"]);
    assert_eq!(bad.status.code(), Some(2), "a usage error");
}

#[test]
fn logs_without_a_name_interleave_every_instance_with_its_name() {
    let (daemon, _) = Daemon::gateways(&[("main", ""), ("backup-bot", "")]);
    for name in ["main", "backup-bot"] {
        daemon.wait_state(name, "running");
        assert!(daemon.client(&["stop", name]).status.success());
        daemon.wait_state(name, "stopped");
    }
    let shown = client_lines(&daemon, &["logs", "-n", "100000", "--timestamps"]);
    let mut of: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    let mut times = Vec::new();
    for line in &shown {
        let (name, rest) = line
            .split_once(" | ")
            .unwrap_or_else(|| panic!("a name prefix: {line:?}"));
        assert_eq!(name.len(), "backup-bot".len(), "padded: {line:?}");
        let (at, text) = rest.split_at(24);
        times.push(at.to_string());
        of.entry(name.trim_end())
            .or_default()
            .push(text[1..].to_string());
    }
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "time order: {shown:#?}"
    );
    for name in ["main", "backup-bot"] {
        let own = client_lines(&daemon, &["logs", name, "-n", "100000"]);
        assert_eq!(of.get(name), Some(&own), "{name}'s lines, in its order");
    }
    // `-n` is per instance.
    let last = client_lines(&daemon, &["logs", "-n", "1"]);
    assert_eq!(last.len(), 2, "{last:#?}");

    // `-f` follows every instance.
    let mut follower = Follower::spawn(&daemon, &["logs", "-f", "-n", "1"]);
    follower.wait_line("a backlog line", |_| true);
    follower.wait_line("a backlog line", |_| true);
    for (name, prefix) in [("backup-bot", "backup-bot | "), ("main", "main       | ")] {
        assert!(daemon.client(&["start", name]).status.success());
        let pid = daemon.wait_new_pid(name, None);
        let wanted = format!("{prefix}{}", spawned(pid));
        follower.wait_line("its new spawn", |line| line == wanted);
    }
}

#[test]
fn each_spawn_and_exit_is_marked_in_the_log() {
    let (daemon, port) = Daemon::gateways(&[("main", "restart: { backoff: { initial: 10ms } }")]);
    daemon.wait_state("main", "running");
    let first = daemon.instance_pid("main").expect("a pid");
    crash(port, 3);
    let second = daemon.wait_new_pid("main", Some(first));
    daemon.wait_state("main", "running");
    assert!(daemon.client(&["stop", "main"]).status.success());
    daemon.wait_state("main", "stopped");

    let shown = client_lines(&daemon, &["logs", "main", "-n", "100000"]);
    let markers: Vec<&String> = shown
        .iter()
        .filter(|line| line.starts_with("[openclaw-supervisor]"))
        .collect();
    assert_eq!(
        markers,
        [
            &spawned(first),
            // Nobody asked for this exit: no reason.
            &format!("[openclaw-supervisor] pid {first} exited with code 3"),
            &spawned(second),
            &format!("[openclaw-supervisor] pid {second} exited with code 0 (stop requested)"),
        ]
    );
    // The gateway's own last words come before its exit marker.
    let exit = shown
        .iter()
        .position(|line| *line == *markers[3])
        .expect("the exit marker");
    let spawn = shown
        .iter()
        .position(|line| *line == *markers[2])
        .expect("the spawn marker");
    assert!(exit > spawn + 1, "the gateway's output between: {shown:#?}");
}

#[test]
fn a_liveness_restart_is_marked_with_its_reason() {
    let probes = "probes:\n  \
        startup: { every: 100ms, timeout: 20s }\n  \
        liveness: { every: 200ms, timeout: 300ms, failures: 2 }\n\
        restart: { backoff: { initial: 100ms } }";
    let (daemon, port) = Daemon::gateways(&[("main", probes)]);
    daemon.wait_state("main", "running");
    let old = daemon.instance_pid("main").expect("a pid");
    let mut follower = Follower::spawn(&daemon, &["logs", "main", "-f", "-n", "1"]);
    follower.wait_line("the backlog line", |_| true);
    sim_post(port, "/__sim/wedge");
    let new = daemon.wait_new_pid("main", Some(old));
    let exited = format!("[openclaw-supervisor] pid {old} exited with code 0 (liveness failed)");
    follower.wait_line("the exit marker of the wedged gateway", |line| {
        line == exited
    });
    follower.wait_line("the next spawn", |line| line == spawned(new));
}

#[test]
fn a_log_an_older_version_wrote_is_shown_as_it_is() {
    let (mut daemon, _) = Daemon::prepare(&[("main", "")]);
    let logs = daemon.state_dir.join("logs");
    fs::create_dir_all(&logs).expect("logs dir");
    fs::write(logs.join("main.log.1"), "oldest line\n").expect("a rotated file");
    fs::write(logs.join("main.log"), "older line\n").expect("an unprefixed log");
    daemon.start();
    let pid = daemon.wait_new_pid("main", None);
    assert!(daemon.client(&["stop", "main"]).status.success());
    daemon.wait_state("main", "stopped");

    let shown = client_lines(&daemon, &["logs", "main", "-n", "100000"]);
    assert_eq!(shown[..3], ["oldest line", "older line", &spawned(pid)]);
    // Without a time of their own or before them, they are older than any
    // `--since`.
    let since = client_lines(&daemon, &["logs", "main", "--since", "1h"]);
    assert_eq!(since, shown[2..]);
    // With `--timestamps` they are shown without a time.
    let stamped = client_lines(&daemon, &["logs", "main", "-n", "100000", "-t"]);
    assert_eq!(stamped[..2], ["oldest line", "older line"]);
    assert!(
        stamped[2].ends_with(&format!(" {}", spawned(pid))),
        "{stamped:#?}"
    );
}
