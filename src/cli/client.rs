//! Client commands: talk to the running supervisor over its socket.
//!
//! Exit codes: 0 done, 1 refused or failed (the reason on stderr), 3 the
//! supervisor is not running (the socket path tried on stderr).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Subcommand;
use openclaw_supervisor::control::{self, ClientError};
use openclaw_supervisor::protocol::{
    EndReason, Event, InstanceStatus, ProbeStatus, RejectedFile, Request, Response, SignalName,
};

use super::{Global, exit};

/// How long a one-reply request may take before the client gives up.
const REPLY_TIMEOUT: Duration = Duration::from_secs(60);

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
    Restart {
        /// The instance's name.
        name: String,
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
            ClientCommand::Restart { name } => action(&path, Request::Restart { name }).await,
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
        }
    })
}

/// `start NAME`: ask the running supervisor to start an instance (called by
/// the `start` command when it is given a name).
#[allow(
    dead_code,
    reason = "called from the daemon's `start NAME` once the lead wires it"
)]
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
        | Request::Restart { name }
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

/// ANSI colours, only on a terminal and never when NO_COLOR is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Paint {
    enabled: bool,
}

#[derive(Debug, Clone, Copy)]
enum Colour {
    Green,
    Yellow,
    Red,
    Dim,
}

impl Paint {
    fn for_stdout() -> Self {
        Paint::new(
            std::io::stdout().is_terminal(),
            std::env::var_os("NO_COLOR"),
        )
    }

    /// NO_COLOR counts when set to anything but the empty string.
    fn new(terminal: bool, no_color: Option<std::ffi::OsString>) -> Self {
        let no_color = no_color.is_some_and(|value| !value.is_empty());
        Paint {
            enabled: terminal && !no_color,
        }
    }

    fn paint(self, text: &str, colour: Option<Colour>) -> String {
        match (self.enabled, colour) {
            (true, Some(colour)) => {
                let code = match colour {
                    Colour::Green => "32",
                    Colour::Yellow => "33",
                    Colour::Red => "31",
                    Colour::Dim => "2",
                };
                format!("\x1b[{code}m{text}\x1b[0m")
            }
            _ => text.to_string(),
        }
    }
}

fn state_colour(state: &str) -> Option<Colour> {
    match state {
        "running" | "ready" => Some(Colour::Green),
        "starting" | "backoff" | "stopping" | "restarting" => Some(Colour::Yellow),
        "failed" | "crashed" => Some(Colour::Red),
        "stopped" | "standby" => Some(Colour::Dim),
        _ => None,
    }
}

/// One word for the probes: what an operator scans the table for.
fn health(instance: &InstanceStatus) -> (String, Option<Colour>) {
    let probes = &instance.probes;
    if instance.pid.is_none() {
        return (String::from("-"), None);
    }
    if probes.liveness.as_ref().is_some_and(|probe| !probe.ok) {
        return (String::from("unhealthy"), Some(Colour::Red));
    }
    match &probes.readiness {
        Some(ProbeStatus { ok: true, .. }) => (String::from("ready"), Some(Colour::Green)),
        Some(ProbeStatus { failing, .. }) if !failing.is_empty() => (
            format!("not ready: {}", failing.join(",")),
            Some(Colour::Red),
        ),
        Some(_) => (String::from("not ready"), Some(Colour::Red)),
        None => match &probes.startup {
            Some(ProbeStatus { ok: true, .. }) => (String::from("started"), Some(Colour::Green)),
            _ => (String::from("starting"), Some(Colour::Yellow)),
        },
    }
}

fn uptime(seconds: u64) -> String {
    let (days, hours, minutes) = (seconds / 86_400, seconds / 3_600 % 24, seconds / 60 % 60);
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3_600 => format!("{minutes}m"),
        3_600..86_400 => format!("{}h{minutes:02}m", seconds / 3_600),
        _ => format!("{days}d{hours:02}h"),
    }
}

fn memory(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "K", "M", "G", "T"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes}B")
    } else {
        format!("{value:.1}{}", UNITS[unit])
    }
}

fn or_dash<T>(value: Option<T>, show: impl FnOnce(T) -> String) -> String {
    value.map(show).unwrap_or_else(|| String::from("-"))
}

fn in_or_ago(at_ms: u64, now_ms: u64) -> String {
    if at_ms >= now_ms {
        format!("in {}", uptime((at_ms - now_ms).div_ceil(1000)))
    } else {
        format!("{} ago", uptime((now_ms - at_ms) / 1000))
    }
}

/// The `pm2 ls`-like table, then the notes an operator needs next to it.
fn table(
    instances: &[InstanceStatus],
    rejected: &[RejectedFile],
    paint: Paint,
    now_ms: u64,
) -> String {
    let header = [
        "NAME", "ROLE", "STATE", "PID", "UPTIME", "RESTARTS", "HEALTH", "PORT", "CPU", "MEM",
    ];
    let rows: Vec<Vec<(String, Option<Colour>)>> = instances
        .iter()
        .map(|instance| {
            let state = if instance.standby && instance.pid.is_none() {
                String::from("standby")
            } else {
                instance.state.clone()
            };
            let colour = state_colour(&state);
            vec![
                (instance.name.clone(), None),
                (instance.role.as_str().to_string(), None),
                (state, colour),
                (or_dash(instance.pid, |pid| pid.to_string()), None),
                (or_dash(instance.uptime_secs, uptime), None),
                (instance.restarts.to_string(), None),
                health(instance),
                (instance.ports.base.to_string(), None),
                (
                    or_dash(instance.cpu_percent, |cpu| format!("{cpu:.1}%")),
                    None,
                ),
                (or_dash(instance.memory_bytes, memory), None),
            ]
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|title| title.len()).collect();
    for row in &rows {
        for (width, (cell, _)) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<(String, Option<Colour>)>| {
        let last = cells.len() - 1;
        let mut text = String::new();
        for (index, ((cell, colour), width)) in cells.into_iter().zip(&widths).enumerate() {
            // Pad before painting: escape codes have no width.
            let padded = if index == last {
                cell
            } else {
                format!("{cell:<width$}  ")
            };
            text.push_str(&paint.paint(&padded, colour));
        }
        text.trim_end().to_string() + "\n"
    };
    out.push_str(&line(
        header
            .iter()
            .map(|title| (title.to_string(), None))
            .collect(),
    ));
    for row in rows {
        out.push_str(&line(row));
    }
    if instances.is_empty() {
        out.push_str("no instances declared\n");
    }
    for instance in instances {
        if let Some(at) = instance.next_restart_at {
            out.push_str(&format!(
                "{}: next restart {}\n",
                instance.name,
                in_or_ago(at, now_ms)
            ));
        }
        if !instance.last_error_lines.is_empty() {
            out.push_str(&format!("{}: last error lines:\n", instance.name));
            for error_line in &instance.last_error_lines {
                out.push_str(&format!("  {error_line}\n"));
            }
        }
    }
    for file in rejected {
        let label = paint.paint("rejected", Some(Colour::Red));
        out.push_str(&format!("{label} {}: {}\n", file.file, file.reason));
    }
    out
}

fn probe_line(name: &str, probe: &Option<ProbeStatus>, now_ms: u64) -> String {
    let Some(probe) = probe else {
        return format!("  {name:<10} -\n");
    };
    let verdict = if probe.ok { "ok" } else { "failing" };
    let mut text = format!(
        "  {name:<10} {verdict}, {}ms, {}",
        probe.latency_ms,
        in_or_ago(probe.at, now_ms)
    );
    if probe.consecutive_failures > 0 {
        text.push_str(&format!(
            ", {} failures in a row",
            probe.consecutive_failures
        ));
    }
    if !probe.failing.is_empty() {
        text.push_str(&format!(", failing: {}", probe.failing.join(", ")));
    }
    if let Some(detail) = &probe.detail {
        text.push_str(&format!(" ({detail})"));
    }
    text + "\n"
}

/// `status NAME`: everything known about one instance.
fn detail(instance: &InstanceStatus, paint: Paint, now_ms: u64) -> String {
    let state = paint.paint(&instance.state, state_colour(&instance.state));
    let (health_text, health_colour) = health(instance);
    let mut out = format!("{} ({}): {state}\n", instance.name, instance.role.as_str());
    let mut field = |label: &str, value: String| {
        out.push_str(&format!("  {label:<12} {value}\n"));
    };
    field("health", paint.paint(&health_text, health_colour));
    field("pid", or_dash(instance.pid, |pid| pid.to_string()));
    field("uptime", or_dash(instance.uptime_secs, uptime));
    field("restarts", instance.restarts.to_string());
    if let Some(exit) = &instance.last_exit {
        let how = match (&exit.code, &exit.signal) {
            (_, Some(signal)) => format!("killed by {signal}"),
            (Some(code), None) => format!("exit code {code}"),
            (None, None) => String::from("unknown"),
        };
        field(
            "last exit",
            format!("{how}, {}", in_or_ago(exit.at, now_ms)),
        );
    }
    if let Some(at) = instance.next_restart_at {
        field("next restart", in_or_ago(at, now_ms));
    }
    let ports = &instance.ports;
    let mut port_text = format!(
        "{} (block {}-{})",
        ports.base, ports.block_start, ports.block_end
    );
    for explicit in &ports.explicit {
        port_text.push_str(&format!(", {} {}", explicit.key, explicit.port));
    }
    field("ports", port_text);
    field(
        "cpu / mem",
        format!(
            "{} / {}",
            or_dash(instance.cpu_percent, |cpu| format!("{cpu:.1}%")),
            or_dash(instance.memory_bytes, memory)
        ),
    );
    field("config", instance.paths.config.clone());
    field("state dir", instance.paths.state_dir.clone());
    field("workspace", instance.paths.workspace.clone());
    field("log file", instance.paths.log_file.clone());
    field("declared in", instance.declaration_file.clone());
    if let Some(main) = &instance.rescue_of {
        let standby = if instance.standby { ", standby" } else { "" };
        field("rescue of", format!("{main}{standby}"));
    }
    out.push_str("  probes\n");
    out.push_str(&probe_line("startup", &instance.probes.startup, now_ms));
    out.push_str(&probe_line("liveness", &instance.probes.liveness, now_ms));
    out.push_str(&probe_line("readiness", &instance.probes.readiness, now_ms));
    if !instance.last_error_lines.is_empty() {
        out.push_str("  last error lines\n");
        for error_line in &instance.last_error_lines {
            out.push_str(&format!("    {error_line}\n"));
        }
    }
    out
}

fn event_line(event: &Event, paint: Paint) -> String {
    let at = UNIX_EPOCH + Duration::from_millis(event.at);
    let colour = match event.kind.as_str() {
        "failed" | "exited" | "rejected" => Some(Colour::Red),
        "backoff" | "rescue_triggered" | "dropped" => Some(Colour::Yellow),
        "spawned" | "started" => Some(Colour::Green),
        _ => None,
    };
    format!(
        "{} {} {} {}",
        humantime::format_rfc3339_seconds(at),
        event.instance.as_deref().unwrap_or("supervisor"),
        paint.paint(event.kind.as_str(), colour),
        event.detail
    )
}

#[cfg(test)]
mod tests;
