//! A seeded, model-based test of the whole supervisor over simulated
//! gateways: random sequences of what operators, editors and crashes do
//! (add, edit, break, duplicate, rename and remove declaration files;
//! SIGKILL a gateway; SIGKILL the supervisor and start a new one; stop,
//! start, restart and reload commands), with the invariants checked after
//! every step:
//!
//! - at most one gateway per instance, at every look;
//! - every valid, conflict-free, not-stopped instance is running (the one
//!   declared last), every stopped one has no process, every undeclared one
//!   is gone;
//! - a running instance is never disturbed by a copied file naming it;
//! - nothing outside the supervisor's own tree is ever signalled (sentinel
//!   processes with misleading pid records are planted before every start);
//! - no orphan after shutdown, and shutdown exits 0;
//! - every reply to a command is true (exit 0 for a known instance, and the
//!   state that follows is the one the reply announced).
//!
//! Every run prints its seed and replays exactly from it (the sequence of
//! operations; timing is the machine's): `cargo test --test randomized --
//! --seed 7`. `--steps N` sets the steps per seed, `--soak MINUTES` runs new
//! seeds until the time is up. Without options it runs a fixed budget (the
//! one `cargo test` and CI run).
#![allow(clippy::disallowed_methods)] // A test starts the programs it tests.

mod daemon_support;

use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use daemon_support::{
    Daemon, Sentinel, alive, environ, free_base_port, is_keeper, sim_declaration, start_time,
    tagged, wait_for,
};
use nix::sys::signal::Signal;
use serde_json::Value;

const NAMES: [&str; 4] = ["alpha", "bravo", "charlie", "delta"];
/// Seeds and steps `cargo test` runs.
const DEFAULT_SEEDS: [u64; 5] = [1, 2, 3, 4, 5];
const DEFAULT_STEPS: usize = 40;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum File {
    Absent,
    Valid(u32),
    /// A broken file; the variant this supervisor last accepted, if any.
    Broken(Option<u32>),
}

#[derive(Debug, Clone)]
struct Slot {
    name: &'static str,
    port: u16,
    file: File,
    /// The file was moved to `<name>-moved.yaml` (with `name: <name>`).
    moved: bool,
    /// A copy `copy-of-<name>.yaml` (`name: <name>`) with this variant.
    copy: Option<u32>,
    /// The pid that must not change while a copy sits beside a running
    /// instance (what runs keeps running).
    protected_pid: Option<i32>,
    /// Stopped by the operator (kept across supervisor restarts).
    stopped: bool,
    /// Both its file and a copy were there when the supervisor started:
    /// which one wins is not promised, only that at most one runs.
    ambiguous: bool,
}

impl Slot {
    fn file_name(&self) -> String {
        if self.moved {
            format!("{}-moved.yaml", self.name)
        } else {
            format!("{}.yaml", self.name)
        }
    }

    fn copy_name(&self) -> String {
        format!("copy-of-{}.yaml", self.name)
    }

    /// The variant the supervisor should be running, if any declaration
    /// of this instance stands.
    fn declared(&self) -> Option<u32> {
        match self.file {
            File::Valid(variant) => Some(variant),
            File::Broken(last_good) => last_good,
            File::Absent => self.copy,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Add(usize),
    Edit(usize),
    Break(usize),
    Duplicate(usize),
    RemoveCopy(usize),
    Move(usize),
    Remove(usize),
    KillGateway(usize),
    KillSupervisor,
    Stop(usize),
    Start(usize),
    Restart(usize),
    Reload,
}

struct World {
    daemon: Daemon,
    slots: Vec<Slot>,
    rng: fastrand::Rng,
    next_variant: u32,
    sentinels: Vec<Sentinel>,
    log: Vec<String>,
}

impl World {
    fn new(seed: u64) -> World {
        let base = free_base_port();
        let daemon = Daemon::new(&[]);
        let slots = NAMES
            .iter()
            .zip(0u16..)
            .map(|(name, i)| Slot {
                name,
                port: base + 1000 * i,
                file: File::Absent,
                moved: false,
                copy: None,
                protected_pid: None,
                stopped: false,
                ambiguous: false,
            })
            .collect();
        let mut world = World {
            daemon,
            slots,
            rng: fastrand::Rng::with_seed(seed),
            next_variant: 1,
            sentinels: Vec::new(),
            log: Vec::new(),
        };
        // Two of the four start declared, so the first steps have work.
        for index in 0..2 {
            world.write_valid(index);
        }
        world.sentinels = (0..2)
            .map(|_| Sentinel::start(&world.daemon, &[]))
            .collect();
        world.plant_records();
        world.daemon.start();
        world
    }

    /// Misleading pid records naming the sentinels: one without a start
    /// time, one with the right start time but no spawn marker.
    fn plant_records(&self) {
        let run = self.daemon.state_dir.join("run");
        fs::create_dir_all(&run).expect("run dir");
        let pid = self.sentinels[0].pid();
        fs::write(
            run.join("ghost.json"),
            format!(r#"{{"pid": {pid}, "start_time": null, "marker": "x"}}"#),
        )
        .expect("plant ghost.json");
        let pid = self.sentinels[1].pid();
        let start_time = start_time(pid).expect("sentinel's start time");
        fs::write(
            run.join("zulu.json"),
            format!(r#"{{"pid": {pid}, "start_time": {start_time}, "marker": "not-its-marker"}}"#),
        )
        .expect("plant zulu.json");
    }

    fn variant(&mut self) -> u32 {
        self.next_variant += 1;
        self.next_variant
    }

    fn text(&self, index: usize, variant: u32, with_name: bool) -> String {
        let slot = &self.slots[index];
        let name_line = if with_name {
            format!("name: {}\n", slot.name)
        } else {
            String::new()
        };
        // Probes off: a pid and the state are the proof, and many
        // simulators stay cheap to watch.
        let extra = format!(
            "{name_line}env: {{ RANDOMIZED_VARIANT: \"{variant}\" }}\n\
             restart: {{ backoff: {{ initial: 50ms, max: 200ms }} }}\n\
             stop: {{ timeout: 5s }}\n\
             probes: {{ startup: {{ enabled: false }}, liveness: {{ enabled: false }}, readiness: {{ enabled: false }} }}"
        );
        sim_declaration(self.daemon.path(), slot.name, slot.port, &extra)
    }

    fn write_valid(&mut self, index: usize) {
        let variant = self.variant();
        let moved = self.slots[index].moved;
        let text = self.text(index, variant, moved);
        let path = self.daemon.dir.join(self.slots[index].file_name());
        fs::write(path, text).expect("write a declaration");
        self.slots[index].file = File::Valid(variant);
    }

    fn remove_file(&self, name: &str) {
        fs::remove_file(self.daemon.dir.join(name)).expect("remove a declaration");
    }

    /// Ops that make sense in this state, one picked at random.
    fn pick(&mut self) -> Op {
        loop {
            let index = self.rng.usize(..self.slots.len());
            let slot = &self.slots[index];
            // An instance both of whose files were there at start may be
            // unknown to the supervisor (both refused): no commands to it.
            let known = slot.declared().is_some() && !slot.ambiguous;
            let op = match self.rng.u32(..100) {
                0..12 if slot.file == File::Absent && slot.copy.is_none() => Op::Add(index),
                12..24
                    if matches!(slot.file, File::Valid(_) | File::Broken(_))
                        && slot.copy.is_none() =>
                {
                    Op::Edit(index)
                }
                24..30 if matches!(slot.file, File::Valid(_)) && slot.copy.is_none() => {
                    Op::Break(index)
                }
                30..36
                    if matches!(slot.file, File::Valid(_))
                        && slot.copy.is_none()
                        && !slot.moved =>
                {
                    Op::Duplicate(index)
                }
                36..42 if slot.copy.is_some() => Op::RemoveCopy(index),
                42..46
                    if matches!(slot.file, File::Valid(_))
                        && !slot.moved
                        && slot.copy.is_none() =>
                {
                    Op::Move(index)
                }
                46..54 if slot.file != File::Absent => Op::Remove(index),
                54..66 if known && !slot.stopped => Op::KillGateway(index),
                66..70 if self.a_new_supervisor_would_run() => Op::KillSupervisor,
                70..78 if known => Op::Stop(index),
                78..86 if known => Op::Start(index),
                86..94 if known => Op::Restart(index),
                94..100 => Op::Reload,
                _ => continue,
            };
            return op;
        }
    }

    /// A new supervisor refuses to start (exit 1) when files exist and not
    /// one of them can run: broken, or two files for one name (at start
    /// neither is preferred). The sequence goes on only with a supervisor.
    fn a_new_supervisor_would_run(&self) -> bool {
        let runnable = |slot: &Slot| match slot.file {
            File::Valid(_) => slot.copy.is_none(),
            File::Absent => slot.copy.is_some(),
            File::Broken(_) => false,
        };
        let any_file = self
            .slots
            .iter()
            .any(|slot| slot.file != File::Absent || slot.copy.is_some());
        !any_file || self.slots.iter().any(runnable)
    }

    fn apply(&mut self, op: Op) {
        self.log.push(format!("{op:?}"));
        self.apply_op(op);
        // A file change to a stopped instance shows nowhere in status, so
        // the next step could overwrite it before the supervisor saw it:
        // a `reload` (answered after its rescan) makes sure it was seen.
        let file_op = matches!(
            op,
            Op::Add(_)
                | Op::Edit(_)
                | Op::Break(_)
                | Op::Duplicate(_)
                | Op::RemoveCopy(_)
                | Op::Move(_)
                | Op::Remove(_)
        );
        if file_op && self.slots.iter().any(|slot| slot.stopped) {
            let _ = self.daemon.client(&["reload"]);
        }
    }

    fn apply_op(&mut self, op: Op) {
        match op {
            Op::Add(index) | Op::Edit(index) => {
                let old = self.expected_pid(index);
                self.write_valid(index);
                if let Some(old) = old {
                    self.wait_replaced(index, old);
                }
            }
            Op::Break(index) => {
                let path = self.daemon.dir.join(self.slots[index].file_name());
                fs::write(path, "command: [unclosed\nport: 1\n").expect("break a file");
                let last_good = self.slots[index].declared();
                self.slots[index].file = File::Broken(last_good);
                self.wait_rejected(&self.slots[index].file_name());
            }
            Op::Duplicate(index) => {
                let File::Valid(variant) = self.slots[index].file else {
                    unreachable!("picked only for a valid file")
                };
                let text = self.text(index, variant, true);
                let pid = self.running_pid(index);
                fs::write(self.daemon.dir.join(self.slots[index].copy_name()), text)
                    .expect("write a copy");
                self.slots[index].copy = Some(variant);
                self.slots[index].protected_pid = pid;
                self.wait_rejected(&self.slots[index].copy_name());
            }
            Op::RemoveCopy(index) => {
                self.remove_file(&self.slots[index].copy_name());
                let slot = &mut self.slots[index];
                slot.copy = None;
                slot.protected_pid = None;
                slot.ambiguous = false;
            }
            Op::Move(index) => {
                let old = self.slots[index].file_name();
                self.slots[index].moved = true;
                self.remove_file(&old);
                self.write_valid(index);
            }
            Op::Remove(index) => {
                self.remove_file(&self.slots[index].file_name());
                let slot = &mut self.slots[index];
                slot.file = File::Absent;
                slot.moved = false;
                slot.protected_pid = None;
                slot.ambiguous = false;
            }
            Op::KillGateway(index) => {
                if let Some(pid) = self.running_pid(index) {
                    let _ =
                        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
                    self.slots[index].protected_pid = None;
                    self.wait_replaced(index, pid);
                }
            }
            Op::KillSupervisor => {
                self.daemon.signal(Signal::SIGKILL);
                self.daemon.wait_exit();
                self.plant_records();
                for slot in &mut self.slots {
                    if let File::Broken(_) = slot.file {
                        slot.file = File::Broken(None);
                    }
                    slot.protected_pid = None;
                    slot.ambiguous = slot.copy.is_some() && slot.file != File::Absent;
                }
                self.daemon.start();
            }
            Op::Stop(index) => {
                self.command("stop", index);
                self.slots[index].stopped = true;
                self.slots[index].protected_pid = None;
            }
            Op::Start(index) => {
                self.command("start", index);
                self.slots[index].stopped = false;
            }
            Op::Restart(index) => {
                let old = self.running_pid(index);
                self.command("restart", index);
                self.slots[index].stopped = false;
                self.slots[index].protected_pid = None;
                if let Some(old) = old {
                    self.wait_replaced(index, old);
                }
            }
            Op::Reload => {
                // Exit 1 exactly when a file was rejected (README), and the
                // reply says how many.
                let output = self.daemon.client(&["reload"]);
                let said = format!(
                    "{}{}",
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                );
                let none_rejected = said.contains(" 0 rejected");
                assert_eq!(output.status.success(), none_rejected, "reload: {said}");
                let expect_rejected = self.slots.iter().any(|slot| {
                    matches!(slot.file, File::Broken(_))
                        || (slot.copy.is_some() && slot.file != File::Absent)
                });
                assert_eq!(!none_rejected, expect_rejected, "reload: {said}");
            }
        }
    }

    /// A command to a declared instance: the reply must be a success.
    fn command(&self, verb: &str, index: usize) {
        let name = self.slots[index].name;
        // The instance must be known to the supervisor first (a file
        // written a moment ago may still be on its way in).
        wait_for(&format!("{name} to be known"), || {
            self.daemon.instance(name)
        });
        let output = self.daemon.client(&[verb, name]);
        assert!(
            output.status.success(),
            "`{verb} {name}` answered {:?}: {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn state_dir_of(&self, index: usize) -> PathBuf {
        self.daemon
            .path()
            .join("instances")
            .join(self.slots[index].name)
            .join("state")
    }

    /// Living gateways of this instance (by the state dir in their
    /// environment), whoever started them.
    fn gateways(&self, index: usize) -> Vec<i32> {
        let wanted = format!("OPENCLAW_STATE_DIR={}", self.state_dir_of(index).display());
        tagged(&self.daemon.tag)
            .into_iter()
            .filter(|pid| environ(*pid).contains(&wanted) && !is_keeper(*pid))
            .collect()
    }

    fn running_pid(&self, index: usize) -> Option<i32> {
        let status = self.daemon.instance(self.slots[index].name)?;
        (status.get("state")?.as_str()? == "running")
            .then(|| status.get("pid")?.as_i64().map(|pid| pid as i32))
            .flatten()
    }

    fn expected_pid(&self, index: usize) -> Option<i32> {
        let slot = &self.slots[index];
        if slot.declared().is_some() && !slot.stopped {
            self.running_pid(index)
        } else {
            None
        }
    }

    fn wait_replaced(&self, index: usize, old: i32) {
        let slot = &self.slots[index];
        if slot.stopped || slot.declared().is_none() {
            return;
        }
        wait_for(&format!("{} to replace pid {old}", slot.name), || {
            self.check_at_most_one();
            self.running_pid(index).filter(|pid| *pid != old)
        });
    }

    fn wait_rejected(&self, file: &str) {
        wait_for(&format!("{file} to be rejected"), || {
            self.check_at_most_one();
            let status = self.daemon.status_json();
            status["rejected"]
                .as_array()?
                .iter()
                .any(|entry| entry["file"].as_str().is_some_and(|f| f.ends_with(file)))
                .then_some(())
        });
    }

    /// At most one gateway per instance, and the sentinels alive: at every look.
    fn check_at_most_one(&self) {
        for index in 0..self.slots.len() {
            let gateways = self.gateways(index);
            assert!(
                gateways.len() <= 1,
                "{} has {} gateways: {gateways:?}",
                self.slots[index].name,
                gateways.len()
            );
        }
        for sentinel in &self.sentinels {
            assert!(
                alive(sentinel.pid()),
                "sentinel {} was signalled",
                sentinel.pid()
            );
        }
    }

    /// Wait until the supervisor's view matches the model.
    fn settle(&self) {
        let started = Instant::now();
        loop {
            self.check_at_most_one();
            let all = self
                .slots
                .iter()
                .enumerate()
                .all(|(index, slot)| self.matches(index, slot));
            if all {
                return;
            }
            assert!(
                started.elapsed() < daemon_support::DEADLINE,
                "the supervisor does not match the model (steps: {:?}):\n{}",
                self.log,
                self.describe()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What the model expects and what the supervisor shows, per mismatch.
    fn describe(&self) -> String {
        self.slots
            .iter()
            .enumerate()
            .filter(|(index, slot)| !self.matches(*index, slot))
            .map(|(index, slot)| {
                let gateways = self.gateways(index);
                let variants: Vec<String> = gateways
                    .iter()
                    .flat_map(|pid| environ(*pid))
                    .filter(|entry| entry.starts_with("RANDOMIZED_VARIANT="))
                    .collect();
                format!(
                    "{slot:?}\n    status: {}\n    gateways: {gateways:?} {variants:?}",
                    self.daemon
                        .instance(slot.name)
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| "absent".into()),
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn matches(&self, index: usize, slot: &Slot) -> bool {
        let status: Option<Value> = self.daemon.instance(slot.name);
        let state = status
            .as_ref()
            .and_then(|s| s.get("state")?.as_str().map(String::from));
        let gateways = self.gateways(index);
        let Some(variant) = slot.declared() else {
            // Undeclared: gone from status, no process.
            return status.is_none() && gateways.is_empty();
        };
        if slot.ambiguous {
            // Both files refused at start (unknown to status) or one of them
            // kept: only "at most one gateway" is promised, and none while
            // the operator's stop holds.
            return !slot.stopped || gateways.is_empty();
        }
        if slot.stopped {
            return state.as_deref() == Some("stopped") && gateways.is_empty();
        }
        let Some(pid) = self.running_pid(index) else {
            return false;
        };
        if let Some(protected) = slot.protected_pid {
            assert_eq!(
                pid, protected,
                "{}: a copy of its file disturbed the running instance",
                slot.name
            );
        }
        let wanted = format!("RANDOMIZED_VARIANT={variant}");
        gateways == [pid] && environ(pid).contains(&wanted)
    }

    fn finish(mut self) {
        self.daemon.signal(Signal::SIGTERM);
        let exit = self.daemon.wait_exit();
        assert!(exit.success(), "shutdown: {exit:?}");
        let sentinels: Vec<i32> = self.sentinels.iter().map(Sentinel::pid).collect();
        let left: Vec<i32> = tagged(&self.daemon.tag)
            .into_iter()
            .filter(|pid| !sentinels.contains(pid))
            .collect();
        assert!(left.is_empty(), "left after shutdown: {left:?}");
        for sentinel in &self.sentinels {
            assert!(alive(sentinel.pid()), "a sentinel was signalled");
        }
    }
}

/// One seed: `steps` random steps, each followed by the invariants.
fn run_seed(seed: u64, steps: usize) -> Result<(), String> {
    println!("randomized: seed {seed}, {steps} steps");
    // A thread per seed: the test ports it claims are released when its
    // thread ends (they are held per thread), so a soak never runs out.
    let outcome = std::thread::spawn(move || {
        let mut world = World::new(seed);
        world.settle();
        for step in 0..steps {
            let op = world.pick();
            let started = Instant::now();
            world.apply(op);
            world.settle();
            println!(
                "  step {step:>3}: {op:?} ({} ms)",
                started.elapsed().as_millis()
            );
        }
        world.finish();
    })
    .join();
    outcome.map_err(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        format!("seed {seed} failed: {message}\n  replay: cargo test --test randomized -- --seed {seed} --steps {steps}")
    })
}

struct Options {
    seeds: Vec<u64>,
    steps: usize,
    soak: Option<Duration>,
}

fn options() -> Options {
    let mut options = Options {
        seeds: DEFAULT_SEEDS.to_vec(),
        steps: DEFAULT_STEPS,
        soak: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |what: &str| {
            args.next()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("{arg} needs a number ({what})"))
        };
        match arg.as_str() {
            "--seed" => options.seeds = vec![value("a seed")],
            "--steps" => options.steps = value("steps per seed") as usize,
            "--soak" => options.soak = Some(Duration::from_secs(60 * value("minutes"))),
            // libtest's own flags (`--nocapture`, a filter, ...) mean nothing here.
            _ => {}
        }
    }
    options
}

fn main() {
    let options = options();
    let mut failures = Vec::new();
    let mut passed = 0usize;
    let mut steps = 0usize;
    let started = Instant::now();
    let mut seeds = options.seeds.clone().into_iter();
    let mut next_seed = || -> Option<u64> {
        match options.soak {
            Some(limit) if started.elapsed() < limit => Some(fastrand::u64(..)),
            Some(_) => None,
            None => seeds.next(),
        }
    };
    while let Some(seed) = next_seed() {
        match run_seed(seed, options.steps) {
            Ok(()) => passed += 1,
            Err(failure) => failures.push(failure),
        }
        steps += options.steps;
    }
    for failure in &failures {
        eprintln!("{failure}");
    }
    println!(
        "randomized: {} seeds, {steps} steps in {:.0} s",
        passed + failures.len(),
        started.elapsed().as_secs_f64()
    );
    println!(
        "test result: {}. {passed} passed; {} failed",
        if failures.is_empty() { "ok" } else { "FAILED" },
        failures.len()
    );
    if !failures.is_empty() {
        std::process::exit(1);
    }
}
