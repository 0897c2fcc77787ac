//! The lifecycle of one instance as a pure state machine.
//!
//! `Lifecycle::step(event, ctx) -> Vec<Action>` does no IO: the instance
//! actor turns actions into spawns, signals and timers, and feeds what
//! happens back as events. Time and randomness come in through [`Ctx`], so
//! every transition is a table row in the tests below.
//!
//! ```text
//!            Start                 StartupPassed
//! Stopped ─────────▶ Starting ───────────────────▶ Running
//! Standby ─RescueNeeded─▶ │  exit / spawn failed /    │ exit / liveness failed
//! Failed ──Changed──────▶ │  startup deadline         │
//!                         ▼                           ▼
//!              Backoff ◀── (failure: capped exponential delay, jittered)
//!                 │ timer, Start, RescueNeeded ──▶ Starting
//! Stop / Restart / liveness: Stopping ── exit ──▶ Stopped | Standby | Starting | Backoff
//! Backoff ──ReturnToStandby (standby rescue)──▶ Standby
//! exit 78: Failed (no retry until Changed, Start or Restart)
//! Starting | Running | Stopping ── LeaderExited (processes left) ──▶ Exiting
//! Exiting ── GroupEmpty ──▶ as the exit from where it was (Stop / Restart /
//!            Remove while exiting change that; the stop timeout is Kill)
//! ```

use std::time::{Duration, Instant};

use crate::declaration::{Declaration, RestartPolicy};
use crate::spawn::ExitKind;

mod vocabulary;
pub use vocabulary::{
    Action, Ctx, Event, FailReason, Notice, ProbePhase, State, StateName, Then, TimerKind, Was,
};

/// Exit code of the gateway for a configuration error.
pub const EXIT_CONFIG_ERROR: i32 = 78;

/// What the machine needs to know of the declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub restart: RestartPolicy,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    pub reset_after: Duration,
    pub stop_timeout: Duration,
    /// The startup probe's allowance; `None` when the startup probe is off
    /// (the instance counts as started as soon as it is spawned).
    pub startup_allowance: Option<Duration>,
    /// A rescue that waits in standby until it is needed.
    pub standby: bool,
}

impl Policy {
    pub fn from_declaration(
        declaration: &Declaration,
        startup_allowance: Option<Duration>,
    ) -> Self {
        Policy {
            restart: declaration.restart.policy,
            backoff_initial: declaration.restart.backoff.initial.get(),
            backoff_max: declaration.restart.backoff.max.get(),
            reset_after: declaration.restart.reset_after.get(),
            stop_timeout: declaration.stop.timeout.get(),
            startup_allowance,
            standby: declaration.standby,
        }
    }
}

/// What a zero `backoff.initial` backs off from after the first failure:
/// the first restart is at once, the next ones wait 100 ms, 200 ms, 400 ms
/// ... (doubling from this floor) up to `max`, so a crash loop still backs
/// off. It is also the shortest run that counts as started when
/// `initial` is zero (see [`Lifecycle::ran_long_enough`]).
pub const ZERO_BACKOFF_FLOOR: Duration = Duration::from_millis(100);

/// Where a stop, restart or removal asked while the gateway runs, stops or
/// exits leads.
fn asked_stop(event: Event) -> Then {
    match event {
        Event::Stop => Then::Stop,
        Event::Restart => Then::Restart,
        _ => Then::Forget,
    }
}

/// A second stop asked while one is under way: forget wins over
/// everything; an explicit stop wins over a restart.
fn combined(then: Then, wanted: Then) -> Then {
    match (then, wanted) {
        (Then::Forget, _) => Then::Forget,
        (Then::Stop, Then::Restart) => Then::Stop,
        (_, wanted) => wanted,
    }
}

/// Capped exponential backoff: `initial * 2^(failures-1)`, capped at `max`,
/// then jittered down by up to 20% so instances that failed together do not
/// restart together. Never above `max`, so a crash loop settles at the cap.
/// A zero `initial` makes the first delay zero and the later ones those of
/// an `initial` of [`ZERO_BACKOFF_FLOOR`] one failure earlier.
pub fn backoff_delay(initial: Duration, max: Duration, failures: u32, jitter: f64) -> Duration {
    if initial.is_zero() {
        return match failures {
            0 | 1 => Duration::ZERO,
            _ => backoff_delay(ZERO_BACKOFF_FLOOR, max, failures - 1, jitter),
        };
    }
    let exponent = failures.saturating_sub(1).min(32);
    let base = initial
        .checked_mul(1u32 << exponent.min(31))
        .unwrap_or(max)
        .min(max);
    base.mul_f64(1.0 - 0.2 * jitter.clamp(0.0, 1.0))
}

#[derive(Debug, Clone)]
pub struct Lifecycle {
    pub state: State,
    pub policy: Policy,
    /// Consecutive failures, the backoff exponent; reset after `reset_after`
    /// of running.
    pub failures: u32,
    /// Times the instance was started again after its first start.
    pub restarts: u32,
    pub last_exit: Option<ExitKind>,
}

impl Lifecycle {
    pub fn new(policy: Policy) -> Self {
        let state = if policy.standby {
            State::Standby
        } else {
            State::Stopped
        };
        Lifecycle {
            state,
            policy,
            failures: 0,
            restarts: 0,
            last_exit: None,
        }
    }

    pub fn step(&mut self, event: Event, ctx: Ctx) -> Vec<Action> {
        use Event as E;
        use State as S;
        match (self.state, event) {
            (S::Starting { .. } | S::Running { .. } | S::Backoff { .. }, E::Respawn) => {
                self.step(E::Restart, ctx)
            }
            (_, E::Respawn) => self.step(E::Changed, ctx),
            (S::Stopped | S::Standby | S::Failed { .. }, E::Start | E::Restart) => {
                self.spawn_now(ctx, false)
            }
            (S::Failed { .. }, E::Changed) => self.spawn_now(ctx, false),
            (S::Standby, E::RescueNeeded) => self.spawn_now(ctx, false),
            (S::Standby | S::Failed { .. }, E::Stop) => {
                self.state = S::Stopped;
                vec![Action::Notify(Notice::Stopped)]
            }
            (S::Stopped | S::Standby | S::Failed { .. }, E::Remove) => {
                self.state = S::Stopped;
                vec![Action::Forget, Action::Notify(Notice::Forgotten)]
            }

            // A kept gateway taken over: where a spawn would lead, without
            // the spawn (its startup probe decides, as for a new one).
            (S::Stopped | S::Standby | S::Failed { .. }, E::Adopted) => {
                self.state = S::Starting { since: ctx.now };
                let mut actions = vec![Action::Notify(Notice::Adopted)];
                match self.policy.startup_allowance {
                    Some(allowance) => {
                        actions.push(Action::ArmTimer(TimerKind::StartupDeadline, allowance));
                        actions.push(Action::Probes(ProbePhase::Startup));
                    }
                    None => actions.extend(self.started(ctx)),
                }
                actions
            }
            (S::Backoff { .. }, E::Timer(TimerKind::Backoff)) => self.spawn_now(ctx, true),
            (S::Backoff { .. }, E::Start | E::Restart | E::RescueNeeded) => {
                let mut actions = vec![Action::CancelTimer(TimerKind::Backoff)];
                actions.extend(self.spawn_now(ctx, true));
                actions
            }
            // A standby rescue that is still failing when its main has
            // recovered is not needed any more: it waits in standby again
            // rather than retrying for as long as its backoff says.
            (S::Backoff { .. }, E::ReturnToStandby) if self.policy.standby => {
                self.state = S::Standby;
                vec![
                    Action::CancelTimer(TimerKind::Backoff),
                    Action::Notify(Notice::Standby),
                ]
            }
            (S::Backoff { .. }, E::Stop) => {
                self.state = S::Stopped;
                vec![
                    Action::CancelTimer(TimerKind::Backoff),
                    Action::Notify(Notice::Stopped),
                ]
            }
            (S::Backoff { .. }, E::Remove) => {
                self.state = S::Stopped;
                vec![
                    Action::CancelTimer(TimerKind::Backoff),
                    Action::Forget,
                    Action::Notify(Notice::Forgotten),
                ]
            }

            (S::Starting { .. }, E::Spawned) => {
                let mut actions = vec![Action::Notify(Notice::Spawned)];
                if self.policy.startup_allowance.is_none() {
                    actions.extend(self.started(ctx));
                }
                actions
            }
            (S::Starting { .. }, E::SpawnFailed) => {
                let mut actions = vec![
                    Action::Probes(ProbePhase::Off),
                    Action::CancelTimer(TimerKind::StartupDeadline),
                ];
                actions.extend(self.failure(ctx, None));
                actions
            }
            (S::Starting { .. }, E::StartupPassed) => self.started(ctx),
            (S::Starting { .. }, E::Timer(TimerKind::StartupDeadline)) => {
                let mut actions = vec![Action::Notify(Notice::StartupTimedOut)];
                actions.extend(self.begin_stop(ctx, Then::Relaunch));
                actions
            }
            (S::Running { .. }, E::LivenessFailed) => {
                let mut actions = vec![Action::Notify(Notice::Unhealthy)];
                actions.extend(self.begin_stop(ctx, Then::Relaunch));
                actions
            }
            // A graceful restart as an operator's: no backoff, no failure.
            (S::Running { .. }, E::MemoryAbove) => {
                let mut actions = vec![Action::Notify(Notice::MemoryGuard)];
                actions.extend(self.begin_stop(ctx, Then::Restart));
                actions
            }
            (S::Starting { .. } | S::Running { .. }, E::Exited(exit)) => {
                self.unexpected_exit(exit, ctx, true)
            }
            (S::Starting { .. } | S::Running { .. }, E::Stop) => self.begin_stop(ctx, Then::Stop),
            (S::Starting { .. } | S::Running { .. }, E::Restart) => {
                self.begin_stop(ctx, Then::Restart)
            }
            (S::Starting { .. } | S::Running { .. }, E::Remove) => {
                self.begin_stop(ctx, Then::Forget)
            }
            (S::Starting { .. } | S::Running { .. }, E::ReturnToStandby) if self.policy.standby => {
                self.begin_stop(ctx, Then::Standby)
            }

            (S::Stopping { .. }, E::Timer(TimerKind::StopTimeout)) => vec![Action::Kill],
            (S::Stopping { since, then }, E::Stop | E::Restart | E::Remove) => {
                let wanted = asked_stop(event);
                self.state = S::Stopping {
                    since,
                    then: combined(then, wanted),
                };
                Vec::new()
            }
            (S::Stopping { then, .. }, E::Exited(exit)) => self.stopped(then, exit, ctx),

            // The leader is gone, not yet what it left: stop that (once), and
            // hear the exit when the group is empty. A stop under way keeps
            // its signal and its deadline.
            (
                S::Starting { .. } | S::Running { .. } | S::Stopping { .. },
                E::LeaderExited(exit),
            ) => self.exit_with_leftovers(exit, ctx),
            (S::Exiting { .. }, E::Timer(TimerKind::StopTimeout)) => vec![Action::Kill],
            (S::Exiting { exit, was, .. }, E::GroupEmpty | E::Exited(_)) => {
                self.state = was.state();
                match was {
                    Was::Stopping { then, .. } => self.stopped(then, exit, ctx),
                    // Its exit was told when the leader went.
                    Was::Starting { .. } | Was::Running { .. } => {
                        let mut actions = vec![Action::CancelTimer(TimerKind::StopTimeout)];
                        actions.extend(self.unexpected_exit(exit, ctx, false));
                        actions
                    }
                }
            }
            // What the exit leads to, asked for while exiting: as if the
            // stop had been asked before the exit.
            (S::Exiting { since, exit, was }, E::Stop | E::Restart | E::Remove) => {
                let wanted = asked_stop(event);
                let was = match was {
                    Was::Stopping { since, then } => Was::Stopping {
                        since,
                        then: combined(then, wanted),
                    },
                    Was::Starting { .. } | Was::Running { .. } => Was::Stopping {
                        since: ctx.now,
                        then: wanted,
                    },
                };
                self.state = S::Exiting { since, exit, was };
                Vec::new()
            }
            (S::Exiting { since, exit, was }, E::ReturnToStandby) if self.policy.standby => {
                if let Was::Starting { .. } | Was::Running { .. } = was {
                    self.state = S::Exiting {
                        since,
                        exit,
                        was: Was::Stopping {
                            since: ctx.now,
                            then: Then::Standby,
                        },
                    };
                }
                Vec::new()
            }

            // Everything else changes nothing: a start of a running
            // instance, a stale timer, a late probe result.
            _ => Vec::new(),
        }
    }

    /// The leader exited with processes left: stop them (see
    /// [`State::Exiting`]). A stop under way has signalled them and armed
    /// its deadline already; anything else does both now.
    fn exit_with_leftovers(&mut self, exit: ExitKind, ctx: Ctx) -> Vec<Action> {
        let Some(was) = Was::of(self.state) else {
            return Vec::new();
        };
        self.state = State::Exiting {
            since: ctx.now,
            exit,
            was,
        };
        let mut actions = vec![
            Action::Probes(ProbePhase::Off),
            Action::CancelTimer(TimerKind::StartupDeadline),
        ];
        if !matches!(was, Was::Stopping { .. }) {
            // An exit nobody asked for is told now, not once its leftovers
            // are gone (up to the stop timeout later): its rescues are
            // woken, `notify` runs, and a stop asked meanwhile cannot hide
            // it.
            self.last_exit = Some(exit);
            actions.push(Action::Notify(Notice::Exited(exit)));
            actions.push(Action::SignalStop);
            actions.push(Action::ArmTimer(
                TimerKind::StopTimeout,
                self.policy.stop_timeout,
            ));
        }
        actions
    }

    fn spawn_now(&mut self, ctx: Ctx, is_restart: bool) -> Vec<Action> {
        if is_restart {
            self.restarts = self.restarts.saturating_add(1);
        }
        self.state = State::Starting { since: ctx.now };
        let mut actions = vec![Action::Spawn];
        if let Some(allowance) = self.policy.startup_allowance {
            actions.push(Action::ArmTimer(TimerKind::StartupDeadline, allowance));
            actions.push(Action::Probes(ProbePhase::Startup));
        }
        actions
    }

    fn started(&mut self, ctx: Ctx) -> Vec<Action> {
        self.state = State::Running { since: ctx.now };
        vec![
            Action::CancelTimer(TimerKind::StartupDeadline),
            Action::Probes(ProbePhase::Live),
            Action::Notify(Notice::Started),
        ]
    }

    fn begin_stop(&mut self, ctx: Ctx, then: Then) -> Vec<Action> {
        self.state = State::Stopping {
            since: ctx.now,
            then,
        };
        vec![
            Action::Probes(ProbePhase::Off),
            Action::CancelTimer(TimerKind::StartupDeadline),
            Action::SignalStop,
            Action::ArmTimer(TimerKind::StopTimeout, self.policy.stop_timeout),
        ]
    }

    /// An exit nobody asked for: where it leads. `tell`: say `Exited` too
    /// (not when it was told as the leader went, see [`State::Exiting`]).
    fn unexpected_exit(&mut self, exit: ExitKind, ctx: Ctx, tell: bool) -> Vec<Action> {
        let running_since = match self.state {
            State::Running { since } => Some(since),
            _ => None,
        };
        self.last_exit = Some(exit);
        let mut actions = vec![
            Action::Probes(ProbePhase::Off),
            Action::CancelTimer(TimerKind::StartupDeadline),
        ];
        if tell {
            actions.push(Action::Notify(Notice::Exited(exit)));
        }
        if running_since.is_some_and(|since| {
            ctx.now.saturating_duration_since(since) >= self.policy.reset_after
        }) {
            self.failures = 0;
        }
        let clean = exit == ExitKind::Code(0);
        match self.policy.restart {
            RestartPolicy::Never | RestartPolicy::OnFailure if clean => {
                self.state = State::Stopped;
                actions.push(Action::Notify(Notice::Stopped));
            }
            // In external mode a gateway asks to be relaunched by exiting 0.
            // Only one that had started counts: an exit 0 during startup is a
            // failure, or a gateway that exits at once would loop hot.
            // Without a startup probe "started" only means spawned, so the
            // run must also have lasted `backoff.initial`, the shortest gap
            // between starts the operator accepts anyway.
            RestartPolicy::Always if clean && self.ran_long_enough(running_since, ctx) => {
                actions.extend(self.spawn_now(ctx, true));
            }
            _ => actions.extend(self.failure(ctx, Some(exit))),
        }
        actions
    }

    /// Whether a run that ended now had really started: its startup probe
    /// passed, or, without one, it ran at least `backoff.initial`.
    fn ran_long_enough(&self, running_since: Option<Instant>, ctx: Ctx) -> bool {
        running_since.is_some_and(|since| {
            self.policy.startup_allowance.is_some()
                || ctx.now.saturating_duration_since(since) >= self.shortest_run()
        })
    }

    /// The shortest run that counts as started without a startup probe:
    /// `backoff.initial`, or [`ZERO_BACKOFF_FLOOR`] when that is zero (an
    /// exit 0 at once must not relaunch at once, for ever).
    fn shortest_run(&self) -> Duration {
        match self.policy.backoff_initial.is_zero() {
            true => ZERO_BACKOFF_FLOOR,
            false => self.policy.backoff_initial,
        }
    }

    fn stopped(&mut self, then: Then, exit: ExitKind, ctx: Ctx) -> Vec<Action> {
        self.last_exit = Some(exit);
        let mut actions = vec![Action::CancelTimer(TimerKind::StopTimeout)];
        match then {
            Then::Stop => {
                self.state = State::Stopped;
                actions.push(Action::Notify(Notice::Stopped));
            }
            Then::Standby => {
                self.state = State::Standby;
                actions.push(Action::Notify(Notice::Standby));
            }
            Then::Restart => actions.extend(self.spawn_now(ctx, true)),
            Then::Relaunch => actions.extend(self.failure(ctx, Some(exit))),
            Then::Forget => {
                self.state = State::Stopped;
                actions.push(Action::Forget);
                actions.push(Action::Notify(Notice::Forgotten));
            }
        }
        actions
    }

    /// A failure: back off and retry, or give up where retrying cannot help.
    fn failure(&mut self, ctx: Ctx, exit: Option<ExitKind>) -> Vec<Action> {
        if exit == Some(ExitKind::Code(EXIT_CONFIG_ERROR)) {
            let reason = FailReason::ConfigError;
            self.state = State::Failed { reason };
            return vec![Action::Notify(Notice::Failed(reason))];
        }
        if self.policy.restart == RestartPolicy::Never {
            let reason = FailReason::Exited(exit.unwrap_or(ExitKind::Code(-1)));
            self.state = State::Failed { reason };
            return vec![Action::Notify(Notice::Failed(reason))];
        }
        self.failures = self.failures.saturating_add(1);
        let delay = backoff_delay(
            self.policy.backoff_initial,
            self.policy.backoff_max,
            self.failures,
            ctx.jitter,
        );
        self.state = State::Backoff {
            until: ctx.now + delay,
        };
        vec![
            Action::ArmTimer(TimerKind::Backoff, delay),
            Action::Notify(Notice::Backoff { delay }),
        ]
    }
}

#[cfg(test)]
#[path = "lifecycle_backoff_tests.rs"]
mod backoff_tests;
#[cfg(test)]
#[path = "lifecycle_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "lifecycle_adoption_tests.rs"]
mod adoption_tests;

#[cfg(test)]
#[path = "lifecycle_exiting_tests.rs"]
mod exiting_tests;

#[cfg(test)]
#[path = "lifecycle_restart_tests.rs"]
mod restart_tests;
