//! The supervisor process's own figures, read from `/proc/self` (the IO
//! edge of the metrics; the parsing is pure and table tested).

use super::SupervisorFigures;

/// The fields of `/proc/self/stat` the metrics use, in clock ticks (times)
/// and pages (memory).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub utime: u64,
    pub stime: u64,
    /// Ticks after boot.
    pub starttime: u64,
    pub rss_pages: u64,
}

/// Parses `/proc/<pid>/stat`. The command name (field 2) may hold spaces
/// and parentheses: the fields are counted from its last `)`.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let (_, rest) = text.rsplit_once(')')?;
    // `rest` starts at field 3 (the state).
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |number: usize| fields.get(number - 3)?.parse::<u64>().ok();
    Some(Stat {
        utime: field(14)?,
        stime: field(15)?,
        starttime: field(22)?,
        rss_pages: field(24)?,
    })
}

/// The boot time (`btime`, Unix seconds) from `/proc/stat`.
pub fn parse_boot_time(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix("btime "))
        .and_then(|value| value.trim().parse().ok())
}

/// Figures from a parsed stat, the clock tick rate, the page size and the
/// boot time.
pub fn figures(
    stat: Stat,
    ticks_per_second: u64,
    page_size: u64,
    boot_time: Option<u64>,
) -> (Option<u64>, Option<f64>, Option<f64>) {
    let ticks = ticks_per_second.max(1) as f64;
    let cpu = (stat.utime + stat.stime) as f64 / ticks;
    let start = boot_time.map(|boot| boot as f64 + stat.starttime as f64 / ticks);
    (
        Some(stat.rss_pages.saturating_mul(page_size)),
        Some(cpu),
        start,
    )
}

/// The supervisor's own figures now; what cannot be read is left `None`.
pub fn read(version: &str, rejected_files: u64) -> SupervisorFigures {
    let stat = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|text| parse_stat(&text));
    let sysconf = |var| {
        nix::unistd::sysconf(var)
            .ok()
            .flatten()
            .and_then(|value| u64::try_from(value).ok())
    };
    let ticks = sysconf(nix::unistd::SysconfVar::CLK_TCK);
    let page_size = sysconf(nix::unistd::SysconfVar::PAGE_SIZE);
    let boot_time = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|text| parse_boot_time(&text));
    let (resident_memory_bytes, cpu_seconds, start_time) = match (stat, ticks, page_size) {
        (Some(stat), Some(ticks), Some(page_size)) => figures(stat, ticks, page_size, boot_time),
        _ => (None, None, None),
    };
    // The directory's own descriptor is among the entries while it is read.
    let open_fds = std::fs::read_dir("/proc/self/fd")
        .ok()
        .map(|entries| (entries.count() as u64).saturating_sub(1));
    SupervisorFigures {
        journal_dropped: 0,
        version: version.to_string(),
        rejected_files,
        resident_memory_bytes,
        cpu_seconds,
        open_fds,
        start_time,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        let tail = "S 1 2 3 4 5 6 7 8 9 10 250 50 13 14 15 16 17 18 9000 20 300 22";
        let rows: &[(&str, String, Option<Stat>)] = &[
            (
                "a plain name",
                format!("42 (openclaw-super) {tail}"),
                Some(Stat {
                    utime: 250,
                    stime: 50,
                    starttime: 9000,
                    rss_pages: 300,
                }),
            ),
            (
                "a name with spaces and parentheses",
                format!("42 (a (b) c) {tail}"),
                Some(Stat {
                    utime: 250,
                    stime: 50,
                    starttime: 9000,
                    rss_pages: 300,
                }),
            ),
            ("no parenthesis", String::from("42 x S 1 2"), None),
            ("too few fields", String::from("42 (x) S 1 2 3"), None),
        ];
        for (what, text, expected) in rows {
            assert_eq!(parse_stat(text), *expected, "{what}");
        }
    }

    #[test]
    fn figures_are_in_base_units() {
        let stat = Stat {
            utime: 250,
            stime: 50,
            starttime: 9000,
            rss_pages: 300,
        };
        assert_eq!(
            figures(stat, 100, 4096, Some(1_000_000)),
            (Some(1_228_800), Some(3.0), Some(1_000_090.0))
        );
        assert_eq!(figures(stat, 100, 4096, None).2, None);
        assert_eq!(
            parse_boot_time("cpu  1 2 3\nbtime 1764864000\nprocesses 9\n"),
            Some(1_764_864_000)
        );
        assert_eq!(parse_boot_time("cpu 1\n"), None);
    }

    #[test]
    fn the_running_test_process_reads_itself() {
        let own = read("9.9.9", 0);
        assert!(own.resident_memory_bytes.is_some_and(|bytes| bytes > 0));
        assert!(own.open_fds.is_some_and(|fds| fds >= 3), "{own:?}");
        assert!(own.start_time.is_some_and(|at| at > 1_600_000_000.0));
    }
}
