//! The supervisor's public face: the handle other tasks use to talk to its
//! loop, the messages it sends, and the records the loop hands back.

use std::sync::Arc;
use std::time::SystemTime;

use nix::sys::signal::Signal;
use serde::Serialize;
use tokio::sync::{broadcast, mpsc, oneshot};

use super::SupervisorError;
use crate::instance::{InstanceConfig, InstanceHandle, Snapshot, Ticket};
use crate::journal::Subject;
use crate::openclaw::EnvMap;
use crate::openclaw::validate::Verdict;
use crate::protocol::EventKind;

/// A state change anyone may follow (`events`).
#[derive(Debug, Clone, Serialize)]
pub struct EventRecord {
    pub at: SystemTime,
    /// The instance it is about; none for the supervisor's own.
    pub instance: Option<String>,
    pub kind: EventKind,
    pub detail: String,
    /// Its number: one more than the last event's, across restarts.
    pub seq: u64,
    /// The gateway's pid, when one is known.
    pub pid: Option<i32>,
}

/// A declaration file the supervisor refused, shown by status and check:
/// the resolution's own `FileError` (a running set that now conflicts has
/// no file: an empty path).
pub use crate::resolution::FileError as Rejected;

#[derive(Debug, Clone)]
pub struct StatusReport {
    pub instances: Vec<Snapshot>,
    pub rejected: Vec<Rejected>,
    /// The last wake of each rescue with `wake` that was woken.
    pub wakes: std::collections::BTreeMap<String, super::WakeReport>,
}

/// What a reload did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReloadOutcome {
    pub added: Vec<String>,
    pub restarted: Vec<String>,
    pub updated: Vec<String>,
    pub removed: Vec<String>,
    /// The refused files by file name (an instance name where no file is
    /// to blame: running instances whose OpenClaw configs now conflict).
    pub rejected: Vec<String>,
}

impl ReloadOutcome {
    /// One line naming what changed, e.g. `added: b; restarted: a`.
    pub fn summary(&self) -> String {
        let parts: Vec<String> = [
            ("added", &self.added),
            ("restarted", &self.restarted),
            ("updated", &self.updated),
            ("removed", &self.removed),
            ("rejected", &self.rejected),
        ]
        .iter()
        .filter(|(_, names)| !names.is_empty())
        .map(|(what, names)| format!("{what}: {}", names.join(", ")))
        .collect();
        if parts.is_empty() {
            "nothing changed".to_string()
        } else {
            parts.join("; ")
        }
    }
}

pub(super) enum Message {
    Status {
        name: Option<String>,
        reply: oneshot::Sender<Result<StatusReport, SupervisorError>>,
    },
    Control {
        name: String,
        command: ControlCommand,
        reply: oneshot::Sender<Result<Controlled, SupervisorError>>,
    },
    Handle {
        name: String,
        reply: oneshot::Sender<Result<InstanceHandle, SupervisorError>>,
    },
    /// What a `config validate` of the instance runs with.
    Validation {
        name: String,
        reply: oneshot::Sender<Result<ValidationInput, SupervisorError>>,
    },
    Reload {
        reply: Option<oneshot::Sender<ReloadOutcome>>,
    },
    /// A reload's reading of the files is back (`None`: it failed).
    Scanned {
        scanned: Option<Box<super::reload::Scanned>>,
        replies: Vec<Option<oneshot::Sender<ReloadOutcome>>>,
    },
    Shutdown,
    /// The removed instances an added one was waiting for are gone.
    StartAfterLeavers {
        name: String,
    },
    StandbyCheck {
        rescued: String,
        generation: u64,
    },
    /// A wake's answer, or its retry is due.
    Wake(super::wake::WakeMessage),
    /// Re-execute in place (`reexec`; SIGUSR2 without a reply).
    Reexec {
        reply: Option<super::reexec::ReexecReply>,
    },
}

#[derive(Debug, Clone, Copy)]
pub enum ControlCommand {
    Start,
    Stop,
    Restart,
    Signal(Signal),
}

/// An operator's command, sent to its instance: the ticket to await its
/// outcome (outside the loop), and why the changed intent could not be
/// saved yet, if it could not (it is retried).
#[derive(Debug)]
pub struct Controlled {
    pub ticket: Ticket,
    pub unsaved: Option<String>,
}

/// An instance's handle and what its gateway is spawned with.
pub struct ValidationInput {
    pub handle: InstanceHandle,
    pub config: Arc<InstanceConfig>,
    pub inherited_env: EnvMap,
}

/// A cheap, clonable way to talk to the supervisor loop.
#[derive(Clone)]
pub struct SupervisorHandle {
    pub(super) messages: mpsc::UnboundedSender<Message>,
    pub(super) events: crate::journal::EventBus,
    /// Closed the moment shutdown is asked for, before the loop hears of it.
    pub(super) spawner: crate::process::Spawner,
    pub(super) alerts: crate::alert::Alerts,
    /// The supervisor's state dir (`last-good/` is read from it).
    pub(super) state_dir: std::path::PathBuf,
    /// Set the moment shutdown is asked for: a re-exec under way then
    /// does not exec (the loop shuts down instead).
    pub(super) shutdown_asked: Arc<std::sync::atomic::AtomicBool>,
}

impl SupervisorHandle {
    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Message,
    ) -> Result<T, SupervisorError> {
        let (reply, answer) = oneshot::channel();
        self.messages
            .send(make(reply))
            .map_err(|_| SupervisorError::ShuttingDown)?;
        answer.await.map_err(|_| SupervisorError::ShuttingDown)
    }

    pub fn state_dir(&self) -> &std::path::Path {
        &self.state_dir
    }

    pub async fn status(&self, name: Option<String>) -> Result<StatusReport, SupervisorError> {
        self.ask(|reply| Message::Status { name, reply }).await?
    }

    /// Send an operator's command to its instance: the ticket to await
    /// (the loop goes on meanwhile), and why the changed intent could not
    /// be saved for the next supervisor yet, when it could not (it is
    /// retried).
    pub async fn control(
        &self,
        name: &str,
        command: ControlCommand,
    ) -> Result<Controlled, SupervisorError> {
        let name = name.to_string();
        self.ask(|reply| Message::Control {
            name,
            command,
            reply,
        })
        .await?
    }

    /// The handle of one instance (for its logs).
    pub async fn instance(&self, name: &str) -> Result<InstanceHandle, SupervisorError> {
        let name = name.to_string();
        self.ask(|reply| Message::Handle { name, reply }).await?
    }

    /// openclaw's verdict on the config of `name`'s running gateway, asked
    /// before a restart stops it (`None`: no gateway runs, nothing to keep).
    /// Runs outside the loop and the actor, which go on meanwhile. A
    /// refusal is a `command` event (`restart refused: ...`).
    pub async fn validate_running(&self, name: &str) -> Result<Option<Verdict>, SupervisorError> {
        let name = name.to_string();
        let input = self
            .ask(|reply| Message::Validation { name, reply })
            .await??;
        if input.handle.snapshot.borrow().pid.is_none() {
            return Ok(None);
        }
        let env = input.config.child_env(&input.inherited_env);
        let verdict = crate::validator::validate(
            &self.spawner,
            &input.config.effective,
            env,
            crate::validator::DEFAULT_DEADLINE,
        )
        .await;
        if let Verdict::Invalid { reasons } = &verdict {
            self.events.emit(
                Subject::Instance(&input.handle.name),
                EventKind::Command,
                format!(
                    "restart refused: openclaw refuses the config: {}",
                    reasons.join("; ")
                ),
                input.handle.snapshot.borrow().pid,
            );
        }
        Ok(Some(verdict))
    }

    pub async fn reload(&self) -> Result<ReloadOutcome, SupervisorError> {
        self.ask(|reply| Message::Reload { reply: Some(reply) })
            .await
    }

    /// Ask for a reload without waiting for it (SIGHUP, file events).
    pub fn request_reload(&self) {
        let _ = self.messages.send(Message::Reload { reply: None });
    }

    /// Re-execute the supervisor in place: `Accepted` once the exec is
    /// next, or why it is refused (the supervisor goes on).
    pub async fn reexec(&self) -> Result<Result<super::Accepted, String>, SupervisorError> {
        self.ask(|reply| Message::Reexec { reply: Some(reply) })
            .await
    }

    /// Ask for a re-exec without waiting for it (SIGUSR2).
    pub fn request_reexec(&self) {
        let _ = self.messages.send(Message::Reexec { reply: None });
    }

    /// Begin the shutdown (a `shutdown` request).
    pub fn shutdown(&self) {
        self.shutdown_because("shutdown requested");
    }

    /// Begin the shutdown: nothing is spawned from this call on (the
    /// spawner is closed here, not when the loop gets to the message), then
    /// the loop stops every instance.
    pub fn shutdown_because(&self, why: &str) {
        self.spawner.close(why);
        self.shutdown_asked
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = self.messages.send(Message::Shutdown);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<EventRecord> {
        self.events.subscribe()
    }

    /// The last event about `name` since the supervisor started.
    pub fn last_event(&self, name: &str) -> Option<EventRecord> {
        self.events.last_event(name)
    }

    /// The last run of `name`'s `notify` command.
    pub fn last_notify(&self, name: &str) -> Option<crate::protocol::LastNotify> {
        self.alerts.last(name)
    }

    /// Where events go: the live stream and the journal.
    pub fn events(&self) -> &crate::journal::EventBus {
        &self.events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reload_summary_names_only_what_changed() {
        let names = |list: &[&str]| list.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        let rows = vec![
            (ReloadOutcome::default(), "nothing changed"),
            (
                ReloadOutcome {
                    added: names(&["b"]),
                    ..Default::default()
                },
                "added: b",
            ),
            (
                ReloadOutcome {
                    added: names(&["c"]),
                    removed: names(&["a"]),
                    ..Default::default()
                },
                "added: c; removed: a",
            ),
            (
                ReloadOutcome {
                    restarted: names(&["a", "b"]),
                    updated: names(&["c"]),
                    rejected: names(&["d"]),
                    ..Default::default()
                },
                "restarted: a, b; updated: c; rejected: d",
            ),
        ];
        for (outcome, expected) in rows {
            assert_eq!(outcome.summary(), expected, "{outcome:?}");
        }
    }
}
