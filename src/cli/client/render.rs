//! How replies look on a terminal: the status table, one instance in
//! detail, event lines, and colours (only on a terminal, never with NO_COLOR).

use std::io::IsTerminal;
use std::time::{Duration, UNIX_EPOCH};

use openclaw_supervisor::protocol::{Event, InstanceStatus, ProbeStatus, RejectedFile};

/// ANSI colours, only on a terminal and never when NO_COLOR is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Paint {
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
    pub(super) fn for_stdout() -> Self {
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
    // One failed liveness check is not yet a verdict (the restart comes
    // after `failures` in a row): say how many so far.
    if let Some(probe) = probes.liveness.as_ref().filter(|probe| !probe.ok) {
        return (
            format!("liveness failing x{}", probe.consecutive_failures.max(1)),
            Some(Colour::Yellow),
        );
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
pub(super) fn table(
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
            let state = state_words(instance, state, now_ms);
            vec![
                (instance.name.clone(), None),
                (instance.role.as_str().to_string(), None),
                (state, colour),
                (or_dash(instance.pid, |pid| pid.to_string()), None),
                (or_dash(instance.uptime_secs, uptime), None),
                (instance.restarts.to_string(), None),
                with_breaker(instance, health(instance)),
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
        if let Some(note) = breaker_note(instance) {
            out.push_str(&format!("{}: {note}\n", instance.name));
        }
        if let Some(note) = kills_note(instance) {
            out.push_str(&format!("{}: {note}\n", instance.name));
        }
        if instance.dropped_log_lines > 0 {
            out.push_str(&format!(
                "{name}: {} output lines dropped: logs/{name}.log in the state dir could not take them (a full disk?)\n",
                instance.dropped_log_lines,
                name = instance.name,
            ));
        }
        if !instance.last_error_lines.is_empty() {
            out.push_str(&format!(
                "{}: {}:\n",
                instance.name,
                error_lines_title(instance)
            ));
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

/// The state, and while a stop waits for the gateway's drain, for how long:
/// `stopping (draining 42 s)`.
fn state_words(instance: &InstanceStatus, state: String, now_ms: u64) -> String {
    match instance.stopping_since {
        Some(since) if state == "stopping" => {
            format!(
                "stopping (draining {} s)",
                now_ms.saturating_sub(since) / 1000
            )
        }
        _ => state,
    }
}

/// The health cell, marked when the gateway's breaker keeps its channels down.
fn with_breaker(
    instance: &InstanceStatus,
    (text, colour): (String, Option<Colour>),
) -> (String, Option<Colour>) {
    match &instance.breaker {
        Some(_) => (format!("{text}, breaker"), Some(Colour::Red)),
        None => (text, colour),
    }
}

fn breaker_note(instance: &InstanceStatus) -> Option<String> {
    let breaker = instance.breaker.as_ref()?;
    let boots = breaker
        .unclean_boots
        .map(|boots| format!(" after {boots} unclean boots in 5 min"))
        .unwrap_or_default();
    Some(format!(
        "breaker tripped: channel auto-start suppressed{boots} (the gateway's restart-loop breaker; see `logs`)"
    ))
}

fn kills_note(instance: &InstanceStatus) -> Option<String> {
    (instance.supervisor_kills > 0).then(|| {
        format!(
            "{} SIGKILL(s) by the supervisor in the last 5 min (stop timeout passed): unclean boots the gateway counts, 3 trip its breaker",
            instance.supervisor_kills
        )
    })
}

fn probe_line(name: &str, probe: &Option<ProbeStatus>, now_ms: u64) -> String {
    let Some(probe) = probe else {
        return format!("    {name:<10} -\n");
    };
    let verdict = if probe.ok { "ok" } else { "failing" };
    let mut text = format!(
        "    {name:<10} {verdict}, {}ms, {}",
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
pub(super) fn detail(instance: &InstanceStatus, paint: Paint, now_ms: u64) -> String {
    let state = paint.paint(
        &state_words(instance, instance.state.clone(), now_ms),
        state_colour(&instance.state),
    );
    let (health_text, health_colour) = health(instance);
    let mut out = format!("{} ({}): {state}\n", instance.name, instance.role.as_str());
    let mut field = |label: &str, value: String| {
        out.push_str(&format!("  {label:<12} {value}\n"));
    };
    field("health", paint.paint(&health_text, health_colour));
    field("pid", or_dash(instance.pid, |pid| pid.to_string()));
    field("uptime", or_dash(instance.uptime_secs, uptime));
    field("restarts", instance.restarts.to_string());
    if let Some(note) = breaker_note(instance) {
        field("breaker", paint.paint(&note, Some(Colour::Red)));
    }
    if let Some(note) = kills_note(instance) {
        field("killed", note);
    }
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
    if instance.dropped_log_lines > 0 {
        field(
            "log dropped",
            format!(
                "{} output lines not written to logs/{}.log in the state dir (a full disk?)",
                instance.dropped_log_lines, instance.name
            ),
        );
    }
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
        out.push_str(&format!("  {}\n", error_lines_title(instance)));
        for error_line in &instance.last_error_lines {
            out.push_str(&format!("    {error_line}\n"));
        }
    }
    out
}

/// What the error lines are: the process they came from and how it ended.
fn error_lines_title(instance: &InstanceStatus) -> String {
    match &instance.last_error_from {
        Some(from) => format!("last error lines (pid {}, {})", from.pid, from.exit),
        None => "last error lines".to_string(),
    }
}

pub(super) fn event_line(event: &Event, paint: Paint) -> String {
    let at = UNIX_EPOCH + Duration::from_millis(event.at);
    let colour = match event.kind.as_str() {
        "failed" | "exited" | "rejected" | "killed" | "breaker" => Some(Colour::Red),
        "backoff" | "rescue_triggered" | "dropped" => Some(Colour::Yellow),
        "spawned" | "started" => Some(Colour::Green),
        _ => None,
    };
    let mut line = format!(
        "{} {} {}",
        humantime::format_rfc3339_seconds(at),
        event.instance.as_deref().unwrap_or("supervisor"),
        paint.paint(event.kind.as_str(), colour),
    );
    if !event.detail.is_empty() {
        line.push(' ');
        line.push_str(&event.detail);
    }
    line
}

#[cfg(test)]
mod tests;
