//! The instance actor: one tokio task per instance owns its child, its
//! timers and its probes, and runs the pure lifecycle machine. The rest of
//! the supervisor talks to it only through an [`InstanceHandle`]: commands
//! in, a watched [`Snapshot`] and notices out.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant, SystemTime};

use nix::sys::signal::Signal;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::breaker::BreakerLine;
use crate::lifecycle::{
    Action, Ctx, Event, FailReason, Lifecycle, Notice, Policy, ProbePhase, State, StateName,
    TimerKind,
};
use crate::logs::{InstanceLog, LogSink};
use crate::memory_guard::Guard as MemoryGuard;
use crate::openclaw::{Effective, EnvMap};
use crate::prober::ProbesReport;
use crate::process::{ExitKind, Spawner};

#[cfg(test)]
mod actor_tests;
mod child;
pub(crate) use child::create_private_dir;
mod children;
use children::{Children, Heard};
mod freeze;
mod keep;
mod lastgood;
mod observe;
mod processes;
mod record;
mod resources;
mod skill;
mod start;
mod ticket;

pub use freeze::FreezeReply;
pub use lastgood::{RollbackRecord, RollbackReply, declaration_text};
pub use record::{Adopted, Adoption, KeeperRecord, PidRecord, pid_record_path};
pub use start::{spawn_instance, spawn_instance_adopting};
pub use ticket::{Awaited, Outcome, Refusal, Ticket};

/// Lines of output kept as the reason when an instance fails.
const ERROR_LINES: usize = 20;

/// What an instance runs with; replaced as a whole when its declaration changes.
#[derive(Debug, Clone)]
pub struct InstanceConfig {
    /// Its probes are `effective.probes`, worked out once when the
    /// declaration was loaded.
    pub effective: Effective,
    /// Added to the child's environment by the supervisor (the control
    /// socket path for rescues).
    pub extra_env: EnvMap,
}

impl InstanceConfig {
    /// The environment of the gateway, its exec probes and its `config
    /// validate`: the effective one plus what the supervisor adds.
    pub fn child_env(&self, inherited: &EnvMap) -> EnvMap {
        let mut env = self.effective.child_env(inherited);
        env.extend(self.extra_env.clone());
        env
    }

    /// Whether a change from `self` to `other` changes what the child is
    /// spawned with (and so needs a restart to take effect).
    pub fn spawn_differs(&self, other: &InstanceConfig, inherited: &EnvMap) -> bool {
        let a = &self.effective;
        let b = &other.effective;
        a.command() != b.command()
            || a.child_args() != b.child_args()
            || a.child_env(inherited) != b.child_env(inherited)
            || self.extra_env != other.extra_env
            || a.file.parent() != b.file.parent()
    }
}

/// Things every actor shares.
#[derive(Clone)]
pub struct Shared {
    pub spawner: Spawner,
    pub log_sink: LogSink,
    /// The supervisor's state dir (logs/, run/).
    pub state_dir: PathBuf,
    /// The supervisor's own environment, inherited by children.
    pub inherited_env: Arc<EnvMap>,
    pub notices: mpsc::UnboundedSender<InstanceNotice>,
    /// Unique per supervisor process, part of every spawn marker.
    pub supervisor_id: String,
    /// A cgroup per instance, or the spawn marker alone (and why).
    pub cgroups: crate::cgroup::Mode,
    /// The binary that runs as each gateway's keeper: the supervisor's own,
    /// as its path was at start.
    pub keeper_exe: PathBuf,
}

/// A lifecycle notice, tagged with the instance and the time.
#[derive(Debug, Clone)]
pub struct InstanceNotice {
    pub name: String,
    pub notice: Notice,
    pub at: SystemTime,
    pub detail: String,
    /// The gateway it is about, when one is known (the one that exited, for
    /// an exit).
    pub pid: Option<i32>,
}

#[derive(Debug)]
pub enum Command {
    Start,
    Stop,
    Restart,
    Remove,
    /// Send a signal to the whole process group.
    Signal(Signal),
    /// A new declaration; restart only if `restart` (the spawn changed).
    Reconfigure {
        config: Box<InstanceConfig>,
        restart: bool,
    },
    /// The OpenClaw config file or declaration changed: retry if failed.
    Changed,
    RescueNeeded,
    ReturnToStandby,
    /// Put the last known good OpenClaw config back (no restart: the
    /// caller restarts through the normal path).
    Rollback(RollbackReply),
    /// A re-exec is coming: answer the state to carry across it and stop
    /// acting until `Thaw` (see `instance/freeze.rs`).
    Freeze(FreezeReply),
    /// The re-exec did not happen: act again.
    Thaw,
    /// A command whose caller awaits its outcome ([`InstanceHandle::command`]
    /// and its [`Ticket`]).
    Awaited(Awaited),
}

/// What status shows about an instance.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub name: String,
    pub state: StateName,
    pub pid: Option<i32>,
    /// When the current process was spawned.
    pub spawned_at: Option<SystemTime>,
    pub restarts: u32,
    pub last_exit: Option<(ExitKind, SystemTime)>,
    pub next_restart_at: Option<SystemTime>,
    /// Why it is failed or backing off (spawn error, exit 78 ...).
    pub last_error: Option<String>,
    /// The output lines that explain the last failure: only those of the
    /// process that exited (`error_from`), never an earlier one's.
    pub error_lines: Vec<String>,
    /// The gateway the error lines came from, and how it ended.
    pub error_from: Option<(i32, ExitKind)>,
    pub probes: ProbesReport,
    pub config: Arc<InstanceConfig>,
    pub dropped_log_lines: u64,
    /// When the stop signal went out to the current process, while it lives.
    pub stopping_since: Option<SystemTime>,
    /// The gateway's restart-loop breaker, as it last logged it.
    pub breaker: Option<crate::breaker::Tripped>,
    /// When the supervisor SIGKILLed this instance's gateway (the last 5 min).
    pub kills: Vec<SystemTime>,
    /// Every such SIGKILL since the supervisor started (the metrics' counter).
    pub kills_total: u64,
    /// Why the supervisor last restarted the gateway on its own (the memory
    /// guard, a failed liveness probe, a startup deadline), in words.
    pub last_restart_reason: Option<String>,
    /// How its processes are tracked: its cgroup, or the marker and why.
    pub tracking: crate::cgroup::Tracking,
    /// Each declared limit, applied or why not.
    pub limits: Vec<crate::limits::Limit>,
    /// The last time its last good config was put back.
    pub rolled_back: Option<RollbackRecord>,
    /// What became of its record when this supervisor started.
    pub adoption: Option<Adoption>,
}

/// The handle the supervisor keeps for one instance.
#[derive(Clone)]
pub struct InstanceHandle {
    pub name: String,
    commands: mpsc::UnboundedSender<Command>,
    pub snapshot: watch::Receiver<Snapshot>,
    pub log: InstanceLog,
}

impl InstanceHandle {
    /// Send a command without waiting for its outcome (the supervisor
    /// loop's own: reload's, rescue's, a re-exec's); false when the actor
    /// is gone. [`InstanceHandle::command`] gives a ticket to await.
    pub fn send(&self, command: Command) -> bool {
        self.commands.send(command).is_ok()
    }

    /// Wait until the actor has ended (after a Remove).
    pub async fn closed(&self) {
        self.commands.closed().await
    }
}

pub fn log_path(state_dir: &Path, name: &str) -> PathBuf {
    state_dir.join("logs").join(format!("{name}.log"))
}

pub use crate::prober::{ProbeMessage, ProbeSender};

static SPAWN_COUNTER: AtomicU64 = AtomicU64::new(0);

fn policy_of(config: &InstanceConfig) -> Policy {
    Policy::from_declaration(
        &config.effective.declaration,
        crate::prober::startup_allowance(&config.effective.probes),
    )
}

struct RunningChild {
    pid: i32,
    /// Unique to its spawn: its exec probes carry it too.
    marker: String,
    /// Exit of the leader, once reaped; the instance is gone when the
    /// leftovers are gone too.
    leader_exit: Option<ExitKind>,
    /// When the stop signal went out.
    stopping_since: Option<SystemTime>,
    /// What forced a stop (a failing probe), for the exit marker.
    stop_cause: Option<&'static str>,
}

impl RunningChild {
    fn new(pid: i32, marker: String) -> RunningChild {
        RunningChild {
            pid,
            marker,
            leader_exit: None,
            stopping_since: None,
            stop_cause: None,
        }
    }
}

/// What the actor takes of [`Shared`]: no spawner, no keeper binary, so
/// it cannot start a process but through its [`Children`].
struct Surroundings {
    state_dir: PathBuf,
    inherited_env: Arc<EnvMap>,
    notices: mpsc::UnboundedSender<InstanceNotice>,
    supervisor_id: String,
    cgroups: crate::cgroup::Mode,
}

impl Surroundings {
    fn of(shared: Shared) -> Surroundings {
        Surroundings {
            state_dir: shared.state_dir,
            inherited_env: shared.inherited_env,
            notices: shared.notices,
            supervisor_id: shared.supervisor_id,
            cgroups: shared.cgroups,
        }
    }
}

struct Actor {
    name: String,
    config: Arc<InstanceConfig>,
    shared: Surroundings,
    lifecycle: Lifecycle,
    log: InstanceLog,
    /// The gateway as the actor knows it, while it lives.
    child: Option<RunningChild>,
    /// Its processes: spawned, signalled and watched through this seam.
    children: Box<dyn Children>,
    timers: HashMap<TimerKind, Instant>,
    probe_tx: mpsc::UnboundedSender<(u64, ProbeMessage)>,
    /// The current probe phase's tag (see [`ProbeSender`]).
    probe_generation: u64,
    probe_task: Option<JoinHandle<()>>,
    snapshot: watch::Sender<Snapshot>,
    spawned_at: Option<SystemTime>,
    last_exit_at: Option<SystemTime>,
    last_error: Option<String>,
    error_lines: Vec<String>,
    error_from: Option<(i32, ExitKind)>,
    probe_status: ProbesReport,
    breaker: Option<crate::breaker::Tripped>,
    /// The supervisor's SIGKILLs of this instance's gateway (last 5 min).
    kills: Vec<SystemTime>,
    /// All of them since the supervisor started.
    kills_total: u64,
    /// `restart.memory_above`, fed a reading of the tree every
    /// `memory_guard::sample_interval` while the gateway runs.
    memory_guard: Option<MemoryGuard>,
    tree_memory: crate::usage::TreeMemory,
    /// When the next reading is due; none unless running with a guard.
    memory_check_at: Option<Instant>,
    /// The guard's words for the restart it asked for (the notice's detail).
    memory_guard_detail: Option<String>,
    last_restart_reason: Option<String>,
    /// The declared limits: the files to write into the instance's cgroup
    /// and whether each limit is applied.
    limits: crate::limits::Plan,
    /// How its processes are tracked (decided once, at start).
    tracking: crate::cgroup::Tracking,
    /// The config bytes and declaration the current gateway was spawned
    /// with: what is recorded as good once it passes its startup.
    spawned_with: Option<lastgood::SpawnedWith>,
    rolled_back: Option<RollbackRecord>,
    /// `rollback: auto` rolled back since the instance last started.
    auto_rolled_back: bool,
    /// An operator's edit of the rescue's skill was logged (once).
    skill_edited_noted: bool,
    /// Frozen for a re-exec: only commands are heard, and kept for the thaw.
    frozen: bool,
    deferred: Vec<Command>,
    /// While the instance is exiting (`State::Exiting`): the leader's exit,
    /// heard once its leftovers are gone.
    leftovers: Option<child::Leftovers>,
    /// What became of its record when this supervisor started.
    adoption: Option<Adoption>,
}

impl Actor {
    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut probes: mpsc::UnboundedReceiver<(u64, ProbeMessage)>,
        mut notes: mpsc::UnboundedReceiver<(i32, BreakerLine)>,
        first: Option<Event>,
        adopted: Option<Adopted>,
    ) {
        self.refresh_skill().await;
        match adopted {
            Some(adopted) => {
                if self.adopt(adopted).await {
                    self.publish();
                    return;
                }
            }
            None => {
                if let Some(event) = first {
                    self.handle(event).await;
                }
            }
        }
        let mut commands_closed = false;
        loop {
            self.publish();
            if self.frozen {
                match self.frozen_command(&mut commands).await {
                    true => break,
                    false => continue,
                }
            }
            if !self.deferred.is_empty() {
                let command = self.deferred.remove(0);
                match self.command(command).await {
                    true => break,
                    false => continue,
                }
            }
            self.arm_memory_check();
            let memory_check_at = self.memory_check_at;
            let memory_check = async move {
                match memory_check_at {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            let next_timer = self.timers.values().min().copied();
            let sleep = async move {
                match next_timer {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                heard = self.children.heard() => {
                    let end = match heard {
                        Heard::Exit(exit) => self.leader_exited(exit).await,
                        Heard::Look => self.look_at_leftovers().await,
                    };
                    if end {
                        break;
                    }
                }
                command = commands.recv(), if !commands_closed => {
                    match command {
                        Some(command) => {
                            if self.command(command).await {
                                break;
                            }
                        }
                        // Every handle dropped: nobody can stop us any more,
                        // so stop the child and end (once: a closed channel
                        // is ready at every turn).
                        None => {
                            commands_closed = true;
                            if self.command(Command::Remove).await {
                                break;
                            }
                        }
                    }
                }
                Some((generation, message)) = probes.recv() => {
                    if generation != self.probe_generation {
                        continue;
                    }
                    match message {
                        ProbeMessage::StartupPassed => {
                            self.forget_breaker_of_earlier_boots();
                            self.handle(Event::StartupPassed).await;
                        }
                        ProbeMessage::LivenessFailed => { self.handle(Event::LivenessFailed).await; }
                        ProbeMessage::Status(status) => {
                            self.probe_changes(&status);
                            self.probe_status = *status;
                        }
                    }
                }
                Some((pid, line)) = notes.recv() => self.breaker_line(pid, line),
                () = memory_check => {
                    if self.check_memory().await {
                        break;
                    }
                }
                () = sleep => {
                    let now = Instant::now();
                    let due: Vec<TimerKind> = self
                        .timers
                        .iter()
                        .filter(|(_, at)| **at <= now)
                        .map(|(kind, _)| *kind)
                        .collect();
                    for kind in due {
                        self.timers.remove(&kind);
                        if self.handle(Event::Timer(kind)).await {
                            return;
                        }
                    }
                }
            }
        }
        self.publish();
    }

    /// Apply a command; true when the actor should end.
    async fn command(&mut self, command: Command) -> bool {
        match command {
            Command::Start => self.handle(Event::Start).await,
            Command::Stop => self.handle(Event::Stop).await,
            Command::Restart => self.handle(Event::Restart).await,
            Command::Remove => self.handle(Event::Remove).await,
            Command::Changed => self.handle(Event::Changed).await,
            Command::RescueNeeded => self.handle(Event::RescueNeeded).await,
            Command::ReturnToStandby => self.handle(Event::ReturnToStandby).await,
            Command::Rollback(reply) => {
                let result = self.rollback(lastgood::BY_OPERATOR).await;
                let _ = reply.send(result);
                false
            }
            Command::Freeze(reply) => {
                self.freeze(reply).await;
                false
            }
            Command::Thaw => {
                self.thaw().await;
                false
            }
            Command::Signal(signal) => {
                self.signal_gateway(signal);
                false
            }
            // Boxed: an awaited command is carried out through this function.
            Command::Awaited(awaited) => Box::pin(self.awaited(awaited)).await,
            Command::Reconfigure { config, restart } => {
                if config.effective.probes != self.config.effective.probes {
                    // New thresholds need new trackers: a tracker keeps the
                    // `failures` it was made with.
                    self.probe_status = ProbesReport::new(&config.effective.probes);
                }
                let limits_before = self.config.effective.declaration.limits;
                self.config = Arc::new(*config);
                self.lifecycle.policy = policy_of(&self.config);
                self.reconfigure_resources(limits_before);
                self.log.set_spec(self.config.effective.declaration.logs);
                if restart {
                    self.handle(Event::Respawn).await
                } else {
                    // Probe settings apply from the next probe phase; restart
                    // settings from the next decision.
                    if matches!(self.lifecycle.state, State::Running { .. }) {
                        self.set_probes(ProbePhase::Live).await;
                    }
                    self.handle(Event::Changed).await
                }
            }
        }
    }

    /// Feed one event to the machine and carry out its actions; true when
    /// the instance is to be forgotten.
    async fn handle(&mut self, event: Event) -> bool {
        let mut queue = std::collections::VecDeque::from([event]);
        let mut forget = false;
        while let Some(event) = queue.pop_front() {
            let ctx = Ctx {
                now: Instant::now(),
                jitter: fastrand::f64(),
            };
            let actions = self.lifecycle.step(event, ctx);
            tracing::debug!(instance = %self.name, ?event, state = %self.lifecycle.state.name(), ?actions, "step");
            for action in actions {
                match action {
                    Action::Spawn => {
                        let outcome = self.spawn().await;
                        queue.push_back(outcome);
                    }
                    Action::SignalStop => self.signal_stop(),
                    Action::Kill => self.kill(),
                    // A zero backoff is no timer (no timer granularity):
                    // the restart is now.
                    Action::ArmTimer(kind @ TimerKind::Backoff, after) if after.is_zero() => {
                        queue.push_back(Event::Timer(kind));
                    }
                    Action::ArmTimer(kind, after) => {
                        self.timers.insert(kind, Instant::now() + after);
                    }
                    Action::CancelTimer(kind) => {
                        self.timers.remove(&kind);
                    }
                    Action::Probes(phase) => self.set_probes(phase).await,
                    Action::Notify(notice) => {
                        // An exit 78 is reported once `rollback: auto` has
                        // decided: its `rolled_back` notice comes first, so
                        // the supervisor (a rescue's wake) knows it.
                        let decided_first = notice == Notice::Failed(FailReason::ConfigError);
                        let start_again = if decided_first {
                            let again = self.last_good_after(notice).await;
                            self.notify(notice);
                            again
                        } else {
                            self.notify(notice);
                            self.last_good_after(notice).await
                        };
                        if start_again {
                            queue.push_back(Event::Start);
                        }
                    }
                    Action::Forget => {
                        // The writer closes the instance's log files, after
                        // its last lines (read before its exit was handled)
                        // and before anyone hears it was forgotten.
                        self.log.forget();
                        forget = true;
                    }
                }
            }
        }
        self.end_idle_keeper_unless_needed().await;
        self.publish();
        forget
    }

    /// The environment of the gateway (and of its exec probes).
    fn child_env(&self) -> EnvMap {
        self.config.child_env(&self.shared.inherited_env)
    }
}
