//! Child output: every line of a gateway's stdout and stderr goes to
//! `<state-dir>/logs/<instance>.log` (size-rotated), to an in-memory tail of
//! the last lines (for status and crash reports), and to any `logs -f`
//! follower. Each line in the tail remembers the gateway (leader pid) whose
//! pipe it came from, so a crash report holds only the lines of the process
//! that exited.
//!
//! Writing never blocks a child or the daemon: lines go through a bounded
//! queue to one writer thread; when the queue is full or a write fails
//! (disk full, unwritable dir) the line is dropped and counted.

use std::collections::{HashMap, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};

use tokio::io::AsyncReadExt;
use tokio::sync::broadcast;

use crate::declaration::LogSpec;

/// Lines kept in memory per instance.
pub const TAIL_LINES: usize = 200;
/// A longer line is cut into pieces of this size.
pub const MAX_LINE: usize = 16 * 1024;
const QUEUE: usize = 16 * 1024;
/// Lines a `logs -f` follower may fall behind before it is told it skipped
/// some. Allocated whole per instance, so kept small: a follower reads lines
/// as fast as they come.
const FOLLOW_BUFFER: usize = 256;

struct WriteRequest {
    path: Arc<PathBuf>,
    spec: LogSpec,
    line: Vec<u8>,
    dropped: Arc<AtomicU64>,
}

/// The one writer thread shared by every instance.
#[derive(Clone)]
pub struct LogSink {
    queue: SyncSender<WriteRequest>,
}

impl LogSink {
    pub fn start() -> io::Result<LogSink> {
        let (queue, requests) = sync_channel::<WriteRequest>(QUEUE);
        std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || {
                let mut files: HashMap<Arc<PathBuf>, RotatingFile> = HashMap::new();
                for request in requests {
                    let file = files
                        .entry(request.path.clone())
                        .or_insert_with(|| RotatingFile::new(request.path.as_ref().clone()));
                    match file.write_line(&request.line, request.spec) {
                        Ok(()) => file.writable_again(),
                        Err(err) => {
                            request.dropped.fetch_add(1, Ordering::Relaxed);
                            file.cannot_write(&err);
                            // Reopen next time: the directory may be back.
                            file.file = None;
                        }
                    }
                }
            })?;
        Ok(LogSink { queue })
    }

    /// The log of one instance, writing to `path`.
    pub fn instance_log(&self, path: PathBuf, spec: LogSpec) -> InstanceLog {
        let (follow, _) = broadcast::channel(FOLLOW_BUFFER);
        InstanceLog {
            sink: self.clone(),
            path: Arc::new(path),
            spec: Arc::new(Mutex::new(spec)),
            tail: Arc::new(Mutex::new(VecDeque::with_capacity(TAIL_LINES))),
            follow,
            dropped: Arc::new(AtomicU64::new(0)),
        }
    }
}

/// One instance's output: file, tail and followers.
#[derive(Clone)]
pub struct InstanceLog {
    sink: LogSink,
    path: Arc<PathBuf>,
    spec: Arc<Mutex<LogSpec>>,
    tail: Arc<Mutex<VecDeque<(i32, String)>>>,
    follow: broadcast::Sender<String>,
    dropped: Arc<AtomicU64>,
}

impl InstanceLog {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Apply new rotation limits (a changed declaration).
    pub fn set_spec(&self, spec: LogSpec) {
        *self.spec.lock().unwrap_or_else(|p| p.into_inner()) = spec;
    }

    /// Record one line of output, without its terminal escapes: the real
    /// gateway colours its output into a pipe too (when `NO_COLOR` is not in
    /// its environment and `TERM` is, or `FORCE_COLOR`), and nothing the supervisor shows or keeps
    /// (`logs`, `status`, the log files) should carry `\x1b[..m`.
    ///
    /// `pid` is the gateway whose pipe the line came from (its workers write
    /// to the same pipe).
    pub fn line(&self, pid: i32, text: &str) {
        let plain = plain_text(text);
        let text = plain.as_ref();
        {
            let mut tail = self.tail.lock().unwrap_or_else(|p| p.into_inner());
            if tail.len() == TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back((pid, text.to_string()));
        }
        // No follower is the usual case, not an error.
        let _ = self.follow.send(text.to_string());
        let mut line = Vec::with_capacity(text.len() + 1);
        line.extend_from_slice(text.as_bytes());
        line.push(b'\n');
        let spec = *self.spec.lock().unwrap_or_else(|p| p.into_inner());
        let request = WriteRequest {
            path: self.path.clone(),
            spec,
            line,
            dropped: self.dropped.clone(),
        };
        match self.sink.queue.try_send(request) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The last `n` lines of every process (at most [`TAIL_LINES`]).
    pub fn tail(&self, n: usize) -> Vec<String> {
        let tail = self.tail.lock().unwrap_or_else(|p| p.into_inner());
        let skip = tail.len().saturating_sub(n);
        tail.iter()
            .skip(skip)
            .map(|(_, text)| text.clone())
            .collect()
    }

    /// The last `n` lines that came from the gateway `pid` alone.
    pub fn tail_of(&self, pid: i32, n: usize) -> Vec<String> {
        let tail = self.tail.lock().unwrap_or_else(|p| p.into_inner());
        let mut lines: Vec<String> = tail
            .iter()
            .rev()
            .filter(|(from, _)| *from == pid)
            .take(n)
            .map(|(_, text)| text.clone())
            .collect();
        lines.reverse();
        lines
    }

    pub fn subscribe(&self) -> broadcast::Receiver<String> {
        self.follow.subscribe()
    }

    /// Lines that could not be written to the file.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Read the pipe of the gateway `pid` until EOF, recording each line.
    /// Invalid UTF-8 is replaced, over-long lines are cut.
    pub async fn capture(self, pid: i32, pipe: tokio::net::unix::pipe::Receiver) {
        self.capture_noting(pid, pipe, |_| {}).await
    }

    /// [`InstanceLog::capture`], also handing each line (without escapes)
    /// to `note`: how the instance hears what the gateway says about itself
    /// (its restart-loop breaker).
    pub async fn capture_noting(
        self,
        pid: i32,
        mut pipe: tokio::net::unix::pipe::Receiver,
        mut note: impl FnMut(&str) + Send,
    ) {
        let mut record = |text: &str| {
            let plain = plain_text(text);
            self.line(pid, &plain);
            note(&plain);
        };
        let mut buffer = vec![0u8; 8192];
        let mut pending: Vec<u8> = Vec::new();
        loop {
            let read = match pipe.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(read) => read,
            };
            pending.extend_from_slice(&buffer[..read]);
            while let Some(newline) = pending.iter().position(|b| *b == b'\n') {
                let rest = pending.split_off(newline + 1);
                pending.truncate(newline);
                record(&String::from_utf8_lossy(&pending));
                pending = rest;
            }
            while pending.len() >= MAX_LINE {
                let rest = pending.split_off(MAX_LINE);
                record(&String::from_utf8_lossy(&pending));
                pending = rest;
            }
        }
        if !pending.is_empty() {
            record(&String::from_utf8_lossy(&pending));
        }
    }
}

/// `text` without ANSI escape sequences (colours, cursor moves, OSC titles).
pub fn plain_text(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains('\x1b') && !text.contains('\u{9b}') {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(strip_ansi_escapes::strip_str(text))
}

/// A log file that rotates by size: `x.log` -> `x.log.1` -> ... -> `x.log.<keep>`.
struct RotatingFile {
    path: PathBuf,
    file: Option<File>,
    size: u64,
    /// Lines dropped since writes began to fail (None while they succeed).
    failing: Option<u64>,
}

impl RotatingFile {
    fn new(path: PathBuf) -> Self {
        RotatingFile {
            path,
            file: None,
            size: 0,
            failing: None,
        }
    }

    /// A line could not be written: the first of an episode is logged.
    fn cannot_write(&mut self, err: &io::Error) {
        match self.failing.as_mut() {
            Some(dropped) => *dropped += 1,
            None => {
                self.failing = Some(1);
                tracing::warn!(log = %self.path.display(), error = %err, "cannot write a gateway's log: its lines are dropped (counted in status) until it can be written again");
            }
        }
    }

    /// A line was written: the end of an episode of failures is logged.
    fn writable_again(&mut self) {
        if let Some(dropped) = self.failing.take() {
            tracing::info!(log = %self.path.display(), dropped, "a gateway's log can be written again");
        }
    }

    fn write_line(&mut self, line: &[u8], spec: LogSpec) -> io::Result<()> {
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
        let numbered = |n: u32| {
            let mut name = self.path.clone().into_os_string();
            name.push(format!(".{n}"));
            PathBuf::from(name)
        };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_escapes_are_stripped_from_what_is_kept() {
        let rows = [
            ("plain line", "plain line"),
            (
                "\x1b[32m2026-09-06T10:00:00Z\x1b[39m \x1b[36m[gateway]\x1b[39m ready",
                "2026-09-06T10:00:00Z [gateway] ready",
            ),
            ("\x1b[1;31mError:\x1b[0m bad config", "Error: bad config"),
            ("\x1b]0;title\x07after", "after"),
            ("bracket [not an escape]", "bracket [not an escape]"),
        ];
        for (input, expected) in rows {
            assert_eq!(plain_text(input), expected, "{input:?}");
        }
    }

    #[test]
    fn rotation_keeps_the_configured_number_of_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("main.log");
        let mut file = RotatingFile::new(path.clone());
        let spec = LogSpec {
            max_size: bytesize::ByteSize::b(20),
            keep: 2,
        };
        for i in 0..10 {
            file.write_line(format!("line {i:04}\n").as_bytes(), spec)
                .unwrap();
        }
        // 10-byte lines, 20-byte files: two lines a file, newest in main.log.
        let read = |name: &str| fs::read_to_string(dir.path().join(name)).unwrap();
        assert_eq!(read("main.log"), "line 0008\nline 0009\n");
        assert_eq!(read("main.log.1"), "line 0006\nline 0007\n");
        assert_eq!(read("main.log.2"), "line 0004\nline 0005\n");
        assert!(!dir.path().join("main.log.3").exists());
    }

    #[test]
    fn tail_of_a_pid_holds_only_that_process_lines() {
        let dir = tempfile::tempdir().unwrap();
        let sink = LogSink::start().unwrap();
        let log = sink.instance_log(dir.path().join("main.log"), LogSpec::default());
        log.line(10, "ready");
        log.line(10, "received SIGTERM; shutting down");
        log.line(11, "starting");
        log.line(10, "late line of the old one");
        log.line(11, "Invalid config: unknown key");
        assert_eq!(
            log.tail_of(11, 20),
            vec![
                "starting".to_string(),
                "Invalid config: unknown key".to_string()
            ]
        );
        assert_eq!(
            log.tail_of(11, 1),
            vec!["Invalid config: unknown key".to_string()]
        );
        assert!(log.tail_of(12, 20).is_empty());
        assert_eq!(log.tail(20).len(), 5);
    }

    #[test]
    fn tail_keeps_the_last_lines_and_a_failed_write_is_counted() {
        let dir = tempfile::tempdir().unwrap();
        let sink = LogSink::start().unwrap();
        // A file inside a regular file can never be created.
        let blocker = dir.path().join("not-a-dir");
        fs::write(&blocker, "x").unwrap();
        let log = sink.instance_log(blocker.join("main.log"), LogSpec::default());
        for i in 0..(TAIL_LINES + 5) {
            log.line(1, &format!("l{i}"));
        }
        assert_eq!(log.tail(2), vec!["l203".to_string(), "l204".to_string()]);
        assert_eq!(log.tail(10_000).len(), TAIL_LINES);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while log.dropped() < (TAIL_LINES + 5) as u64 {
            assert!(
                std::time::Instant::now() < deadline,
                "drops were not counted"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}
