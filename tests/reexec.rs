//! `reexec` and SIGUSR2 against the real binary over simulated gateways:
//! the supervisor re-executes itself in place, keeping its pid, its socket
//! and each instance's state; a state the binary cannot read is refused
//! before the exec and the old process goes on.
#![allow(clippy::disallowed_methods)] // A test starts the programs it tests.

mod daemon_support;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use daemon_support::{Daemon, SUPERVISOR, crash, wait_for};
use nix::sys::signal::Signal;
use serde_json::Value;

fn reexecuted_events(daemon: &Daemon) -> Vec<Value> {
    daemon
        .journal(&["-n", "10000"])
        .into_iter()
        .filter(|event| event["kind"] == "reexecuted")
        .collect()
}

fn reexec(daemon: &Daemon) -> std::process::Output {
    daemon.client(&["reexec"])
}

fn field(daemon: &Daemon, name: &str, key: &str) -> Value {
    daemon.instance(name).expect("the instance")[key].clone()
}

#[test]
fn reexec_keeps_the_pid_and_each_instances_state() {
    let (daemon, port) = Daemon::gateways(&[
        ("held", ""),
        ("broken", ""),
        ("waiting", "restart: { backoff: { initial: 1h, max: 1h } }"),
    ]);
    let supervisor = daemon.pid();
    for name in ["held", "broken", "waiting"] {
        daemon.wait_state(name, "running");
    }
    // held: stopped by the operator.
    assert!(daemon.client(&["stop", "held"]).status.success());
    daemon.wait_state("held", "stopped");
    // broken: exit 78, failed until its config changes.
    crash(port + 1000, 78);
    daemon.wait_state("broken", "failed");
    // waiting: restarted once by hand, then crashed into an hour's backoff.
    let first = daemon.instance_pid("waiting");
    assert!(
        daemon
            .client(&["restart", "--force", "waiting"])
            .status
            .success()
    );
    let second = daemon.wait_new_pid("waiting", first);
    daemon.wait_state("waiting", "running");
    crash(port + 2000, 1);
    daemon.wait_state("waiting", "backoff");
    let restarts = field(&daemon, "waiting", "restarts");
    let next_restart_at = field(&daemon, "waiting", "next_restart_at");
    assert_eq!(restarts, 1, "{second}");

    let output = reexec(&daemon);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        stdout.contains(&format!("re-executed: {version} -> {version}")),
        "{stdout}"
    );

    // The same process answers, and it is a new program image.
    let mut daemon = daemon;
    assert_eq!(daemon.try_exit(), None, "the supervisor exited");
    assert_eq!(daemon.pid(), supervisor);
    let events = reexecuted_events(&daemon);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        events[0]["detail"],
        format!("{version} -> {version}"),
        "{events:?}"
    );
    assert_eq!(daemon.state("held").as_deref(), Some("stopped"));
    assert_eq!(daemon.state("broken").as_deref(), Some("failed"));
    assert_eq!(daemon.state("waiting").as_deref(), Some("backoff"));
    assert_eq!(field(&daemon, "waiting", "restarts"), restarts);
    // The same time, to the millisecond (each side rounds to one).
    let after = field(&daemon, "waiting", "next_restart_at");
    let (Some(before), Some(after)) = (next_restart_at.as_u64(), after.as_u64()) else {
        panic!("no next restart: {next_restart_at} {after}");
    };
    assert!(before.abs_diff(after) <= 1, "{before} -> {after}");
    // The state file is read once and gone.
    assert!(!daemon.state_dir.join("run/.reexec.json").exists());
    // The instances act again: a start of the held one runs it.
    assert!(daemon.client(&["start", "held"]).status.success());
    daemon.wait_state("held", "running");
}

#[test]
fn sigusr2_reexecs_like_the_verb() {
    let (mut daemon, _port) = Daemon::gateways(&[("main", "")]);
    let supervisor = daemon.pid();
    let gateway = daemon.wait_state("main", "running")["pid"].clone();
    daemon.signal(Signal::SIGUSR2);
    let event = wait_for("the reexecuted event", || {
        reexecuted_events(&daemon).into_iter().next()
    });
    assert_eq!(event["instance"], Value::Null, "{event}");
    assert_eq!(daemon.try_exit(), None, "the supervisor exited");
    assert_eq!(daemon.pid(), supervisor);
    // The gateway was adopted through its keeper, not started again.
    assert_eq!(daemon.wait_state("main", "running")["pid"], gateway);
    assert_eq!(
        daemon
            .journal(&["main", "-n", "1000"])
            .iter()
            .filter(|e| e["kind"] == "spawned")
            .count(),
        1
    );
}

#[test]
fn reexec_check_refuses_a_newer_state_format_with_the_reason() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("reexec.json");
    std::fs::write(&file, r#"{"format":999,"instances":"another shape"}"#).expect("write");
    let output = std::process::Command::new(SUPERVISOR)
        .arg("reexec-check")
        .arg(&file)
        .output()
        .expect("run reexec-check");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("format 999"), "{stderr}");
    assert!(stderr.contains("reads format 1 at most"), "{stderr}");
}

/// Replace `path` (a running binary: not writable, but replaceable) with a
/// copy of `/bin/false`.
fn replace_with_false(path: &Path) {
    let temp = path.with_extension("new");
    std::fs::copy("/bin/false", &temp).expect("copy /bin/false");
    std::fs::set_permissions(&temp, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::rename(&temp, path).expect("replace the binary");
}

#[test]
fn a_reexec_whose_binary_cannot_read_the_state_is_refused_and_the_old_process_goes_on() {
    let (mut daemon, _port) = Daemon::prepare(&[("main", "")]);
    let bin = daemon.path().join("bin");
    std::fs::create_dir_all(&bin).expect("bin dir");
    let copy = bin.join("openclaw-supervisor");
    std::fs::copy(SUPERVISOR, &copy).expect("copy the supervisor");
    daemon.program = Some(copy.clone());
    daemon.start();
    let gateway = daemon.wait_state("main", "running")["pid"].clone();
    // What an upgrade does, with a binary that reads nothing.
    replace_with_false(&copy);

    let output = reexec(&daemon);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("re-exec refused"), "{stderr}");
    assert!(stderr.contains("cannot read the saved state"), "{stderr}");

    assert_eq!(daemon.try_exit(), None, "the supervisor exited");
    assert!(reexecuted_events(&daemon).is_empty());
    assert!(!daemon.state_dir.join("run/.reexec.json").exists());
    // Untouched, and acting again (thawed): a stop goes through.
    assert_eq!(field(&daemon, "main", "pid"), gateway);
    assert!(daemon.client(&["stop", "main"]).status.success());
    daemon.wait_state("main", "stopped");
}

#[test]
fn a_reexec_while_an_instance_stops_is_refused_with_the_reason() {
    let (daemon, _port) = Daemon::gateways(&[(
        "main",
        "env: { OPENCLAW_SIM_IGNORE_SIGTERM: \"1\" }\nstop: { timeout: 1h }",
    )]);
    daemon.wait_state("main", "running");
    assert!(daemon.client(&["stop", "main"]).status.success());
    daemon.wait_state("main", "stopping");
    let output = reexec(&daemon);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("main is stopping; try again when it has stopped"),
        "{stderr}"
    );
    assert_eq!(daemon.state("main").as_deref(), Some("stopping"));
    assert!(reexecuted_events(&daemon).is_empty());
}

/// One `version` request on a fresh connection: Err only when the
/// connection itself is refused (or the socket is missing).
fn connect_and_ask(socket: &Path) -> Result<(), std::io::Error> {
    let mut stream = UnixStream::connect(socket)?;
    let _ = stream.write_all(b"{\"v\":1,\"id\":1,\"request\":{\"type\":\"version\"}}\n");
    let mut line = String::new();
    // An answer, or EOF when the old process accepted it just before its
    // exec: either way the connection was not refused.
    let _ = BufReader::new(stream).read_line(&mut line);
    Ok(())
}

#[test]
fn clients_connecting_during_a_reexec_are_never_refused() {
    let (daemon, _port) = Daemon::gateways(&[("main", "")]);
    let gateway = daemon.wait_state("main", "running")["pid"].clone();
    let done = Arc::new(AtomicBool::new(false));
    let socket = daemon.socket.clone();
    let knocking = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut tries = 0u64;
            let mut refused = Vec::new();
            while !done.load(Ordering::Relaxed) {
                tries += 1;
                if let Err(err) = connect_and_ask(&socket) {
                    refused.push(err.to_string());
                }
            }
            (tries, refused)
        })
    };
    let output = reexec(&daemon);
    done.store(true, Ordering::Relaxed);
    let (tries, refused) = knocking.join().expect("the knocking thread");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(reexecuted_events(&daemon).len(), 1);
    assert!(tries > 0);
    assert!(
        refused.is_empty(),
        "{} of {tries}: {refused:?}",
        refused.len()
    );
    assert_eq!(daemon.wait_state("main", "running")["pid"], gateway);
}

#[test]
fn a_garbled_state_file_is_logged_and_the_start_goes_on_as_after_a_crash() {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let (mut daemon, _port) = Daemon::prepare(&[("main", "")]);
    // What an old process hands over: the locked lock file, the bound
    // socket, and a state file (here one that does not parse).
    std::fs::create_dir_all(daemon.state_dir.join("run")).expect("state dir");
    let lock = std::fs::File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(daemon.state_dir.join("supervisor.lock"))
        .expect("lock file");
    // SAFETY: flock(2) on a descriptor this File owns.
    let locked = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    assert_eq!(locked, 0, "flock: {}", std::io::Error::last_os_error());
    let listener = std::os::unix::net::UnixListener::bind(&daemon.socket).expect("bind");
    let state = daemon.state_dir.join("run/.reexec.json");
    std::fs::write(&state, "{ not json").expect("write the state");
    let (lock_fd, listen_fd) = (lock.as_raw_fd(), listener.as_raw_fd());
    daemon.start_with_setup(|command| {
        command
            .env("OPENCLAW_SUPERVISOR_REEXEC_STATE", &state)
            .env("OPENCLAW_SUPERVISOR_LISTEN_FD", "10")
            .env("OPENCLAW_SUPERVISOR_LOCK_FD", "11");
        // SAFETY: dup2 is async-signal-safe and allocates nothing.
        unsafe {
            command.pre_exec(move || {
                for (from, to) in [(listen_fd, 10), (lock_fd, 11)] {
                    if libc::dup2(from, to) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
    });
    // The daemon holds both now (its copies share them). Closed, not
    // unlocked: an unlock would release the one lock they share.
    drop(listener);
    drop(lock);
    daemon.wait_state("main", "running");
    assert!(
        daemon.log_text().contains("the saved state is unusable"),
        "{}",
        daemon.log_text()
    );
    assert!(!state.exists(), "the state file is removed once read");
    assert!(reexecuted_events(&daemon).is_empty());
    // It holds the lock it was handed: a second supervisor is refused.
    let mut second = Daemon::new(&[]);
    second.state_dir = daemon.state_dir.clone();
    second.socket = daemon.path().join("second.sock");
    let (status, stderr) = second.start_expecting_exit(&[]);
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains("another supervisor holds the lock"),
        "{stderr}"
    );
}

#[test]
fn an_instance_named_reexec_keeps_its_gateway_across_a_reexec() {
    // Its pid record is `run/reexec.json`; the state file is another.
    let (mut daemon, _port) = Daemon::gateways(&[("reexec", "")]);
    let gateway = daemon.wait_state("reexec", "running")["pid"].clone();
    assert!(gateway.is_u64(), "{gateway}");
    let output = reexec(&daemon);
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(daemon.try_exit(), None, "the supervisor exited");
    assert_eq!(reexecuted_events(&daemon).len(), 1);
    let after = daemon.wait_state("reexec", "running");
    assert_eq!(after["pid"], gateway, "{after}");
    assert_eq!(after["adoption"]["kind"], "adopted", "{after}");
    assert!(daemon.state_dir.join("run/reexec.json").exists());
    assert!(!daemon.state_dir.join("run/.reexec.json").exists());
}

/// The re-exec's variables, as someone might set them on a fresh start:
/// the state file `state`, descriptors 50 and 51 (not open).
fn handed_over_env(state: &Path) -> [(&'static str, String); 3] {
    [
        (
            "OPENCLAW_SUPERVISOR_REEXEC_STATE",
            state.display().to_string(),
        ),
        ("OPENCLAW_SUPERVISOR_LISTEN_FD", "50".to_string()),
        ("OPENCLAW_SUPERVISOR_LOCK_FD", "51".to_string()),
    ]
}

#[test]
fn a_state_file_anywhere_else_is_ignored_and_left_alone() {
    let (mut daemon, _port) = Daemon::prepare(&[("main", "")]);
    let elsewhere = daemon.path().join("precious.json");
    std::fs::write(&elsewhere, "not the supervisor's").expect("write");
    let env = handed_over_env(&elsewhere);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    daemon.start_with_env(&env);
    daemon.wait_state("main", "running");
    let log = daemon.log_text();
    assert!(log.contains("precious.json is not"), "{log}");
    assert_eq!(
        std::fs::read_to_string(&elsewhere).expect("still there"),
        "not the supervisor's"
    );
    assert!(reexecuted_events(&daemon).is_empty());
}

#[test]
fn a_handed_over_lock_that_cannot_be_taken_removes_the_state_file() {
    let (mut daemon, _port) = Daemon::prepare(&[("main", "")]);
    std::fs::create_dir_all(daemon.state_dir.join("run")).expect("state dir");
    let state = daemon.state_dir.join("run/.reexec.json");
    std::fs::write(&state, "{}").expect("write the state");
    let child = daemon
        .command()
        .arg("start")
        .envs(handed_over_env(&state))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn the supervisor");
    daemon.child = Some(child);
    let status = daemon.wait_exit();
    assert!(!status.success());
    assert!(!state.exists(), "the state file is left behind");
}

#[test]
fn no_gateway_output_is_lost_across_a_reexec() {
    let (mut daemon, port) = Daemon::gateways(&[("main", "")]);
    daemon.wait_state("main", "running");
    // Each turn the gateway starts prints one line; turns go on while the
    // supervisor re-executes.
    let stop = Arc::new(AtomicBool::new(false));
    let talker = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut said = 0;
            while !stop.load(Ordering::SeqCst) {
                daemon_support::sim_post(port, "/__sim/turn?for=1ms");
                said += 1;
            }
            said
        })
    };
    let output = reexec(&daemon);
    stop.store(true, Ordering::SeqCst);
    let said = talker.join().expect("the talker");
    assert!(output.status.success(), "{output:?}");
    assert_eq!(daemon.try_exit(), None, "the supervisor exited");
    let count = || {
        let logs = daemon.client(&["logs", "main", "-n", "100000"]);
        String::from_utf8_lossy(&logs.stdout)
            .lines()
            .filter(|line| line.contains("sim: agent turn started"))
            .count()
    };
    // Lines read after the exec reach the file a moment later.
    wait_for("every line in the log", || (count() >= said).then_some(()));
    assert_eq!(count(), said);
}
