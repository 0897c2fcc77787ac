//! Runs `openclaw config validate --json` for an instance (the IO edge of
//! [`crate::openclaw::validate`]): the instance's command and environment,
//! through the one spawner, killed (its group) at the deadline.

use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

use crate::openclaw::validate::{RunExit, Verdict, verdict};
use crate::openclaw::{Effective, EnvMap};
use crate::prober::KillOnDrop;
use crate::process::{ExitKind, Spawner};

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
    let (exits_tx, mut exits_rx) = mpsc::unbounded_channel();
    let child = match spawner.spawn(&spec, exits_tx) {
        Ok(child) => child,
        Err(err) => {
            return Verdict::Unavailable {
                why: err.to_string(),
            };
        }
    };
    let mut group = KillOnDrop {
        spawner,
        pid: child.pid,
        armed: true,
    };
    let run = async {
        let (stdout, stderr, exit) = tokio::join!(
            read_all(child.stdout),
            read_all(child.stderr),
            exits_rx.recv()
        );
        (stdout, stderr, exit)
    };
    let verdict = match tokio::time::timeout(deadline, run).await {
        Ok((stdout, stderr, Some(exit))) => verdict(
            match exit.exit {
                ExitKind::Code(code) => RunExit::Code(code),
                ExitKind::Signal(signal) => RunExit::Signal(signal),
            },
            &stdout,
            &stderr,
        ),
        Ok((_, _, None)) => Verdict::Unavailable {
            why: "the reaper went away".to_string(),
        },
        Err(_) => {
            group.kill();
            let _ = exits_rx.recv().await;
            verdict(RunExit::TimedOut, "", "")
        }
    };
    // Reaped: nothing of it to kill any more.
    group.armed = false;
    verdict
}

async fn read_all(pipe: Option<tokio::net::unix::pipe::Receiver>) -> String {
    let mut bytes = Vec::new();
    if let Some(pipe) = pipe {
        let _ = pipe.take(OUTPUT_LIMIT).read_to_end(&mut bytes).await;
    }
    String::from_utf8_lossy(&bytes).into_owned()
}
