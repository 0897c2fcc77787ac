//! Reload: rescan the declarations and apply the new set as a diff.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::{Rejected, ReloadOutcome, Supervisor, fingerprint};
use crate::instance::Command;
use crate::openclaw::Effective;
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
                item.name.as_deref().unwrap_or("-"),
                "rejected",
                item.located(),
            );
        }
        self.rejected = rejected;
        names
    }

    /// Rescan the declarations and apply the difference. A file that does
    /// not parse, or a change that would conflict, is rejected: its instance
    /// keeps running on its last good declaration.
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
        let plan = resolution::plan(scan, &running);
        let mut outcome = ReloadOutcome::default();
        let mut rejected: Vec<Rejected> = plan.rejected;
        // The running set itself conflicts (an OpenClaw config file changed
        // under a running instance): report, change nothing.
        for conflict in plan.standing {
            tracing::error!(conflict = %conflict.message, "running instances now conflict");
            rejected.push(Rejected {
                file: PathBuf::new(),
                name: conflict.instances.first().cloned(),
                reason: conflict.message,
            });
        }
        let wanted = plan.wanted;
        outcome.rejected = self.record_rejected(rejected);

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
        self.emit("-", "reloaded", outcome.summary());
        outcome
    }
}
