//! Metrics in the Prometheus text exposition format (version 0.0.4).
//!
//! Theory of operation: the daemon gathers [`Figures`] (each instance's
//! snapshot and usage, the supervisor's own process figures) at the edge
//! (`service.rs`, `own.rs`); [`render`] turns them into text and is pure,
//! so the whole format (names, types, help, label escaping, which series a
//! stopped instance has) is covered by table tests. `metrics` on the control
//! socket and the optional HTTP listener (`listener.rs`) serve the same text.
//!
//! Nothing from an instance's environment or config reaches a metric: the
//! labels are the instance's name, its state, the probe kind and the
//! supervisor's version.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, SystemTime};

use crate::instance::Snapshot;
use crate::lifecycle::StateName;
use crate::probe::ProbeTracker;

pub mod listener;
pub mod own;
#[cfg(test)]
mod tests;

/// Every metric name starts with this.
pub const PREFIX: &str = "openclaw_supervisor_";

/// The `Content-Type` of the exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The lifecycle states, each a series of `instance_state` (1 for the
/// current one), so a state that is not current reads 0 rather than absent.
pub const STATES: &[&str] = &[
    "starting", "running", "backoff", "failed", "stopping", "stopped", "standby", "exiting",
];

/// Everything one exposition shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    pub instances: Vec<InstanceFigures>,
    pub supervisor: SupervisorFigures,
}

/// One instance's figures. Times are Unix seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceFigures {
    pub name: String,
    /// The lifecycle state, as `status` shows it.
    pub state: String,
    /// Running, and its readiness probe passed last time (or it has none).
    pub ready: bool,
    pub restarts: u64,
    pub last_exit: Option<ExitFigures>,
    /// When the current gateway was spawned, while one is alive.
    pub started_at: Option<f64>,
    /// CPU time of the instance's process trees since the supervisor
    /// started, from the readings `usage` takes (monotonic).
    pub cpu_seconds: Option<f64>,
    /// Resident memory of the current process tree, when measured.
    pub memory_bytes: Option<u64>,
    /// The last result of each probe that has run for the current gateway.
    pub probes: Vec<ProbeFigures>,
    pub dropped_log_lines: u64,
    /// SIGKILLs the supervisor sent this instance's gateways (stop timeout
    /// passed) since the supervisor started.
    pub supervisor_kills: u64,
}

/// How the last gateway ended: an exit code or a signal number.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExitFigures {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub at: f64,
}

/// One probe's last attempt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProbeFigures {
    /// `startup`, `liveness` or `readiness`.
    pub probe: &'static str,
    pub ok: bool,
    pub latency_seconds: f64,
}

/// The supervisor process's own figures; `None` when it could not be read.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SupervisorFigures {
    pub version: String,
    pub rejected_files: u64,
    pub resident_memory_bytes: Option<u64>,
    pub cpu_seconds: Option<f64>,
    pub open_fds: Option<u64>,
    pub start_time: Option<f64>,
    /// Events the journal could not keep (full queue, full disk).
    pub journal_dropped: u64,
}

impl InstanceFigures {
    /// An instance's figures from its snapshot, its usage figures (CPU
    /// percent and memory) and the CPU time its trees used so far.
    pub fn from_snapshot(
        snapshot: &Snapshot,
        usage: Option<(f32, u64)>,
        cpu_total: Option<Duration>,
    ) -> Self {
        let ready = is_ready(
            snapshot.state,
            snapshot.config.effective.probes.readiness.enabled,
            snapshot.probes.readiness.last().map(|last| last.ok),
        );
        let probes = [
            ("startup", &snapshot.probes.startup),
            ("liveness", &snapshot.probes.liveness),
            ("readiness", &snapshot.probes.readiness),
        ]
        .into_iter()
        .filter_map(|(probe, tracker)| probe_figures(probe, tracker))
        .collect();
        InstanceFigures {
            name: snapshot.name.clone(),
            state: snapshot.state.to_string(),
            ready,
            restarts: u64::from(snapshot.restarts),
            last_exit: snapshot.last_exit.map(|(exit, at)| ExitFigures {
                code: match exit {
                    crate::process::ExitKind::Code(code) => Some(code),
                    crate::process::ExitKind::Signal(_) => None,
                },
                signal: match exit {
                    crate::process::ExitKind::Signal(signal) => Some(signal),
                    crate::process::ExitKind::Code(_) => None,
                },
                at: unix_seconds(at),
            }),
            started_at: snapshot
                .spawned_at
                .filter(|_| snapshot.pid.is_some())
                .map(unix_seconds),
            cpu_seconds: cpu_total.map(|cpu| cpu.as_secs_f64()),
            memory_bytes: usage.map(|(_, memory)| memory),
            probes,
            dropped_log_lines: snapshot.dropped_log_lines,
            supervisor_kills: snapshot.kills_total,
        }
    }
}

/// Ready: running (its startup passed), and its readiness probe passed
/// last time, or it has none. A readiness probe that has not answered yet
/// is not ready.
pub fn is_ready(
    state: StateName,
    readiness_enabled: bool,
    readiness_last_ok: Option<bool>,
) -> bool {
    state == StateName::Running && (!readiness_enabled || readiness_last_ok == Some(true))
}

fn probe_figures(probe: &'static str, tracker: &ProbeTracker) -> Option<ProbeFigures> {
    let last = tracker.last()?;
    Some(ProbeFigures {
        probe,
        ok: last.ok,
        latency_seconds: last.latency.as_secs_f64(),
    })
}

/// Seconds since the Unix epoch (0 for a time before it).
pub fn unix_seconds(at: SystemTime) -> f64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Gauge,
    Counter,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
        }
    }
}

/// One metric family: its samples share the name, help and type.
struct Family {
    name: &'static str,
    help: &'static str,
    kind: Kind,
    samples: Vec<(Vec<(&'static str, String)>, String)>,
}

impl Family {
    fn new(name: &'static str, kind: Kind, help: &'static str) -> Self {
        Family {
            name,
            help,
            kind,
            samples: Vec::new(),
        }
    }

    fn add(&mut self, labels: Vec<(&'static str, String)>, value: String) {
        self.samples.push((labels, value));
    }

    /// Adds a sample labelled with the instance only.
    fn of(&mut self, instance: &str, value: String) {
        self.add(vec![("instance", instance.to_string())], value);
    }
}

/// The exposition of `figures`: one block per family (`# HELP`, `# TYPE`,
/// its samples), families without samples left out.
pub fn render(figures: &Figures) -> String {
    let mut families = instance_families(&figures.instances);
    families.extend(supervisor_families(
        &figures.supervisor,
        figures.instances.len(),
    ));
    let mut text = String::new();
    for family in families.iter().filter(|f| !f.samples.is_empty()) {
        let name = format!("{PREFIX}{}", family.name);
        // Writing to a String cannot fail.
        let _ = writeln!(text, "# HELP {name} {}", escape_help(family.help));
        let _ = writeln!(text, "# TYPE {name} {}", family.kind.as_str());
        for (labels, value) in &family.samples {
            text.push_str(&name);
            if !labels.is_empty() {
                let labels: Vec<String> = labels
                    .iter()
                    .map(|(key, value)| format!("{key}=\"{}\"", escape_label_value(value)))
                    .collect();
                let _ = write!(text, "{{{}}}", labels.join(","));
            }
            let _ = writeln!(text, " {value}");
        }
    }
    text
}

fn instance_families(instances: &[InstanceFigures]) -> Vec<Family> {
    use Kind::{Counter, Gauge};
    let mut state = Family::new(
        "instance_state",
        Gauge,
        "The instance's lifecycle state: 1 for the current one, 0 for the others.",
    );
    let mut ready = Family::new(
        "instance_ready",
        Gauge,
        "1 when the instance is running and its readiness probe passed last (or it has none).",
    );
    let mut restarts = Family::new(
        "instance_restarts_total",
        Counter,
        "Restarts of the instance since the supervisor started, operator restarts included.",
    );
    let mut exit_code = Family::new(
        "instance_last_exit_code",
        Gauge,
        "The exit code of the instance's last gateway, when it exited (not killed by a signal).",
    );
    let mut exit_signal = Family::new(
        "instance_last_exit_signal",
        Gauge,
        "The number of the signal that killed the instance's last gateway, when one did.",
    );
    let mut exit_at = Family::new(
        "instance_last_exit_timestamp_seconds",
        Gauge,
        "When the instance's last gateway ended, in Unix seconds.",
    );
    let mut started = Family::new(
        "instance_start_time_seconds",
        Gauge,
        "When the instance's current gateway was spawned, in Unix seconds.",
    );
    let mut cpu = Family::new(
        "instance_cpu_seconds_total",
        Counter,
        "CPU time of the instance's process trees since the supervisor started, from readings taken when asked (at most one a second).",
    );
    let mut memory = Family::new(
        "instance_memory_bytes",
        Gauge,
        "Resident memory of the instance's current process tree.",
    );
    let mut latency = Family::new(
        "instance_probe_latency_seconds",
        Gauge,
        "How long the last attempt of each probe took.",
    );
    let mut success = Family::new(
        "instance_probe_success",
        Gauge,
        "1 when the last attempt of the probe passed.",
    );
    let mut dropped = Family::new(
        "instance_dropped_log_lines_total",
        Counter,
        "Lines of the gateway's output that could not be written to its log file.",
    );
    let mut kills = Family::new(
        "instance_supervisor_kills_total",
        Counter,
        "SIGKILLs the supervisor sent the instance's gateways when they outlived their stop timeout.",
    );
    for instance in instances {
        let name = instance.name.as_str();
        let mut states: Vec<&str> = STATES.to_vec();
        if !states.contains(&instance.state.as_str()) {
            states.push(&instance.state);
        }
        for each in states {
            state.add(
                vec![("instance", name.to_string()), ("state", each.to_string())],
                flag(each == instance.state),
            );
        }
        ready.of(name, flag(instance.ready));
        restarts.of(name, instance.restarts.to_string());
        if let Some(exit) = instance.last_exit {
            if let Some(code) = exit.code {
                exit_code.of(name, code.to_string());
            }
            if let Some(signal) = exit.signal {
                exit_signal.of(name, signal.to_string());
            }
            exit_at.of(name, number(exit.at));
        }
        if let Some(at) = instance.started_at {
            started.of(name, number(at));
        }
        if let Some(seconds) = instance.cpu_seconds {
            cpu.of(name, number(seconds));
        }
        if let Some(bytes) = instance.memory_bytes {
            memory.of(name, bytes.to_string());
        }
        for probe in &instance.probes {
            let labels = || {
                vec![
                    ("instance", name.to_string()),
                    ("probe", probe.probe.to_string()),
                ]
            };
            latency.add(labels(), number(probe.latency_seconds));
            success.add(labels(), flag(probe.ok));
        }
        dropped.of(name, instance.dropped_log_lines.to_string());
        kills.of(name, instance.supervisor_kills.to_string());
    }
    vec![
        state,
        ready,
        restarts,
        exit_code,
        exit_signal,
        exit_at,
        started,
        cpu,
        memory,
        latency,
        success,
        dropped,
        kills,
    ]
}

fn supervisor_families(own: &SupervisorFigures, instances: usize) -> Vec<Family> {
    use Kind::{Counter, Gauge};
    let mut build = Family::new(
        "build_info",
        Gauge,
        "The supervisor's version, as a label; always 1.",
    );
    build.add(vec![("version", own.version.clone())], flag(true));
    let mut count = Family::new(
        "instances",
        Gauge,
        "Instances the supervisor runs (declared and accepted).",
    );
    count.add(Vec::new(), instances.to_string());
    let mut rejected = Family::new(
        "rejected_files",
        Gauge,
        "Declaration files the supervisor refused to run (see `status`).",
    );
    rejected.add(Vec::new(), own.rejected_files.to_string());
    let mut memory = Family::new(
        "resident_memory_bytes",
        Gauge,
        "Resident memory of the supervisor process itself.",
    );
    let mut cpu = Family::new(
        "cpu_seconds_total",
        Counter,
        "CPU time the supervisor process itself used (user and system).",
    );
    let mut fds = Family::new(
        "open_fds",
        Gauge,
        "File descriptors the supervisor process has open.",
    );
    let mut start = Family::new(
        "start_time_seconds",
        Gauge,
        "When the supervisor process started, in Unix seconds.",
    );
    if let Some(bytes) = own.resident_memory_bytes {
        memory.add(Vec::new(), bytes.to_string());
    }
    if let Some(seconds) = own.cpu_seconds {
        cpu.add(Vec::new(), number(seconds));
    }
    if let Some(open) = own.open_fds {
        fds.add(Vec::new(), open.to_string());
    }
    if let Some(at) = own.start_time {
        start.add(Vec::new(), number(at));
    }
    let mut journal = Family::new(
        "journal_dropped_events_total",
        Counter,
        "Events left out of the event journal (a full queue, disk or unwritable state dir).",
    );
    journal.add(Vec::new(), own.journal_dropped.to_string());
    vec![build, count, rejected, memory, cpu, fds, start, journal]
}

fn flag(on: bool) -> String {
    String::from(if on { "1" } else { "0" })
}

/// A float as the format spells it: `NaN`, `+Inf`, `-Inf`, else decimal.
fn number(value: f64) -> String {
    if value.is_nan() {
        String::from("NaN")
    } else if value.is_infinite() {
        String::from(if value > 0.0 { "+Inf" } else { "-Inf" })
    } else {
        format!("{value}")
    }
}

/// A label value: backslash, double quote and line feed escaped.
pub fn escape_label_value(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// A help text: backslash and line feed escaped.
pub fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

/// Why a `--metrics` address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid metrics address `{given}`: expected a port (`9464`, on 127.0.0.1) or an address with a port (`127.0.0.1:9464`, `[::1]:9464`)"
)]
pub struct AddrError {
    pub given: String,
}

/// A `--metrics` address: a bare port is on 127.0.0.1, `localhost:PORT`
/// is 127.0.0.1 too; anything else must be an IP address with a port.
pub fn parse_listen_addr(text: &str) -> Result<SocketAddr, AddrError> {
    let error = || AddrError {
        given: text.to_string(),
    };
    let text = text.trim();
    if let Ok(port) = text.parse::<u16>() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    if let Some(port) = text.strip_prefix("localhost:") {
        let port = port.parse::<u16>().map_err(|_| error())?;
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    text.parse::<SocketAddr>().map_err(|_| error())
}
