//! Start-up: read and check the declarations, decide what runs (the same
//! plan a reload makes, with nothing running yet), stop an earlier
//! supervisor's leftovers, then start the sound instances.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::mpsc;

use super::{
    EVENTS_BUFFER, INTENT_RETRY, Intent, IntentSaver, Options, Supervisor, SupervisorError,
    SupervisorHandle, adopt, unix_ms,
};
use crate::instance::Shared;
use crate::logs::LogSink;
use crate::process::{self, Spawner};
use crate::resolution;
use crate::sdnotify::Notifier;
use crate::watch::DirWatcher;

/// Whether `start` goes on with `plan`: the sound part runs, unless
/// `strict` asks for all or nothing; declarations of which not one can run
/// are a refusal (an empty directory is not: files may come later).
pub fn start_verdict(plan: &resolution::Plan, strict: bool) -> Result<(), SupervisorError> {
    if plan.rejected.is_empty() {
        return Ok(());
    }
    if strict {
        return Err(SupervisorError::NotSound(plan.rejected.clone()));
    }
    if plan.wanted.is_empty() {
        return Err(SupervisorError::NothingToRun(plan.rejected.clone()));
    }
    Ok(())
}

/// Prepare the supervisor: read and check the declarations, stop leftovers
/// of an earlier supervisor, start every instance that is valid and
/// conflict-free (the others are rejected, as a reload rejects them).
/// `early` gets the handle before anything is stopped or spawned (to route
/// signals to it). Returns the handle and the future that runs the loop
/// until shutdown.
pub async fn start(
    options: Options,
    reexec: super::ReexecSetup,
    early: impl FnOnce(&SupervisorHandle),
) -> Result<(SupervisorHandle, impl std::future::Future<Output = ()>), SupervisorError> {
    let scan = resolution::scan(&options.dir, &options.inherited_env);
    let scanned = scan.effective.clone();
    let plan = resolution::plan(scan, &BTreeMap::new());
    start_verdict(&plan, options.strict)?;
    std::fs::create_dir_all(&options.state_dir)?;
    let spawner = Spawner::start()?;
    let log_sink = LogSink::start()?;
    let (notices_tx, notices_rx) = mpsc::unbounded_channel();
    let (messages_tx, messages_rx) = mpsc::unbounded_channel();
    let events = crate::journal::EventBus::start(&options.state_dir, EVENTS_BUFFER)?;
    let inherited_env = Arc::new(options.inherited_env.clone());
    let alerts =
        crate::alert::Alerts::start(events.clone(), spawner.clone(), inherited_env.clone());
    let handle = SupervisorHandle {
        messages: messages_tx.clone(),
        events: events.clone(),
        spawner: spawner.clone(),
        alerts: alerts.clone(),
        state_dir: options.state_dir.clone(),
        shutdown_asked: Default::default(),
    };
    early(&handle);
    let keeper_exe = crate::keeper::program_path(&std::env::current_exe()?);
    let shared = Shared {
        keeper_exe,
        spawner,
        log_sink,
        state_dir: options.state_dir.clone(),
        inherited_env,
        notices: notices_tx,
        supervisor_id: format!("{}.{}", std::process::id(), unix_ms(SystemTime::now())),
        cgroups: crate::cgroup::set_up_unless_off(
            &options.state_dir,
            options
                .inherited_env
                .get(crate::cgroup::SWITCH_VAR)
                .map(String::as_str),
        ),
    };
    // Leftovers of an earlier supervisor go first, all in parallel: every
    // record, declared or not.
    let declared: HashMap<String, crate::records::StopSettings> = scanned
        .iter()
        .map(|effective| {
            let signal = process::to_signal(effective.declaration.stop.signal.name());
            let timeout = effective.declaration.stop.timeout.get();
            (effective.name.clone(), (signal, timeout))
        })
        .collect();
    let intent = Intent::load(&options.state_dir);
    // Kept gateways of the instances that are to run are taken over first;
    // every other record is a leftover, stopped all in parallel, declared
    // or not.
    let to_adopt: Vec<String> = plan
        .wanted
        .keys()
        .filter(|name| !intent.stopped.contains(*name))
        .cloned()
        .collect();
    let adoptions = adopt::adopt_all(&options.state_dir, to_adopt).await;
    let adopted: std::collections::BTreeSet<String> = adoptions
        .iter()
        .filter(|(_, (adopted, _))| adopted.is_some())
        .map(|(name, _)| name.clone())
        .collect();
    crate::records::stop_leftovers(&options.state_dir, &declared, &adopted).await;
    let adopted_sockets = adoptions
        .values()
        .filter_map(|(adopted, _)| adopted.as_ref())
        .filter_map(|adopted| adopted.record.keeper.as_ref())
        .map(|keeper| keeper.socket.clone())
        .collect();
    adopt::release_keepers(&options.state_dir, &adopted_sockets).await;
    let intent_dir = options.state_dir.clone();
    let mut supervisor = Supervisor {
        options,
        shared,
        instances: BTreeMap::new(),
        leaving: Vec::new(),
        rejected: Vec::new(),
        intent,
        intent_saver: IntentSaver::new(intent_dir, INTENT_RETRY),
        events: events.clone(),
        messages_tx: messages_tx.clone(),
        healthy_generation: HashMap::new(),
        rescue_episodes: HashMap::new(),
        wakes: Default::default(),
        watcher: None,
        notifier: None,
        alerts,
        adoptions,
        reexec_exec: reexec.exec,
        shutdown_asked: handle.shutdown_asked.clone(),
        restored: HashMap::new(),
        restored_idle: Default::default(),
        reloads: Default::default(),
    };
    supervisor.resume(reexec.saved);
    match Notifier::from_env(&supervisor.options.inherited_env) {
        Ok(notifier) => supervisor.notifier = notifier,
        Err(err) => tracing::warn!(error = %err, "cannot open the systemd notify socket"),
    }
    supervisor.record_rejected(plan.rejected);
    for effective in plan.wanted.into_values() {
        supervisor.add(effective);
    }
    let reloads = handle.clone();
    match DirWatcher::start(
        &supervisor.options.dir,
        supervisor.options.watch,
        move || reloads.request_reload(),
    ) {
        Ok(watcher) => supervisor.watcher = watcher,
        Err(err) => {
            tracing::warn!(error = %err, "live reload by file events is off; SIGHUP and `reload` still work")
        }
    }
    supervisor.watch_configs();
    supervisor.publish_targets();
    Ok((handle, supervisor.run(messages_rx, notices_rx)))
}
