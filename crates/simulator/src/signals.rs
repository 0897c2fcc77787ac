//! The signals the simulated gateway listens to, and the real one's
//! warning when one comes three times in five minutes.

use std::time::{Duration, Instant};

use tokio::signal::unix::{SignalKind, signal};

use super::output::log;

/// The signals the simulated gateway listens to.
pub(super) struct Signals {
    pub(super) term: tokio::signal::unix::Signal,
    pub(super) int: tokio::signal::unix::Signal,
    pub(super) usr2: tokio::signal::unix::Signal,
    pub(super) chld: tokio::signal::unix::Signal,
    /// When each signal came, the last three within [`SIGNAL_REPEAT_WINDOW`].
    pub(super) seen: std::collections::HashMap<&'static str, Vec<Instant>>,
}

/// The real gateway's window for repeated signals (`GATEWAY_SIGNAL_REPEAT_WINDOW_MS`).
const SIGNAL_REPEAT_WINDOW: Duration = Duration::from_secs(300);

impl Signals {
    pub(super) fn new() -> std::io::Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            usr2: signal(SignalKind::user_defined2())?,
            chld: signal(SignalKind::child())?,
            seen: std::collections::HashMap::new(),
        })
    }

    /// The real `createGatewaySignalObserver`: the third `name` within 5
    /// minutes warns that another supervisor may be managing the gateway.
    pub(super) fn observe(&mut self, name: &'static str) {
        let now = Instant::now();
        let times = self.seen.entry(name).or_default();
        times.retain(|at| now.duration_since(*at) <= SIGNAL_REPEAT_WINDOW);
        times.push(now);
        if times.len() == 3 {
            log(&format!(
                "received {name} 3 times in 5 min: another supervisor may be managing this Gateway — see `openclaw gateway status --deep`"
            ));
        }
        let excess = times.len().saturating_sub(3);
        times.drain(..excess);
    }
}
