//! The declaration's probes as Kubernetes probes.
//!
//! An `httpGet` probe reads the status code only, and the gateway's Control
//! UI answers unknown paths with a catch-all 200: so an HTTP probe becomes an
//! `exec` probe running the image's own `node`, which fetches the path on
//! loopback and asserts the JSON contract as the supervisor does (a 2xx, a
//! JSON body, and every `json:` entry equal to the body's field of that
//! name: a string as is, any other value by its JSON text). A TCP probe is
//! a `tcpSocket`; an `exec` probe runs its argv inside the container.
//!
//! Thresholds: `every` is `periodSeconds`, an attempt's `timeout` is
//! `timeoutSeconds`, `failures` is `failureThreshold`, `initial_delay` is
//! `initialDelaySeconds`; the startup probe's allowance becomes
//! `failureThreshold = ceil(allowance / every)`. Seconds round up (at
//! least 1; an HTTP probe, which starts node, at least 5 s for an attempt
//! and every 2 s for startup). A disabled probe is left out.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ExecAction, Probe, TCPSocketAction};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::probe::{EffectiveProbe, EffectiveProbes, ProbeKind};

/// The three probes of a container.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Probes {
    pub startup: Option<Probe>,
    pub liveness: Option<Probe>,
    pub readiness: Option<Probe>,
}

/// Whole seconds, rounded up, at least `floor`.
fn seconds(duration: Duration, floor: i32) -> i32 {
    let whole = duration.as_secs() + u64::from(duration.subsec_nanos() > 0);
    i32::try_from(whole).unwrap_or(i32::MAX).max(floor)
}

/// The node script that fetches `path` on `port` and exits 0 only on a 2xx
/// JSON answer whose fields match `json`.
pub fn http_script(port: u16, path: &str, json: &BTreeMap<String, String>) -> String {
    let url = serde_json::Value::String(format!("http://127.0.0.1:{port}{path}"));
    let want = serde_json::to_string(json).unwrap_or_else(|_| "{}".to_string());
    format!(
        "const want={want};fetch({url}).then(async(r)=>{{const j=await r.json();\
const ok=r.ok&&Object.entries(want).every(([k,v])=>typeof j[k]==='string'?j[k]===v:JSON.stringify(j[k])===v);\
process.exit(ok?0:1)}}).catch(()=>process.exit(1))"
    )
}

fn action(kind: &ProbeKind, port: u16) -> Probe {
    match kind {
        ProbeKind::Http { path, json } => Probe {
            exec: Some(ExecAction {
                command: Some(vec![
                    "node".to_string(),
                    "-e".to_string(),
                    http_script(port, path, json),
                ]),
            }),
            ..Probe::default()
        },
        ProbeKind::Tcp => Probe {
            tcp_socket: Some(TCPSocketAction {
                port: IntOrString::String("gateway".to_string()),
                ..TCPSocketAction::default()
            }),
            ..Probe::default()
        },
        ProbeKind::Exec { argv } => Probe {
            exec: Some(ExecAction {
                command: Some(argv.clone()),
            }),
            ..Probe::default()
        },
    }
}

/// Floors of an HTTP probe, which starts a node process each time (about
/// a second's work on a busy node): at least 5 s for an attempt, and a
/// startup probe at least every 2 s. The declaration's values win when
/// larger; a startup allowance stays the same (its `failureThreshold`
/// follows the period).
pub const NODE_PROBE_MIN_TIMEOUT: i32 = 5;
pub const NODE_STARTUP_MIN_PERIOD: i32 = 2;

fn translate(probe: &EffectiveProbe, port: u16) -> Option<Probe> {
    if !probe.enabled {
        return None;
    }
    let node = matches!(probe.kind, ProbeKind::Http { .. });
    let (min_period, min_timeout) = match (node, probe.allowance.is_some()) {
        (true, true) => (NODE_STARTUP_MIN_PERIOD, NODE_PROBE_MIN_TIMEOUT),
        (true, false) => (1, NODE_PROBE_MIN_TIMEOUT),
        (false, _) => (1, 1),
    };
    let period = seconds(probe.every, min_period);
    let failures = match probe.allowance {
        Some(allowance) => {
            let allowance = seconds(allowance, 1);
            ((allowance + period - 1) / period).max(1)
        }
        None => i32::try_from(probe.failures).unwrap_or(i32::MAX).max(1),
    };
    let initial_delay = seconds(probe.initial_delay, 0);
    Some(Probe {
        period_seconds: Some(period),
        timeout_seconds: Some(seconds(probe.timeout, min_timeout)),
        failure_threshold: Some(failures),
        initial_delay_seconds: (initial_delay > 0).then_some(initial_delay),
        ..action(&probe.kind, port)
    })
}

/// The instance's probes against its gateway `port`.
pub fn translate_all(probes: &EffectiveProbes, port: u16) -> Probes {
    Probes {
        startup: translate(&probes.startup, port),
        liveness: translate(&probes.liveness, port),
        readiness: translate(&probes.readiness, port),
    }
}
