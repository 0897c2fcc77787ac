//! `--since WHEN`, one rule for `events` and `logs`: a duration ago
//! (`1h`, `30m`, `2h 15m`, `2d`) or a UTC time (`2026-12-04T18:00:00Z`; a
//! space for the `T`, no `Z` and fractions are taken too). Pure.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A `--since` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    Ago(Duration),
    At(SystemTime),
}

impl Since {
    /// As the wire carries it: unix milliseconds, given the time now.
    pub fn unix_ms(self, now: SystemTime) -> u64 {
        let at = match self {
            Since::Ago(ago) => now.checked_sub(ago).unwrap_or(UNIX_EPOCH),
            Since::At(at) => at,
        };
        at.duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
}

/// `1h`, `30m`, `90s`, `2d`; or `2026-12-04T18:00:00Z` (a space for the
/// `T` and no `Z` are taken too: UTC either way). clap's value parser of
/// both commands' `--since`.
pub fn parse_since(text: &str) -> Result<Since, String> {
    let text = text.trim();
    if let Ok(ago) = humantime::parse_duration(text) {
        return Ok(Since::Ago(ago));
    }
    humantime::parse_rfc3339_weak(text)
        .map(Since::At)
        .map_err(|_| {
            format!(
                "`{text}` is neither a duration (`1h`, `30m`) nor a UTC time (`2026-12-04T18:00:00Z`)"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn since_takes_a_duration_ago_or_a_utc_time() {
        let now = at(1_800_000_000);
        let rows: Vec<(&str, Option<u64>)> = vec![
            ("1h", Some((1_800_000_000 - 3600) * 1000)),
            ("30m", Some((1_800_000_000 - 1800) * 1000)),
            ("90s", Some((1_800_000_000 - 90) * 1000)),
            ("2d", Some((1_800_000_000 - 2 * 86400) * 1000)),
            ("2027-01-15T08:00:00Z", Some(1_800_000_000 * 1000)),
            ("2027-01-15 08:00:00", Some(1_800_000_000 * 1000)),
            ("2027-01-15T08:00:00.250Z", Some(1_800_000_000 * 1000 + 250)),
            // Longer ago than the epoch is everything.
            ("100000d", Some(0)),
            ("yesterday", None),
            ("", None),
            ("1 fortnight", None),
        ];
        for (text, expected) in rows {
            let got = parse_since(text).ok().map(|since| since.unix_ms(now));
            assert_eq!(got, expected, "{text:?}");
        }
    }

    #[test]
    fn since_takes_spaced_durations_and_milliseconds() {
        // 2026-12-04T18:40:00.123Z
        const T: u64 = 1_796_409_600_123;
        let now = UNIX_EPOCH + Duration::from_millis(T);
        let rows: [(&str, Option<u64>); 5] = [
            ("2h 15m", Some(T - 8_100_000)),
            ("0s", Some(T)),
            ("2026-12-04T18:40:00.123Z", Some(T)),
            ("2026-12-04T18:00:00Z", Some(T - 2_400_123)),
            ("  1h  ", Some(T - 3_600_000)),
        ];
        for (text, expected) in rows {
            let got = parse_since(text).ok().map(|since| since.unix_ms(now));
            assert_eq!(got, expected, "{text:?}");
        }
    }
}
