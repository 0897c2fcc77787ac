//! Peer credentials: a client under another uid is refused by the socket's
//! modes, and by SO_PEERCRED when the modes are loosened.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use openclaw_supervisor::control::{ControlSocket, ServerOptions, SocketOptions};
use openclaw_supervisor::protocol::{ErrorKind, decode_response};

use crate::common::{DEADLINE, TestServer};
use crate::{error_kind, status};

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
            "peer::peer_child_client",
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
