//! Helpers shared by the control tests against the real daemon: running
//! client commands, following streams, the simulator's endpoints.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::daemon_support::*;
use nix::sys::signal::Signal;
use openclaw_supervisor::control;
use openclaw_supervisor::protocol::{Request, Response};
use serde_json::Value;

/// A client command's exit code, stdout and stderr.
pub struct Ran {
    pub code: i32,
    pub out: String,
    pub err: String,
}

pub fn run(daemon: &Daemon, args: &[&str]) -> Ran {
    let output = daemon.client(args);
    Ran {
        code: output.status.code().unwrap_or(-1),
        out: String::from_utf8_lossy(&output.stdout).into_owned(),
        err: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs a client command that must succeed; its stdout.
pub fn ok(daemon: &Daemon, args: &[&str]) -> String {
    let ran = run(daemon, args);
    assert_eq!(
        ran.code,
        0,
        "`{}` failed: {}{}",
        args.join(" "),
        ran.out,
        ran.err
    );
    ran.out
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

/// A client command that keeps printing (`logs -f`, `events`): its stdout
/// lines arrive on a channel; it is killed when dropped.
pub struct Follower {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    pub seen: Vec<String>,
}

impl Follower {
    pub fn spawn(daemon: &Daemon, args: &[&str]) -> Follower {
        let mut child = daemon
            .command()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn a following client");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Follower {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The next line within `wait`, if any.
    pub fn next_within(&mut self, wait: Duration) -> Option<String> {
        let line = self.lines.recv_timeout(wait).ok()?;
        self.seen.push(line.clone());
        Some(line)
    }

    /// Waits (bounded) for a line that `wanted` accepts.
    pub fn wait_line(&mut self, what: &str, mut wanted: impl FnMut(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let left = DEADLINE.saturating_sub(start.elapsed());
            match self.next_within(left) {
                Some(line) if wanted(&line) => return line,
                Some(_) => {}
                None => panic!("timed out waiting for {what}; saw {:#?}", self.seen),
            }
        }
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Follows `events --json`, returning once the stream is known to be
/// subscribed: an operator command (`signal NAME CONT`, harmless) is sent
/// until its event comes through.
pub fn subscribed_events(daemon: &Daemon, name: &str) -> Follower {
    let mut events = Follower::spawn(daemon, &["events", "--json"]);
    let start = Instant::now();
    loop {
        ok(daemon, &["signal", name, "CONT"]);
        if events.next_within(Duration::from_millis(200)).is_some() {
            return events;
        }
        assert!(start.elapsed() < DEADLINE, "events never arrived");
    }
}

pub fn names(response: &Response) -> Vec<String> {
    match response {
        Response::Status { instances, .. } => instances.iter().map(|i| i.name.clone()).collect(),
        other => panic!("expected a status reply, got {other:?}"),
    }
}

pub fn restarts(daemon: &Daemon, name: &str) -> u64 {
    daemon.instance(name).expect(name)["restarts"]
        .as_u64()
        .unwrap_or(0)
}

/// SIGTERM the supervisor, wait for its clean exit, start a new one over
/// the same dirs.
pub fn restart_supervisor(daemon: &mut Daemon) {
    daemon.signal(Signal::SIGTERM);
    let status = daemon.wait_exit();
    assert!(status.success(), "the supervisor exits 0: {status}");
    daemon.start();
}

pub fn intent(daemon: &Daemon) -> Value {
    let text = fs::read_to_string(daemon.state_dir.join("intent.json")).expect("intent.json");
    serde_json::from_str(&text).expect("intent.json is JSON")
}

pub fn pid_of(instance: &Value) -> i64 {
    instance["pid"]
        .as_i64()
        .unwrap_or_else(|| panic!("a pid: {instance}"))
}

/// A POST to the simulator's own endpoints (`/__sim/...`); its status code.
pub fn sim_post(port: u16, path: &str) -> u16 {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect the sim");
    stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
    write!(
        stream,
        "POST {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n"
    )
    .expect("send");
    let mut text = String::new();
    stream.read_to_string(&mut text).expect("read the answer");
    text.split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"))
}

/// The daemon's `check`, asked over the socket.
pub fn socket_check(daemon: &Daemon) -> (bool, Value) {
    let path = daemon.socket.clone();
    match runtime().block_on(control::request(&path, Request::Check)) {
        Ok(Response::Check { ok, report }) => (ok, report),
        other => panic!("expected a check reply, got {other:?}"),
    }
}
