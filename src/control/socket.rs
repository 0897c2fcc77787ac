//! Binding the control socket: its directory, a stale socket left by a dead
//! supervisor, a live one answered by a running supervisor, owner and mode.

use std::fs::{self, DirBuilder, Permissions};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use nix::unistd::{Gid, chown};
use thiserror::Error;

/// `sun_path` holds 108 bytes, the terminating NUL included.
pub const MAX_SOCKET_PATH: usize = 107;

/// How the socket is made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SocketOptions {
    /// A group whose members may use the socket: the socket becomes 0660
    /// and a directory we create 0710, both owned by this group.
    pub group: Option<u32>,
}

#[derive(Debug, Error)]
pub enum BindError {
    #[error("another supervisor is already running: it answers on {}; stop it first or pass another --socket", path.display())]
    AlreadyRunning { path: PathBuf },
    #[error("{} exists and is not a socket; remove it or pass another --socket", path.display())]
    NotASocket { path: PathBuf },
    #[error("the socket path {} is too long ({len} bytes, at most {MAX_SOCKET_PATH}); pass a shorter --socket", path.display())]
    PathTooLong { path: PathBuf, len: usize },
    #[error("cannot create the socket directory {}: {source}", path.display())]
    CreateDir { path: PathBuf, source: io::Error },
    #[error("cannot tell whether a supervisor answers on {}: {source}", path.display())]
    Probe { path: PathBuf, source: io::Error },
    #[error("cannot remove the stale socket {}: {source}", path.display())]
    RemoveStale { path: PathBuf, source: io::Error },
    #[error("cannot bind the control socket {}: {source}", path.display())]
    Bind { path: PathBuf, source: io::Error },
    #[error("cannot set the owner or mode of {}: {source}", path.display())]
    Permissions { path: PathBuf, source: io::Error },
    #[error("the socket descriptor {fd} handed over by the re-exec is not {}: {why}", path.display())]
    Inherited {
        fd: RawFd,
        path: PathBuf,
        why: String,
    },
}

/// A bound control socket. Dropping it removes the socket file, unless
/// another process has replaced it since.
#[derive(Debug)]
pub struct ControlSocket {
    pub(crate) listener: UnixListener,
    pub(crate) file: SocketFile,
}

impl ControlSocket {
    /// Binds `path`. Works outside a tokio runtime; `serve` takes it from here.
    pub fn bind(path: &Path, options: SocketOptions) -> Result<Self, BindError> {
        let len = path.as_os_str().len();
        if len > MAX_SOCKET_PATH {
            return Err(BindError::PathTooLong {
                path: path.to_path_buf(),
                len,
            });
        }
        if let Some(parent) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            create_parent(parent, options)?;
        }
        clear_stale(path)?;
        let listener = UnixListener::bind(path).map_err(|source| BindError::Bind {
            path: path.to_path_buf(),
            source,
        })?;
        let file = SocketFile::record(path).map_err(|source| BindError::Bind {
            path: path.to_path_buf(),
            source,
        })?;
        // Between bind and chmod the socket has the umask's mode; the
        // directory (0700) and the peer check cover that instant.
        set_socket_mode(path, options).map_err(|source| BindError::Permissions {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(ControlSocket { listener, file })
    }

    pub fn path(&self) -> &Path {
        &self.file.path
    }

    /// The listening descriptor, to hand over through a re-exec.
    pub fn raw_fd(&self) -> RawFd {
        self.listener.as_raw_fd()
    }

    /// The socket the process this one re-executed listened on: descriptor
    /// `fd`, a listening socket bound at `path`. Not unlinked nor bound
    /// again: a client that connected during the exec waits in its backlog
    /// and is answered here. Made close-on-exec again.
    pub fn inherit(path: &Path, fd: RawFd) -> Result<Self, BindError> {
        let err = |why: String| BindError::Inherited {
            fd,
            path: path.to_path_buf(),
            why,
        };
        let owned = inherited_fd(fd).map_err(|e| err(e.to_string()))?;
        let listener = UnixListener::from(owned);
        let bound = listener
            .local_addr()
            .map_err(|e| err(e.to_string()))?
            .as_pathname()
            .map(Path::to_path_buf);
        if bound.as_deref() != Some(path) {
            return Err(err(format!("it is bound at {bound:?}")));
        }
        let file = SocketFile::record(path).map_err(|e| err(e.to_string()))?;
        Ok(ControlSocket { listener, file })
    }
}

/// Take descriptor `fd`, handed over through a re-exec, and make it
/// close-on-exec again (the exec cleared that so it would pass; a gateway
/// spawned from here must not inherit it).
pub(crate) fn inherited_fd(fd: RawFd) -> io::Result<OwnedFd> {
    use nix::fcntl::{FcntlArg, FdFlag, fcntl};
    if fd < 3 {
        return Err(io::Error::other("not a descriptor a re-exec hands over"));
    }
    // SAFETY: only borrowed to ask whether it is open.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    fcntl(borrowed, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).map_err(io::Error::from)?;
    // SAFETY: the descriptor is open (fcntl succeeded) and named by the
    // environment the old process set for this one alone; nothing else in
    // this process owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Creates the socket's directory when missing: 0700, or 0710 owned by the
/// group so that its members can reach the socket. An existing directory is
/// left alone: it may be shared (`/tmp`) and is not ours to change.
fn create_parent(parent: &Path, options: SocketOptions) -> Result<(), BindError> {
    if parent.exists() {
        return Ok(());
    }
    let err = |source| BindError::CreateDir {
        path: parent.to_path_buf(),
        source,
    };
    let mode = if options.group.is_some() {
        0o710
    } else {
        0o700
    };
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(parent)
        .map_err(err)?;
    if let Some(group) = options.group {
        chown(parent, None, Some(Gid::from_raw(group))).map_err(|errno| err(errno.into()))?;
    }
    // Set explicitly: DirBuilder's mode is filtered by the umask.
    fs::set_permissions(parent, Permissions::from_mode(mode)).map_err(err)
}

/// Removes a socket nobody answers on; refuses one somebody answers on and
/// anything that is not a socket.
fn clear_stale(path: &Path) -> Result<(), BindError> {
    let metadata = match fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(BindError::Probe {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    if !metadata.file_type().is_socket() {
        return Err(BindError::NotASocket {
            path: path.to_path_buf(),
        });
    }
    match UnixStream::connect(path) {
        Ok(_) => Err(BindError::AlreadyRunning {
            path: path.to_path_buf(),
        }),
        Err(err) if err.kind() == io::ErrorKind::ConnectionRefused => fs::remove_file(path)
            .map_err(|source| BindError::RemoveStale {
                path: path.to_path_buf(),
                source,
            }),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(BindError::Probe {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn set_socket_mode(path: &Path, options: SocketOptions) -> io::Result<()> {
    match options.group {
        Some(group) => {
            chown(path, None, Some(Gid::from_raw(group)))?;
            fs::set_permissions(path, Permissions::from_mode(0o660))
        }
        None => fs::set_permissions(path, Permissions::from_mode(0o600)),
    }
}

/// The socket file we created, identified by device and inode so that we
/// never remove a successor's socket.
#[derive(Debug)]
pub(crate) struct SocketFile {
    pub(crate) path: PathBuf,
    dev: u64,
    ino: u64,
}

impl SocketFile {
    fn record(path: &Path) -> io::Result<Self> {
        let metadata = fs::symlink_metadata(path)?;
        Ok(SocketFile {
            path: path.to_path_buf(),
            dev: metadata.dev(),
            ino: metadata.ino(),
        })
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        if let Ok(metadata) = fs::symlink_metadata(&self.path)
            && metadata.dev() == self.dev
            && metadata.ino() == self.ino
        {
            // Nothing useful to do if it fails: a stale socket is replaced
            // by the next supervisor anyway.
            let _ = fs::remove_file(&self.path);
        }
    }
}
