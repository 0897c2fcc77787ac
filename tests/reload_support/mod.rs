//! Helpers for the live reload tests: an editor-like save, free port
//! blocks for many instances, a supervisor started with extra options, and a
//! follower of the events stream that keeps what it saw.
#![allow(dead_code)]

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::daemon_support::*;

/// Write `name` in `dir` as an editor does: a temp file beside it (a dotfile
/// the watcher ignores), then a rename over the original.
pub fn save(dir: &Path, name: &str, text: &str) {
    let temp = dir.join(format!(".{name}.tmp"));
    fs::write(&temp, text).expect("write the temp file");
    fs::rename(&temp, dir.join(name)).expect("rename over the declaration");
}

pub fn restarts(instance: &Value) -> u64 {
    instance["restarts"].as_u64().unwrap_or(0)
}

pub fn pid_of(instance: &Value) -> i64 {
    instance["pid"]
        .as_i64()
        .unwrap_or_else(|| panic!("a pid: {instance}"))
}

pub fn rejected(daemon: &Daemon) -> Vec<Value> {
    daemon.status_json()["rejected"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Whether `text` has `file:LINE:COLUMN` in it.
pub fn names_line_and_column(text: &str, file: &str) -> bool {
    text.match_indices(&format!("{file}:")).any(|(at, found)| {
        let rest = &text[at + found.len()..];
        let mut parts = rest.splitn(3, ':');
        let line = parts.next().unwrap_or_default();
        let column: String = parts
            .next()
            .unwrap_or_default()
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        !line.is_empty() && line.chars().all(|c| c.is_ascii_digit()) && !column.is_empty()
    })
}

/// `count` base ports 120 apart (blocks of 111 never meet), each free when
/// picked. They lie above 52300, out of the way of [`free_base_port`]
/// (20000..50000, plus 1000s for second instances) that tests running in
/// parallel use.
pub fn free_bases(count: u16) -> Vec<u16> {
    loop {
        let span = 65_000 - 52_300 - count * 120;
        let start = 52_300 + (free_base_port() - 20_000) % span / 120 * 120;
        let bases: Vec<u16> = (0..count).map(|i| start + i * 120).collect();
        if bases
            .iter()
            .all(|base| std::net::TcpListener::bind(("127.0.0.1", *base)).is_ok())
        {
            return bases;
        }
    }
}

/// Start the supervisor with extra `start` options (`--no-watch`, `--poll`).
pub fn start_with(daemon: &mut Daemon, options: &[&str]) {
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(daemon.path().join("supervisor.log"))
        .expect("supervisor log");
    let child = daemon
        .command()
        .arg("start")
        .args(options)
        .stdout(log.try_clone().expect("log fd"))
        .stderr(log)
        .spawn()
        .expect("spawn the supervisor");
    daemon.child = Some(child);
    wait_for("the supervisor's socket to answer", || {
        if let Some(status) = daemon.try_exit() {
            panic!(
                "the supervisor exited early ({status}):\n{}",
                daemon.log_text()
            );
        }
        daemon.client(&["version"]).status.success().then_some(())
    });
}

/// A follower of `events --json` that keeps everything it has seen.
pub struct Events {
    child: Child,
    lines: Receiver<Value>,
    pub seen: Vec<Value>,
}

impl Events {
    /// Follow the daemon's events, and return once the subscription is
    /// live: a `reload` request's `reloaded` event has come through it.
    pub fn follow(daemon: &Daemon) -> Events {
        let mut child = daemon
            .command()
            .args(["events", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn events");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = std::sync::mpsc::channel();
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
        // The reply to `reload` comes after its event was published, so once
        // a `reloaded` event arrives here the subscription predates it. Until
        // then, ask again: the first ones may have raced the subscription.
        let start = Instant::now();
        loop {
            let _ = daemon.client(&["reload"]);
            let asked = Instant::now();
            while asked.elapsed() < Duration::from_millis(500) {
                match events.lines.recv_timeout(Duration::from_millis(50)) {
                    Ok(event) if event["kind"] == "reloaded" => {
                        events.seen.clear();
                        return events;
                    }
                    Ok(_) | Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => panic!("events ended"),
                }
            }
            assert!(
                start.elapsed() < DEADLINE,
                "the events stream never showed a reload"
            );
        }
    }

    /// Wait for the first event (from here on) that `wanted` accepts.
    pub fn wait(&mut self, what: &str, mut wanted: impl FnMut(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            let left = DEADLINE.saturating_sub(start.elapsed());
            match self.lines.recv_timeout(left) {
                Ok(event) => {
                    self.seen.push(event.clone());
                    if wanted(&event) {
                        return event;
                    }
                }
                Err(_) => panic!("timed out waiting for {what}; saw {:#?}", self.seen),
            }
        }
    }

    /// Wait for a `reloaded` event whose summary contains `part`.
    pub fn reloaded(&mut self, part: &str) -> Value {
        self.wait(&format!("a reload with `{part}`"), |event| {
            event["kind"] == "reloaded"
                && event["detail"]
                    .as_str()
                    .is_some_and(|detail| detail.contains(part))
        })
    }

    /// Events seen so far about `instance` of `kind`.
    pub fn count(&self, instance: &str, kind: &str) -> usize {
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

/// Every file under `dir`.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
