//! What the supervisor keeps on disk: the operator's intent (atomically
//! written), and the pid records that let a new supervisor stop a gateway an
//! earlier one left running.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};

use crate::instance::{self, PidRecord};
use crate::process;

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

    pub fn load(state_dir: &Path) -> Intent {
        std::fs::read(Self::path(state_dir))
            .ok()
            .and_then(|text| serde_json::from_slice(&text).ok())
            .unwrap_or_default()
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

/// Write a file so that a reader sees the old or the new content, never a
/// mix, even after a power loss: a temp file beside it, fsync, rename, fsync
/// of the directory.
pub fn write_atomically(path: &Path, content: &[u8]) -> std::io::Result<()> {
    write_through_temp(path, content, true)
}

/// Write a file so that a reader sees the old or the new content, never a
/// mix, without forcing it to disk: for files that only matter while the
/// host stays up. Each fsync costs milliseconds on a real disk, spent on a
/// runtime thread.
pub fn write_atomically_unsynced(path: &Path, content: &[u8]) -> std::io::Result<()> {
    write_through_temp(path, content, false)
}

fn write_through_temp(path: &Path, content: &[u8], durable: bool) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut temp = tempfile_in(dir, path)?;
    let written = temp
        .1
        .write_all(content)
        .and_then(|()| match durable {
            true => temp.1.sync_all(),
            false => Ok(()),
        })
        .and_then(|()| std::fs::rename(&temp.0, path));
    if let Err(err) = written {
        // A temp file left on a full disk would only take more of it.
        let _ = std::fs::remove_file(&temp.0);
        return Err(err);
    }
    if durable && let Ok(dir) = std::fs::File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

fn tempfile_in(dir: &Path, path: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    let stem = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let temp = dir.join(format!(".{stem}.{}.tmp", std::process::id()));
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&temp)?;
    Ok((temp, file))
}

/// Stop a gateway left running by an earlier supervisor for this instance,
/// before a second one is spawned. It is not our child, so its end is
/// watched by polling (bounded by the stop timeout, then SIGKILL).
pub async fn stop_leftover(state_dir: &Path, name: &str, stop_signal: Signal, timeout: Duration) {
    let path = instance::pid_record_path(state_dir, name);
    let Some(record) = std::fs::read(&path)
        .ok()
        .and_then(|text| serde_json::from_slice::<PidRecord>(&text).ok())
    else {
        return;
    };
    let marked = |pid: i32| {
        process::environ_has(pid, process::SPAWN_MARKER_VAR, &record.marker)
            || (pid == record.pid && process::is_same_process(pid, record.start_time))
    };
    let alive = || -> Vec<i32> {
        process::all_pids()
            .into_iter()
            .filter(|pid| !process::is_zombie(*pid) && marked(*pid))
            .collect()
    };
    let mut left = alive();
    if !left.is_empty() {
        tracing::warn!(instance = name, pids = ?left, "a gateway of an earlier supervisor is still running: stopping it gracefully");
        let mut signal = stop_signal;
        let mut deadline = tokio::time::Instant::now() + timeout;
        let mut killed = false;
        loop {
            for pid in &left {
                process::signal_if_same(*pid, process::process_start_time(*pid), signal);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            left = alive();
            if left.is_empty() {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                if killed {
                    tracing::error!(instance = name, pids = ?left, "processes of an earlier supervisor survive SIGKILL");
                    break;
                }
                signal = Signal::SIGKILL;
                killed = true;
                deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            }
        }
    }
    let _ = std::fs::remove_file(path);
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

    #[test]
    fn both_atomic_writers_replace_the_file_and_leave_no_temp() {
        type Writer = fn(&Path, &[u8]) -> std::io::Result<()>;
        let rows: Vec<(&str, Writer)> = vec![
            ("durable", write_atomically),
            ("unsynced", write_atomically_unsynced),
        ];
        for (label, write) in rows {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("run").join("main.json");
            write(&path, b"first").unwrap();
            write(&path, b"second").unwrap();
            assert_eq!(std::fs::read(&path).unwrap(), b"second", "{label}");
            let names: Vec<String> = std::fs::read_dir(path.parent().unwrap())
                .unwrap()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect();
            assert_eq!(names, vec!["main.json".to_string()], "{label}");
        }
    }
}
