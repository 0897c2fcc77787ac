//! The daemon's side of the control socket: turns protocol requests into
//! supervisor calls and internal snapshots into wire types. This is the edge
//! where internal types meet the wire; neither side knows the other.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::control::{Handler, Reply, RequestContext};
use crate::instance::{Outcome, Refusal, Snapshot};
use crate::lifecycle::StateName;
use crate::metrics;
use crate::openclaw::EnvMap;
use crate::openclaw::validate::Verdict;
use crate::probe::ProbeTracker;
use crate::protocol::{
    self, CommandOutcome, ErrorKind, ErrorSource, Event, ExplicitPort, InstanceStatus, LastExit,
    Paths, Ports, Probes, RejectedFile, Request, Response,
};
use crate::supervisor::{
    ControlCommand, Controlled, EventRecord, SupervisorError, SupervisorHandle, unix_ms,
};
use crate::usage::Usage;

mod logs;
mod rollback;
#[cfg(test)]
mod tests;
mod wire;
use wire::wire_wake;
pub use wire::{wire_event, wire_status};

/// Lines `logs` returns when the request does not say.
pub const DEFAULT_LOG_LINES: usize = 50;

pub struct ControlHandler {
    pub supervisor: SupervisorHandle,
    pub dir: PathBuf,
    pub env: Arc<EnvMap>,
    usage: Mutex<Usage>,
}

impl ControlHandler {
    pub fn new(supervisor: SupervisorHandle, dir: PathBuf, env: Arc<EnvMap>) -> Self {
        ControlHandler {
            supervisor,
            dir,
            env,
            usage: Mutex::new(Usage::new()),
        }
    }

    /// The error reply for `err`; an unknown name comes with the known ones,
    /// so a typo is fixed without a second command.
    async fn error_response(&self, err: SupervisorError) -> Response {
        let kind = match err {
            SupervisorError::UnknownInstance(_) => ErrorKind::UnknownInstance,
            SupervisorError::ShuttingDown => ErrorKind::ShuttingDown,
            _ => ErrorKind::Internal,
        };
        let mut message = err.to_string();
        if kind == ErrorKind::UnknownInstance {
            let known: Vec<String> = match self.supervisor.status(None).await {
                Ok(report) => report.instances.into_iter().map(|s| s.name).collect(),
                Err(_) => Vec::new(),
            };
            message = match known.is_empty() {
                true => format!("{message}; none is declared"),
                false => format!("{message}; known: {}", known.join(", ")),
            };
        }
        Response::error(kind, message)
    }
}

impl Handler for ControlHandler {
    async fn handle(&self, request: Request, context: RequestContext) -> Reply {
        if !matches!(
            request,
            Request::Status { .. }
                | Request::Version
                | Request::Logs { .. }
                | Request::Events { .. }
                | Request::Metrics
        ) {
            tracing::info!(
                request = request.type_name(),
                uid = context.peer.uid,
                pid = context.peer.pid,
                "control request"
            );
        }
        // The reply waits for the instance to act on the command, so it
        // says what was done.
        let control = |name: String, command: ControlCommand| async move {
            match self.supervisor.control(&name, command).await {
                Ok(Controlled { ticket, unsaved }) => {
                    let outcome = tokio::time::timeout(ANSWER_WITHIN, ticket).await.ok();
                    command_reply(&name, command, outcome, unsaved)
                }
                Err(err) => self.error_response(err).await,
            }
        };
        let wants_backlog = request.wants_backlog();
        let response = match request {
            Request::Status { name } => match self.supervisor.status(name).await {
                Ok(report) => {
                    let instances =
                        self.each_with_usage(&report.instances, |snapshot, usage| InstanceStatus {
                            last_event: self
                                .supervisor
                                .last_event(&snapshot.name)
                                .map(|record| wire_event(&record)),
                            wake: report.wakes.get(&snapshot.name).map(wire_wake),
                            last_notify: self.supervisor.last_notify(&snapshot.name),
                            ..wire_status(snapshot, usage.of(snapshot))
                        });
                    Response::Status {
                        instances,
                        rejected: report
                            .rejected
                            .iter()
                            .map(|r| RejectedFile {
                                file: r.file.display().to_string(),
                                reason: r.reason.clone(),
                            })
                            .collect(),
                    }
                }
                Err(err) => self.error_response(err).await,
            },
            Request::Diff { name } => match rollback::diff(&self.supervisor, &name).await {
                Ok(text) => Response::ok_with(text),
                Err(err) => self.error_response(err).await,
            },
            Request::Rollback { name } => match self.supervisor.instance(&name).await {
                Ok(handle) => match rollback::roll_back(&handle).await {
                    Ok(detail) => match control(name, ControlCommand::Restart).await {
                        Response::Ok { message, outcome } => Response::Ok {
                            message: Some(format!(
                                "rolled back: {detail}; {}",
                                message.unwrap_or_default()
                            )),
                            outcome,
                        },
                        other => other,
                    },
                    Err(refused) => Response::error(ErrorKind::Refused, refused),
                },
                Err(err) => self.error_response(err).await,
            },
            Request::Start { name } => control(name, ControlCommand::Start).await,
            Request::Stop { name } => control(name, ControlCommand::Stop).await,
            Request::Restart { name, force } => {
                let verdict = match force {
                    true => None,
                    false => match self.supervisor.validate_running(&name).await {
                        Ok(verdict) => verdict,
                        Err(err) => return Reply::One(self.error_response(err).await),
                    },
                };
                match verdict {
                    Some(Verdict::Invalid { reasons }) => {
                        tracing::warn!(instance = %name, reasons = %reasons.join("; "), "restart refused: openclaw refuses the config");
                        Response::error(ErrorKind::Refused, refused_restart(&name, &reasons))
                    }
                    Some(Verdict::Unavailable { why }) => {
                        tracing::warn!(instance = %name, %why, "restart: the config could not be validated");
                        match control(name, ControlCommand::Restart).await {
                            Response::Ok { message, outcome } => Response::Ok {
                                message: Some(format!(
                                    "{} (its config was not validated: {why})",
                                    message.unwrap_or_default()
                                )),
                                outcome,
                            },
                            other => other,
                        }
                    }
                    _ => control(name, ControlCommand::Restart).await,
                }
            }
            Request::Signal { name, signal } => {
                let signal = crate::process::to_signal(signal);
                // The actor says whether a gateway took it (a signal for no
                // process is refused, not "sent").
                control(name, ControlCommand::Signal(signal)).await
            }
            Request::Logs {
                name,
                lines,
                follow,
                since_ms,
            } => {
                let request = logs::LogsRequest {
                    name,
                    // With `since` alone, every line since then.
                    last: lines.or(since_ms.is_none().then_some(DEFAULT_LOG_LINES)),
                    since_ms,
                    follow,
                };
                return match logs::reply(&self.supervisor, request).await {
                    Ok(reply) => reply,
                    Err(err) => Reply::One(self.error_response(err).await),
                };
            }
            Request::Reload => match self.supervisor.reload().await {
                Ok(outcome) => {
                    let message = format!(
                        "reloaded: {} added, {} restarted, {} updated, {} removed, {} rejected",
                        outcome.added.len(),
                        outcome.restarted.len(),
                        outcome.updated.len(),
                        outcome.removed.len(),
                        outcome.rejected.len()
                    );
                    if outcome.rejected.is_empty() {
                        Response::ok_with(message)
                    } else {
                        Response::error(
                            ErrorKind::Refused,
                            format!("{message} (see `status` for why)"),
                        )
                    }
                }
                Err(err) => self.error_response(err).await,
            },
            Request::Check => {
                let report = crate::resolution::check_report(&self.dir, &self.env);
                Response::Check {
                    ok: report.ok,
                    report: report.json,
                }
            }
            Request::Events {
                name,
                lines,
                since_ms,
                follow,
            } => {
                let filter = crate::journal::Filter {
                    name,
                    since_ms,
                    lines,
                };
                let bus = self.supervisor.events().clone();
                return crate::journal::events_reply(bus, filter, wants_backlog, follow).await;
            }
            Request::Shutdown => {
                self.supervisor.shutdown();
                Response::ok_with("shutting down: every gateway is being stopped")
            }
            Request::Reexec => return self.reexec().await,
            Request::Version => Response::Version {
                version: env!("CARGO_PKG_VERSION").to_string(),
                protocol: protocol::PROTOCOL_VERSION,
            },
            Request::Metrics => match self.metrics_text().await {
                Ok(text) => Response::Metrics { text },
                Err(err) => self.error_response(err).await,
            },
        };
        Reply::One(response)
    }
}

impl ControlHandler {
    /// `reexec`: `ok` ("re-executing"), written before the exec goes on;
    /// then the exec closes the connection, or an error line says why it
    /// failed. A refusal is one `refused` error.
    async fn reexec(&self) -> Reply {
        let accepted = match self.supervisor.reexec().await {
            Ok(Ok(accepted)) => accepted,
            Ok(Err(why)) => {
                return Reply::One(Response::error(
                    ErrorKind::Refused,
                    format!("re-exec refused: {why}"),
                ));
            }
            Err(err) => return Reply::One(self.error_response(err).await),
        };
        let (after_tx, after_rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            if let Ok(why) = accepted.failed.await {
                let _ = after_tx.send(Response::error(ErrorKind::Refused, why));
            }
        });
        Reply::Handover {
            response: Response::ok_with(format!(
                "re-executing: version {}, pid {}",
                env!("CARGO_PKG_VERSION"),
                std::process::id()
            )),
            written: accepted.written,
            after: after_rx,
        }
    }

    /// The metrics exposition now: every instance's figures (usage from
    /// the same readings `status` uses) and the supervisor's own.
    /// Each snapshot mapped by `each` with the usage figures, read first
    /// (at most once a second, for every client alike): status and metrics.
    fn each_with_usage<T>(
        &self,
        snapshots: &[Snapshot],
        mut each: impl FnMut(&Snapshot, &Usage) -> T,
    ) -> Vec<T> {
        let mut usage = self.usage.lock().unwrap_or_else(|p| p.into_inner());
        usage.refresh(snapshots);
        snapshots
            .iter()
            .map(|snapshot| each(snapshot, &usage))
            .collect()
    }

    pub async fn metrics_text(&self) -> Result<String, SupervisorError> {
        let report = self.supervisor.status(None).await?;
        let instances = self.each_with_usage(&report.instances, |snapshot, usage| {
            metrics::InstanceFigures::from_snapshot(
                snapshot,
                usage.of(snapshot),
                usage.cpu_total(&snapshot.name),
            )
        });
        let rejected = u64::try_from(report.rejected.len()).unwrap_or(u64::MAX);
        let mut supervisor = metrics::own::read(env!("CARGO_PKG_VERSION"), rejected);
        supervisor.journal_dropped = self.supervisor.events().journal().dropped();
        Ok(metrics::render(&metrics::Figures {
            instances,
            supervisor,
        }))
    }
}

impl metrics::listener::Source for ControlHandler {
    async fn exposition(&self) -> Option<String> {
        self.metrics_text().await.ok()
    }
}

/// Why a restart was refused: openclaw's reasons, and the way on.
fn refused_restart(name: &str, reasons: &[String]) -> String {
    let mut message = format!(
        "not restarting {name}: openclaw refuses its config, so a new gateway would exit 78:"
    );
    for reason in reasons {
        message.push_str(&format!("\n  {reason}"));
    }
    message.push_str(&format!(
        "\nthe running gateway is kept; fix the config, or `restart --force {name}`"
    ));
    message
}

/// How long a command's reply waits for its instance to act: an actor
/// busy for longer (a keeper that does not answer its order, a spawn
/// that hangs) gets the
/// command when it is done, and the reply says it is accepted. Within the
/// client's 60 s, with a restart's `config validate` (up to 30 s) first.
const ANSWER_WITHIN: std::time::Duration = std::time::Duration::from_secs(20);

/// The reply to an instance's command, once its instance acted on it
/// (`outcome`; `None` when it had not within [`ANSWER_WITHIN`]): `ok`
/// with what was done, or with `acted: false` when the instance already
/// was where the command leads; a `refused` error when it could not be
/// done. `unsaved` (the changed intent not saved yet) ends the message.
fn command_reply(
    name: &str,
    command: ControlCommand,
    outcome: Option<Outcome>,
    unsaved: Option<String>,
) -> Response {
    let with_unsaved = |message: String| match &unsaved {
        Some(why) => format!("{message}; {why}"),
        None => message,
    };
    let ok = |message: String, state: StateName, acted: bool| Response::Ok {
        message: Some(with_unsaved(message)),
        outcome: Some(CommandOutcome {
            state: state.as_str().to_string(),
            acted,
        }),
    };
    let refused = |message: String| Response::error(ErrorKind::Refused, with_unsaved(message));
    let outcome = match outcome {
        Some(outcome) => outcome,
        None => {
            return Response::ok_with(with_unsaved(format!(
                "{name}: {} accepted, not carried out yet: the instance is busy; `status {name}` shows when it is",
                command.word()
            )));
        }
    };
    let reason = match outcome {
        Outcome::Done { state } => return ok(done_words(name, command, state), state, true),
        Outcome::Refused { reason } => reason,
    };
    match reason {
        Refusal::Already(state) => ok(format!("{name}: already {state}"), state, false),
        Refusal::AlreadyRestarting => ok(
            format!("{name}: already restarting"),
            StateName::Stopping,
            false,
        ),
        Refusal::Stopping => refused(format!(
            "{name}: not {}: it is stopping; `{} {name}` again once it has stopped",
            command.done(),
            command.word()
        )),
        Refusal::NoGateway(StateName::Exiting) => refused(format!(
            "{name} has no running gateway to signal: it has exited, and what it left behind is being stopped"
        )),
        Refusal::NoGateway(state) => refused(format!(
            "{name} has no running gateway to signal (it is {state}); start it with `start {name}`"
        )),
        Refusal::Ignored(state) => refused(format!(
            "{name}: not {}: nothing to do while it is {state}",
            command.done()
        )),
        Refusal::Removed => refused(format!(
            "{name}: not {}: the instance was removed",
            command.done()
        )),
    }
}

/// What an instance did with a command it took, in words: its state
/// right after (after a start, the spawn was attempted).
fn done_words(name: &str, command: ControlCommand, state: StateName) -> String {
    match (command, state) {
        (ControlCommand::Signal(signal), _) => format!("{name}: sent {}", signal.as_str()),
        (ControlCommand::Restart, StateName::Stopping) => {
            format!("{name}: stopping, then starting again")
        }
        // Its gateway is gone, processes it left are being stopped.
        (ControlCommand::Stop, StateName::Exiting) => {
            format!("{name}: exiting: stopped once the processes its gateway left are gone")
        }
        (ControlCommand::Restart, StateName::Exiting) => {
            format!("{name}: exiting: starting again once the processes its gateway left are gone")
        }
        (
            ControlCommand::Start | ControlCommand::Restart,
            StateName::Backoff | StateName::Failed,
        ) => format!("{name}: {state}: its gateway could not be spawned; `status {name}` says why"),
        (_, state) => format!("{name}: {state}"),
    }
}

impl ControlCommand {
    /// The command as the client's verb.
    fn word(self) -> &'static str {
        match self {
            ControlCommand::Start => "start",
            ControlCommand::Stop => "stop",
            ControlCommand::Restart => "restart",
            ControlCommand::Signal(_) => "signal",
        }
    }

    /// "not ..." when it was not done.
    fn done(self) -> &'static str {
        match self {
            ControlCommand::Start => "started",
            ControlCommand::Stop => "stopped",
            ControlCommand::Restart => "restarted",
            ControlCommand::Signal(_) => "signalled",
        }
    }
}
