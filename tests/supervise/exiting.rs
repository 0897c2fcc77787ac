//! Exiting: a gateway that exits leaving a process behind. The instance is
//! `exiting` until its last process is gone, answers commands meanwhile,
//! and its exit then leads where the last word says (a stop asked while
//! exiting ends stopped, not in backoff); a leftover that ignores the stop
//! signal gets SIGKILL at the stop timeout.

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::daemon_support::*;

/// `main`, whose simulator starts one grandchild that escapes its group
/// with `setsid` and ignores SIGTERM; running, with that grandchild's pid.
fn main_with_a_stubborn_grandchild(stop: &str) -> (Daemon, u16, i32) {
    let (daemon, port, pids) = main_with_pidfile(
        ", OPENCLAW_SIM_SETSID_GRANDCHILDREN: \"1\", OPENCLAW_SIM_CHILD_IGNORE_SIGTERM: \"1\"",
        &format!("stop: {{ timeout: {stop} }}\nrestart: {{ backoff: {{ initial: 50ms }} }}"),
        2,
    );
    assert!(alive(pids[1]));
    (daemon, port, pids[1])
}

#[test]
fn a_crash_leaving_a_process_is_exiting_and_a_stop_asked_meanwhile_ends_stopped() {
    let (daemon, port, grandchild) = main_with_a_stubborn_grandchild("5m");
    let gateway = daemon.instance_pid("main").expect("a pid");
    crash(port, 1);
    // The leftover ignores the stop signal and its SIGKILL is 5 minutes
    // away: the instance stays exiting until the test ends it.
    daemon.wait_state("main", "exiting");
    assert!(!alive(gateway));
    assert!(alive(grandchild));
    // Commands are answered while it is exiting, and change where it goes.
    let output = daemon.client(&["stop", "main"]);
    assert!(output.status.success(), "{output:?}");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        said.contains("main: exiting: stopped once the processes its gateway left are gone"),
        "{said}"
    );
    let again = daemon.client(&["start", "main"]);
    assert_eq!(again.status.code(), Some(1), "{again:?}");
    let twice = daemon.client(&["stop", "main"]);
    assert!(twice.status.success(), "{twice:?}");
    assert!(
        String::from_utf8_lossy(&twice.stdout).contains("main: already exiting")
            || String::from_utf8_lossy(&twice.stderr).contains("main: already exiting"),
        "{twice:?}"
    );
    let status = daemon.instance("main").expect("main");
    assert_eq!(status["state"], "exiting", "{status}");
    kill(Pid::from_raw(grandchild), Signal::SIGKILL).expect("kill the leftover");
    let stopped = daemon.wait_state("main", "stopped");
    assert_eq!(stopped["restarts"], 0, "never started again: {stopped}");
    let kinds: Vec<String> = daemon
        .journal(&["main"])
        .iter()
        .filter_map(|event| event["kind"].as_str().map(str::to_string))
        .collect();
    assert!(
        !kinds.iter().any(|kind| kind == "backoff"),
        "the stop decided, not the crash: {kinds:?}"
    );
    // The crash itself was told when the gateway went, and kept its words.
    assert!(
        kinds.iter().any(|kind| kind == "exited"),
        "the crash is an event: {kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|kind| *kind == "spawned").count(),
        1,
        "{kinds:?}"
    );
}

#[test]
fn a_leftover_ignoring_the_stop_signal_is_killed_at_the_stop_timeout_and_the_crash_restarts() {
    let (daemon, port, grandchild) = main_with_a_stubborn_grandchild("3s");
    let gateway = daemon.instance_pid("main").expect("a pid");
    crash(port, 1);
    // No new gateway beside what the old one left: exiting first.
    daemon.wait_state("main", "exiting");
    assert!(alive(grandchild), "SIGTERM is ignored: alive until SIGKILL");
    let next = daemon.wait_new_pid("main", Some(gateway));
    assert_ne!(next, gateway);
    assert!(!alive(grandchild), "SIGKILLed at the stop timeout");
    let running = daemon.wait_state("main", "running");
    assert_eq!(running["restarts"], 1, "{running}");
}
