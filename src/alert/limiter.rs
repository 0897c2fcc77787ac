//! The rate limit of one instance's `notify` (pure: time is passed in).
//!
//! At most one run per `min_interval`, one at a time. A notification that
//! may not go yet is held; a newer one replaces it and the replaced one is
//! counted, so the run that finally goes carries the newest state and
//! `suppressed`, the number it stands for besides itself: nothing is lost
//! silently, and the queue is one slot whatever the event rate.
//!
//! One exception, so that a `recovered` right after a `failed` is not held
//! a whole window: a notification of another kind than the last one sent
//! may go at once, when the run before that one is a window old (so at
//! most two runs a window, the second a change). Per-kind windows were
//! weighed and refused: they let a held `recovered` go out after a newer
//! `failed`, telling the operator the wrong end state.

use std::time::{Duration, Instant};

use super::Trigger;

/// A run to start now: the notification, what it is about, and how many
/// held notifications it stands for besides itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run<T> {
    pub trigger: Trigger,
    pub payload: T,
    pub suppressed: u32,
}

#[derive(Debug)]
pub struct Limiter<T> {
    min_interval: Duration,
    /// When the last run started, and its notification.
    last: Option<(Instant, Trigger)>,
    /// When the run before it started.
    before_last: Option<Instant>,
    /// A run is under way: nothing else starts until it ends.
    busy: bool,
    /// The newest notification held back.
    held: Option<Run<T>>,
}

impl<T> Limiter<T> {
    pub fn new(min_interval: Duration) -> Limiter<T> {
        Limiter {
            min_interval,
            last: None,
            before_last: None,
            busy: false,
            held: None,
        }
    }

    /// A new `min_interval` (a reload changed it); what is held stays.
    pub fn set_interval(&mut self, min_interval: Duration) {
        self.min_interval = min_interval;
    }

    /// Whether a run of `trigger` may start at `now`.
    fn allowed(&self, now: Instant, trigger: Trigger) -> bool {
        if self.busy {
            return false;
        }
        match self.last {
            None => true,
            Some((at, _)) if now >= at + self.min_interval => true,
            Some((_, sent)) => {
                sent != trigger
                    && self
                        .before_last
                        .is_none_or(|at| now >= at + self.min_interval)
            }
        }
    }

    fn start(&mut self, now: Instant, run: Run<T>) -> Run<T> {
        self.before_last = self.last.map(|(at, _)| at);
        self.last = Some((now, run.trigger));
        self.busy = true;
        run
    }

    /// A notification at `now`: the run to start now, or none (held).
    pub fn offer(&mut self, now: Instant, trigger: Trigger, payload: T) -> Option<Run<T>> {
        let suppressed = self.held.take().map_or(0, |held| held.suppressed + 1);
        let run = Run {
            trigger,
            payload,
            suppressed,
        };
        if self.allowed(now, trigger) {
            Some(self.start(now, run))
        } else {
            self.held = Some(run);
            None
        }
    }

    /// The run under way ended.
    pub fn finished(&mut self) {
        self.busy = false;
    }

    /// When the held notification may go, `now` at the earliest (none
    /// held, or a run under way: none; its end is the next chance).
    pub fn due(&self, now: Instant) -> Option<Instant> {
        let held = self.held.as_ref()?;
        if self.busy {
            return None;
        }
        let Some((at, sent)) = self.last else {
            return Some(now);
        };
        let window_end = at + self.min_interval;
        let due = match (sent == held.trigger, self.before_last) {
            (true, _) => window_end,
            (false, None) => at,
            (false, Some(before)) => window_end.min(before + self.min_interval),
        };
        Some(due.max(now))
    }

    /// The held notification, when it may go at `now`.
    pub fn poll(&mut self, now: Instant) -> Option<Run<T>> {
        let trigger = self.held.as_ref()?.trigger;
        if !self.allowed(now, trigger) {
            return None;
        }
        let run = self.held.take()?;
        Some(self.start(now, run))
    }
}
