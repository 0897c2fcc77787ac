//! Effective probes: the declaration's `probes:` block with defaults filled in.
//!
//! Defaults are the real gateway's own endpoints (see
//! /work/shared/openclaw-gateway.md): it takes 10–23 s to boot on two cores,
//! so the startup allowance is 120 s; liveness is `/healthz` every 10 s with a
//! 2 s timeout and 3 failures; readiness is `/readyz`, reported only.
//!
//! The startup probe's `timeout` key is its whole allowance (the time from
//! spawn to the first pass), not the time one attempt may take. Each startup
//! attempt gets [`DEFAULT_ATTEMPT_TIMEOUT`] (2 s), or the allowance when that
//! is shorter; `failures` has no meaning for it and is refused.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::declaration::{ProbeSpec, ProbesSpec};

/// How long one attempt may take when nothing else says so.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);

const DEFAULT_STARTUP_EVERY: Duration = Duration::from_secs(1);
const DEFAULT_STARTUP_ALLOWANCE: Duration = Duration::from_secs(120);
const DEFAULT_LIVENESS_EVERY: Duration = Duration::from_secs(10);
const DEFAULT_LIVENESS_FAILURES: u32 = 3;
const DEFAULT_READINESS_EVERY: Duration = Duration::from_secs(10);
const DEFAULT_READINESS_FAILURES: u32 = 1;

/// What one probe attempt does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ProbeKind {
    /// GET `path` on the gateway port; a 2xx answers yes, and every `json`
    /// entry must equal the body's top-level field of that name (a string
    /// field compares as is, any other value by its JSON text, e.g. `true`).
    Http {
        path: String,
        json: BTreeMap<String, String>,
    },
    /// A TCP connect to the gateway port.
    Tcp,
    /// Run `argv` without a shell; exit 0 answers yes.
    Exec { argv: Vec<String> },
}

/// Which of the three probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeRole {
    Startup,
    Liveness,
    Readiness,
}

impl fmt::Display for ProbeRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProbeRole::Startup => "startup",
            ProbeRole::Liveness => "liveness",
            ProbeRole::Readiness => "readiness",
        })
    }
}

/// One probe as it will run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EffectiveProbe {
    pub kind: ProbeKind,
    /// `false`: the probe never runs (a disabled startup probe passes at spawn).
    pub enabled: bool,
    /// Pause between the end of one attempt and the start of the next.
    #[serde(serialize_with = "serialize_duration")]
    pub every: Duration,
    /// How long one attempt may take before it counts as a failure.
    #[serde(serialize_with = "serialize_duration")]
    pub timeout: Duration,
    /// Consecutive failures that count. 0 means failures never count on their
    /// own: the startup probe is judged by its `allowance` instead.
    pub failures: u32,
    /// Wait before the first attempt (after spawn for startup; after startup
    /// passed for liveness and readiness).
    #[serde(serialize_with = "serialize_duration")]
    pub initial_delay: Duration,
    /// Startup only: the whole time from spawn to the first pass.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_allowance"
    )]
    pub allowance: Option<Duration>,
}

fn serialize_allowance<S: serde::Serializer>(
    allowance: &Option<Duration>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match allowance {
        Some(duration) => serialize_duration(duration, serializer),
        None => serializer.serialize_none(),
    }
}

/// The three probes of an instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EffectiveProbes {
    pub startup: EffectiveProbe,
    pub liveness: EffectiveProbe,
    pub readiness: EffectiveProbe,
}

/// A `probes:` block that cannot run as written. The one set of probe rules:
/// declaration validation calls [`effective_probes`], so `check`, `start`
/// and `reload` refuse exactly the same blocks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {}", self.key(), self.advice())]
pub enum ProbeConfigError {
    SeveralKinds { probe: ProbeRole, kinds: String },
    JsonWithoutHttp { probe: ProbeRole },
    HttpPath { probe: ProbeRole, path: String },
    EmptyExec { probe: ProbeRole },
    Zero { probe: ProbeRole, key: &'static str },
    StartupFailures,
}

impl ProbeConfigError {
    /// The dotted key the error is about, e.g. `probes.liveness.every`.
    pub fn key(&self) -> String {
        match self {
            ProbeConfigError::SeveralKinds { probe, .. } => format!("probes.{probe}"),
            ProbeConfigError::JsonWithoutHttp { probe } => format!("probes.{probe}.json"),
            ProbeConfigError::HttpPath { probe, .. } => format!("probes.{probe}.http"),
            ProbeConfigError::EmptyExec { probe } => format!("probes.{probe}.exec"),
            ProbeConfigError::Zero { probe, key } => format!("probes.{probe}.{key}"),
            ProbeConfigError::StartupFailures => "probes.startup.failures".to_string(),
        }
    }

    /// What is wrong and what to do, without the key.
    pub fn advice(&self) -> String {
        match self {
            ProbeConfigError::SeveralKinds { kinds, .. } => format!(
                "a probe checks one thing: set only one of `http`, `tcp` and `exec` (this one sets {kinds})"
            ),
            ProbeConfigError::JsonWithoutHttp { .. } => {
                "`json` checks an HTTP body: it needs an `http` probe (remove `json` or use `http`)"
                    .to_string()
            }
            ProbeConfigError::HttpPath { path, .. } => {
                format!("`{path}` is not a path: write it with a leading `/`, e.g. `/healthz`")
            }
            ProbeConfigError::EmptyExec { .. } => {
                "the command is empty: give the program and its arguments, e.g. [openclaw, health]"
                    .to_string()
            }
            ProbeConfigError::Zero { key: "failures", .. } => {
                "`failures` counts consecutive failures before acting: use 1 or more".to_string()
            }
            ProbeConfigError::Zero { .. } => {
                "a zero duration is not allowed here: use e.g. `10s` (or `enabled: false` to turn the probe off)"
                    .to_string()
            }
            ProbeConfigError::StartupFailures => {
                "`failures` has no meaning for the startup probe: its `timeout` is its whole allowance (default 120s); remove `failures`"
                    .to_string()
            }
        }
    }
}

struct Defaults {
    kind: ProbeKind,
    every: Duration,
    timeout: Duration,
    failures: u32,
}

fn http(path: &str, json: &[(&str, &str)]) -> ProbeKind {
    ProbeKind::Http {
        path: path.to_string(),
        json: json
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect(),
    }
}

impl Defaults {
    fn startup() -> Self {
        Defaults {
            kind: http("/startupz", &[("status", "started")]),
            every: DEFAULT_STARTUP_EVERY,
            timeout: DEFAULT_STARTUP_ALLOWANCE,
            failures: 0,
        }
    }

    fn liveness() -> Self {
        Defaults {
            kind: http("/healthz", &[]),
            every: DEFAULT_LIVENESS_EVERY,
            timeout: DEFAULT_ATTEMPT_TIMEOUT,
            failures: DEFAULT_LIVENESS_FAILURES,
        }
    }

    fn readiness() -> Self {
        Defaults {
            kind: http("/readyz", &[]),
            every: DEFAULT_READINESS_EVERY,
            timeout: DEFAULT_ATTEMPT_TIMEOUT,
            failures: DEFAULT_READINESS_FAILURES,
        }
    }

    /// The probe when its block sets nothing.
    fn probe(self) -> EffectiveProbe {
        EffectiveProbe {
            kind: self.kind,
            enabled: true,
            every: self.every,
            timeout: self.timeout,
            failures: self.failures,
            initial_delay: Duration::ZERO,
            allowance: None,
        }
    }
}

/// The startup probe's `timeout` is its allowance; an attempt gets 2 s at most.
fn with_allowance(mut startup: EffectiveProbe) -> EffectiveProbe {
    let allowance = startup.timeout;
    startup.allowance = Some(allowance);
    startup.timeout = allowance.min(DEFAULT_ATTEMPT_TIMEOUT);
    startup
}

impl Default for EffectiveProbes {
    /// The probes of a declaration without a `probes:` block (what
    /// [`effective_probes`] gives for an empty one).
    fn default() -> Self {
        EffectiveProbes {
            startup: with_allowance(Defaults::startup().probe()),
            liveness: Defaults::liveness().probe(),
            readiness: Defaults::readiness().probe(),
        }
    }
}

/// Builds the effective probes of an instance from its `probes:` block.
/// Declaration validation is its one caller on the way in: a loaded
/// declaration carries the result
/// ([`crate::declaration::LoadedDeclaration::probes`]), and so does the
/// instance resolved from it ([`crate::openclaw::Effective::probes`]).
pub fn effective_probes(spec: &ProbesSpec) -> Result<EffectiveProbes, ProbeConfigError> {
    if spec.startup.failures.is_some() {
        return Err(ProbeConfigError::StartupFailures);
    }
    let startup = one(ProbeRole::Startup, &spec.startup, Defaults::startup())?;
    Ok(EffectiveProbes {
        startup: with_allowance(startup),
        liveness: one(ProbeRole::Liveness, &spec.liveness, Defaults::liveness())?,
        readiness: one(ProbeRole::Readiness, &spec.readiness, Defaults::readiness())?,
    })
}

fn one(
    probe: ProbeRole,
    spec: &ProbeSpec,
    defaults: Defaults,
) -> Result<EffectiveProbe, ProbeConfigError> {
    let mut kinds = Vec::new();
    if spec.http.is_some() {
        kinds.push("`http`");
    }
    if spec.tcp == Some(true) {
        kinds.push("`tcp`");
    }
    if spec.exec.is_some() {
        kinds.push("`exec`");
    }
    if kinds.len() > 1 {
        return Err(ProbeConfigError::SeveralKinds {
            probe,
            kinds: kinds.join(", "),
        });
    }
    let kind = if let Some(path) = &spec.http {
        if !path.starts_with('/') {
            return Err(ProbeConfigError::HttpPath {
                probe,
                path: path.clone(),
            });
        }
        // A path of one's own drops the default JSON check, which only fits the default path.
        ProbeKind::Http {
            path: path.clone(),
            json: spec.json.clone().unwrap_or_default(),
        }
    } else if spec.tcp == Some(true) {
        ProbeKind::Tcp
    } else if let Some(argv) = &spec.exec {
        if argv.is_empty() || argv[0].is_empty() {
            return Err(ProbeConfigError::EmptyExec { probe });
        }
        ProbeKind::Exec { argv: argv.clone() }
    } else {
        match (defaults.kind, &spec.json) {
            (ProbeKind::Http { path, .. }, Some(json)) => ProbeKind::Http {
                path,
                json: json.clone(),
            },
            (kind, _) => kind,
        }
    };
    if spec.json.is_some() && !matches!(kind, ProbeKind::Http { .. }) {
        return Err(ProbeConfigError::JsonWithoutHttp { probe });
    }
    let every = spec.every.map_or(defaults.every, |every| every.get());
    let timeout = spec
        .timeout
        .map_or(defaults.timeout, |timeout| timeout.get());
    let failures = spec.failures.unwrap_or(defaults.failures);
    for (key, zero) in [
        ("every", every.is_zero()),
        ("timeout", timeout.is_zero()),
        ("failures", spec.failures == Some(0)),
    ] {
        if zero {
            return Err(ProbeConfigError::Zero { probe, key });
        }
    }
    Ok(EffectiveProbe {
        kind,
        enabled: spec.enabled.unwrap_or(true),
        every,
        timeout,
        failures,
        initial_delay: spec
            .initial_delay
            .map_or(Duration::ZERO, |delay| delay.get()),
        allowance: None,
    })
}

/// Serializes durations as human text (`10s`) for status output.
pub fn serialize_duration<S: serde::Serializer>(
    duration: &std::time::Duration,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&humantime::format_duration(*duration))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::declaration::HumanDuration;

    fn secs(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    fn probe(kind: ProbeKind, every: u64, timeout: u64, failures: u32) -> EffectiveProbe {
        EffectiveProbe {
            kind,
            enabled: true,
            every: secs(every),
            timeout: secs(timeout),
            failures,
            initial_delay: Duration::ZERO,
            allowance: None,
        }
    }

    fn defaults() -> EffectiveProbes {
        let mut startup = probe(http("/startupz", &[("status", "started")]), 1, 2, 0);
        startup.allowance = Some(secs(120));
        EffectiveProbes {
            startup,
            liveness: probe(http("/healthz", &[]), 10, 2, 3),
            readiness: probe(http("/readyz", &[]), 10, 2, 1),
        }
    }

    fn spec(edit: impl FnOnce(&mut ProbesSpec)) -> ProbesSpec {
        let mut spec = ProbesSpec::default();
        edit(&mut spec);
        spec
    }

    #[test]
    fn the_default_probes_are_an_empty_blocks() {
        assert_eq!(EffectiveProbes::default(), defaults());
        assert_eq!(
            effective_probes(&ProbesSpec::default()),
            Ok(EffectiveProbes::default())
        );
    }

    #[test]
    fn defaults_and_overrides() {
        type Row = (&'static str, ProbesSpec, Box<dyn Fn(&mut EffectiveProbes)>);
        let rows: Vec<Row> = vec![
            ("defaults", ProbesSpec::default(), Box::new(|_| {})),
            (
                "a long startup allowance keeps 2s attempts",
                spec(|s| s.startup.timeout = Some(HumanDuration::from_secs(300))),
                Box::new(|e| e.startup.allowance = Some(secs(300))),
            ),
            (
                "a short startup allowance shortens each attempt",
                spec(|s| s.startup.timeout = Some(HumanDuration::from_millis(500))),
                Box::new(|e| {
                    e.startup.allowance = Some(Duration::from_millis(500));
                    e.startup.timeout = Duration::from_millis(500);
                }),
            ),
            (
                "liveness every/timeout/failures/initial_delay",
                spec(|s| {
                    s.liveness.every = Some(HumanDuration::from_secs(5));
                    s.liveness.timeout = Some(HumanDuration::from_secs(1));
                    s.liveness.failures = Some(5);
                    s.liveness.initial_delay = Some(HumanDuration::from_secs(30));
                }),
                Box::new(|e| {
                    e.liveness.every = secs(5);
                    e.liveness.timeout = secs(1);
                    e.liveness.failures = 5;
                    e.liveness.initial_delay = secs(30);
                }),
            ),
            (
                "an own startup path drops the default json check",
                spec(|s| s.startup.http = Some("/up".into())),
                Box::new(|e| e.startup.kind = http("/up", &[])),
            ),
            (
                "json alone applies to the default path",
                spec(|s| s.liveness.json = Some([("ok".to_string(), "true".to_string())].into())),
                Box::new(|e| e.liveness.kind = http("/healthz", &[("ok", "true")])),
            ),
            (
                "tcp liveness",
                spec(|s| s.liveness.tcp = Some(true)),
                Box::new(|e| e.liveness.kind = ProbeKind::Tcp),
            ),
            (
                "tcp: false keeps the default kind",
                spec(|s| s.liveness.tcp = Some(false)),
                Box::new(|_| {}),
            ),
            (
                "exec readiness",
                spec(|s| s.readiness.exec = Some(vec!["openclaw".into(), "health".into()])),
                Box::new(|e| {
                    e.readiness.kind = ProbeKind::Exec {
                        argv: vec!["openclaw".into(), "health".into()],
                    }
                }),
            ),
            (
                "disabled probes",
                spec(|s| {
                    s.startup.enabled = Some(false);
                    s.readiness.enabled = Some(false);
                }),
                Box::new(|e| {
                    e.startup.enabled = false;
                    e.readiness.enabled = false;
                }),
            ),
        ];
        for (name, input, edit) in rows {
            let mut expected = defaults();
            edit(&mut expected);
            assert_eq!(effective_probes(&input), Ok(expected), "{name}");
        }
    }

    #[test]
    fn refusals() {
        let rows: Vec<(ProbesSpec, ProbeConfigError)> = vec![
            (
                spec(|s| {
                    s.liveness.http = Some("/healthz".into());
                    s.liveness.tcp = Some(true);
                }),
                ProbeConfigError::SeveralKinds {
                    probe: ProbeRole::Liveness,
                    kinds: "`http`, `tcp`".into(),
                },
            ),
            (
                spec(|s| {
                    s.readiness.tcp = Some(true);
                    s.readiness.json = Some(BTreeMap::new());
                }),
                ProbeConfigError::JsonWithoutHttp {
                    probe: ProbeRole::Readiness,
                },
            ),
            (
                spec(|s| s.liveness.http = Some("healthz".into())),
                ProbeConfigError::HttpPath {
                    probe: ProbeRole::Liveness,
                    path: "healthz".into(),
                },
            ),
            (
                spec(|s| s.startup.exec = Some(vec![])),
                ProbeConfigError::EmptyExec {
                    probe: ProbeRole::Startup,
                },
            ),
            (
                spec(|s| s.liveness.failures = Some(0)),
                ProbeConfigError::Zero {
                    probe: ProbeRole::Liveness,
                    key: "failures",
                },
            ),
            (
                spec(|s| s.readiness.every = Some(HumanDuration::from_secs(0))),
                ProbeConfigError::Zero {
                    probe: ProbeRole::Readiness,
                    key: "every",
                },
            ),
            (
                spec(|s| s.startup.timeout = Some(HumanDuration::from_secs(0))),
                ProbeConfigError::Zero {
                    probe: ProbeRole::Startup,
                    key: "timeout",
                },
            ),
            (
                spec(|s| s.startup.failures = Some(3)),
                ProbeConfigError::StartupFailures,
            ),
        ];
        for (input, expected) in rows {
            let message = expected.to_string();
            assert_eq!(effective_probes(&input), Err(expected), "{message}");
            assert!(message.starts_with("probes."), "{message}");
        }
    }
}
