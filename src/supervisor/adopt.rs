//! At start, before any leftover is stopped: take over each declared
//! instance's gateway that its keeper still holds (after a crash of the
//! earlier supervisor, or across `reexec`), and afterwards let every keeper
//! nobody adopted hand over what it holds and end.
//!
//! A record is adopted only when its keeper's socket is in this state
//! dir's keeper directory (a record copied from elsewhere names another
//! supervisor's keeper) and the keeper's hello names the recorded gateway:
//! pid, start time and spawn marker, and a living gateway carries that
//! marker in its environment.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::instance::{Adopted, Adoption, PidRecord, pid_record_path};
use crate::keeper;
use crate::process;

/// How long a keeper nobody adopted gets to tell its gateway's exit.
const RELEASE_WAIT: Duration = Duration::from_secs(2);

/// Try to adopt the gateway of every instance in `names`, all at once.
pub async fn adopt_all(
    state_dir: &Path,
    names: impl IntoIterator<Item = String>,
) -> HashMap<String, (Option<Adopted>, Adoption)> {
    let mut tasks = tokio::task::JoinSet::new();
    for name in names {
        let state_dir = state_dir.to_path_buf();
        tasks.spawn(async move {
            let outcome = adopt(&state_dir, &name).await;
            (name, outcome)
        });
    }
    let mut outcomes = HashMap::new();
    while let Some(joined) = tasks.join_next().await {
        if let Ok((name, outcome)) = joined {
            outcomes.insert(name, outcome);
        }
    }
    outcomes
}

/// Adopt the gateway recorded for `name`, or say why not.
pub async fn adopt(state_dir: &Path, name: &str) -> (Option<Adopted>, Adoption) {
    let path = pid_record_path(state_dir, name);
    let text = match std::fs::read(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return (None, Adoption::NoRecord);
        }
        Err(err) => return not_adopted(name, format!("cannot read its record: {err}")),
    };
    let record: PidRecord = match serde_json::from_slice(&text) {
        Ok(record) => record,
        Err(err) => return not_adopted(name, format!("its record is unreadable: {err}")),
    };
    match check_and_connect(state_dir, &record).await {
        Ok(kept) => {
            let pid = kept.pid;
            tracing::info!(instance = name, pid, "adopting the gateway its keeper held");
            (
                Some(Adopted { kept, record }),
                Adoption::Adopted {
                    at: SystemTime::now(),
                    pid,
                },
            )
        }
        Err(why) => not_adopted(name, why),
    }
}

fn not_adopted(name: &str, why: String) -> (Option<Adopted>, Adoption) {
    tracing::info!(instance = name, reason = %why, "the recorded gateway is not adopted: it is started anew");
    (None, Adoption::DidNotMatch(why))
}

async fn check_and_connect(
    state_dir: &Path,
    record: &PidRecord,
) -> Result<keeper::link::Kept, String> {
    let Some(held_by) = &record.keeper else {
        return Err("it names no keeper (a gateway of a supervisor without keepers)".into());
    };
    if held_by.socket.parent() != Some(keeper::dir(state_dir).as_path()) {
        return Err(format!(
            "its keeper's socket {} is not in this state dir",
            held_by.socket.display()
        ));
    }
    private_dir(&keeper::dir(state_dir))?;
    let recorded_start = record
        .start_time
        .ok_or_else(|| "it has no start time".to_string())?;
    let kept = keeper::link::adopt(&held_by.socket, Some((held_by.pid, held_by.start_time)))
        .await
        .map_err(|err| format!("its keeper does not answer ({err})"))?;
    if kept.pid != record.pid || kept.start_time != recorded_start || kept.marker != record.marker {
        return Err(format!(
            "its keeper holds pid {} (started at {}), not the recorded pid {} (started at {recorded_start})",
            kept.pid, kept.start_time, record.pid
        ));
    }
    // A living gateway carries its marker (a gone one's exit is with the
    // keeper, which is checked above).
    let alive = process::process_start_time(record.pid) == Some(recorded_start)
        && !process::is_zombie(record.pid);
    if alive && !process::environ_has(record.pid, process::SPAWN_MARKER_VAR, &record.marker) {
        return Err(format!(
            "process {} does not carry the recorded spawn marker",
            record.pid
        ));
    }
    Ok(kept)
}

/// The keeper directory must be ours alone: a socket someone else could
/// have put there is not trusted.
fn private_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(dir)
        .map_err(|err| format!("cannot read {}: {err}", dir.display()))?;
    let ours =
        meta.is_dir() && meta.uid() == nix::unistd::geteuid().as_raw() && meta.mode() & 0o077 == 0;
    match ours {
        true => Ok(()),
        false => Err(format!(
            "{} is not a directory of ours alone (mode {:o})",
            dir.display(),
            meta.mode() & 0o7777
        )),
    }
}

/// Every keeper left in the keeper directory that was not adopted, all at
/// once: one whose gateway is gone tells its exit and ends; a gateway still
/// running under one (no record named it: its supervisor ended between the
/// spawn and the record) is stopped, in the background, SIGTERM then
/// SIGKILL at the default stop timeout; a socket nobody listens on any more
/// is removed.
pub async fn release_keepers(state_dir: &Path, adopted: &BTreeSet<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(keeper::dir(state_dir)) else {
        return;
    };
    let mut tasks = tokio::task::JoinSet::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let is_socket = path.extension().is_some_and(|ext| ext == "sock");
        if is_socket && !adopted.contains(&path) {
            tasks.spawn(release(path));
        }
    }
    while tasks.join_next().await.is_some() {}
}

async fn release(path: std::path::PathBuf) {
    let Ok(mut kept) = keeper::link::adopt(&path, None).await else {
        if keeper::connect(&path).is_err() {
            let _ = std::fs::remove_file(&path);
        }
        return;
    };
    if let Ok(Ok(exit)) = tokio::time::timeout(RELEASE_WAIT, kept.link.exited()).await {
        let _ = kept.link.ack().await;
        tracing::debug!(socket = %path.display(), %exit, "a keeper nobody adopted told its gateway's exit and ends");
        return;
    }
    let pid = kept.pid;
    let ours = !kept.gone
        && process::process_start_time(pid) == Some(kept.start_time)
        && process::environ_has(pid, process::SPAWN_MARKER_VAR, &kept.marker);
    if !ours {
        return;
    }
    tracing::warn!(pid, socket = %path.display(), "a gateway runs under a keeper no record names: stopping it gracefully");
    // While this link stands the keeper holds the gateway unreaped: its pid
    // is its own until the ack.
    tokio::spawn(async move {
        let _ = process::signal_group(pid, nix::sys::signal::Signal::SIGTERM);
        let timeout = crate::declaration::DEFAULT_STOP_TIMEOUT;
        if tokio::time::timeout(timeout, kept.link.exited())
            .await
            .is_err()
        {
            let _ = process::signal_group(pid, nix::sys::signal::Signal::SIGKILL);
            let _ = kept.link.exited().await;
        }
        let _ = kept.link.ack().await;
    });
}
