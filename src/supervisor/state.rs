//! What the supervisor keeps on disk: the operator's intent (atomically
//! written), and the pid records that let a new supervisor stop a gateway an
//! earlier one left running.
//!
//! A record is acted on only when the process it names is provably the
//! gateway it recorded: the pid is alive, started at the recorded time, and
//! carries the recorded spawn marker in its environment. Anything else is
//! logged and kept aside in `run/unverified/`, never signalled. Every record
//! is looked at, whether or not its declaration still exists.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::files::write_atomically;

/// The operator's intent, kept across supervisor restarts.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Intent {
    /// Instances stopped by hand: they stay stopped until started by hand.
    pub stopped: BTreeSet<String>,
}

impl Intent {
    pub fn path(state_dir: &Path) -> PathBuf {
        state_dir.join("intent.json")
    }

    /// The saved intent. One that cannot be read is reported (never
    /// dropped silently: a stop by hand would be lost with it) and an
    /// unparsable one is copied to `intent.json.unreadable` for the operator.
    pub fn load(state_dir: &Path) -> Intent {
        let path = Self::path(state_dir);
        let text = match std::fs::read(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Intent::default(),
            Err(err) => {
                tracing::error!(path = %path.display(), error = %err, "cannot read the operator's intent: instances stopped by hand may start; stop them again");
                return Intent::default();
            }
        };
        match serde_json::from_slice(&text) {
            Ok(intent) => intent,
            Err(err) => {
                let kept = state_dir.join("intent.json.unreadable");
                match write_atomically(&kept, &text) {
                    Ok(()) => tracing::warn!(
                        error = %err,
                        "the operator's intent (intent.json) is unreadable; a copy is kept at {}: instances stopped by hand may start; stop them again",
                        kept.display()
                    ),
                    Err(copy_err) => tracing::error!(
                        error = %err,
                        "the operator's intent (intent.json) is unreadable and no copy could be kept at {} ({copy_err}): instances stopped by hand may start; stop them again",
                        kept.display()
                    ),
                }
                Intent::default()
            }
        }
    }

    pub fn save(&self, state_dir: &Path) -> std::io::Result<()> {
        let text = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        write_atomically(&Self::path(state_dir), &text)
    }
}

/// How often a failed intent save is tried again.
pub const INTENT_RETRY: Duration = Duration::from_secs(2);

/// Saves the operator's intent. A save that fails (a full disk, most
/// likely) is tried again in the background every `retry`, with the latest
/// intent, until one succeeds; the failure is logged once per episode.
#[derive(Clone)]
pub struct IntentSaver {
    state_dir: PathBuf,
    retry: Duration,
    unsaved: std::sync::Arc<std::sync::Mutex<Unsaved>>,
}

#[derive(Default)]
struct Unsaved {
    /// The latest intent not on disk yet.
    intent: Option<Intent>,
    /// Whether a retry task runs.
    retrying: bool,
}

impl IntentSaver {
    pub fn new(state_dir: PathBuf, retry: Duration) -> IntentSaver {
        IntentSaver {
            state_dir,
            retry,
            unsaved: std::sync::Arc::default(),
        }
    }

    /// Save `intent` now; on failure it is kept and retried (call from
    /// within the runtime), and the error says why it is not saved yet.
    pub fn save(&self, intent: &Intent) -> std::io::Result<()> {
        let mut unsaved = self.unsaved.lock().unwrap_or_else(|p| p.into_inner());
        match intent.save(&self.state_dir) {
            Ok(()) => {
                // Anything older waiting for a retry is superseded.
                unsaved.intent = None;
                Ok(())
            }
            Err(err) => {
                unsaved.intent = Some(intent.clone());
                if !unsaved.retrying {
                    unsaved.retrying = true;
                    tracing::warn!(error = %err, path = %Intent::path(&self.state_dir).display(), "cannot save the operator's intent: trying again every {}s until it is saved", self.retry.as_secs_f64());
                    tokio::spawn(self.clone().retry_until_saved());
                }
                Err(err)
            }
        }
    }

    /// Whether an intent is waiting to be saved.
    pub fn pending(&self) -> bool {
        self.unsaved
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .intent
            .is_some()
    }

    async fn retry_until_saved(self) {
        loop {
            tokio::time::sleep(self.retry).await;
            let mut unsaved = self.unsaved.lock().unwrap_or_else(|p| p.into_inner());
            let Some(intent) = unsaved.intent.clone() else {
                unsaved.retrying = false;
                return;
            };
            if intent.save(&self.state_dir).is_ok() {
                tracing::info!(path = %Intent::path(&self.state_dir).display(), "the operator's intent is saved again");
                unsaved.intent = None;
                unsaved.retrying = false;
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intent_round_trips_through_an_atomic_write() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Intent::load(dir.path()), Intent::default());
        let mut intent = Intent::default();
        intent.stopped.insert("main".into());
        intent.save(dir.path()).unwrap();
        assert_eq!(Intent::load(dir.path()), intent);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "no temp file is left behind");
    }

    #[tokio::test]
    async fn an_intent_that_cannot_be_saved_is_saved_once_it_can() {
        let dir = tempfile::tempdir().unwrap();
        // A file where the state dir should be: every save fails.
        let state_dir = dir.path().join("state");
        std::fs::write(&state_dir, "in the way").unwrap();
        let saver = IntentSaver::new(state_dir.clone(), Duration::from_millis(20));
        let mut intent = Intent::default();
        intent.stopped.insert("q".into());
        assert!(saver.save(&intent).is_err());
        assert!(saver.pending());
        // A later change is the one that ends up saved.
        intent.stopped.insert("r".into());
        assert!(saver.save(&intent).is_err());
        std::fs::remove_file(&state_dir).unwrap();
        let start = std::time::Instant::now();
        while saver.pending() {
            assert!(start.elapsed() < Duration::from_secs(10), "never saved");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(Intent::load(&state_dir), intent);
    }
}
