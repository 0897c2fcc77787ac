//! Probes the supervisor runs against a gateway: startup, liveness, readiness.
//!
//! Theory of operation: [`effective_probes`] turns the declaration's
//! `probes:` block into three [`EffectiveProbe`]s, filling in defaults chosen
//! for the real gateway (its own `/startupz`, `/healthz` and `/readyz`); it
//! runs once, when the declaration is validated, and the instance runs the
//! result its `Effective` carries.
//! The instance actor schedules attempts; each attempt is one [`run_once`]
//! (HTTP through hyper, or a TCP connect, always to loopback), and each
//! [`ProbeOutcome`] goes into a pure [`ProbeTracker`] that counts consecutive
//! failures and says when a threshold is crossed ([`ProbeVerdict`]); the
//! verdicts are the events fed to the lifecycle state machine. Exec probes
//! are parsed here but run through the supervisor's single spawner, passed
//! in as an [`ExecRunner`], because only one place in the process may fork
//! and reap.

use openclaw_supervisor_core::probe as config;
mod run;
mod tracker;

pub use config::{
    DEFAULT_ATTEMPT_TIMEOUT, EffectiveProbe, EffectiveProbes, ProbeConfigError, ProbeKind,
    ProbeRole, effective_probes,
};
pub use run::{
    BoxFuture, ExecExit, ExecRunner, ProbeFailure, ProbeOutcome, ProbeTarget, run_once,
    run_once_with,
};
pub(crate) use run::{Http1, http1_connect};
pub use tracker::{LastProbe, ProbeStatus, ProbeTracker, ProbeVerdict};
