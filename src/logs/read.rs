//! Reading the captured log files back (`logs`): the time prefix of each
//! line, which lines a request wants (`-n`, `--since`), and the merge of
//! several instances in time order. Pure over lines; [`read_files`] is the
//! one function here that reads.
//!
//! Each line the supervisor writes to `<state-dir>/logs/<name>.log` starts
//! with the time it was read from the gateway's pipe, RFC 3339 UTC with
//! milliseconds, and one space (`2026-12-04T18:40:00.123Z <line>`, as
//! svlogd -tt does). A line without it (a file an older version wrote) is
//! kept as it is and takes the time of the line before it.

use std::fs::File;
use std::io::{self, Read};
use std::time::{Duration, UNIX_EPOCH};

/// Length of the time prefix, its space not included.
const STAMP_LEN: usize = "2026-12-04T18:40:00.123Z".len();

/// One line of a log file, without its time prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Unix milliseconds: its own prefix, else the line before it's; None
    /// when neither is known.
    pub at: Option<u64>,
    pub text: String,
}

/// `at_ms` as the prefix spells it: `2026-12-04T18:40:00.123Z`.
pub fn stamp(at_ms: u64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(at_ms)).to_string()
}

/// A file line split into its time (when it has the prefix) and its text.
pub fn split_stamp(line: &str) -> (Option<u64>, &str) {
    let bytes = line.as_bytes();
    let shaped = bytes.len() > STAMP_LEN
        && bytes[STAMP_LEN] == b' '
        && bytes[4] == b'-'
        && bytes[10] == b'T'
        && bytes[STAMP_LEN - 1] == b'Z';
    if !shaped || !line.is_char_boundary(STAMP_LEN) {
        return (None, line);
    }
    let at = humantime::parse_rfc3339(&line[..STAMP_LEN])
        .ok()
        .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
        .map(|elapsed| elapsed.as_millis() as u64);
    match at {
        Some(at) => (Some(at), &line[STAMP_LEN + 1..]),
        None => (None, line),
    }
}

/// The lines of one file's text, oldest first; `carry` is the time of the
/// last line before this text (from an older file), when known.
pub fn parse_lines(text: &str, carry: Option<u64>) -> Vec<Entry> {
    let mut last = carry;
    text.lines()
        .map(|line| {
            let (at, text) = split_stamp(line);
            if at.is_some() {
                last = at;
            }
            Entry {
                at: last,
                text: text.to_string(),
            }
        })
        .collect()
}

/// The lines a request wants of `entries` (oldest first): those at or
/// after `since` (a line of unknown time counts as older), then the last
/// `last` of them.
pub fn select(entries: Vec<Entry>, since: Option<u64>, last: Option<usize>) -> Vec<Entry> {
    let mut kept: Vec<Entry> = match since {
        Some(since) => entries
            .into_iter()
            .filter(|entry| entry.at.is_some_and(|at| at >= since))
            .collect(),
        None => entries,
    };
    if let Some(last) = last {
        let skip = kept.len().saturating_sub(last);
        kept.drain(..skip);
    }
    kept
}

/// Whether an older file must be read too, given the `lines` read so far
/// (newest files) and the first known time among them.
pub fn need_older(
    lines: usize,
    first_at: Option<u64>,
    since: Option<u64>,
    last: Option<usize>,
) -> bool {
    let enough_lines = last.is_some_and(|last| lines >= last);
    match since {
        // Older files hold older lines: once a line before `since` is
        // read, nothing older is wanted.
        Some(since) => !enough_lines && first_at.is_none_or(|first| first >= since),
        None => !enough_lines,
    }
}

/// Every instance's lines in one list, in time order; lines of one
/// instance keep their order, and at equal times the earlier instance in
/// `named` comes first. A line of unknown time sorts as the oldest.
pub fn merge(named: Vec<(String, Vec<Entry>)>) -> Vec<(String, Entry)> {
    let mut all: Vec<(u64, usize, usize, String, Entry)> = Vec::new();
    for (rank, (name, entries)) in named.into_iter().enumerate() {
        for (index, entry) in entries.into_iter().enumerate() {
            all.push((entry.at.unwrap_or(0), rank, index, name.clone(), entry));
        }
    }
    // Sorting by (time, instance, position) keeps each instance's order:
    // its times never decrease along the file.
    all.sort_by_key(|(at, rank, index, _, _)| (*at, *rank, *index));
    all.into_iter()
        .map(|(_, _, _, name, entry)| (name, entry))
        .collect()
}

/// One file to read: open, and how many of its bytes belong to the read
/// (the current file may grow after the read began).
pub struct FilePart {
    pub file: File,
    pub len: u64,
}

/// The wanted lines of a log, from its files oldest first (rotated ones,
/// then the current one). Files are read newest first and only as far back
/// as the request needs.
pub fn read_files(
    files: Vec<FilePart>,
    since: Option<u64>,
    last: Option<usize>,
) -> io::Result<Vec<Entry>> {
    let mut texts: Vec<String> = Vec::new();
    let mut lines = 0;
    for part in files.into_iter().rev() {
        let mut bytes = Vec::new();
        part.file.take(part.len).read_to_end(&mut bytes)?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        lines += text.lines().count();
        texts.push(text);
        let first_at = texts
            .last()
            .and_then(|text| text.lines().find_map(|line| split_stamp(line).0));
        if !need_older(lines, first_at, since, last) {
            break;
        }
    }
    let mut entries = Vec::new();
    let mut carry = None;
    for text in texts.iter().rev() {
        let parsed = parse_lines(text, carry);
        carry = parsed.last().and_then(|entry| entry.at).or(carry);
        entries.extend(parsed);
    }
    Ok(select(entries, since, last))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(at: Option<u64>, text: &str) -> Entry {
        Entry {
            at,
            text: text.to_string(),
        }
    }

    // 2026-12-04T18:40:00.123Z
    const T: u64 = 1_796_409_600_123;

    #[test]
    fn the_prefix_is_rfc3339_utc_with_milliseconds_and_reads_back() {
        assert_eq!(stamp(T), "2026-12-04T18:40:00.123Z");
        assert_eq!(stamp(T - 123), "2026-12-04T18:40:00.000Z");
        let rows: [(&str, Option<u64>, &str); 8] = [
            ("2026-12-04T18:40:00.123Z ready", Some(T), "ready"),
            (
                "2026-12-04T18:40:00.123Z  two spaces",
                Some(T),
                " two spaces",
            ),
            ("2026-12-04T18:40:00.123Z ", Some(T), ""),
            ("2026-12-04T18:40:00.123Z", None, "2026-12-04T18:40:00.123Z"),
            ("ready", None, "ready"),
            (
                "2026-12-04T18:40:00Z [gateway] no ms",
                None,
                "2026-12-04T18:40:00Z [gateway] no ms",
            ),
            (
                "2026-13-04T18:40:00.123Z bad month",
                None,
                "2026-13-04T18:40:00.123Z bad month",
            ),
            (
                "é026-12-04T18:40:00.123Z x",
                None,
                "é026-12-04T18:40:00.123Z x",
            ),
        ];
        for (line, at, text) in rows {
            assert_eq!(split_stamp(line), (at, text), "{line:?}");
        }
        let line = format!("{} hello", stamp(T + 5));
        assert_eq!(split_stamp(&line), (Some(T + 5), "hello"));
    }

    #[test]
    fn a_line_without_a_prefix_takes_the_time_of_the_line_before_it() {
        let text = "old line\n2026-12-04T18:40:00.123Z a\ncontinued\n2026-12-04T18:40:01.000Z b\n";
        assert_eq!(
            parse_lines(text, None),
            vec![
                entry(None, "old line"),
                entry(Some(T), "a"),
                entry(Some(T), "continued"),
                entry(Some(T + 877), "b"),
            ]
        );
        assert_eq!(parse_lines("x\n", Some(7)), vec![entry(Some(7), "x")]);
        assert!(parse_lines("", Some(7)).is_empty());
    }

    #[test]
    fn select_applies_since_then_the_last_n() {
        let all = vec![
            entry(None, "unknown"),
            entry(Some(10), "a"),
            entry(Some(20), "b"),
            entry(Some(20), "c"),
            entry(Some(30), "d"),
        ];
        let texts = |entries: Vec<Entry>| -> Vec<String> {
            entries.into_iter().map(|entry| entry.text).collect()
        };
        let rows: [(Option<u64>, Option<usize>, &[&str]); 7] = [
            (None, None, &["unknown", "a", "b", "c", "d"]),
            (None, Some(2), &["c", "d"]),
            (None, Some(0), &[]),
            (None, Some(99), &["unknown", "a", "b", "c", "d"]),
            (Some(20), None, &["b", "c", "d"]),
            (Some(20), Some(1), &["d"]),
            (Some(31), None, &[]),
        ];
        for (since, last, expected) in rows {
            assert_eq!(
                texts(select(all.clone(), since, last)),
                expected,
                "since {since:?} last {last:?}"
            );
        }
    }

    #[test]
    fn older_files_are_read_only_while_the_request_needs_them() {
        // (lines read, first known time, since, last) -> read an older file
        let rows = [
            (0, None, None, None, true),
            (1000, Some(5), None, None, true),
            (49, Some(5), None, Some(50), true),
            (50, Some(5), None, Some(50), false),
            (10, Some(100), Some(50), None, true),
            (10, Some(50), Some(50), None, true),
            (10, Some(49), Some(50), None, false),
            (10, None, Some(50), None, true),
            (10, Some(100), Some(50), Some(10), false),
            (10, Some(100), Some(50), Some(11), true),
        ];
        for (lines, first_at, since, last, expected) in rows {
            assert_eq!(
                need_older(lines, first_at, since, last),
                expected,
                "{lines} lines, first {first_at:?}, since {since:?}, last {last:?}"
            );
        }
    }

    #[test]
    fn instances_interleave_in_time_order_each_keeping_its_own_order() {
        let merged = merge(vec![
            (
                "main".to_string(),
                vec![
                    entry(Some(10), "m1"),
                    entry(Some(30), "m2"),
                    entry(Some(30), "m3"),
                ],
            ),
            (
                "rescue".to_string(),
                vec![
                    entry(None, "r0"),
                    entry(Some(20), "r1"),
                    entry(Some(30), "r2"),
                ],
            ),
            ("empty".to_string(), vec![]),
        ]);
        let order: Vec<(String, String)> = merged
            .into_iter()
            .map(|(name, entry)| (name, entry.text))
            .collect();
        let expected = [
            ("rescue", "r0"),
            ("main", "m1"),
            ("rescue", "r1"),
            ("main", "m2"),
            ("main", "m3"),
            ("rescue", "r2"),
        ];
        assert_eq!(
            order,
            expected
                .iter()
                .map(|(name, text)| (name.to_string(), text.to_string()))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn files_are_read_oldest_first_and_only_as_far_back_as_needed() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        let old = write("main.log.2", "legacy one\nlegacy two\n");
        let middle = write(
            "main.log.1",
            "2026-12-04T18:40:00.123Z m1\nno prefix\n2026-12-04T18:40:01.123Z m2\n",
        );
        let current = write(
            "main.log",
            "2026-12-04T18:40:02.123Z c1\n2026-12-04T18:40:03.123Z c2\n2026-12-04T18:40:04.123Z written later\n",
        );
        let len_before_later = "2026-12-04T18:40:02.123Z c1\n2026-12-04T18:40:03.123Z c2\n".len();
        let parts = || {
            [&old, &middle, &current]
                .iter()
                .map(|path| {
                    let file = File::open(path).unwrap();
                    let len = match *path == &current {
                        true => len_before_later as u64,
                        false => file.metadata().unwrap().len(),
                    };
                    FilePart { file, len }
                })
                .collect::<Vec<_>>()
        };
        let texts = |entries: Vec<Entry>| -> Vec<String> {
            entries.into_iter().map(|entry| entry.text).collect()
        };
        assert_eq!(
            texts(read_files(parts(), None, None).unwrap()),
            [
                "legacy one",
                "legacy two",
                "m1",
                "no prefix",
                "m2",
                "c1",
                "c2"
            ]
        );
        assert_eq!(
            texts(read_files(parts(), None, Some(3)).unwrap()),
            ["m2", "c1", "c2"]
        );
        let all = read_files(parts(), None, Some(4)).unwrap();
        assert_eq!(all[0], entry(Some(T), "no prefix"));
        assert_eq!(
            texts(read_files(parts(), Some(T + 1000), None).unwrap()),
            ["m2", "c1", "c2"]
        );
    }
}
