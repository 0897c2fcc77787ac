//! Runs an instance's probes for one lifecycle phase and reports to its actor.
use crate::instance::ProbeMessage;
use crate::lifecycle::ProbePhase;
use crate::openclaw::Effective;
use std::time::Duration;
use tokio::sync::mpsc;

/// TEMPORARY until the probe branch lands.
#[derive(Debug, Clone, Default)]
pub struct EffectiveProbes;
impl EffectiveProbes {
    pub fn startup_allowance(&self) -> Option<Duration> {
        None
    }
}
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ProbeStatus {}
pub struct Target;
pub fn target_for(_effective: &Effective) -> Target {
    Target
}
pub async fn run_phase(
    _probes: EffectiveProbes,
    _target: Target,
    _phase: ProbePhase,
    _status: ProbeStatus,
    _tx: mpsc::UnboundedSender<ProbeMessage>,
) {
}
pub fn probes_for(_declaration: &crate::declaration::Declaration) -> EffectiveProbes {
    EffectiveProbes
}
