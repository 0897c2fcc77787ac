//! `status NAME`: one instance in detail, its probes, tracking, limits
//! and last rollback in words.

use openclaw_supervisor::protocol::{InstanceStatus, ProbeStatus};

use super::terminal::{Colour, Paint};
use super::units::{cpu, in_or_ago, memory, or_dash, uptime};
use super::{
    adoption, breaker_note, error_lines_title, health, kills_note, notify, state_colour,
    state_words, wake,
};

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
pub(in crate::cli::client) fn detail(
    instance: &InstanceStatus,
    paint: Paint,
    now_ms: u64,
) -> String {
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
