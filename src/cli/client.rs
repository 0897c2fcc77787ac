//! Client commands: talk to the running supervisor over its socket.
//!
//! Exit codes: 0 done, 1 refused or failed (the reason on stderr), 3 the
//! supervisor is not running (the socket path tried on stderr); `status
//! NAME` and `is-active` also 3 for an instance not running, and `status
//! NAME` 4 for no such instance (`verbs.rs`).
//!
//! Output goes through `write!`/`writeln!` and `?`, never `println!`
//! (which panics on a closed stdout): a reader that went away (`| head`)
//! then ends the command quietly with 0 ([`quiet_when_stdout_closed`]).

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Subcommand;
use openclaw_supervisor::control::{self, ClientError};
use openclaw_supervisor::protocol::{EndReason, Request, Response, SignalName};

use super::{Global, exit};

mod events;
#[cfg(test)]
mod fixture;
mod layout;
mod logs;
pub mod oneshot;
mod reexec;
mod render;
mod since;
pub mod verbs;
mod watch;

pub use render::ColorWhen;
use render::{Paint, View, detail, table};

/// How long a one-reply request may take before the client gives up.
const REPLY_TIMEOUT: Duration = Duration::from_secs(60);

// `metrics`: the Prometheus exposition on stdout.
mod metrics;

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Show every instance (a table), or one in detail.
    ///
    /// Exit codes with NAME, as systemctl's: 0 running, 3 not running
    /// (stopped, failed, standby, backoff, ...; also when the supervisor is
    /// not running: stderr says which), 4 no such instance.
    Status {
        /// One instance's name; all when omitted.
        name: Option<String>,
        /// Print JSON for scripts instead of a table.
        #[arg(long, conflicts_with = "watch")]
        json: bool,
        /// Keep the table on screen, redrawn on every event and every `--every`.
        #[arg(long)]
        watch: bool,
        /// With --watch: how often to redraw when no event comes (CPU, memory).
        #[arg(long, requires = "watch", value_name = "DURATION", default_value = watch::DEFAULT_EVERY, value_parser = watch::refresh_interval)]
        every: Duration,
    },
    /// The live view: `status --watch`.
    Top {
        /// One instance's name; all when omitted.
        name: Option<String>,
        /// How often to redraw when no event comes (CPU, memory).
        #[arg(long, value_name = "DURATION", default_value = watch::DEFAULT_EVERY, value_parser = watch::refresh_interval)]
        every: Duration,
    },
    /// Stop instances; each stays stopped, across supervisor restarts, until `start NAME`.
    ///
    /// Each name is acted on in order, one line each; `all` is every
    /// instance but a standby rescue in standby. Exit 0 when every one was
    /// done, 1 otherwise, 3 when the supervisor is not running.
    Stop {
        /// The instances' names, or `all`.
        #[arg(required = true, value_name = "NAME")]
        names: Vec<String>,
        #[command(flatten)]
        wait: verbs::WaitArgs,
    },
    /// Stop and start an instance again.
    /// A running gateway is stopped only when openclaw accepts its config
    /// (`openclaw config validate`): a config it refuses is reported and the
    /// gateway kept.
    ///
    /// Each name is acted on in order, one line each; `all` is every
    /// instance but a standby rescue not running. Exit 0 when every one was
    /// done, 1 otherwise, 3 when the supervisor is not running.
    Restart {
        /// The instances' names, or `all`.
        #[arg(required = true, value_name = "NAME")]
        names: Vec<String>,
        /// Restart without validating the config first.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        wait: verbs::WaitArgs,
    },
    /// Show what changed in an instance's OpenClaw config and declaration
    /// since its last known good (recorded each time it passes its
    /// startup), as a unified diff; secret values are shown as `<redacted>`.
    Diff {
        /// The instance's name.
        name: String,
    },
    /// Put an instance's last known good OpenClaw config back and restart it.
    ///
    /// The current config is kept beside it as
    /// `<config>.<UTC yyyymmddThhmmssZ>.rejected`. Refused (exit 1) when
    /// there is no last good yet or the config is the last good.
    Rollback {
        /// The instance's name.
        #[arg(id = "names", value_name = "NAME")]
        name: String,
        #[command(flatten)]
        wait: verbs::WaitArgs,
    },
    /// Print each instance's state word, one line per name, as `systemctl
    /// is-active`: exit 0 when every one is running, 3 otherwise (`unknown`
    /// for no such instance; 3 also when the supervisor is not running).
    IsActive {
        /// The instances' names.
        #[arg(required = true, value_name = "NAME")]
        names: Vec<String>,
        /// Print nothing; only the exit code tells.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Send a signal (TERM, HUP, USR1, ...) to an instance's process group.
    Signal {
        /// The instance's name.
        name: String,
        /// HUP, INT, QUIT, KILL, USR1, USR2, TERM, CONT, STOP, TSTP or WINCH (SIG prefix optional).
        signal: SignalName,
    },
    /// Print the last lines of an instance's log (its files, rotated ones
    /// included), or of every instance's interleaved; or follow them.
    Logs(logs::LogsArgs),
    /// Print state changes as they happen (spawned, exited, backoff, ...);
    /// with NAME, -n or --since, those in the supervisor's journal (-f: then
    /// the new ones).
    Events(events::EventsArgs),
    /// Rescan the declarations directory.
    Reload,
    /// Stop every instance and the supervisor.
    Shutdown,
    /// Re-execute the running supervisor in place (the binary at its path,
    /// e.g. after an upgrade), keeping its pid and socket; prints
    /// `re-executed: OLD -> NEW`, or why it was refused (exit 1).
    Reexec,
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
    let color = global.color;
    let result = runtime.block_on(async {
        match command {
            ClientCommand::Status {
                name,
                watch: true,
                every,
                ..
            }
            | ClientCommand::Top { name, every } => watch::run(&path, name, every, color).await,
            ClientCommand::Status { name, json, .. } => status(&path, name, json, color).await,
            ClientCommand::Stop { names, wait } => {
                Ok(verbs::run(&path, verbs::Verb::Stop, &names, &wait).await)
            }
            ClientCommand::Restart { names, force, wait } => {
                Ok(verbs::run(&path, verbs::Verb::Restart { force }, &names, &wait).await)
            }
            ClientCommand::Diff { name } => action(&path, Request::Diff { name }).await,
            ClientCommand::Rollback { name, wait } => {
                if name == "all" {
                    return Ok(fail("rollback takes one instance's name, not `all`"));
                }
                Ok(verbs::run(&path, verbs::Verb::Rollback, &[name], &wait).await)
            }
            ClientCommand::IsActive { names, quiet } => {
                Ok(verbs::is_active(&path, &names, quiet).await)
            }
            ClientCommand::Signal { name, signal } => {
                action(&path, Request::Signal { name, signal }).await
            }
            ClientCommand::Logs(args) => logs::run(&path, args).await,
            ClientCommand::Events(args) => events::run(&path, args, color).await,
            ClientCommand::Reload => action(&path, Request::Reload).await,
            ClientCommand::Shutdown => action(&path, Request::Shutdown).await,
            ClientCommand::Reexec => reexec::run(&path).await,
            ClientCommand::Version => version(&path).await,
            ClientCommand::Metrics => metrics::print(&path).await,
        }
    });
    quiet_when_stdout_closed(result)
}

/// A reader that went away before the end (`status | head -1`) ends a
/// client command quietly with 0, as when it has printed all: what it was
/// asked for was read. (Rust ignores SIGPIPE, so a write gets EPIPE;
/// dying of SIGPIPE as coreutils do is not used, as the client's socket to
/// the supervisor would then kill it silently too.)
fn quiet_when_stdout_closed(result: anyhow::Result<u8>) -> anyhow::Result<u8> {
    match result {
        Err(err)
            if err.chain().any(|cause| {
                cause
                    .downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            Ok(exit::OK)
        }
        other => other,
    }
}

/// `start NAME...`: ask the running supervisor to start instances (called
/// by the `start` command when it is given names).
pub fn start_instances(
    global: &Global,
    names: &[String],
    wait: &verbs::WaitArgs,
) -> anyhow::Result<u8> {
    let path = socket_path(global);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the client's runtime")?;
    Ok(runtime.block_on(verbs::run(&path, verbs::Verb::Start, names, wait)))
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
        Ok(Response::Ok { message, .. }) => {
            let message = message.unwrap_or_else(|| match target {
                Some(name) => format!("{verb} {name}: ok"),
                None => format!("{verb}: ok"),
            });
            writeln!(std::io::stdout(), "{message}")?;
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

async fn status(
    path: &std::path::Path,
    name: Option<String>,
    json: bool,
    color: ColorWhen,
) -> anyhow::Result<u8> {
    let one = name.is_some();
    match verbs::status_request(path, name).await {
        Ok(reply) => print_status(reply, one, json, color),
        Err(code) => Ok(code),
    }
}

/// Prints a `status` reply: JSON, one instance in detail, or the table;
/// the exit code with NAME says whether it runs.
fn print_status(
    (instances, rejected): verbs::StatusReply,
    one: bool,
    json: bool,
    color: ColorWhen,
) -> anyhow::Result<u8> {
    let mut out = std::io::stdout().lock();
    if json {
        let value = serde_json::json!({ "instances": instances, "rejected": rejected });
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
        return Ok(if one {
            verbs::status_one_exit(&instances)
        } else {
            exit::OK
        });
    }
    let paint = Paint::for_stdout(color);
    if one {
        for instance in &instances {
            write!(out, "{}", detail(instance, paint, now_ms()))?;
        }
        out.flush()?;
        return Ok(verbs::status_one_exit(&instances));
    } else {
        let width = render::terminal_width();
        let text = table(&instances, &rejected, View::Status, paint, now_ms(), width);
        write!(out, "{text}")?;
    }
    Ok(exit::OK)
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
    writeln!(std::io::stdout(), "client {}", env!("CARGO_PKG_VERSION"))?;
    let outcome = tokio::time::timeout(REPLY_TIMEOUT, control::request(path, Request::Version))
        .await
        .ok();
    print_version(verbs::Called::from_outcome(path, outcome))
}

/// The supervisor's half of `version` (the client's line printed first).
fn print_version(called: verbs::Called) -> anyhow::Result<u8> {
    match called {
        verbs::Called::Reply(Response::Version { version, protocol }) => {
            writeln!(
                std::io::stdout(),
                "supervisor {version} (protocol {protocol})"
            )?;
            Ok(exit::OK)
        }
        verbs::Called::Reply(other) => Ok(unexpected(&other)),
        verbs::Called::Error(_, message) => Ok(fail(&message)),
        verbs::Called::Exit(code) => Ok(code),
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_closed_stdout_turns_an_error_into_a_quiet_0() {
        let io = |kind: std::io::ErrorKind| anyhow::Error::new(std::io::Error::from(kind));
        let rows: Vec<(anyhow::Result<u8>, Option<u8>)> = vec![
            (Ok(exit::OK), Some(exit::OK)),
            (Ok(exit::NOT_RUNNING), Some(exit::NOT_RUNNING)),
            (Err(io(std::io::ErrorKind::BrokenPipe)), Some(exit::OK)),
            (
                Err(io(std::io::ErrorKind::BrokenPipe).context("writing the table")),
                Some(exit::OK),
            ),
            (Err(io(std::io::ErrorKind::PermissionDenied)), None),
            (Err(anyhow::anyhow!("Broken pipe")), None),
        ];
        for (result, expected) in rows {
            let shown = format!("{result:?}");
            assert_eq!(quiet_when_stdout_closed(result).ok(), expected, "{shown}");
        }
    }
}
