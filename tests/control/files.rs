//! The socket file and the state dir lock: modes, a stale socket replaced,
//! a live one kept, a path that is not a socket never removed, the
//! client's "not running", one holder of the lock.

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use openclaw_supervisor::control::{
    self, BindError, ClientError, ControlSocket, LockError, SocketOptions, StateDirLock,
};
use openclaw_supervisor::protocol::Request;

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
