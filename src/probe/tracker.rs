//! A pure record of one probe's results: consecutive failures, the last
//! result, and the verdict when a threshold is crossed. No IO, no clock:
//! the caller passes `now`.

use std::time::{Duration, SystemTime};

use serde::{Serialize, Serializer};

use super::ProbeOutcome;

/// What the results so far say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeStatus {
    /// No attempt yet, or failures below the threshold before any pass.
    Unknown,
    /// The last verdict was a pass.
    Passing,
    /// The failures reached the threshold, and no pass came since.
    Failing,
}

/// A change the lifecycle must hear about; at most one per change of status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "verdict")]
pub enum ProbeVerdict {
    /// The first pass, or the first pass after `Failing` (startup passed;
    /// liveness recovered; ready).
    Passing,
    /// The consecutive failures just reached the threshold (liveness:
    /// restart; readiness: not ready). Not repeated while failures continue.
    Failing { consecutive_failures: u32 },
}

/// The last attempt, for status output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LastProbe {
    pub ok: bool,
    /// Why it failed, or `ok`.
    pub detail: String,
    pub http_status: Option<u16>,
    #[serde(serialize_with = "serialize_millis", rename = "latency_ms")]
    pub latency: Duration,
    #[serde(serialize_with = "serialize_time")]
    pub at: SystemTime,
}

fn serialize_millis<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
}

fn serialize_time<S: Serializer>(time: &SystemTime, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&humantime::format_rfc3339_millis(*time))
}

/// Counts one probe's results. `threshold` is the probe's `failures`; 0
/// means failures never produce a verdict (the startup probe, judged by its
/// allowance instead).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbeTracker {
    threshold: u32,
    status: ProbeStatus,
    consecutive_failures: u32,
    checks: u64,
    total_failures: u64,
    last: Option<LastProbe>,
    /// The latest `failing` list (from `/readyz`); None when the last answer had none.
    failing: Option<Vec<String>>,
}

impl ProbeTracker {
    pub fn new(threshold: u32) -> Self {
        ProbeTracker {
            threshold,
            status: ProbeStatus::Unknown,
            consecutive_failures: 0,
            checks: 0,
            total_failures: 0,
            last: None,
            failing: None,
        }
    }

    /// Records one attempt; returns a verdict when the status changes.
    pub fn record(&mut self, outcome: &ProbeOutcome, now: SystemTime) -> Option<ProbeVerdict> {
        self.checks += 1;
        self.failing = outcome.failing.clone();
        self.last = Some(LastProbe {
            ok: outcome.passed(),
            detail: outcome
                .failure
                .as_ref()
                .map_or_else(|| "ok".to_string(), ToString::to_string),
            http_status: outcome.http_status,
            latency: outcome.latency,
            at: now,
        });
        if outcome.passed() {
            self.consecutive_failures = 0;
            if self.status == ProbeStatus::Passing {
                return None;
            }
            self.status = ProbeStatus::Passing;
            return Some(ProbeVerdict::Passing);
        }
        self.total_failures += 1;
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        let crossed = self.threshold > 0 && self.consecutive_failures >= self.threshold;
        if crossed && self.status != ProbeStatus::Failing {
            self.status = ProbeStatus::Failing;
            return Some(ProbeVerdict::Failing {
                consecutive_failures: self.consecutive_failures,
            });
        }
        None
    }

    /// Forgets every result (a new process starts with a clean slate).
    pub fn reset(&mut self) {
        *self = ProbeTracker::new(self.threshold);
    }

    /// Go on counting from `failures` in a row (a streak carried across a
    /// re-exec): the next failures add to it, a pass ends it.
    pub fn resume_failing_streak(&mut self, failures: u32) {
        self.consecutive_failures = failures;
    }

    pub fn threshold(&self) -> u32 {
        self.threshold
    }

    pub fn status(&self) -> ProbeStatus {
        self.status
    }

    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    pub fn checks(&self) -> u64 {
        self.checks
    }

    pub fn last(&self) -> Option<&LastProbe> {
        self.last.as_ref()
    }

    pub fn failing(&self) -> Option<&[String]> {
        self.failing.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::ProbeFailure;

    fn outcome(ok: bool) -> ProbeOutcome {
        ProbeOutcome {
            failure: (!ok).then_some(ProbeFailure::Status(503)),
            http_status: Some(if ok { 200 } else { 503 }),
            latency: Duration::from_millis(3),
            failing: None,
        }
    }

    #[test]
    fn a_resumed_streak_reaches_the_threshold_sooner() {
        let now = SystemTime::UNIX_EPOCH;
        let mut tracker = ProbeTracker::new(3);
        tracker.resume_failing_streak(2);
        assert_eq!(
            tracker.record(&outcome(false), now),
            Some(ProbeVerdict::Failing {
                consecutive_failures: 3
            })
        );
        let mut passed = ProbeTracker::new(3);
        passed.resume_failing_streak(2);
        assert_eq!(
            passed.record(&outcome(true), now),
            Some(ProbeVerdict::Passing)
        );
        assert_eq!(passed.consecutive_failures(), 0);
    }

    #[test]
    fn verdicts() {
        use ProbeVerdict::{Failing, Passing};
        let fail = |n| {
            Some(Failing {
                consecutive_failures: n,
            })
        };
        // (threshold, results, expected verdict after each, final status)
        let rows: Vec<(u32, &str, Vec<Option<ProbeVerdict>>, ProbeStatus)> = vec![
            (3, "", vec![], ProbeStatus::Unknown),
            (3, "p", vec![Some(Passing)], ProbeStatus::Passing),
            (3, "pp", vec![Some(Passing), None], ProbeStatus::Passing),
            (
                3,
                "pff",
                vec![Some(Passing), None, None],
                ProbeStatus::Passing,
            ),
            (
                3,
                "pfff",
                vec![Some(Passing), None, None, fail(3)],
                ProbeStatus::Failing,
            ),
            (
                3,
                "fffff",
                vec![None, None, fail(3), None, None],
                ProbeStatus::Failing,
            ),
            (
                3,
                "ffpff",
                vec![None, None, Some(Passing), None, None],
                ProbeStatus::Passing,
            ),
            (
                3,
                "fffp",
                vec![None, None, fail(3), Some(Passing)],
                ProbeStatus::Passing,
            ),
            (
                1,
                "fpf",
                vec![fail(1), Some(Passing), fail(1)],
                ProbeStatus::Failing,
            ),
            (
                0,
                "ffffp",
                vec![None, None, None, None, Some(Passing)],
                ProbeStatus::Passing,
            ),
        ];
        for (threshold, results, expected, status) in rows {
            let mut tracker = ProbeTracker::new(threshold);
            let got: Vec<_> = results
                .chars()
                .map(|result| tracker.record(&outcome(result == 'p'), SystemTime::UNIX_EPOCH))
                .collect();
            assert_eq!(got, expected, "threshold {threshold}, results {results}");
            assert_eq!(
                tracker.status(),
                status,
                "threshold {threshold}, results {results}"
            );
            let trailing = results.chars().rev().take_while(|r| *r == 'f').count();
            assert_eq!(tracker.consecutive_failures() as usize, trailing);
        }
    }

    #[test]
    fn keeps_the_last_result_and_failing_list_for_status() {
        let mut tracker = ProbeTracker::new(1);
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(60);
        let mut not_ready = outcome(false);
        not_ready.failing = Some(vec!["discord".into()]);
        tracker.record(&not_ready, at);
        assert_eq!(tracker.failing(), Some(&["discord".to_string()][..]));
        let last = tracker.last().expect("a last result");
        assert_eq!(
            (last.ok, last.detail.as_str(), last.at),
            (false, "http status 503", at)
        );

        let json = serde_json::to_value(&tracker).expect("serialize");
        assert_eq!(json["status"], "failing");
        assert_eq!(json["consecutive_failures"], 1);
        assert_eq!(json["last"]["latency_ms"], 3);
        assert_eq!(json["last"]["at"], "1970-01-01T00:01:00.000Z");
        assert_eq!(json["failing"][0], "discord");

        tracker.record(&outcome(true), at);
        assert_eq!(tracker.failing(), None);
        tracker.reset();
        assert_eq!(tracker, ProbeTracker::new(1));
    }
}
