//! The actor's side of its gateway: what it asks of its [`Children`]
//! (spawn, adopt, stop, kill) and what it makes of what they tell it (the
//! leader's exit, the leftovers gone), in the lifecycle's events, its log
//! markers and its notices.
//!
//! [`Children`]: super::children::Children

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use super::children::{Adopting, Left, Start, StopSpec};
use super::{Actor, ERROR_LINES, InstanceNotice, RunningChild, SPAWN_COUNTER};
use crate::lifecycle::{Event, Notice, State};
use crate::prober::ProbesReport;
use crate::process::{self, ChildExit, ExitKind};

impl Actor {
    pub(super) async fn spawn(&mut self) -> Event {
        match self.try_spawn().await {
            Ok(()) => Event::Spawned,
            Err(error) => {
                tracing::error!(instance = %self.name, %error, "cannot spawn the gateway");
                self.last_error = Some(error);
                Event::SpawnFailed
            }
        }
    }

    pub(super) async fn try_spawn(&mut self) -> Result<(), String> {
        let effective = &self.config.effective;
        let dirs = [effective.state_dir.clone(), effective.tmpdir.clone()];
        self.children.prepare(&dirs, effective.port)?;
        let marker = format!(
            "{}:{}:{}",
            self.name,
            self.shared.supervisor_id,
            SPAWN_COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let mut extra = self.config.extra_env.clone();
        extra.insert(process::SPAWN_MARKER_VAR.to_string(), marker.clone());
        let spec = effective
            .spawn_spec(&self.shared.inherited_env, extra)
            .map_err(|err| err.to_string())?;
        let cgroup = match &self.shared.cgroups {
            crate::cgroup::Mode::Cgroup(subtree) => {
                Some(subtree.create_instance(&self.name).map_err(|err| {
                    format!(
                        "cannot create the instance's cgroup {}: {err}",
                        subtree.instance_dir(&self.name).display()
                    )
                })?)
            }
            crate::cgroup::Mode::Marker(_) => None,
        };
        if let Some(dir) = &cgroup {
            self.apply_limits(dir);
        }
        // The file work on the blocking pool, done before the spawn as ever.
        self.refresh_skill().await;
        self.spawned_with = None;
        let start = Start {
            spec,
            marker: marker.clone(),
            cgroup,
            stop: self.stop_spec(),
        };
        let spawned = self.children.spawn(start).await?;
        // The config it was spawned with, read once the gateway is under way
        // (it reads the file itself only after its runtime started): not in
        // the respawn's path.
        self.spawned_with = Some(super::lastgood::SpawnedWith::read(&self.config.effective).await);
        self.child = Some(RunningChild::new(spawned.pid, marker));
        self.spawned_at = Some(spawned.at);
        self.last_error = None;
        // A new process starts with a clean slate: without a startup probe
        // nothing else would clear the last process's liveness failures.
        self.probe_status = ProbesReport::new(&self.config.effective.probes);
        Ok(())
    }

    /// Take over the kept gateway of an earlier supervisor (or of this one
    /// before `reexec`): held as if spawned, its uptime kept; restarted at
    /// once when what it was spawned with is not what the declaration says
    /// now.
    pub(super) async fn adopt(&mut self, adopted: super::Adopted) -> bool {
        let super::Adopted { kept, record } = adopted;
        let pid = kept.pid;
        let spawned_at = record
            .spawned_at_ms
            .map(|ms| std::time::UNIX_EPOCH + Duration::from_millis(ms))
            .unwrap_or_else(SystemTime::now);
        let current = self
            .config
            .effective
            .spawn_spec(&self.shared.inherited_env, {
                let mut extra = self.config.extra_env.clone();
                extra.insert(process::SPAWN_MARKER_VAR.to_string(), record.marker.clone());
                extra
            })
            .ok()
            .map(|spec| crate::keeper::spec_digest(&spec));
        let changed = record.spec_digest.is_some() && record.spec_digest != current;
        let marker = record.marker.clone();
        let how = Adopting {
            spawned_at,
            spec_digest: record.spec_digest.clone(),
            marker: format!("adopted pid {pid} (kept while no supervisor ran)"),
            stop: self.stop_spec(),
        };
        let Some(spawned) = self.children.adopt(super::Adopted { kept, record }, how) else {
            return false;
        };
        self.child = Some(RunningChild::new(spawned.pid, marker));
        self.spawned_at = Some(spawned.at);
        self.adoption = Some(super::Adoption::Adopted {
            at: SystemTime::now(),
            pid,
        });
        if self.handle(Event::Adopted).await {
            return true;
        }
        if changed {
            tracing::info!(instance = %self.name, pid, "the adopted gateway was spawned with other settings than the declaration's now: restarting it");
            self.last_restart_reason =
                Some("adopted with settings that changed while no supervisor ran".to_string());
            return self.handle(Event::Restart).await;
        }
        false
    }

    /// The stop signal, once, to every process of the gateway (the
    /// lifecycle asked for a stop): the beginning of its one escalation.
    pub(super) fn signal_stop(&mut self) {
        let stop = self.stop_spec();
        let Some(child) = self.child.as_mut() else {
            return;
        };
        child.stopping_since.get_or_insert_with(SystemTime::now);
        self.children.signal_stop(stop);
    }

    /// SIGKILL to every process of the gateway (the stop timeout passed).
    pub(super) fn kill(&mut self) {
        let Some(leader) = self.child.as_ref().map(|child| child.pid) else {
            return;
        };
        if !self.children.kill(self.stop_spec()) {
            return;
        }
        // An unclean boot the gateway will count, caused by us: say so.
        let now = SystemTime::now();
        crate::breaker::forget_old_kills(&mut self.kills, now);
        self.kills.push(now);
        self.kills_total += 1;
        let detail = crate::breaker::killed_detail(
            self.config.effective.declaration.stop.timeout.get(),
            crate::breaker::recent_kills(&self.kills, now),
        );
        let _ = self.shared.notices.send(InstanceNotice {
            name: self.name.clone(),
            notice: Notice::Killed,
            at: now,
            detail,
            pid: Some(leader),
        });
    }

    /// How the gateway stops, as the declaration says now.
    pub(super) fn stop_spec(&self) -> StopSpec {
        let stop = &self.config.effective.declaration.stop;
        StopSpec {
            signal: stop.signal,
            timeout: stop.timeout.get(),
        }
    }

    /// The leader was reaped. With nothing of the instance left, the exit
    /// is heard now; else the instance is exiting (`State::Exiting`): the
    /// leftovers get the stop (the one under way, or one begun now) and the
    /// children say when to look at them again, while the loop answers
    /// commands, until the group is empty. True when the instance is to be
    /// forgotten.
    pub(super) async fn leader_exited(&mut self, exit: ChildExit) -> bool {
        let stop = self.stop_spec();
        let Some(left) = self.children.leader_exited(exit, stop) else {
            return false;
        };
        let Some(child) = self.child.as_mut() else {
            return false;
        };
        child.leader_exit = Some(exit.exit);
        tracing::debug!(instance = %self.name, pid = exit.pid, exit = %exit.exit, "gateway exited");
        // Why it exited, as the machine stands now (a stop asked while it
        // is exiting does not make a crash a requested stop).
        let why = exit_reason(self.lifecycle.state, child.stop_cause);
        match left {
            Left::Nothing => self.group_gone(exit, why, Event::Exited(exit.exit)).await,
            Left::Some => {
                self.leftovers = Some(Leftovers { exit, why });
                self.handle(Event::LeaderExited(exit.exit)).await
            }
        }
    }

    /// One look at an exiting instance's leftovers (the children said when):
    /// the exit heard once none is left. True when the instance is to be
    /// forgotten.
    pub(super) async fn look_at_leftovers(&mut self) -> bool {
        if !self.children.look() {
            return false;
        }
        match self.leftovers.take() {
            Some(Leftovers { exit, why }) => self.group_gone(exit, why, Event::GroupEmpty).await,
            None => false,
        }
    }

    /// Every process of the instance is gone: the children let go of it
    /// (its record, its keeper, its cgroup, its last lines); then `event`
    /// (the exit, or the end of the leftovers) to the machine.
    async fn group_gone(
        &mut self,
        exit: ChildExit,
        why: Option<&'static str>,
        event: Event,
    ) -> bool {
        self.children.release().await;
        self.child = None;
        self.last_exit_at = Some(SystemTime::now());
        self.spawned_at = None;
        let expected = self.lifecycle.state.stop_then().is_some();
        if !expected || exit.exit != ExitKind::Code(0) {
            self.error_lines = self.log.tail_of(exit.pid, ERROR_LINES);
            self.error_from = Some((exit.pid, exit.exit));
        }
        self.log
            .marker(&crate::logs::exit_marker(exit.pid, exit.exit, why));
        self.handle(event).await
    }

    /// No gateway is coming while the instance is not backing off: the
    /// children let go of an idle keeper.
    pub(super) async fn end_idle_keeper_unless_needed(&mut self) {
        if matches!(self.lifecycle.state, State::Backoff { .. }) || self.child.is_some() {
            return;
        }
        self.children.none_coming().await;
    }
}

/// An exiting instance (`State::Exiting`): the leader's exit, heard once
/// the group is empty.
pub(super) struct Leftovers {
    exit: ChildExit,
    /// Why it exited, for its exit marker, as the machine stood then.
    why: Option<&'static str>,
}

/// Why a gateway exited, for its exit marker: what the stop under way was
/// for (`cause`: the probe that forced it, when one did), or nothing when
/// nobody asked it to exit.
pub(super) fn exit_reason(state: State, cause: Option<&'static str>) -> Option<&'static str> {
    use crate::lifecycle::Then;
    let then = state.stop_then()?;
    Some(match then {
        Then::Stop => "stop requested",
        Then::Restart => cause.unwrap_or("restart requested"),
        Then::Standby => "back to standby",
        Then::Relaunch => cause.unwrap_or("a probe failed"),
        Then::Forget => "declaration removed",
    })
}

/// `dir` and its parents, created 0700 where missing.
pub(crate) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::Then;

    #[test]
    fn an_exit_marker_says_why_the_gateway_was_stopped() {
        let since = std::time::Instant::now();
        let stopping = |then| State::Stopping { since, then };
        let rows = [
            (stopping(Then::Stop), None, Some("stop requested")),
            (stopping(Then::Restart), None, Some("restart requested")),
            (
                stopping(Then::Restart),
                Some("memory guard"),
                Some("memory guard"),
            ),
            (stopping(Then::Standby), None, Some("back to standby")),
            (stopping(Then::Forget), None, Some("declaration removed")),
            (
                stopping(Then::Relaunch),
                Some("liveness failed"),
                Some("liveness failed"),
            ),
            (stopping(Then::Relaunch), None, Some("a probe failed")),
            (State::Running { since }, None, None),
            (State::Starting { since }, Some("liveness failed"), None),
        ];
        for (state, cause, expected) in rows {
            assert_eq!(exit_reason(state, cause), expected, "{state:?}");
        }
    }
}
