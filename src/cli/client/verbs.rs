//! Verbs on several instances (`start|stop|restart NAME...|all`), waiting
//! until they are done (`--wait`), and systemctl's exit codes (`is-active`,
//! `status NAME`).
//!
//! The decisions are pure ([`plan_all`], [`Tracker`] and `describe` in `track.rs`,
//! [`status_exit`]) and covered by tables in `verbs/tests.rs`; the IO is the
//! requests, the events stream and the lines printed.
//!
//! Waiting is driven by events: the client subscribes to `events` before it
//! sends the commands, and re-reads status on every event about an instance
//! it waits for. A readiness probe's first pass is not an event (only
//! changes are), so while an instance runs without a readiness verdict the
//! status is re-read every [`READINESS_POLL`]; otherwise a slow
//! [`SAFETY_POLL`] covers events sent before the daemon registered the
//! subscription (it cannot confirm it).

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use clap::Args;
use openclaw_supervisor::control;
use openclaw_supervisor::protocol::{
    ErrorKind, Event, EventKind, InstanceStatus, Request, Response,
};
use tokio::sync::mpsc;

use super::{REPLY_TIMEOUT, client_error, fail, unexpected};
use crate::cli::exit;

#[cfg(test)]
mod tests;
mod track;

pub use track::{Goal, Step, Tracker};

/// How often status is re-read while an instance runs and its readiness
/// probe has not passed yet (its first pass sends no event).
const READINESS_POLL: Duration = Duration::from_millis(500);
/// How often status is re-read otherwise, in case an event went out before
/// the subscription was in place.
const SAFETY_POLL: Duration = Duration::from_secs(5);

/// `--wait` and `--timeout`, shared by `start`, `stop` and `restart`.
#[derive(Debug, Clone, Default, Args)]
pub struct WaitArgs {
    /// Wait until each instance is running and ready (readiness passed, or
    /// startup passed when it has no readiness probe); for `stop`, until its
    /// processes are gone. Progress goes to stderr; exit 1 when one fails,
    /// backs off after a crash, or the timeout passes.
    #[arg(long, requires = "names")]
    pub wait: bool,
    /// How long `--wait` waits for them all, e.g. `90s`, `10m` (default:
    /// start 3m, stop 6m, restart 9m: a gateway boots in 12-56 s within a
    /// 120 s startup allowance and drains up to 330 s when stopped).
    #[arg(long, value_name = "DURATION", requires = "wait", value_parser = parse_timeout)]
    pub timeout: Option<Duration>,
}

fn parse_timeout(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(duration) if duration.is_zero() => Err(String::from("a zero timeout waits for nothing")),
        Ok(duration) => Ok(duration),
        Err(err) => Err(format!("invalid duration `{text}`: {err}")),
    }
}

/// The verbs that act on instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Start,
    Stop,
    Restart {
        force: bool,
    },
    /// Put the last known good config back, then restart (one name).
    Rollback,
}

impl Verb {
    fn request(self, name: &str) -> Request {
        let name = name.to_string();
        match self {
            Verb::Start => Request::Start { name },
            Verb::Stop => Request::Stop { name },
            Verb::Restart { force } => Request::Restart { name, force },
            Verb::Rollback => Request::Rollback { name },
        }
    }

    fn word(self) -> &'static str {
        match self {
            Verb::Start => "start",
            Verb::Stop => "stop",
            Verb::Restart { .. } => "restart",
            Verb::Rollback => "rollback",
        }
    }

    /// `--wait`'s default: the boot (120 s startup allowance, real gateways
    /// take 12-56 s) and the drain (330 s stop timeout), with room to spare.
    pub fn default_timeout(self) -> Duration {
        match self {
            Verb::Start => Duration::from_secs(3 * 60),
            Verb::Stop => Duration::from_secs(6 * 60),
            Verb::Restart { .. } | Verb::Rollback => Duration::from_secs(9 * 60),
        }
    }
}

/// What `all` does with one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Act(String),
    /// Left alone, and why (printed on its line).
    Skip(String, String),
}

/// `all`: every declared instance in status order, except a standby rescue
/// with no process: one waiting in `standby` is left armed by every verb
/// (stopping it would disarm it), and `start`/`restart all` leave one
/// stopped by hand stopped (it would run beside a healthy main, and its
/// point is to run only when main fails). `start`/`stop NAME` still does
/// either. README's "Several instances" says the same.
pub fn plan_all(verb: Verb, instances: &[InstanceStatus]) -> Vec<Target> {
    instances
        .iter()
        .map(|instance| {
            let name = instance.name.clone();
            let idle = instance.pid.is_none();
            let waiting = instance.state == "standby";
            let skip = match verb {
                Verb::Start | Verb::Restart { .. } | Verb::Rollback => {
                    instance.standby && idle && (waiting || instance.state == "stopped")
                }
                Verb::Stop => waiting,
            };
            if !skip {
                return Target::Act(name);
            }
            let why = match (verb, waiting) {
                (Verb::Stop, _) => {
                    format!("{name}: left in standby (nothing runs; `stop {name}` disarms it)")
                }
                (_, true) => format!(
                    "{name}: left in standby (it starts when its main fails; `start {name}` starts it now)"
                ),
                (_, false) => format!(
                    "{name}: left stopped (a standby rescue does not run beside its main; `start {name}` starts it now)"
                ),
            };
            Target::Skip(name, why)
        })
        .collect()
}

/// The names as given, or `all`'s plan when given the instances.
fn targets(names: &[String], all: Option<&[InstanceStatus]>, verb: Verb) -> Vec<Target> {
    match all {
        Some(instances) => plan_all(verb, instances),
        None => names.iter().cloned().map(Target::Act).collect(),
    }
}

/// `status NAME`'s exit code for the instance's state, as systemctl's:
/// 0 running, 3 anything else.
pub fn status_exit(state: &str) -> u8 {
    match state {
        "running" => exit::OK,
        _ => exit::NOT_RUNNING,
    }
}

/// A one-reply request; the error kind kept for the caller.
pub(super) enum Called {
    Reply(Response),
    Error(ErrorKind, String),
    /// The command must end with this code (the reason printed).
    Exit(u8),
}

impl Called {
    /// What became of a request: its reply, the client's error, or `None`
    /// when no reply came within [`REPLY_TIMEOUT`] (said on stderr).
    pub(super) fn from_outcome(
        path: &Path,
        outcome: Option<Result<Response, control::ClientError>>,
    ) -> Called {
        match outcome {
            Some(Ok(Response::Error { kind, message })) => Called::Error(kind, message),
            Some(Ok(response)) => Called::Reply(response),
            Some(Err(err)) => Called::Exit(client_error(&err)),
            None => Called::Exit(fail(&format!(
                "the supervisor on {} did not answer within {}s",
                path.display(),
                REPLY_TIMEOUT.as_secs()
            ))),
        }
    }

    /// The same request without a runtime (`oneshot.rs`).
    pub(super) fn blocking(path: &Path, request: Request) -> Called {
        let outcome = match control::request_blocking(path, request, REPLY_TIMEOUT) {
            Ok(response) => Some(Ok(response)),
            Err(control::BlockingError::Client(err)) => Some(Err(err)),
            Err(control::BlockingError::TimedOut) => None,
        };
        Called::from_outcome(path, outcome)
    }
}

async fn call(path: &Path, request: Request) -> Called {
    let outcome = tokio::time::timeout(REPLY_TIMEOUT, control::request(path, request))
        .await
        .ok();
    Called::from_outcome(path, outcome)
}

/// Every instance's status, or the code to end with.
async fn all_status(path: &Path) -> Result<Vec<InstanceStatus>, u8> {
    all_status_of(call(path, Request::Status { name: None }).await)
}

/// The instances of a `status` reply, or the code to end with.
pub(super) fn all_status_of(called: Called) -> Result<Vec<InstanceStatus>, u8> {
    match called {
        Called::Reply(Response::Status { instances, .. }) => Ok(instances),
        Called::Reply(other) => Err(unexpected(&other)),
        Called::Error(_, message) => Err(fail(&message)),
        Called::Exit(code) => Err(code),
    }
}

/// One `status` reply: every instance and the rejected files.
pub type StatusReply = (
    Vec<InstanceStatus>,
    Vec<openclaw_supervisor::protocol::RejectedFile>,
);

/// `status NAME`'s request: 4 for an unknown name (systemctl's code).
pub async fn status_request(path: &Path, name: Option<String>) -> Result<StatusReply, u8> {
    let one = name.is_some();
    status_reply(call(path, Request::Status { name }).await, one)
}

/// A `status` reply, or the code to end with: 4 for an unknown name when
/// one was asked for.
pub(super) fn status_reply(called: Called, one: bool) -> Result<StatusReply, u8> {
    match called {
        Called::Reply(Response::Status {
            instances,
            rejected,
        }) => Ok((instances, rejected)),
        Called::Reply(other) => Err(unexpected(&other)),
        Called::Error(ErrorKind::UnknownInstance, message) if one => {
            eprintln!("openclaw-supervisor: {message}");
            Err(exit::NO_SUCH_INSTANCE)
        }
        Called::Error(_, message) => Err(fail(&message)),
        Called::Exit(code) => Err(code),
    }
}

/// `status NAME`'s exit code once printed; says on stderr why it is 3.
pub fn status_one_exit(instances: &[InstanceStatus]) -> u8 {
    let Some(instance) = instances.first() else {
        return exit::OK;
    };
    let code = status_exit(&instance.state);
    if code != exit::OK {
        eprintln!(
            "openclaw-supervisor: {} is not running ({})",
            instance.name, instance.state
        );
    }
    code
}

/// `is-active NAME...`: one state word per name (`unknown` for no such
/// instance); 0 when every one is running, else 3.
pub async fn is_active(path: &Path, names: &[String], quiet: bool) -> u8 {
    match all_status(path).await {
        Ok(instances) => print_is_active(&instances, names, quiet),
        Err(code) => code,
    }
}

/// `is-active`'s lines and exit code, given every instance.
pub(super) fn print_is_active(instances: &[InstanceStatus], names: &[String], quiet: bool) -> u8 {
    let mut inactive = Vec::new();
    for name in names {
        let state = instances
            .iter()
            .find(|i| &i.name == name)
            .map(|i| i.state.as_str())
            .unwrap_or("unknown");
        if !quiet {
            say(state);
        }
        if state != "running" {
            inactive.push(format!("{name} ({state})"));
        }
    }
    if inactive.is_empty() {
        return exit::OK;
    }
    if !quiet {
        eprintln!("openclaw-supervisor: not active: {}", inactive.join(", "));
    }
    exit::NOT_RUNNING
}

/// `start|stop|restart NAME...|all [--wait [--timeout D]]`.
pub async fn run(path: &Path, verb: Verb, names: &[String], wait: &WaitArgs) -> u8 {
    let all = names.iter().any(|name| name == "all");
    if all && names.len() > 1 {
        return fail("`all` stands for every instance: give it alone");
    }
    // Subscribed before any command, so no change it causes is missed.
    let mut events = match wait.wait {
        true => match subscribe(path).await {
            Ok(events) => Some(events),
            Err(code) => return code,
        },
        false => None,
    };
    let before = match all || wait.wait {
        true => match all_status(path).await {
            Ok(instances) => Some(instances),
            Err(code) => return code,
        },
        false => None,
    };
    let targets = targets(names, before.as_deref().filter(|_| all), verb);
    if all && targets.is_empty() {
        eprintln!("openclaw-supervisor: no instances are declared");
    }
    let mut ok = true;
    let mut acted = Vec::new();
    for target in targets {
        let name = match target {
            Target::Skip(_, why) => {
                say(why);
                continue;
            }
            Target::Act(name) => name,
        };
        match call(path, verb.request(&name)).await {
            Called::Reply(Response::Ok { message, .. }) => {
                say(message.unwrap_or_else(|| format!("{} {name}: ok", verb.word())));
                acted.push(name);
            }
            Called::Reply(other) => {
                unexpected(&other);
                ok = false;
            }
            Called::Error(_, message) => {
                eprintln!("openclaw-supervisor: {message}");
                ok = false;
            }
            // Not running (3), or no answer: the rest would fare no better.
            Called::Exit(code) => return code,
        }
    }
    if let (Some(events), Some(before)) = (events.as_mut(), before.as_deref()) {
        let timeout = wait.timeout.unwrap_or_else(|| verb.default_timeout());
        let trackers = acted
            .iter()
            .map(|name| {
                let status = before.iter().find(|i| &i.name == name);
                let goal = match verb {
                    Verb::Stop => Goal::Stopped,
                    Verb::Start => Goal::Ready { not_pid: None },
                    Verb::Restart { .. } | Verb::Rollback => Goal::Ready {
                        not_pid: status.and_then(|s| s.pid),
                    },
                };
                Tracker::new(name, goal, status)
            })
            .collect();
        match wait_for(path, events, trackers, timeout).await {
            Ok(true) => {}
            Ok(false) => ok = false,
            Err(code) => return code,
        }
    }
    match ok {
        true => exit::OK,
        false => exit::FAILED,
    }
}

/// The live events, once the daemon said the subscription is live: `None`
/// on the channel when the stream ended.
async fn subscribe(path: &Path) -> Result<mpsc::Receiver<Option<Event>>, u8> {
    let mut replies = match control::live_events(path).await {
        Ok(replies) => replies,
        Err(err) => return Err(client_error(&err)),
    };
    let (tx, rx) = mpsc::channel(256);
    tokio::spawn(async move {
        loop {
            let event = match replies.recv().await {
                Some(Ok(Some(Response::Event(event)))) => Some(event),
                Some(Ok(Some(_))) => continue,
                Some(Ok(None) | Err(_)) | None => None,
            };
            let end = event.is_none();
            if tx.send(event).await.is_err() || end {
                return;
            }
        }
    });
    Ok(rx)
}

/// Waits for every tracker; true when all got there. Progress on stderr.
async fn wait_for(
    path: &Path,
    events: &mut mpsc::Receiver<Option<Event>>,
    mut trackers: Vec<Tracker>,
    timeout: Duration,
) -> Result<bool, u8> {
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + timeout;
    let mut all_ok = true;
    let mut stream_open = true;
    loop {
        let instances = all_status(path).await?;
        let find = |name: &str| instances.iter().find(|i| i.name == name);
        let mut pending = Vec::new();
        for mut tracker in trackers {
            let status = find(&tracker.name);
            match tracker.observe(status, started.elapsed()) {
                Step::Pending(line) => {
                    if let Some(line) = line {
                        eprintln!("{line}");
                    }
                    pending.push(tracker);
                }
                Step::Done(line) => eprintln!("{line}"),
                Step::Failed(lines) => {
                    lines.iter().for_each(|line| eprintln!("{line}"));
                    all_ok = false;
                }
            }
        }
        trackers = pending;
        if trackers.is_empty() {
            return Ok(all_ok);
        }
        // Without the stream (it ended: a shutdown, or refused as busy),
        // status is all there is: the next reading says why if it is gone.
        let poll = match !stream_open || trackers.iter().any(|t| t.needs_poll(find(&t.name))) {
            true => READINESS_POLL,
            false => SAFETY_POLL,
        };
        let names: BTreeSet<String> = trackers.iter().map(|t| t.name.clone()).collect();
        // Wait for an event about one of them (others are skipped), the
        // poll, or the deadline.
        let poll = tokio::time::sleep(poll);
        tokio::pin!(poll);
        let woke = loop {
            tokio::select! {
                event = events.recv(), if stream_open => match event {
                    Some(Some(event)) => {
                        let Some(name) = event.instance.as_ref().filter(|n| names.contains(*n)) else {
                            if event.kind == EventKind::Dropped {
                                break Wake::Read;
                            }
                            continue;
                        };
                        if let Some(tracker) = trackers.iter_mut().find(|t| &t.name == name) {
                            tracker.event(&event);
                        }
                        break Wake::Read;
                    }
                    Some(None) | None => {
                        stream_open = false;
                        break Wake::Read;
                    }
                },
                () = &mut poll => break Wake::Read,
                () = tokio::time::sleep_until(deadline) => break Wake::Deadline,
            }
        };
        match woke {
            Wake::Read => {}
            Wake::Deadline => {
                let instances = all_status(path).await.unwrap_or_default();
                for tracker in &trackers {
                    let status = instances.iter().find(|i| i.name == tracker.name);
                    tracker
                        .timed_out(status, timeout)
                        .iter()
                        .for_each(|line| eprintln!("{line}"));
                }
                return Ok(false);
            }
        }
    }
}

enum Wake {
    Read,
    Deadline,
}

/// One line on stdout. A reader that went away (`| head`) does not stop the
/// verbs half-way: the line is dropped, the commands still go out.
fn say(line: impl std::fmt::Display) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{line}");
}
