//! The pid record of each instance's gateway (`run/<name>.json`), through
//! which a later supervisor finds and adopts a gateway left behind by this
//! one, and what became of it at start.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Deserializer, Serialize};

use crate::declaration::StopSignal;

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

/// A kept gateway of an earlier supervisor, connected to and checked
/// against its record, for its instance's actor to take over.
#[derive(Debug)]
pub struct Adopted {
    pub kept: crate::keeper::link::Kept,
    pub record: PidRecord,
}

/// What became of an instance's gateway when this supervisor started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Adoption {
    /// Its gateway was taken over (at).
    Adopted { at: SystemTime, pid: i32 },
    /// No record of a gateway: it was started anew.
    NoRecord,
    /// A record that did not name a kept gateway of ours (why): whatever it
    /// named was stopped and the gateway started anew.
    DidNotMatch(String),
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

pub(super) fn write_pid_record(
    state_dir: &Path,
    name: &str,
    record: &PidRecord,
) -> std::io::Result<()> {
    let path = pid_record_path(state_dir, name);
    let text = serde_json::to_vec(record).map_err(std::io::Error::other)?;
    // Not fsynced: a record only has to outlive the supervisor process, not
    // the host (after a reboot no process it names is left), and it is
    // written on every spawn, where two fsyncs would cost milliseconds.
    crate::files::write_atomically_unsynced(&path, &text)
}

pub(super) fn remove_pid_record(state_dir: &Path, name: &str, pid: i32) {
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

#[cfg(test)]
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
}
