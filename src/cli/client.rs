//! Client commands: talk to the running supervisor over its socket.
//!
//! Exit codes: 0 done, 1 refused or failed (the reason on stderr), 3 the
//! supervisor is not running (the socket path tried on stderr).

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Subcommand;
use openclaw_supervisor::control::{self, ClientError};
use openclaw_supervisor::protocol::{EndReason, Request, Response, SignalName};

use super::{Global, exit};

mod render;

use render::{Paint, detail, event_line, table};

/// How long a one-reply request may take before the client gives up.
const REPLY_TIMEOUT: Duration = Duration::from_secs(60);

// `metrics`: the Prometheus exposition on stdout.
mod metrics;

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Show every instance (a table), or one in detail.
    Status {
        /// One instance's name; all when omitted.
        name: Option<String>,
        /// Print JSON for scripts instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Stop an instance; it stays stopped, across supervisor restarts, until `start NAME`.
    Stop {
        /// The instance's name.
        name: String,
    },
    /// Stop and start an instance again.
    /// A running gateway is stopped only when openclaw accepts its config
    /// (`openclaw config validate`): a config it refuses is reported and the
    /// gateway kept.
    Restart {
        /// The instance's name.
        name: String,
        /// Restart without validating the config first.
        #[arg(long)]
        force: bool,
    },
    /// Send a signal (TERM, HUP, USR1, ...) to an instance's process group.
    Signal {
        /// The instance's name.
        name: String,
        /// HUP, INT, QUIT, KILL, USR1, USR2, TERM, CONT, STOP, TSTP or WINCH (SIG prefix optional).
        signal: SignalName,
    },
    /// Print the last lines of an instance's log, or follow it.
    Logs {
        /// The instance's name.
        name: String,
        /// How many lines (the supervisor's default when omitted).
        #[arg(short = 'n', long)]
        lines: Option<usize>,
        /// Keep printing new lines until interrupted.
        #[arg(short, long)]
        follow: bool,
    },
    /// Print state changes as they happen (spawned, exited, backoff, ...).
    Events {
        /// One JSON object per line instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Rescan the declarations directory.
    Reload,
    /// Stop every instance and the supervisor.
    Shutdown,
    /// Print the client's and the running supervisor's versions.
    Version,
    /// Print Prometheus metrics (text format 0.0.4) of every instance and the supervisor.
    Metrics,
}

/// The socket the client talks to: `--socket`, else the default for the
/// state dir (the same rule the daemon uses).
pub fn socket_path(global: &Global) -> PathBuf {
    match &global.socket {
        Some(socket) => socket.clone(),
        None => {
            let state_dir = global
                .state_dir
                .clone()
                .unwrap_or_else(control::default_state_dir);
            control::default_socket_path(&state_dir)
        }
    }
}

pub fn run(global: &Global, command: ClientCommand) -> anyhow::Result<u8> {
    let path = socket_path(global);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the client's runtime")?;
    runtime.block_on(async {
        match command {
            ClientCommand::Status { name, json } => status(&path, name, json).await,
            ClientCommand::Stop { name } => action(&path, Request::Stop { name }).await,
            ClientCommand::Restart { name, force } => {
                action(&path, Request::Restart { name, force }).await
            }
            ClientCommand::Signal { name, signal } => {
                action(&path, Request::Signal { name, signal }).await
            }
            ClientCommand::Logs {
                name,
                lines,
                follow,
            } => logs(&path, name, lines, follow).await,
            ClientCommand::Events { json } => events(&path, json).await,
            ClientCommand::Reload => action(&path, Request::Reload).await,
            ClientCommand::Shutdown => action(&path, Request::Shutdown).await,
            ClientCommand::Version => version(&path).await,
            ClientCommand::Metrics => metrics::print(&path).await,
        }
    })
}

/// `start NAME`: ask the running supervisor to start an instance (called by
/// the `start` command when it is given a name).
pub fn start_instance(global: &Global, name: &str) -> anyhow::Result<u8> {
    let path = socket_path(global);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the client's runtime")?;
    runtime.block_on(action(
        &path,
        Request::Start {
            name: name.to_string(),
        },
    ))
}

/// Sends one request; `Err(code)` when the command must end with that code
/// (the reason already printed).
async fn call(path: &std::path::Path, request: Request) -> Result<Response, u8> {
    match tokio::time::timeout(REPLY_TIMEOUT, control::request(path, request)).await {
        Ok(Ok(Response::Error { message, .. })) => Err(fail(&message)),
        Ok(Ok(response)) => Ok(response),
        Ok(Err(err)) => Err(client_error(&err)),
        Err(_) => Err(fail(&format!(
            "the supervisor on {} did not answer within {}s",
            path.display(),
            REPLY_TIMEOUT.as_secs()
        ))),
    }
}

fn fail(message: &str) -> u8 {
    eprintln!("openclaw-supervisor: {message}");
    exit::FAILED
}

fn client_error(err: &ClientError) -> u8 {
    eprintln!("openclaw-supervisor: {err}");
    if err.is_not_running() {
        exit::NOT_RUNNING
    } else {
        exit::FAILED
    }
}

async fn action(path: &std::path::Path, request: Request) -> anyhow::Result<u8> {
    let verb = request.type_name();
    let target = match &request {
        Request::Start { name }
        | Request::Stop { name }
        | Request::Restart { name, .. }
        | Request::Signal { name, .. } => Some(name.clone()),
        _ => None,
    };
    match call(path, request).await {
        Ok(Response::Ok { message }) => {
            let message = message.unwrap_or_else(|| match target {
                Some(name) => format!("{verb} {name}: ok"),
                None => format!("{verb}: ok"),
            });
            println!("{message}");
            Ok(exit::OK)
        }
        Ok(other) => Ok(unexpected(&other)),
        Err(code) => Ok(code),
    }
}

fn unexpected(response: &Response) -> u8 {
    fail(&format!(
        "unexpected reply from the supervisor: {response:?}"
    ))
}

async fn status(path: &std::path::Path, name: Option<String>, json: bool) -> anyhow::Result<u8> {
    let one = name.is_some();
    let (instances, rejected) = match call(path, Request::Status { name }).await {
        Ok(Response::Status {
            instances,
            rejected,
        }) => (instances, rejected),
        Ok(other) => return Ok(unexpected(&other)),
        Err(code) => return Ok(code),
    };
    let mut out = std::io::stdout().lock();
    if json {
        let value = serde_json::json!({ "instances": instances, "rejected": rejected });
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
        return Ok(exit::OK);
    }
    let paint = Paint::for_stdout();
    if one {
        for instance in &instances {
            write!(out, "{}", detail(instance, paint, now_ms()))?;
        }
    } else {
        write!(out, "{}", table(&instances, &rejected, paint, now_ms()))?;
    }
    Ok(exit::OK)
}

async fn logs(
    path: &std::path::Path,
    name: String,
    lines: Option<usize>,
    follow: bool,
) -> anyhow::Result<u8> {
    let request = Request::Logs {
        name,
        lines,
        follow,
    };
    if !follow {
        return match call(path, request).await {
            Ok(Response::Logs { lines, .. }) => {
                let mut out = std::io::stdout().lock();
                for line in lines {
                    writeln!(out, "{}", line.text)?;
                }
                Ok(exit::OK)
            }
            Ok(other) => Ok(unexpected(&other)),
            Err(code) => Ok(code),
        };
    }
    stream(path, request, |response, out| match response {
        Response::LogLine(line) => writeln!(out, "{}", line.text),
        Response::Logs { lines, .. } => lines
            .iter()
            .try_for_each(|line| writeln!(out, "{}", line.text)),
        _ => Ok(()),
    })
    .await
}

async fn events(path: &std::path::Path, json: bool) -> anyhow::Result<u8> {
    let paint = Paint::for_stdout();
    stream(path, Request::Events, |response, out| match response {
        Response::Event(event) if json => {
            writeln!(
                out,
                "{}",
                serde_json::to_string(event).map_err(std::io::Error::other)?
            )
        }
        Response::Event(event) => writeln!(out, "{}", event_line(event, paint)),
        _ => Ok(()),
    })
    .await
}

/// Prints a stream until its end: 0 when the supervisor ends it, 1 on an
/// error reply or a lost connection, 3 when it is not running.
async fn stream(
    path: &std::path::Path,
    request: Request,
    mut print: impl FnMut(&Response, &mut std::io::StdoutLock<'static>) -> std::io::Result<()>,
) -> anyhow::Result<u8> {
    let mut replies = match control::request_stream(path, request).await {
        Ok(replies) => replies,
        Err(err) => return Ok(client_error(&err)),
    };
    let mut out = std::io::stdout().lock();
    loop {
        match replies.next().await {
            Ok(Some(Response::Error { message, .. })) => return Ok(fail(&message)),
            Ok(Some(Response::End { reason })) => {
                if reason == EndReason::Shutdown {
                    eprintln!("openclaw-supervisor: the supervisor is shutting down");
                }
                return Ok(exit::OK);
            }
            Ok(Some(response)) => {
                print(&response, &mut out)?;
                out.flush()?;
            }
            Ok(None) => return Ok(exit::OK),
            Err(err) => return Ok(client_error(&err)),
        }
    }
}

async fn version(path: &std::path::Path) -> anyhow::Result<u8> {
    println!("client {}", env!("CARGO_PKG_VERSION"));
    match call(path, Request::Version).await {
        Ok(Response::Version { version, protocol }) => {
            println!("supervisor {version} (protocol {protocol})");
            Ok(exit::OK)
        }
        Ok(other) => Ok(unexpected(&other)),
        Err(code) => Ok(code),
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as u64)
        .unwrap_or(0)
}
