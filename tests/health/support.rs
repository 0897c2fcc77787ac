//! Helpers shared by the health tests: fast probe settings, status
//! accessors, the simulator's control endpoints, and an event follower that
//! is known to be subscribed before the test acts.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::daemon_support::{DEADLINE, Daemon};
use crate::sim_support;

/// Probe settings fast enough for tests: startup polled every 100 ms,
/// liveness and readiness every 200 ms, timeouts short so a wedged gateway
/// fails quickly.
pub const FAST_PROBES: &str = "probes:\n  \
    startup: { every: 100ms, timeout: 20s }\n  \
    liveness: { every: 200ms, timeout: 300ms, failures: 3 }\n  \
    readiness: { every: 200ms, timeout: 300ms, failures: 2 }";

pub fn restarts(instance: &Value) -> u64 {
    instance["restarts"].as_u64().unwrap_or(u64::MAX)
}

pub fn pid_of(instance: &Value) -> Option<i32> {
    instance["pid"].as_i64().map(|pid| pid as i32)
}

pub fn port_of(instance: &Value) -> u16 {
    instance["ports"]["base"]
        .as_u64()
        .and_then(|port| u16::try_from(port).ok())
        .expect("status names the gateway port")
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A POST to one of the simulator's `/__sim/...` control endpoints.
pub fn sim_post(port: u16, path: &str) {
    let (status, body) = sim_support::http(port, "POST", path, Duration::from_secs(5))
        .unwrap_or_else(|err| panic!("POST {path} on port {port}: {err}"));
    assert_eq!(status, 200, "POST {path} on port {port}: {body}");
}

/// `GET /startupz` on a gateway: its status code, or None when nothing answers.
pub fn startupz(port: u16) -> Option<u16> {
    sim_support::http(port, "GET", "/startupz", Duration::from_secs(2))
        .ok()
        .map(|(status, _)| status)
}

/// The environment of a process, as `KEY=value` entries.
pub fn environ(pid: i32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/environ"))
        .unwrap_or_default()
        .split(|b| *b == 0)
        .map(|entry| String::from_utf8_lossy(entry).to_string())
        .collect()
}

/// A running `events --json` that is known to be subscribed, so nothing the
/// test does after [`Events::follow`] returns can be missed.
pub struct Events {
    child: Child,
    lines: mpsc::Receiver<Value>,
    pub seen: Vec<Value>,
}

impl Events {
    /// Follow the events of `daemon`. `running` names an instance that is
    /// running: `start` on it changes nothing but emits an operator event,
    /// which proves the subscription is live.
    pub fn follow(daemon: &Daemon, running: &str) -> Events {
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
    pub fn wait(&mut self, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        self.wait_count(what, 1, wanted)
    }

    /// Wait until `count` events that `wanted` accepts have been seen; the last one.
    pub fn wait_count(
        &mut self,
        what: &str,
        count: usize,
        wanted: impl Fn(&Value) -> bool,
    ) -> Value {
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

pub fn is(instance: &'static str, kind: &'static str) -> impl Fn(&Value) -> bool {
    move |event| event["instance"] == instance && event["kind"] == kind
}
