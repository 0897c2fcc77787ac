//! The actor's side of a re-exec: [`Command::Freeze`] answers the state it
//! carries across the exec ([`SavedInstance`]) and stops acting (no stop of
//! its gateway, no timer, no probe) until [`Command::Thaw`] (the re-exec was
//! refused or the exec failed); [`Actor::restore`] takes a saved state back
//! in the new process, before the first event.

use std::time::{Instant, SystemTime};

use tokio::sync::oneshot;

use super::*;
use crate::reexec::{self, Busy, SavedExit, SavedInstance, SavedLifecycle};

/// A frozen actor's answer to its saved state.
pub type FreezeReply = oneshot::Sender<Result<SavedInstance, Busy>>;

impl Actor {
    /// The state to carry across the exec, or `Busy` while stopping.
    pub(super) fn saved(&self) -> Result<SavedInstance, Busy> {
        let state =
            SavedLifecycle::from_state(self.lifecycle.state, Instant::now(), SystemTime::now())?;
        Ok(SavedInstance {
            state,
            failures: self.lifecycle.failures,
            restarts: self.lifecycle.restarts,
            last_exit: self.lifecycle.last_exit.map(SavedExit::from),
            spawned_at_ms: self.spawned_at.map(reexec::unix_ms),
            last_exit_at_ms: self.last_exit_at.map(reexec::unix_ms),
            last_error: self.last_error.clone(),
            error_lines: self.error_lines.clone(),
            kills_ms: self.kills.iter().copied().map(reexec::unix_ms).collect(),
            kills_total: self.kills_total,
            last_restart_reason: self.last_restart_reason.clone(),
            liveness_failures: self.probe_status.liveness.consecutive_failures(),
        })
    }

    /// Answer a freeze. Frozen, the actor runs no probe (restarted by
    /// [`Actor::thaw`]) and, in its loop, hears nothing but commands.
    pub(super) async fn freeze(&mut self, reply: FreezeReply) {
        let saved = self.saved();
        if saved.is_ok() && !self.frozen {
            self.frozen = true;
            self.set_probes(ProbePhase::Off).await;
        }
        let _ = reply.send(saved);
    }

    /// The one thing a frozen actor does: take the next command (a thaw, a
    /// freeze again, anything else kept for the thaw). True when the actor
    /// should end.
    pub(super) async fn frozen_command(
        &mut self,
        commands: &mut mpsc::UnboundedReceiver<Command>,
    ) -> bool {
        match commands.recv().await {
            Some(Command::Thaw) => {
                self.thaw().await;
                false
            }
            Some(Command::Freeze(reply)) => {
                self.freeze(reply).await;
                false
            }
            Some(command) => {
                self.deferred.push(command);
                false
            }
            // Every handle dropped: as when not frozen, stop and end.
            None => {
                self.frozen = false;
                self.command(Command::Remove).await
            }
        }
    }

    /// Act again: the probes of the phase the instance is in (the loop
    /// then takes the commands that came while frozen, in order).
    pub(super) async fn thaw(&mut self) {
        if !self.frozen {
            return;
        }
        self.frozen = false;
        match self.lifecycle.state {
            State::Starting { .. } if self.lifecycle.policy.startup_allowance.is_some() => {
                self.set_probes(ProbePhase::Startup).await
            }
            State::Running { .. } => self.set_probes(ProbePhase::Live).await,
            _ => {}
        }
    }

    /// Take a saved state before the first event: the counters always; the
    /// state of an instance without a gateway (the backoff timer armed at
    /// its saved time), unless a kept gateway is being adopted (`adopting`:
    /// the adoption decides the state). Returns the event to begin with
    /// when nothing is adopted: `Start` for an instance whose gateway was
    /// up (its keeper is gone: it is started again), none otherwise.
    pub(super) fn restore(&mut self, saved: SavedInstance, adopting: bool) -> Option<Event> {
        let now = Instant::now();
        let wall = SystemTime::now();
        self.lifecycle.failures = saved.failures;
        self.lifecycle.restarts = saved.restarts;
        self.lifecycle.last_exit = saved.last_exit.map(ExitKind::from);
        self.spawned_at = saved.spawned_at_ms.map(reexec::from_unix_ms);
        self.last_exit_at = saved.last_exit_at_ms.map(reexec::from_unix_ms);
        self.last_error = saved.last_error;
        self.error_lines = saved.error_lines;
        self.kills = saved
            .kills_ms
            .into_iter()
            .map(reexec::from_unix_ms)
            .collect();
        self.kills_total = saved.kills_total;
        self.last_restart_reason = saved.last_restart_reason;
        if adopting {
            return None;
        }
        if saved.state.had_gateway() {
            return Some(Event::Start);
        }
        let state = saved.state.to_state(now, wall);
        if let State::Backoff { until } = state {
            self.timers.insert(TimerKind::Backoff, until);
        }
        self.lifecycle.state = state;
        None
    }
}
