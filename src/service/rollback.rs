//! The daemon's side of `diff` and `rollback`: the last good generation
//! and the current config read off the async threads, the text built by
//! `lastgood::diff` (pure); the rollback itself is the instance actor's, so
//! it never races `rollback: auto`.

use crate::instance::{Command, InstanceHandle};
use crate::lastgood::{Store, diff};
use crate::supervisor::{SupervisorError, SupervisorHandle};

/// `diff NAME`'s text.
pub async fn diff(supervisor: &SupervisorHandle, name: &str) -> Result<String, SupervisorError> {
    let handle = supervisor.instance(name).await?;
    let effective = handle.snapshot.borrow().config.effective.clone();
    let store = Store::of(supervisor.state_dir(), name);
    let name = name.to_string();
    let text = tokio::task::spawn_blocking(move || {
        let good = match store.newest() {
            Ok(Some(good)) => good,
            Ok(None) => {
                return format!(
                    "{name}: no last known good yet (one is kept once it passes its startup)\n"
                );
            }
            Err(err) => return format!("{name}: cannot read the last known good: {err}\n"),
        };
        let current = std::fs::read(&effective.config_path).ok();
        let good_at = good.at_words();
        diff::render(&diff::DiffInput {
            name: &name,
            good_at: &good_at,
            good_config: &String::from_utf8_lossy(&good.config),
            good_declaration: &good.declaration,
            current_config: current.as_deref().map(String::from_utf8_lossy).as_deref(),
            current_declaration: &crate::instance::declaration_text(&effective),
            config_path: &effective.config_path.display().to_string(),
        })
    })
    .await
    .map_err(|_| SupervisorError::ShuttingDown)?;
    Ok(text.trim_end().to_string())
}

/// Ask the instance's actor to put its last good config back: the event's
/// words, or the refusal.
pub async fn roll_back(handle: &InstanceHandle) -> Result<String, String> {
    let (reply, answer) = tokio::sync::oneshot::channel();
    if !handle.send(Command::Rollback(reply)) {
        return Err(SupervisorError::ShuttingDown.to_string());
    }
    match answer.await {
        Ok(Ok(record)) => Ok(record.detail),
        Ok(Err(refused)) => Err(refused),
        Err(_) => Err(SupervisorError::ShuttingDown.to_string()),
    }
}
