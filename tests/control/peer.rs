//! Peer credentials: a client under another uid is refused by the socket's
//! modes, and by SO_PEERCRED when the modes are loosened.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use openclaw_supervisor::control::{ControlSocket, ServerOptions, SocketOptions};
use openclaw_supervisor::protocol::{ErrorKind, Response, decode_response};

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

/// Runs `peer_child_client` as uid/gid 65534 against `socket`, in the
/// supplementary `groups` (none when empty); its report line.
fn run_child_as_nobody(exe_dir: &Path, socket: &Path, groups: &[u32]) -> String {
    use std::io::Read;
    use std::os::unix::process::CommandExt;
    let exe = exe_dir.join("control-test-child");
    if !exe.exists() {
        let current = std::env::current_exe().expect("current exe");
        if std::fs::hard_link(&current, &exe).is_err() {
            std::fs::copy(&current, &exe).expect("copy the test binary");
        }
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let mut command = std::process::Command::new(&exe);
    command
        .args([
            "--exact",
            "peer::peer_child_client",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_SOCKET_ENV, socket)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    if groups.is_empty() {
        command.uid(65534).gid(65534);
    } else {
        // std drops every supplementary group with `uid`: set them, then
        // the gid and uid, in the child ourselves.
        let groups: Vec<libc::gid_t> = groups.to_vec();
        // SAFETY: only system calls between fork and exec, on memory made
        // before the fork.
        unsafe {
            command.pre_exec(move || {
                if libc::setgroups(groups.len(), groups.as_ptr()) != 0
                    || libc::setgid(65534) != 0
                    || libc::setuid(65534) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let mut guard = ChildGuard(command.spawn().expect("spawn the child client"));
    let mut stdout = guard.0.stdout.take().expect("the child's stdout");
    // Its stdout ends when it exits (its own reads time out at DEADLINE).
    let (done, output) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        let _ = done.send(text);
    });
    let output = output
        .recv_timeout(DEADLINE)
        .expect("the child client did not finish");
    output
        .lines()
        .find(|line| line.starts_with("REPLY ") || line.starts_with("CONNECT_ERROR "))
        .unwrap_or_else(|| panic!("the child printed no report: {output}"))
        .to_string()
}

/// The reply a child under another uid printed.
fn reply_of(report: &str) -> Response {
    let reply = report
        .strip_prefix("REPLY ")
        .unwrap_or_else(|| panic!("{report}"));
    decode_response(reply.as_bytes())
        .expect("a well-formed reply")
        .response
}

/// A server on a socket in a 0755 temp dir (`run/supervisor.sock`, the
/// modes the daemon sets), limited to `group` when there is one; the dir
/// also holds the child's copy of this binary.
fn served(group: Option<u32>) -> (tempfile::TempDir, std::path::PathBuf, TestServer) {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let path = dir.path().join("run").join("supervisor.sock");
    let socket = ControlSocket::bind(&path, SocketOptions { group }).expect("bind");
    let options = ServerOptions {
        allowed_group: group,
        ..ServerOptions::default()
    };
    let server = TestServer::serve(
        tempfile::tempdir().expect("temp dir"),
        path.clone(),
        socket,
        options,
    );
    (dir, path, server)
}

/// Loosen the modes as a careless admin might: only the credentials decide.
fn loosen(path: &Path) {
    for (target, mode) in [(path.parent().expect("parent"), 0o755), (path, 0o666)] {
        std::fs::set_permissions(target, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }
}

/// [`run_child_as_nobody`] off the runtime's threads.
async fn as_nobody(dir: &Path, socket: &Path, groups: &'static [u32]) -> String {
    let (exe, socket) = (dir.to_path_buf(), socket.to_path_buf());
    tokio::task::spawn_blocking(move || run_child_as_nobody(&exe, &socket, groups))
        .await
        .expect("child runner")
}

fn skipped_without_root() -> bool {
    let skip = !nix::unistd::geteuid().is_root();
    if skip {
        println!("note: skipped, switching to another uid needs root");
    }
    skip
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_under_another_uid_is_refused() {
    if skipped_without_root() {
        return;
    }
    let (dir, path, mut server) = served(None);

    // With the modes the daemon sets, the filesystem already keeps it out.
    let report = as_nobody(dir.path(), &path, &[]).await;
    assert_eq!(report, "CONNECT_ERROR PermissionDenied");

    // With the modes loosened, SO_PEERCRED still refuses.
    loosen(&path);
    let report = as_nobody(dir.path(), &path, &[]).await;
    let reply = reply_of(&report);
    assert_eq!(error_kind(&reply), ErrorKind::Refused);
    assert!(format!("{reply:?}").contains("uid 65534"), "{reply:?}");

    // The supervisor's own uid is still served.
    assert_eq!(status(&path).await, ["main", "rescue"]);
    server.stop().await;
}

/// A peer under another uid whose gid is not the socket's group but one of
/// its supplementary groups is (SO_PEERGROUPS, read from the connection);
/// without that group it is refused, even with the modes loosened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_in_the_socket_group_as_a_supplementary_group_is_served() {
    const GROUP: u32 = 4242;
    if skipped_without_root() {
        return;
    }
    let (dir, path, mut server) = served(Some(GROUP));

    let report = as_nobody(dir.path(), &path, &[GROUP]).await;
    assert!(
        matches!(reply_of(&report), Response::Status { ref instances, .. } if instances.len() == 2),
        "{report}"
    );

    // Loosen the modes: only the group decides now.
    loosen(&path);
    for groups in [&[][..], &[GROUP + 1][..]] {
        let report = as_nobody(dir.path(), &path, groups).await;
        assert_eq!(
            error_kind(&reply_of(&report)),
            ErrorKind::Refused,
            "{report}"
        );
    }
    server.stop().await;
}
