//! An index of where each key of a YAML file is written, so that errors can
//! name the key (`probes.liveness.every`) and its line and column, whether
//! serde found the error or validation did.
//!
//! Built from the raw event stream of the parser, which does not expand
//! aliases, so its cost is linear in the (already size-capped) input.

use serde_saphyr::granit_parser::{Event, Parser};

/// One mapping key: its dotted path and where it is written (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
struct KeyEntry {
    path: String,
    line: u64,
    column: u64,
}

/// Every mapping key of a document, in document order.
#[derive(Debug, Default)]
pub(super) struct KeyIndex {
    entries: Vec<KeyEntry>,
}

/// A collection being walked: its own path and where we are inside it.
enum Frame {
    Map {
        path: String,
        key: Option<String>,
        expecting_key: bool,
        /// This mapping is itself a (complex) key: its end leaves the parent
        /// waiting for a value rather than for the next key.
        is_key: bool,
    },
    Seq {
        path: String,
        index: usize,
        is_key: bool,
    },
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

impl KeyIndex {
    /// Index the keys of `text`; a syntax error ends the index where it stands.
    pub(super) fn build(text: &str) -> KeyIndex {
        let mut entries = Vec::new();
        let mut frames: Vec<Frame> = Vec::new();
        for item in Parser::new_from_str(text) {
            let Ok((event, span)) = item else { break };
            let line = span.start.line() as u64;
            let column = span.start.col() as u64 + 1;
            match event {
                Event::Scalar(value, ..) => match frames.last_mut() {
                    Some(Frame::Map {
                        path,
                        key,
                        expecting_key: expecting @ true,
                        ..
                    }) => {
                        entries.push(KeyEntry {
                            path: join(path, &value),
                            line,
                            column,
                        });
                        *key = Some(value.into_owned());
                        *expecting = false;
                    }
                    _ => {
                        push_item(&mut entries, &frames, line, column);
                        value_done(&mut frames);
                    }
                },
                Event::Alias(_) => {
                    push_item(&mut entries, &frames, line, column);
                    value_done(&mut frames);
                }
                Event::MappingStart(..) | Event::SequenceStart(..) => {
                    push_item(&mut entries, &frames, line, column);
                    let (path, is_key) = match frames.last_mut() {
                        Some(Frame::Map {
                            path,
                            key,
                            expecting_key: expecting @ true,
                            ..
                        }) => {
                            *key = Some("?".to_string());
                            *expecting = false;
                            (join(path, "?"), true)
                        }
                        Some(Frame::Map { path, key, .. }) => {
                            (join(path, key.as_deref().unwrap_or("?")), false)
                        }
                        Some(Frame::Seq { path, index, .. }) => (format!("{path}[{index}]"), false),
                        None => (String::new(), false),
                    };
                    frames.push(if matches!(event, Event::MappingStart(..)) {
                        Frame::Map {
                            path,
                            key: None,
                            expecting_key: true,
                            is_key,
                        }
                    } else {
                        Frame::Seq {
                            path,
                            index: 0,
                            is_key,
                        }
                    });
                }
                Event::MappingEnd | Event::SequenceEnd => {
                    let was_key = match frames.pop() {
                        Some(Frame::Map { is_key, .. } | Frame::Seq { is_key, .. }) => is_key,
                        None => false,
                    };
                    if !was_key {
                        value_done(&mut frames);
                    }
                }
                _ => {}
            }
        }
        KeyIndex { entries }
    }

    /// The key an error at `line`:`column` belongs to: the last key written
    /// at or before that position (the key itself, or the key whose value
    /// holds the position).
    pub(super) fn key_at(&self, line: u64, column: u64) -> Option<&str> {
        self.entries
            .iter()
            .rev()
            .find(|entry| (entry.line, entry.column) <= (line, column))
            .map(|entry| entry.path.as_str())
    }

    /// Where the key `path` is written, if it is.
    pub(super) fn position_of(&self, path: &str) -> Option<(u64, u64)> {
        self.entries
            .iter()
            .find(|entry| entry.path == path)
            .map(|entry| (entry.line, entry.column))
    }
}

/// An item of a sequence is indexed like a key (`args[0]`), so that errors
/// about one item name its line and column.
fn push_item(entries: &mut Vec<KeyEntry>, frames: &[Frame], line: u64, column: u64) {
    if let Some(Frame::Seq { path, index, .. }) = frames.last() {
        entries.push(KeyEntry {
            path: format!("{path}[{index}]"),
            line,
            column,
        });
    }
}

/// A value finished inside the innermost collection: a mapping now expects
/// its next key, a sequence moves to its next index.
fn value_done(frames: &mut [Frame]) {
    match frames.last_mut() {
        Some(Frame::Map { expecting_key, .. }) => *expecting_key = true,
        Some(Frame::Seq { index, .. }) => *index += 1,
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_indexed_with_paths_and_positions() {
        let text = "name: a\nprobes:\n  liveness: { every: 10s, http: /healthz }\nargs: [a, b]\nenv:\n  A: b\n";
        let index = KeyIndex::build(text);
        let rows: &[(&str, Option<(u64, u64)>)] = &[
            ("name", Some((1, 1))),
            ("probes", Some((2, 1))),
            ("probes.liveness", Some((3, 3))),
            ("probes.liveness.every", Some((3, 15))),
            ("probes.liveness.http", Some((3, 27))),
            ("args", Some((4, 1))),
            ("env.A", Some((6, 3))),
            ("args[0]", Some((4, 8))),
            ("args[1]", Some((4, 11))),
            ("nothere", None),
        ];
        for (path, expected) in rows {
            assert_eq!(index.position_of(path), *expected, "{path}");
        }
    }

    #[test]
    fn an_error_position_maps_to_the_key_that_holds_it() {
        let text = "name: a\nrestart:\n  backoff: { initial: 1x }\nstop:\n  timeout: 5s\n";
        let index = KeyIndex::build(text);
        let rows: &[((u64, u64), Option<&str>)] = &[
            ((1, 7), Some("name")),
            ((3, 23), Some("restart.backoff.initial")),
            ((5, 12), Some("stop.timeout")),
            ((4, 1), Some("stop")),
        ];
        for ((line, column), expected) in rows {
            assert_eq!(index.key_at(*line, *column), *expected, "{line}:{column}");
        }
    }
}
