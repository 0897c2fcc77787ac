//! Gateways outlive the supervisor: a new supervisor over the same state
//! dir adopts each kept gateway, with the output it wrote meanwhile, its
//! graceful drain and, when it ended meanwhile, its exit.

use std::fs;

use crate::daemon_support::*;
use nix::sys::signal::Signal;

/// Everything the keepers spooled so far (their spool files' bytes).
fn spooled(daemon: &Daemon) -> String {
    let dir = daemon.state_dir.join("run").join("keep");
    let mut text = String::new();
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.path().extension().is_some_and(|ext| ext == "spool") {
            text.push_str(&String::from_utf8_lossy(
                &fs::read(entry.path()).unwrap_or_default(),
            ));
        }
    }
    text
}

fn logs(daemon: &Daemon, name: &str) -> String {
    let out = daemon.client(&["logs", name, "-n", "500"]);
    assert!(out.status.success(), "logs {name}: {out:?}");
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn events(daemon: &Daemon, name: &str) -> String {
    let out = daemon.client(&["events", name, "-n", "100"]);
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// A supervisor over main, killed with SIGKILL once main runs: main's pid.
fn crashed_supervisor_over_main(daemon: &mut Daemon) -> i32 {
    daemon.wait_state("main", "running");
    let pid = daemon.instance_pid("main").expect("main's pid");
    daemon.signal(Signal::SIGKILL);
    daemon.wait_exit();
    pid
}

#[test]
fn output_written_while_no_supervisor_ran_is_in_the_log_once_after_adoption() {
    let (mut daemon, port) = Daemon::gateways(&[("main", "")]);
    let pid = crashed_supervisor_over_main(&mut daemon);
    // The gateway writes while nobody but its keeper reads its pipe.
    sim_post(port, "/__sim/turn?for=1ms");
    wait_for("the keeper to spool the gateway's line", || {
        spooled(&daemon)
            .contains("agent turn started")
            .then_some(())
    });
    daemon.start();
    daemon.wait_state("main", "running");
    assert_eq!(daemon.instance_pid("main"), Some(pid), "the same gateway");
    let text = logs(&daemon, "main");
    assert_eq!(
        text.matches("agent turn started").count(),
        1,
        "the spooled line is in the log once:\n{text}"
    );
    // In time order: written while no supervisor ran, so before the
    // adoption (it keeps the time its keeper read it).
    assert!(
        text.find("agent turn started") < text.find("adopted pid"),
        "the spooled line keeps its time:\n{text}"
    );
    assert!(
        !spooled(&daemon).contains("agent turn started"),
        "the spool was handed over"
    );
    // And what it writes from now on reaches the log as before.
    sim_post(port, "/__sim/turn?for=2ms");
    wait_for("a line written after the adoption", || {
        logs(&daemon, "main")
            .contains("agent turn started (2ms)")
            .then_some(())
    });
}

#[test]
fn an_adopted_gateway_drains_on_stop_and_its_keeper_ends() {
    let (mut daemon, _) = Daemon::gateways(&[("main", "")]);
    let pid = crashed_supervisor_over_main(&mut daemon);
    daemon.start();
    daemon.wait_state("main", "running");
    assert_eq!(daemon.instance_pid("main"), Some(pid));
    assert!(daemon.client(&["stop", "main"]).status.success());
    daemon.wait_state("main", "stopped");
    assert!(!alive(pid));
    let text = logs(&daemon, "main");
    assert!(
        text.contains("[shutdown] completed cleanly"),
        "the gateway drained and said so:\n{text}"
    );
    assert!(
        text.contains(&format!("pid {pid} exited with code 0 (stop requested)")),
        "its exit, as its keeper told it:\n{text}"
    );
    wait_for("the keeper to end", || {
        daemon.keepers().is_empty().then_some(())
    });
    let sockets: Vec<_> = fs::read_dir(daemon.state_dir.join("run").join("keep"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "sock"))
        .collect();
    assert!(
        sockets.is_empty(),
        "the keeper removed its socket: {sockets:?}"
    );
}

#[test]
fn a_kept_gateway_that_crashed_while_no_supervisor_ran_is_restarted_with_its_exit_known() {
    let (mut daemon, port) = Daemon::gateways(&[("main", "")]);
    let pid = crashed_supervisor_over_main(&mut daemon);
    crash(port, 3);
    wait_for("the gateway to be gone", || (!alive(pid)).then_some(()));
    daemon.start();
    let new = daemon.wait_new_pid("main", Some(pid));
    daemon.wait_state("main", "running");
    assert!(alive(new));
    let text = events(&daemon, "main");
    assert!(text.contains("adopted"), "{text}");
    assert!(
        text.contains("exit code 3"),
        "the exit its keeper kept: {text}"
    );
    let log = logs(&daemon, "main");
    assert!(
        log.contains("sim: crashing with exit code 3"),
        "its last words, spooled by its keeper:\n{log}"
    );
}

#[test]
fn a_stop_by_hand_before_the_crash_holds_and_nothing_is_adopted() {
    let (mut daemon, _) = Daemon::gateways(&[("main", "")]);
    daemon.wait_state("main", "running");
    assert!(daemon.client(&["stop", "main"]).status.success());
    daemon.wait_state("main", "stopped");
    daemon.signal(Signal::SIGKILL);
    daemon.wait_exit();
    daemon.start();
    let main = daemon.wait_state("main", "stopped");
    assert!(main["pid"].is_null(), "{main}");
    assert!(daemon.descendants().is_empty());
    assert!(daemon.keepers().is_empty());
}

/// The keeper of main (the one process of this test running `keep`).
pub(crate) fn keeper(daemon: &Daemon) -> i32 {
    let keepers = daemon.keepers();
    assert_eq!(keepers.len(), 1, "one keeper: {keepers:?}");
    keepers[0]
}

#[test]
fn a_keeper_ignores_the_signals_meant_for_a_session_or_a_unit() {
    let (daemon, _) = Daemon::gateways(&[("main", "")]);
    daemon.wait_state("main", "running");
    let pid = daemon.instance_pid("main").expect("main's pid");
    let keeper = keeper(&daemon);
    for signal in [
        Signal::SIGHUP,
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGQUIT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
    ] {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(keeper), signal)
            .expect("signal the keeper");
    }
    // A round trip through the supervisor and the gateway after the
    // signals: had the keeper ended, the gateway's exit (or the keeper's
    // loss) would be in the events before this answer.
    let main = daemon.wait_state("main", "running");
    assert!(alive(keeper), "the keeper lives on");
    assert_eq!(main["pid"].as_i64(), Some(i64::from(pid)));
    assert_eq!(main["restarts"].as_u64(), Some(0), "{main}");
    let text = events(&daemon, "main");
    assert!(!text.contains("exited"), "{text}");
}

#[test]
fn a_gateway_whose_keeper_is_killed_becomes_the_supervisors_child_and_its_exit_is_known() {
    let (daemon, port) = Daemon::gateways(&[("main", "")]);
    daemon.wait_state("main", "running");
    let pid = daemon.instance_pid("main").expect("main's pid");
    let keeper = keeper(&daemon);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(keeper), Signal::SIGKILL)
        .expect("kill the keeper");
    wait_for("the keeper to be gone", || (!alive(keeper)).then_some(()));
    assert!(alive(pid), "the gateway runs on without its keeper");
    crash(port, 5);
    let new = daemon.wait_new_pid("main", Some(pid));
    daemon.wait_state("main", "running");
    assert!(alive(new));
    let text = events(&daemon, "main");
    assert!(
        text.contains("exit code 5"),
        "the exit is known (the supervisor, a subreaper, reaped it): {text}"
    );
}

#[test]
fn a_gateway_whose_declaration_changed_while_no_supervisor_ran_is_adopted_then_restarted() {
    let (mut daemon, port) = Daemon::gateways(&[("main", "")]);
    let pid = crashed_supervisor_over_main(&mut daemon);
    // An added variable: the gateway would now be spawned differently.
    let changed = sim_declaration(daemon.path(), "main", port, "env: { EXTRA_SETTING: \"1\" }");
    fs::write(daemon.dir.join("main.yaml"), changed).expect("change the declaration");
    daemon.start();
    let new = daemon.wait_new_pid("main", Some(pid));
    daemon.wait_state("main", "running");
    assert!(!alive(pid), "the old gateway was stopped");
    let environ = fs::read(format!("/proc/{new}/environ")).expect("environ");
    assert!(String::from_utf8_lossy(&environ).contains("EXTRA_SETTING=1"));
    let text = events(&daemon, "main");
    assert!(text.contains("adopted"), "{text}");
    let log = logs(&daemon, "main");
    assert!(
        log.contains("[shutdown] completed cleanly"),
        "stopped gracefully, not killed:\n{log}"
    );
}
