//! Reload: rescan the declarations and apply the new set as a diff.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::reload_plan::{Context, Current, ReloadPlan, plan_reload};
use tokio::sync::oneshot;

use super::handle::Message;
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

    /// A reload asked for (`reply`, when someone waits for its outcome).
    /// The files are read off the loop ([`Supervisor::scan`]): the loop
    /// goes on answering, and pinging systemd's watchdog, while a slow disk
    /// or a huge directory is read. One scan at a time: a reload asked
    /// meanwhile waits for the next, which sees its change.
    pub(super) fn reload_asked(&mut self, reply: Option<oneshot::Sender<ReloadOutcome>>) {
        self.reloads.waiting.push(reply);
        if !self.reloads.scanning {
            self.scan();
        }
    }

    /// Read the declarations and the OpenClaw config files on the blocking
    /// pool; the result comes back to the loop as [`Message::Scanned`].
    fn scan(&mut self) {
        if let Some(notifier) = &self.notifier {
            notifier.reloading();
        }
        self.reloads.scanning = true;
        let replies = std::mem::take(&mut self.reloads.waiting);
        let running: BTreeMap<String, Effective> = self
            .instances
            .iter()
            .map(|(name, entry)| (name.clone(), entry.config.effective.clone()))
            .collect();
        let dir = self.options.dir.clone();
        let inherited = self.options.inherited_env.clone();
        let messages = self.messages_tx.clone();
        tokio::spawn(async move {
            let read = tokio::task::spawn_blocking(move || read_set(&dir, &inherited, &running));
            let scanned = match read.await {
                Ok(scanned) => Some(scanned),
                Err(err) => {
                    tracing::error!(error = %err, "the rescan of the declarations failed");
                    None
                }
            };
            let _ = messages.send(Message::Scanned {
                scanned: scanned.map(Box::new),
                replies,
            });
        });
    }

    /// A scan is back: plan with [`plan_reload`], apply, answer, and scan
    /// again if a reload was asked meanwhile.
    pub(super) fn scanned(
        &mut self,
        scanned: Option<Box<Scanned>>,
        replies: Vec<Option<oneshot::Sender<ReloadOutcome>>>,
    ) {
        let outcome = match scanned {
            Some(scanned) => self.reload(*scanned),
            None => ReloadOutcome::default(),
        };
        if let Some(notifier) = &self.notifier {
            notifier.ready();
        }
        self.publish_status();
        for reply in replies.into_iter().flatten() {
            let _ = reply.send(outcome.clone());
        }
        self.reloads.scanning = false;
        if !self.reloads.waiting.is_empty() {
            self.scan();
        }
    }

    /// Apply the difference of a scan. A file that does not parse, or a
    /// change that would conflict, is rejected: its instance keeps running
    /// on its last good declaration. What to do is [`plan_reload`]'s to
    /// decide; this only applies it.
    fn reload(&mut self, scanned: Scanned) -> ReloadOutcome {
        let Scanned {
            resolved,
            fingerprints,
        } = scanned;
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
        self.apply(plan, &fingerprints)
    }

    /// Apply a reload's plan: announce the refusals, remove, add,
    /// reconfigure, tell the changed config files, then the `reloaded`
    /// event.
    fn apply(
        &mut self,
        plan: ReloadPlan,
        fingerprints: &BTreeMap<String, Option<u64>>,
    ) -> ReloadOutcome {
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
            let read = fingerprints.get(&effective.name).copied().flatten();
            self.add_read(effective, read);
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

/// What a reload reads: the declarations resolved and planned against the
/// running set (only reloads change that set, and one runs at a time), and
/// the fingerprint of each wanted instance's OpenClaw config file (a
/// running instance that failed on its configuration is retried when it
/// changed; a new one starts from it).
pub(super) struct Scanned {
    resolved: resolution::Plan,
    fingerprints: BTreeMap<String, Option<u64>>,
}

/// The reloads asked for: a scan under way, and who waits for the next.
#[derive(Default)]
pub(super) struct Reloads {
    scanning: bool,
    waiting: Vec<Option<oneshot::Sender<ReloadOutcome>>>,
}

/// The file IO of a reload, on the blocking pool.
fn read_set(
    dir: &std::path::Path,
    inherited: &crate::openclaw::EnvMap,
    running: &BTreeMap<String, Effective>,
) -> Scanned {
    let files = running
        .iter()
        .map(|(name, effective)| (name.clone(), effective.file.clone()))
        .collect();
    let scan = resolution::scan_keeping(dir, inherited, &files);
    let resolved = resolution::plan(scan, running);
    // Every instance of the new set: a running one's config may have
    // changed, a new one's is its first reading.
    let fingerprints = resolved
        .wanted
        .iter()
        .map(|(name, effective)| (name.clone(), fingerprint(&effective.config_path)))
        .collect();
    Scanned {
        resolved,
        fingerprints,
    }
}
