//! How replies look on a terminal: the status table (and the live view's),
//! fitted to the terminal's width, one instance in detail, event lines, and
//! colours (`--color`: by default only on a terminal, never with NO_COLOR).
//!
//! - `terminal.rs`: the `--color` decision, the colours, the width;
//! - `units.rs`: durations, sizes, CPU in a cell;
//! - `table.rs`: the status and live-view tables and their notes;
//! - `detail.rs`: `status NAME`;
//! - `adoption.rs`, `wake.rs`, `notify.rs`: those fields in words.
//!
//! What several of them share stays here: the words and colours of a state
//! and of the probes, the breaker's and the kills' notes, event lines.

use std::time::{Duration, UNIX_EPOCH};

use openclaw_supervisor::protocol::{Event, InstanceStatus, ProbeStatus};

mod adoption;
mod detail;
mod notify;
mod table;
mod terminal;
mod units;
mod wake;

#[cfg(test)]
mod tests;

pub(super) use detail::detail;
pub(super) use table::{View, table};
pub use terminal::ColorWhen;
pub(super) use terminal::{Paint, stdout_size, terminal_width};

use terminal::Colour;
use units::uptime;

fn state_colour(state: &str) -> Option<Colour> {
    match state {
        "running" | "ready" => Some(Colour::Green),
        "starting" | "backoff" | "stopping" | "exiting" | "restarting" => Some(Colour::Yellow),
        "failed" | "crashed" => Some(Colour::Red),
        "stopped" | "standby" => Some(Colour::Dim),
        _ => None,
    }
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
