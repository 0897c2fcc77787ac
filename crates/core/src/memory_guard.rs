//! The memory guard (`restart.memory_above`): when an instance's process
//! tree stays above a size for a while, it is restarted gracefully.
//!
//! Theory of operation: the instance actor reads the tree's memory every
//! [`sample_interval`] while the gateway runs and hands each reading to a
//! [`Guard`]. The guard is pure: readings in, "restart now" out. It fires
//! when every reading for `for` has been above `size` (one reading at or
//! below the size, or one that could not be taken, starts the count again),
//! and then starts counting again from nothing, so one episode gives one
//! restart. The actor resets it for each new gateway. The restart itself is
//! the lifecycle's (`Event::MemoryAbove`): one stop signal, the drain
//! honoured, then a new gateway; it is not a failure, so it wakes no rescue.

use std::time::{Duration, Instant};

use crate::declaration::MemoryAboveSpec;

/// The shortest `for` a declaration may give: shorter would restart a
/// gateway for one allocation burst.
pub const MIN_FOR: Duration = Duration::from_secs(1);
/// Bounds of the interval between two readings (`for` / 10 in between).
pub const MIN_INTERVAL: Duration = Duration::from_millis(250);
pub const MAX_INTERVAL: Duration = Duration::from_secs(5);

/// How often the tree is read for a guard of `spec`: a tenth of `for`,
/// between [`MIN_INTERVAL`] and [`MAX_INTERVAL`].
pub fn sample_interval(spec: &MemoryAboveSpec) -> Duration {
    (spec.duration.get() / 10).clamp(MIN_INTERVAL, MAX_INTERVAL)
}

/// What the guard decided about one reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing to do.
    Keep,
    /// Restart now: the tree has been above the size this long, and was
    /// `bytes` at the last reading.
    Restart { bytes: u64, above_for: Duration },
}

/// One instance's guard: the spec, and since when the readings have been
/// above its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guard {
    spec: MemoryAboveSpec,
    above_since: Option<Instant>,
}

impl Guard {
    pub fn new(spec: MemoryAboveSpec) -> Self {
        Guard {
            spec,
            above_since: None,
        }
    }

    pub fn spec(&self) -> MemoryAboveSpec {
        self.spec
    }

    /// Forget the episode under way (a new gateway, a stop).
    pub fn reset(&mut self) {
        self.above_since = None;
    }

    /// A reading taken at `now`: the tree's bytes, or `None` when it could
    /// not be read (which counts as not above: the guard acts only on what
    /// it saw).
    pub fn reading(&mut self, now: Instant, bytes: Option<u64>) -> Verdict {
        let Some(bytes) = bytes.filter(|bytes| *bytes > self.spec.size.as_u64()) else {
            self.above_since = None;
            return Verdict::Keep;
        };
        let since = *self.above_since.get_or_insert(now);
        let above_for = now.saturating_duration_since(since);
        if above_for >= self.spec.duration.get() {
            // The timer starts again: a gateway still above after its
            // restart is a new episode.
            self.above_since = None;
            return Verdict::Restart { bytes, above_for };
        }
        Verdict::Keep
    }
}

/// The event's detail, and the status' restart reason:
/// `memory 1.6 GiB above 1.5 GiB for 5m`.
pub fn describe(spec: &MemoryAboveSpec, bytes: u64) -> String {
    format!(
        "memory {} above {} for {}",
        bytesize::ByteSize::b(bytes).display().iec(),
        spec.size.display().iec(),
        spec.duration
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::declaration::HumanDuration;

    const MIB: u64 = 1024 * 1024;

    fn spec(size_mib: u64, for_secs: u64) -> MemoryAboveSpec {
        MemoryAboveSpec {
            size: bytesize::ByteSize::mib(size_mib),
            duration: HumanDuration::from_secs(for_secs),
        }
    }

    /// What, readings (seconds from the start, MiB or unreadable), and the
    /// verdict of each, for a guard of 100 MiB for 10 s.
    type Row = (&'static str, &'static [(u64, Option<u64>)], &'static [bool]);

    #[test]
    fn the_guard_restarts_once_after_every_reading_was_above_for_the_whole_time() {
        let rows: &[Row] = &[
            (
                "always below",
                &[(0, Some(50)), (5, Some(99)), (20, Some(100))],
                &[false, false, false],
            ),
            (
                "above for less than `for`",
                &[(0, Some(150)), (5, Some(150)), (9, Some(150))],
                &[false, false, false],
            ),
            (
                "above for `for`: one restart",
                &[(0, Some(150)), (5, Some(150)), (10, Some(150))],
                &[false, false, true],
            ),
            (
                "a reading below starts the count again",
                &[
                    (0, Some(150)),
                    (8, Some(90)),
                    (9, Some(150)),
                    (15, Some(150)),
                    (19, Some(150)),
                ],
                &[false, false, false, false, true],
            ),
            (
                "an unreadable tree starts the count again",
                &[(0, Some(150)), (6, None), (7, Some(150)), (16, Some(150))],
                &[false, false, false, false],
            ),
            (
                "after a restart the timer starts again",
                &[
                    (0, Some(150)),
                    (10, Some(150)),
                    (11, Some(150)),
                    (15, Some(150)),
                    (21, Some(150)),
                ],
                &[false, true, false, false, true],
            ),
        ];
        for (what, readings, expected) in rows {
            let start = Instant::now();
            let mut guard = Guard::new(spec(100, 10));
            let verdicts: Vec<bool> = readings
                .iter()
                .map(|(at, mib)| {
                    let verdict =
                        guard.reading(start + Duration::from_secs(*at), mib.map(|m| m * MIB));
                    matches!(verdict, Verdict::Restart { .. })
                })
                .collect();
            assert_eq!(&verdicts, expected, "{what}");
        }
    }

    #[test]
    fn the_restart_carries_the_last_reading_and_how_long_it_was_above() {
        let start = Instant::now();
        let mut guard = Guard::new(spec(100, 10));
        assert_eq!(guard.reading(start, Some(150 * MIB)), Verdict::Keep);
        assert_eq!(
            guard.reading(start + Duration::from_secs(12), Some(160 * MIB)),
            Verdict::Restart {
                bytes: 160 * MIB,
                above_for: Duration::from_secs(12)
            }
        );
    }

    #[test]
    fn a_reset_forgets_the_episode() {
        let start = Instant::now();
        let mut guard = Guard::new(spec(100, 10));
        guard.reading(start, Some(150 * MIB));
        guard.reset();
        assert_eq!(
            guard.reading(start + Duration::from_secs(10), Some(150 * MIB)),
            Verdict::Keep
        );
    }

    #[test]
    fn the_interval_is_a_tenth_of_for_within_bounds() {
        let rows = [
            (1, MIN_INTERVAL),
            (2, MIN_INTERVAL),
            (10, Duration::from_secs(1)),
            (30, Duration::from_secs(3)),
            (300, MAX_INTERVAL),
        ];
        for (for_secs, expected) in rows {
            assert_eq!(
                sample_interval(&spec(100, for_secs)),
                expected,
                "{for_secs}s"
            );
        }
    }

    #[test]
    fn the_detail_names_the_reading_the_size_and_the_time() {
        let spec = MemoryAboveSpec {
            size: bytesize::ByteSize::b(1536 * MIB),
            duration: HumanDuration::from_secs(300),
        };
        assert_eq!(
            describe(&spec, 1638 * MIB),
            "memory 1.6 GiB above 1.5 GiB for 5m"
        );
    }
}
