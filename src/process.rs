//! Spawning, signalling and reaping child processes.
//!
//! Theory of operation: one [`Spawner`] per supervisor owns every fork and
//! the only `waitpid` in the process. Each child is spawned in a process
//! group of its own (it is the group leader), with its pid registered to an
//! owner channel *while the registry lock is held*, so the reaper can never
//! reap a child before its owner is known (and never steals the status that
//! `std::process::Command` itself waits for when `exec` fails). The reaper is
//! woken by SIGCHLD (no polling) and drains every exited child with
//! `waitpid(-1, WNOHANG)`; exits of registered pids go to their owner, and
//! the exits of orphaned descendants (the supervisor is a child subreaper, so
//! they come back to it) are simply reaped.
//!
//! Every child also carries a spawn marker in its environment
//! (`OPENCLAW_SUPERVISOR_SPAWN`); descendants inherit it, so a descendant that
//! escaped its process group (a browser started with `setsid`) is still found
//! and stopped with its instance.
//!
//! `tokio::process` is never used: its own SIGCHLD handling would race with
//! the `waitpid(-1)` here.
//!
//! Once shutdown begins the spawner is closed ([`Spawner::close`]): the flag
//! is checked under the same lock every fork holds, so nothing at all is
//! spawned after that point. Stopping a set of processes (one stop signal
//! each, SIGKILL at the timeout) is [`Escalation`], the one path for a
//! gateway, its leftovers and those of an earlier supervisor.

mod escalation;
mod ports;
mod procfs;

pub use procfs::{
    all_pids, environ_has, environ_var, is_zombie, own_children, parent_of, pidfd_open,
    process_group_of, process_name, process_start_time, process_tree,
};

pub use escalation::{Escalation, Member, Progress};
pub use openclaw_supervisor_core::spawn::{ExitKind, SpawnError, SpawnSpec, resolve_command};
pub use ports::{Holder, PortTaken, check_port, port_holder, ports_in_use};

use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use openclaw_supervisor_core::protocol::SignalName;
use tokio::sync::mpsc;

/// The environment variable that marks every process of one spawn.
pub const SPAWN_MARKER_VAR: &str = "OPENCLAW_SUPERVISOR_SPAWN";

/// An exit the reaper routes to the owner of a pid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChildExit {
    pub pid: i32,
    pub exit: ExitKind,
}

/// A child that has been spawned and registered with the reaper.
#[derive(Debug)]
pub struct SpawnedChild {
    pub pid: i32,
    /// Start time in clock ticks since boot (`/proc/<pid>/stat` field 22).
    pub start_time: Option<u64>,
    pub stdout: Option<tokio::net::unix::pipe::Receiver>,
    pub stderr: Option<tokio::net::unix::pipe::Receiver>,
    /// Its stdin, when [`SpawnSpec::pipe_stdin`] asked for one.
    pub stdin: Option<tokio::net::unix::pipe::Sender>,
}

type Owners = HashMap<i32, mpsc::UnboundedSender<ChildExit>>;

/// What the spawner's lock guards: the owner of every unreaped child, and
/// whether spawning has ended.
#[derive(Default)]
struct Registry {
    owners: Owners,
    closed: bool,
    /// Processes spawned so far.
    spawned: u64,
}

/// No fork while this lives ([`Spawner::pause_forks`]).
pub struct ForkPause<'a> {
    _registry: std::sync::MutexGuard<'a, Registry>,
}

/// The one place that forks and the one place that reaps.
#[derive(Clone)]
pub struct Spawner {
    registry: Arc<Mutex<Registry>>,
}

impl Spawner {
    /// Become a child subreaper and start the SIGCHLD-driven reaper task.
    /// Must be called inside a tokio runtime.
    pub fn start() -> io::Result<Spawner> {
        // Orphaned descendants come back to us instead of init, so they are
        // reaped here and an escaped one can still be found and stopped.
        nix::sys::prctl::set_child_subreaper(true).map_err(io::Error::from)?;
        let registry: Arc<Mutex<Registry>> = Arc::new(Mutex::new(Registry::default()));
        let mut sigchld = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::child())?;
        let reaper_registry = registry.clone();
        tokio::spawn(async move {
            reap_all(&reaper_registry);
            while sigchld.recv().await.is_some() {
                reap_all(&reaper_registry);
            }
        });
        Ok(Spawner { registry })
    }

    /// End spawning for good (shutdown has begun): every later
    /// [`Spawner::spawn`] answers [`SpawnError::ShuttingDown`]. Reaping goes
    /// on. Logged under the fork lock, with the number of processes spawned
    /// until then, so the log shows exactly where spawning ended.
    pub fn close(&self, why: &str) {
        let mut registry = lock(&self.registry);
        if !registry.closed {
            registry.closed = true;
            tracing::info!(
                spawned = registry.spawned,
                "{why}: shutting down: nothing more is spawned"
            );
        }
    }

    /// Hold every fork (and the reaping) until the guard is dropped: every
    /// spawn takes the lock the guard holds. For the re-exec, which clears
    /// close-on-exec on descriptors no child may inherit, then `execve`s.
    pub fn pause_forks(&self) -> ForkPause<'_> {
        ForkPause {
            _registry: lock(&self.registry),
        }
    }

    /// Spawn `spec` as the leader of a new process group; its exit will be
    /// sent to `exits`.
    pub fn spawn(
        &self,
        spec: &SpawnSpec,
        exits: mpsc::UnboundedSender<ChildExit>,
    ) -> Result<SpawnedChild, SpawnError> {
        self.spawn_into(spec, exits, None)
    }

    /// [`Spawner::spawn`], into the cgroup directory `cgroup` when given:
    /// its `cgroup.procs` is opened before the fork and the child writes `0`
    /// to it before exec, so nothing of the child ever runs outside the
    /// cgroup; when that write fails the spawn fails.
    pub fn spawn_into(
        &self,
        spec: &SpawnSpec,
        exits: mpsc::UnboundedSender<ChildExit>,
        cgroup: Option<&Path>,
    ) -> Result<SpawnedChild, SpawnError> {
        self.spawn_inner(spec, exits, cgroup, None)
    }

    /// [`Spawner::spawn`], with `pass` as the child's descriptor 3 (a
    /// keeper's connection, `keeper::program::CONN_FD`).
    pub fn spawn_passing(
        &self,
        spec: &SpawnSpec,
        exits: mpsc::UnboundedSender<ChildExit>,
        pass: OwnedFd,
    ) -> Result<SpawnedChild, SpawnError> {
        self.spawn_inner(spec, exits, None, Some(pass))
    }

    fn spawn_inner(
        &self,
        spec: &SpawnSpec,
        exits: mpsc::UnboundedSender<ChildExit>,
        cgroup: Option<&Path>,
        pass: Option<OwnedFd>,
    ) -> Result<SpawnedChild, SpawnError> {
        let mut command = Command::new(&spec.program);
        command
            .args(&spec.args)
            .env_clear()
            .envs(&spec.env)
            .stdin(if spec.pipe_stdin {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .process_group(0);
        if let Some(cwd) = &spec.cwd {
            command.current_dir(cwd);
        }
        if spec.capture_output {
            command.stdout(Stdio::piped()).stderr(Stdio::piped());
        } else {
            command.stdout(Stdio::null()).stderr(Stdio::null());
        }
        if let Some(dir) = cgroup {
            let path = dir.join("cgroup.procs");
            // Opened with O_CLOEXEC (std's default): the exec'd gateway does
            // not inherit it.
            let procs = fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(|source| SpawnError::CgroupOpen { path, source })?;
            // SAFETY: the closure only calls write(2) on a descriptor opened
            // before the fork (async-signal-safe) and allocates nothing.
            unsafe {
                command.pre_exec(move || {
                    let written = nix::unistd::write(&procs, b"0").map_err(io::Error::from)?;
                    if written == 1 {
                        Ok(())
                    } else {
                        Err(io::Error::from(io::ErrorKind::WriteZero))
                    }
                });
            }
        }
        if let Some(pass) = &pass {
            let raw = pass.as_raw_fd();
            // SAFETY: the closure only calls dup2(2) or fcntl(2) on a
            // descriptor held open by the parent across the fork.
            unsafe {
                command.pre_exec(move || {
                    if raw == 3 {
                        // Already in place: only let it through the exec.
                        let flags = libc::fcntl(raw, libc::F_GETFD);
                        if flags < 0
                            || libc::fcntl(raw, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0
                        {
                            return Err(io::Error::last_os_error());
                        }
                    } else if libc::dup2(raw, 3) < 0 {
                        return Err(io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        // Held across fork and registration: the reaper takes this lock
        // before it calls waitpid, so it cannot reap an unregistered child.
        let mut registry = lock(&self.registry);
        if registry.closed {
            return Err(SpawnError::ShuttingDown);
        }
        #[allow(clippy::disallowed_methods)] // The one fork of the daemon.
        let mut child = command.spawn().map_err(|source| match cgroup {
            Some(dir) => SpawnError::ExecInCgroup {
                path: spec.program.clone(),
                cgroup: dir.to_path_buf(),
                source,
            },
            None => SpawnError::Exec {
                path: spec.program.clone(),
                source,
            },
        })?;
        let pid = child.id() as i32;
        registry.owners.insert(pid, exits);
        registry.spawned += 1;
        drop(registry);
        let stdout = child
            .stdout
            .take()
            .map(|out| tokio::net::unix::pipe::Receiver::from_owned_fd(out.into()))
            .transpose()
            .map_err(SpawnError::Pipe)?;
        let stderr = child
            .stderr
            .take()
            .map(|err| tokio::net::unix::pipe::Receiver::from_owned_fd(err.into()))
            .transpose()
            .map_err(SpawnError::Pipe)?;
        let stdin = child
            .stdin
            .take()
            .map(|input| tokio::net::unix::pipe::Sender::from_owned_fd(input.into()))
            .transpose()
            .map_err(SpawnError::Pipe)?;
        // `child` is dropped without waiting: the reaper owns waitpid.
        Ok(SpawnedChild {
            pid,
            start_time: process_start_time(pid),
            stdout,
            stderr,
            stdin,
        })
    }

    /// Take over the exit of `pid` (the process that started at
    /// `start_time`): a gateway whose keeper died is the supervisor's child
    /// now (a subreaper's). False when it is not a child of ours (then its
    /// exit cannot be waited for) or gone already.
    pub fn take_over(
        &self,
        pid: i32,
        start_time: u64,
        exits: mpsc::UnboundedSender<ChildExit>,
    ) -> bool {
        let mut registry = lock(&self.registry);
        let ours = process_start_time(pid) == Some(start_time)
            && parent_of(pid) == Some(std::process::id() as i32);
        if ours {
            registry.owners.insert(pid, exits);
            drop(registry);
            // Its SIGCHLD may have come before it was registered.
            reap_all(&self.registry);
        }
        ours
    }

    /// Forget the owner of a pid (after its exit was delivered).
    pub fn forget(&self, pid: i32) {
        lock(&self.registry).owners.remove(&pid);
    }

    /// Pids currently registered (spawned and not yet reaped).
    pub fn registered(&self) -> Vec<i32> {
        lock(&self.registry).owners.keys().copied().collect()
    }

    /// Whether `pid` is a child of ours not reaped yet (so its pid cannot
    /// have been reused).
    pub fn is_registered(&self, pid: i32) -> bool {
        lock(&self.registry).owners.contains_key(&pid)
    }

    /// Signal the group led by a child of ours, only while it is not reaped
    /// yet: under the reaper's lock, so its pid (the group id) cannot be
    /// reused meanwhile. False when it was reaped already.
    pub fn signal_group_if_unreaped(&self, pid: i32, signal: Signal) -> bool {
        let registry = lock(&self.registry);
        registry.owners.contains_key(&pid) && signal_group(pid, signal)
    }
}

fn lock(registry: &Mutex<Registry>) -> std::sync::MutexGuard<'_, Registry> {
    // A panic while holding this lock cannot leave the registry inconsistent
    // (every operation is a single insert/remove or flag), so poisoning is
    // ignored.
    registry
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn reap_all(registry: &Mutex<Registry>) {
    let mut registry = lock(registry);
    let owners = &mut registry.owners;
    loop {
        #[allow(clippy::disallowed_methods)] // The one waitpid of the daemon.
        match waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) => deliver(owners, pid, ExitKind::Code(code)),
            Ok(WaitStatus::Signaled(pid, signal, _)) => {
                deliver(owners, pid, ExitKind::Signal(signal as i32))
            }
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => break,
            Ok(_) => continue,
            Err(Errno::EINTR) => continue,
            Err(err) => {
                tracing::warn!(error = %err, "waitpid failed");
                break;
            }
        }
    }
}

fn deliver(owners: &mut Owners, pid: Pid, exit: ExitKind) {
    let pid = pid.as_raw();
    match owners.remove(&pid) {
        Some(owner) => {
            // The owner may be gone (instance removed); the child is reaped all the same.
            let _ = owner.send(ChildExit { pid, exit });
        }
        None => tracing::debug!(pid, %exit, "reaped an orphaned descendant"),
    }
}

/// Send `signal` to every process of the group led by `pgid`. Returns false
/// when the group has no process left.
pub fn signal_group(pgid: i32, signal: Signal) -> bool {
    !matches!(killpg(Pid::from_raw(pgid), signal), Err(Errno::ESRCH))
}

/// Signal one pid, but only if it is still the process that started at
/// `start_time`: pids are reused.
pub fn signal_if_same(pid: i32, start_time: Option<u64>, signal: Signal) -> bool {
    if start_time.is_some() && process_start_time(pid) != start_time {
        return false;
    }
    kill(Pid::from_raw(pid), signal).is_ok()
}

/// `pid` with its start time, when `is_ours` holds for it and the pid did
/// not change hands while it was asked (the start time is read before and
/// after): a process identified once, to be signalled only as itself.
pub fn identified(pid: i32, is_ours: impl FnOnce(i32) -> bool) -> Option<(i32, u64)> {
    let before = process_start_time(pid)?;
    if !is_ours(pid) {
        return None;
    }
    (process_start_time(pid)? == before).then_some((pid, before))
}

/// The signal `name` names: the one conversion of the core's signal names
/// (the wire's, and a declaration's `stop.signal`) into what `kill(2)`
/// takes. Every name is a signal, so it cannot fail.
pub fn to_signal(name: SignalName) -> Signal {
    match name {
        SignalName::Hup => Signal::SIGHUP,
        SignalName::Int => Signal::SIGINT,
        SignalName::Quit => Signal::SIGQUIT,
        SignalName::Kill => Signal::SIGKILL,
        SignalName::Usr1 => Signal::SIGUSR1,
        SignalName::Usr2 => Signal::SIGUSR2,
        SignalName::Term => Signal::SIGTERM,
        SignalName::Cont => Signal::SIGCONT,
        SignalName::Stop => Signal::SIGSTOP,
        SignalName::Tstp => Signal::SIGTSTP,
        SignalName::Winch => Signal::SIGWINCH,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_signal_name_is_its_own_signal() {
        for name in SignalName::ALL {
            let signal = to_signal(name);
            assert_eq!(signal as i32, name.number(), "{name}");
            assert_eq!(signal.as_str(), name.as_str(), "{name}");
        }
    }

    #[test]
    fn a_fork_pause_holds_the_lock_every_spawn_takes() {
        // Not `Spawner::start`: its reaper would reap other tests' children
        // (and make this process a subreaper).
        let spawner = Spawner {
            registry: Arc::new(Mutex::new(Registry::default())),
        };
        let pause = spawner.pause_forks();
        assert!(matches!(
            spawner.registry.try_lock(),
            Err(std::sync::TryLockError::WouldBlock)
        ));
        drop(pause);
        assert!(spawner.registry.try_lock().is_ok());
    }
}
