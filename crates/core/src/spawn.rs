//! What a spawn is, without spawning: the spec of a child, how a declared
//! command is found (as a shell would, without a shell), how a child ended,
//! and why a spawn failed. The forking and reaping is the daemon's
//! (`process::Spawner`); these types are shared by the pure resolution of a
//! gateway's command line and the daemon.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitKind {
    Code(i32),
    Signal(i32),
}

impl std::fmt::Display for ExitKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitKind::Code(code) => write!(f, "exit code {code}"),
            ExitKind::Signal(signal) => match signal_name(*signal) {
                Some(name) => write!(f, "killed by {name}"),
                None => write!(f, "killed by signal {signal}"),
            },
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("command `{command}` not found on PATH ({path})")]
    NotFoundOnPath { command: String, path: String },
    #[error("command {path} does not exist")]
    Missing { path: PathBuf },
    #[error("command {path} is not an executable file")]
    NotExecutable { path: PathBuf },
    #[error("cannot execute {path}: {source}")]
    Exec { path: PathBuf, source: io::Error },
    #[error("cannot set up the child's pipes: {0}")]
    Pipe(io::Error),
    #[error("the supervisor is shutting down: nothing more is spawned")]
    ShuttingDown,
    #[error("cannot open {path} to spawn into its cgroup: {source}")]
    CgroupOpen { path: PathBuf, source: io::Error },
    #[error("cannot execute {path} in cgroup {cgroup}: {source}")]
    ExecInCgroup {
        path: PathBuf,
        cgroup: PathBuf,
        source: io::Error,
    },
}

/// Resolve a declared command the way a shell would, without a shell: a bare
/// name is looked up on `path_var` at spawn time, an absolute path is used as
/// is, and any other path is relative to the declaration's directory.
pub fn resolve_command(
    command: &str,
    declaration_dir: &Path,
    path_var: Option<&str>,
) -> Result<PathBuf, SpawnError> {
    if !command.contains('/') {
        let path_var = path_var.unwrap_or("/usr/local/bin:/usr/bin:/bin");
        for dir in path_var.split(':').filter(|d| !d.is_empty()) {
            let candidate = Path::new(dir).join(command);
            if is_executable_file(&candidate) {
                return Ok(candidate);
            }
        }
        return Err(SpawnError::NotFoundOnPath {
            command: command.to_string(),
            path: path_var.to_string(),
        });
    }
    let path = if Path::new(command).is_absolute() {
        PathBuf::from(command)
    } else {
        declaration_dir.join(command)
    };
    if !path.exists() {
        return Err(SpawnError::Missing { path });
    }
    if !is_executable_file(&path) {
        return Err(SpawnError::NotExecutable { path });
    }
    Ok(path)
}

fn is_executable_file(path: &Path) -> bool {
    fs::metadata(path)
        .map(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// What to run. The program is already resolved (see [`resolve_command`]).
#[derive(Debug, Clone)]
pub struct SpawnSpec {
    pub program: PathBuf,
    pub args: Vec<String>,
    /// The complete environment: nothing is inherited implicitly.
    pub env: BTreeMap<String, String>,
    pub cwd: Option<PathBuf>,
    /// Pipe stdout and stderr (else they go to /dev/null).
    pub capture_output: bool,
    /// Give the child a pipe for stdin (else it reads /dev/null).
    pub pipe_stdin: bool,
}

/// The name of a signal number on Linux (`SIGKILL`), as `kill -l` says it.
pub fn signal_name(number: i32) -> Option<&'static str> {
    const NAMES: &[(i32, &str)] = &[
        (libc::SIGHUP, "SIGHUP"),
        (libc::SIGINT, "SIGINT"),
        (libc::SIGQUIT, "SIGQUIT"),
        (libc::SIGILL, "SIGILL"),
        (libc::SIGTRAP, "SIGTRAP"),
        (libc::SIGABRT, "SIGABRT"),
        (libc::SIGBUS, "SIGBUS"),
        (libc::SIGFPE, "SIGFPE"),
        (libc::SIGKILL, "SIGKILL"),
        (libc::SIGUSR1, "SIGUSR1"),
        (libc::SIGSEGV, "SIGSEGV"),
        (libc::SIGUSR2, "SIGUSR2"),
        (libc::SIGPIPE, "SIGPIPE"),
        (libc::SIGALRM, "SIGALRM"),
        (libc::SIGTERM, "SIGTERM"),
        (libc::SIGSTKFLT, "SIGSTKFLT"),
        (libc::SIGCHLD, "SIGCHLD"),
        (libc::SIGCONT, "SIGCONT"),
        (libc::SIGSTOP, "SIGSTOP"),
        (libc::SIGTSTP, "SIGTSTP"),
        (libc::SIGTTIN, "SIGTTIN"),
        (libc::SIGTTOU, "SIGTTOU"),
        (libc::SIGURG, "SIGURG"),
        (libc::SIGXCPU, "SIGXCPU"),
        (libc::SIGXFSZ, "SIGXFSZ"),
        (libc::SIGVTALRM, "SIGVTALRM"),
        (libc::SIGPROF, "SIGPROF"),
        (libc::SIGWINCH, "SIGWINCH"),
        (libc::SIGIO, "SIGIO"),
        (libc::SIGPWR, "SIGPWR"),
        (libc::SIGSYS, "SIGSYS"),
    ];
    NAMES
        .iter()
        .find(|(n, _)| *n == number)
        .map(|(_, name)| *name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exits_in_words() {
        let rows = [
            (ExitKind::Code(0), "exit code 0"),
            (ExitKind::Code(78), "exit code 78"),
            (ExitKind::Signal(9), "killed by SIGKILL"),
            (ExitKind::Signal(15), "killed by SIGTERM"),
            (ExitKind::Signal(11), "killed by SIGSEGV"),
            (ExitKind::Signal(64), "killed by signal 64"),
        ];
        for (exit, words) in rows {
            assert_eq!(exit.to_string(), words, "{exit:?}");
        }
    }

    #[test]
    fn resolve_command_finds_bare_names_on_path_and_relative_paths() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        fs::create_dir(&bin).unwrap();
        let tool = bin.join("tool");
        fs::write(&tool, "#!/bin/true\n").unwrap();
        fs::set_permissions(&tool, fs::Permissions::from_mode(0o755)).unwrap();
        let plain = bin.join("plain");
        fs::write(&plain, "data").unwrap();
        let path_var = format!("/nonexistent:{}", bin.display());

        assert_eq!(
            resolve_command("tool", dir.path(), Some(&path_var)).unwrap(),
            tool
        );
        assert_eq!(resolve_command("bin/tool", dir.path(), None).unwrap(), tool);
        assert_eq!(
            resolve_command(tool.to_str().unwrap(), Path::new("/"), None).unwrap(),
            tool
        );
        assert!(matches!(
            resolve_command("nope", dir.path(), Some(&path_var)),
            Err(SpawnError::NotFoundOnPath { .. })
        ));
        assert!(matches!(
            resolve_command("plain", dir.path(), Some(&path_var)),
            Err(SpawnError::NotFoundOnPath { .. })
        ));
        assert!(matches!(
            resolve_command("bin/plain", dir.path(), None),
            Err(SpawnError::NotExecutable { .. })
        ));
        assert!(matches!(
            resolve_command("./missing", dir.path(), None),
            Err(SpawnError::Missing { .. })
        ));
    }
}
