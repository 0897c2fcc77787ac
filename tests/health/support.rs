//! Helpers shared by the health tests: fast probe settings, status
//! accessors, and what a gateway or a process says about itself.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::daemon_support::{Daemon, http, main_and_rescue};

/// Probe settings fast enough for tests: startup polled every 100 ms,
/// liveness and readiness every 200 ms, timeouts short so a wedged gateway
/// fails quickly.
pub const FAST_PROBES: &str = "probes:\n  \
    startup: { every: 100ms, timeout: 20s }\n  \
    liveness: { every: 200ms, timeout: 300ms, failures: 3 }\n  \
    readiness: { every: 200ms, timeout: 300ms, failures: 2 }";

/// A started supervisor over one gateway, `main`, with `extra` YAML and
/// [`FAST_PROBES`]: the supervisor and main's port.
pub fn fast_main(extra: &str) -> (Daemon, u16) {
    Daemon::gateways(&[("main", &format!("{extra}\n{FAST_PROBES}"))])
}

/// A started supervisor over a main and a rescue of it, each with its
/// extra YAML and [`FAST_PROBES`]: the supervisor, main's port and the
/// rescue's.
pub fn fast_main_and_rescue(main_extra: &str, rescue_extra: &str) -> (Daemon, u16, u16) {
    main_and_rescue(
        &format!("{main_extra}\n{FAST_PROBES}"),
        &format!("{rescue_extra}\n{FAST_PROBES}"),
    )
}

pub fn restarts(instance: &Value) -> u64 {
    instance["restarts"].as_u64().unwrap_or(u64::MAX)
}

pub fn pid_of(instance: &Value) -> Option<i32> {
    instance["pid"].as_i64().map(|pid| pid as i32)
}

pub fn port_of(instance: &Value) -> u16 {
    instance["ports"]["base"]
        .as_u64()
        .and_then(|port| u16::try_from(port).ok())
        .expect("status names the gateway port")
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// `GET /startupz` on a gateway: its status code, or None when nothing answers.
pub fn startupz(port: u16) -> Option<u16> {
    http(port, "GET", "/startupz", Duration::from_secs(2))
        .ok()
        .map(|(status, _)| status)
}
