//! The child-process side of the actor: spawning the gateway, signalling
//! its group and escaped descendants, and ending what its leader left
//! behind (one look at a time, from the actor's loop) until every process
//! of the instance is gone.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use nix::sys::signal::Signal;

use super::{
    Actor, ERROR_LINES, InstanceNotice, KeeperRecord, PidRecord, RunningChild, SPAWN_COUNTER,
};
use crate::keeper::link::{KeeperPlace, Kept, LinkError};
use crate::lifecycle::{Event, Notice, State};
use crate::prober::ProbesReport;
use crate::process::Member;
use crate::process::{self, ChildExit, Escalation, ExitKind, Progress, SpawnError};
use crate::records::{remove_pid_record, write_pid_record};

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
        for dir in [&effective.state_dir, &effective.tmpdir] {
            create_private_dir(dir)
                .map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
        }
        process::check_port(effective.port).map_err(|taken| taken.to_string())?;
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
        let (socket, spool) = crate::keeper::paths(
            &self.shared.state_dir,
            &self.name,
            &marker.replace(':', "."),
        );
        let place = KeeperPlace {
            exe: self.shared.keeper_exe.clone(),
            socket,
            spool,
            cgroup,
        };
        let (kept, keeper) = match self.start_kept(place, &spec, &marker).await {
            Ok(started) => started,
            Err(err @ LinkError::Spawn(SpawnError::ShuttingDown)) => {
                tracing::info!(instance = %self.name, "not spawned: the supervisor is shutting down");
                return Err(err.to_string());
            }
            Err(err) => return Err(err.to_string()),
        };
        // The config it was spawned with, read once the gateway is under way
        // (it reads the file itself only after its runtime started): not in
        // the respawn's path.
        self.spawned_with = Some(super::lastgood::SpawnedWith::read(&self.config.effective).await);
        tracing::debug!(instance = %self.name, pid = kept.pid, keeper = keeper.pid, "spawned");
        self.log.marker(&format!("spawned pid {}", kept.pid));
        let digest = crate::keeper::spec_digest(&spec);
        self.hold(kept, keeper, SystemTime::now(), Some(digest), None);
        self.last_error = None;
        // A new process starts with a clean slate: without a startup probe
        // nothing else would clear the last process's liveness failures.
        self.probe_status = ProbesReport::new(&self.config.effective.probes);
        Ok(())
    }

    /// Hold a kept gateway (just spawned, or adopted from an earlier
    /// supervisor): read its output (what its keeper spooled first), hear
    /// its exit through the keeper, and record it for a later supervisor.
    pub(super) fn hold(
        &mut self,
        kept: Kept,
        keeper: KeeperRecord,
        spawned_at: SystemTime,
        spec_digest: Option<String>,
        after_spool: Option<String>,
    ) {
        let pid = kept.pid;
        let notes = self.notes_tx.clone();
        let note = move |line: &str| {
            if let Some(breaker) = crate::breaker::parse(line) {
                let _ = notes.send((pid, breaker));
            }
        };
        if kept.dropped > 0 {
            self.log.marker(&format!(
                "{} bytes of output were dropped while no supervisor was connected (the keeper's spool was full)",
                kept.dropped
            ));
        }
        let captures = vec![tokio::spawn(self.log.clone().capture_noting(
            pid,
            kept.spooled,
            after_spool,
            kept.output,
            note,
        ))];
        let watch = crate::keeper::link::watch(
            kept.link,
            kept.gone,
            crate::keeper::link::Held {
                name: self.name.clone(),
                pid,
                start_time: kept.start_time,
                keeper: Some((keeper.pid, keeper.start_time)),
            },
            self.exits_tx.clone(),
            self.shared.spawner.clone(),
        );
        let record = PidRecord {
            pid,
            start_time: Some(kept.start_time),
            marker: kept.marker.clone(),
            stop_signal: Some(self.config.effective.declaration.stop.signal),
            stop_timeout_ms: Some(
                self.config
                    .effective
                    .declaration
                    .stop
                    .timeout
                    .get()
                    .as_millis() as u64,
            ),
            keeper: Some(keeper.clone()),
            spawned_at_ms: Some(crate::reexec::unix_ms(spawned_at)),
            spec_digest,
        };
        if let Err(err) = write_pid_record(&self.shared.state_dir, &self.name, &record) {
            tracing::warn!(instance = %self.name, error = %err, "cannot record the child's pid");
        }
        self.child = Some(RunningChild {
            pid,
            marker: kept.marker,
            leader_exit: None,
            captures,
            stop: None,
            stopping_since: None,
            stop_cause: None,
            keeper: Some(watch),
            keeper_record: Some(keeper),
            adopted: false,
            start_time: kept.start_time,
        });
        self.spawned_at = Some(spawned_at);
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
        let Some(keeper) = record.keeper.clone() else {
            return false;
        };
        let marker = format!("adopted pid {pid} (kept while no supervisor ran)");
        self.hold(
            kept,
            keeper,
            spawned_at,
            record.spec_digest.clone(),
            Some(marker),
        );
        if let Some(child) = self.child.as_mut() {
            child.adopted = true;
        }
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

    /// Whether the leader's pid is surely still the leader's: a child of
    /// ours not reaped yet, or a gateway its keeper holds unreaped.
    pub(super) fn leader_unreaped(&self, child: &RunningChild) -> bool {
        child.leader_exit.is_none()
            && (self.shared.spawner.is_registered(child.pid)
                || child.keeper.as_ref().is_some_and(|keeper| keeper.holds())
                    // And, belt and braces, still the process that started
                    // then.
                    && process::process_start_time(child.pid) == Some(child.start_time))
    }

    /// The stop signal, once, to every process of the child (the lifecycle
    /// asked for a stop): the beginning of its one [`Escalation`].
    pub(super) fn signal_stop(&mut self) {
        let Some(child) = self.child.as_ref() else {
            return;
        };
        let members = self.members(child);
        if let Some(escalation) = self.escalation() {
            escalation.signal(&members);
        }
        if let Some(child) = self.child.as_mut() {
            child.stopping_since.get_or_insert_with(SystemTime::now);
        }
    }

    /// SIGKILL to every process of the child (the stop timeout passed).
    pub(super) fn kill(&mut self) {
        let Some(child) = self.child.as_ref() else {
            return;
        };
        let members = self.members(child);
        let leader = child.pid;
        let leader_alive = child.leader_exit.is_none();
        tracing::warn!(instance = %self.name, "stop timeout passed: sending SIGKILL to the process group");
        // The group too, while its leader is unreaped: a process forked
        // since the members were listed is in it.
        if self.leader_unreaped(child) {
            self.shared
                .spawner
                .signal_group_if_unreaped(leader, Signal::SIGKILL);
            if child.keeper.is_some() {
                process::signal_group(leader, Signal::SIGKILL);
            }
        }
        if let Some(escalation) = self.escalation() {
            escalation.kill(&members);
        }
        if leader_alive {
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
    }

    /// The current child's stop, begun now if it has not begun yet.
    fn escalation(&mut self) -> Option<&mut Escalation> {
        let name = self.name.clone();
        let signal = self.stop_signal();
        let timeout = self.config.effective.declaration.stop.timeout.get();
        let cgroup = self.cgroup_dir();
        let child = self.child.as_mut()?;
        Some(
            child.stop.get_or_insert_with(|| {
                Escalation::begin(&name, signal, timeout).with_cgroup(cgroup)
            }),
        )
    }

    /// The instance's cgroup directory, in cgroup mode.
    pub(super) fn cgroup_dir(&self) -> Option<std::path::PathBuf> {
        match &self.shared.cgroups {
            crate::cgroup::Mode::Cgroup(subtree) => Some(subtree.instance_dir(&self.name)),
            crate::cgroup::Mode::Marker(_) => None,
        }
    }

    /// Every living process of the child: the leader's tree while it is
    /// unreaped, and the supervisor's orphaned children that carry the
    /// child's marker (or are in its group while no process holds the
    /// leader's pid, so the group id cannot be someone else's), with their
    /// trees.
    pub(super) fn members(&self, child: &RunningChild) -> Vec<Member> {
        let mut pids = Vec::new();
        // Its exit may be waiting in the channel: only while the reaper has
        // not reaped it is the pid surely still the leader.
        if self.leader_unreaped(child) {
            pids.extend(process::process_tree(child.pid));
        }
        let leader_gone =
            child.leader_exit.is_some() && process::process_start_time(child.pid).is_none();
        // An adopted gateway's descendants that lost their parent went to
        // init, not to this supervisor: every process is a candidate then
        // (the marker is unique to the spawn).
        let candidates = match child.adopted {
            true => process::all_pids(),
            false => self.orphans(),
        };
        for orphan in candidates {
            let ours = process::environ_has(orphan, process::SPAWN_MARKER_VAR, &child.marker)
                || (leader_gone && process::process_group_of(orphan) == Some(child.pid));
            if ours {
                pids.extend(process::process_tree(orphan));
            }
        }
        // In cgroup mode every member of the instance's cgroup is provably
        // one of its processes, whatever it did with its environment.
        if let Some(dir) = self.cgroup_dir() {
            pids.extend(crate::cgroup::members(&dir));
        }
        pids.sort_unstable();
        pids.dedup();
        // Each with its start time as it is now: a pid that changes hands
        // later is never signalled as this member.
        pids.into_iter()
            .filter_map(|pid| process::identified(pid, |pid| !process::is_zombie(pid)))
            .collect()
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

    /// The leader was reaped. With nothing of the instance left, the exit
    /// is heard now; else the instance is exiting (`State::Exiting`): the
    /// leftovers get the stop (the one under way, or one begun now) and the
    /// loop looks at them again, answering commands meanwhile, until the
    /// group is empty. True when the instance is to be forgotten.
    pub(super) async fn leader_exited(&mut self, exit: ChildExit) -> bool {
        let Some(child) = self.child.as_mut() else {
            return false;
        };
        if child.pid != exit.pid {
            return false;
        }
        child.leader_exit = Some(exit.exit);
        self.shared.spawner.forget(exit.pid);
        tracing::debug!(instance = %self.name, pid = exit.pid, exit = %exit.exit, "gateway exited");
        // Watched before the first look, so an emptying in between is not
        // missed.
        let watch = self
            .cgroup_dir()
            .and_then(|dir| crate::cgroup::EventsWatch::new(&dir, &self.name));
        let left = match self.child.as_ref() {
            Some(child) => self.members(child),
            None => Vec::new(),
        };
        // Why it exited, as the machine stands now (a stop asked while it
        // is exiting does not make a crash a requested stop).
        let why = exit_reason(
            self.lifecycle.state,
            self.child.as_ref().and_then(|child| child.stop_cause),
        );
        if left.is_empty() {
            return self.group_gone(exit, why, Event::Exited(exit.exit)).await;
        }
        tracing::debug!(instance = %self.name, "the gateway left processes behind: stopping them");
        self.leftovers = Some(Leftovers {
            exit,
            why,
            next_look: tokio::time::Instant::now(),
            watched: watch.is_some(),
            watch,
        });
        self.handle(Event::LeaderExited(exit.exit)).await
    }

    /// One look at an exiting instance's leftovers (woken by its cgroup
    /// emptying, or at the escalation's next step): the stop signal to any
    /// process seen for the first time, SIGKILL once it is due, and the
    /// exit heard once none is left. True when the instance is to be
    /// forgotten.
    pub(super) async fn look_at_leftovers(&mut self) -> bool {
        let Some((exit, why)) = self
            .leftovers
            .as_ref()
            .map(|leftovers| (leftovers.exit, leftovers.why))
        else {
            return false;
        };
        let left = match self.child.as_ref() {
            Some(child) => self.members(child),
            None => Vec::new(),
        };
        let progress = match self.escalation() {
            Some(escalation) => (escalation.advance(&left), escalation.next_deadline()),
            None => (Progress::Gone, tokio::time::Instant::now()),
        };
        match progress {
            (Progress::LookAgainAt(at), deadline) => {
                if let Some(leftovers) = self.leftovers.as_mut() {
                    // With its cgroup watched, the next look is when it
                    // empties or the escalation moves on: no polling.
                    leftovers.next_look = match leftovers.watched {
                        true => deadline,
                        false => at,
                    };
                }
                false
            }
            (Progress::Gone | Progress::GaveUp, _) => {
                self.leftovers = None;
                self.group_gone(exit, why, Event::GroupEmpty).await
            }
        }
    }

    /// Every process of the instance is gone: its record, its keeper's
    /// acknowledgement, its cgroup, its last lines; then `event` (the exit,
    /// or the end of the leftovers) to the machine.
    async fn group_gone(
        &mut self,
        exit: ChildExit,
        why: Option<&'static str>,
        event: Event,
    ) -> bool {
        // No record names a keeper once it is idle (so a later supervisor
        // never finds an idle keeper to adopt): the record goes first.
        remove_pid_record(&self.shared.state_dir, &self.name, exit.pid);
        // Nothing signals the leader's pid any more: its keeper may reap it,
        // and waits for the next gateway.
        if let Some(child) = self.child.as_mut()
            && let Some(watch) = child.keeper.as_mut()
            && let Some(link) = watch.ack().await
            && let Some(record) = child.keeper_record.take()
        {
            self.idle_keeper = Some(super::keep::IdleKeeper { link, record });
        }
        if let Some(dir) = self.cgroup_dir() {
            // Empty now; made again at the next spawn. Not kept for it: after
            // a `cgroup.kill` this kernel kills every child a keeper then
            // clones into that cgroup (`keeper/launch.rs` falls back to a
            // migration then, milliseconds), and a new cgroup is not killed.
            crate::cgroup::remove_dir(&dir);
        }
        if let Some(child) = self.child.take() {
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
        let expected = self.lifecycle.state.stop_then().is_some();
        if !expected || exit.exit != ExitKind::Code(0) {
            self.error_lines = self.log.tail_of(exit.pid, ERROR_LINES);
            self.error_from = Some((exit.pid, exit.exit));
        }
        self.log
            .marker(&crate::logs::exit_marker(exit.pid, exit.exit, why));
        self.handle(event).await
    }
}

/// An exiting instance (`State::Exiting`): the leader's exit, heard once
/// the group is empty, and when to look at the leftovers again.
pub(super) struct Leftovers {
    exit: ChildExit,
    /// Why it exited, for its exit marker, as the machine stood then.
    why: Option<&'static str>,
    pub(super) next_look: tokio::time::Instant,
    /// Its cgroup's `cgroup.events`, in cgroup mode: woken when it empties
    /// (taken by the loop, which keeps it while the instance is exiting).
    pub(super) watch: Option<crate::cgroup::EventsWatch>,
    /// Whether it has that watch: then the next look is the escalation's
    /// next step, not a look every 20 ms.
    watched: bool,
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
