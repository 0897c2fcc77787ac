//! Runs an instance's probes for one lifecycle phase and reports to its
//! actor. The lifecycle decides what a result means: this module only turns
//! probe verdicts into events (`StartupPassed`, `LivenessFailed`) and keeps
//! the results for status.
//!
//! The startup probe runs from spawn until it passes (its allowance is a
//! lifecycle timer, not a probe concern). Liveness and readiness run only
//! once startup has passed; readiness is reported, never acted on.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio::sync::mpsc;

use crate::lifecycle::ProbePhase;
use crate::openclaw::Effective;
pub use crate::probe::EffectiveProbes;
use crate::probe::{
    EffectiveProbe, ExecRunner, ProbeTarget, ProbeTracker, ProbeVerdict, run_once_with,
};

/// What probes report back to the actor.
#[derive(Debug)]
pub enum ProbeMessage {
    StartupPassed,
    LivenessFailed,
    Status(Box<ProbesReport>),
}

/// The sending end a probe task gets: every message is tagged with the
/// probe phase it belongs to, so a result still in the channel when the
/// phase changed (a restart, a stop) is recognised as stale and dropped,
/// never taken as news about the next process.
#[derive(Debug, Clone)]
pub struct ProbeSender {
    generation: u64,
    tx: mpsc::UnboundedSender<(u64, ProbeMessage)>,
}

impl ProbeSender {
    /// A sender for the probe phase tagged `generation`.
    pub fn new(generation: u64, tx: mpsc::UnboundedSender<(u64, ProbeMessage)>) -> ProbeSender {
        ProbeSender { generation, tx }
    }

    /// False when the actor is gone.
    pub fn send(&self, message: ProbeMessage) -> Result<(), ProbeMessage> {
        self.tx
            .send((self.generation, message))
            .map_err(|err| err.0.1)
    }
}

/// The probe results of one instance, for status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbesReport {
    pub startup: ProbeTracker,
    pub liveness: ProbeTracker,
    pub readiness: ProbeTracker,
}

impl ProbesReport {
    pub fn new(probes: &EffectiveProbes) -> Self {
        ProbesReport {
            startup: ProbeTracker::new(probes.startup.failures),
            liveness: ProbeTracker::new(probes.liveness.failures),
            readiness: ProbeTracker::new(probes.readiness.failures),
        }
    }
}

/// The startup allowance, when a startup probe runs at all.
pub fn startup_allowance(probes: &EffectiveProbes) -> Option<Duration> {
    probes
        .startup
        .enabled
        .then(|| probes.startup.allowance.unwrap_or(Duration::from_secs(120)))
}

pub fn target_for(effective: &Effective) -> ProbeTarget {
    ProbeTarget::for_bind(&effective.bind, effective.port)
}

/// Run the probes of `phase` until aborted (the actor aborts the task when
/// the phase changes) or, for startup, until the probe passes.
pub async fn run_phase(
    probes: EffectiveProbes,
    target: ProbeTarget,
    phase: ProbePhase,
    report: ProbesReport,
    tx: ProbeSender,
    exec: Arc<dyn ExecRunner>,
) {
    let report = Arc::new(std::sync::Mutex::new(report));
    match phase {
        ProbePhase::Off => {}
        ProbePhase::Startup => {
            {
                let mut report = lock(&report);
                report.startup.reset();
                report.liveness.reset();
                report.readiness.reset();
            }
            run_probe(
                &probes.startup,
                Which::Startup,
                &target,
                &report,
                &tx,
                &*exec,
            )
            .await
        }
        ProbePhase::Live => {
            let liveness = run_probe(
                &probes.liveness,
                Which::Liveness,
                &target,
                &report,
                &tx,
                &*exec,
            );
            let readiness = run_probe(
                &probes.readiness,
                Which::Readiness,
                &target,
                &report,
                &tx,
                &*exec,
            );
            tokio::join!(liveness, readiness);
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Which {
    Startup,
    Liveness,
    Readiness,
}

fn lock(report: &std::sync::Mutex<ProbesReport>) -> std::sync::MutexGuard<'_, ProbesReport> {
    report.lock().unwrap_or_else(|p| p.into_inner())
}

async fn run_probe(
    probe: &EffectiveProbe,
    which: Which,
    target: &ProbeTarget,
    report: &std::sync::Mutex<ProbesReport>,
    tx: &ProbeSender,
    exec: &dyn ExecRunner,
) {
    if !probe.enabled {
        return;
    }
    tokio::time::sleep(probe.initial_delay).await;
    loop {
        let outcome = run_once_with(&probe.kind, target, probe.timeout, Some(exec)).await;
        let (verdict, snapshot) = {
            let mut report = lock(report);
            let tracker = match which {
                Which::Startup => &mut report.startup,
                Which::Liveness => &mut report.liveness,
                Which::Readiness => &mut report.readiness,
            };
            let verdict = tracker.record(&outcome, SystemTime::now());
            (verdict, report.clone())
        };
        if tx.send(ProbeMessage::Status(Box::new(snapshot))).is_err() {
            return;
        }
        match (which, verdict) {
            (Which::Startup, _) if outcome.passed() => {
                let _ = tx.send(ProbeMessage::StartupPassed);
                return;
            }
            (Which::Liveness, Some(ProbeVerdict::Failing { .. })) => {
                let _ = tx.send(ProbeMessage::LivenessFailed);
                return;
            }
            _ => {}
        }
        tokio::time::sleep(probe.every).await;
    }
}

/// Exec probes run through the supervisor's one spawner (and so its one
/// reaper), with the instance's own environment (the gateway's spawn marker
/// included), in a process group of their own that is killed at the timeout,
/// or when the attempt is dropped: the probe task aborted because its phase
/// ended (stop, restart, liveness failure, reload, shutdown).
pub struct SpawnerExec {
    pub spawner: crate::process::Spawner,
    pub env: crate::openclaw::EnvMap,
    pub cwd: Option<std::path::PathBuf>,
}

impl ExecRunner for SpawnerExec {
    fn run<'a>(
        &'a self,
        argv: &'a [String],
        timeout: Duration,
    ) -> crate::probe::BoxFuture<'a, crate::probe::ExecExit> {
        use crate::probe::ExecExit;
        use crate::process::ExitKind;
        Box::pin(async move {
            let Some((program, args)) = argv.split_first() else {
                return ExecExit::SpawnFailed("empty argv".into());
            };
            let base = self.cwd.clone().unwrap_or_else(|| "/".into());
            let program = match crate::process::resolve_command(
                program,
                &base,
                self.env.get("PATH").map(String::as_str),
            ) {
                Ok(program) => program,
                Err(err) => return ExecExit::SpawnFailed(err.to_string()),
            };
            let spec = crate::process::SpawnSpec {
                program,
                args: args.to_vec(),
                env: self.env.clone(),
                cwd: self.cwd.clone(),
                capture_output: false,
                pipe_stdin: false,
            };
            let (exits_tx, mut exits_rx) = mpsc::unbounded_channel();
            let child = match self.spawner.spawn(&spec, exits_tx) {
                Ok(child) => child,
                Err(err) => return ExecExit::SpawnFailed(err.to_string()),
            };
            let mut group = KillOnDrop {
                spawner: &self.spawner,
                pid: child.pid,
                armed: true,
            };
            let to_exit = |exit: ExitKind| match exit {
                ExitKind::Code(code) => ExecExit::Code(code),
                ExitKind::Signal(signal) => ExecExit::Signal(signal),
            };
            let outcome = match tokio::time::timeout(timeout, exits_rx.recv()).await {
                Ok(Some(exit)) => to_exit(exit.exit),
                Ok(None) => ExecExit::SpawnFailed("the reaper went away".into()),
                Err(_) => {
                    group.kill();
                    let _ = exits_rx.recv().await;
                    ExecExit::TimedOut
                }
            };
            // Reaped: nothing of it to kill any more.
            group.armed = false;
            outcome
        })
    }
}

/// Kills an exec probe's (or a `config validate`'s) process group when the
/// run ends without its exit (timed out, or dropped with its task).
pub(crate) struct KillOnDrop<'a> {
    pub(crate) spawner: &'a crate::process::Spawner,
    pub(crate) pid: i32,
    pub(crate) armed: bool,
}

impl KillOnDrop<'_> {
    pub(crate) fn kill(&mut self) {
        // Only while unreaped: then the group id cannot have been reused.
        self.spawner
            .signal_group_if_unreaped(self.pid, nix::sys::signal::Signal::SIGKILL);
    }
}

impl Drop for KillOnDrop<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.kill();
        }
    }
}
