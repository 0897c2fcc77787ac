//! A gateway's log file, rotated by size, and which of them stay open: the
//! writer thread keeps at most [`MAX_OPEN`] files open (a descriptor each),
//! closing the least recently written half when it needs another, so an
//! idle fleet of hundreds costs no descriptor per instance for its logs.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;

use super::numbered;
use crate::declaration::LogSpec;

/// Log files open at once, at most.
pub(super) const MAX_OPEN: usize = 64;

/// A log file that rotates by size: `x.log` -> `x.log.1` -> ... -> `x.log.<keep>`.
pub(super) struct RotatingFile {
    path: PathBuf,
    /// When it was last written, in the writer's count of lines.
    pub(super) used: u64,
    pub(super) file: Option<File>,
    size: u64,
    /// Lines dropped since writes began to fail (None while they succeed).
    failing: Option<u64>,
}

impl RotatingFile {
    pub(super) fn new(path: PathBuf) -> Self {
        RotatingFile {
            path,
            used: 0,
            file: None,
            size: 0,
            failing: None,
        }
    }

    /// A line could not be written: the first of an episode is logged.
    pub(super) fn cannot_write(&mut self, err: &io::Error) {
        match self.failing.as_mut() {
            Some(dropped) => *dropped += 1,
            None => {
                self.failing = Some(1);
                tracing::warn!(log = %self.path.display(), error = %err, "cannot write a gateway's log: its lines are dropped (counted in status) until it can be written again");
            }
        }
    }

    /// A line was written: the end of an episode of failures is logged.
    pub(super) fn writable_again(&mut self) {
        if let Some(dropped) = self.failing.take() {
            tracing::info!(log = %self.path.display(), dropped, "a gateway's log can be written again");
        }
    }

    pub(super) fn write_line(&mut self, line: &[u8], spec: LogSpec) -> io::Result<()> {
        if self.file.is_none() {
            if let Some(parent) = self.path.parent() {
                fs::create_dir_all(parent)?;
            }
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
            self.size = file.metadata()?.len();
            self.file = Some(file);
        }
        let max = spec.max_size.as_u64().max(1);
        if self.size > 0 && self.size + line.len() as u64 > max {
            self.rotate(spec.keep)?;
        }
        let file = match self.file.as_mut() {
            Some(file) => file,
            None => return Err(io::Error::other("log file not open")),
        };
        file.write_all(line)?;
        self.size += line.len() as u64;
        Ok(())
    }

    fn rotate(&mut self, keep: u32) -> io::Result<()> {
        self.file = None;
        let numbered = |n: u32| numbered(&self.path, n);
        if keep == 0 {
            fs::remove_file(&self.path)?;
        } else {
            let _ = fs::remove_file(numbered(keep));
            for n in (1..keep).rev() {
                let from = numbered(n);
                if from.exists() {
                    fs::rename(&from, numbered(n + 1))?;
                }
            }
            fs::rename(&self.path, numbered(1))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.size = 0;
        self.file = Some(file);
        Ok(())
    }
}

/// Which open files to close before opening another: none while fewer than
/// `max` are open, else the least recently used until half of `max` stay.
/// `open` holds each open file's key and when it was last used.
pub(super) fn to_close<K: Copy>(mut open: Vec<(K, u64)>, max: usize) -> Vec<K> {
    if open.len() < max {
        return Vec::new();
    }
    open.sort_by_key(|(_, used)| *used);
    let close = open.len() - max / 2;
    open.into_iter().take(close).map(|(key, _)| key).collect()
}

#[cfg(test)]
mod tests {
    use super::to_close;

    #[test]
    fn the_least_recently_used_half_is_closed_at_the_limit() {
        // Open files (key, last used), the limit, what is closed.
        type Row = (Vec<(char, u64)>, usize, Vec<char>);
        let rows: Vec<Row> = vec![
            (vec![], 4, vec![]),
            (vec![('a', 1), ('b', 2), ('c', 3)], 4, vec![]),
            (
                vec![('a', 9), ('b', 2), ('c', 7), ('d', 1)],
                4,
                vec!['d', 'b'],
            ),
            (
                vec![('a', 5), ('b', 4), ('c', 3), ('d', 2), ('e', 1)],
                4,
                vec!['e', 'd', 'c'],
            ),
            (vec![('a', 1)], 1, vec!['a']),
        ];
        for (open, max, expected) in rows {
            assert_eq!(to_close(open.clone(), max), expected, "{open:?} max {max}");
        }
    }
}
