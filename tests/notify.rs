//! systemd readiness: a fake NOTIFY_SOCKET receives READY, STATUS,
//! RELOADING, WATCHDOG and STOPPING in the right order.
#![allow(clippy::disallowed_methods)] // A test starts the programs it tests.

mod daemon_support;

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use daemon_support::*;
use nix::sys::signal::Signal;

/// Every datagram until `until` matches one (bounded by the deadline).
fn receive_until(socket: &UnixDatagram, seen: &mut Vec<String>, until: impl Fn(&str) -> bool) {
    let mut buffer = [0u8; 4096];
    let start = std::time::Instant::now();
    loop {
        assert!(start.elapsed() < DEADLINE, "timed out; saw {seen:?}");
        match socket.recv(&mut buffer) {
            Ok(n) => {
                let message = String::from_utf8_lossy(&buffer[..n]).to_string();
                let done = until(&message);
                seen.push(message);
                if done {
                    return;
                }
            }
            Err(err)
                if err.kind() == std::io::ErrorKind::WouldBlock
                    || err.kind() == std::io::ErrorKind::TimedOut => {}
            Err(err) => panic!("recv: {err}"),
        }
    }
}

#[test]
fn systemd_hears_ready_status_reloading_watchdog_and_stopping_in_order() {
    let (mut daemon, _) = Daemon::prepare(&[("main", "")]);
    let root = daemon.path().to_path_buf();
    let socket_path = root.join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    daemon.start_with_env(&[
        ("NOTIFY_SOCKET", socket_path.to_str().unwrap()),
        // 200 ms: the supervisor pings every 100 ms.
        ("WATCHDOG_USEC", "200000"),
    ]);
    let mut seen = Vec::new();
    receive_until(&socket, &mut seen, |m| m == "READY=1");
    receive_until(&socket, &mut seen, |m| m.starts_with("STATUS="));
    receive_until(&socket, &mut seen, |m| m == "WATCHDOG=1");

    // READY is sent once every instance has been spawned.
    daemon.wait_state("main", "running");
    let pid = daemon.instance_pid("main").expect("pid");
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    assert!(
        !environ
            .split(|b| *b == 0)
            .any(|entry| entry.starts_with(b"NOTIFY_SOCKET=")
                || entry.starts_with(b"WATCHDOG_USEC=")),
        "the gateway does not inherit systemd's notify variables"
    );

    daemon.signal(Signal::SIGHUP);
    receive_until(&socket, &mut seen, |m| m.starts_with("RELOADING=1"));
    receive_until(&socket, &mut seen, |m| m == "READY=1");
    daemon.signal(Signal::SIGTERM);
    receive_until(&socket, &mut seen, |m| m == "STOPPING=1");
    assert!(daemon.wait_exit().success());

    let position = |wanted: &dyn Fn(&str) -> bool| {
        seen.iter()
            .position(|m| wanted(m))
            .unwrap_or_else(|| panic!("missing in {seen:?}"))
    };
    let ready = position(&|m| m == "READY=1");
    let reloading = position(&|m| m.starts_with("RELOADING=1"));
    let stopping = position(&|m| m == "STOPPING=1");
    assert!(ready < reloading && reloading < stopping, "order: {seen:?}");
    assert!(
        seen[reloading].contains("MONOTONIC_USEC="),
        "RELOADING carries MONOTONIC_USEC"
    );
    assert!(
        seen.iter()
            .any(|m| m.starts_with("STATUS=") && m.contains("running")),
        "a STATUS line sums the instances up: {seen:?}"
    );
}

#[test]
fn the_status_line_names_a_rejected_declaration() {
    let (mut daemon, _) = Daemon::prepare(&[("main", "")]);
    std::fs::write(daemon.dir.join("typo.yaml"), "port: [\n").expect("write typo.yaml");
    let socket_path = daemon.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    daemon.start_with_env(&[("NOTIFY_SOCKET", socket_path.to_str().unwrap())]);
    let mut seen = Vec::new();
    receive_until(&socket, &mut seen, |m| {
        m.starts_with("STATUS=") && m.contains("rejected: typo.yaml")
    });
    daemon.wait_state("main", "running");
}
