//! The actor's side of last known good (`crate::lastgood`): what a gateway
//! was spawned with, recorded once it passes its startup; the rollback an
//! operator asks for, and the one `rollback: auto` makes after an exit 78.
//! The file work runs on the blocking pool.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::oneshot;

use super::{Actor, InstanceNotice};
use crate::declaration::RollbackMode;
use crate::lastgood::{self, AutoDecision, AutoFacts, Store, diff};
use crate::lifecycle::{FailReason, Notice};
use crate::openclaw::Effective;

/// The reason of a rollback asked for by `rollback NAME`.
pub const BY_OPERATOR: &str = "by operator";
/// The reason of a rollback `rollback: auto` made.
pub const AUTO_REASON: &str = "exit 78 right after its config changed (rollback: auto)";

/// Where `rollback NAME`'s answer goes.
pub type RollbackReply = oneshot::Sender<Result<RollbackRecord, String>>;

/// What status says about the last rollback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollbackRecord {
    pub at: SystemTime,
    /// Where the replaced config is kept (none: there was none).
    pub from: Option<PathBuf>,
    pub reason: String,
    /// The event's words.
    pub detail: String,
}

/// The config bytes (read at spawn, never again) and the declaration a
/// gateway runs with.
#[derive(Debug, Clone)]
pub struct SpawnedWith {
    /// None when the file could not be read (nothing is recorded then).
    config: Option<Arc<Vec<u8>>>,
    declaration: Arc<String>,
}

impl SpawnedWith {
    /// Read on the blocking pool: the actor never waits on a disk.
    pub async fn read(effective: &Effective) -> SpawnedWith {
        let path = effective.config_path.clone();
        let config = tokio::task::spawn_blocking(move || std::fs::read(path).ok())
            .await
            .ok()
            .flatten();
        SpawnedWith {
            config: config.map(Arc::new),
            declaration: Arc::new(declaration_text(effective)),
        }
    }
}

/// The declaration as the supervisor holds it, in YAML: what `diff`
/// compares (the file may say more, or be changed and not reloaded yet).
/// `env:` values and the value of a `--token` or `--password` in `args:`,
/// `notify.command` and each probe's `exec` are never kept nor shown
/// (`<redacted>`), as in the declaration's Debug: any of them may be a
/// secret.
pub fn declaration_text(effective: &Effective) -> String {
    let mut declaration = effective.declaration.clone();
    let redact = |argv: &mut Vec<String>| {
        *argv = crate::declaration::redacted_args(argv)
            .into_iter()
            .map(str::to_string)
            .collect();
    };
    redact(&mut declaration.args);
    if let Some(notify) = declaration.notify.as_mut() {
        redact(&mut notify.command);
    }
    let probes = &mut declaration.probes;
    for probe in [
        &mut probes.startup,
        &mut probes.liveness,
        &mut probes.readiness,
    ] {
        if let Some(exec) = probe.exec.as_mut() {
            redact(exec);
        }
    }
    for value in declaration.env.values_mut() {
        *value = diff::REDACTED.to_string();
    }
    serde_saphyr::to_string(&declaration).unwrap_or_default()
}

impl Actor {
    fn store(&self) -> Store {
        Store::of(&self.shared.state_dir, &self.name)
    }

    /// What a notice means for last known good: `started` records it; an
    /// exit 78 may roll back (true: the caller starts the gateway again).
    pub(super) async fn last_good_after(&mut self, notice: Notice) -> bool {
        match notice {
            Notice::Started => {
                self.record_good();
                false
            }
            Notice::Failed(FailReason::ConfigError) => self.auto_rollback().await,
            _ => false,
        }
    }

    /// The gateway passed its startup: keep what it was spawned with.
    fn record_good(&mut self) {
        self.auto_rolled_back = false;
        let Some(SpawnedWith {
            config: Some(config),
            declaration,
        }) = self.spawned_with.clone()
        else {
            return;
        };
        let store = self.store();
        let name = self.name.clone();
        tokio::task::spawn_blocking(move || {
            match store.record(&config, &declaration, SystemTime::now()) {
                Ok(true) => tracing::debug!(instance = %name, "last known good config recorded"),
                Ok(false) => {}
                Err(error) => {
                    tracing::warn!(instance = %name, %error, "cannot keep the last known good config")
                }
            }
        });
    }

    /// After an exit 78: true when `rollback: auto` put the last good
    /// config back (the caller starts the gateway again).
    async fn auto_rollback(&mut self) -> bool {
        let auto = self.config.effective.declaration.rollback == RollbackMode::Auto;
        if !auto {
            return false;
        }
        let store = self.store();
        let good = tokio::task::spawn_blocking(move || store.newest_config_digest())
            .await
            .ok()
            .and_then(Result::ok)
            .flatten();
        let spawned = self
            .spawned_with
            .as_ref()
            .and_then(|spawned| spawned.config.as_deref())
            .map(|bytes| lastgood::plan::digest(bytes));
        let decision = lastgood::plan::auto_decision(AutoFacts {
            auto,
            config_error: true,
            spawned_digest: spawned.as_deref(),
            last_good_digest: good.as_deref(),
            already_rolled_back: self.auto_rolled_back,
        });
        match decision {
            AutoDecision::RollBack => {
                self.auto_rolled_back = true;
                match self.rollback(AUTO_REASON).await {
                    Ok(_) => true,
                    Err(error) => {
                        tracing::warn!(instance = %self.name, %error, "rollback: auto could not roll back");
                        false
                    }
                }
            }
            AutoDecision::Not(why) => {
                tracing::info!(instance = %self.name, why = why.words(), "rollback: auto does not roll back");
                false
            }
        }
    }

    /// Put the last good config back and say so (event, status, log); the
    /// refusal or the error in words otherwise.
    pub(super) async fn rollback(&mut self, reason: &str) -> Result<RollbackRecord, String> {
        let store = self.store();
        let name = self.name.clone();
        let config_path = self.config.effective.config_path.clone();
        let at = SystemTime::now();
        let path = config_path.clone();
        let done =
            tokio::task::spawn_blocking(move || lastgood::rollback(&store, &name, &path, at))
                .await
                .map_err(|err| format!("the rollback did not finish: {err}"))?
                .map_err(|err| err.to_string())?;
        let detail = done.detail(&config_path, reason);
        tracing::info!(instance = %self.name, %detail, "rolled back to the last good config");
        let record = RollbackRecord {
            at,
            from: done.rejected,
            reason: reason.to_string(),
            detail: detail.clone(),
        };
        self.rolled_back = Some(record.clone());
        let _ = self.shared.notices.send(InstanceNotice {
            name: self.name.clone(),
            notice: Notice::RolledBack,
            at,
            detail,
            pid: self.child.as_ref().map(|child| child.pid),
        });
        self.publish();
        Ok(record)
    }
}
