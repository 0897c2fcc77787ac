//! The supervisor loop: owns the registry name -> instance handle, applies
//! declaration set changes as a diff, carries the cross-instance rescue
//! rules, keeps the operator's intent, and shuts everything down.
//!
//! Everything reaches the loop as a message on one channel (control
//! requests, reloads from the watcher and SIGHUP, shutdown) or as a notice
//! from an instance actor, so the registry has a single owner.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::instance::{self, Command, InstanceConfig, InstanceHandle, InstanceNotice, Shared};
use crate::journal::Subject;
use crate::lifecycle::{Notice, StateName};
use crate::openclaw::EnvMap;
use crate::protocol::EventKind;
use crate::rescue::{self, RescueView};
use crate::resolution::FileError;
use crate::sdnotify::Notifier;
use crate::watch::{DirWatcher, WatchMode};

mod add;
mod adopt;
mod handle;
mod reexec;
mod reload;
mod reload_plan;
mod report;
mod startup;
mod state;
mod wake;

use handle::Message;
pub use handle::{
    ControlCommand, Controlled, EventRecord, Rejected, ReloadOutcome, StatusReport,
    SupervisorHandle, ValidationInput,
};
/// Events an `events` follower may fall behind before it is told it missed
/// some (a `dropped` event). Allocated whole up front.
const EVENTS_BUFFER: usize = 512;

pub use crate::reexec::unix_ms;
pub use reexec::{Accepted, Exec, ReexecSetup};
pub use report::{notice_kind, status_line};
pub use startup::{start, start_verdict};
pub use state::{INTENT_RETRY, Intent, IntentSaver};
pub use wake::WakeReport;

#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error("no instance named `{0}`")]
    UnknownInstance(String),
    #[error("the supervisor is shutting down")]
    ShuttingDown,
    #[error("cannot start: {0}")]
    Io(#[from] std::io::Error),
    /// `--strict`: a declaration was refused, so nothing is started.
    #[error("--strict: a declaration is broken or conflicts, so nothing is started:\n{}", list_refused(.0))]
    NotSound(Vec<FileError>),
    /// Declarations exist, but not one of them can run.
    #[error("no declaration can run:\n{}", list_refused(.0))]
    NothingToRun(Vec<FileError>),
}

fn list_refused(refused: &[FileError]) -> String {
    refused
        .iter()
        .map(|error| format!("  - {}", error.located()))
        .collect::<Vec<_>>()
        .join("\n")
}

#[derive(Debug, Clone)]
pub struct Options {
    pub dir: PathBuf,
    pub state_dir: PathBuf,
    pub socket_path: PathBuf,
    pub inherited_env: EnvMap,
    pub watch: WatchMode,
    /// Refuse to start anything unless every declaration is sound (`start
    /// --strict`); by default the sound ones run and the rest are rejected.
    pub strict: bool,
}

struct Entry {
    handle: InstanceHandle,
    config: Arc<InstanceConfig>,
    /// A fingerprint of the OpenClaw config file's content, to tell the
    /// instance when it changed (a failed instance is retried then).
    config_fingerprint: Option<u64>,
}

fn fingerprint(path: &Path) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let content = std::fs::read(path).ok()?;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    content.hash(&mut hasher);
    Some(hasher.finish())
}

pub struct Supervisor {
    options: Options,
    shared: Shared,
    instances: BTreeMap<String, Entry>,
    /// Instances being removed (stopping before they are forgotten).
    leaving: Vec<InstanceHandle>,
    rejected: Vec<Rejected>,
    intent: Intent,
    intent_saver: IntentSaver,
    events: crate::journal::EventBus,
    messages_tx: mpsc::UnboundedSender<Message>,
    /// Counts each rescued instance's starts, so a standby check armed for
    /// one healthy run is ignored after a later failure.
    healthy_generation: HashMap<String, u64>,
    /// The rescues each failing main has changed since it last started
    /// (`rescue::plan` changes each once an episode).
    rescue_episodes: HashMap<String, BTreeSet<String>>,
    /// Failure episodes, and the wakes of rescues with `wake`.
    wakes: wake::Wakes,
    watcher: Option<DirWatcher>,
    notifier: Option<Notifier>,
    /// Runs the instances' `notify` commands.
    alerts: crate::alert::Alerts,
    /// The gateways taken over at start (and what became of each declared
    /// instance's record), handed to each instance as it is added.
    adoptions: HashMap<String, (Option<instance::Adopted>, instance::Adoption)>,
    /// What a re-exec execs (`supervisor/reexec.rs`).
    reexec_exec: Exec,
    /// Shutdown was asked for (a SIGTERM during a re-exec wins over it).
    shutdown_asked: Arc<std::sync::atomic::AtomicBool>,
    /// The instances' states from before a re-exec, each taken by its `add`.
    restored: HashMap<String, crate::reexec::SavedInstance>,
    restored_idle: BTreeSet<String>,
    /// The reload under way and those asked meanwhile.
    reloads: reload::Reloads,
}

impl Supervisor {
    fn watch_configs(&mut self) {
        let configs = self
            .instances
            .values()
            .map(|entry| entry.config.effective.config_path.clone())
            .collect();
        if let Some(watcher) = self.watcher.as_mut() {
            watcher.set_configs(configs);
        }
    }

    /// Tell the notifier the declared `notify` settings (after a start or
    /// a reload; unchanged ones are not sent again).
    fn publish_targets(&self) {
        let targets = self
            .instances
            .iter()
            .map(|(name, entry)| {
                let declaration = &entry.config.effective.declaration;
                let target = crate::alert::Target {
                    notify: declaration.notify.clone(),
                    rescue_of: declaration.rescue_of.clone(),
                };
                (name.clone(), target)
            })
            .collect();
        self.alerts.set_targets(targets);
    }

    /// Send, journal and log one event (`crate::journal::EventBus::emit`),
    /// with the pid of the instance's gateway when it has one.
    fn emit(&self, subject: Subject, kind: EventKind, detail: String) {
        let pid = subject
            .instance()
            .and_then(|name| self.instances.get(name))
            .and_then(|entry| entry.handle.snapshot.borrow().pid);
        self.events.emit(subject, kind, detail, pid);
    }

    async fn run(
        mut self,
        mut messages: mpsc::UnboundedReceiver<Message>,
        mut notices: mpsc::UnboundedReceiver<InstanceNotice>,
    ) {
        self.wait_until_spawned().await;
        if let Some(notifier) = &self.notifier {
            notifier.ready();
        }
        self.publish_status();
        // The watchdog is pinged from this loop, so a wedged loop stops the
        // pings and systemd restarts us.
        let watchdog_every = self
            .notifier
            .as_ref()
            .and_then(|n| n.watchdog_interval)
            .unwrap_or(Duration::from_secs(3600));
        let mut watchdog = tokio::time::interval(watchdog_every);
        loop {
            tokio::select! {
                Some(message) = messages.recv() => {
                    let message = match message {
                        Message::Shutdown => break,
                        Message::Reexec { reply } => {
                            self.reexec(reply, &mut notices).await;
                            continue;
                        }
                        message => message,
                    };
                    // A question changes no instance: no O(instances)
                    // work for it (`status NAME` costs the same at 2 or 500).
                    let asks = matches!(
                        message,
                        Message::Status { .. } | Message::Handle { .. } | Message::Validation { .. }
                    );
                    self.message(message);
                    if !asks {
                        self.publish_targets();
                    }
                }
                Some(notice) = notices.recv() => {
                    self.notice(notice);
                    self.publish_status();
                }
                _ = watchdog.tick() => {
                    if let Some(notifier) = self.notifier.as_ref().filter(|n| n.watchdog_interval.is_some()) {
                        notifier.watchdog();
                    }
                }
            }
        }
        if let Some(notifier) = &self.notifier {
            notifier.stopping();
        }
        self.shutdown(&mut notices).await;
    }

    /// Wait (bounded) until every instance that is to start has been
    /// spawned; healthy is not required, or a slow gateway would fail the
    /// service's start.
    async fn wait_until_spawned(&self) {
        let mut waits = Vec::new();
        for (name, entry) in &self.instances {
            // Standby rescues and instances stopped by hand are not to start:
            // waiting for them would hold every request for the full bound.
            if entry.config.effective.declaration.standby || self.intent.stopped.contains(name) {
                continue;
            }
            // Nor one that a re-exec brought back without a gateway (failed,
            // in backoff, stopped by its restart policy).
            if self.restored_idle.contains(name) {
                continue;
            }
            let mut snapshot = entry.handle.snapshot.clone();
            waits.push(async move {
                let _ = snapshot
                    .wait_for(|s| s.state != StateName::Stopped || s.pid.is_some())
                    .await;
            });
        }
        let all = futures_join_all(waits.into_iter());
        let _ = tokio::time::timeout(Duration::from_secs(10), all).await;
    }

    fn publish_status(&self) {
        if let Some(notifier) = &self.notifier {
            let states: Vec<&'static str> = self
                .instances
                .values()
                .map(|e| e.handle.snapshot.borrow().state.as_str())
                .collect();
            notifier.status(&status_line(
                &crate::sdnotify::summarize(states.into_iter()),
                &self.rejected,
            ));
        }
    }

    fn message(&mut self, message: Message) {
        match message {
            Message::Status { name, reply } => {
                let _ = reply.send(self.status(name));
            }
            Message::Control {
                name,
                command,
                reply,
            } => {
                let _ = reply.send(self.control(&name, command));
            }
            Message::Validation { name, reply } => {
                let result = self
                    .instances
                    .get(&name)
                    .map(|entry| ValidationInput {
                        handle: entry.handle.clone(),
                        config: entry.config.clone(),
                        inherited_env: self.options.inherited_env.clone(),
                    })
                    .ok_or(SupervisorError::UnknownInstance(name));
                let _ = reply.send(result);
            }
            Message::Handle { name, reply } => {
                let result = self
                    .instances
                    .get(&name)
                    .map(|entry| entry.handle.clone())
                    .ok_or(SupervisorError::UnknownInstance(name));
                let _ = reply.send(result);
            }
            Message::Reload { reply } => self.reload_asked(reply),
            Message::Scanned { scanned, replies } => self.scanned(scanned, replies),
            Message::StartAfterLeavers { name } => {
                // Unless the operator stopped it (or started it) meanwhile.
                if let Some(entry) = self.instances.get(&name) {
                    let untouched = {
                        let snapshot = entry.handle.snapshot.borrow();
                        snapshot.state == StateName::Stopped && snapshot.last_exit.is_none()
                    };
                    if untouched && !self.intent.stopped.contains(&name) {
                        entry.handle.send(Command::Start);
                    }
                }
            }
            Message::StandbyCheck {
                rescued,
                generation,
            } => {
                if self.healthy_generation.get(&rescued) == Some(&generation) {
                    for entry in self.rescues_of(&rescued) {
                        if entry.config.effective.declaration.standby {
                            entry.handle.send(Command::ReturnToStandby);
                        }
                    }
                }
            }
            Message::Wake(message) => self.wake_message(message),
            Message::Shutdown | Message::Reexec { .. } => {}
        }
    }

    fn rescues_of(&self, name: &str) -> Vec<&Entry> {
        self.instances
            .values()
            .filter(|entry| entry.config.effective.declaration.rescue_of.as_deref() == Some(name))
            .collect()
    }

    fn status(&self, name: Option<String>) -> Result<StatusReport, SupervisorError> {
        let instances = match name {
            Some(name) => {
                let entry = self
                    .instances
                    .get(&name)
                    .ok_or(SupervisorError::UnknownInstance(name))?;
                vec![entry.handle.snapshot.borrow().clone()]
            }
            None => self
                .instances
                .values()
                .map(|entry| entry.handle.snapshot.borrow().clone())
                .collect(),
        };
        Ok(StatusReport {
            instances,
            rejected: self.rejected.clone(),
            wakes: self.wakes.reports(),
        })
    }

    /// Send an operator's command to its instance, with the ticket its
    /// caller awaits (never here: the loop does not wait for an actor),
    /// and why the changed intent could not be saved yet, if it could not
    /// (it is retried).
    fn control(
        &mut self,
        name: &str,
        command: ControlCommand,
    ) -> Result<Controlled, SupervisorError> {
        let entry = self
            .instances
            .get(name)
            .ok_or_else(|| SupervisorError::UnknownInstance(name.to_string()))?;
        let changed_intent = match command {
            ControlCommand::Start | ControlCommand::Restart => self.intent.stopped.remove(name),
            ControlCommand::Stop => self.intent.stopped.insert(name.to_string()),
            ControlCommand::Signal(_) => false,
        };
        let ticket = entry.handle.command(match command {
            ControlCommand::Start => Command::Start,
            ControlCommand::Stop => Command::Stop,
            ControlCommand::Restart => Command::Restart,
            ControlCommand::Signal(signal) => Command::Signal(signal),
        });
        let what = match command {
            ControlCommand::Start => "start".to_string(),
            ControlCommand::Stop => "stop".to_string(),
            ControlCommand::Restart => "restart".to_string(),
            ControlCommand::Signal(signal) => format!("signal {}", signal.as_str()),
        };
        let unsaved = match changed_intent {
            true => self.intent_saver.save(&self.intent).err().map(|err| {
                format!(
                    "the {what} could not be saved ({err}): it holds until this supervisor ends, and is saved as soon as {} can be written",
                    Intent::path(&self.options.state_dir).display()
                )
            }),
            false => None,
        };
        let detail = match &unsaved {
            Some(why) => format!("{what} by operator; {why}"),
            None => format!("{what} by operator"),
        };
        self.emit(Subject::Instance(name), EventKind::Command, detail);
        Ok(Controlled { ticket, unsaved })
    }

    fn notice(&mut self, notice: InstanceNotice) {
        let kind = notice_kind(&notice.notice);
        self.events.emit(
            Subject::Instance(&notice.name),
            kind,
            notice.detail.clone(),
            notice.pid,
        );
        self.wake_notice(&notice);
        if notice.notice.is_failure() {
            // Bump the generation: a standby check armed during the last
            // healthy run no longer applies.
            *self
                .healthy_generation
                .entry(notice.name.clone())
                .or_default() += 1;
            let changed = self.rescue_episodes.get(&notice.name);
            let views: Vec<RescueView> = self
                .rescues_of(&notice.name)
                .into_iter()
                .map(|entry| RescueView {
                    name: &entry.handle.name,
                    state: entry.handle.snapshot.borrow().state,
                    changed_this_episode: changed
                        .is_some_and(|set| set.contains(&entry.handle.name)),
                })
                .collect();
            let triggers = rescue::plan(&notice.name, &notice.notice, &notice.detail, &views);
            for trigger in triggers {
                if let Some(entry) = self.instances.get(&trigger.rescue) {
                    entry.handle.send(Command::RescueNeeded);
                }
                self.emit(
                    Subject::Instance(&trigger.rescue),
                    EventKind::RescueTriggered,
                    trigger.reason,
                );
                self.rescue_episodes
                    .entry(notice.name.clone())
                    .or_default()
                    .insert(trigger.rescue);
            }
        }
        if notice.notice == Notice::Started {
            // Main has recovered: its next failure is a new episode.
            self.rescue_episodes.remove(&notice.name);
            let generation = {
                let counter = self
                    .healthy_generation
                    .entry(notice.name.clone())
                    .or_default();
                *counter += 1;
                *counter
            };
            for entry in self.rescues_of(&notice.name) {
                if entry.config.effective.declaration.standby {
                    let after = entry.config.effective.declaration.restart.reset_after.get();
                    let messages = self.messages_tx.clone();
                    let rescued = notice.name.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(after).await;
                        let _ = messages.send(Message::StandbyCheck {
                            rescued,
                            generation,
                        });
                    });
                }
            }
        }
    }

    /// Stop every instance in parallel, each within its own stop timeout,
    /// and wait until all are gone.
    async fn shutdown(&mut self, notices: &mut mpsc::UnboundedReceiver<InstanceNotice>) {
        tracing::info!("shutting down: stopping every instance");
        let mut handles: Vec<InstanceHandle> =
            self.instances.values().map(|e| e.handle.clone()).collect();
        handles.append(&mut self.leaving);
        for handle in &handles {
            handle.send(Command::Remove);
        }
        self.instances.clear();
        let all_closed = futures_join_all(handles.iter().map(|h| h.closed()));
        tokio::pin!(all_closed);
        loop {
            tokio::select! {
                () = &mut all_closed => break,
                Some(notice) = notices.recv() => {
                    let kind = notice_kind(&notice.notice);
                    self.events.emit(Subject::Instance(&notice.name), kind, notice.detail, notice.pid);
                }
            }
        }
        // Notices sent just before an actor ended (its `forgotten`).
        while let Ok(notice) = notices.try_recv() {
            let kind = notice_kind(&notice.notice);
            self.events.emit(
                Subject::Instance(&notice.name),
                kind,
                notice.detail,
                notice.pid,
            );
        }
        tracing::info!("every instance stopped");
        if let crate::cgroup::Mode::Cgroup(subtree) = &self.shared.cgroups {
            subtree.remove();
        }
        // The last events (stopped, forgotten) reach the journal before the
        // process ends.
        let journal = self.events.journal().clone();
        let _ =
            tokio::task::spawn_blocking(move || journal.flush(crate::journal::FLUSH_WAIT)).await;
    }
}

async fn futures_join_all<F: std::future::Future<Output = ()>>(futures: impl Iterator<Item = F>) {
    let mut set = Vec::new();
    for future in futures {
        set.push(Box::pin(future));
    }
    for future in set {
        future.await;
    }
}
