//! `openclaw-supervisor reexec`: ask the running supervisor to re-execute
//! itself in place, then wait for the new process to answer `status`.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use openclaw_supervisor::control::{Client, ClientError};
use openclaw_supervisor::protocol::{Request, Response};

use super::{call, client_error, exit, fail, unexpected};

/// How long the old process may take to freeze, check and exec, and the
/// new one to answer `status` (it answers once its instances are spawned,
/// at most 10 s after its start).
const REEXEC_WAIT: Duration = Duration::from_secs(90);
/// Between two tries while the old process still closes connections.
const RETRY: Duration = Duration::from_millis(50);

pub async fn run(path: &Path) -> anyhow::Result<u8> {
    let old = match call(path, Request::Version).await {
        Ok(Response::Version { version, .. }) => version,
        Ok(other) => return Ok(unexpected(&other)),
        Err(code) => return Ok(code),
    };
    let asked = async {
        let mut stream = Client::connect(path).await?.stream(Request::Reexec).await?;
        let first = stream.next().await?;
        if !matches!(first, Some(Response::Ok { .. })) {
            return Ok(first);
        }
        // The exec closes this connection; a line is an error of the exec.
        match stream.next().await {
            Ok(Some(response)) => Ok(Some(response)),
            Ok(None) | Err(ClientError::Closed { .. } | ClientError::Io { .. }) => Ok(None),
            Err(err) => Err(err),
        }
    };
    match tokio::time::timeout(REEXEC_WAIT, asked).await {
        Ok(Ok(None)) => {}
        Ok(Ok(Some(Response::Error { message, .. }))) => return Ok(fail(&message)),
        Ok(Ok(Some(other))) => return Ok(unexpected(&other)),
        Ok(Err(err)) => return Ok(client_error(&err)),
        Err(_) => {
            return Ok(fail(&format!(
                "the supervisor did not re-execute within {}s",
                REEXEC_WAIT.as_secs()
            )));
        }
    }
    match tokio::time::timeout(REEXEC_WAIT, new_version(path)).await {
        Ok(Ok(new)) => {
            writeln!(std::io::stdout(), "re-executed: {old} -> {new}")?;
            Ok(exit::OK)
        }
        Ok(Err(err)) => Ok(client_error(&err)),
        Err(_) => Ok(fail(&format!(
            "the re-executed supervisor did not answer `status` within {}s",
            REEXEC_WAIT.as_secs()
        ))),
    }
}

/// The version of the process that answers `status` (a connection the old
/// process accepted just before its exec is closed: ask again).
async fn new_version(path: &Path) -> Result<String, ClientError> {
    loop {
        let answered = async {
            let mut client = Client::connect(path).await?;
            client.call(Request::Status { name: None }).await?;
            client.call(Request::Version).await
        };
        match answered.await {
            Ok(Response::Version { version, .. }) => return Ok(version),
            Ok(_) | Err(ClientError::Closed { .. } | ClientError::Io { .. }) => {
                tokio::time::sleep(RETRY).await;
            }
            Err(err) => return Err(err),
        }
    }
}
