//! When a rescue's agent is told what: one planner per rescue with `wake`,
//! fed main's failures and recoveries, the rescue's readiness and each
//! answer, and answering what to do next. Pure.
//!
//! What the agent should know follows from two facts: whether main's
//! failure episode is open, and what the agent was last told. In an open
//! episode it should have the failure message; once main runs again, and
//! only if it had the failure message, the recovered message. One message is
//! in flight at a time; it goes out only while the rescue is ready (a
//! standby rescue boots first). An answer that may change (no connection,
//! a timeout, 5xx, 429) is retried after 2 s, 4 s, ... up to 60 s, at most
//! [`MAX_TRIES`] times a message; a refusal (400, 401, 403, 404, 413...) is
//! not retried: its cause is a config only a person can fix.

use std::time::Duration;

/// Which message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Failure,
    Recovered,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Failure => "failure",
            Kind::Recovered => "recovered",
        }
    }
}

/// How a send ended, as far as retrying goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// 2xx.
    Accepted,
    /// Worth another try: no connection, a timeout, 5xx, 429.
    Retry,
    /// Not worth another try: another 4xx, or nothing to send with.
    Refused,
}

impl Answer {
    /// The class of an HTTP status; `None` is no HTTP answer at all.
    pub fn of(status: Option<u16>) -> Answer {
        match status {
            Some(200..=299) => Answer::Accepted,
            None | Some(429) | Some(500..=599) => Answer::Retry,
            Some(_) => Answer::Refused,
        }
    }
}

/// What to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Nothing,
    /// Send this message now (try number `try_number`).
    Send {
        kind: Kind,
        try_number: u32,
    },
    /// Call [`Planner::retry_due`] after this long.
    RetryIn(Duration),
    /// This message is given up for this episode.
    GiveUp,
}

/// Tries of one message before it is given up.
pub const MAX_TRIES: u32 = 8;
const FIRST_RETRY: Duration = Duration::from_secs(2);
const LAST_RETRY: Duration = Duration::from_secs(60);

/// The delay before try `tries + 1`: 2 s, 4 s, 8 s ... capped at 60 s.
pub fn retry_delay(tries: u32) -> Duration {
    let doublings = tries.saturating_sub(1).min(16);
    FIRST_RETRY.saturating_mul(1 << doublings).min(LAST_RETRY)
}

/// One rescue's wake state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Planner {
    /// main's failure episode is open.
    episode: bool,
    /// What the agent was last told (accepted).
    told: Option<Kind>,
    in_flight: Option<Kind>,
    waiting_retry: bool,
    /// The message given up in this episode (or since the recovery).
    gave_up: Option<Kind>,
    /// Tries of `tries_of`.
    tries: u32,
    tries_of: Option<Kind>,
}

impl Planner {
    /// The message the agent should get, if any.
    fn wanted(&self) -> Option<Kind> {
        let wanted = match (self.episode, self.told) {
            (true, Some(Kind::Failure)) => None,
            (true, _) => Some(Kind::Failure),
            (false, Some(Kind::Failure)) => Some(Kind::Recovered),
            (false, _) => None,
        };
        wanted.filter(|kind| self.gave_up != Some(*kind))
    }

    /// What to send now, given whether the rescue is ready.
    pub fn next(&mut self, rescue_ready: bool) -> Step {
        if self.in_flight.is_some() || self.waiting_retry || !rescue_ready {
            return Step::Nothing;
        }
        let Some(kind) = self.wanted() else {
            return Step::Nothing;
        };
        if self.tries_of != Some(kind) {
            self.tries_of = Some(kind);
            self.tries = 0;
        }
        self.tries += 1;
        self.in_flight = Some(kind);
        Step::Send {
            kind,
            try_number: self.tries,
        }
    }

    /// main failed: an episode opens (a failure within one changes nothing).
    /// A new episode is told even when the last one's recovered message is
    /// still retrying or was given up: the agent is to hear of this failure.
    pub fn main_failed(&mut self, rescue_ready: bool) -> Step {
        if !self.episode {
            self.episode = true;
            self.told = None;
            self.gave_up = None;
            self.tries_of = None;
            self.waiting_retry = false;
        }
        self.next(rescue_ready)
    }

    /// main runs again: its episode ends.
    pub fn main_recovered(&mut self, rescue_ready: bool) -> Step {
        if self.episode {
            self.episode = false;
            self.gave_up = None;
            self.tries_of = None;
        }
        self.next(rescue_ready)
    }

    /// The answer to the message in flight.
    pub fn answered(&mut self, answer: Answer, rescue_ready: bool) -> Step {
        let Some(kind) = self.in_flight.take() else {
            return Step::Nothing;
        };
        match answer {
            Answer::Accepted => {
                self.told = Some(kind);
                self.tries_of = None;
                self.next(rescue_ready)
            }
            Answer::Refused => self.give_up(kind),
            Answer::Retry if self.tries >= MAX_TRIES => self.give_up(kind),
            Answer::Retry => {
                self.waiting_retry = true;
                Step::RetryIn(retry_delay(self.tries))
            }
        }
    }

    fn give_up(&mut self, kind: Kind) -> Step {
        self.gave_up = Some(kind);
        Step::GiveUp
    }

    /// The retry delay has passed.
    pub fn retry_due(&mut self, rescue_ready: bool) -> Step {
        self.waiting_retry = false;
        self.next(rescue_ready)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One input to the planner.
    #[derive(Debug, Clone, Copy)]
    enum Input {
        MainFailed(bool),
        MainRecovered(bool),
        Answered(Answer, bool),
        RetryDue(bool),
        Ready,
    }

    fn apply(planner: &mut Planner, input: Input) -> Step {
        match input {
            Input::MainFailed(ready) => planner.main_failed(ready),
            Input::MainRecovered(ready) => planner.main_recovered(ready),
            Input::Answered(answer, ready) => planner.answered(answer, ready),
            Input::RetryDue(ready) => planner.retry_due(ready),
            Input::Ready => planner.next(true),
        }
    }

    fn send(kind: Kind, try_number: u32) -> Step {
        Step::Send { kind, try_number }
    }

    #[test]
    fn each_episode_wakes_once_and_a_recovery_follows_only_a_delivered_wake() {
        use Answer::{Accepted, Refused, Retry};
        use Input::*;
        use Kind::{Failure, Recovered};
        let rows: Vec<(&str, Vec<(Input, Step)>)> = vec![
            (
                "a ready rescue is woken at once, once an episode, then told of the recovery",
                vec![
                    (MainFailed(true), send(Failure, 1)),
                    (Answered(Accepted, true), Step::Nothing),
                    (MainFailed(true), Step::Nothing),
                    (MainRecovered(true), send(Recovered, 1)),
                    (Answered(Accepted, true), Step::Nothing),
                    (MainRecovered(true), Step::Nothing),
                    (MainFailed(true), send(Failure, 1)),
                ],
            ),
            (
                "a standby rescue is woken once it is ready, not before",
                vec![
                    (MainFailed(false), Step::Nothing),
                    (MainFailed(false), Step::Nothing),
                    (Ready, send(Failure, 1)),
                    (Ready, Step::Nothing),
                ],
            ),
            (
                "refused or 5xx is retried with a growing delay, then given up",
                vec![
                    (MainFailed(true), send(Failure, 1)),
                    (Answered(Retry, true), Step::RetryIn(Duration::from_secs(2))),
                    (MainFailed(true), Step::Nothing),
                    (RetryDue(true), send(Failure, 2)),
                    (Answered(Retry, true), Step::RetryIn(Duration::from_secs(4))),
                    (RetryDue(false), Step::Nothing),
                    (Ready, send(Failure, 3)),
                    (Answered(Retry, true), Step::RetryIn(Duration::from_secs(8))),
                    (RetryDue(true), send(Failure, 4)),
                    (
                        Answered(Retry, true),
                        Step::RetryIn(Duration::from_secs(16)),
                    ),
                    (RetryDue(true), send(Failure, 5)),
                    (
                        Answered(Retry, true),
                        Step::RetryIn(Duration::from_secs(32)),
                    ),
                    (RetryDue(true), send(Failure, 6)),
                    (
                        Answered(Retry, true),
                        Step::RetryIn(Duration::from_secs(60)),
                    ),
                    (RetryDue(true), send(Failure, 7)),
                    (
                        Answered(Retry, true),
                        Step::RetryIn(Duration::from_secs(60)),
                    ),
                    (RetryDue(true), send(Failure, 8)),
                    (Answered(Retry, true), Step::GiveUp),
                    (Ready, Step::Nothing),
                ],
            ),
            (
                "401 is not retried, and no recovery follows a wake never delivered",
                vec![
                    (MainFailed(true), send(Failure, 1)),
                    (Answered(Refused, true), Step::GiveUp),
                    (MainFailed(true), Step::Nothing),
                    (Ready, Step::Nothing),
                    (MainRecovered(true), Step::Nothing),
                    (MainFailed(true), send(Failure, 1)),
                ],
            ),
            (
                "main recovering before a standby rescue was ready: nothing is sent",
                vec![
                    (MainFailed(false), Step::Nothing),
                    (MainRecovered(false), Step::Nothing),
                    (Ready, Step::Nothing),
                ],
            ),
            (
                "main recovering while the wake is in flight: the recovery follows it",
                vec![
                    (MainFailed(true), send(Failure, 1)),
                    (MainRecovered(true), Step::Nothing),
                    (Answered(Accepted, true), send(Recovered, 1)),
                    (Answered(Accepted, true), Step::Nothing),
                ],
            ),
            (
                "a new episode while the recovery is retrying: the new failure is told",
                vec![
                    (MainFailed(true), send(Failure, 1)),
                    (Answered(Accepted, true), Step::Nothing),
                    (MainRecovered(true), send(Recovered, 1)),
                    (Answered(Retry, true), Step::RetryIn(Duration::from_secs(2))),
                    (MainFailed(true), send(Failure, 1)),
                    (RetryDue(true), Step::Nothing),
                    (Answered(Accepted, true), Step::Nothing),
                    (MainRecovered(true), send(Recovered, 1)),
                ],
            ),
            (
                "a new episode after the recovery was given up: the new failure is told",
                vec![
                    (MainFailed(true), send(Failure, 1)),
                    (Answered(Accepted, true), Step::Nothing),
                    (MainRecovered(true), send(Recovered, 1)),
                    (Answered(Refused, true), Step::GiveUp),
                    (MainFailed(true), send(Failure, 1)),
                ],
            ),
            (
                "a new episode while the recovery is in flight: the failure follows it",
                vec![
                    (MainFailed(true), send(Failure, 1)),
                    (Answered(Accepted, true), Step::Nothing),
                    (MainRecovered(true), send(Recovered, 1)),
                    (MainFailed(true), Step::Nothing),
                    (Answered(Accepted, true), send(Failure, 1)),
                ],
            ),
        ];
        for (what, steps) in rows {
            let mut planner = Planner::default();
            for (index, (input, expected)) in steps.into_iter().enumerate() {
                assert_eq!(
                    apply(&mut planner, input),
                    expected,
                    "{what}: step {index} ({input:?})"
                );
            }
        }
    }

    #[test]
    fn answers_are_classed_by_status() {
        let rows = [
            (Some(200), Answer::Accepted),
            (Some(204), Answer::Accepted),
            (None, Answer::Retry),
            (Some(429), Answer::Retry),
            (Some(503), Answer::Retry),
            (Some(400), Answer::Refused),
            (Some(401), Answer::Refused),
            (Some(403), Answer::Refused),
            (Some(404), Answer::Refused),
            (Some(413), Answer::Refused),
        ];
        for (status, answer) in rows {
            assert_eq!(Answer::of(status), answer, "{status:?}");
        }
    }
}
