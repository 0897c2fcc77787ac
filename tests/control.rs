//! The control socket end to end, in process, with a fake handler: limits,
//! hostile clients, modes, peer credentials, stale and live sockets, the
//! state dir lock and streams.
#![allow(clippy::disallowed_methods)] // A test starts the programs it tests.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::time::{Duration, Instant};

use openclaw_supervisor::control::{
    self, BindError, Client, ClientError, ControlSocket, LockError, ServerOptions, SocketOptions,
    StateDirLock,
};
use openclaw_supervisor::protocol::{
    EndReason, ErrorKind, Request, Response, ResponseEnvelope, decode_response,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

mod common;

use common::{DEADLINE, TestServer, event};

async fn status(path: &Path) -> Vec<String> {
    let response = tokio::time::timeout(
        DEADLINE,
        control::request(path, Request::Status { name: None }),
    )
    .await
    .expect("status answered within the deadline")
    .expect("status request");
    match response {
        Response::Status { instances, .. } => instances.into_iter().map(|i| i.name).collect(),
        other => panic!("expected a status reply, got {other:?}"),
    }
}

/// Reads one reply line from a connection (or its read half), within the
/// deadline.
async fn read_reply(stream: &mut (impl tokio::io::AsyncRead + Unpin)) -> ResponseEnvelope {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    tokio::time::timeout(DEADLINE, async {
        loop {
            let read = stream.read(&mut byte).await.expect("read a reply");
            assert!(read == 1, "connection closed before a full reply: {line:?}");
            if byte[0] == b'\n' {
                break;
            }
            line.push(byte[0]);
        }
    })
    .await
    .expect("a reply within the deadline");
    decode_response(&line).expect("a well-formed reply")
}

/// Reads until the server closes the connection (EOF or reset).
async fn assert_closed_by_server(stream: &mut UnixStream) {
    let mut sink = vec![0u8; 64 * 1024];
    tokio::time::timeout(DEADLINE, async {
        loop {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .expect("the server closes the connection within the deadline");
}

fn error_kind(response: &Response) -> ErrorKind {
    match response {
        Response::Error { kind, .. } => *kind,
        other => panic!("expected an error reply, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_concurrent_clients_are_all_served() {
    let mut server = TestServer::start(ServerOptions {
        max_clients: 128,
        ..ServerOptions::default()
    });
    let mut clients = Vec::new();
    for _ in 0..100 {
        let path = server.path.clone();
        clients.push(tokio::spawn(async move {
            let mut client = Client::connect(&path).await.expect("connect");
            for _ in 0..3 {
                let reply = client
                    .call(Request::Status { name: None })
                    .await
                    .expect("status");
                assert!(
                    matches!(reply, Response::Status { ref instances, .. } if instances.len() == 2)
                );
            }
        }));
    }
    for client in clients {
        tokio::time::timeout(DEADLINE, client)
            .await
            .expect("every client is served within the deadline")
            .expect("client task");
    }
    server.stop().await;
}

#[tokio::test]
async fn oversized_line_is_refused_and_others_are_still_served() {
    let mut server = TestServer::start(ServerOptions::default());
    let mut hog = UnixStream::connect(&server.path).await.expect("connect");
    hog.write_all(&vec![b'a'; 70 * 1024]).await.expect("write");
    let reply = read_reply(&mut hog).await;
    assert_eq!(reply.id, None);
    assert_eq!(error_kind(&reply.response), ErrorKind::TooLarge);
    assert_closed_by_server(&mut hog).await;
    assert_eq!(status(&server.path).await, ["main", "rescue"]);
    server.stop().await;
}

#[tokio::test]
async fn garbage_gets_an_error_naming_it_and_the_connection_goes_on() {
    let mut server = TestServer::start(ServerOptions::default());
    let mut stream = UnixStream::connect(&server.path).await.expect("connect");
    // (line sent, expected kind, expected id echoed)
    let rows: Vec<(&[u8], ErrorKind, Option<u64>)> = vec![
        (b"\xff\xfe\x00\x01binary\n", ErrorKind::NotUtf8, None),
        (b"{\"v\":1,\n", ErrorKind::MalformedJson, None),
        (
            b"{\"v\":1,\"id\":4,\"request\":{\"type\":\"explode\"}}\n",
            ErrorKind::UnknownRequest,
            Some(4),
        ),
        (
            b"{\"v\":9,\"id\":5,\"request\":{\"type\":\"status\"}}\n",
            ErrorKind::UnsupportedVersion,
            Some(5),
        ),
        (
            b"{\"v\":1,\"id\":6,\"request\":{\"type\":\"stop\"}}\n",
            ErrorKind::MissingField,
            Some(6),
        ),
        (
            b"{\"v\":1,\"id\":7,\"request\":{\"type\":\"status\",\"name\":\"nope\"}}\n",
            ErrorKind::UnknownInstance,
            Some(7),
        ),
    ];
    for (line, kind, id) in rows {
        stream.write_all(line).await.expect("write");
        let reply = read_reply(&mut stream).await;
        assert_eq!(
            error_kind(&reply.response),
            kind,
            "{}",
            String::from_utf8_lossy(line)
        );
        assert_eq!(reply.id, id, "{}", String::from_utf8_lossy(line));
    }
    stream
        .write_all(b"{\"v\":1,\"id\":8,\"request\":{\"type\":\"status\"}}\n")
        .await
        .expect("write");
    let reply = read_reply(&mut stream).await;
    assert_eq!(reply.id, Some(8));
    assert!(
        matches!(reply.response, Response::Status { .. }),
        "{reply:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn silent_client_neither_blocks_others_nor_stays_forever() {
    let mut server = TestServer::start(ServerOptions {
        idle_timeout: Duration::from_millis(500),
        ..ServerOptions::default()
    });
    let mut silent = UnixStream::connect(&server.path).await.expect("connect");
    assert_eq!(status(&server.path).await, ["main", "rescue"]);
    let reply = read_reply(&mut silent).await;
    assert_eq!(error_kind(&reply.response), ErrorKind::IdleTimeout);
    assert_closed_by_server(&mut silent).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_dribble_their_request_lose_their_slot() {
    let mut server = TestServer::start(ServerOptions {
        max_clients: 4,
        request_timeout: Duration::from_millis(300),
        ..ServerOptions::default()
    });
    // Every slot taken by a client sending a byte now and then, never a
    // whole line (the idle timeout, 60 s, is never reached).
    let mut dribblers = Vec::new();
    for _ in 0..4 {
        let stream = UnixStream::connect(&server.path).await.expect("connect");
        let (read, mut write) = stream.into_split();
        let dribble = tokio::spawn(async move {
            while write.write_all(b" ").await.is_ok() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        dribblers.push((read, dribble));
    }
    for (mut read, dribble) in dribblers {
        let reply = read_reply(&mut read).await;
        assert_eq!(reply.id, None);
        assert_eq!(error_kind(&reply.response), ErrorKind::RequestTimeout);
        tokio::time::timeout(DEADLINE, dribble)
            .await
            .expect("the server hangs up on a dribbling client")
            .expect("dribbler task");
    }
    assert_eq!(status(&server.path).await, ["main", "rescue"]);
    server.stop().await;
}

#[tokio::test]
async fn a_new_client_that_sends_nothing_is_closed_after_the_request_timeout() {
    let mut server = TestServer::start(ServerOptions {
        request_timeout: Duration::from_millis(300),
        ..ServerOptions::default()
    });
    let mut silent = UnixStream::connect(&server.path).await.expect("connect");
    let reply = read_reply(&mut silent).await;
    assert_eq!(error_kind(&reply.response), ErrorKind::IdleTimeout);
    assert_closed_by_server(&mut silent).await;
    server.stop().await;
}

#[tokio::test]
async fn followers_do_not_take_the_request_slots() {
    let mut server = TestServer::start(ServerOptions {
        max_clients: 1,
        max_followers: 1,
        ..ServerOptions::default()
    });
    let mut events = control::request_stream(&server.path, Request::live_events())
        .await
        .expect("events");
    let first = tokio::time::timeout(DEADLINE, events.next())
        .await
        .expect("an event within the deadline")
        .expect("read");
    assert_eq!(first, Some(Response::Event(event(0))));
    // The one request slot is free again while the stream goes on.
    let reply = control::request(&server.path, Request::Version)
        .await
        .expect("a reply");
    assert!(matches!(reply, Response::Version { .. }), "{reply:?}");
    // Streams have their own limit.
    let mut second = control::request_stream(&server.path, Request::live_events())
        .await
        .expect("a reply");
    let refused = tokio::time::timeout(DEADLINE, second.next())
        .await
        .expect("a reply within the deadline")
        .expect("read")
        .expect("an error line");
    assert_eq!(error_kind(&refused), ErrorKind::Busy);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_that_never_reads_its_replies_does_not_block_others() {
    let mut server = TestServer::start(ServerOptions {
        write_timeout: Duration::from_millis(300),
        ..ServerOptions::default()
    });
    let hog = UnixStream::connect(&server.path).await.expect("connect");
    // Keep the read half open but never read from it.
    let (_hog_read, mut hog_write) = hog.into_split();
    // Pipeline requests without reading a single reply; the writes stall
    // once both socket buffers are full, and fail once the server hangs up.
    let writer = tokio::spawn(async move {
        let line = b"{\"v\":1,\"id\":1,\"request\":{\"type\":\"status\"}}\n";
        while hog_write.write_all(line).await.is_ok() {}
    });
    for _ in 0..5 {
        assert_eq!(status(&server.path).await, ["main", "rescue"]);
    }
    tokio::time::timeout(DEADLINE, writer)
        .await
        .expect("the server hangs up on a client that does not read")
        .expect("writer task");
    server.stop().await;
}

#[tokio::test]
async fn too_many_clients_get_busy_and_the_admitted_ones_are_served() {
    let mut server = TestServer::start(ServerOptions {
        max_clients: 2,
        ..ServerOptions::default()
    });
    let mut first = Client::connect(&server.path).await.expect("connect");
    let mut second = Client::connect(&server.path).await.expect("connect");
    // A reply proves each was admitted before the third arrives.
    first.call(Request::Version).await.expect("first served");
    second.call(Request::Version).await.expect("second served");
    let third = control::request(&server.path, Request::Version)
        .await
        .expect("a reply");
    assert_eq!(error_kind(&third), ErrorKind::Busy);
    drop(first);
    // The freed slot is reused once the server notices the first left.
    let deadline = Instant::now() + DEADLINE;
    loop {
        let reply = control::request(&server.path, Request::Version)
            .await
            .expect("a reply");
        if matches!(reply, Response::Version { .. }) {
            break;
        }
        assert_eq!(error_kind(&reply), ErrorKind::Busy);
        assert!(Instant::now() < deadline, "the slot was never freed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    second
        .call(Request::Version)
        .await
        .expect("second still served");
    server.stop().await;
}

#[tokio::test]
async fn a_panicking_handler_gets_internal_and_the_connection_goes_on() {
    let mut server = TestServer::start(ServerOptions::default());
    let mut client = Client::connect(&server.path).await.expect("connect");
    let reply = client
        .call(Request::Stop {
            name: String::from("panic"),
        })
        .await
        .expect("a reply");
    assert_eq!(error_kind(&reply), ErrorKind::Internal);
    let reply = client
        .call(Request::Status {
            name: Some(String::from("main")),
        })
        .await
        .expect("a reply");
    assert!(matches!(reply, Response::Status { ref instances, .. } if instances.len() == 1));
    server.stop().await;
}

#[tokio::test]
async fn events_arrive_in_order_and_end_on_shutdown() {
    let mut server = TestServer::start(ServerOptions::default());
    let path = server.path.clone();
    let mut stream = control::request_stream(&path, Request::live_events())
        .await
        .expect("events");
    for index in 0..5 {
        let next = tokio::time::timeout(DEADLINE, stream.next())
            .await
            .expect("an event within the deadline")
            .expect("read");
        assert_eq!(next, Some(Response::Event(event(index))));
    }
    server.stop().await;
    let end = tokio::time::timeout(DEADLINE, stream.next())
        .await
        .expect("the end within the deadline")
        .expect("read");
    assert_eq!(
        end,
        Some(Response::End {
            reason: EndReason::Shutdown
        })
    );
    assert_eq!(stream.next().await.expect("read"), None);
    assert!(!path.exists(), "the socket file is removed at shutdown");
    let err = control::request(&path, Request::Version)
        .await
        .expect_err("nobody listens now");
    assert!(err.is_not_running(), "{err}");
}

#[tokio::test]
async fn followed_logs_end_with_finished_when_the_source_ends() {
    let mut server = TestServer::start(ServerOptions::default());
    let request = Request::Logs {
        name: Some(String::from("main")),
        lines: Some(10),
        follow: true,
        since_ms: None,
    };
    let mut stream = control::request_stream(&server.path, request)
        .await
        .expect("logs");
    let mut texts = Vec::new();
    let end = loop {
        let next = tokio::time::timeout(DEADLINE, stream.next())
            .await
            .expect("a line within the deadline")
            .expect("read");
        match next {
            Some(Response::LogLine(line)) => texts.push(line.text),
            other => break other,
        }
    };
    assert_eq!(texts, ["one", "two", "three"]);
    assert_eq!(
        end,
        Some(Response::End {
            reason: EndReason::Finished
        })
    );
    server.stop().await;
}

#[test]
fn socket_is_0600_in_a_0700_directory_or_0660_0710_with_a_group() {
    let gid = nix::unistd::getegid().as_raw();
    // (group option, socket mode, directory mode)
    let rows = vec![(None, 0o600, 0o700), (Some(gid), 0o660, 0o710)];
    for (group, socket_mode, dir_mode) in rows {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("a").join("b").join("supervisor.sock");
        let socket = ControlSocket::bind(&path, SocketOptions { group }).expect("bind");
        let mode = |path: &Path| {
            std::fs::metadata(path)
                .expect("metadata")
                .permissions()
                .mode()
                & 0o7777
        };
        assert_eq!(mode(&path), socket_mode, "socket with {group:?}");
        assert_eq!(
            mode(path.parent().expect("parent")),
            dir_mode,
            "dir with {group:?}"
        );
        drop(socket);
        assert!(!path.exists(), "dropping the socket removes its file");
    }
}

#[test]
fn stale_socket_is_replaced_and_live_one_refuses_a_second_supervisor() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("supervisor.sock");
    // A dead supervisor's socket: the file stays, nobody listens.
    drop(std::os::unix::net::UnixListener::bind(&path).expect("bind"));
    assert!(path.exists());
    let live = ControlSocket::bind(&path, SocketOptions::default()).expect("stale socket replaced");
    match ControlSocket::bind(&path, SocketOptions::default()) {
        Err(BindError::AlreadyRunning { path: said }) => assert_eq!(said, path),
        other => panic!("expected AlreadyRunning, got {other:?}"),
    }
    assert!(path.exists(), "the live socket is left alone");
    drop(live);
}

#[test]
fn a_path_that_is_not_a_socket_is_never_removed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("supervisor.sock");
    std::fs::write(&file, "precious").expect("write");
    let link = dir.path().join("link.sock");
    symlink(&file, &link).expect("symlink");
    for path in [&file, &link] {
        let err = ControlSocket::bind(path, SocketOptions::default()).expect_err("refused");
        assert!(matches!(err, BindError::NotASocket { .. }), "{err}");
    }
    assert_eq!(std::fs::read_to_string(&file).expect("read"), "precious");
}

#[tokio::test]
async fn client_says_not_running_with_the_path_it_tried() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("missing.sock");
    let stale = dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).expect("bind"));
    for path in [missing, stale] {
        let err = control::request(&path, Request::Version)
            .await
            .expect_err("not running");
        assert!(err.is_not_running(), "{err}");
        assert!(matches!(err, ClientError::NotRunning { .. }));
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
    }
}

#[test]
fn state_dir_lock_refuses_a_second_holder_until_released() {
    let dir = tempfile::tempdir().expect("temp dir");
    let state_dir = dir.path().join("state");
    let first = StateDirLock::acquire(&state_dir).expect("first holder");
    let mode = std::fs::metadata(&state_dir)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o700);
    match StateDirLock::acquire(&state_dir) {
        Err(LockError::Held { pid, .. }) => assert_eq!(pid, Some(std::process::id())),
        other => panic!("expected Held, got {other:?}"),
    }
    drop(first);
    let again = StateDirLock::acquire(&state_dir).expect("free again after drop");
    assert_eq!(again.path(), state_dir.join(control::LOCK_FILE));
}

// Peer credentials. The child is this test binary itself, run as `nobody`
// with only the test below selected; it connects, asks for status and
// prints what happened.

const CHILD_SOCKET_ENV: &str = "CONTROL_TEST_CHILD_SOCKET";

#[test]
#[ignore = "run only as the child of peer_under_another_uid_is_refused"]
fn peer_child_client() {
    let Some(path) = std::env::var_os(CHILD_SOCKET_ENV) else {
        return;
    };
    let mut stream = match std::os::unix::net::UnixStream::connect(&path) {
        Ok(stream) => stream,
        Err(err) => {
            println!("\nCONNECT_ERROR {:?}", err.kind());
            return;
        }
    };
    stream
        .set_read_timeout(Some(DEADLINE))
        .expect("set timeout");
    let _ = stream.write_all(b"{\"v\":1,\"id\":1,\"request\":{\"type\":\"status\"}}\n");
    let mut line = String::new();
    let _ = BufReader::new(stream).read_line(&mut line);
    println!("\nREPLY {}", line.trim_end());
}

/// Kills the child if the test fails before it exits.
struct ChildGuard(std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `peer_child_client` as uid/gid 65534 against `socket`; its report line.
fn run_child_as_nobody(exe_dir: &Path, socket: &Path) -> String {
    use std::os::unix::process::CommandExt;
    let exe = exe_dir.join("control-test-child");
    if !exe.exists() {
        let current = std::env::current_exe().expect("current exe");
        if std::fs::hard_link(&current, &exe).is_err() {
            std::fs::copy(&current, &exe).expect("copy the test binary");
        }
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let child = std::process::Command::new(&exe)
        .args([
            "--exact",
            "peer_child_client",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_SOCKET_ENV, socket)
        .uid(65534)
        .gid(65534)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn the child client");
    let mut guard = ChildGuard(child);
    let deadline = Instant::now() + DEADLINE;
    while guard.0.try_wait().expect("try_wait").is_none() {
        assert!(Instant::now() < deadline, "the child client did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut output = String::new();
    if let Some(mut stdout) = guard.0.stdout.take() {
        std::io::Read::read_to_string(&mut stdout, &mut output).expect("read child output");
    }
    output
        .lines()
        .find(|line| line.starts_with("REPLY ") || line.starts_with("CONNECT_ERROR "))
        .unwrap_or_else(|| panic!("the child printed no report: {output}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_under_another_uid_is_refused() {
    if !nix::unistd::geteuid().is_root() {
        println!("note: skipped, switching to another uid needs root");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let path = dir.path().join("run").join("supervisor.sock");
    let socket = ControlSocket::bind(&path, SocketOptions::default()).expect("bind");
    let mut server = TestServer::serve(
        tempfile::tempdir().expect("temp dir"),
        path.clone(),
        socket,
        ServerOptions::default(),
    );
    let exe_dir = dir.path().to_path_buf();

    // With the modes the daemon sets, the filesystem already keeps it out.
    let (exe, socket_path) = (exe_dir.clone(), path.clone());
    let report = tokio::task::spawn_blocking(move || run_child_as_nobody(&exe, &socket_path))
        .await
        .expect("child runner");
    assert_eq!(report, "CONNECT_ERROR PermissionDenied");

    // Loosen the modes as a careless admin might: SO_PEERCRED still refuses.
    for (target, mode) in [
        (path.parent().expect("parent"), 0o755),
        (path.as_path(), 0o666),
    ] {
        std::fs::set_permissions(target, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }
    let (exe, socket_path) = (exe_dir.clone(), path.clone());
    let report = tokio::task::spawn_blocking(move || run_child_as_nobody(&exe, &socket_path))
        .await
        .expect("child runner");
    let reply = report
        .strip_prefix("REPLY ")
        .unwrap_or_else(|| panic!("{report}"));
    let reply = decode_response(reply.as_bytes()).expect("a well-formed reply");
    assert_eq!(error_kind(&reply.response), ErrorKind::Refused);
    assert!(
        format!("{:?}", reply.response).contains("uid 65534"),
        "{reply:?}"
    );

    // The supervisor's own uid is still served.
    assert_eq!(status(&path).await, ["main", "rescue"]);
    server.stop().await;
}

#[tokio::test]
async fn requests_sent_before_a_half_close_are_all_answered() {
    let mut server = TestServer::start(ServerOptions::default());
    let mut stream = UnixStream::connect(&server.path).await.expect("connect");
    stream
        .write_all(
            concat!(
                "{\"v\":1,\"id\":1,\"request\":{\"type\":\"version\"}}\n",
                "{\"v\":1,\"id\":2,\"request\":{\"type\":\"status\",\"name\":\"main\"}}",
            )
            .as_bytes(),
        )
        .await
        .expect("write");
    // The second line has no newline: the end of input frames it.
    stream.shutdown().await.expect("half-close");
    let first = read_reply(&mut stream).await;
    assert_eq!(first.id, Some(1));
    assert!(
        matches!(first.response, Response::Version { .. }),
        "{first:?}"
    );
    let second = read_reply(&mut stream).await;
    assert_eq!(second.id, Some(2));
    assert!(
        matches!(second.response, Response::Status { .. }),
        "{second:?}"
    );
    assert_closed_by_server(&mut stream).await;
    server.stop().await;
}
