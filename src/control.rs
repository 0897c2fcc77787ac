//! The control socket: where operators, scripts and the rescue bot ask the
//! daemon what is going on and tell it what to do.
//!
//! Theory of operation: [`ControlSocket::bind`] makes the socket (0600 in a
//! 0700 directory, or 0660/0710 for a group), replacing a stale one and
//! refusing when a live supervisor answers. [`serve`] accepts connections,
//! checks each peer's SO_PEERCRED against the supervisor's uid, root and the
//! group, and runs one task per connection that reads bounded lines, decodes
//! them with [`crate::protocol`] and passes each request to the daemon's
//! [`Handler`]. The server never touches an instance: the handler does.
//! [`StateDirLock`] keeps a second supervisor off the same state dir.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

mod blocking;
mod client;
mod gate;
mod lines;
mod lock;
mod peer;
mod server;
mod socket;

pub use blocking::{BlockingError, request_blocking};
pub use client::{
    Client, ClientError, ResponseStream, SUBSCRIBED_WAIT, StreamReply, live_events, request,
    request_stream,
};
pub use gate::Gate;
pub use lock::{LOCK_FILE, LockError, StateDirLock};
pub use peer::{PeerCredentials, PeerPolicy};
pub use server::{Handler, Reply, RequestContext, ServerOptions, serve, serve_gated};
pub use socket::{BindError, ControlSocket, MAX_SOCKET_PATH, SocketOptions};

/// The directory name used under the XDG base directories.
pub const APP_DIR: &str = "openclaw-supervisor";

/// The socket's file name.
pub const SOCKET_FILE: &str = "supervisor.sock";

/// `$XDG_STATE_HOME/openclaw-supervisor`, else
/// `~/.local/state/openclaw-supervisor`.
pub fn default_state_dir() -> PathBuf {
    state_dir_from(std::env::var_os("XDG_STATE_HOME"), home_dir())
}

/// `$XDG_RUNTIME_DIR/openclaw-supervisor/supervisor.sock`, else
/// `<state_dir>/supervisor.sock`.
pub fn default_socket_path(state_dir: &Path) -> PathBuf {
    socket_path_from(std::env::var_os("XDG_RUNTIME_DIR"), state_dir)
}

/// The XDG spec says relative or empty values are to be ignored.
fn absolute(value: Option<OsString>) -> Option<PathBuf> {
    value.map(PathBuf::from).filter(|path| path.is_absolute())
}

fn state_dir_from(xdg_state_home: Option<OsString>, home: Option<PathBuf>) -> PathBuf {
    match (absolute(xdg_state_home), home) {
        (Some(state_home), _) => state_home.join(APP_DIR),
        (None, Some(home)) => home.join(".local/state").join(APP_DIR),
        // No home at all (a bare system account): a conventional place.
        (None, None) => Path::new("/var/lib").join(APP_DIR),
    }
}

fn socket_path_from(xdg_runtime_dir: Option<OsString>, state_dir: &Path) -> PathBuf {
    match absolute(xdg_runtime_dir) {
        Some(runtime) => runtime.join(APP_DIR).join(SOCKET_FILE),
        None => state_dir.join(SOCKET_FILE),
    }
}

fn home_dir() -> Option<PathBuf> {
    absolute(std::env::var_os("HOME")).or_else(|| {
        nix::unistd::User::from_uid(nix::unistd::getuid())
            .ok()
            .flatten()
            .map(|user| user.dir)
            .filter(|dir| dir.is_absolute())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_dir_follows_xdg_then_home() {
        let rows: Vec<(Option<&str>, Option<&str>, &str)> = vec![
            (
                Some("/x/state"),
                Some("/home/a"),
                "/x/state/openclaw-supervisor",
            ),
            (
                None,
                Some("/home/a"),
                "/home/a/.local/state/openclaw-supervisor",
            ),
            (
                Some(""),
                Some("/home/a"),
                "/home/a/.local/state/openclaw-supervisor",
            ),
            (
                Some("rel/dir"),
                Some("/home/a"),
                "/home/a/.local/state/openclaw-supervisor",
            ),
            (None, None, "/var/lib/openclaw-supervisor"),
        ];
        for (xdg, home, expected) in rows {
            let got = state_dir_from(xdg.map(OsString::from), home.map(PathBuf::from));
            assert_eq!(got, PathBuf::from(expected), "{xdg:?} {home:?}");
        }
    }

    #[test]
    fn socket_path_follows_xdg_runtime_dir_then_state_dir() {
        let rows: Vec<(Option<&str>, &str)> = vec![
            (
                Some("/run/user/1000"),
                "/run/user/1000/openclaw-supervisor/supervisor.sock",
            ),
            (None, "/s/supervisor.sock"),
            (Some(""), "/s/supervisor.sock"),
            (Some("relative"), "/s/supervisor.sock"),
        ];
        for (runtime, expected) in rows {
            let got = socket_path_from(runtime.map(OsString::from), Path::new("/s"));
            assert_eq!(got, PathBuf::from(expected), "{runtime:?}");
        }
    }
}
