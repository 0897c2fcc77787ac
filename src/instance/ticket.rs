//! Commands answered once they are done: [`InstanceHandle::command`] gives
//! a [`Ticket`] that resolves to the [`Outcome`] after the actor has acted
//! (the lifecycle took the event and its actions were carried out: after a
//! start the spawn was attempted), or to the reason it did not.
//!
//! What is refused is what the lifecycle ignores: [`verdict`] asks the
//! machine itself, on a copy, whether the event would change anything in
//! the current state (no action and no change of state is a refusal), so
//! the rules cannot drift from `lifecycle::step`; [`refusal`] only names
//! why. Words are the wire edge's (`service.rs`).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::sync::oneshot;

use super::*;
use crate::lifecycle::Then;

/// What became of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The lifecycle took the command and its actions were carried out;
    /// `state` is the instance's state right after (a start: starting,
    /// running without a startup probe, or backoff/failed when the spawn
    /// failed; a stop: stopping, or stopped when nothing ran).
    Done { state: StateName },
    /// Nothing was done, and why.
    Refused { reason: Refusal },
}

/// Why a command was not carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Already where the command leads, or on its way there: a start of a
    /// starting or running instance, a stop of a stopped or stopping one.
    Already(StateName),
    /// A start or restart while a restart is under way (stopping, then
    /// starting again).
    AlreadyRestarting,
    /// A start or restart while it stops for good (an operator's stop, a
    /// removal, back to standby, or a probe's stop that backs off): the
    /// lifecycle takes neither until it has stopped.
    Stopping,
    /// A signal with no gateway to take it.
    NoGateway(StateName),
    /// Any other event the lifecycle ignores in this state.
    Ignored(StateName),
    /// The actor has ended: the instance was removed.
    Removed,
}

/// A command and the caller waiting for its outcome; made only by
/// [`InstanceHandle::command`].
#[derive(Debug)]
pub struct Awaited {
    command: Box<Command>,
    answer: oneshot::Sender<Outcome>,
}

/// The answer to one command: awaiting it gives its [`Outcome`] (the actor
/// gone, or the command dropped with it: `Refused { reason: Removed }`).
/// Dropped, the command is still carried out.
#[derive(Debug)]
pub struct Ticket(oneshot::Receiver<Outcome>);

impl Future for Ticket {
    type Output = Outcome;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome> {
        Pin::new(&mut self.0).poll(cx).map(|answer| {
            answer.unwrap_or(Outcome::Refused {
                reason: Refusal::Removed,
            })
        })
    }
}

impl InstanceHandle {
    /// Send a command and get its ticket; the actor answers it once it has
    /// acted (or refused).
    pub fn command(&self, command: Command) -> Ticket {
        let (answer, ticket) = oneshot::channel();
        let awaited = Awaited {
            command: Box::new(command),
            answer,
        };
        // A gone actor drops the command, and with it the answer: the
        // ticket then says `Removed`.
        let _ = self.send(Command::Awaited(awaited));
        Ticket(ticket)
    }
}

/// The lifecycle event a command is, for those that are one event alone.
fn event_of(command: &Command) -> Option<Event> {
    match command {
        Command::Start => Some(Event::Start),
        Command::Stop => Some(Event::Stop),
        Command::Restart => Some(Event::Restart),
        Command::Remove => Some(Event::Remove),
        Command::Changed => Some(Event::Changed),
        Command::RescueNeeded => Some(Event::RescueNeeded),
        Command::ReturnToStandby => Some(Event::ReturnToStandby),
        _ => None,
    }
}

/// Whether the machine would take `event` now: `Err` with the reason when
/// it ignores it (no action, no change of state). Asked of a copy, so
/// nothing changes.
pub fn verdict(lifecycle: &Lifecycle, event: Event, now: Instant) -> Result<(), Refusal> {
    let mut trial = lifecycle.clone();
    let actions = trial.step(event, Ctx { now, jitter: 0.0 });
    match actions.is_empty() && trial.state == lifecycle.state {
        true => Err(refusal(event, lifecycle.state)),
        false => Ok(()),
    }
}

/// Why `event`, ignored in `state`, is refused.
fn refusal(event: Event, state: State) -> Refusal {
    // A stop under way (stopping, or exiting with a stop asked) refuses as
    // one, named as status names its state.
    match (event, state, state.stop_then()) {
        (Event::Start, State::Starting { .. } | State::Running { .. }, _) => {
            Refusal::Already(state.name())
        }
        (Event::Stop, State::Stopped, _) | (Event::Stop, _, Some(_)) => {
            Refusal::Already(state.name())
        }
        (Event::Start | Event::Restart, _, Some(Then::Restart)) => Refusal::AlreadyRestarting,
        (Event::Start | Event::Restart, _, Some(_)) => Refusal::Stopping,
        (_, state, _) => Refusal::Ignored(state.name()),
    }
}

impl Actor {
    /// Carry out an awaited command and answer it; true when the actor
    /// should end.
    pub(super) async fn awaited(&mut self, awaited: Awaited) -> bool {
        let Awaited { command, answer } = awaited;
        if let Command::Signal(signal) = *command {
            let outcome = match self.signal_gateway(signal) {
                true => Outcome::Done {
                    state: self.lifecycle.state.name(),
                },
                false => Outcome::Refused {
                    reason: Refusal::NoGateway(self.lifecycle.state.name()),
                },
            };
            let _ = answer.send(outcome);
            return false;
        }
        let taken = match event_of(&command) {
            Some(event) => verdict(&self.lifecycle, event, Instant::now()),
            None => Ok(()),
        };
        if let Err(reason) = taken {
            // The machine would do nothing with it: nothing to carry out.
            tracing::debug!(instance = %self.name, ?command, ?reason, "command refused");
            let _ = answer.send(Outcome::Refused { reason });
            return false;
        }
        let end = self.command(*command).await;
        let _ = answer.send(Outcome::Done {
            state: self.lifecycle.state.name(),
        });
        end
    }

    /// Send `signal` to the gateway's group, while it lives; false when
    /// there is none to take it.
    pub(super) fn signal_gateway(&mut self, signal: Signal) -> bool {
        // Only a leader provably ours (the children know which is).
        self.child.is_some() && self.children.signal(signal)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::declaration::RestartPolicy;
    use crate::lifecycle::Was;

    fn policy(standby: bool) -> Policy {
        Policy {
            restart: RestartPolicy::Always,
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            reset_after: Duration::from_secs(600),
            stop_timeout: Duration::from_secs(60),
            startup_allowance: Some(Duration::from_secs(120)),
            standby,
        }
    }

    fn verdict_in(state: State, event: Event, now: Instant) -> Result<(), Refusal> {
        let mut lifecycle = Lifecycle::new(policy(false));
        lifecycle.state = state;
        verdict(&lifecycle, event, now)
    }

    /// Every state against every operator command: the machine takes it
    /// (`Ok`) or the reason it is refused.
    #[test]
    fn refusals_follow_the_lifecycle() {
        use Refusal::*;
        let now = Instant::now();
        let stopping = |then| State::Stopping { since: now, then };
        let failed = State::Failed {
            reason: crate::lifecycle::FailReason::Exited(ExitKind::Code(1)),
        };
        let states = [
            ("stopped", State::Stopped),
            ("standby", State::Standby),
            ("starting", State::Starting { since: now }),
            ("running", State::Running { since: now }),
            ("stopping to stop", stopping(Then::Stop)),
            ("stopping to restart", stopping(Then::Restart)),
            ("stopping to relaunch", stopping(Then::Relaunch)),
            ("stopping to standby", stopping(Then::Standby)),
            ("stopping to forget", stopping(Then::Forget)),
            (
                "backoff",
                State::Backoff {
                    until: now + Duration::from_secs(5),
                },
            ),
            ("failed", failed),
            (
                "exiting after a crash",
                State::Exiting {
                    since: now,
                    exit: ExitKind::Code(1),
                    was: Was::Running { since: now },
                },
            ),
            (
                "exiting to stop",
                State::Exiting {
                    since: now,
                    exit: ExitKind::Code(0),
                    was: Was::Stopping {
                        since: now,
                        then: Then::Stop,
                    },
                },
            ),
            (
                "exiting to restart",
                State::Exiting {
                    since: now,
                    exit: ExitKind::Code(0),
                    was: Was::Stopping {
                        since: now,
                        then: Then::Restart,
                    },
                },
            ),
        ];
        // (state, start, stop, restart)
        type Row = (
            &'static str,
            Result<(), Refusal>,
            Result<(), Refusal>,
            Result<(), Refusal>,
        );
        let rows: [Row; 14] = [
            ("stopped", Ok(()), Err(Already(StateName::Stopped)), Ok(())),
            ("standby", Ok(()), Ok(()), Ok(())),
            (
                "starting",
                Err(Already(StateName::Starting)),
                Ok(()),
                Ok(()),
            ),
            ("running", Err(Already(StateName::Running)), Ok(()), Ok(())),
            (
                "stopping to stop",
                Err(Stopping),
                Err(Already(StateName::Stopping)),
                Err(Stopping),
            ),
            (
                "stopping to restart",
                Err(AlreadyRestarting),
                Ok(()),
                Err(AlreadyRestarting),
            ),
            ("stopping to relaunch", Err(Stopping), Ok(()), Ok(())),
            ("stopping to standby", Err(Stopping), Ok(()), Ok(())),
            (
                "stopping to forget",
                Err(Stopping),
                Err(Already(StateName::Stopping)),
                Err(Stopping),
            ),
            ("backoff", Ok(()), Ok(()), Ok(())),
            ("failed", Ok(()), Ok(()), Ok(())),
            (
                "exiting after a crash",
                Err(Ignored(StateName::Exiting)),
                Ok(()),
                Ok(()),
            ),
            (
                "exiting to stop",
                Err(Stopping),
                Err(Already(StateName::Exiting)),
                Err(Stopping),
            ),
            (
                "exiting to restart",
                Err(AlreadyRestarting),
                Ok(()),
                Err(AlreadyRestarting),
            ),
        ];
        for ((name, state), (row, start, stop, restart)) in states.into_iter().zip(rows) {
            assert_eq!(name, row, "the rows follow the states");
            for (event, expected) in [
                (Event::Start, start),
                (Event::Stop, stop),
                (Event::Restart, restart),
            ] {
                assert_eq!(verdict_in(state, event, now), expected, "{name}: {event:?}");
            }
        }
    }

    #[test]
    fn the_verdict_changes_nothing() {
        let now = Instant::now();
        let mut lifecycle = Lifecycle::new(policy(false));
        assert_eq!(verdict(&lifecycle, Event::Start, now), Ok(()));
        assert_eq!(lifecycle.state, State::Stopped);
        assert_eq!(lifecycle.restarts, 0);
        lifecycle.state = State::Backoff { until: now };
        assert_eq!(verdict(&lifecycle, Event::Start, now), Ok(()));
        assert_eq!(lifecycle.state, State::Backoff { until: now });
        assert_eq!(lifecycle.restarts, 0, "the copy counted the restart");
    }

    /// Events the loop sends have their own reasons where ignored.
    #[test]
    fn other_ignored_events_name_the_state() {
        let now = Instant::now();
        let running = State::Running { since: now };
        assert_eq!(
            verdict_in(running, Event::Changed, now),
            Err(Refusal::Ignored(StateName::Running))
        );
        assert_eq!(
            verdict_in(State::Stopped, Event::RescueNeeded, now),
            Err(Refusal::Ignored(StateName::Stopped))
        );
        let mut standby = Lifecycle::new(policy(true));
        assert_eq!(verdict(&standby, Event::RescueNeeded, now), Ok(()));
        standby.state = State::Backoff { until: now };
        assert_eq!(verdict(&standby, Event::ReturnToStandby, now), Ok(()));
        assert_eq!(
            verdict_in(State::Stopped, Event::Remove, now),
            Ok(()),
            "a removal is always taken"
        );
    }

    /// A ticket whose command was dropped (the actor gone) says so.
    #[tokio::test]
    async fn a_dropped_command_is_a_removed_instance() {
        let (answer, ticket) = oneshot::channel::<Outcome>();
        drop(answer);
        assert_eq!(
            Ticket(ticket).await,
            Outcome::Refused {
                reason: Refusal::Removed
            }
        );
        let (answer, ticket) = oneshot::channel::<Outcome>();
        let _ = answer.send(Outcome::Done {
            state: StateName::Stopping,
        });
        assert_eq!(
            Ticket(ticket).await,
            Outcome::Done {
                state: StateName::Stopping
            }
        );
    }
}
