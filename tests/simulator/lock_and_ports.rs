//! What a gateway claims: its state dir's lock (a live one owns it, a
//! stale one is reclaimed) and its ports on both loopback addresses.

use std::fs;
use std::net::{Ipv6Addr, TcpListener, TcpStream};

use crate::exit_code;
use crate::sim_support::{self, DEADLINE, Sim, get, http_to, sim_command, wait_for};

#[test]
fn a_live_gateway_owns_its_state_dir() {
    let first = Sim::start(&[], &[]);
    let mut second = Sim::prepare();
    let mut command = sim_command(first.dir.path(), second.port, &[], &[]);
    // Same state dir and config, own logs.
    command.stderr(fs::File::create(second.dir.path().join("stderr.log")).expect("stderr"));
    command.stdout(fs::File::create(second.dir.path().join("stdout.log")).expect("stdout"));
    second.child = Some(command.spawn().expect("spawn"));
    assert_eq!(exit_code(&mut second), Some(78));
    assert!(
        second.stderr().contains("already running"),
        "{}",
        second.stderr()
    );
    assert_eq!(first.lock_files().len(), 1);
}

#[test]
fn a_stale_lock_is_reclaimed() {
    let mut sim = Sim::prepare();
    sim.spawn(&["--sim-crash-after", "0s"], &[]);
    assert_eq!(exit_code(&mut sim), Some(1));
    assert_eq!(sim.lock_files().len(), 1, "a crash leaves its lock behind");
    sim.spawn(&[], &[]);
    sim.status = None;
    sim.wait_listening();
    let locks = sim.lock_files();
    assert_eq!(locks.len(), 1);
    let record: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&locks[0]).expect("read lock")).expect("json");
    assert_eq!(
        record["pid"],
        sim.pid().as_raw(),
        "the new gateway took the lock"
    );
}
/// A simulator spawned while the test holds its port on `host`.
fn spawned_with_the_port_held_on(host: &str) -> (Sim, TcpListener) {
    let mut sim = Sim::prepare();
    let holder = TcpListener::bind((host, sim.port)).expect("hold the port");
    sim.spawn(&[], &[]);
    (sim, holder)
}

#[test]
fn port_in_use_on_127_0_0_1_exits_1_with_the_real_lines_naming_the_holder() {
    let (mut sim, _holder) = spawned_with_the_port_held_on("127.0.0.1");
    let port = sim.port;
    assert_eq!(exit_code(&mut sim), Some(1));
    let stderr = sim.stderr();
    for line in [
        format!(
            "Gateway failed to start: another gateway instance is already listening on ws://127.0.0.1:{port}"
        ),
        "If the gateway is supervised, stop it with: openclaw gateway stop".to_string(),
        format!("Port {port} is already in use."),
        format!("- pid {}: ", std::process::id()),
        format!("(127.0.0.1:{port})"),
    ] {
        assert!(stderr.contains(&line), "{line:?} in {stderr}");
    }
    assert!(sim.lock_files().is_empty());
}

#[test]
fn it_serves_on_both_loopback_addresses() {
    let sim = Sim::start(&[], &[]);
    let port = sim.port;
    wait_for("both listeners", || {
        sim.stdout()
            .contains(&format!("listening on [::1]:{port} (PID {})", sim.pid()))
            .then_some(())
    });
    let (status, _) = http_to(
        std::net::SocketAddr::new(Ipv6Addr::LOCALHOST.into(), port),
        "GET",
        "/healthz",
        DEADLINE,
    )
    .expect("answers on [::1]");
    assert_eq!(status, 200);
}

#[test]
fn port_in_use_on_the_ipv6_loopback_alone_is_a_warning_and_127_0_0_1_is_served() {
    let (mut sim, holder) = spawned_with_the_port_held_on("::1");
    let port = sim.port;
    sim.wait_listening();
    let warning = format!(
        "failed to bind loopback alias ::1:{port} (GatewayLockError: another gateway instance is already listening on ws://::1:{port})"
    );
    wait_for("the real gateway's warning", || {
        sim.stdout().contains(&warning).then_some(())
    });
    // Tagged `[gateway]` like every line, as the real one prints it.
    assert!(
        sim.stdout().contains(&format!("[gateway] {warning}")),
        "{}",
        sim.stdout()
    );
    assert_eq!(sim.try_exit(), None, "it goes on");
    assert_eq!(get(port, "/healthz").expect("127.0.0.1").0, 200);
    // A client of [::1] reaches the holder, not the gateway.
    let _client = TcpStream::connect(("::1", port)).expect("connect [::1]");
    holder.accept().expect("the holder has the client");
}
#[test]
fn test_ports_are_claimed_below_the_ephemeral_range_and_never_shared() {
    let (ephemeral_low, _) = sim_support::ephemeral_range();
    let mine = sim_support::claim_ports(2_111);
    assert!(u32::from(mine) + 2_111 <= u32::from(ephemeral_low));
    // Another test running now (here: another thread) gets other ports.
    let theirs = std::thread::spawn(|| sim_support::claim_ports(2_111))
        .join()
        .expect("the other claim");
    assert!(
        theirs >= mine + 2_111 || mine >= theirs + 2_111,
        "{mine} and {theirs}"
    );
    // A port plain bind would have handed out comes from the ephemeral range.
    let os_pick = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("an OS-picked port")
        .port();
    assert!(
        os_pick >= ephemeral_low,
        "why the tests no longer ask the OS"
    );
}
