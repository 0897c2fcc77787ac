//! The loop's side of a re-exec (`reexec`, SIGUSR2): freeze every actor,
//! write their state to `<state-dir>/run/.reexec.json`, ask the binary at
//! the supervisor's path whether it reads that file (`reexec-check`), then
//! flush the logs and the journal and `execve` it with the same argv, the
//! control socket's listening descriptor and the state-dir lock passing
//! through. Anything that fails before the exec thaws the actors and
//! refuses with the reason: the old process goes on.

use std::collections::BTreeMap;
use std::ffi::{CString, OsString};
use std::os::fd::{BorrowedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use nix::fcntl::{FcntlArg, FdFlag, fcntl};
use tokio::sync::{mpsc, oneshot};

use super::Supervisor;
use crate::files::write_atomically_private;
use crate::instance::{Command, InstanceNotice};
use crate::journal::Subject;
use crate::openclaw::EnvMap;
use crate::process::{ExitKind, SpawnSpec, Spawner};
use crate::protocol::EventKind;
use crate::reexec::{self, SavedState};

// The loop pings systemd's watchdog (`WatchdogSec=30`) and is busy here:
// freeze, check and the wait for the reply stay well inside it.
/// How long every actor has to answer the freeze.
const FREEZE_DEADLINE: Duration = Duration::from_secs(5);
/// How long `reexec-check` may take (it reads one small file).
const CHECK_DEADLINE: Duration = Duration::from_secs(10);
/// How long the reply "re-executing" may take to reach the client.
const WRITTEN_DEADLINE: Duration = Duration::from_secs(5);
/// At most this much of the check's output is read.
const CHECK_OUTPUT: u64 = 64 * 1024;

/// What the exec needs, known when the daemon started.
#[derive(Debug, Clone, Default)]
pub struct Exec {
    /// The path `current_exe` gave at start (after an upgrade replaced the
    /// file, `/proc/self/exe` says "(deleted)"); None when it was unknown.
    pub exe: Option<PathBuf>,
    pub argv: Vec<OsString>,
    /// The control socket's listening descriptor and the lock's.
    pub listen_fd: Option<RawFd>,
    pub lock_fd: Option<RawFd>,
    /// The control server's gate: closed for the exec, so that no client's
    /// connection is cut by it (new ones wait in the backlog for the new
    /// process).
    pub gate: crate::control::Gate,
}

/// How long the open connections get to finish before the exec.
const QUIET_DEADLINE: Duration = Duration::from_secs(2);

/// What `start` gets from the daemon: how to exec, and the state saved
/// by the process this one replaced, if it is a re-exec.
#[derive(Debug, Clone, Default)]
pub struct ReexecSetup {
    pub exec: Exec,
    pub saved: Option<SavedState>,
}

impl Supervisor {
    /// Take the saved state: each instance gets its own in `add`; the
    /// `reexecuted` event says from which version to which.
    pub(super) fn resume(&mut self, saved: Option<SavedState>) {
        let Some(saved) = saved else {
            return;
        };
        self.restored_idle = saved
            .instances
            .iter()
            .filter(|(_, instance)| !instance.state.had_gateway())
            .map(|(name, _)| name.clone())
            .collect();
        self.restored = saved.instances.into_iter().collect();
        self.emit(
            Subject::Supervisor,
            EventKind::Reexecuted,
            format!("{} -> {}", saved.version, env!("CARGO_PKG_VERSION")),
        );
    }
}

/// A re-exec under way: `written` is told when the reply is out (the exec
/// waits for it); `failed` says why, should the exec itself fail.
pub struct Accepted {
    pub written: oneshot::Sender<()>,
    pub failed: oneshot::Receiver<String>,
}

pub type ReexecReply = oneshot::Sender<Result<Accepted, String>>;

impl Supervisor {
    /// Re-execute in place, or refuse (with the reason, to `reply` and the
    /// log) and go on.
    pub(super) async fn reexec(
        &mut self,
        reply: Option<ReexecReply>,
        notices: &mut mpsc::UnboundedReceiver<InstanceNotice>,
    ) {
        tracing::info!("re-exec asked for: saving the state of every instance");
        self.watchdog_ping();
        // No new connection from here on (they wait for the new process);
        // the open ones finish first (the asker's own stays open).
        let gate = self.reexec_exec.gate.clone();
        gate.pause();
        let own = usize::from(reply.is_some());
        if !gate.quiet(own, QUIET_DEADLINE).await {
            tracing::warn!(
                "re-exec: control connections still open after {QUIET_DEADLINE:?}; they end with the exec"
            );
        }
        let (file, exec) = match self.prepare_reexec().await {
            Ok(prepared) => prepared,
            Err(why) => {
                gate.resume();
                tracing::warn!("re-exec refused: {why}");
                if let Some(reply) = reply {
                    let _ = reply.send(Err(why));
                }
                return;
            }
        };
        let (written_tx, written_rx) = oneshot::channel();
        let (failed_tx, failed_rx) = oneshot::channel();
        if let Some(reply) = reply {
            let accepted = Accepted {
                written: written_tx,
                failed: failed_rx,
            };
            if reply.send(Ok(accepted)).is_ok() {
                let _ = tokio::time::timeout(WRITTEN_DEADLINE, written_rx).await;
            }
        }
        // Notices sent before the freeze are events of this process.
        while let Ok(notice) = notices.try_recv() {
            let kind = super::notice_kind(&notice.notice);
            self.events.emit(
                Subject::Instance(&notice.name),
                kind,
                notice.detail,
                notice.pid,
            );
        }
        self.flush_for_exec().await;
        // The new process pings from its own loop, once it runs.
        self.watchdog_ping();
        let error = if self.shutdown_asked.load(Ordering::SeqCst) {
            // A SIGTERM since the freeze: shut down (the loop's next
            // message) rather than exec a process that would not know.
            let _ = std::fs::remove_file(&file);
            "the supervisor is shutting down".to_string()
        } else {
            exec_now(
                &exec,
                &file,
                &self.options.inherited_env,
                &self.shared.spawner,
            )
        };
        // Only a failed (or abandoned) exec comes back here.
        let exe = exec.exe.as_deref().unwrap_or(Path::new("?"));
        let why = format!("the exec of {} did not happen: {error}", exe.display());
        tracing::error!("re-exec: {why}; going on as before");
        gate.resume();
        self.thaw_all();
        let _ = failed_tx.send(why);
    }

    /// Freeze, save and check; the state file and the exec on success.
    async fn prepare_reexec(&mut self) -> Result<(PathBuf, Exec), String> {
        let exec = self.reexec_exec.clone();
        let Some(exe) = exec.exe.clone() else {
            return Err("the supervisor's own path was unknown at start".to_string());
        };
        if exec.listen_fd.is_none() || exec.lock_fd.is_none() {
            return Err(
                "this supervisor was not started by `start` (no socket to hand over)".to_string(),
            );
        }
        if let Some(leaving) = self.leaving.iter().find(|handle| !handle.is_closed()) {
            return Err(format!(
                "{} is being removed; try again when it has stopped",
                leaving.name
            ));
        }
        let instances = match self.freeze_all().await {
            Ok(instances) => instances,
            Err(why) => {
                self.thaw_all();
                return Err(why);
            }
        };
        let state = SavedState {
            format: reexec::FORMAT,
            version: env!("CARGO_PKG_VERSION").to_string(),
            written_at_ms: reexec::unix_ms(SystemTime::now()),
            instances,
        };
        let file = reexec::state_file(&self.options.state_dir);
        let written = {
            let file = file.clone();
            let text = reexec::write(&state);
            tokio::task::spawn_blocking(move || write_atomically_private(&file, &text)).await
        };
        let checked = match written {
            Ok(Ok(())) => self.check_with(&exe, &file).await,
            Ok(Err(err)) => Err(format!("cannot write {}: {err}", file.display())),
            Err(err) => Err(format!("cannot write {}: {err}", file.display())),
        };
        if let Err(why) = checked {
            let _ = std::fs::remove_file(&file);
            self.thaw_all();
            return Err(why);
        }
        Ok((file, exec))
    }

    /// Every actor's saved state, or why one cannot be saved now.
    async fn freeze_all(&self) -> Result<BTreeMap<String, reexec::SavedInstance>, String> {
        let mut answers = Vec::new();
        for (name, entry) in &self.instances {
            let (tx, rx) = oneshot::channel();
            entry.handle.send(Command::Freeze(tx));
            answers.push((name.clone(), rx));
        }
        let mut saved = BTreeMap::new();
        for (name, answer) in answers {
            match tokio::time::timeout(FREEZE_DEADLINE, answer).await {
                Ok(Ok(Ok(instance))) => {
                    saved.insert(name, instance);
                }
                Ok(Ok(Err(busy))) => return Err(format!("{name} {busy}")),
                Ok(Err(_)) => return Err(format!("{name} has ended")),
                Err(_) => {
                    return Err(format!(
                        "{name} did not answer within {}s; try again",
                        FREEZE_DEADLINE.as_secs()
                    ));
                }
            }
        }
        Ok(saved)
    }

    fn watchdog_ping(&self) {
        if let Some(notifier) = self
            .notifier
            .as_ref()
            .filter(|notifier| notifier.watchdog_interval.is_some())
        {
            notifier.watchdog();
        }
    }

    fn thaw_all(&self) {
        for entry in self.instances.values() {
            entry.handle.log.resume_capture();
            entry.handle.send(Command::Thaw);
        }
    }

    /// Whether the binary at `exe` reads `file`: `<exe> reexec-check
    /// <file>`, through the spawner, killed at a deadline.
    async fn check_with(&self, exe: &Path, file: &Path) -> Result<(), String> {
        let spec = SpawnSpec {
            program: exe.to_path_buf(),
            args: vec![
                reexec::CHECK_SUBCOMMAND.to_string(),
                file.display().to_string(),
            ],
            env: self.options.inherited_env.clone(),
            cwd: None,
            capture_output: true,
            pipe_stdin: false,
        };
        let run =
            crate::validator::run_to_end(&self.shared.spawner, &spec, CHECK_DEADLINE, CHECK_OUTPUT)
                .await
                .map_err(|err| format!("cannot run {}: {err}", exe.display()))?;
        match run {
            Some((ExitKind::Code(0), _, _)) => Ok(()),
            Some((exit, _, stderr)) => {
                let said = stderr.trim();
                Err(match said.is_empty() {
                    true => format!("{} cannot read the saved state ({exit})", exe.display()),
                    false => format!("{} cannot read the saved state: {said}", exe.display()),
                })
            }
            None => Err(format!(
                "{} did not answer `{}` within {}s",
                exe.display(),
                reexec::CHECK_SUBCOMMAND,
                CHECK_DEADLINE.as_secs()
            )),
        }
    }

    /// Every line read so far in the instances' log files (their capture
    /// paused first), every event in the journal.
    async fn flush_for_exec(&self) {
        let logs: Vec<_> = self
            .instances
            .values()
            .map(|entry| entry.handle.log.clone())
            .collect();
        // The gateways' output from here on stays in their pipes: the
        // keepers spool it for the new process (a line read now would be
        // lost with this one). A failed exec resumes it (`thaw_all`).
        for log in &logs {
            log.pause_capture().await;
        }
        let journal = self.events.journal().clone();
        let _ = tokio::task::spawn_blocking(move || {
            for log in logs {
                // A cut is answered once the writer has written every line
                // queued before it.
                let _ = log.cut(false);
            }
            journal.flush(crate::journal::FLUSH_WAIT);
        })
        .await;
    }
}

fn set_cloexec(fd: RawFd, on: bool) -> nix::Result<()> {
    // SAFETY: the socket's and the lock's descriptors stay open for the
    // daemon's whole life (the server and the lock hold them until the
    // loop has ended), and the loop is where this runs.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    let flags = if on {
        FdFlag::FD_CLOEXEC
    } else {
        FdFlag::empty()
    };
    fcntl(fd, FcntlArg::F_SETFD(flags)).map(|_| ())
}

fn c_string(bytes: &[u8]) -> Result<CString, String> {
    CString::new(bytes).map_err(|_| "an argument holds a NUL byte".to_string())
}

/// `execve` the binary with the same argv; returns only on failure (with
/// the descriptors' close-on-exec put back). No fork happens from clearing
/// close-on-exec to the exec (a child would inherit the socket and the
/// lock): the spawner's forks are paused meanwhile.
fn exec_now(exec: &Exec, file: &Path, env: &EnvMap, spawner: &Spawner) -> String {
    let (Some(exe), Some(listen_fd), Some(lock_fd)) = (&exec.exe, exec.listen_fd, exec.lock_fd)
    else {
        return "nothing to exec".to_string();
    };
    let mut env = env.clone();
    env.insert(reexec::STATE_VAR.to_string(), file.display().to_string());
    env.insert(reexec::LISTEN_FD_VAR.to_string(), listen_fd.to_string());
    env.insert(reexec::LOCK_FD_VAR.to_string(), lock_fd.to_string());
    let built = (|| -> Result<_, String> {
        let path = c_string(exe.as_os_str().as_bytes())?;
        let argv = exec
            .argv
            .iter()
            .map(|arg| c_string(arg.as_bytes()))
            .collect::<Result<Vec<_>, _>>()?;
        let envp = env
            .iter()
            .map(|(key, value)| c_string(format!("{key}={value}").as_bytes()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((path, argv, envp))
    })();
    let (path, argv, envp) = match built {
        Ok(built) => built,
        Err(why) => return why,
    };
    let pause = spawner.pause_forks();
    if let Err(err) = set_cloexec(listen_fd, false).and_then(|()| set_cloexec(lock_fd, false)) {
        let _ = set_cloexec(listen_fd, true);
        let _ = set_cloexec(lock_fd, true);
        return format!("cannot pass the descriptors on: {err}");
    }
    tracing::info!(exe = %exe.display(), "re-executing");
    let error = match nix::unistd::execve(&path, &argv, &envp) {
        Err(err) => err.to_string(),
        Ok(never) => match never {},
    };
    let _ = set_cloexec(listen_fd, true);
    let _ = set_cloexec(lock_fd, true);
    drop(pause);
    error
}
