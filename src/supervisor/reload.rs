//! Reload: rescan the declarations and apply the new set as a diff.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::reload_plan::{Context, Current, ReloadPlan, plan_reload};
use super::{Rejected, ReloadOutcome, Supervisor, fingerprint};
use crate::instance::Command;
use crate::journal::Subject;
use crate::openclaw::Effective;
use crate::protocol::EventKind;
use crate::resolution;

impl Supervisor {
    /// Log, announce and keep (for `status`) the refused files; their names,
    /// once each, as a reload reports them.
    pub(super) fn record_rejected(&mut self, rejected: Vec<Rejected>) -> Vec<String> {
        let mut names = Vec::new();
        for item in &rejected {
            tracing::debug!(file = %item.file.display(), reason = %item.reason, "declaration rejected");
            // A file that does not parse has no instance name: count it by
            // its file name, so a reload never reports a refusal as success.
            let label = item.label();
            if !names.contains(&label) {
                names.push(label);
            }
            self.emit(
                Subject::from(item.name.as_deref()),
                EventKind::Rejected,
                item.located(),
            );
        }
        self.rejected = rejected;
        names
    }

    /// Rescan the declarations and apply the difference. A file that does
    /// not parse, or a change that would conflict, is rejected: its instance
    /// keeps running on its last good declaration. The files are read here;
    /// what to do is [`plan_reload`]'s to decide; this only applies it.
    pub(super) fn reload(&mut self) -> ReloadOutcome {
        let running: BTreeMap<String, Effective> = self
            .instances
            .iter()
            .map(|(name, entry)| (name.clone(), entry.config.effective.clone()))
            .collect();
        let files = running
            .iter()
            .map(|(name, effective)| (name.clone(), effective.file.clone()))
            .collect();
        let scan = resolution::scan_keeping(&self.options.dir, &self.options.inherited_env, &files);
        let resolved = resolution::plan(scan, &running);
        // An OpenClaw config file that changed (even where the footprint
        // did not) retries an instance that failed on its configuration;
        // the gateway reloads its own config otherwise.
        let fingerprints: BTreeMap<String, Option<u64>> = resolved
            .wanted
            .iter()
            .filter(|(name, _)| self.instances.contains_key(*name))
            .map(|(name, effective)| (name.clone(), fingerprint(&effective.config_path)))
            .collect();
        let current: BTreeMap<String, Current> = self
            .instances
            .iter()
            .map(|(name, entry)| {
                let current = Current {
                    config: &entry.config,
                    fingerprint: entry.config_fingerprint,
                };
                (name.clone(), current)
            })
            .collect();
        let context = Context {
            socket_path: &self.options.socket_path,
            inherited_env: &self.options.inherited_env,
        };
        let plan = plan_reload(&current, resolved, &fingerprints, &context);
        self.apply(plan)
    }

    /// Apply a reload's plan: announce the refusals, remove, add,
    /// reconfigure, tell the changed config files, then the `reloaded`
    /// event.
    fn apply(&mut self, plan: ReloadPlan) -> ReloadOutcome {
        let mut outcome = ReloadOutcome {
            rejected: self.record_rejected(plan.rejected),
            ..ReloadOutcome::default()
        };
        for name in plan.remove {
            if let Some(entry) = self.instances.remove(&name) {
                entry.handle.send(Command::Remove);
                self.leaving.push(entry.handle);
                self.emit(Subject::Instance(&name), EventKind::Removed, String::new());
                outcome.removed.push(name);
            }
        }
        for effective in plan.add {
            outcome.added.push(effective.name.clone());
            self.add(effective);
        }
        for change in plan.reconfigure {
            let Some(entry) = self.instances.get_mut(&change.name) else {
                continue;
            };
            entry.handle.send(Command::Reconfigure {
                config: Box::new(change.config.clone()),
                restart: change.restart,
            });
            entry.config = Arc::new(change.config);
            if change.restart {
                outcome.restarted.push(change.name);
            } else {
                outcome.updated.push(change.name);
            }
        }
        for changed in plan.changed {
            if let Some(entry) = self.instances.get_mut(&changed.name) {
                entry.config_fingerprint = changed.fingerprint;
                entry.handle.send(Command::Changed);
            }
        }
        self.leaving.retain(|handle| !handle.is_closed());
        self.watch_configs();
        tracing::debug!(
            added = ?outcome.added,
            restarted = ?outcome.restarted,
            updated = ?outcome.updated,
            removed = ?outcome.removed,
            rejected = ?outcome.rejected,
            "declarations rescanned"
        );
        // Every rescan is an event, even one that changed nothing, so a
        // follower can tell that a change was (or was not) acted on.
        self.emit(Subject::Supervisor, EventKind::Reloaded, outcome.summary());
        outcome
    }
}
