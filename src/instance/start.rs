//! The actor's construction: its channels, its first snapshot, and the
//! task started with what it begins with.

use super::*;

/// Start the actor of one instance. With `start`, it is started at once;
/// otherwise it waits (stopped, or standby for a standby rescue).
pub fn spawn_instance(config: InstanceConfig, shared: Shared, start: bool) -> InstanceHandle {
    spawn_instance_adopting(config, shared, start, None, None, None)
}

/// [`spawn_instance`] at the supervisor's start: with the kept gateway to
/// take over instead of starting one (`adopted`), and what became of the
/// instance's record (`adoption`, for status), and after a re-exec its
/// state from before it (`saved`): its counters are taken, and its state
/// unless a gateway was up (then the kept gateway is adopted, or, without
/// one, it is started as with `start`).
pub fn spawn_instance_adopting(
    config: InstanceConfig,
    shared: Shared,
    start: bool,
    adopted: Option<Adopted>,
    adoption: Option<Adoption>,
    saved: Option<crate::reexec::SavedInstance>,
) -> InstanceHandle {
    let name = config.effective.name.clone();
    let log = shared.log_sink.instance_log(
        log_path(&shared.state_dir, &name),
        config.effective.declaration.logs,
    );
    let (notes_tx, notes_rx) = mpsc::unbounded_channel();
    let children = Box::new(processes::Processes::new(processes::Place {
        name: name.clone(),
        spawner: shared.spawner.clone(),
        state_dir: shared.state_dir.clone(),
        keeper_exe: shared.keeper_exe.clone(),
        cgroups: shared.cgroups.clone(),
        log: log.clone(),
        notes: notes_tx,
    }));
    let begin = Begin {
        start,
        adopted,
        adoption,
        saved,
    };
    spawn_actor(
        config,
        Surroundings::of(shared),
        log,
        children,
        notes_rx,
        begin,
    )
}

/// What an actor begins with (see [`spawn_instance_adopting`]).
pub(super) struct Begin {
    pub(super) start: bool,
    pub(super) adopted: Option<Adopted>,
    pub(super) adoption: Option<Adoption>,
    pub(super) saved: Option<crate::reexec::SavedInstance>,
}

/// Start the actor of one instance over `children`.
pub(super) fn spawn_actor(
    config: InstanceConfig,
    shared: Surroundings,
    log: InstanceLog,
    children: Box<dyn Children>,
    notes: mpsc::UnboundedReceiver<(i32, BreakerLine)>,
    begin: Begin,
) -> InstanceHandle {
    let Begin {
        start,
        adopted,
        adoption,
        saved,
    } = begin;
    let name = config.effective.name.clone();
    let config = Arc::new(config);
    let probes_report = ProbesReport::new(&config.effective.probes);
    let limits = resources::limits_of(&config, &shared.cgroups);
    let tracking = crate::cgroup::Tracking::of(&shared.cgroups, &name);
    resources::warn_not_applied(&name, &limits);
    let policy = policy_of(&config);
    let lifecycle = Lifecycle::new(policy);
    let (commands_tx, commands_rx) = mpsc::unbounded_channel();
    let (probe_tx, probe_rx) = mpsc::unbounded_channel();
    let snapshot = Snapshot {
        name: name.clone(),
        state: lifecycle.state.name(),
        pid: None,
        spawned_at: None,
        restarts: 0,
        last_exit: None,
        next_restart_at: None,
        last_error: None,
        error_lines: Vec::new(),
        error_from: None,
        probes: probes_report.clone(),
        config: config.clone(),
        dropped_log_lines: 0,
        stopping_since: None,
        breaker: None,
        kills: Vec::new(),
        kills_total: 0,
        last_restart_reason: None,
        tracking: tracking.clone(),
        limits: limits.limits.clone(),
        rolled_back: None,
        adoption: adoption.clone(),
    };
    let memory_guard = resources::memory_guard_of(&config);
    let (snapshot_tx, snapshot_rx) = watch::channel(snapshot);
    let mut actor = Actor {
        name: name.clone(),
        config,
        shared,
        lifecycle,
        log: log.clone(),
        child: None,
        children,
        timers: HashMap::new(),
        probe_tx,
        probe_generation: 0,
        probe_task: None,
        snapshot: snapshot_tx,
        spawned_at: None,
        last_exit_at: None,
        last_error: None,
        error_lines: Vec::new(),
        error_from: None,
        probe_status: probes_report,
        breaker: None,
        kills: Vec::new(),
        kills_total: 0,
        memory_guard,
        tree_memory: crate::usage::TreeMemory::new(),
        memory_check_at: None,
        memory_guard_detail: None,
        last_restart_reason: None,
        limits,
        tracking,
        spawned_with: None,
        rolled_back: None,
        auto_rolled_back: false,
        skill_edited_noted: false,
        adoption,
        frozen: false,
        deferred: Vec::new(),
        leftovers: None,
    };
    // After a re-exec: the counters, and the state of an instance without
    // a gateway, before anything else.
    let first = match saved {
        Some(saved) => actor.restore(saved, adopted.is_some()),
        None => start.then_some(Event::Start),
    };
    tokio::spawn(actor.run(commands_rx, probe_rx, notes, first, adopted));
    InstanceHandle {
        name,
        commands: commands_tx,
        snapshot: snapshot_rx,
        log,
    }
}
