//! The supervisor loop: owns the registry name -> instance handle, applies
//! declaration set changes as a diff, carries the cross-instance rescue
//! rules, keeps the operator's intent, and shuts everything down.
//!
//! Everything reaches the loop as a message on one channel (control
//! requests, reloads from the watcher and SIGHUP, shutdown) or as a notice
//! from an instance actor, so the registry has a single owner.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::declaration::Role;
use crate::instance::{
    self, Command, InstanceConfig, InstanceHandle, InstanceNotice, PidRecord, Shared, Snapshot,
};
use crate::lifecycle::Notice;
use crate::logs::LogSink;
use crate::openclaw::{Effective, EnvMap};
use crate::process::{self, Spawner};
use crate::resolution::{self, Conflict, FileError};
use crate::sdnotify::Notifier;
use crate::watch::{DirWatcher, WatchMode};

#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error("no instance named `{0}`")]
    UnknownInstance(String),
    #[error("the supervisor is shutting down")]
    ShuttingDown,
    #[error("cannot start: {0}")]
    Io(#[from] std::io::Error),
    #[error("the declarations conflict:\n{}", .0.iter().map(|c| format!("  - {}", c.message)).collect::<Vec<_>>().join("\n"))]
    Conflicts(Vec<Conflict>),
    #[error("cannot read the declarations:\n{}", .0.iter().map(|e| format!("  - {}: {}", e.file.display(), e.reason)).collect::<Vec<_>>().join("\n"))]
    Unreadable(Vec<FileError>),
}

#[derive(Debug, Clone)]
pub struct Options {
    pub dir: PathBuf,
    pub state_dir: PathBuf,
    pub socket_path: PathBuf,
    pub inherited_env: EnvMap,
    pub watch: WatchMode,
}

/// A state change anyone may follow (`events`).
#[derive(Debug, Clone, Serialize)]
pub struct EventRecord {
    pub at: SystemTime,
    pub instance: String,
    pub kind: String,
    pub detail: String,
}

/// A declaration file the supervisor refused, shown by status and check.
#[derive(Debug, Clone, Serialize)]
pub struct Rejected {
    pub file: PathBuf,
    pub instance: Option<String>,
    pub reason: String,
}

#[derive(Debug, Clone)]
pub struct StatusReport {
    pub instances: Vec<Snapshot>,
    pub rejected: Vec<Rejected>,
}

/// What a reload did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReloadOutcome {
    pub added: Vec<String>,
    pub restarted: Vec<String>,
    pub updated: Vec<String>,
    pub removed: Vec<String>,
    pub rejected: Vec<String>,
}

enum Message {
    Status {
        name: Option<String>,
        reply: oneshot::Sender<Result<StatusReport, SupervisorError>>,
    },
    Control {
        name: String,
        command: ControlCommand,
        reply: oneshot::Sender<Result<(), SupervisorError>>,
    },
    Handle {
        name: String,
        reply: oneshot::Sender<Result<InstanceHandle, SupervisorError>>,
    },
    Reload {
        reply: Option<oneshot::Sender<ReloadOutcome>>,
    },
    Shutdown,
    StandbyCheck {
        rescued: String,
        generation: u64,
    },
}

#[derive(Debug, Clone, Copy)]
pub enum ControlCommand {
    Start,
    Stop,
    Restart,
    Signal(Signal),
}

/// A cheap, clonable way to talk to the supervisor loop.
#[derive(Clone)]
pub struct SupervisorHandle {
    messages: mpsc::UnboundedSender<Message>,
    events: broadcast::Sender<EventRecord>,
}

impl SupervisorHandle {
    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Message,
    ) -> Result<T, SupervisorError> {
        let (reply, answer) = oneshot::channel();
        self.messages
            .send(make(reply))
            .map_err(|_| SupervisorError::ShuttingDown)?;
        answer.await.map_err(|_| SupervisorError::ShuttingDown)
    }

    pub async fn status(&self, name: Option<String>) -> Result<StatusReport, SupervisorError> {
        self.ask(|reply| Message::Status { name, reply }).await?
    }

    pub async fn control(
        &self,
        name: &str,
        command: ControlCommand,
    ) -> Result<(), SupervisorError> {
        let name = name.to_string();
        self.ask(|reply| Message::Control {
            name,
            command,
            reply,
        })
        .await?
    }

    /// The handle of one instance (for its logs).
    pub async fn instance(&self, name: &str) -> Result<InstanceHandle, SupervisorError> {
        let name = name.to_string();
        self.ask(|reply| Message::Handle { name, reply }).await?
    }

    pub async fn reload(&self) -> Result<ReloadOutcome, SupervisorError> {
        self.ask(|reply| Message::Reload { reply: Some(reply) })
            .await
    }

    /// Ask for a reload without waiting for it (SIGHUP, file events).
    pub fn request_reload(&self) {
        let _ = self.messages.send(Message::Reload { reply: None });
    }

    pub fn shutdown(&self) {
        let _ = self.messages.send(Message::Shutdown);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<EventRecord> {
        self.events.subscribe()
    }
}

/// The operator's intent, kept across supervisor restarts.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Intent {
    /// Instances stopped by hand: they stay stopped until started by hand.
    pub stopped: BTreeSet<String>,
}

impl Intent {
    pub fn path(state_dir: &Path) -> PathBuf {
        state_dir.join("intent.json")
    }

    pub fn load(state_dir: &Path) -> Intent {
        std::fs::read(Self::path(state_dir))
            .ok()
            .and_then(|text| serde_json::from_slice(&text).ok())
            .unwrap_or_default()
    }

    pub fn save(&self, state_dir: &Path) -> std::io::Result<()> {
        let text = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        write_atomically(&Self::path(state_dir), &text)
    }
}

/// Write a file so that a reader sees the old or the new content, never a
/// mix, even after a power loss: a temp file beside it, fsync, rename, fsync
/// of the directory.
pub fn write_atomically(path: &Path, content: &[u8]) -> std::io::Result<()> {
    write_through_temp(path, content, true)
}

/// Write a file so that a reader sees the old or the new content, never a
/// mix, without forcing it to disk: for files that only matter while the
/// host stays up. Each fsync costs milliseconds on a real disk, spent on a
/// runtime thread.
pub fn write_atomically_unsynced(path: &Path, content: &[u8]) -> std::io::Result<()> {
    write_through_temp(path, content, false)
}

fn write_through_temp(path: &Path, content: &[u8], durable: bool) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut temp = tempfile_in(dir, path)?;
    temp.1.write_all(content)?;
    if durable {
        temp.1.sync_all()?;
    }
    std::fs::rename(&temp.0, path)?;
    if durable && let Ok(dir) = std::fs::File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

fn tempfile_in(dir: &Path, path: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    let stem = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let temp = dir.join(format!(".{stem}.{}.tmp", std::process::id()));
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&temp)?;
    Ok((temp, file))
}

/// Stop a gateway left running by an earlier supervisor for this instance,
/// before a second one is spawned. It is not our child, so its end is
/// watched by polling (bounded by the stop timeout, then SIGKILL).
pub async fn stop_leftover(state_dir: &Path, name: &str, stop_signal: Signal, timeout: Duration) {
    let path = instance::pid_record_path(state_dir, name);
    let Some(record) = std::fs::read(&path)
        .ok()
        .and_then(|text| serde_json::from_slice::<PidRecord>(&text).ok())
    else {
        return;
    };
    let marked = |pid: i32| {
        process::environ_has(pid, process::SPAWN_MARKER_VAR, &record.marker)
            || (pid == record.pid && process::is_same_process(pid, record.start_time))
    };
    let alive = || -> Vec<i32> {
        process::all_pids()
            .into_iter()
            .filter(|pid| !process::is_zombie(*pid) && marked(*pid))
            .collect()
    };
    let mut left = alive();
    if !left.is_empty() {
        tracing::warn!(instance = name, pids = ?left, "a gateway of an earlier supervisor is still running: stopping it gracefully");
        let mut signal = stop_signal;
        let mut deadline = tokio::time::Instant::now() + timeout;
        let mut killed = false;
        loop {
            for pid in &left {
                process::signal_if_same(*pid, process::process_start_time(*pid), signal);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            left = alive();
            if left.is_empty() {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                if killed {
                    tracing::error!(instance = name, pids = ?left, "processes of an earlier supervisor survive SIGKILL");
                    break;
                }
                signal = Signal::SIGKILL;
                killed = true;
                deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            }
        }
    }
    let _ = std::fs::remove_file(path);
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
    events: broadcast::Sender<EventRecord>,
    messages_tx: mpsc::UnboundedSender<Message>,
    /// Counts each rescued instance's starts, so a standby check armed for
    /// one healthy run is ignored after a later failure.
    healthy_generation: HashMap<String, u64>,
    watcher: Option<DirWatcher>,
    notifier: Option<Notifier>,
}

/// Prepare the supervisor: read and check the declarations, stop leftovers
/// of an earlier supervisor, start the instances. Returns the handle and the
/// future that runs the loop until shutdown.
pub async fn start(
    options: Options,
) -> Result<(SupervisorHandle, impl std::future::Future<Output = ()>), SupervisorError> {
    let scan = resolution::scan(&options.dir, &options.inherited_env);
    if !scan.file_errors.is_empty() {
        return Err(SupervisorError::Unreadable(scan.file_errors));
    }
    let conflicts = resolution::conflicts(&scan.effective);
    if !conflicts.is_empty() {
        return Err(SupervisorError::Conflicts(conflicts));
    }
    std::fs::create_dir_all(&options.state_dir)?;
    let spawner = Spawner::start()?;
    let log_sink = LogSink::start()?;
    let (notices_tx, notices_rx) = mpsc::unbounded_channel();
    let (messages_tx, messages_rx) = mpsc::unbounded_channel();
    let (events, _) = broadcast::channel(4096);
    let shared = Shared {
        spawner,
        log_sink,
        state_dir: options.state_dir.clone(),
        inherited_env: Arc::new(options.inherited_env.clone()),
        notices: notices_tx,
        supervisor_id: format!("{}.{}", std::process::id(), unix_ms(SystemTime::now())),
    };
    // Leftovers of an earlier supervisor go first, all in parallel.
    let leftovers: Vec<_> = scan
        .effective
        .iter()
        .map(|effective| {
            let state_dir = options.state_dir.clone();
            let name = effective.name.clone();
            let signal = process::parse_signal(&effective.declaration.stop.signal)
                .unwrap_or(Signal::SIGTERM);
            let timeout = effective.declaration.stop.timeout.get();
            tokio::spawn(async move { stop_leftover(&state_dir, &name, signal, timeout).await })
        })
        .collect();
    for task in leftovers {
        let _ = task.await;
    }
    let intent = Intent::load(&options.state_dir);
    let mut supervisor = Supervisor {
        options,
        shared,
        instances: BTreeMap::new(),
        leaving: Vec::new(),
        rejected: Vec::new(),
        intent,
        events: events.clone(),
        messages_tx: messages_tx.clone(),
        healthy_generation: HashMap::new(),
        watcher: None,
        notifier: None,
    };
    match Notifier::from_env(&supervisor.options.inherited_env) {
        Ok(notifier) => supervisor.notifier = notifier,
        Err(err) => tracing::warn!(error = %err, "cannot open the systemd notify socket"),
    }
    for effective in scan.effective {
        supervisor.add(effective);
    }
    let handle = SupervisorHandle {
        messages: messages_tx,
        events,
    };
    match DirWatcher::start(
        &supervisor.options.dir,
        supervisor.options.watch,
        handle.clone(),
    ) {
        Ok(watcher) => supervisor.watcher = watcher,
        Err(err) => {
            tracing::warn!(error = %err, "live reload by file events is off; SIGHUP and `reload` still work")
        }
    }
    supervisor.watch_configs();
    Ok((handle, supervisor.run(messages_rx, notices_rx)))
}

impl Supervisor {
    fn config_for(&self, effective: Effective) -> InstanceConfig {
        let mut extra_env = EnvMap::new();
        if effective.declaration.role == Role::Rescue {
            extra_env.insert(
                "OPENCLAW_SUPERVISOR_SOCKET".to_string(),
                self.options.socket_path.display().to_string(),
            );
        }
        let probes = crate::prober::probes_for(&effective.declaration);
        InstanceConfig {
            effective,
            probes,
            extra_env,
        }
    }

    fn add(&mut self, effective: Effective) {
        let name = effective.name.clone();
        let start = !effective.declaration.standby && !self.intent.stopped.contains(&name);
        let config = self.config_for(effective);
        let handle = instance::spawn_instance(config.clone(), self.shared.clone(), start);
        self.emit(&name, "added", String::new());
        let config_fingerprint = fingerprint(&config.effective.config_path);
        self.instances.insert(
            name,
            Entry {
                handle,
                config: Arc::new(config),
                config_fingerprint,
            },
        );
    }

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

    fn emit(&self, instance: &str, kind: &str, detail: String) {
        let _ = self.events.send(EventRecord {
            at: SystemTime::now(),
            instance: instance.to_string(),
            kind: kind.to_string(),
            detail,
        });
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
                    if let Message::Shutdown = message {
                        break;
                    }
                    self.message(message);
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
        for entry in self.instances.values() {
            let mut snapshot = entry.handle.snapshot.clone();
            waits.push(async move {
                let _ = snapshot
                    .wait_for(|s| s.state != "stopped" || s.pid.is_some())
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
                .map(|e| e.handle.snapshot.borrow().state)
                .collect();
            notifier.status(&crate::sdnotify::summarize(states.into_iter()));
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
            Message::Handle { name, reply } => {
                let result = self
                    .instances
                    .get(&name)
                    .map(|entry| entry.handle.clone())
                    .ok_or(SupervisorError::UnknownInstance(name));
                let _ = reply.send(result);
            }
            Message::Reload { reply } => {
                if let Some(notifier) = &self.notifier {
                    notifier.reloading();
                }
                let outcome = self.reload();
                if let Some(notifier) = &self.notifier {
                    notifier.ready();
                }
                self.publish_status();
                if let Some(reply) = reply {
                    let _ = reply.send(outcome);
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
            Message::Shutdown => {}
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
        })
    }

    fn control(&mut self, name: &str, command: ControlCommand) -> Result<(), SupervisorError> {
        let entry = self
            .instances
            .get(name)
            .ok_or_else(|| SupervisorError::UnknownInstance(name.to_string()))?;
        let changed_intent = match command {
            ControlCommand::Start | ControlCommand::Restart => self.intent.stopped.remove(name),
            ControlCommand::Stop => self.intent.stopped.insert(name.to_string()),
            ControlCommand::Signal(_) => false,
        };
        entry.handle.send(match command {
            ControlCommand::Start => Command::Start,
            ControlCommand::Stop => Command::Stop,
            ControlCommand::Restart => Command::Restart,
            ControlCommand::Signal(signal) => Command::Signal(signal),
        });
        if changed_intent {
            self.intent.save(&self.options.state_dir)?;
        }
        self.emit(
            name,
            &format!("{command:?}").to_lowercase(),
            "by operator".to_string(),
        );
        Ok(())
    }

    fn notice(&mut self, notice: InstanceNotice) {
        let kind = notice_kind(&notice.notice);
        self.emit(&notice.name, kind, notice.detail.clone());
        if notice.notice.is_failure() {
            // Bump the generation: a standby check armed during the last
            // healthy run no longer applies.
            *self
                .healthy_generation
                .entry(notice.name.clone())
                .or_default() += 1;
            let rescues: Vec<String> = self
                .rescues_of(&notice.name)
                .iter()
                .map(|entry| entry.handle.name.clone())
                .collect();
            for rescue in rescues {
                if let Some(entry) = self.instances.get(&rescue) {
                    entry.handle.send(Command::RescueNeeded);
                }
                self.emit(
                    &rescue,
                    "rescue_triggered",
                    format!("{} {kind}: {}", notice.name, notice.detail),
                );
            }
        }
        if notice.notice == Notice::Started {
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

    /// Rescan the declarations and apply the difference. A file that does
    /// not parse, or a change that would conflict, is rejected: its instance
    /// keeps running on its last good declaration.
    fn reload(&mut self) -> ReloadOutcome {
        let scan = resolution::scan(&self.options.dir, &self.options.inherited_env);
        let mut outcome = ReloadOutcome::default();
        let mut rejected: Vec<Rejected> = scan
            .file_errors
            .iter()
            .map(|error| Rejected {
                file: error.file.clone(),
                instance: error.name.clone(),
                reason: error.reason.clone(),
            })
            .collect();
        // Names whose file is broken keep their last good declaration.
        let broken: BTreeSet<String> = scan
            .file_errors
            .iter()
            .filter_map(|error| error.name.clone())
            .chain(
                // A broken file whose name is unknown protects the instance
                // that lived in the same file.
                scan.file_errors.iter().filter_map(|error| {
                    self.instances
                        .iter()
                        .find(|(_, entry)| entry.config.effective.file == error.file)
                        .map(|(name, _)| name.clone())
                }),
            )
            .collect();
        let mut wanted: BTreeMap<String, Effective> = BTreeMap::new();
        for effective in scan.effective {
            wanted.insert(effective.name.clone(), effective);
        }
        for name in &broken {
            if let Some(entry) = self.instances.get(name) {
                wanted.insert(name.clone(), entry.config.effective.clone());
            }
        }
        // Reject new or changed declarations that conflict, until the set is sound.
        loop {
            let set: Vec<Effective> = wanted.values().cloned().collect();
            let conflicts = resolution::conflicts(&set);
            if conflicts.is_empty() {
                break;
            }
            let mut reverted_any = false;
            for conflict in &conflicts {
                for name in &conflict.instances {
                    let current = self.instances.get(name).map(|e| &e.config.effective);
                    let proposed = wanted.get(name);
                    if proposed.is_some() && proposed != current {
                        let file = proposed.map(|p| p.file.clone()).unwrap_or_default();
                        rejected.push(Rejected {
                            file,
                            instance: Some(name.clone()),
                            reason: conflict.message.clone(),
                        });
                        match current {
                            Some(current) => {
                                wanted.insert(name.clone(), current.clone());
                            }
                            None => {
                                wanted.remove(name);
                            }
                        }
                        reverted_any = true;
                    }
                }
            }
            if !reverted_any {
                // The running set itself conflicts (an OpenClaw config file
                // changed under a running instance): report, change nothing.
                for conflict in conflicts {
                    tracing::error!(conflict = %conflict.message, "running instances now conflict");
                    rejected.push(Rejected {
                        file: PathBuf::new(),
                        instance: conflict.instances.first().cloned(),
                        reason: conflict.message,
                    });
                }
                break;
            }
        }
        for item in &rejected {
            tracing::error!(file = %item.file.display(), reason = %item.reason, "declaration rejected");
            if let Some(name) = &item.instance {
                outcome.rejected.push(name.clone());
            }
            self.emit(
                item.instance.as_deref().unwrap_or("-"),
                "rejected",
                format!("{}: {}", item.file.display(), item.reason),
            );
        }
        self.rejected = rejected;

        let removed: Vec<String> = self
            .instances
            .keys()
            .filter(|name| !wanted.contains_key(*name))
            .cloned()
            .collect();
        for name in removed {
            if let Some(entry) = self.instances.remove(&name) {
                entry.handle.send(Command::Remove);
                self.leaving.push(entry.handle);
                self.emit(&name, "removed", String::new());
                outcome.removed.push(name);
            }
        }
        for (name, effective) in wanted {
            match self.instances.get(&name) {
                None => {
                    self.add(effective);
                    outcome.added.push(name);
                }
                Some(entry) if entry.config.effective != effective => {
                    let config = self.config_for(effective);
                    let restart = entry
                        .config
                        .spawn_differs(&config, &self.options.inherited_env);
                    entry.handle.send(Command::Reconfigure {
                        config: Box::new(config.clone()),
                        restart,
                    });
                    if let Some(entry) = self.instances.get_mut(&name) {
                        entry.config = Arc::new(config);
                    }
                    if restart {
                        outcome.restarted.push(name);
                    } else {
                        outcome.updated.push(name);
                    }
                }
                Some(_) => {}
            }
        }
        // An OpenClaw config file that changed (even where the footprint
        // did not) retries an instance that failed on its configuration;
        // the gateway reloads its own config otherwise.
        for entry in self.instances.values_mut() {
            let now = fingerprint(&entry.config.effective.config_path);
            if now != entry.config_fingerprint {
                entry.config_fingerprint = now;
                entry.handle.send(Command::Changed);
            }
        }
        self.leaving.retain(|handle| !handle.is_closed());
        self.watch_configs();
        tracing::info!(
            added = ?outcome.added,
            restarted = ?outcome.restarted,
            updated = ?outcome.updated,
            removed = ?outcome.removed,
            rejected = ?outcome.rejected,
            "declarations rescanned"
        );
        outcome
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
                    self.emit(&notice.name, kind, notice.detail);
                }
            }
        }
        tracing::info!("every instance stopped");
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

impl InstanceHandle {
    fn is_closed(&self) -> bool {
        self.snapshot.has_changed().is_err()
    }
}

pub fn notice_kind(notice: &Notice) -> &'static str {
    match notice {
        Notice::Spawned => "spawned",
        Notice::Started => "started",
        Notice::Exited(_) => "exited",
        Notice::StartupTimedOut => "startup_timed_out",
        Notice::Unhealthy => "unhealthy",
        Notice::Backoff { .. } => "backoff",
        Notice::Failed(_) => "failed",
        Notice::Stopped => "stopped",
        Notice::Standby => "standby",
        Notice::Forgotten => "forgotten",
    }
}

pub fn unix_ms(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intent_round_trips_through_an_atomic_write() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Intent::load(dir.path()), Intent::default());
        let mut intent = Intent::default();
        intent.stopped.insert("main".into());
        intent.save(dir.path()).unwrap();
        assert_eq!(Intent::load(dir.path()), intent);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "no temp file is left behind");
    }

    #[test]
    fn both_atomic_writers_replace_the_file_and_leave_no_temp() {
        type Writer = fn(&Path, &[u8]) -> std::io::Result<()>;
        let rows: Vec<(&str, Writer)> = vec![
            ("durable", write_atomically),
            ("unsynced", write_atomically_unsynced),
        ];
        for (label, write) in rows {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("run").join("main.json");
            write(&path, b"first").unwrap();
            write(&path, b"second").unwrap();
            assert_eq!(std::fs::read(&path).unwrap(), b"second", "{label}");
            let names: Vec<String> = std::fs::read_dir(path.parent().unwrap())
                .unwrap()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect();
            assert_eq!(names, vec!["main.json".to_string()], "{label}");
        }
    }
}
