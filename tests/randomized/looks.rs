//! What the supervisor shows against the model: its gateways (by state
//! dir), the running pid, waits for a change, the invariants checked at
//! every look, and the shutdown at the end.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::Value;

use crate::daemon_support::{self, Sentinel, alive, environ, is_keeper, tagged, wait_for};
use crate::model::Slot;
use crate::world::World;

impl World {
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

    pub(crate) fn running_pid(&self, index: usize) -> Option<i32> {
        let status = self.daemon.instance(self.slots[index].name)?;
        (status.get("state")?.as_str()? == "running")
            .then(|| status.get("pid")?.as_i64().map(|pid| pid as i32))
            .flatten()
    }

    pub(crate) fn expected_pid(&self, index: usize) -> Option<i32> {
        let slot = &self.slots[index];
        if slot.declared().is_some() && !slot.stopped {
            self.running_pid(index)
        } else {
            None
        }
    }

    pub(crate) fn wait_replaced(&self, index: usize, old: i32) {
        let slot = &self.slots[index];
        if slot.stopped || slot.declared().is_none() {
            return;
        }
        wait_for(&format!("{} to replace pid {old}", slot.name), || {
            self.check_at_most_one();
            self.running_pid(index).filter(|pid| *pid != old)
        });
    }

    pub(crate) fn wait_rejected(&self, file: &str) {
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
    pub(crate) fn settle(&self) {
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

    pub(crate) fn finish(mut self) {
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
