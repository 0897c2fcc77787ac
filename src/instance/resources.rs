//! The actor's side of an instance's resources: its `limits`, written into
//! its cgroup, and its memory guard (`restart.memory_above`), fed a reading
//! of the tree while the gateway runs. The decisions are pure (`limits`,
//! `memory_guard`); this is where the actor carries them out.

use std::path::Path;
use std::time::Instant;

use super::{Actor, InstanceConfig};
use crate::declaration::LimitsSpec;
use crate::lifecycle::{Event, State};
use crate::memory_guard::{Guard as MemoryGuard, Verdict};

pub(super) fn memory_guard_of(config: &InstanceConfig) -> Option<MemoryGuard> {
    config
        .effective
        .declaration
        .restart
        .memory_above
        .map(MemoryGuard::new)
}

pub(super) fn limits_of(
    config: &InstanceConfig,
    cgroups: &crate::cgroup::Mode,
) -> crate::limits::Plan {
    crate::limits::plan(&config.effective.declaration.limits, &cgroups.controllers())
}

/// One warning per declared limit that is not applied.
pub(super) fn warn_not_applied(name: &str, plan: &crate::limits::Plan) {
    for limit in &plan.limits {
        if let Err(why) = &limit.applied {
            tracing::warn!(
                instance = %name,
                "{name}: limits.{} {} is not applied: {why}",
                limit.controller.name(),
                limit.value
            );
        }
    }
}

impl Actor {
    /// Plan the limits anew and write them into the instance's cgroup
    /// `dir` (before a spawn, or in place at a reload: the kernel applies
    /// them to the running tree); a warning when what is applied changed.
    pub(super) fn apply_limits(&mut self, dir: &Path) {
        let before = std::mem::take(&mut self.limits.limits);
        self.limits = limits_of(&self.config, &self.shared.cgroups);
        crate::cgroup::apply_limits(dir, &mut self.limits);
        if self.limits.limits != before {
            warn_not_applied(&self.name, &self.limits);
        }
    }

    /// After a reload: a changed guard counts from its first reading; changed
    /// limits are written at once into a running gateway's cgroup, else
    /// planned for the next spawn.
    pub(super) fn reconfigure_resources(&mut self, limits_before: LimitsSpec) {
        let guard = memory_guard_of(&self.config);
        if guard.as_ref().map(MemoryGuard::spec)
            != self.memory_guard.as_ref().map(MemoryGuard::spec)
        {
            self.memory_guard = guard;
            self.memory_check_at = None;
        }
        if self.config.effective.declaration.limits == limits_before {
            return;
        }
        match (&self.shared.cgroups, self.child.is_some()) {
            (crate::cgroup::Mode::Cgroup(subtree), true) => {
                let dir = subtree.instance_dir(&self.name);
                self.apply_limits(&dir);
            }
            _ => {
                self.limits = limits_of(&self.config, &self.shared.cgroups);
                warn_not_applied(&self.name, &self.limits);
            }
        }
    }

    /// Readings are due every interval while the gateway runs with a
    /// guard; leaving `running` ends the episode, so each new gateway (and
    /// each new guard) counts from nothing.
    pub(super) fn arm_memory_check(&mut self) {
        let running = matches!(self.lifecycle.state, State::Running { .. });
        match (&mut self.memory_guard, running) {
            (Some(guard), true) => {
                if self.memory_check_at.is_none() {
                    guard.reset();
                    let interval = crate::memory_guard::sample_interval(&guard.spec());
                    self.memory_check_at = Some(Instant::now() + interval);
                }
            }
            _ => self.memory_check_at = None,
        }
    }

    /// One reading of the tree for the guard; a restart when it says so.
    /// True when the instance is to be forgotten.
    pub(super) async fn check_memory(&mut self) -> bool {
        let Some(guard) = self.memory_guard.as_mut() else {
            self.memory_check_at = None;
            return false;
        };
        let spec = guard.spec();
        let bytes = self
            .child
            .as_ref()
            .filter(|child| child.leader_exit.is_none())
            .and_then(|child| {
                self.tree_memory
                    .tree_memory_bytes(&self.tracking, child.pid)
            });
        let now = Instant::now();
        self.memory_check_at = Some(now + crate::memory_guard::sample_interval(&spec));
        match guard.reading(now, bytes) {
            Verdict::Keep => false,
            Verdict::Restart { bytes, .. } => {
                let detail = crate::memory_guard::describe(&spec, bytes);
                tracing::debug!(instance = %self.name, %detail, "the memory guard restarts the gateway");
                self.memory_guard_detail = Some(detail);
                self.handle(Event::MemoryAbove).await
            }
        }
    }
}
