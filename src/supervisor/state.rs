//! What the supervisor keeps on disk: the operator's intent (atomically
//! written), and the pid records that let a new supervisor stop a gateway an
//! earlier one left running.
//!
//! A record is acted on only when the process it names is provably the
//! gateway it recorded: the pid is alive, started at the recorded time, and
//! carries the recorded spawn marker in its environment. Anything else is
//! logged and kept aside in `run/unverified/`, never signalled. Every record
//! is looked at, whether or not its declaration still exists.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};

use crate::files::write_atomically;
use crate::instance::PidRecord;
use crate::process::{self, Escalation, Progress};

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

/// How to stop an instance's gateway: its declared stop signal and timeout.
pub type StopSettings = (Signal, Duration);

/// Why a pid record is not acted on.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Unverified {
    #[error("it is not a pid record ({0})")]
    Unreadable(String),
    #[error("it has no start time, so pid {0} cannot be told from a reused one")]
    NoStartTime(i32),
    #[error("it has no spawn marker")]
    NoMarker,
    #[error("pid {0} cannot be a gateway of ours")]
    ImpossiblePid(i32),
    #[error("no process {0} is running (the gateway is gone)")]
    Gone(i32),
    #[error("process {pid} started at {actual}, not at {recorded} (the pid was reused)")]
    OtherStart {
        pid: i32,
        recorded: u64,
        actual: u64,
    },
    #[error("process {0} does not carry the recorded spawn marker")]
    Unmarked(i32),
}

/// A record that names a living gateway of an earlier supervisor: pid,
/// start time and spawn marker all match.
pub fn verify(text: &[u8]) -> Result<PidRecord, Unverified> {
    let record: PidRecord =
        serde_json::from_slice(text).map_err(|err| Unverified::Unreadable(err.to_string()))?;
    let pid = record.pid;
    let recorded = record.start_time.ok_or(Unverified::NoStartTime(pid))?;
    if record.marker.is_empty() {
        return Err(Unverified::NoMarker);
    }
    if pid <= 1 || pid == std::process::id() as i32 {
        return Err(Unverified::ImpossiblePid(pid));
    }
    let actual = process::process_start_time(pid)
        .filter(|_| !process::is_zombie(pid))
        .ok_or(Unverified::Gone(pid))?;
    if actual != recorded {
        return Err(Unverified::OtherStart {
            pid,
            recorded,
            actual,
        });
    }
    if !process::environ_has(pid, process::SPAWN_MARKER_VAR, &record.marker) {
        return Err(Unverified::Unmarked(pid));
    }
    Ok(record)
}

/// A gateway of an earlier supervisor being stopped (or what it left
/// behind when it is gone itself): every process that carries its spawn
/// marker and started no earlier than it did.
struct Leftover {
    record: PathBuf,
    marker: String,
    started: u64,
    escalation: Escalation,
}

/// How often the host's processes are looked at again while leftovers
/// are stopped: each look reads every process's environment.
const LEFTOVER_ROUND: Duration = Duration::from_millis(200);

/// The living processes of each leftover, identified by marker and start
/// time: a process that started before the recorded gateway cannot be one
/// it left behind, whatever its environment says.
fn leftover_members(wanted: &HashMap<String, u64>) -> HashMap<String, Vec<process::Member>> {
    let mut members: HashMap<String, Vec<process::Member>> = HashMap::new();
    for pid in process::all_pids() {
        let mut marker = None;
        let identified = process::identified(pid, |pid| {
            marker = process::environ_var(pid, process::SPAWN_MARKER_VAR);
            marker.is_some()
        });
        if let (Some(member), Some(marker)) = (identified, marker)
            && wanted
                .get(&marker)
                .is_some_and(|started| member.1 >= *started)
        {
            members.entry(marker).or_default().push(member);
        }
    }
    members
}

/// Handle every pid record an earlier supervisor left in `<state>/run/`:
/// stop each verified gateway and everything that inherited its marker
/// (with its declaration's stop settings in `declared`, else the record's),
/// all in parallel, and keep every other record aside. One look at the
/// host's processes per round serves every record.
pub async fn stop_leftovers(
    state_dir: &Path,
    declared: &HashMap<String, StopSettings>,
    adopted: &BTreeSet<String>,
) {
    let Ok(entries) = std::fs::read_dir(state_dir.join("run")) else {
        return;
    };
    let mut leftovers = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let file_name = entry.file_name().to_string_lossy().to_string();
        let is_record = entry.file_type().is_ok_and(|t| t.is_file())
            && !file_name.starts_with('.')
            && file_name.ends_with(".json");
        if !is_record {
            continue;
        }
        let name = file_name.trim_end_matches(".json");
        if adopted.contains(name) {
            continue;
        }
        if let Some(leftover) = leftover(&path, name, declared.get(name).copied()) {
            leftovers.push(leftover);
        }
    }
    while !leftovers.is_empty() {
        let wanted: HashMap<String, u64> = leftovers
            .iter()
            .map(|l| (l.marker.clone(), l.started))
            .collect();
        // A full look at /proc is blocking IO: off the runtime's workers.
        let mut alive = tokio::task::spawn_blocking(move || leftover_members(&wanted))
            .await
            .unwrap_or_default();
        let mut next = None;
        leftovers.retain_mut(|leftover| {
            let left = alive.remove(&leftover.marker).unwrap_or_default();
            match leftover.escalation.advance(&left) {
                Progress::LookAgainAt(at) => {
                    let at = at.max(tokio::time::Instant::now() + LEFTOVER_ROUND);
                    next = Some(next.map_or(at, |next: tokio::time::Instant| next.min(at)));
                    true
                }
                Progress::Gone | Progress::GaveUp => {
                    if let Err(err) = std::fs::remove_file(&leftover.record) {
                        tracing::warn!(record = %leftover.record.display(), error = %err, "cannot remove a handled pid record");
                    }
                    false
                }
            }
        });
        if let Some(at) = next {
            tokio::time::sleep_until(at).await;
        }
    }
}

/// Read and verify one pid record: the gateway to stop, or None (the
/// record was kept aside, or cannot be read).
fn leftover(path: &Path, name: &str, declared: Option<StopSettings>) -> Option<Leftover> {
    let text = match std::fs::read(path) {
        Ok(text) => text,
        Err(err) => {
            tracing::warn!(record = %path.display(), error = %err, "cannot read a pid record: it is left as it is and nothing is signalled");
            return None;
        }
    };
    let (record, gone) = match verify(&text) {
        Ok(record) => (record, false),
        // The recorded gateway died with (or after) its supervisor, but
        // its workers may live on, holding its ports: they carry its
        // marker and started after it, and are stopped like it.
        Err(Unverified::Gone(_)) => match serde_json::from_slice::<PidRecord>(&text) {
            Ok(record) => (record, true),
            Err(_) => return None,
        },
        Err(why) => {
            keep_aside(path, &why);
            return None;
        }
    };
    // `verify` checked the start time is there, Gone or not.
    let started = record.start_time.unwrap_or(u64::MAX);
    let (signal, timeout) = declared.unwrap_or_else(|| {
        let signal = process::to_signal(record.stop_signal.unwrap_or_default().name());
        let timeout = record
            .stop_timeout_ms
            .map(Duration::from_millis)
            .unwrap_or(crate::declaration::DEFAULT_STOP_TIMEOUT);
        (signal, timeout)
    });
    if gone {
        tracing::info!(
            instance = name,
            pid = record.pid,
            "the gateway of an earlier supervisor is gone: stopping whatever it left behind"
        );
    } else {
        tracing::warn!(
            instance = name,
            pid = record.pid,
            declared = declared.is_some(),
            "a gateway of an earlier supervisor is still running: stopping it gracefully"
        );
    }
    Some(Leftover {
        record: path.to_path_buf(),
        marker: record.marker,
        started,
        escalation: Escalation::begin(name, signal, timeout),
    })
}

/// Move a record that is not acted on to `run/unverified/` (the latest one
/// per name), saying why.
fn keep_aside(path: &Path, why: &Unverified) {
    let Some(file_name) = path.file_name() else {
        return;
    };
    let aside = path.parent().unwrap_or(Path::new(".")).join("unverified");
    let target = aside.join(file_name);
    let moved = std::fs::create_dir_all(&aside).and_then(|()| std::fs::rename(path, &target));
    match moved {
        Ok(()) => tracing::warn!(
            record = %path.display(),
            kept = %target.display(),
            reason = %why,
            "a pid record that does not match a gateway of ours is kept aside; nothing is signalled"
        ),
        Err(err) => tracing::warn!(
            record = %path.display(),
            reason = %why,
            error = %err,
            "a pid record that does not match a gateway of ours cannot be moved aside; nothing is signalled"
        ),
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

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // Tests start processes of their own to stop.
mod record_tests {
    use super::*;

    #[test]
    fn a_record_is_verified_only_when_pid_start_time_and_marker_all_match() {
        let mut child = std::process::Command::new("sleep")
            .arg("100")
            .env(process::SPAWN_MARKER_VAR, "m:1:0")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let start = process::process_start_time(pid).unwrap();
        let mut gone = std::process::Command::new("true").spawn().unwrap();
        let gone_pid = gone.id() as i32;
        gone.wait().unwrap();
        let record = |pid: i32, start: &str, marker: &str| {
            format!(r#"{{"pid": {pid}, "start_time": {start}, "marker": "{marker}"}}"#)
        };
        let start_text = start.to_string();
        let rows: Vec<(String, Result<(), Unverified>)> = vec![
            (record(pid, &start_text, "m:1:0"), Ok(())),
            (
                record(pid, "null", "m:1:0"),
                Err(Unverified::NoStartTime(pid)),
            ),
            (
                format!(r#"{{"pid": {pid}, "marker": "m:1:0"}}"#),
                Err(Unverified::NoStartTime(pid)),
            ),
            (record(pid, &start_text, ""), Err(Unverified::NoMarker)),
            (
                record(1, &start_text, "m:1:0"),
                Err(Unverified::ImpossiblePid(1)),
            ),
            (
                record(gone_pid, &start_text, "m:1:0"),
                Err(Unverified::Gone(gone_pid)),
            ),
            (
                record(pid, &(start + 1).to_string(), "m:1:0"),
                Err(Unverified::OtherStart {
                    pid,
                    recorded: start + 1,
                    actual: start,
                }),
            ),
            (
                record(pid, &start_text, "m:1:1"),
                Err(Unverified::Unmarked(pid)),
            ),
        ];
        for (text, expected) in rows {
            let got = verify(text.as_bytes()).map(|_| ());
            assert_eq!(got, expected, "{text}");
        }
        assert!(matches!(
            verify(b"not json"),
            Err(Unverified::Unreadable(_))
        ));
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
