//! Reading the journal: which of its lines an `events` request gets. Pure:
//! the lines come in as text, events go out.

use crate::protocol::Event;

/// What an `events` request asks of the backlog.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only this instance's events (supervisor-wide ones are left out).
    pub name: Option<String>,
    /// Only events at or after this unix time in milliseconds.
    pub since_ms: Option<u64>,
    /// Only the last this many of the events that pass the rest.
    pub lines: Option<usize>,
}

impl Filter {
    /// Whether `event` passes the name and time filters (`lines` is about
    /// the backlog as a whole, not one event).
    pub fn admits(&self, event: &Event) -> bool {
        let name_ok = match &self.name {
            Some(name) => event.instance.as_deref() == Some(name.as_str()),
            None => true,
        };
        let time_ok = self.since_ms.is_none_or(|since| event.at >= since);
        name_ok && time_ok
    }
}

/// The events of a backlog, and the highest sequence number among all the
/// journal's events (filtered out or not): a live event at or below it is
/// already in the journal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selected {
    pub events: Vec<Event>,
    pub last_seq: Option<u64>,
}

/// The events of `lines` (oldest first) that `filter` admits, the last
/// `filter.lines` of them. A line that is not an event (a line torn by a
/// crash in the middle of a write, an empty line) is skipped.
pub fn select<'a>(lines: impl IntoIterator<Item = &'a str>, filter: &Filter) -> Selected {
    let mut selected = Selected::default();
    for line in lines {
        let Some(event) = parse(line) else {
            continue;
        };
        if let Some(seq) = event.seq {
            selected.last_seq = Some(selected.last_seq.map_or(seq, |last| last.max(seq)));
        }
        if filter.admits(&event) {
            selected.events.push(event);
        }
    }
    if let Some(keep) = filter.lines {
        let skip = selected.events.len().saturating_sub(keep);
        selected.events.drain(..skip);
    }
    selected
}

/// The highest sequence number in `lines`, where the next supervisor goes on.
pub fn last_seq<'a>(lines: impl IntoIterator<Item = &'a str>) -> Option<u64> {
    lines
        .into_iter()
        .filter_map(parse)
        .filter_map(|event| event.seq)
        .max()
}

fn parse(line: &str) -> Option<Event> {
    let line = line.trim();
    if line.is_empty() {
        return None;
    }
    serde_json::from_str(line).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::EventKind;

    fn line(seq: u64, at: u64, instance: Option<&str>, kind: &str) -> String {
        let instance = match instance {
            Some(name) => format!("\"{name}\""),
            None => "null".to_string(),
        };
        format!(
            r#"{{"at":{at},"instance":{instance},"kind":"{kind}","detail":"d{seq}","seq":{seq}}}"#
        )
    }

    fn journal() -> Vec<String> {
        vec![
            line(1, 1000, Some("main"), "spawned"),
            line(2, 2000, Some("rescue"), "spawned"),
            line(3, 3000, None, "reloaded"),
            line(4, 4000, Some("main"), "exited"),
            line(5, 5000, Some("main"), "backoff"),
        ]
    }

    fn seqs(selected: &Selected) -> Vec<u64> {
        selected.events.iter().filter_map(|e| e.seq).collect()
    }

    #[test]
    fn the_filters_pick_by_name_time_and_count() {
        let filter = |name: Option<&str>, since_ms: Option<u64>, lines: Option<usize>| Filter {
            name: name.map(str::to_string),
            since_ms,
            lines,
        };
        let rows: Vec<(Filter, Vec<u64>)> = vec![
            (Filter::default(), vec![1, 2, 3, 4, 5]),
            (filter(Some("main"), None, None), vec![1, 4, 5]),
            (filter(Some("rescue"), None, None), vec![2]),
            (filter(Some("nobody"), None, None), vec![]),
            (filter(None, Some(3000), None), vec![3, 4, 5]),
            (filter(None, Some(3001), None), vec![4, 5]),
            (filter(None, None, Some(2)), vec![4, 5]),
            (filter(None, None, Some(0)), vec![]),
            (filter(None, None, Some(99)), vec![1, 2, 3, 4, 5]),
            // The count is of what passes the other filters.
            (filter(Some("main"), None, Some(2)), vec![4, 5]),
            (filter(Some("main"), Some(2000), Some(1)), vec![5]),
            (filter(Some("rescue"), Some(2500), None), vec![]),
        ];
        let lines = journal();
        for (filter, expected) in rows {
            let selected = select(lines.iter().map(String::as_str), &filter);
            assert_eq!(seqs(&selected), expected, "{filter:?}");
            // The highest number is the journal's, whatever passed.
            assert_eq!(selected.last_seq, Some(5), "{filter:?}");
        }
    }

    #[test]
    fn a_torn_or_foreign_line_is_skipped_not_an_error() {
        let full = journal();
        let torn = &full[4][..full[4].len() / 2];
        let rows: Vec<(Vec<&str>, Vec<u64>, Option<u64>)> = vec![
            // A crash in the middle of the last write.
            (vec![&full[0], &full[1], torn], vec![1, 2], Some(2)),
            // The next supervisor sealed the torn line and went on.
            (vec![&full[0], torn, &full[3]], vec![1, 4], Some(4)),
            (
                vec!["", "   ", "not json", "{}", &full[2]],
                vec![3],
                Some(3),
            ),
            (vec![], vec![], None),
        ];
        for (lines, expected, last) in rows {
            let selected = select(lines.iter().copied(), &Filter::default());
            assert_eq!(seqs(&selected), expected, "{lines:?}");
            assert_eq!(selected.last_seq, last, "{lines:?}");
            assert_eq!(last_seq(lines.iter().copied()), last, "{lines:?}");
        }
    }

    #[test]
    fn an_event_of_an_unknown_kind_or_without_a_number_is_kept() {
        let lines = [
            r#"{"at":1,"instance":"main","kind":"from_the_future","detail":""}"#,
            r#"{"at":2,"instance":"main","kind":"spawned","detail":"pid 7"}"#,
        ];
        let selected = select(lines, &Filter::default());
        let kinds: Vec<EventKind> = selected.events.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, vec![EventKind::Other, EventKind::Spawned]);
        assert_eq!(selected.last_seq, None);
    }
}
