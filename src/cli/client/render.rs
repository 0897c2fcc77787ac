//! How replies look on a terminal: the status table (and the live view's),
//! fitted to the terminal's width, one instance in detail, event lines, and
//! colours (`--color`: by default only on a terminal, never with NO_COLOR).

use std::io::IsTerminal;
use std::time::{Duration, UNIX_EPOCH};

use openclaw_supervisor::protocol::{Event, InstanceStatus, ProbeStatus, RejectedFile};

use super::layout::{self, Column, Give};

/// `--color`: when client output is coloured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorWhen {
    /// Always, even when NO_COLOR is set (as cargo and clap have it).
    Always,
    /// Never.
    Never,
    /// On a terminal, unless NO_COLOR is set to anything but the empty string.
    #[default]
    Auto,
}

/// Whether to colour: `always` and `never` say so; `auto` colours a
/// terminal unless NO_COLOR is set and not empty (no-color.org).
pub(super) fn colour_enabled(
    when: ColorWhen,
    terminal: bool,
    no_color: Option<&std::ffi::OsStr>,
) -> bool {
    match when {
        ColorWhen::Always => true,
        ColorWhen::Never => false,
        ColorWhen::Auto => terminal && no_color.is_none_or(|value| value.is_empty()),
    }
}

/// ANSI colours, or none (see [`colour_enabled`]).
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
    /// No colours (tests).
    #[cfg(test)]
    pub(super) fn plain() -> Self {
        Paint { enabled: false }
    }

    pub(super) fn for_stdout(when: ColorWhen) -> Self {
        Paint {
            enabled: colour_enabled(
                when,
                std::io::stdout().is_terminal(),
                std::env::var_os("NO_COLOR").as_deref(),
            ),
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

/// The width tables are fitted to: `COLUMNS` when set to a number, else the
/// terminal's (stdout's) width, else 80 (not a terminal).
pub(super) fn terminal_width() -> usize {
    let columns = std::env::var("COLUMNS").ok();
    width_from(columns.as_deref(), stdout_columns())
}

/// The pure rule of [`terminal_width`].
fn width_from(columns: Option<&str>, terminal: Option<usize>) -> usize {
    columns
        .and_then(|text| text.trim().parse::<usize>().ok())
        .filter(|width| *width > 0)
        .or(terminal.filter(|width| *width > 0))
        .unwrap_or(80)
}

/// The width and height of the terminal on stdout, if it is one.
pub(super) fn stdout_size() -> Option<(usize, usize)> {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` into the struct we own; stdout
    // stays open for the call, and a non-terminal makes it fail (-1).
    let done = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) };
    (done == 0 && size.ws_col > 0).then(|| (usize::from(size.ws_col), usize::from(size.ws_row)))
}

fn stdout_columns() -> Option<usize> {
    stdout_size().map(|(columns, _)| columns)
}

/// One word for the probes: what an operator scans the table for. `-`
/// while no probe has a result: no gateway, one whose probes are all off,
/// or one whose first result is still to come.
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
        None => match (&probes.liveness, &probes.startup) {
            (Some(ProbeStatus { ok: true, .. }), _) => (String::from("live"), Some(Colour::Green)),
            (_, Some(ProbeStatus { ok: true, .. })) => {
                (String::from("started"), Some(Colour::Green))
            }
            // The startup probe has not passed yet: the state says
            // `starting` until it does.
            _ if instance.state == "starting" => (String::from("starting"), Some(Colour::Yellow)),
            _ => (String::from("-"), None),
        },
    }
}

/// A duration a person reads: `42s`, `3m12s`, `1h01m`, `2d03h`.
fn uptime(seconds: u64) -> String {
    let (days, hours, minutes) = (seconds / 86_400, seconds / 3_600 % 24, seconds / 60 % 60);
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3_600 => format!("{minutes}m{:02}s", seconds % 60),
        3_600..86_400 => format!("{}h{minutes:02}m", seconds / 3_600),
        _ => format!("{days}d{hours:02}h"),
    }
}

/// Bytes in binary units: `512B`, `1.5KiB`, `150MiB`, `2.0GiB`; one
/// decimal below 10. No space: a cell stays one word for `awk`.
fn memory(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    match (unit, value < 10.0) {
        (0, _) => format!("{bytes}B"),
        (_, true) => format!("{value:.1}{}", UNITS[unit]),
        (_, false) => format!("{value:.0}{}", UNITS[unit]),
    }
}

/// CPU in percent of one core.
fn cpu(percent: f32) -> String {
    format!("{percent:.1}%")
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

/// Which table: `status`'s, or the live view's (`status --watch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum View {
    Status,
    Watch,
}

const fn column(title: &'static str, narrow: &'static str, min: Option<usize>) -> Column {
    Column { title, narrow, min }
}

const STATUS_COLUMNS: [Column; 10] = [
    column("NAME", "NAME", Some(8)),
    column("ROLE", "ROLE", None),
    column("STATE", "STATE", Some(9)),
    column("PID", "PID", None),
    column("UPTIME", "UP", None),
    column("RESTARTS", "RST", None),
    column("HEALTH", "HEALTH", Some(9)),
    column("PORT", "PORT", None),
    column("CPU", "CPU", None),
    column("MEM", "MEM", None),
];

/// What `status` gives up, in order, when the terminal is narrow.
const STATUS_PLAN: [Give; 8] = [
    Give::NarrowTitles,
    Give::Drop("PORT"),
    Give::Drop("ROLE"),
    Give::Shrink,
    Give::Drop("UPTIME"),
    Give::Drop("CPU"),
    Give::Drop("MEM"),
    Give::Drop("PID"),
];

const WATCH_COLUMNS: [Column; 9] = [
    column("NAME", "NAME", Some(8)),
    column("STATE", "STATE", Some(9)),
    column("HEALTH", "HEALTH", Some(9)),
    column("PID", "PID", None),
    column("UPTIME", "UP", None),
    column("CPU", "CPU", None),
    column("MEM", "MEM", None),
    column("RESTARTS", "RST", None),
    column("LAST EVENT", "LAST", Some(12)),
];

/// What the live view gives up, in order, when the terminal is narrow.
const WATCH_PLAN: [Give; 6] = [
    Give::NarrowTitles,
    Give::Shrink,
    Give::Drop("PID"),
    Give::Drop("UPTIME"),
    Give::Drop("CPU"),
    Give::Drop("MEM"),
];

type Cell = (String, Option<Colour>);

/// One instance's cells in `view`'s columns.
fn row(instance: &InstanceStatus, view: View, now_ms: u64) -> Vec<Cell> {
    let state = instance.state.clone();
    let state = (
        state_words(instance, state.clone(), now_ms),
        state_colour(&state),
    );
    let name = (instance.name.clone(), None);
    let pid = (or_dash(instance.pid, |pid| pid.to_string()), None);
    let mark = match adoption::runs_adopted(instance) {
        true => adoption::MARK,
        false => "",
    };
    let uptime_cell = (
        or_dash(instance.uptime_secs, |secs| uptime(secs) + mark),
        None,
    );
    let restarts = (instance.restarts.to_string(), None);
    let health_cell = with_breaker(instance, health(instance));
    let cpu_cell = (or_dash(instance.cpu_percent, cpu), None);
    let memory_cell = (or_dash(instance.memory_bytes, memory), None);
    match view {
        View::Status => vec![
            name,
            (instance.role.as_str().to_string(), None),
            state,
            pid,
            uptime_cell,
            restarts,
            health_cell,
            (instance.ports.base.to_string(), None),
            cpu_cell,
            memory_cell,
        ],
        View::Watch => vec![
            name,
            state,
            health_cell,
            pid,
            uptime_cell,
            cpu_cell,
            memory_cell,
            restarts,
            last_event(instance.last_event.as_ref(), now_ms),
        ],
    }
}

/// The last event's kind and age: `stopped 12s`.
fn last_event(event: Option<&Event>, now_ms: u64) -> Cell {
    match event {
        Some(event) => (
            format!(
                "{} {}",
                event.kind.as_str(),
                uptime(now_ms.saturating_sub(event.at) / 1000)
            ),
            event_colour(event.kind.as_str()),
        ),
        None => (String::from("-"), None),
    }
}

/// The `pm2 ls`-like table fitted to `width`, then the notes an operator
/// needs next to it: wrapped at `width` in the live view (a frame must not
/// scroll), whole lines in `status` (a terminal wraps prose readably, and
/// a script can find a whole note).
pub(super) fn table(
    instances: &[InstanceStatus],
    rejected: &[RejectedFile],
    view: View,
    paint: Paint,
    now_ms: u64,
    width: usize,
) -> String {
    let (columns, plan): (&[Column], &[Give]) = match view {
        View::Status => (&STATUS_COLUMNS, &STATUS_PLAN),
        View::Watch => (&WATCH_COLUMNS, &WATCH_PLAN),
    };
    let rows: Vec<Vec<Cell>> = instances
        .iter()
        .map(|instance| row(instance, view, now_ms))
        .collect();
    let texts: Vec<Vec<String>> = rows
        .iter()
        .map(|row| row.iter().map(|(text, _)| text.clone()).collect())
        .collect();
    let fitted = layout::fit(columns, &texts, width, plan);
    let line = |cells: &[Cell]| {
        let mut text = String::new();
        for (position, &(index, width)) in fitted.columns.iter().enumerate() {
            let (cell, colour) = &cells[index];
            let cell = layout::cut(cell, width);
            // Pad before painting: escape codes have no width.
            let padded = match position + 1 == fitted.columns.len() {
                true => cell,
                false => format!("{cell:<width$}{:gap$}", "", gap = layout::GAP),
            };
            text.push_str(&paint.paint(&padded, *colour));
        }
        text.trim_end().to_string() + "\n"
    };
    let header: Vec<Cell> = (0..columns.len())
        .map(|index| (fitted.title(columns, index).to_string(), None))
        .collect();
    let mut out = line(&header);
    for row in &rows {
        out.push_str(&line(row));
    }
    let note_width = match view {
        View::Watch => width,
        View::Status => usize::MAX,
    };
    let mut note = |text: String, indent: &str| {
        for wrapped in layout::wrap(&text, note_width, indent) {
            out.push_str(&wrapped);
            out.push('\n');
        }
    };
    if instances.is_empty() {
        note(String::from("no instances declared"), "  ");
    }
    if let Some(legend) = adoption::legend(instances) {
        note(legend, "  ");
    }
    for instance in instances {
        if let Some(at) = instance.next_restart_at {
            note(
                format!("{}: next restart {}", instance.name, in_or_ago(at, now_ms)),
                "  ",
            );
        }
        if let Some(text) = breaker_note(instance) {
            note(format!("{}: {text}", instance.name), "  ");
        }
        if let Some(text) = kills_note(instance) {
            note(format!("{}: {text}", instance.name), "  ");
        }
        if instance.dropped_log_lines > 0 {
            note(
                format!(
                    "{name}: {} output lines dropped: logs/{name}.log in the state dir could not take them (a full disk?)",
                    instance.dropped_log_lines,
                    name = instance.name,
                ),
                "  ",
            );
        }
        if !instance.last_error_lines.is_empty() {
            note(
                format!("{}: {}:", instance.name, error_lines_title(instance)),
                "  ",
            );
            for error_line in &instance.last_error_lines {
                note(format!("  {error_line}"), "    ");
            }
        }
    }
    for file in rejected {
        let lines = layout::wrap(
            &format!("rejected {}: {}", file.file, file.reason),
            note_width,
            "  ",
        );
        for (index, wrapped) in lines.iter().enumerate() {
            match wrapped.strip_prefix("rejected").filter(|_| index == 0) {
                Some(rest) => {
                    out.push_str(&paint.paint("rejected", Some(Colour::Red)));
                    out.push_str(rest);
                }
                None => out.push_str(wrapped),
            }
            out.push('\n');
        }
    }
    out
}

/// The state, and while a stop waits for the gateway's drain, for how long:
/// `stopping (draining 42s)`.
fn state_words(instance: &InstanceStatus, state: String, now_ms: u64) -> String {
    match instance.stopping_since {
        Some(since) if state == "stopping" => {
            format!(
                "stopping (draining {})",
                uptime(now_ms.saturating_sub(since) / 1000)
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
        Some(_) if text == "-" => (String::from("breaker"), Some(Colour::Red)),
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

/// How an instance's processes are tracked, in words: `cgroup PATH`, or
/// `marker (REASON)`.
fn tracking_text(tracking: &openclaw_supervisor::protocol::Tracking) -> String {
    match (tracking.mode.as_str(), &tracking.cgroup, &tracking.reason) {
        ("cgroup", Some(path), _) => format!("cgroup {path}"),
        (mode, _, Some(reason)) => format!("{mode} ({reason})"),
        (mode, Some(path), None) => format!("{mode} {path}"),
        (mode, None, None) => mode.to_string(),
    }
}

/// A declared limit, in words: `memory 2 GiB (high 1.8 GiB)`, with
/// `not applied: REASON` when the kernel does not enforce it.
fn limit_text(limit: &openclaw_supervisor::protocol::Limit) -> String {
    match (limit.applied, &limit.reason) {
        (true, _) => format!("{} {}", limit.key, limit.value),
        (false, Some(reason)) => format!("{} {}: not applied: {reason}", limit.key, limit.value),
        (false, None) => format!("{} {}: not applied", limit.key, limit.value),
    }
}

/// `2026-12-04T22:30:00Z, by operator; the replaced config is kept as ...`.
fn rolled_back_note(rolled_back: &openclaw_supervisor::protocol::RolledBack) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(rolled_back.at);
    let kept = match &rolled_back.from {
        Some(from) => format!("the replaced config is kept as {from}"),
        None => String::from("there was no config to keep"),
    };
    format!(
        "{}, {}; {kept}",
        humantime::format_rfc3339_seconds(at),
        rolled_back.reason,
    )
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
    if let Some(text) = instance
        .adoption
        .as_ref()
        .and_then(|adoption| adoption::adoption_text(adoption, |at| in_or_ago(at, now_ms)))
    {
        field("at start", text);
    }
    if let Some(reason) = &instance.last_restart_reason {
        field("restarted", reason.clone());
    }
    if let Some(rolled_back) = &instance.rolled_back {
        field("rolled back", rolled_back_note(rolled_back));
    }
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
            or_dash(instance.cpu_percent, cpu),
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
    if let Some(tracking) = &instance.tracking {
        field("tracking", tracking_text(tracking));
    }
    for (index, limit) in instance.limits.iter().enumerate() {
        field(if index == 0 { "limits" } else { "" }, limit_text(limit));
    }
    if let Some(main) = &instance.rescue_of {
        let standby = if instance.standby { ", standby" } else { "" };
        field("rescue of", format!("{main}{standby}"));
    }
    if let Some(wake) = &instance.wake {
        field(
            "last wake",
            wake::wake_text(wake, in_or_ago(wake.at, now_ms)),
        );
    }
    if let Some(last) = &instance.last_notify {
        field(
            "last notify",
            notify::last_notify_text(last, &in_or_ago(last.at, now_ms)),
        );
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

fn event_colour(kind: &str) -> Option<Colour> {
    match kind {
        "failed" | "exited" | "rejected" | "killed" | "breaker" | "unhealthy"
        | "startup_timed_out" => Some(Colour::Red),
        "backoff" | "rescue_triggered" | "dropped" | "memory_guard" => Some(Colour::Yellow),
        "spawned" | "started" | "adopted" => Some(Colour::Green),
        _ => None,
    }
}

pub(super) fn event_line(event: &Event, paint: Paint) -> String {
    let at = UNIX_EPOCH + Duration::from_millis(event.at);
    let colour = event_colour(event.kind.as_str());
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

mod adoption;
mod wake;

#[cfg(test)]
mod tests;

mod notify;
