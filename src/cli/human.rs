//! Durations as a person reads them: `480 ms`, `5.0 s`, `2m05s`. Benchmarks
//! keep their own units; this is for what the command line prints.

use std::time::Duration;

/// Below a second in whole milliseconds, below a minute in tenths of a
/// second, then minutes and seconds (hours and minutes past an hour).
pub fn duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    let seconds = duration.as_secs();
    match seconds {
        0 => format!("{millis} ms"),
        1..60 => format!("{:.1} s", duration.as_secs_f64()),
        60..3_600 => format!("{}m{:02}s", seconds / 60, seconds % 60),
        _ => format!("{}h{:02}m", seconds / 3_600, seconds / 60 % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_a_person_would_say_them() {
        let rows = [
            (Duration::ZERO, "0 ms"),
            (Duration::from_micros(12_600), "12 ms"),
            (Duration::from_millis(999), "999 ms"),
            (Duration::from_millis(1_000), "1.0 s"),
            (Duration::from_micros(4_991_700), "5.0 s"),
            (Duration::from_millis(59_940), "59.9 s"),
            (Duration::from_secs(60), "1m00s"),
            (Duration::from_secs(125), "2m05s"),
            (Duration::from_secs(3_600 + 61), "1h01m"),
        ];
        for (input, expected) in rows {
            assert_eq!(duration(input), expected, "{input:?}");
        }
    }
}
