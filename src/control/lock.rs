//! The exclusive lock on the supervisor's state dir: one supervisor per
//! state dir, however it was started.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use thiserror::Error;

/// The lock file's name inside the state dir.
pub const LOCK_FILE: &str = "supervisor.lock";

/// Holds `flock(LOCK_EX)` on `<state_dir>/supervisor.lock` while alive. The
/// kernel drops the lock when the process dies, so a crash never leaves it
/// stale. The file holds the holder's pid, for the error message only.
#[derive(Debug)]
pub struct StateDirLock {
    _file: Flock<File>,
    path: PathBuf,
}

#[derive(Debug, Error)]
pub enum LockError {
    #[error("another supervisor holds the lock {}{}; stop it first or use another --state-dir", path.display(), holder(*pid))]
    Held { path: PathBuf, pid: Option<u32> },
    #[error("cannot create the state dir {}: {source}", path.display())]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the lock file {}: {source}", path.display())]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot lock {}: {source}", path.display())]
    Lock { path: PathBuf, source: Errno },
    #[error("the lock descriptor {fd} handed over by the re-exec is not {}: {why}", path.display())]
    Inherited {
        fd: RawFd,
        path: PathBuf,
        why: String,
    },
}

fn holder(pid: Option<u32>) -> String {
    pid.map(|pid| format!(" (pid {pid})")).unwrap_or_default()
}

impl StateDirLock {
    /// Takes the lock without waiting, creating the state dir (0700) and the
    /// lock file as needed.
    pub fn acquire(state_dir: &Path) -> Result<Self, LockError> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(state_dir)
            .map_err(|source| LockError::CreateDir {
                path: state_dir.to_path_buf(),
                source,
            })?;
        let path = state_dir.join(LOCK_FILE);
        // Not truncated on open: the holder's pid must survive our attempt.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|source| LockError::Open {
                path: path.clone(),
                source,
            })?;
        let mut file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(locked) => locked,
            Err((mut file, Errno::EWOULDBLOCK)) => {
                let mut text = String::new();
                let pid = file
                    .read_to_string(&mut text)
                    .ok()
                    .and_then(|_| text.trim().parse().ok());
                return Err(LockError::Held { path, pid });
            }
            Err((_, source)) => return Err(LockError::Lock { path, source }),
        };
        // The pid is informational; failing to write it does not matter.
        let _ = file
            .set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| writeln!(file, "{}", std::process::id()));
        Ok(StateDirLock { _file: file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The descriptor, to hand over through a re-exec.
    pub fn raw_fd(&self) -> RawFd {
        self._file.as_raw_fd()
    }

    /// The lock held by the process this one re-executed: descriptor `fd`,
    /// open on `<state_dir>/supervisor.lock` (checked by device and inode)
    /// and already locked (flock on the same open file is a no-op). It is
    /// made close-on-exec again so that no child inherits it.
    pub fn inherit(state_dir: &Path, fd: RawFd) -> Result<Self, LockError> {
        let path = state_dir.join(LOCK_FILE);
        let err = |why: String| LockError::Inherited {
            fd,
            path: path.clone(),
            why,
        };
        let file = super::socket::inherited_fd(fd).map_err(|e| err(e.to_string()))?;
        let file = File::from(file);
        let here = std::fs::metadata(&path).map_err(|e| err(e.to_string()))?;
        let open = file.metadata().map_err(|e| err(e.to_string()))?;
        if (here.dev(), here.ino()) != (open.dev(), open.ino()) {
            return Err(err("it is another file".to_string()));
        }
        let file = Flock::lock(file, FlockArg::LockExclusiveNonblock)
            .map_err(|(_, errno)| err(errno.to_string()))?;
        Ok(StateDirLock { _file: file, path })
    }
}
