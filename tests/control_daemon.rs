//! The control socket and every client command against the real daemon over
//! simulated gateways: many clients at once while children crash, hostile
//! clients, the socket's modes and peer check, the operator's intent across
//! supervisor restarts, each command end to end, and no secret in any reply.

mod daemon_support;

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use daemon_support::*;
use nix::sys::signal::Signal;
use openclaw_supervisor::control::{self, Client};
use openclaw_supervisor::protocol::{ErrorKind, Request, Response, decode_response};
use serde_json::Value;

/// A client command's exit code, stdout and stderr.
struct Ran {
    code: i32,
    out: String,
    err: String,
}

fn run(daemon: &Daemon, args: &[&str]) -> Ran {
    let output = daemon.client(args);
    Ran {
        code: output.status.code().unwrap_or(-1),
        out: String::from_utf8_lossy(&output.stdout).into_owned(),
        err: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs a client command that must succeed; its stdout.
fn ok(daemon: &Daemon, args: &[&str]) -> String {
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

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

/// A client command that keeps printing (`logs -f`, `events`): its stdout
/// lines arrive on a channel; it is killed when dropped.
struct Follower {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Follower {
    fn spawn(daemon: &Daemon, args: &[&str]) -> Follower {
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
    fn next_within(&mut self, wait: Duration) -> Option<String> {
        let line = self.lines.recv_timeout(wait).ok()?;
        self.seen.push(line.clone());
        Some(line)
    }

    /// Waits (bounded) for a line that `wanted` accepts.
    fn wait_line(&mut self, what: &str, mut wanted: impl FnMut(&str) -> bool) -> String {
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
fn subscribed_events(daemon: &Daemon, name: &str) -> Follower {
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

fn names(response: &Response) -> Vec<String> {
    match response {
        Response::Status { instances, .. } => instances.iter().map(|i| i.name.clone()).collect(),
        other => panic!("expected a status reply, got {other:?}"),
    }
}

fn restarts(daemon: &Daemon, name: &str) -> u64 {
    daemon.instance(name).expect(name)["restarts"]
        .as_u64()
        .unwrap_or(0)
}

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
    let rounds = runtime().block_on(async move {
        let start = Instant::now();
        let mut rounds = 0;
        loop {
            rounds += 1;
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
                return rounds;
            }
            assert!(start.elapsed() < DEADLINE, "crashy never crashed meanwhile");
        }
    });
    assert!(rounds >= 1);
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
    let port = free_base_port();
    let mut daemon =
        Daemon::with(|root| vec![("main.yaml", sim_declaration(root, "main", port, ""))]);
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
    let port = free_base_port();
    let mut daemon = Daemon::new(&[]);
    fs::write(
        daemon.dir.join("main.yaml"),
        sim_declaration(daemon.path(), "main", port, ""),
    )
    .expect("declaration");
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

/// SIGTERM the supervisor, wait for its clean exit, start a new one over
/// the same dirs.
fn restart_supervisor(daemon: &mut Daemon) {
    daemon.signal(Signal::SIGTERM);
    let status = daemon.wait_exit();
    assert!(status.success(), "the supervisor exits 0: {status}");
    daemon.start();
}

fn intent(daemon: &Daemon) -> Value {
    let text = fs::read_to_string(daemon.state_dir.join("intent.json")).expect("intent.json");
    serde_json::from_str(&text).expect("intent.json is JSON")
}

#[test]
fn stop_keeps_an_instance_stopped_across_supervisor_restarts_until_start() {
    let port = free_base_port();
    let mut daemon = Daemon::with(|root| {
        vec![
            ("main.yaml", sim_declaration(root, "main", port, "")),
            (
                "other.yaml",
                sim_declaration(root, "other", port + 1000, ""),
            ),
        ]
    });
    daemon.wait_state("main", "running");
    daemon.wait_state("other", "running");
    assert_eq!(ok(&daemon, &["stop", "main"]), "stopping main\n");
    daemon.wait_state("main", "stopped");
    assert_eq!(intent(&daemon)["stopped"], serde_json::json!(["main"]));

    restart_supervisor(&mut daemon);
    let other = daemon.wait_state("other", "running");
    let main = daemon.instance("main").expect("main");
    assert_eq!(main["state"], "stopped", "{main}");
    assert!(main["pid"].is_null(), "{main}");
    // No gateway for main either: only the supervisor and other's gateway.
    let mut processes = tagged(&daemon.tag);
    processes.sort();
    let mut expected = vec![daemon.pid(), other["pid"].as_i64().expect("pid") as i32];
    expected.sort();
    assert_eq!(processes, expected);

    assert_eq!(ok(&daemon, &["start", "main"]), "starting main\n");
    daemon.wait_state("main", "running");
    assert_eq!(intent(&daemon)["stopped"], serde_json::json!([]));

    restart_supervisor(&mut daemon);
    let main = daemon.wait_state("main", "running");
    assert!(alive(main["pid"].as_i64().expect("pid") as i32));
    daemon.wait_state("other", "running");
}

fn pid_of(instance: &Value) -> i64 {
    instance["pid"]
        .as_i64()
        .unwrap_or_else(|| panic!("a pid: {instance}"))
}

#[test]
fn status_as_a_table_as_json_and_for_one_instance() {
    let port = free_base_port();
    let daemon = Daemon::with(|root| {
        vec![
            ("main.yaml", sim_declaration(root, "main", port, "")),
            (
                "rescue.yaml",
                sim_declaration(root, "rescue", port + 1000, "role: rescue\nrescue_of: main"),
            ),
        ]
    });
    let main_pid = pid_of(&daemon.wait_state("main", "running"));
    let rescue_pid = pid_of(&daemon.wait_state("rescue", "running"));

    let table = ok(&daemon, &["status"]);
    assert!(
        !table.contains('\x1b'),
        "no colours off a terminal: {table:?}"
    );
    let rows: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows[0],
        [
            "NAME", "ROLE", "STATE", "PID", "UPTIME", "RESTARTS", "HEALTH", "PORT", "CPU", "MEM"
        ]
    );
    for (row, (name, pid, base)) in rows[1..].iter().zip([
        ("main", main_pid, port),
        ("rescue", rescue_pid, port + 1000),
    ]) {
        assert_eq!(row.len(), 10, "{table}");
        assert_eq!(
            &row[..4],
            [name, name, "running", &pid.to_string()],
            "{table}"
        );
        assert_eq!(row[7], base.to_string());
        assert!(row[8].ends_with('%') && row[9].ends_with('M'), "{table}");
    }

    let json = daemon.status_json();
    let main = &json["instances"][0];
    assert_eq!(main["name"], "main");
    assert_eq!(main["role"], "main");
    assert_eq!(main["ports"]["base"], port);
    assert_eq!(main["ports"]["block_end"], port + 110);
    assert!(main["cpu_percent"].is_number(), "{main}");
    assert!(
        main["memory_bytes"].as_u64().unwrap_or(0) > 1024 * 1024,
        "{main}"
    );
    assert_eq!(main["probes"]["startup"]["ok"], true);
    assert!(
        main["declaration_file"]
            .as_str()
            .is_some_and(|f| f.ends_with("supervisor.d/main.yaml")),
        "{main}"
    );
    assert_eq!(json["instances"][1]["rescue_of"], "main");
    assert_eq!(json["rejected"], serde_json::json!([]));

    let detail = ok(&daemon, &["status", "main"]);
    assert!(detail.starts_with("main (main): running\n"), "{detail}");
    for wanted in [
        format!("pid          {main_pid}"),
        format!("ports        {port} (block {port}-{})", port + 110),
        format!(
            "config       {}",
            daemon.path().join("instances/main/openclaw.json").display()
        ),
    ] {
        assert!(detail.contains(&wanted), "{wanted:?} in {detail}");
    }
    let one: Value = serde_json::from_str(&ok(&daemon, &["status", "main", "--json"]))
        .expect("status NAME --json is JSON");
    assert_eq!(one["instances"].as_array().map(Vec::len), Some(1));
    assert_eq!(one["instances"][0]["name"], "main");
}

#[test]
fn stop_start_restart_and_signal_act_on_the_named_instance_only() {
    let port = free_base_port();
    let daemon = Daemon::with(|root| {
        vec![
            (
                "main.yaml",
                sim_declaration(
                    root,
                    "main",
                    port,
                    "restart: { backoff: { initial: 50ms } }",
                ),
            ),
            (
                "other.yaml",
                sim_declaration(root, "other", port + 1000, ""),
            ),
        ]
    });
    let first = pid_of(&daemon.wait_state("main", "running")) as i32;
    let other = pid_of(&daemon.wait_state("other", "running"));

    assert_eq!(ok(&daemon, &["stop", "main"]), "stopping main\n");
    let stopped = daemon.wait_state("main", "stopped");
    assert!(stopped["pid"].is_null() && !alive(first), "{stopped}");
    let nothing = run(&daemon, &["signal", "main", "HUP"]);
    assert_eq!(nothing.code, 1, "{}", nothing.out);
    assert!(
        nothing
            .err
            .contains("main has no running gateway to signal (it is stopped)"),
        "{}",
        nothing.err
    );

    assert_eq!(ok(&daemon, &["start", "main"]), "starting main\n");
    let second = daemon.wait_new_pid("main", None);
    daemon.wait_state("main", "running");

    assert_eq!(ok(&daemon, &["restart", "main"]), "restarting main\n");
    let third = daemon.wait_new_pid("main", Some(second));
    assert!(!alive(second));
    daemon.wait_state("main", "running");

    // The simulator stops cleanly on SIGTERM; policy `always` brings it back.
    assert_eq!(
        ok(&daemon, &["signal", "main", "TERM"]),
        "sending SIGTERM to main\n"
    );
    daemon.wait_new_pid("main", Some(third));
    let main = daemon.wait_state("main", "running");
    assert_eq!(main["last_exit"]["code"], 0, "{main}");

    let other_now = daemon.instance("other").expect("other");
    assert_eq!(pid_of(&other_now), other);
    assert_eq!(other_now["restarts"], 0);
}

#[test]
fn logs_print_the_tail_and_follow_new_lines() {
    let port = free_base_port();
    let daemon = Daemon::with(|root| vec![("main.yaml", sim_declaration(root, "main", port, ""))]);
    let pid = pid_of(&daemon.wait_state("main", "running"));
    let listening = |pid: i64| format!("listening on 127.0.0.1:{port} (PID {pid})");

    let tail = ok(&daemon, &["logs", "main", "-n", "5"]);
    let lines: Vec<&str> = tail.lines().collect();
    assert!((1..=5).contains(&lines.len()), "{tail}");
    assert!(tail.contains(&listening(pid)), "{tail}");
    assert_eq!(ok(&daemon, &["logs", "main", "-n", "1"]).lines().count(), 1);

    // The tail line proves the follower is subscribed; then a restart.
    let mut follower = Follower::spawn(&daemon, &["logs", "main", "-f", "-n", "1"]);
    follower.wait_line("the tail", |_| true);
    ok(&daemon, &["restart", "main"]);
    let new = daemon.wait_new_pid("main", Some(pid as i32));
    follower.wait_line("the new gateway's listening line", |line| {
        line.contains(&listening(new as i64))
    });
}

#[test]
fn events_stream_state_changes_as_json_and_as_text() {
    let port = free_base_port();
    let daemon = Daemon::with(|root| vec![("main.yaml", sim_declaration(root, "main", port, ""))]);
    let pid = pid_of(&daemon.wait_state("main", "running")) as i32;

    let mut events = subscribed_events(&daemon, "main");
    ok(&daemon, &["restart", "main"]);
    let new = daemon.wait_new_pid("main", Some(pid));
    let parse = |line: &str| -> Value { serde_json::from_str(line).expect("an event is JSON") };
    let command = parse(&events.wait_line("the operator's restart", |line| {
        parse(line)["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("restart"))
    }));
    assert_eq!(command["kind"], "command", "{command}");
    assert_eq!(command["instance"], "main");
    let spawned = parse(&events.wait_line("main spawned", |line| {
        let event = parse(line);
        event["kind"] == "spawned" && event["instance"] == "main"
    }));
    assert!(spawned["at"].as_u64().is_some_and(|at| at > 0), "{spawned}");
    assert!(
        spawned["detail"]
            .as_str()
            .unwrap_or("")
            .contains(&new.to_string()),
        "{spawned}"
    );

    // Text: one line per event, time, instance, kind, detail.
    let mut text = Follower::spawn(&daemon, &["events"]);
    let start = Instant::now();
    let line = loop {
        ok(&daemon, &["signal", "main", "CONT"]);
        if let Some(line) = text.next_within(Duration::from_millis(200)) {
            break line;
        }
        assert!(start.elapsed() < DEADLINE, "no text event arrived");
    };
    let words: Vec<&str> = line.split_whitespace().collect();
    assert!(words[0].ends_with('Z'), "{line}");
    assert_eq!(
        words[1..],
        ["main", "command", "signal", "SIGCONT", "by", "operator"]
    );
}

/// A POST to the simulator's own endpoints (`/__sim/...`); its status code.
fn sim_post(port: u16, path: &str) -> u16 {
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

#[test]
fn readiness_turning_failing_and_back_is_an_event_and_in_the_table() {
    let port = free_base_port();
    let daemon = Daemon::with(|root| {
        vec![(
            "main.yaml",
            sim_declaration(
                root,
                "main",
                port,
                "probes: { readiness: { every: 100ms, failures: 2 } }",
            ),
        )]
    });
    daemon.wait_state("main", "running");
    let parse = |line: &str| -> Value { serde_json::from_str(line).expect("an event is JSON") };
    let mut events = subscribed_events(&daemon, "main");
    assert_eq!(sim_post(port, "/__sim/ready?failing=discord"), 200);
    let failing = parse(&events.wait_line("readiness failing", |line| {
        parse(line)["kind"] == "probe_changed"
    }));
    let detail = failing["detail"].as_str().unwrap_or_default();
    assert!(
        detail.starts_with("readiness failing (2 in a row), failing: discord"),
        "{failing}"
    );
    let table = ok(&daemon, &["status"]);
    assert!(table.contains("not ready: discord"), "{table}");

    assert_eq!(sim_post(port, "/__sim/ready?failing="), 200);
    let passing = parse(&events.wait_line("readiness passing", |line| {
        parse(line)["kind"] == "probe_changed"
    }));
    assert_eq!(passing["detail"], "readiness passing again", "{passing}");
    assert_eq!(passing["instance"], "main");
}

/// The daemon's `check`, asked over the socket.
fn socket_check(daemon: &Daemon) -> (bool, Value) {
    let path = daemon.socket.clone();
    match runtime().block_on(control::request(&path, Request::Check)) {
        Ok(Response::Check { ok, report }) => (ok, report),
        other => panic!("expected a check reply, got {other:?}"),
    }
}

#[test]
fn reload_check_and_version_answer_through_the_socket() {
    let port = free_base_port();
    let daemon = Daemon::with(|root| vec![("main.yaml", sim_declaration(root, "main", port, ""))]);
    let main_pid = pid_of(&daemon.wait_state("main", "running"));

    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        ok(&daemon, &["version"]),
        format!("client {version}\nsupervisor {version} (protocol 1)\n")
    );
    let mut events = subscribed_events(&daemon, "main");
    assert_eq!(
        ok(&daemon, &["reload"]),
        "reloaded: 0 added, 0 restarted, 0 updated, 0 removed, 0 rejected\n"
    );
    let reloaded = events.wait_line("the reloaded event", |line| line.contains("\"reloaded\""));
    let reloaded: Value = serde_json::from_str(&reloaded).expect("JSON");
    assert!(reloaded["instance"].is_null(), "{reloaded}");
    assert_eq!(
        reloaded["detail"],
        "0 added, 0 restarted, 0 updated, 0 removed, 0 rejected"
    );
    let (sound, report) = socket_check(&daemon);
    assert!(sound, "{report:#}");
    assert_eq!(report["effective"][0]["name"], "main", "{report:#}");

    // A new file is picked up (by the watcher or by this reload).
    fs::write(
        daemon.dir.join("other.yaml"),
        sim_declaration(daemon.path(), "other", port + 1000, ""),
    )
    .expect("declaration");
    assert!(ok(&daemon, &["reload"]).starts_with("reloaded: "));
    daemon.wait_state("other", "running");

    // A file that takes main's ports: refused, named, and main runs on.
    fs::write(
        daemon.dir.join("copy.yaml"),
        sim_declaration(daemon.path(), "copy", port, ""),
    )
    .expect("declaration");
    let reload = run(&daemon, &["reload"]);
    assert_eq!(reload.code, 1, "{}{}", reload.out, reload.err);
    assert!(reload.err.contains("1 rejected"), "{}", reload.err);
    let status = daemon.status_json();
    let rejected = status["rejected"].to_string();
    assert!(rejected.contains("copy.yaml"), "{status:#}");
    assert!(daemon.instance("copy").is_none());
    let table = ok(&daemon, &["status"]);
    assert!(table.contains("rejected "), "{table}");
    let (sound, report) = socket_check(&daemon);
    assert!(!sound, "{report:#}");
    assert!(
        report["problems"].to_string().contains("copy"),
        "{report:#}"
    );
    assert_eq!(pid_of(&daemon.instance("main").expect("main")), main_pid);
    // The offline check agrees, with its exit code.
    let offline = run(&daemon, &["check"]);
    assert_eq!(offline.code, 1, "{}{}", offline.out, offline.err);
}

#[test]
fn unknown_instance_is_exit_1_and_no_supervisor_is_exit_3() {
    let port = free_base_port();
    let daemon = Daemon::with(|root| {
        vec![
            ("main.yaml", sim_declaration(root, "main", port, "")),
            (
                "other.yaml",
                sim_declaration(root, "other", port + 1000, ""),
            ),
        ]
    });
    let commands: [&[&str]; 7] = [
        &["status", "nope"],
        &["start", "nope"],
        &["stop", "nope"],
        &["restart", "nope"],
        &["signal", "nope", "TERM"],
        &["logs", "nope"],
        &["logs", "nope", "-f"],
    ];
    for args in commands {
        let ran = run(&daemon, args);
        assert_eq!(ran.code, 1, "{args:?}: {}{}", ran.out, ran.err);
        assert_eq!(
            ran.err, "openclaw-supervisor: no instance named `nope`; known: main, other\n",
            "{args:?}"
        );
        assert_eq!(ran.out, "", "{args:?}");
    }

    let nowhere = daemon.path().join("nowhere.sock");
    for args in [
        &["status"][..],
        &["stop", "main"],
        &["events"],
        &["logs", "main", "-f"],
    ] {
        let output = Command::new(SUPERVISOR)
            .arg("--socket")
            .arg(&nowhere)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run the client");
        let err = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{args:?}: {err}");
        assert!(
            err.contains("not running") && err.contains(&nowhere.display().to_string()),
            "{err}"
        );
    }
}

#[test]
fn shutdown_stops_every_gateway_and_the_supervisor_exits_0() {
    let port = free_base_port();
    let mut daemon = Daemon::with(|root| {
        vec![
            ("main.yaml", sim_declaration(root, "main", port, "")),
            (
                "other.yaml",
                sim_declaration(root, "other", port + 1000, ""),
            ),
        ]
    });
    let gateways = [
        pid_of(&daemon.wait_state("main", "running")) as i32,
        pid_of(&daemon.wait_state("other", "running")) as i32,
    ];
    let mut events = subscribed_events(&daemon, "main");

    assert_eq!(
        ok(&daemon, &["shutdown"]),
        "shutting down: every gateway is being stopped\n"
    );
    let status = daemon.wait_exit();
    assert!(status.success(), "exit 0, got {status}");
    for pid in gateways {
        assert!(!alive(pid), "gateway {pid} outlived the supervisor");
    }
    assert!(!daemon.socket.exists(), "the socket file is removed");
    // The open event stream was ended, and the follower exited 0.
    let exit = wait_for("the events follower to exit", || {
        events.child.try_wait().expect("try_wait")
    });
    assert!(exit.success(), "{exit}");
    assert!(tagged(&daemon.tag).is_empty(), "{:?}", tagged(&daemon.tag));
    assert_eq!(run(&daemon, &["status"]).code, 3);
}

#[test]
fn no_reply_and_no_supervisor_log_line_carries_a_secret() {
    const ENV_SECRET: &str = "s3cr3t-value";
    const CONFIG_SECRET: &str = "tok-xyz";
    let port = free_base_port();
    let daemon = Daemon::with(|root| {
        let home = root.join("instances").join("main");
        fs::create_dir_all(&home).expect("instance dir");
        fs::write(
            home.join("openclaw.json"),
            format!(
                "{{ gateway: {{ mode: \"local\", port: {port}, auth: {{ token: \"{CONFIG_SECRET}\" }} }}, logging: {{ file: \"{}\" }} }}\n",
                home.join("gateway.log").display()
            ),
        )
        .expect("config");
        vec![(
            "main.yaml",
            sim_declaration(
                root,
                "main",
                port,
                &format!("env: {{ OPENCLAW_GATEWAY_TOKEN_TEST: \"{ENV_SECRET}\" }}"),
            ),
        )]
    });
    let pid = pid_of(&daemon.wait_state("main", "running")) as i32;
    // The secret does reach the gateway, so its absence below means something.
    let environ = fs::read(format!("/proc/{pid}/environ")).expect("environ");
    assert!(String::from_utf8_lossy(&environ).contains(ENV_SECRET));

    let mut events = subscribed_events(&daemon, "main");
    ok(&daemon, &["restart", "main"]);
    events.wait_line("main spawned", |line| line.contains("\"spawned\""));
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
        ("events", events.seen.join("\n")),
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
