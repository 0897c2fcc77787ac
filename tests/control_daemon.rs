//! The control socket and every client command against the real daemon over
//! simulated gateways: many clients at once while children crash, hostile
//! clients, the socket's modes and peer check, the operator's intent across
//! supervisor restarts, each command end to end, and no secret in any reply.
#![allow(clippy::disallowed_methods)] // A test starts the programs it tests.

#[path = "control_daemon/commands.rs"]
mod commands;
mod daemon_support;
#[path = "control_daemon/support.rs"]
mod support;

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use daemon_support::*;
use nix::sys::signal::Signal;
use openclaw_supervisor::control::Client;
use openclaw_supervisor::protocol::{ErrorKind, Request, Response, decode_response};
use support::*;

/// A crash-looping and a steady instance, the crashing one restarting fast.
fn crashing_and_steady() -> Daemon {
    let port = free_base_port();
    Daemon::with(|root| {
        vec![
            (
                "crashy.yaml",
                sim_declaration(
                    root,
                    "crashy",
                    port,
                    "env: { OPENCLAW_SIM_EXIT_CODE: \"1\" }\nrestart: { backoff: { initial: 10ms, max: 50ms } }",
                ),
            ),
            (
                "steady.yaml",
                sim_declaration(root, "steady", port + 1000, ""),
            ),
        ]
    })
}

#[test]
fn hundred_concurrent_clients_get_status_while_children_crash() {
    let mut daemon = crashing_and_steady();
    let steady_pid = daemon.wait_state("steady", "running")["pid"].clone();
    let crashes_before = restarts(&daemon, "crashy");
    let path = daemon.socket.clone();
    // Rounds of 100 clients at once until crashy has been restarted at
    // least three times meanwhile: the clients overlap the crashes.
    runtime().block_on(async move {
        let start = Instant::now();
        loop {
            let clients: Vec<_> = (0..100)
                .map(|_| {
                    let path = path.clone();
                    tokio::spawn(async move {
                        let mut client = Client::connect(&path).await.expect("connect");
                        let mut most_restarts = 0;
                        for _ in 0..3 {
                            let reply = client
                                .call(Request::Status { name: None })
                                .await
                                .expect("a reply");
                            assert_eq!(names(&reply), ["crashy", "steady"], "{reply:?}");
                            if let Response::Status { instances, .. } = reply {
                                assert_eq!(instances[1].state, "running");
                                most_restarts = most_restarts.max(instances[0].restarts);
                            }
                        }
                        most_restarts
                    })
                })
                .collect();
            let mut most_restarts = 0;
            for client in clients {
                let restarts = tokio::time::timeout(DEADLINE, client)
                    .await
                    .expect("every client is served within the deadline")
                    .expect("every client gets a status reply");
                most_restarts = most_restarts.max(restarts);
            }
            if u64::from(most_restarts) >= crashes_before + 3 {
                return;
            }
            assert!(start.elapsed() < DEADLINE, "crashy never crashed meanwhile");
        }
    });
    // The daemon goes on serving, and the steady gateway never noticed.
    let steady = daemon.instance("steady").expect("steady");
    assert_eq!(steady["pid"], steady_pid);
    assert_eq!(steady["restarts"], 0);
    assert!(daemon.try_exit().is_none(), "the supervisor is alive");
}

/// Reads one reply line from a raw connection (bounded by a read timeout).
fn read_reply(stream: &mut UnixStream) -> openclaw_supervisor::protocol::ResponseEnvelope {
    stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
    let mut line = String::new();
    BufReader::new(stream.try_clone().expect("clone"))
        .read_line(&mut line)
        .expect("read a reply");
    decode_response(line.trim_end().as_bytes()).expect("a well-formed reply")
}

fn error_kind(response: &Response) -> ErrorKind {
    match response {
        Response::Error { kind, .. } => *kind,
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn hostile_clients_never_stop_another_client_being_served() {
    let (mut daemon, _) = Daemon::gateways(&[("main", "")]);
    let main_pid = daemon.wait_state("main", "running")["pid"].clone();
    let served = |daemon: &Daemon| {
        assert_eq!(daemon.instance("main").expect("main")["pid"], main_pid);
    };

    // Connects and says nothing, for the whole test.
    let _silent = UnixStream::connect(&daemon.socket).expect("connect");
    served(&daemon);

    // An oversized line: one error naming it, then the connection is closed.
    let mut oversized = UnixStream::connect(&daemon.socket).expect("connect");
    oversized.write_all(&vec![b'x'; 70 * 1024]).expect("write");
    let reply = read_reply(&mut oversized);
    assert_eq!(
        (reply.id, error_kind(&reply.response)),
        (None, ErrorKind::TooLarge)
    );
    let mut rest = Vec::new();
    let _ = oversized.read_to_end(&mut rest);
    served(&daemon);

    // Binary garbage: an error naming it, and the same connection goes on.
    let mut garbage = UnixStream::connect(&daemon.socket).expect("connect");
    garbage
        .write_all(b"\xff\xfe\x00\x01garbage\xc3\x28\n")
        .expect("write");
    let reply = read_reply(&mut garbage);
    assert_eq!(error_kind(&reply.response), ErrorKind::NotUtf8);
    garbage
        .write_all(b"{\"v\":1,\"id\":2,\"request\":{\"type\":\"status\",\"name\":\"main\"}}\n")
        .expect("write");
    let reply = read_reply(&mut garbage);
    assert_eq!(reply.id, Some(2));
    assert_eq!(names(&reply.response), ["main"]);

    // Pipelines requests, 64 KiB at a time, and never reads a reply: the
    // daemon's side of it soon sits stuck writing replies nobody takes,
    // until its write timeout hangs up. Others are served all along.
    let hog = UnixStream::connect(&daemon.socket).expect("connect");
    let sent = Arc::new(AtomicUsize::new(0));
    let writer = {
        let sent = sent.clone();
        let mut hog = hog.try_clone().expect("clone");
        std::thread::spawn(move || {
            let chunk = "{\"v\":1,\"id\":1,\"request\":{\"type\":\"status\"}}\n".repeat(1400);
            while hog.write_all(chunk.as_bytes()).is_ok() {
                sent.fetch_add(chunk.len(), Ordering::Relaxed);
            }
        })
    };
    wait_for("the hog to send its first 64 KiB", || {
        (sent.load(Ordering::Relaxed) > 0).then_some(())
    });
    let mut served_meanwhile = 0;
    while !writer.is_finished() {
        served(&daemon);
        served_meanwhile += 1;
        assert!(
            served_meanwhile < 1000,
            "the daemon never hung up on the hog"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(served_meanwhile > 0);
    drop(hog);
    assert!(
        daemon.log_text().contains("stopped reading its replies"),
        "the daemon hung up because the hog did not read"
    );

    served(&daemon);
    assert!(daemon.try_exit().is_none(), "the supervisor survived");
    let log = daemon.log_text();
    assert!(!log.contains("panicked"), "{log}");
    daemon.signal(Signal::SIGTERM);
    assert!(daemon.wait_exit().success());
}

/// Makes a copy of the supervisor binary that uid 65534 can run.
fn binary_for_nobody(dir: &Path) -> std::path::PathBuf {
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).expect("chmod");
    let exe = dir.join("openclaw-supervisor");
    if fs::hard_link(SUPERVISOR, &exe).is_err() {
        fs::copy(SUPERVISOR, &exe).expect("copy the supervisor binary");
    }
    fs::set_permissions(&exe, fs::Permissions::from_mode(0o755)).expect("chmod");
    exe
}

/// `status --json` run as uid/gid 65534 against `socket`.
fn status_as_nobody(exe: &Path, socket: &Path, tag: &str) -> Ran {
    use std::os::unix::process::CommandExt;
    let output = Command::new(exe)
        .arg("--socket")
        .arg(socket)
        .args(["status", "--json"])
        .env("OPENCLAW_TEST_TAG", tag)
        .uid(65534)
        .gid(65534)
        .stdin(Stdio::null())
        .output()
        .expect("run the client as nobody");
    Ran {
        code: output.status.code().unwrap_or(-1),
        out: String::from_utf8_lossy(&output.stdout).into_owned(),
        err: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[test]
fn socket_is_private_and_another_uid_gets_no_status() {
    let (mut daemon, _) = Daemon::prepare(&[("main", "")]);
    // A directory the daemon creates itself.
    daemon.socket = daemon.path().join("run").join("s.sock");
    daemon.start();
    daemon.wait_state("main", "running");
    let socket_dir = daemon.socket.parent().expect("parent").to_path_buf();
    let mode = |path: &Path| fs::metadata(path).expect("metadata").permissions().mode() & 0o777;
    assert_eq!(mode(&daemon.socket), 0o600);
    assert_eq!(mode(&socket_dir), 0o700);

    if !nix::unistd::geteuid().is_root() {
        println!("note: the other-uid half is skipped: switching uid needs root");
        return;
    }
    let bin = tempfile::tempdir().expect("temp dir");
    let exe = binary_for_nobody(bin.path());
    // Let nobody reach the daemon's temp dir, so only the modes the daemon
    // set stand in the way: the 0700 directory denies the connection.
    fs::set_permissions(daemon.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
    let denied = status_as_nobody(&exe, &daemon.socket, &daemon.tag);
    assert_eq!(denied.code, 1, "{}", denied.err);
    assert!(denied.err.contains("Permission denied"), "{}", denied.err);
    assert!(!denied.out.contains("main"), "{}", denied.out);

    // With the modes loosened as a careless admin might, the peer check
    // still refuses: no status, a reason naming the uid.
    fs::set_permissions(&socket_dir, fs::Permissions::from_mode(0o755)).expect("chmod");
    fs::set_permissions(&daemon.socket, fs::Permissions::from_mode(0o666)).expect("chmod");
    let refused = status_as_nobody(&exe, &daemon.socket, &daemon.tag);
    assert_eq!(refused.code, 1, "{}", refused.err);
    assert!(
        refused.err.contains("refused") && refused.err.contains("uid 65534"),
        "{}",
        refused.err
    );
    assert!(!refused.out.contains("main"), "{}", refused.out);
    // The daemon's own uid is still served.
    assert!(daemon.instance("main").is_some());
}

#[test]
fn stop_keeps_an_instance_stopped_across_supervisor_restarts_until_start() {
    let (mut daemon, _) = Daemon::gateways(&[("main", ""), ("other", "")]);
    daemon.wait_state("main", "running");
    daemon.wait_state("other", "running");
    assert_eq!(ok(&daemon, &["stop", "main"]), "main: stopping\n");
    daemon.wait_state("main", "stopped");
    assert_eq!(intent(&daemon)["stopped"], serde_json::json!(["main"]));

    restart_supervisor(&mut daemon);
    let other = daemon.wait_state("other", "running");
    let main = daemon.instance("main").expect("main");
    assert_eq!(main["state"], "stopped", "{main}");
    assert!(main["pid"].is_null(), "{main}");
    // No gateway for main either: only the supervisor and other's gateway.
    let mut processes: Vec<i32> = tagged(&daemon.tag)
        .into_iter()
        .filter(|pid| !is_keeper(*pid))
        .collect();
    processes.sort();
    let mut expected = vec![daemon.pid(), other["pid"].as_i64().expect("pid") as i32];
    expected.sort();
    assert_eq!(processes, expected);

    assert_eq!(ok(&daemon, &["start", "main"]), "main: starting\n");
    daemon.wait_state("main", "running");
    assert_eq!(intent(&daemon)["stopped"], serde_json::json!([]));

    restart_supervisor(&mut daemon);
    let main = daemon.wait_state("main", "running");
    assert!(alive(main["pid"].as_i64().expect("pid") as i32));
    daemon.wait_state("other", "running");
}

#[test]
fn no_reply_and_no_supervisor_log_line_carries_a_secret() {
    const ENV_SECRET: &str = "s3cr3t-value";
    const CONFIG_SECRET: &str = "tok-xyz";
    let (mut daemon, port) = Daemon::prepare(&[(
        "main",
        &format!("env: {{ OPENCLAW_GATEWAY_TOKEN_TEST: \"{ENV_SECRET}\" }}"),
    )]);
    // The gateway's own config, with a token in it.
    write_sim_config(
        daemon.path(),
        "main",
        port,
        &format!("auth: {{ token: \"{CONFIG_SECRET}\" }}"),
    );
    daemon.start();
    let pid = pid_of(&daemon.wait_state("main", "running")) as i32;
    // The secret does reach the gateway, so its absence below means something.
    let environ = fs::read(format!("/proc/{pid}/environ")).expect("environ");
    assert!(String::from_utf8_lossy(&environ).contains(ENV_SECRET));

    let mut events = Events::follow(&daemon);
    ok(&daemon, &["restart", "main"]);
    events.wait("main spawned", is("main", "spawned"));
    daemon.wait_state("main", "running");
    let (_, report) = socket_check(&daemon);

    let said = [
        ("status --json", ok(&daemon, &["status", "--json"])),
        ("status", ok(&daemon, &["status"])),
        ("status main", ok(&daemon, &["status", "main"])),
        (
            "status main --json",
            ok(&daemon, &["status", "main", "--json"]),
        ),
        ("events", events.stream.seen().join("\n")),
        ("check over the socket", report.to_string()),
        ("the supervisor's log", daemon.log_text()),
    ];
    for (what, text) in said {
        assert!(!text.is_empty(), "{what} said nothing");
        for secret in [ENV_SECRET, CONFIG_SECRET] {
            assert!(!text.contains(secret), "{what} carries {secret}:\n{text}");
        }
    }
}

#[test]
fn a_socket_group_opens_the_socket_to_that_group_only() {
    use std::os::unix::fs::MetadataExt;
    let (mut daemon, _) = Daemon::prepare(&[("main", "")]);
    daemon.socket = daemon.path().join("run").join("s.sock");
    daemon.start_with_options(&["--socket-group", "65534"]);
    let meta = fs::metadata(&daemon.socket).expect("socket metadata");
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
    assert_eq!(meta.gid(), 65534, "the socket belongs to the group");
    let dir = fs::metadata(daemon.socket.parent().expect("parent")).expect("dir metadata");
    assert_eq!(dir.permissions().mode() & 0o777, 0o710);
    assert_eq!(dir.gid(), 65534);
    // The owner is still served.
    assert!(daemon.client(&["status"]).status.success());
}
