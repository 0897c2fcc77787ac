//! A keeper lives as long as its instance: it starts each next gateway of
//! a restart (a crash, `restart`), ends when the instance stops for good,
//! and ends when its supervisor goes away while it has no gateway.

use std::fs;

use crate::daemon_support::*;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// The parent of `pid`, from /proc.
fn parent(pid: i32) -> Option<i32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command's closing parenthesis: state, then the parent.
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

use super::outlive::keeper as the_keeper;

/// A supervisor over main with a long backoff, main crashed into it: the
/// supervisor, the crashed gateway's pid and its keeper (idle now).
fn crashed_into_a_long_backoff() -> (Daemon, i32, i32) {
    let (daemon, port) =
        Daemon::gateways(&[("main", "restart: { backoff: { initial: 5m, max: 10m } }")]);
    daemon.wait_state("main", "running");
    let pid = daemon.instance_pid("main").expect("main's pid");
    let keeper = the_keeper(&daemon);
    crash(port, 4);
    daemon.wait_state("main", "backoff");
    (daemon, pid, keeper)
}

fn sockets(daemon: &Daemon) -> Vec<std::path::PathBuf> {
    fs::read_dir(daemon.state_dir.join("run").join("keep"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "sock"))
        .collect()
}

#[test]
fn one_keeper_starts_every_gateway_of_its_instance_and_ends_with_its_stop() {
    let (daemon, port) = Daemon::gateways(&[("main", "restart: { backoff: { initial: 0s } }")]);
    daemon.wait_state("main", "running");
    let first = daemon.instance_pid("main").expect("main's pid");
    let keeper = the_keeper(&daemon);
    assert_eq!(parent(first), Some(keeper));

    // A crash: restarted at once (a zero backoff), by the same keeper.
    crash(port, 3);
    let second = daemon.wait_new_pid("main", Some(first));
    daemon.wait_state("main", "running");
    assert_eq!(
        parent(second),
        Some(keeper),
        "the next gateway is the keeper's child"
    );
    assert_eq!(daemon.keepers(), [keeper], "no second keeper");

    // A restart by hand: the same keeper again.
    assert!(daemon.client(&["restart", "main"]).status.success());
    let third = daemon.wait_new_pid("main", Some(second));
    daemon.wait_state("main", "running");
    assert_eq!(parent(third), Some(keeper));
    let environ = fs::read(format!("/proc/{third}/environ")).expect("environ");
    assert!(
        String::from_utf8_lossy(&environ).contains("OPENCLAW_SUPERVISOR_SPAWN=main:"),
        "a next gateway carries its spawn marker"
    );
    let main = daemon.instance("main").expect("main");
    assert_eq!(main["restarts"].as_u64(), Some(2), "{main}");
    let out = daemon.client(&["events", "main", "-n", "100"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("exit code 3"),
        "the crash's exit, as the keeper told it: {text}"
    );

    // Its output reaches the log through the pipe the keeper passed on.
    sim_post(port, "/__sim/turn?for=3ms");
    wait_for("a line of the third gateway in the log", || {
        let out = daemon.client(&["logs", "main", "-n", "200"]);
        String::from_utf8_lossy(&out.stdout)
            .contains("agent turn started (3ms)")
            .then_some(())
    });

    // Stopped for good: the keeper ends and removes its socket.
    assert!(daemon.client(&["stop", "main"]).status.success());
    daemon.wait_state("main", "stopped");
    wait_for("the keeper to end", || (!alive(keeper)).then_some(()));
    assert!(sockets(&daemon).is_empty(), "{:?}", sockets(&daemon));

    // Started again: a new keeper.
    assert!(daemon.client(&["start", "main"]).status.success());
    let fourth = daemon.wait_new_pid("main", None);
    daemon.wait_state("main", "running");
    let new_keeper = the_keeper(&daemon);
    assert_ne!(new_keeper, keeper);
    assert_eq!(parent(fourth), Some(new_keeper));
}

#[test]
fn an_idle_keeper_whose_supervisor_is_killed_ends_and_the_next_supervisor_starts_anew() {
    let (mut daemon, pid, keeper) = crashed_into_a_long_backoff();
    assert!(alive(keeper), "idle, the keeper waits for the next gateway");
    wait_for("the crashed gateway to be reaped", || {
        (!alive(pid)).then_some(())
    });
    daemon.signal(Signal::SIGKILL);
    daemon.wait_exit();
    wait_for(
        "the idle keeper to end with its supervisor's connection",
        || (!alive(keeper)).then_some(()),
    );
    assert!(sockets(&daemon).is_empty(), "{:?}", sockets(&daemon));
    daemon.start();
    let new = daemon.wait_new_pid("main", None);
    daemon.wait_state("main", "running");
    let new_keeper = the_keeper(&daemon);
    assert_ne!(new_keeper, keeper);
    assert_eq!(parent(new), Some(new_keeper));
}

#[test]
fn an_idle_keeper_that_is_gone_is_replaced_at_the_next_start() {
    let (daemon, pid, keeper) = crashed_into_a_long_backoff();
    kill(Pid::from_raw(keeper), Signal::SIGKILL).expect("kill the idle keeper");
    wait_for("the keeper to be gone", || (!alive(keeper)).then_some(()));
    // A start cuts the backoff short: the idle keeper does not answer.
    assert!(daemon.client(&["start", "main"]).status.success());
    let new = daemon.wait_new_pid("main", Some(pid));
    daemon.wait_state("main", "running");
    let new_keeper = the_keeper(&daemon);
    assert_ne!(new_keeper, keeper);
    assert_eq!(parent(new), Some(new_keeper));
}
