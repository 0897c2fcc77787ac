//! Adding an instance to the registry: its config (a rescue gets the
//! control socket), the gateway it adopts and its state from before a
//! re-exec, and a start held until removed instances in its way are gone.

use std::sync::Arc;

use super::reload_plan::instance_config;
use super::{Entry, Message, Supervisor, fingerprint};
use crate::instance::{self, Command, InstanceHandle};
use crate::journal::Subject;
use crate::openclaw::Effective;
use crate::protocol::EventKind;
use crate::resolution;

impl Supervisor {
    pub(super) fn add(&mut self, effective: Effective) {
        let config_fingerprint = fingerprint(&effective.config_path);
        self.add_read(effective, config_fingerprint);
    }

    /// [`Supervisor::add`] with its OpenClaw config's fingerprint read
    /// already (a reload reads it off the loop).
    pub(super) fn add_read(&mut self, effective: Effective, config_fingerprint: Option<u64>) {
        let name = effective.name.clone();
        let stopped_by_hand = self.intent.stopped.contains(&name);
        let start = !effective.declaration.standby && !stopped_by_hand;
        // A removed instance may still be stopping on the same ports or
        // state dir (a renamed file is exactly that): start once it is gone,
        // or the new gateway would find them taken.
        let blockers = if start {
            self.leavers_in_the_way(&effective)
        } else {
            Vec::new()
        };
        let config = instance_config(effective, &self.options.socket_path);
        let (adopted, adoption) = match self.adoptions.remove(&name) {
            Some((adopted, adoption)) => (adopted, Some(adoption)),
            None => (None, None),
        };
        let handle = instance::spawn_instance_adopting(
            config.clone(),
            self.shared.clone(),
            start && blockers.is_empty(),
            adopted,
            adoption,
            self.restored.remove(&name),
        );
        if stopped_by_hand && config.effective.declaration.standby {
            // A standby rescue begins in standby, where a failure of its main
            // would start it; the operator's stop must hold instead.
            handle.send(Command::Stop);
        }
        if blockers.is_empty() {
            self.emit(Subject::Instance(&name), EventKind::Added, String::new());
        } else {
            let names: Vec<&str> = blockers.iter().map(|h| h.name.as_str()).collect();
            self.emit(
                Subject::Instance(&name),
                EventKind::Added,
                format!("starting once {} has stopped", names.join(", ")),
            );
            let messages = self.messages_tx.clone();
            let name = name.clone();
            tokio::spawn(async move {
                for blocker in blockers {
                    blocker.closed().await;
                }
                let _ = messages.send(Message::StartAfterLeavers { name });
            });
        }
        self.instances.insert(
            name,
            Entry {
                handle,
                config: Arc::new(config),
                config_fingerprint,
            },
        );
    }

    /// The instances still stopping after their removal whose footprint
    /// meets `effective`'s.
    pub(super) fn leavers_in_the_way(&self, effective: &Effective) -> Vec<InstanceHandle> {
        self.leaving
            .iter()
            .filter(|handle| !handle.is_closed())
            .filter(|handle| {
                let leaver = handle.snapshot.borrow().config.effective.clone();
                resolution::conflicts(&[leaver.clone(), effective.clone()])
                    .iter()
                    .any(|c| {
                        c.instances.contains(&leaver.name) && c.instances.contains(&effective.name)
                    })
            })
            .cloned()
            .collect()
    }
}

impl InstanceHandle {
    pub(super) fn is_closed(&self) -> bool {
        self.snapshot.has_changed().is_err()
    }
}
