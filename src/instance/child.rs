//! The child-process side of the actor: spawning the gateway, signalling
//! its group and escaped descendants, and waiting until every process of
//! the instance is gone after its leader exits.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use nix::sys::signal::Signal;

use super::{Actor, ERROR_LINES, PidRecord, RunningChild, SPAWN_COUNTER, pid_record_path};
use crate::lifecycle::{Event, State};
use crate::prober::ProbesReport;
use crate::process::{self, ChildExit, ExitKind, SpawnSpec};

impl Actor {
    pub(super) fn spawn(&mut self) -> Event {
        match self.try_spawn() {
            Ok(()) => Event::Spawned,
            Err(error) => {
                tracing::error!(instance = %self.name, %error, "cannot spawn the gateway");
                self.last_error = Some(error);
                Event::SpawnFailed
            }
        }
    }

    pub(super) fn try_spawn(&mut self) -> Result<(), String> {
        let effective = &self.config.effective;
        for dir in [&effective.state_dir, &effective.tmpdir] {
            create_private_dir(dir)
                .map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
        }
        if !process::port_is_free(effective.port) {
            return Err(match process::port_holder(effective.port) {
                Some((pid, program)) => format!(
                    "port {} is held by pid {pid} ({program}), which is not one of ours: stop it or move this instance to another port",
                    effective.port
                ),
                None => format!("port {} is in use by another process", effective.port),
            });
        }
        let mut env = self.child_env();
        let marker = format!(
            "{}:{}:{}",
            self.name,
            self.shared.supervisor_id,
            SPAWN_COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        env.insert(process::SPAWN_MARKER_VAR.to_string(), marker.clone());
        let declaration_dir = effective.file.parent().unwrap_or(Path::new("."));
        let program = process::resolve_command(
            effective.command(),
            declaration_dir,
            env.get("PATH").map(String::as_str),
        )
        .map_err(|err| err.to_string())?;
        let spec = SpawnSpec {
            program,
            args: effective.child_args(),
            env,
            cwd: Some(effective.state_dir.clone()),
            capture_output: true,
        };
        let child = self
            .shared
            .spawner
            .spawn(&spec, self.exits_tx.clone())
            .map_err(|err| err.to_string())?;
        tracing::info!(instance = %self.name, pid = child.pid, "spawned");
        let mut captures = Vec::new();
        if let Some(stdout) = child.stdout {
            captures.push(tokio::spawn(self.log.clone().capture(stdout)));
        }
        if let Some(stderr) = child.stderr {
            captures.push(tokio::spawn(self.log.clone().capture(stderr)));
        }
        let record = PidRecord {
            pid: child.pid,
            start_time: child.start_time,
            marker: marker.clone(),
        };
        if let Err(err) = write_pid_record(&self.shared.state_dir, &self.name, &record) {
            tracing::warn!(instance = %self.name, error = %err, "cannot record the child's pid");
        }
        self.child = Some(RunningChild {
            pid: child.pid,
            marker,
            leader_exit: None,
            captures,
        });
        self.spawned_at = Some(SystemTime::now());
        self.last_error = None;
        // A new process starts with a clean slate: without a startup probe
        // nothing else would clear the last process's liveness failures.
        self.probe_status = ProbesReport::new(&self.config.probes);
        Ok(())
    }

    /// Signal the group and every escaped descendant.
    pub(super) fn signal_all(&self, signal: Signal) {
        let Some(child) = &self.child else {
            return;
        };
        // While the leader is unreaped its pid (= the group id) cannot be
        // reused; after that, only processes carrying our marker are signalled.
        if child.leader_exit.is_none()
            || process::process_group_of(child.pid).is_some_and(|g| g == child.pid)
        {
            process::signal_group(child.pid, signal);
        }
        for pid in process::marked_processes(&self.orphans(), &child.marker) {
            if pid != child.pid {
                let start = process::process_start_time(pid);
                process::signal_if_same(pid, start, signal);
            }
        }
    }

    /// The supervisor's children that the spawner did not start: descendants
    /// that came back to it as orphans. Only these can be escaped processes
    /// of an instance. Every other instance's gateway is a child too, and
    /// reading each one's environment on every exit made an exit among 200
    /// instances cost milliseconds.
    pub(super) fn orphans(&self) -> Vec<i32> {
        // Children first: one spawned in between is registered by the time
        // the registry is read (it is registered under the registry's lock).
        let children = process::own_children();
        let spawned: std::collections::HashSet<i32> =
            self.shared.spawner.registered().into_iter().collect();
        children
            .into_iter()
            .filter(|pid| !spawned.contains(pid))
            .collect()
    }

    /// Whether any process of the current child is left besides the leader.
    pub(super) fn leftovers(&self, child: &RunningChild) -> bool {
        process::group_alive(child.pid)
            || !process::marked_processes(&self.orphans(), &child.marker).is_empty()
    }

    /// The leader was reaped: make sure nothing of the instance is left,
    /// then tell the machine. True when the instance is to be forgotten.
    pub(super) async fn leader_exited(&mut self, exit: ChildExit) -> bool {
        let Some(child) = self.child.as_mut() else {
            return false;
        };
        if child.pid != exit.pid {
            return false;
        }
        child.leader_exit = Some(exit.exit);
        self.shared.spawner.forget(exit.pid);
        tracing::info!(instance = %self.name, pid = exit.pid, exit = %exit.exit, "gateway exited");
        self.clean_up_leftovers().await;
        if let Some(child) = self.child.take() {
            remove_pid_record(&self.shared.state_dir, &self.name, child.pid);
            // Every process of the instance is gone, so its pipes are at EOF:
            // wait for the last lines to be read, so a crash report has the
            // gateway's own last words (bounded: a pipe passed on to some
            // unrelated process must not hold the actor).
            let drained = async {
                for capture in child.captures {
                    let _ = capture.await;
                }
            };
            let _ = tokio::time::timeout(Duration::from_secs(1), drained).await;
        }
        self.last_exit_at = Some(SystemTime::now());
        self.spawned_at = None;
        let expected = matches!(self.lifecycle.state, State::Stopping { .. });
        if !expected || exit.exit != ExitKind::Code(0) {
            self.error_lines = self.log.tail(ERROR_LINES);
        }
        self.handle(Event::Exited(exit.exit)).await
    }

    /// Stop what the leader left behind (workers, grandchildren, escaped
    /// descendants): the stop signal, the stop timeout, then SIGKILL. Waits
    /// until every one of them is gone.
    pub(super) async fn clean_up_leftovers(&mut self) {
        let Some(child) = self.child.as_ref() else {
            return;
        };
        if !self.leftovers(child) {
            return;
        }
        let stop_timeout = self.config.effective.declaration.stop.timeout.get();
        let mut signal = self.stop_signal();
        let mut deadline = Instant::now() + stop_timeout;
        let mut killed = false;
        loop {
            self.signal_all(signal);
            // Orphans come back to us and are reaped by the reaper; this
            // bounded wait only watches for the group to empty.
            let poll_until = Instant::now() + Duration::from_millis(200);
            while Instant::now() < poll_until {
                match self.child.as_ref() {
                    Some(child) if self.leftovers(child) => {
                        tokio::time::sleep(Duration::from_millis(10)).await
                    }
                    _ => return,
                }
            }
            if Instant::now() >= deadline {
                if killed {
                    tracing::error!(instance = %self.name, "processes survive SIGKILL; giving up waiting for them");
                    return;
                }
                tracing::warn!(instance = %self.name, "leftover processes outlived the stop timeout: SIGKILL");
                signal = Signal::SIGKILL;
                killed = true;
                deadline = Instant::now() + Duration::from_secs(10);
            }
        }
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

fn write_pid_record(state_dir: &Path, name: &str, record: &PidRecord) -> std::io::Result<()> {
    let path = pid_record_path(state_dir, name);
    let text = serde_json::to_vec(record).map_err(std::io::Error::other)?;
    // Not fsynced: a record only has to outlive the supervisor process, not
    // the host (after a reboot no process it names is left), and it is
    // written on every spawn, where two fsyncs would cost milliseconds.
    crate::supervisor::write_atomically_unsynced(&path, &text)
}

fn remove_pid_record(state_dir: &Path, name: &str, pid: i32) {
    let path = pid_record_path(state_dir, name);
    // Only our own record: a newer child may have replaced it.
    let ours = std::fs::read(&path)
        .ok()
        .and_then(|text| serde_json::from_slice::<PidRecord>(&text).ok())
        .is_some_and(|record| record.pid == pid);
    if ours {
        let _ = std::fs::remove_file(path);
    }
}
