//! CPU and memory of each instance's whole process tree, as `status` shows
//! them.
//!
//! The CPU figure belongs to the instance, not to whoever asked: it is the
//! tree's CPU time over a fixed recent window, from readings the daemon
//! keeps per instance. A reading is taken when a status is asked for and
//! the newest is at least [`SPACING`] old, so clients asking in a row share
//! one reading and see the same figure. The figure runs from the newest
//! reading back to the newest one at least [`WINDOW`] older, else back to
//! the gateway's spawn (at no CPU time). The window arithmetic ([`Window`])
//! is pure; [`Usage`] reads the processes through sysinfo, refreshing only
//! the pids of those trees.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, SystemTime};

use crate::instance::Snapshot;

/// The span a CPU figure covers once the instance has run that long.
pub const WINDOW: Duration = Duration::from_secs(10);
/// Readings closer together than this are one: a request within it is
/// answered from the newest reading.
pub const SPACING: Duration = Duration::from_secs(1);

/// The tree's accumulated CPU time at a moment (both since the Unix epoch
/// for `at`, as wall clock; a clock stepping back yields no figure).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    pub at: Duration,
    pub cpu: Duration,
}

/// The readings of one gateway process, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// The process the readings are of; a new gateway starts a new window.
    leader: i32,
    /// When it was spawned, if known: the base of a figure until a reading
    /// is [`WINDOW`] old.
    spawned: Option<Duration>,
    readings: VecDeque<Reading>,
    memory: u64,
}

impl Window {
    pub fn new(leader: i32, spawned: Option<Duration>) -> Self {
        Window {
            leader,
            spawned,
            readings: VecDeque::new(),
            memory: 0,
        }
    }

    /// Whether a reading at `now` is due: none yet, or the newest is
    /// [`SPACING`] old (or from a clock that has stepped back since).
    pub fn due(&self, now: Duration) -> bool {
        self.readings
            .back()
            .is_none_or(|newest| now < newest.at || now - newest.at >= SPACING)
    }

    /// Adds a reading and forgets those no figure needs any more: all but
    /// the newest of those at least [`WINDOW`] older than it. Returns the
    /// CPU time the tree used since the previous reading (since the spawn,
    /// at none, for the first); nothing when it shrank (a member exited).
    pub fn record(&mut self, reading: Reading, memory: u64) -> Duration {
        let added = match self.readings.back() {
            Some(previous) => reading.cpu.saturating_sub(previous.cpu),
            None => reading.cpu,
        };
        self.readings.push_back(reading);
        self.memory = memory;
        let old_enough = |r: &Reading| reading.at.saturating_sub(r.at) >= WINDOW;
        while self.readings.get(1).is_some_and(old_enough) {
            self.readings.pop_front();
        }
        added
    }

    /// Percent of one core over the window ending at the newest reading;
    /// `None` before any reading, or when the window has no length.
    pub fn cpu_percent(&self) -> Option<f32> {
        let newest = *self.readings.back()?;
        let base = self
            .readings
            .iter()
            .rev()
            .find(|r| newest.at.saturating_sub(r.at) >= WINDOW)
            .copied()
            .or(self.spawned.map(|at| Reading {
                at,
                cpu: Duration::ZERO,
            }))
            .or(self.readings.front().copied())?;
        let span = newest.at.checked_sub(base.at).filter(|s| !s.is_zero())?;
        // A tree member that exited takes its CPU time with it.
        let cpu = newest.cpu.saturating_sub(base.cpu);
        Some((cpu.as_secs_f64() / span.as_secs_f64() * 100.0) as f32)
    }

    /// The figure and the tree's memory in bytes at the newest reading.
    pub fn figures(&self) -> Option<(f32, u64)> {
        Some((self.cpu_percent()?, self.memory))
    }
}

fn since_epoch(at: SystemTime) -> Duration {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
}

/// The readings of every instance, and sysinfo to take them.
pub struct Usage {
    system: Option<sysinfo::System>,
    windows: HashMap<String, Window>,
    /// CPU time of each instance's trees so far (what its readings saw),
    /// across its gateways: the metrics' counter.
    cpu_totals: HashMap<String, Duration>,
}

impl Default for Usage {
    fn default() -> Self {
        Self::new()
    }
}

impl Usage {
    pub fn new() -> Self {
        Usage {
            system: sysinfo::System::new().ok(),
            windows: HashMap::new(),
            cpu_totals: HashMap::new(),
        }
    }

    /// Takes the readings that are due for these instances; forgets the
    /// windows of gateways that are gone or were replaced.
    pub fn refresh(&mut self, snapshots: &[Snapshot]) {
        let now = since_epoch(SystemTime::now());
        let mut due: Vec<(&str, Vec<i32>)> = Vec::new();
        for snapshot in snapshots {
            let Some(pid) = snapshot.pid else {
                self.windows.remove(&snapshot.name);
                continue;
            };
            let window = self
                .windows
                .entry(snapshot.name.clone())
                .or_insert_with(|| Window::new(pid, snapshot.spawned_at.map(since_epoch)));
            if window.leader != pid {
                *window = Window::new(pid, snapshot.spawned_at.map(since_epoch));
            }
            if window.due(now) {
                due.push((&snapshot.name, tree_of(snapshot, pid)));
            }
        }
        let Some(system) = self.system.as_mut() else {
            return;
        };
        if due.is_empty() {
            return;
        }
        let pids: Vec<i32> = due.iter().flat_map(|(_, tree)| tree.clone()).collect();
        let kind = sysinfo::ProcessRefreshKind::nothing()
            .with_cpu()
            .with_memory();
        read_processes(system, &pids, kind);
        for (name, tree) in due {
            let (cpu_ms, mut memory) = tree_sums(system, &tree);
            // In cgroup mode the kernel's own count of the tree, exited
            // members included: cpu.stat (there without the cpu
            // controller), memory.current (with the memory controller).
            let cgroup = snapshots
                .iter()
                .find(|snapshot| snapshot.name == name)
                .and_then(|snapshot| cgroup_dir(&snapshot.tracking));
            let mut cpu = Duration::from_millis(cpu_ms);
            if let Some(dir) = &cgroup {
                if let Some(usage) = read_cgroup_cpu(dir) {
                    cpu = usage;
                }
                if let Some(current) = read_cgroup_memory(dir) {
                    memory = current;
                }
            }
            if let Some(window) = self.windows.get_mut(name) {
                let added = window.record(Reading { at: now, cpu }, memory);
                *self.cpu_totals.entry(name.to_string()).or_default() += added;
            }
        }
    }

    /// The CPU time the instance's trees used, as far as readings saw it
    /// (a member that exits between two readings takes its time since the
    /// first with it); `None` before its first reading.
    pub fn cpu_total(&self, name: &str) -> Option<Duration> {
        self.cpu_totals.get(name).copied()
    }

    /// The instance's CPU percent and memory bytes, if measured.
    pub fn of(&self, snapshot: &Snapshot) -> Option<(f32, u64)> {
        let window = self.windows.get(&snapshot.name)?;
        if Some(window.leader) != snapshot.pid {
            return None;
        }
        window.figures()
    }
}

/// Reads these pids through sysinfo (`kind` says which figures): the one
/// way a process tree is read, for status and for the memory guard.
fn read_processes(system: &mut sysinfo::System, pids: &[i32], kind: sysinfo::ProcessRefreshKind) {
    let pids: Vec<sysinfo::Pid> = pids.iter().map(sysinfo_pid).collect();
    // sysinfo has no CPU time for a process it reads the first time.
    let new: Vec<sysinfo::Pid> = pids
        .iter()
        .filter(|pid| system.process(**pid).is_none())
        .copied()
        .collect();
    for list in [&pids, &new] {
        if !list.is_empty() {
            system.refresh_processes_specifics(sysinfo::ProcessesToUpdate::Some(list), true, kind);
        }
    }
}

fn sysinfo_pid(pid: &i32) -> sysinfo::Pid {
    sysinfo::Pid::from_u32(pid.unsigned_abs())
}

/// The tree's CPU time in ms and resident memory in bytes (the sum of RSS),
/// over the members sysinfo has read.
fn tree_sums(system: &sysinfo::System, tree: &[i32]) -> (u64, u64) {
    let mut cpu_ms = 0;
    let mut memory = 0;
    for process in tree
        .iter()
        .filter_map(|pid| system.process(sysinfo_pid(pid)))
    {
        cpu_ms += process.accumulated_cpu_time();
        memory += process.memory();
    }
    (cpu_ms, memory)
}

/// Reads of one instance's tree memory, for its memory guard. The actor
/// keeps one; each read refreshes only the tree's pids.
pub struct TreeMemory {
    system: Option<sysinfo::System>,
}

impl Default for TreeMemory {
    fn default() -> Self {
        Self::new()
    }
}

impl TreeMemory {
    pub fn new() -> Self {
        TreeMemory {
            system: sysinfo::System::new().ok(),
        }
    }

    /// The memory of the tree led by `leader`, in bytes: in cgroup mode
    /// (`tracking`) the cgroup's `memory.current` where the memory
    /// controller is enabled there, else the sum of RSS over the tree from
    /// /proc (the cgroup's members in cgroup mode, else the leader's tree),
    /// read as `status` reads it. `None` when the leader cannot be read
    /// (gone, or no /proc). The one place the guard's reading comes from.
    pub fn tree_memory_bytes(
        &mut self,
        tracking: &crate::cgroup::Tracking,
        leader: i32,
    ) -> Option<u64> {
        let cgroup = cgroup_dir(tracking);
        if let Some(current) = cgroup.and_then(read_cgroup_memory) {
            return Some(current);
        }
        let system = self.system.as_mut()?;
        let tree = match cgroup {
            Some(dir) => crate::cgroup::members(dir),
            None => crate::process::process_tree(leader),
        };
        read_processes(
            system,
            &tree,
            sysinfo::ProcessRefreshKind::nothing().with_memory(),
        );
        system.process(sysinfo_pid(&leader))?;
        Some(tree_sums(system, &tree).1)
    }
}

/// The processes of an instance's tree: its cgroup's members in cgroup
/// mode (a descendant that left the leader's tree included), else the
/// leader and its descendants.
fn tree_of(snapshot: &Snapshot, leader: i32) -> Vec<i32> {
    match cgroup_dir(&snapshot.tracking) {
        Some(dir) => crate::cgroup::members(dir),
        None => crate::process::process_tree(leader),
    }
}

fn cgroup_dir(tracking: &crate::cgroup::Tracking) -> Option<&std::path::Path> {
    match tracking {
        crate::cgroup::Tracking::Cgroup(dir) => Some(dir),
        crate::cgroup::Tracking::Marker(_) => None,
    }
}

/// `usage_usec` of a cgroup's `cpu.stat`: the CPU time of every process
/// that ever was in it.
pub fn parse_cpu_stat_usage(text: &str) -> Option<Duration> {
    text.lines().find_map(|line| {
        let micros = line.strip_prefix("usage_usec ")?.trim().parse().ok()?;
        Some(Duration::from_micros(micros))
    })
}

fn read_cgroup_cpu(dir: &std::path::Path) -> Option<Duration> {
    parse_cpu_stat_usage(&std::fs::read_to_string(dir.join("cpu.stat")).ok()?)
}

/// `memory.current`, there only where the memory controller is enabled.
fn read_cgroup_memory(dir: &std::path::Path) -> Option<u64> {
    std::fs::read_to_string(dir.join("memory.current"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_and_proc_figures_are_parsed() {
        let cpu_rows: &[(&str, Option<Duration>)] = &[
            (
                "usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n",
                Some(Duration::from_millis(1500)),
            ),
            ("user_usec 10\n", None),
            ("usage_usec x\n", None),
            ("", None),
        ];
        for (text, expected) in cpu_rows {
            assert_eq!(parse_cpu_stat_usage(text), *expected, "{text:?}");
        }
    }

    #[test]
    fn tree_memory_is_the_resident_sum_without_a_memory_controller() {
        let own = std::process::id() as i32;
        let marker = crate::cgroup::Tracking::Marker(String::from("test"));
        let mut reader = TreeMemory::new();
        let bytes = reader
            .tree_memory_bytes(&marker, own)
            .expect("this process's memory");
        assert!(bytes > 0);
        // A cgroup without memory.current (no memory controller, or gone):
        // the RSS sum over its members, none here.
        let gone = crate::cgroup::Tracking::Cgroup(std::path::PathBuf::from("/nonexistent/cgroup"));
        assert_eq!(reader.tree_memory_bytes(&gone, own), Some(0));
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    /// A window spawned at `spawned` with readings (at, cpu) in seconds.
    fn window(spawned: Option<u64>, readings: &[(u64, u64)]) -> Window {
        let mut window = Window::new(1, spawned.map(secs));
        for (at, cpu) in readings {
            window.record(
                Reading {
                    at: secs(*at),
                    cpu: secs(*cpu),
                },
                0,
            );
        }
        window
    }

    /// What, the spawn, the readings (at, cpu), the figure.
    type Row = (
        &'static str,
        Option<u64>,
        &'static [(u64, u64)],
        Option<f32>,
    );

    #[test]
    fn the_figure_runs_back_to_a_reading_a_window_old_else_to_the_spawn() {
        let rows: &[Row] = &[
            ("no reading", Some(100), &[], None),
            (
                "one reading: since the spawn",
                Some(100),
                &[(120, 5)],
                Some(25.0),
            ),
            (
                "readings younger than the window: since the spawn",
                Some(100),
                &[(110, 1), (115, 4)],
                Some(26.666_666),
            ),
            (
                "a reading a window old is the base",
                Some(100),
                &[(110, 1), (120, 6)],
                Some(50.0),
            ),
            (
                "the newest reading a window old is the base",
                Some(100),
                &[(104, 0), (108, 2), (113, 5), (118, 7)],
                Some(50.0),
            ),
            (
                "spawn unknown: since the oldest reading",
                None,
                &[(110, 1), (114, 3)],
                Some(50.0),
            ),
            ("spawn unknown, one reading", None, &[(110, 1)], None),
            (
                "a tree member's exit takes CPU time away: no negative figure",
                Some(100),
                &[(110, 5), (120, 2)],
                Some(0.0),
            ),
            ("two cores busy", Some(0), &[(10, 0), (20, 20)], Some(200.0)),
        ];
        for (what, spawned, readings, expected) in rows {
            let figure = window(*spawned, readings).cpu_percent();
            match (figure, expected) {
                (Some(got), Some(want)) => assert!((got - want).abs() < 1e-3, "{what}: {got}"),
                _ => assert_eq!(figure, *expected, "{what}"),
            }
        }
    }

    #[test]
    fn each_reading_adds_the_cpu_time_used_since_the_previous_one() {
        // What, (at, cpu) of each reading, what each adds; in seconds.
        type AddedRow = (&'static str, &'static [(u64, u64)], &'static [u64]);
        let rows: &[AddedRow] = &[
            ("the first reading: all since the spawn", &[(10, 4)], &[4]),
            ("growth", &[(10, 4), (11, 6), (12, 9)], &[4, 2, 3]),
            (
                "a member exits: nothing is taken back, later growth counts",
                &[(10, 4), (11, 2), (12, 5)],
                &[4, 0, 3],
            ),
        ];
        for (what, readings, expected) in rows {
            let mut w = Window::new(1, Some(secs(0)));
            let added: Vec<u64> = readings
                .iter()
                .map(|(at, cpu)| {
                    let reading = Reading {
                        at: secs(*at),
                        cpu: secs(*cpu),
                    };
                    w.record(reading, 0).as_secs()
                })
                .collect();
            assert_eq!(added, *expected, "{what}");
        }
    }

    #[test]
    fn readings_within_the_spacing_are_one_and_old_ones_are_forgotten() {
        let mut w = window(Some(0), &[(10, 1)]);
        assert!(!w.due(secs(10)));
        assert!(!w.due(Duration::from_millis(10_999)));
        assert!(w.due(secs(11)));
        assert!(w.due(secs(9)), "a clock stepped back");
        for at in 11..=40 {
            w.record(
                Reading {
                    at: secs(at),
                    cpu: secs(at),
                },
                0,
            );
        }
        let kept: Vec<u64> = w.readings.iter().map(|r| r.at.as_secs()).collect();
        assert_eq!(
            kept,
            (30..=40).collect::<Vec<u64>>(),
            "one a window old, and after"
        );
        assert_eq!(w.cpu_percent(), Some(100.0));
    }
}
