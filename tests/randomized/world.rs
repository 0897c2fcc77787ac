//! The world: the supervisor, its declarations dir, the model and the
//! sentinels; a step picked among the operations that make sense, and
//! applied (each waits for what it must change).

use std::fs;

use nix::sys::signal::Signal;

use crate::daemon_support::{
    Daemon, Sentinel, free_base_port, sim_declaration, start_time, wait_for,
};
use crate::model::{File, Op, Slot};

const NAMES: [&str; 4] = ["alpha", "bravo", "charlie", "delta"];

pub(crate) struct World {
    pub(crate) daemon: Daemon,
    pub(crate) slots: Vec<Slot>,
    pub(crate) rng: fastrand::Rng,
    pub(crate) next_variant: u32,
    pub(crate) sentinels: Vec<Sentinel>,
    pub(crate) log: Vec<String>,
}

impl World {
    pub(crate) fn new(seed: u64) -> World {
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
    pub(crate) fn pick(&mut self) -> Op {
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

    pub(crate) fn apply(&mut self, op: Op) {
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
}
