//! The real gateway's drain of the agent turns in flight on a stop, in its
//! own words.

use std::time::Duration;

use super::output::log;
use super::server::SimState;
use super::signals::Signals;

/// The real gateway's active-work drain budget on a stop: 325 s of shutdown
/// less 10 s kept for final writes (`dist/gateway-shutdown-budget-*.mjs`).
const DRAIN_BUDGET: Duration = Duration::from_millis(315_000);

/// How often a drain still waiting says so (`RESTART_DRAIN_STILL_PENDING_WARN_MS`).
const STILL_DRAINING_EVERY: Duration = Duration::from_secs(30);

/// The real gateway's drain: it waits for the agent turns in flight, up to
/// [`DRAIN_BUDGET`], saying so in its own words; a stop signal meanwhile is
/// ignored ("received SIGTERM during shutdown; ignoring").
pub(super) async fn drain(state: &SimState, action: &str, signals: &mut Signals) {
    let deadline = tokio::time::Instant::now() + DRAIN_BUDGET;
    let mut warned_at = tokio::time::Instant::now();
    let mut first = true;
    loop {
        let changed = state.turns_changed();
        let (active, last_end) = state.active_turns();
        let Some(last_end) = last_end else {
            break;
        };
        if first {
            log(&format!(
                "draining active work before {action} with timeout {}ms: embeddedRuns={active}",
                DRAIN_BUDGET.as_millis()
            ));
            first = false;
        }
        if tokio::time::Instant::now() >= deadline {
            log(&format!(
                "gateway active-work drain timeout reached; proceeding with shutdown: embeddedRuns={active}"
            ));
            break;
        }
        let still = warned_at + STILL_DRAINING_EVERY;
        tokio::select! {
            () = changed => {}
            () = tokio::time::sleep_until(last_end.min(deadline).min(still)) => {
                if tokio::time::Instant::now() >= still {
                    warned_at = still;
                    log(&format!("still draining active work before {action}: embeddedRuns={active}"));
                }
            }
            _ = signals.term.recv() => {
                signals.observe("SIGTERM");
                log("received SIGTERM during shutdown; ignoring");
            }
            _ = signals.int.recv() => {
                signals.observe("SIGINT");
                log("received SIGINT during shutdown; ignoring");
            }
            _ = signals.chld.recv() => {}
        }
    }
    if action == "stop" {
        log("active-work drain settled; beginning server close");
    } else if !first {
        log("all active work drained");
    }
}
