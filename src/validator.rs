//! Runs `openclaw config validate --json` for an instance (the IO edge of
//! [`crate::openclaw::validate`]): the instance's command and environment,
//! through the one spawner, killed (its group) at the deadline.

use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

use crate::openclaw::validate::{RunExit, Verdict, verdict};
use crate::openclaw::{Effective, EnvMap};
use crate::prober::KillOnDrop;
use crate::process::{ExitKind, SpawnError, SpawnSpec, Spawner};

/// How long `check --deep` and `restart` wait for a verdict by default (a
/// cold openclaw CLI has taken 13 s on a slow disk).
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(30);

/// At most this much of its output is read.
const OUTPUT_LIMIT: u64 = 1 << 20;

/// openclaw's verdict on the config `effective` would run with, `env` being
/// the environment its gateway would get (see [`Effective::child_env`]).
pub async fn validate(
    spawner: &Spawner,
    effective: &Effective,
    env: EnvMap,
    deadline: Duration,
) -> Verdict {
    let mut spec = match effective.command_spec(effective.validate_args(), env, true) {
        Ok(spec) => spec,
        Err(err) => {
            return Verdict::Unavailable {
                why: err.to_string(),
            };
        }
    };
    // Validating creates nothing: without its state dir yet, it runs in
    // the declaration's directory.
    if !effective.state_dir.is_dir() {
        spec.cwd = effective.file.parent().map(|dir| dir.to_path_buf());
    }
    match run_to_end(spawner, &spec, deadline, OUTPUT_LIMIT).await {
        Ok(Some((exit, stdout, stderr))) => verdict(
            match exit {
                ExitKind::Code(code) => RunExit::Code(code),
                ExitKind::Signal(signal) => RunExit::Signal(signal),
            },
            &stdout,
            &stderr,
        ),
        Ok(None) => verdict(RunExit::TimedOut, "", ""),
        Err(err) => Verdict::Unavailable {
            why: err.to_string(),
        },
    }
}

/// Run `spec` through the spawner to its end: its exit, stdout and stderr
/// (at most `limit` bytes of each), or `None` when it outlived `deadline`
/// (its group is then killed and reaped).
pub async fn run_to_end(
    spawner: &Spawner,
    spec: &SpawnSpec,
    deadline: Duration,
    limit: u64,
) -> Result<Option<(ExitKind, String, String)>, SpawnError> {
    let (exits_tx, mut exits_rx) = mpsc::unbounded_channel();
    let child = spawner.spawn(spec, exits_tx)?;
    let mut group = KillOnDrop {
        spawner,
        pid: child.pid,
        armed: true,
    };
    let run = async {
        tokio::join!(
            read_all(child.stdout, limit),
            read_all(child.stderr, limit),
            exits_rx.recv()
        )
    };
    let outcome = match tokio::time::timeout(deadline, run).await {
        Ok((stdout, stderr, Some(exit))) => Ok(Some((exit.exit, stdout, stderr))),
        Ok((_, _, None)) => Err(SpawnError::Exec {
            path: spec.program.clone(),
            source: std::io::Error::other("the reaper went away"),
        }),
        Err(_) => {
            group.kill();
            let _ = exits_rx.recv().await;
            Ok(None)
        }
    };
    // Reaped: nothing of it to kill any more.
    group.armed = false;
    outcome
}

async fn read_all(pipe: Option<tokio::net::unix::pipe::Receiver>, limit: u64) -> String {
    let mut bytes = Vec::new();
    if let Some(pipe) = pipe {
        let _ = pipe.take(limit).read_to_end(&mut bytes).await;
    }
    String::from_utf8_lossy(&bytes).into_owned()
}
