//! Units a person reads in a cell: durations (`3m12s`), binary sizes
//! (`1.5KiB`), CPU percent, `-` for nothing, `in 5s` / `5s ago`.

/// A duration a person reads: `42s`, `3m12s`, `1h01m`, `2d03h`.
pub(super) fn uptime(seconds: u64) -> String {
    let (days, hours, minutes) = (seconds / 86_400, seconds / 3_600 % 24, seconds / 60 % 60);
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3_600 => format!("{minutes}m{:02}s", seconds % 60),
        3_600..86_400 => format!("{}h{minutes:02}m", seconds / 3_600),
        _ => format!("{days}d{hours:02}h"),
    }
}

/// Bytes in binary units: `512B`, `1.5KiB`, `150MiB`, `2.0GiB`; one
/// decimal below 10. No space: a cell stays one word for `awk`.
pub(super) fn memory(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    match (unit, value < 10.0) {
        (0, _) => format!("{bytes}B"),
        (_, true) => format!("{value:.1}{}", UNITS[unit]),
        (_, false) => format!("{value:.0}{}", UNITS[unit]),
    }
}

/// CPU in percent of one core.
pub(super) fn cpu(percent: f32) -> String {
    format!("{percent:.1}%")
}

pub(super) fn or_dash<T>(value: Option<T>, show: impl FnOnce(T) -> String) -> String {
    value.map(show).unwrap_or_else(|| String::from("-"))
}

pub(super) fn in_or_ago(at_ms: u64, now_ms: u64) -> String {
    if at_ms >= now_ms {
        format!("in {}", uptime((at_ms - now_ms).div_ceil(1000)))
    } else {
        format!("{} ago", uptime((now_ms - at_ms) / 1000))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptimes_and_sizes_are_short() {
        let uptimes = vec![
            (0, "0s"),
            (59, "59s"),
            (60, "1m00s"),
            (192, "3m12s"),
            (3_599, "59m59s"),
            (3_600, "1h00m"),
            (3_700, "1h01m"),
            (86_400 + 7_200, "1d02h"),
        ];
        for (seconds, expected) in uptimes {
            assert_eq!(uptime(seconds), expected, "{seconds}");
        }
        let sizes = vec![
            (0, "0B"),
            (1023, "1023B"),
            (1024, "1.0KiB"),
            (1536, "1.5KiB"),
            (10 * 1024, "10KiB"),
            (150 * 1024 * 1024, "150MiB"),
            (1_100 * 1024 * 1024, "1.1GiB"),
            (3 * 1024 * 1024 * 1024, "3.0GiB"),
        ];
        for (bytes, expected) in sizes {
            assert_eq!(memory(bytes), expected, "{bytes}");
        }
    }
}
