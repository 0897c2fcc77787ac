//! The seam between the actor and its gateway's processes (the watchexec
//! pattern): the actor decides, through the pure lifecycle, and asks a
//! [`Children`] to spawn, signal and kill, and hears from it when the leader
//! exited and when the group may be empty. The real one is
//! [`Processes`](super::processes::Processes), over the spawner, the reaper
//! and the instance's keeper (a keeper is how every gateway is held, so a
//! keeper per instance is this implementation, not another layer); the
//! actor's unit tests run it over a fake that records calls
//! (`instance/actor_tests.rs`), with no process at all.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use nix::sys::signal::Signal;

use super::Adopted;
use crate::declaration::StopSignal;
use crate::openclaw::EnvMap;
use crate::probe::{BoxFuture, ExecRunner};
use crate::process::{ChildExit, SpawnSpec};

/// How the instance stops its gateway, as its declaration says now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StopSpec {
    pub(crate) signal: StopSignal,
    pub(crate) timeout: Duration,
}

/// Everything a spawn needs, decided by the actor.
#[derive(Debug, Clone)]
pub(crate) struct Start {
    /// What to run (its environment carries `marker`).
    pub(crate) spec: SpawnSpec,
    /// Unique to this spawn: every process of it carries it.
    pub(crate) marker: String,
    /// The instance's cgroup, made and limited, in cgroup mode.
    pub(crate) cgroup: Option<PathBuf>,
    /// Recorded with the gateway, for a later supervisor that stops it.
    pub(crate) stop: StopSpec,
}

/// A gateway held by the children.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Spawned {
    pub(crate) pid: i32,
    /// When it was spawned (as its pid record says).
    pub(crate) at: SystemTime,
}

/// How an adopted gateway is held: since when it runs, what it was spawned
/// with, and the log marker before its new output.
#[derive(Debug, Clone)]
pub(crate) struct Adopting {
    pub(crate) spawned_at: SystemTime,
    pub(crate) spec_digest: Option<String>,
    pub(crate) marker: String,
    pub(crate) stop: StopSpec,
}

/// What the children have to tell the actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Heard {
    /// A process the children hold exited (maybe an earlier gateway's).
    Exit(ChildExit),
    /// Time to look at what an exited leader left behind (its cgroup
    /// emptied, or the stop's next step is due).
    Look,
}

/// After the leader's exit: whether any process of it is left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Left {
    Nothing,
    /// Some are: each gets the stop, and [`Heard::Look`] says when to look
    /// again ([`Children::look`]).
    Some,
}

/// The processes of one instance, as the actor sees them.
pub(crate) trait Children: Send {
    /// Before anything is made for a spawn: the directories the gateway
    /// needs (made private where missing) and its port, which must be
    /// free; the error in words.
    fn prepare(&mut self, dirs: &[PathBuf], port: u16) -> Result<(), String>;

    /// Start a gateway (its log's `spawned pid` marker first); the error in
    /// words.
    fn spawn(&mut self, start: Start) -> BoxFuture<'_, Result<Spawned, String>>;

    /// Hold a gateway kept while no supervisor ran; none when its record
    /// names no keeper.
    fn adopt(&mut self, adopted: Adopted, how: Adopting) -> Option<Spawned>;

    /// The stop signal, once, to every process of the gateway.
    fn signal_stop(&mut self, stop: StopSpec);

    /// SIGKILL to every process of the gateway; true when its leader was
    /// still alive (an unclean end the gateway will count).
    fn kill(&mut self, stop: StopSpec) -> bool;

    /// `signal` to the gateway's process group, while its leader is surely
    /// the gateway; false when it is not there.
    fn signal(&mut self, signal: Signal) -> bool;

    /// The next thing to tell the actor; cancel safe (the actor's loop
    /// selects on it with its commands).
    fn heard(&mut self) -> BoxFuture<'_, Heard>;

    /// The leader `exit.pid` exited: none when it is not the current
    /// gateway's leader; else whether processes are left (they get the
    /// stop, the one under way or one begun now with `stop`).
    fn leader_exited(&mut self, exit: ChildExit, stop: StopSpec) -> Option<Left>;

    /// One look at the leftovers: the stop to any seen for the first time,
    /// SIGKILL once due; true once none is left.
    fn look(&mut self) -> bool;

    /// Every process of the gateway is gone: let go of what held it (its
    /// record, its keeper, kept idle for the next, its cgroup, its last
    /// output lines).
    fn release(&mut self) -> BoxFuture<'_, ()>;

    /// No gateway is coming soon: let go of an idle keeper.
    fn none_coming(&mut self) -> BoxFuture<'_, ()>;

    /// What runs the instance's exec probes, with their environment.
    fn exec_runner(&self, env: EnvMap, cwd: Option<PathBuf>) -> Arc<dyn ExecRunner>;
}
