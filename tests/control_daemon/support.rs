//! Helpers shared by the control tests against the real daemon: running
//! client commands, following streams, the simulator's endpoints.

use std::fs;

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

/// The daemon's `check`, asked over the socket.
pub fn socket_check(daemon: &Daemon) -> (bool, Value) {
    let path = daemon.socket.clone();
    match runtime().block_on(control::request(&path, Request::Check)) {
        Ok(Response::Check { ok, report }) => (ok, report),
        other => panic!("expected a check reply, got {other:?}"),
    }
}
