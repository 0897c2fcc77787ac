//! The pid record of each instance's gateway (`run/<name>.json`): its
//! type, its path, written at each spawn and removed at its exit (only our
//! own), and read back by a later supervisor, which acts on a record only
//! when it verifies (pid, start time and spawn marker all match) and stops
//! what it names with the record's stop signal, once, then SIGKILL.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::Signal;
use serde::{Deserialize, Deserializer, Serialize};

use crate::declaration::StopSignal;
use crate::process::{self, Escalation, Progress};

/// A record of a running child, so a later supervisor can find a gateway
/// left behind by this one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PidRecord {
    pub pid: i32,
    /// Required: a record without it is never acted on. Optional here only
    /// so such a record can be read and reported.
    #[serde(default)]
    pub start_time: Option<u64>,
    pub marker: String,
    /// How the gateway is to be stopped, for a record whose declaration is
    /// gone by the time a new supervisor reads it. Read leniently: a name
    /// that is not a stop signal reads as none (the default, SIGTERM), so
    /// the rest of the record is still acted on.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_stop_signal"
    )]
    pub stop_signal: Option<StopSignal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_timeout_ms: Option<u64>,
    /// The keeper that holds the gateway, through which a later supervisor
    /// adopts it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keeper: Option<KeeperRecord>,
    /// When the gateway was spawned (unix ms): its uptime survives adoption.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spawned_at_ms: Option<u64>,
    /// What it was spawned with ([`crate::keeper::spec_digest`]): a gateway
    /// whose settings changed while no supervisor ran is adopted and then
    /// restarted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_digest: Option<String>,
}

/// A recorded stop signal, or none when the record names none this
/// supervisor can send as one.
fn lenient_stop_signal<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<StopSignal>, D::Error> {
    let written = Option::<String>::deserialize(deserializer)?;
    Ok(written.and_then(|written| written.parse().ok()))
}

/// The keeper of a recorded gateway.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct KeeperRecord {
    pub pid: i32,
    #[serde(default)]
    pub start_time: Option<u64>,
    pub socket: PathBuf,
}

pub fn pid_record_path(state_dir: &Path, name: &str) -> PathBuf {
    state_dir.join("run").join(format!("{name}.json"))
}

pub fn write_pid_record(state_dir: &Path, name: &str, record: &PidRecord) -> std::io::Result<()> {
    let path = pid_record_path(state_dir, name);
    let text = serde_json::to_vec(record).map_err(std::io::Error::other)?;
    // Not fsynced: a record only has to outlive the supervisor process, not
    // the host (after a reboot no process it names is left), and it is
    // written on every spawn, where two fsyncs would cost milliseconds.
    crate::files::write_atomically_unsynced(&path, &text)
}

pub fn remove_pid_record(state_dir: &Path, name: &str, pid: i32) {
    let path = pid_record_path(state_dir, name);
    // Only our own record: a newer child may have replaced it.
    let ours = std::fs::read(&path)
        .ok()
        .and_then(|text| serde_json::from_slice::<PidRecord>(&text).ok())
        .is_some_and(|record| record.pid == pid);
    if ours {
        let _ = std::fs::remove_file(path);
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
#[allow(clippy::disallowed_methods)] // Tests start processes of their own to stop.
mod tests {
    use super::*;

    #[test]
    fn a_records_stop_signal_is_read_leniently() {
        let rows: &[(&str, Option<StopSignal>)] = &[
            (r#""stop_signal":"SIGINT","#, Some(StopSignal::INT)),
            (r#""stop_signal":"hup","#, Some(StopSignal::HUP)),
            (r#""stop_signal":"SIGKILL","#, None),
            (r#""stop_signal":"15","#, None),
            (r#""stop_signal":null,"#, None),
            ("", None),
        ];
        for (field, expected) in rows {
            let text = format!(r#"{{"pid":7,"start_time":1,{field}"marker":"m"}}"#);
            let record: PidRecord = serde_json::from_str(&text).expect("a record");
            assert_eq!(record.stop_signal, *expected, "{text}");
            assert_eq!(record.pid, 7);
        }
        let written = PidRecord {
            pid: 7,
            start_time: Some(1),
            marker: "m".to_string(),
            stop_signal: Some(StopSignal::QUIT),
            stop_timeout_ms: None,
            keeper: None,
            spawned_at_ms: None,
            spec_digest: None,
        };
        let text = serde_json::to_string(&written).expect("JSON");
        assert!(text.contains(r#""stop_signal":"SIGQUIT""#), "{text}");
    }

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
