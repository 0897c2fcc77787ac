//! The daemon's side of `logs`: an instance's captured files (rotated ones
//! included) read back, or every instance's interleaved in time order, then
//! with `follow` every new line. The daemon reads the files, not the
//! client: it knows their paths, and a client may run as another user.
//!
//! Each log is read from a [`crate::logs::Cut`]: its files as they were at
//! one point of its writer, and a follower subscribed at that same point,
//! so the backlog and the followed lines neither overlap nor leave a gap.

use std::time::SystemTime;

use tokio::sync::{broadcast, mpsc};

use crate::control::Reply;
use crate::logs::Stamped;
use crate::logs::read::{self, Entry};
use crate::protocol::{ErrorKind, LogLine, Response};
use crate::supervisor::{SupervisorError, SupervisorHandle, unix_ms};

/// What a `logs` request asks.
pub struct LogsRequest {
    /// One instance, or every one.
    pub name: Option<String>,
    /// The last lines (per instance); None: every line since `since_ms`.
    pub last: Option<usize>,
    pub since_ms: Option<u64>,
    pub follow: bool,
}

/// One instance's backlog, and its follower when following.
struct Read {
    name: String,
    entries: Vec<Entry>,
    follow: Option<broadcast::Receiver<Stamped>>,
}

/// The reply to `request`; an unknown name is the caller's to report.
pub async fn reply(
    supervisor: &SupervisorHandle,
    request: LogsRequest,
) -> Result<Reply, SupervisorError> {
    let handles = match &request.name {
        Some(name) => vec![supervisor.instance(name).await?],
        None => {
            let report = supervisor.status(None).await?;
            let mut handles = Vec::new();
            for snapshot in report.instances {
                // One removed in between is left out.
                if let Ok(handle) = supervisor.instance(&snapshot.name).await {
                    handles.push(handle);
                }
            }
            handles
        }
    };
    let (since, last, follow) = (request.since_ms, request.last, request.follow);
    let reads = tokio::task::spawn_blocking(move || {
        handles
            .into_iter()
            .map(|handle| {
                let cut = handle.log.cut(follow)?;
                let entries = read::read_files(cut.files, since, last)?;
                Ok(Read {
                    name: handle.name.clone(),
                    entries,
                    follow: cut.follow,
                })
            })
            .collect::<std::io::Result<Vec<Read>>>()
    })
    .await;
    let reads = match reads {
        Ok(Ok(reads)) => reads,
        Ok(Err(err)) => return Ok(cannot_read(err)),
        Err(err) => return Ok(cannot_read(err)),
    };
    let named = request.name.is_none();
    let mut followers = Vec::new();
    let mut per_instance = Vec::new();
    for read in reads {
        if let Some(follow) = read.follow {
            followers.push((read.name.clone(), follow));
        }
        per_instance.push((read.name, read.entries));
    }
    let backlog: Vec<LogLine> = read::merge(per_instance)
        .into_iter()
        .map(|(name, entry)| wire_line(entry.at, entry.text, named.then_some(name)))
        .collect();
    if !follow {
        return Ok(Reply::One(Response::Logs {
            name: request.name,
            lines: backlog,
        }));
    }
    let (tx, rx) = mpsc::channel(256);
    tokio::spawn(async move {
        for line in backlog {
            if tx.send(Response::LogLine(line)).await.is_err() {
                return;
            }
        }
        for (name, follow) in followers {
            tokio::spawn(forward(follow, named.then_some(name), tx.clone()));
        }
    });
    Ok(Reply::Stream(rx))
}

/// Every line of one instance after the cut, until the client leaves or
/// the log is gone.
async fn forward(
    mut follow: broadcast::Receiver<Stamped>,
    instance: Option<String>,
    tx: mpsc::Sender<Response>,
) {
    loop {
        let received = tokio::select! {
            _ = tx.closed() => return,
            received = follow.recv() => received,
        };
        let line = match received {
            Ok(line) => wire_line(Some(line.at), line.text, instance.clone()),
            Err(broadcast::error::RecvError::Lagged(n)) => wire_line(
                Some(unix_ms(SystemTime::now())),
                format!("[openclaw-supervisor: {n} lines skipped: the client reads too slowly]"),
                instance.clone(),
            ),
            Err(broadcast::error::RecvError::Closed) => return,
        };
        if tx.send(Response::LogLine(line)).await.is_err() {
            return;
        }
    }
}

fn cannot_read(err: impl std::fmt::Display) -> Reply {
    Reply::One(Response::error(
        ErrorKind::Internal,
        format!("cannot read the log files: {err}"),
    ))
}

fn wire_line(at: Option<u64>, text: String, instance: Option<String>) -> LogLine {
    LogLine {
        at,
        stream: None,
        text,
        instance,
    }
}
