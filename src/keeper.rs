//! Keepers: one small process per instance that is its gateways' parent and
//! holds its output pipe, so that gateways outlive the supervisor (a crash,
//! an OOM kill, `reexec`), the way runit's `runsv`, s6's `s6-supervise`
//! and containerd's shim outlive their scanners and daemons.
//!
//! - `wire.rs`: the frames between a keeper and the supervisor (pure).
//! - `program.rs`: the keeper process (`openclaw-supervisor keep ...`),
//!   blocking IO around `poll(2)`, no runtime (`program/`: its arguments,
//!   what it does with an order, its spool).
//! - `link.rs`: the supervisor's side: spawn a gateway through a keeper,
//!   adopt a kept gateway over the keeper's socket, hear its exit.
//!
//! Why a keeper and not systemd's fd store: the supervisor also runs
//! without systemd (a terminal, a container, the tests), a kept gateway
//! needs a parent that learns its exit status (a process that is no one's
//! child but init's has its status thrown away), and someone must read its
//! pipe while no supervisor is there. ARCHITECTURE.md has the weighing.

mod launch;
pub mod link;
pub mod program;
pub mod spool;
pub mod wire;

use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use nix::sys::socket::{
    ControlMessage, ControlMessageOwned, MsgFlags, UnixAddr, recvmsg, sendmsg, sockopt,
};

/// The keeper's environment variable with the gateway's spawn marker: the
/// keeper passes it on as `OPENCLAW_SUPERVISOR_SPAWN` and does not carry
/// that one itself.
pub const MARKER_FOR_GATEWAY: &str = "OPENCLAW_SUPERVISOR_KEEPER_OF";

/// A digest of what a gateway is spawned with (program, arguments,
/// environment but the spawn marker, working directory): equal digests,
/// the same gateway.
pub fn spec_digest(spec: &crate::process::SpawnSpec) -> String {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    let mut field = |bytes: &[u8]| {
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    };
    field(spec.program.as_os_str().as_encoded_bytes());
    for arg in &spec.args {
        field(arg.as_bytes());
    }
    field(b"--env");
    for (key, value) in &spec.env {
        if key != crate::process::SPAWN_MARKER_VAR && !is_session_noise(key) {
            field(key.as_bytes());
            field(value.as_bytes());
        }
    }
    if let Some(cwd) = &spec.cwd {
        field(cwd.as_os_str().as_encoded_bytes());
    }
    hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The name of the keeper's own small binary.
pub const PROGRAM: &str = "openclaw-supervisor-keeper";

/// The binary to run as a keeper: [`PROGRAM`] beside the supervisor's
/// binary when it is there (what `cargo install` installs), else the
/// supervisor's own (`openclaw-supervisor keep` is the same program).
pub fn program_path(supervisor: &Path) -> PathBuf {
    let beside = supervisor.with_file_name(PROGRAM);
    let executable = std::fs::metadata(&beside).is_ok_and(|meta| {
        use std::os::unix::fs::PermissionsExt;
        meta.is_file() && meta.permissions().mode() & 0o111 != 0
    });
    match executable {
        true => beside,
        false => supervisor.to_path_buf(),
    }
}

/// Variables a shell or a login session sets that say nothing about the
/// gateway (a supervisor started again by hand from another terminal has
/// other ones): left out of [`spec_digest`], so they never restart an
/// adopted gateway.
pub fn is_session_noise(name: &str) -> bool {
    const NOISE: [&str; 9] = [
        "PWD",
        "OLDPWD",
        "SHLVL",
        "_",
        "TERM",
        "COLUMNS",
        "LINES",
        "WINDOWID",
        "COLORTERM",
    ];
    NOISE.contains(&name)
        || ["SSH_", "TMUX", "STY", "XDG_SESSION_", "XDG_VTNR", "TERM_"]
            .iter()
            .any(|prefix| name.starts_with(prefix))
}

/// The directory of keeper sockets and spools under a state dir.
pub fn dir(state_dir: &Path) -> PathBuf {
    let dir = state_dir.join("run").join("keep");
    // Absolute: a keeper runs in its gateway's working directory, and a
    // record must name the same socket whatever the supervisor's is.
    std::path::absolute(&dir).unwrap_or(dir)
}

/// Where the keeper of one spawn listens and spools: `tag` is unique per
/// spawn, so a keeper that is ending never removes its successor's socket.
pub fn paths(state_dir: &Path, name: &str, tag: &str) -> (PathBuf, PathBuf) {
    let dir = dir(state_dir);
    (
        dir.join(format!("{name}.{tag}.sock")),
        dir.join(format!("{name}.{tag}.spool")),
    )
}

/// A unix socket path the kernel accepts (108 bytes at most): a long one is
/// reached through `/proc/self/fd/<its directory>/<name>`, with the
/// directory held open for the call.
fn with_short_path<T>(path: &Path, call: impl FnOnce(&Path) -> io::Result<T>) -> io::Result<T> {
    if path.as_os_str().len() < 100 {
        return call(path);
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
    let held = std::fs::File::open(dir)?;
    let short = PathBuf::from(format!("/proc/self/fd/{}", held.as_raw_fd())).join(name);
    let answer = call(&short);
    drop(held);
    answer
}

/// Listen at `path` (a stale socket there is replaced), readable by the
/// owner alone.
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::remove_file(path);
    let listener = with_short_path(path, |path| UnixListener::bind(path))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Connect to the keeper listening at `path`.
pub fn connect(path: &Path) -> io::Result<UnixStream> {
    with_short_path(path, |path| UnixStream::connect(path))
}

/// Whether the peer of `conn` runs as our own user.
pub fn peer_is_us(conn: &UnixStream) -> bool {
    nix::sys::socket::getsockopt(conn, sockopt::PeerCredentials)
        .is_ok_and(|peer| peer.uid() == nix::unistd::geteuid().as_raw())
}

/// Send `bytes`, with `fd` riding along as `SCM_RIGHTS` on the first byte.
pub fn send_with_fd(conn: &UnixStream, bytes: &[u8], fd: Option<&OwnedFd>) -> io::Result<()> {
    let raw: Vec<i32> = fd.iter().map(|fd| fd.as_raw_fd()).collect();
    let rights = [ControlMessage::ScmRights(&raw)];
    let cmsgs: &[ControlMessage] = if raw.is_empty() { &[] } else { &rights };
    let mut sent = loop {
        match sendmsg::<UnixAddr>(
            conn.as_raw_fd(),
            &[IoSlice::new(bytes)],
            cmsgs,
            MsgFlags::MSG_NOSIGNAL,
            None,
        ) {
            Ok(sent) => break sent,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(err) => return Err(err.into()),
        }
    };
    // The rest, if the kernel took part of it, without the descriptor.
    while sent < bytes.len() {
        use std::io::Write;
        let mut conn = conn;
        sent += conn.write(&bytes[sent..])?;
    }
    Ok(())
}

/// One read of `fd` that also takes any descriptors passed along (close on
/// exec). `Ok((0, _))` is the end of the stream.
pub fn recv_with_fds(fd: i32, buffer: &mut [u8]) -> io::Result<(usize, Vec<OwnedFd>)> {
    let mut space = nix::cmsg_space!([i32; 4]);
    let mut iov = [IoSliceMut::new(buffer)];
    let message = recvmsg::<UnixAddr>(fd, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)?;
    let mut fds = Vec::new();
    for cmsg in message.cmsgs()? {
        if let ControlMessageOwned::ScmRights(raw) = cmsg {
            // SAFETY: the kernel installed these descriptors for us.
            fds.extend(
                raw.into_iter()
                    .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
            );
        }
    }
    Ok((message.bytes, fds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeper_paths_are_absolute_and_unique_per_spawn() {
        // A keeper runs in its gateway's working directory: a relative
        // state dir must not make its socket relative.
        let (socket, spool) = paths(Path::new("st"), "main", "123.4.5");
        assert!(socket.is_absolute() && spool.is_absolute(), "{socket:?}");
        assert!(
            socket.ends_with("st/run/keep/main.123.4.5.sock"),
            "{socket:?}"
        );
        assert!(
            spool.ends_with("st/run/keep/main.123.4.5.spool"),
            "{spool:?}"
        );
        let (other, _) = paths(Path::new("st"), "main", "123.4.6");
        assert_ne!(socket, other);
    }

    #[test]
    fn the_spec_digest_ignores_the_spawn_marker_alone() {
        let spec = |marker: &str, port: &str| crate::process::SpawnSpec {
            program: "/usr/bin/openclaw".into(),
            args: vec!["gateway".into(), "--port".into(), port.into()],
            env: [
                (
                    crate::process::SPAWN_MARKER_VAR.to_string(),
                    marker.to_string(),
                ),
                ("HOME".to_string(), "/home/a".to_string()),
            ]
            .into(),
            cwd: None,
            capture_output: true,
            pipe_stdin: false,
        };
        assert_eq!(
            spec_digest(&spec("a:1:1", "18789")),
            spec_digest(&spec("b:2:2", "18789"))
        );
        let mut from_another_shell = spec("a:1:1", "18789");
        for (noise, value) in [
            ("PWD", "/tmp"),
            ("SHLVL", "3"),
            ("SSH_TTY", "/dev/pts/4"),
            ("_", "/usr/bin/x"),
        ] {
            from_another_shell.env.insert(noise.into(), value.into());
        }
        assert_eq!(
            spec_digest(&spec("a:1:1", "18789")),
            spec_digest(&from_another_shell)
        );
        let mut other_home = spec("a:1:1", "18789");
        other_home.env.insert("HOME".into(), "/home/b".into());
        assert_ne!(
            spec_digest(&spec("a:1:1", "18789")),
            spec_digest(&other_home)
        );
        assert_ne!(
            spec_digest(&spec("a:1:1", "18789")),
            spec_digest(&spec("a:1:1", "18790"))
        );
    }
}
