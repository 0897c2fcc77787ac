//! The real [`Children`]: the gateway's processes over the spawner, the
//! reaper and the instance's keeper. It finds every process of the gateway
//! (its leader's tree while it is unreaped, escaped descendants by their
//! spawn marker, its cgroup's members), signals each only while it is
//! provably the one it saw (pid and start time), and drives the one stop
//! [`Escalation`] the lifecycle asks for; after the leader's exit it says
//! when to look at the leftovers again, woken by the cgroup emptying or at
//! the escalation's next step.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use nix::sys::signal::Signal;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::children::{Adopting, Children, Heard, Left, Spawned, Start, StopSpec};
use super::keep::IdleKeeper;
use super::{Adopted, KeeperRecord, PidRecord};
use crate::breaker::BreakerLine;
use crate::keeper::link::{KeeperPlace, Kept, LinkError};
use crate::logs::InstanceLog;
use crate::openclaw::EnvMap;
use crate::probe::{BoxFuture, ExecRunner};
use crate::process::{self, ChildExit, Escalation, Member, Progress, SpawnError, Spawner};
use crate::records::{remove_pid_record, write_pid_record};

/// The processes of one instance.
pub(crate) struct Processes {
    name: String,
    spawner: Spawner,
    /// The supervisor's state dir (pid records, keeper sockets).
    state_dir: PathBuf,
    keeper_exe: PathBuf,
    cgroups: crate::cgroup::Mode,
    /// Where the gateway's output goes.
    log: InstanceLog,
    /// Breaker lines from the gateway's output, with the pid that wrote them.
    notes: mpsc::UnboundedSender<(i32, BreakerLine)>,
    exits_tx: mpsc::UnboundedSender<ChildExit>,
    exits: mpsc::UnboundedReceiver<ChildExit>,
    held: Option<Held>,
    /// The keeper of the last gateway, idle, while the next one is coming.
    idle_keeper: Option<IdleKeeper>,
    /// While the leader's leftovers are being stopped.
    looking: Option<Looking>,
}

/// What the instance needs to hold its processes.
pub(crate) struct Place {
    pub(crate) name: String,
    pub(crate) spawner: Spawner,
    pub(crate) state_dir: PathBuf,
    pub(crate) keeper_exe: PathBuf,
    pub(crate) cgroups: crate::cgroup::Mode,
    pub(crate) log: InstanceLog,
    pub(crate) notes: mpsc::UnboundedSender<(i32, BreakerLine)>,
}

/// The gateway held now.
struct Held {
    pid: i32,
    marker: String,
    /// The tasks reading its output (they end at EOF).
    captures: Vec<JoinHandle<()>>,
    /// Set once the leader was reaped.
    leader_exited: bool,
    /// The stop under way, once the stop signal went out.
    stop: Option<Escalation>,
    /// The keeper's hold on the gateway.
    keeper: Option<crate::keeper::link::Watch>,
    /// That keeper, as recorded: kept for the next gateway once it is idle.
    keeper_record: Option<KeeperRecord>,
    /// Taken over from an earlier supervisor (its orphaned descendants are
    /// init's children, not ours).
    adopted: bool,
    /// The gateway's start time (clock ticks since boot).
    start_time: u64,
}

/// When to look at the leftovers again.
struct Looking {
    next_look: tokio::time::Instant,
    /// The cgroup's `cgroup.events`, in cgroup mode: woken when it empties.
    watch: Option<crate::cgroup::EventsWatch>,
}

impl Processes {
    pub(crate) fn new(place: Place) -> Processes {
        let (exits_tx, exits) = mpsc::unbounded_channel();
        Processes {
            name: place.name,
            spawner: place.spawner,
            state_dir: place.state_dir,
            keeper_exe: place.keeper_exe,
            cgroups: place.cgroups,
            log: place.log,
            notes: place.notes,
            exits_tx,
            exits,
            held: None,
            idle_keeper: None,
            looking: None,
        }
    }

    async fn try_spawn(&mut self, start: Start) -> Result<Spawned, String> {
        let (socket, spool) =
            crate::keeper::paths(&self.state_dir, &self.name, &start.marker.replace(':', "."));
        let place = KeeperPlace {
            exe: self.keeper_exe.clone(),
            socket,
            spool,
            cgroup: start.cgroup.clone(),
        };
        let (kept, keeper) = match self.start_kept(place, &start.spec, &start.marker).await {
            Ok(started) => started,
            Err(err @ LinkError::Spawn(SpawnError::ShuttingDown)) => {
                tracing::info!(instance = %self.name, "not spawned: the supervisor is shutting down");
                return Err(err.to_string());
            }
            Err(err) => return Err(err.to_string()),
        };
        tracing::debug!(instance = %self.name, pid = kept.pid, keeper = keeper.pid, "spawned");
        let digest = crate::keeper::spec_digest(&start.spec);
        let pid = kept.pid;
        let at = SystemTime::now();
        // Before its output is read: the marker comes first in its log.
        self.log.marker(&format!("spawned pid {pid}"));
        self.hold(kept, keeper, at, Some(digest), None, start.stop);
        Ok(Spawned { pid, at })
    }

    /// Start `spec` under the instance's keeper: the idle one when there is
    /// one (replaced by a new one when it does not answer), else a new one.
    async fn start_kept(
        &mut self,
        place: KeeperPlace,
        spec: &process::SpawnSpec,
        marker: &str,
    ) -> Result<(Kept, KeeperRecord), LinkError> {
        if let Some(idle) = self.idle_keeper.take() {
            let order = super::keep::order_of(spec, place.cgroup.as_deref(), marker);
            match idle.link.start(order).await {
                Ok(kept) => return Ok((kept, idle.record)),
                Err((err @ LinkError::SpawnFailed(_), Some(link))) => {
                    // The gateway could not start; the keeper is fine.
                    self.idle_keeper = Some(IdleKeeper {
                        link,
                        record: idle.record,
                    });
                    return Err(err);
                }
                Err((err, _)) => {
                    tracing::warn!(instance = %self.name, keeper = idle.record.pid, error = %err, "the idle keeper did not start the gateway: replacing it");
                    super::keep::give_up_keeper(&idle.record, place.cgroup.clone(), marker).await;
                }
            }
        }
        let (keeper_pid, kept) = crate::keeper::link::spawn(&self.spawner, &place, spec).await?;
        let record = KeeperRecord {
            pid: keeper_pid,
            start_time: process::process_start_time(keeper_pid),
            socket: place.socket,
        };
        Ok((kept, record))
    }

    /// Hold a kept gateway (just spawned, or adopted from an earlier
    /// supervisor): read its output (what its keeper spooled first), hear
    /// its exit through the keeper, and record it for a later supervisor.
    fn hold(
        &mut self,
        kept: Kept,
        keeper: KeeperRecord,
        spawned_at: SystemTime,
        spec_digest: Option<String>,
        after_spool: Option<String>,
        stop: StopSpec,
    ) {
        let pid = kept.pid;
        let notes = self.notes.clone();
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
            self.spawner.clone(),
        );
        let record = PidRecord {
            pid,
            start_time: Some(kept.start_time),
            marker: kept.marker.clone(),
            stop_signal: Some(stop.signal),
            stop_timeout_ms: Some(stop.timeout.as_millis() as u64),
            keeper: Some(keeper.clone()),
            spawned_at_ms: Some(crate::reexec::unix_ms(spawned_at)),
            spec_digest,
        };
        if let Err(err) = write_pid_record(&self.state_dir, &self.name, &record) {
            tracing::warn!(instance = %self.name, error = %err, "cannot record the child's pid");
        }
        self.held = Some(Held {
            pid,
            marker: kept.marker,
            leader_exited: false,
            captures,
            stop: None,
            keeper: Some(watch),
            keeper_record: Some(keeper),
            adopted: false,
            start_time: kept.start_time,
        });
    }

    /// Whether the leader's pid is surely still the leader's: a child of
    /// ours not reaped yet, or a gateway its keeper holds unreaped.
    fn leader_unreaped(&self, held: &Held) -> bool {
        !held.leader_exited
            && (self.spawner.is_registered(held.pid)
                || held.keeper.as_ref().is_some_and(|keeper| keeper.holds())
                    // And, belt and braces, still the process that started
                    // then.
                    && process::process_start_time(held.pid) == Some(held.start_time))
    }

    /// The current gateway's stop, begun now with `stop` if it has not
    /// begun yet.
    fn escalation(&mut self, stop: StopSpec) -> Option<&mut Escalation> {
        let name = self.name.clone();
        let cgroup = self.cgroup_dir();
        let held = self.held.as_mut()?;
        Some(held.stop.get_or_insert_with(|| {
            Escalation::begin(&name, process::to_signal(stop.signal.name()), stop.timeout)
                .with_cgroup(cgroup)
        }))
    }

    /// The instance's cgroup directory, in cgroup mode.
    fn cgroup_dir(&self) -> Option<PathBuf> {
        match &self.cgroups {
            crate::cgroup::Mode::Cgroup(subtree) => Some(subtree.instance_dir(&self.name)),
            crate::cgroup::Mode::Marker(_) => None,
        }
    }

    /// Every living process of the gateway: the leader's tree while it is
    /// unreaped, and the supervisor's orphaned children that carry the
    /// gateway's marker (or are in its group while no process holds the
    /// leader's pid, so the group id cannot be someone else's), with their
    /// trees.
    fn members(&self) -> Vec<Member> {
        let Some(held) = self.held.as_ref() else {
            return Vec::new();
        };
        let mut pids = Vec::new();
        // Its exit may be waiting in the channel: only while the reaper has
        // not reaped it is the pid surely still the leader.
        if self.leader_unreaped(held) {
            pids.extend(process::process_tree(held.pid));
        }
        let leader_gone = held.leader_exited && process::process_start_time(held.pid).is_none();
        // An adopted gateway's descendants that lost their parent went to
        // init, not to this supervisor: every process is a candidate then
        // (the marker is unique to the spawn).
        let candidates = match held.adopted {
            true => process::all_pids(),
            false => self.orphans(),
        };
        for orphan in candidates {
            let ours = process::environ_has(orphan, process::SPAWN_MARKER_VAR, &held.marker)
                || (leader_gone && process::process_group_of(orphan) == Some(held.pid));
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
    fn orphans(&self) -> Vec<i32> {
        // Children first: one spawned in between is registered by the time
        // the registry is read (it is registered under the registry's lock).
        let children = process::own_children();
        let spawned: std::collections::HashSet<i32> =
            self.spawner.registered().into_iter().collect();
        children
            .into_iter()
            .filter(|pid| !spawned.contains(pid))
            .collect()
    }
}

impl Children for Processes {
    fn prepare(&mut self, dirs: &[PathBuf], port: u16) -> Result<(), String> {
        for dir in dirs {
            super::create_private_dir(dir)
                .map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
        }
        process::check_port(port).map_err(|taken| taken.to_string())
    }

    fn spawn(&mut self, start: Start) -> BoxFuture<'_, Result<Spawned, String>> {
        Box::pin(self.try_spawn(start))
    }

    fn adopt(&mut self, adopted: Adopted, how: Adopting) -> Option<Spawned> {
        let Adopted { kept, record } = adopted;
        let keeper = record.keeper?;
        let pid = kept.pid;
        let at = how.spawned_at;
        self.hold(
            kept,
            keeper,
            how.spawned_at,
            how.spec_digest,
            Some(how.marker),
            how.stop,
        );
        if let Some(held) = self.held.as_mut() {
            held.adopted = true;
        }
        Some(Spawned { pid, at })
    }

    fn signal_stop(&mut self, stop: StopSpec) {
        let members = self.members();
        if let Some(escalation) = self.escalation(stop) {
            escalation.signal(&members);
        }
    }

    fn kill(&mut self, stop: StopSpec) -> bool {
        let members = self.members();
        let Some(held) = self.held.as_ref() else {
            return false;
        };
        let leader = held.pid;
        let leader_alive = !held.leader_exited;
        tracing::warn!(instance = %self.name, "stop timeout passed: sending SIGKILL to the process group");
        // The group too, while its leader is unreaped: a process forked
        // since the members were listed is in it.
        if self.leader_unreaped(held) {
            self.spawner
                .signal_group_if_unreaped(leader, Signal::SIGKILL);
            if held.keeper.is_some() {
                process::signal_group(leader, Signal::SIGKILL);
            }
        }
        if let Some(escalation) = self.escalation(stop) {
            escalation.kill(&members);
        }
        leader_alive
    }

    fn signal(&mut self, signal: Signal) -> bool {
        // Only a leader provably ours: unreaped, registered or held by its
        // keeper, and the process that started then.
        match self.held.as_ref().filter(|held| self.leader_unreaped(held)) {
            Some(held) => process::signal_group(held.pid, signal),
            None => false,
        }
    }

    fn heard(&mut self) -> BoxFuture<'_, Heard> {
        let Processes { exits, looking, .. } = self;
        Box::pin(async move {
            let look = async {
                match looking.as_mut() {
                    Some(Looking {
                        next_look,
                        watch: Some(watch),
                    }) => tokio::select! {
                        () = watch.changed() => {}
                        () = tokio::time::sleep_until(*next_look) => {}
                    },
                    Some(Looking { next_look, .. }) => tokio::time::sleep_until(*next_look).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                Some(exit) = exits.recv() => Heard::Exit(exit),
                () = look => Heard::Look,
            }
        })
    }

    fn leader_exited(&mut self, exit: ChildExit, stop: StopSpec) -> Option<Left> {
        let held = self.held.as_mut()?;
        if held.pid != exit.pid {
            return None;
        }
        held.leader_exited = true;
        self.spawner.forget(exit.pid);
        // Watched before the first look, so an emptying in between is not
        // missed.
        let watch = self
            .cgroup_dir()
            .and_then(|dir| crate::cgroup::EventsWatch::new(&dir, &self.name));
        if self.members().is_empty() {
            return Some(Left::Nothing);
        }
        tracing::debug!(instance = %self.name, "the gateway left processes behind: stopping them");
        // The stop under way goes on; else one begins now (its signal goes
        // out at the first look, at once).
        let _ = self.escalation(stop);
        self.looking = Some(Looking {
            next_look: tokio::time::Instant::now(),
            watch,
        });
        Some(Left::Some)
    }

    fn look(&mut self) -> bool {
        let left = self.members();
        let Some(escalation) = self.held.as_mut().and_then(|held| held.stop.as_mut()) else {
            // None begun (`leader_exited` begins one): gone once none is left.
            let gone = left.is_empty();
            if gone {
                self.looking = None;
            }
            return gone;
        };
        match escalation.advance(&left) {
            Progress::LookAgainAt(at) => {
                let deadline = escalation.next_deadline();
                if let Some(looking) = self.looking.as_mut() {
                    // With its cgroup watched, the next look is when it
                    // empties or the escalation moves on: no polling.
                    looking.next_look = match looking.watch.is_some() {
                        true => deadline,
                        false => at,
                    };
                }
                false
            }
            Progress::Gone | Progress::GaveUp => {
                self.looking = None;
                true
            }
        }
    }

    fn release(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.looking = None;
            let Some(mut held) = self.held.take() else {
                return;
            };
            // No record names a keeper once it is idle (so a later
            // supervisor never finds an idle keeper to adopt): the record
            // goes first.
            remove_pid_record(&self.state_dir, &self.name, held.pid);
            // Nothing signals the leader's pid any more: its keeper may reap
            // it, and waits for the next gateway.
            if let Some(watch) = held.keeper.as_mut()
                && let Some(link) = watch.ack().await
                && let Some(record) = held.keeper_record.take()
            {
                self.idle_keeper = Some(IdleKeeper { link, record });
            }
            if let Some(dir) = self.cgroup_dir() {
                // Empty now; made again at the next spawn. Not kept for it:
                // after a `cgroup.kill` this kernel kills every child a
                // keeper then clones into that cgroup (`keeper/launch.rs`
                // falls back to a migration then, milliseconds), and a new
                // cgroup is not killed.
                crate::cgroup::remove_dir(&dir);
            }
            // Every process of the instance is gone, so its pipes are at
            // EOF: wait for the last lines to be read, so a crash report has
            // the gateway's own last words (bounded: a pipe passed on to some
            // unrelated process must not hold the actor).
            let drained = async {
                for capture in held.captures {
                    let _ = capture.await;
                }
            };
            let _ = tokio::time::timeout(Duration::from_secs(1), drained).await;
        })
    }

    fn none_coming(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if let Some(idle) = self.idle_keeper.take() {
                idle.link.end().await;
            }
        })
    }

    fn exec_runner(&self, env: EnvMap, cwd: Option<PathBuf>) -> Arc<dyn ExecRunner> {
        Arc::new(crate::prober::SpawnerExec {
            spawner: self.spawner.clone(),
            env,
            cwd,
        })
    }
}
