//! The event journal: every event the supervisor emits, kept on disk so
//! `events -n 50`, `events --since 1h` and `events NAME` answer after a
//! supervisor restart too.
//!
//! Theory of operation. [`EventBus::emit`] is the one way an event leaves the
//! supervisor. Under one lock it numbers the event (`seq`, carried on from the
//! journal across restarts), queues its JSON line (the wire
//! [`protocol::Event`]) for the journal's writer thread, sends it to live
//! followers, and logs one sentence ([`words::sentence`]) with the fields
//! `instance`, `event` and `pid` (journal fields `INSTANCE=`, `EVENT=`,
//! `PID=` under journald).
//!
//! The files are `<state-dir>/events.jsonl`, one event a line, and
//! `events.jsonl.1`: a write that would take the current file past
//! [`MAX_BYTES`] (1 MiB) first renames it to `events.jsonl.1`, replacing the
//! older one, so the journal never holds more than 2 MiB (about 10,000
//! events). Writing never blocks the supervisor: lines go through a bounded
//! queue to one thread; a full queue, a full disk or an unwritable dir drops
//! the line and counts it ([`Journal::dropped`]), logged once an episode. A
//! line torn by a crash in the middle of a write is sealed with a newline by
//! the next writer and skipped by every reader.
//!
//! A follower (`events -f`) subscribes first, then waits until the writer
//! has handled every line queued so far ([`Journal::flush`]), then reads the
//! files: an event sent before the subscription was queued before the flush
//! (same lock, queue first), so it is in the files; any later one arrives on
//! the subscription. Live events numbered at or below the backlog's highest
//! number are in both and are skipped: no gap, no duplicate.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::broadcast;

use crate::protocol::EventKind;
use crate::supervisor::EventRecord;

mod select;
mod serve;
mod words;

pub use select::{Filter, Selected, last_seq, select};
pub use serve::events_reply;
pub use words::sentence;

/// The journal's file in the state dir.
pub const FILE_NAME: &str = "events.jsonl";
/// The one older file kept after a rotation.
pub const ROTATED_NAME: &str = "events.jsonl.1";
/// The size at which `events.jsonl` is rotated.
pub const MAX_BYTES: u64 = 1024 * 1024;
/// Lines the writer may fall behind before new ones are dropped.
const QUEUE: usize = 4096;
/// How long a reader waits for the writer to catch up before it reads what
/// is there (a slow disk must not hold an `events` request for ever).
pub const FLUSH_WAIT: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot read the event journal {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// What the writer thread has handled (written or failed to write): the
/// highest sequence number, and a condition to wait on.
#[derive(Default)]
struct Progress {
    handled: Mutex<u64>,
    changed: Condvar,
}

struct Line {
    seq: u64,
    text: Vec<u8>,
}

/// The journal's files and the thread that writes them.
#[derive(Clone)]
pub struct Journal {
    dir: PathBuf,
    queue: crate::queue::Sender<Line>,
    /// The highest sequence number queued.
    queued: Arc<AtomicU64>,
    progress: Arc<Progress>,
    dropped: Arc<AtomicU64>,
}

impl Journal {
    /// Start the writer of the journal in `dir` (the state dir), rotating at
    /// `max_bytes`. Returns it and the highest sequence number already in
    /// the files (0 when none): the next event gets the one after.
    pub fn start(dir: &Path, max_bytes: u64) -> io::Result<(Journal, u64)> {
        let last = read_text(dir)
            .map(|text| last_seq(text.lines()).unwrap_or(0))
            .unwrap_or_else(|err| {
                tracing::warn!(error = %err, "the event journal cannot be read: event numbers start again at 1");
                0
            });
        let (queue, lines) = crate::queue::bounded::<Line>(QUEUE);
        let progress = Arc::new(Progress {
            handled: Mutex::new(last),
            changed: Condvar::new(),
        });
        let dropped = Arc::new(AtomicU64::new(0));
        let mut writer = Writer {
            path: dir.join(FILE_NAME),
            rotated: dir.join(ROTATED_NAME),
            max_bytes: max_bytes.max(1),
            file: None,
            size: 0,
            failing: None,
        };
        let thread_progress = progress.clone();
        let thread_dropped = dropped.clone();
        std::thread::Builder::new()
            .name("event-journal".into())
            .spawn(move || {
                for line in lines {
                    match writer.write_line(&line.text) {
                        Ok(()) => writer.writable_again(),
                        Err(err) => {
                            thread_dropped.fetch_add(1, Ordering::Relaxed);
                            writer.cannot_write(&err);
                            // Reopen next time: the dir may be back.
                            writer.file = None;
                        }
                    }
                    let mut handled = thread_progress
                        .handled
                        .lock()
                        .unwrap_or_else(|p| p.into_inner());
                    *handled = (*handled).max(line.seq);
                    thread_progress.changed.notify_all();
                }
            })?;
        let journal = Journal {
            dir: dir.to_path_buf(),
            queue,
            queued: Arc::new(AtomicU64::new(last)),
            progress,
            dropped,
        };
        Ok((journal, last))
    }

    /// Queue one event for the file; never waits. Dropped (and counted)
    /// when the writer is that far behind.
    fn append(&self, event: &crate::protocol::Event) {
        let Some(seq) = event.seq else {
            return;
        };
        let mut text = match serde_json::to_vec(event) {
            Ok(text) => text,
            Err(_) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        text.push(b'\n');
        match self.queue.try_send(Line { seq, text }) {
            Ok(()) => {
                self.queued.fetch_max(seq, Ordering::SeqCst);
            }
            Err(_) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Events that never reached the file (a full queue, a full disk, an
    /// unwritable dir) since the supervisor started.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Wait (blocking, at most `wait`) until the writer has handled every
    /// line queued before this call. False when it has not in time.
    pub fn flush(&self, wait: Duration) -> bool {
        let target = self.queued.load(Ordering::SeqCst);
        let handled = self
            .progress
            .handled
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match self
            .progress
            .changed
            .wait_timeout_while(handled, wait, |handled| *handled < target)
        {
            Ok((_, timeout)) => !timeout.timed_out(),
            Err(_) => false,
        }
    }

    /// The backlog `filter` asks for (blocking: call it off the runtime).
    pub fn backlog(&self, filter: &Filter) -> Result<Selected, JournalError> {
        if !self.flush(FLUSH_WAIT) {
            tracing::warn!(
                "the event journal's writer is behind: the backlog may miss the newest events"
            );
        }
        let text = read_text(&self.dir)?;
        Ok(select(text.lines(), filter))
    }
}

/// Both files of the journal in `dir`, oldest first, as text (a missing
/// file is empty; bytes that are not UTF-8 become U+FFFD and their line is
/// skipped as torn). Of a file grown past [`READ_LIMIT`] only its end is
/// read; anything but a regular file (a device put there) is an error.
pub fn read_text(dir: &Path) -> Result<String, JournalError> {
    let mut text = String::new();
    for path in [dir.join(ROTATED_NAME), dir.join(FILE_NAME)] {
        match read_end(&path) {
            Ok(bytes) => {
                text.push_str(&String::from_utf8_lossy(&bytes));
                if !text.is_empty() && !text.ends_with('\n') {
                    text.push('\n');
                }
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(JournalError::Read { path, source }),
        }
    }
    Ok(text)
}

/// The most of one journal file a reader takes: twice the rotation size.
pub const READ_LIMIT: u64 = 2 * MAX_BYTES;

fn read_end(path: &Path) -> io::Result<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = File::open(path)?;
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    // The first line read from the middle of a file is torn: skipped.
    let start = metadata.len().saturating_sub(READ_LIMIT);
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    file.take(READ_LIMIT).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// `events.jsonl`, rotated by size to `events.jsonl.1`.
struct Writer {
    path: PathBuf,
    rotated: PathBuf,
    max_bytes: u64,
    file: Option<File>,
    size: u64,
    /// Lines dropped since writes began to fail (None while they succeed).
    failing: Option<u64>,
}

impl Writer {
    fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        if self.file.is_none() {
            self.open()?;
        }
        if self.size > 0 && self.size + line.len() as u64 > self.max_bytes {
            self.file = None;
            fs::rename(&self.path, &self.rotated)?;
            self.open()?;
        }
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("the journal is not open"))?;
        file.write_all(line)?;
        self.size += line.len() as u64;
        Ok(())
    }

    /// Open for appending; a last line torn by a crash is sealed with a
    /// newline, so the next event is a line of its own.
    fn open(&mut self) -> io::Result<()> {
        if let Some(dir) = self.path.parent() {
            fs::create_dir_all(dir)?;
        }
        // For the supervisor's user only, as the control socket is.
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .mode(0o600)
            .open(&self.path)?;
        let mut size = file.metadata()?.len();
        if size > 0 {
            let mut last = [0u8; 1];
            file.read_exact_at(&mut last, size - 1)?;
            if last[0] != b'\n' {
                file.write_all(b"\n")?;
                size += 1;
            }
        }
        self.size = size;
        self.file = Some(file);
        Ok(())
    }

    /// A line could not be written: the first of an episode is logged.
    fn cannot_write(&mut self, err: &io::Error) {
        match self.failing.as_mut() {
            Some(dropped) => *dropped += 1,
            None => {
                self.failing = Some(1);
                tracing::warn!(journal = %self.path.display(), error = %err, "cannot write the event journal: events are dropped from it (still sent and logged) until it can be written again");
            }
        }
    }

    /// A line was written: the end of an episode of failures is logged.
    fn writable_again(&mut self) {
        if let Some(dropped) = self.failing.take() {
            tracing::info!(journal = %self.path.display(), dropped, "the event journal can be written again");
        }
    }
}

/// Whom an event is about: the supervisor itself, or one instance. The
/// wire and the journal's file say the supervisor as a null instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject<'a> {
    Supervisor,
    Instance(&'a str),
}

impl<'a> Subject<'a> {
    /// The instance's name; none for the supervisor.
    pub fn instance(self) -> Option<&'a str> {
        match self {
            Subject::Supervisor => None,
            Subject::Instance(name) => Some(name),
        }
    }
}

/// An instance when there is one's name, else the supervisor.
impl<'a> From<Option<&'a str>> for Subject<'a> {
    fn from(name: Option<&'a str>) -> Self {
        name.map_or(Subject::Supervisor, Subject::Instance)
    }
}

/// Where every event goes: numbered, journaled, sent to live followers and
/// logged, in that order, by [`EventBus::emit`].
#[derive(Clone)]
pub struct EventBus {
    inner: Arc<BusInner>,
}

struct BusInner {
    live: broadcast::Sender<EventRecord>,
    journal: Journal,
    /// The last number given; the lock also keeps queue and send in order.
    last_seq: Mutex<u64>,
    /// Each instance's last events since the supervisor started, newest
    /// last (`status`'s `last_event`, a wake message's events), recorded
    /// before the event is sent, so a client that hears an event and then
    /// asks for status sees it (`status --watch`).
    last: Mutex<HashMap<String, std::collections::VecDeque<EventRecord>>>,
}

impl EventBus {
    /// The bus of a supervisor whose state dir is `state_dir`; `buffer`
    /// events a live follower may fall behind.
    pub fn start(state_dir: &Path, buffer: usize) -> io::Result<EventBus> {
        Self::start_with(state_dir, buffer, MAX_BYTES)
    }

    /// [`EventBus::start`] with the rotation size given (tests).
    pub fn start_with(state_dir: &Path, buffer: usize, max_bytes: u64) -> io::Result<EventBus> {
        let (journal, last) = Journal::start(state_dir, max_bytes)?;
        let (live, _) = broadcast::channel(buffer);
        Ok(EventBus {
            inner: Arc::new(BusInner {
                live,
                journal,
                last_seq: Mutex::new(last),
                last: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// Emit one event: whom it is about, its `kind`, `detail` (its reason
    /// in words) and the gateway's `pid` when one is known.
    pub fn emit(&self, subject: Subject, kind: EventKind, detail: String, pid: Option<i32>) {
        let instance = subject.instance();
        let words = sentence(instance, kind, &detail);
        let mut last = self
            .inner
            .last_seq
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        *last += 1;
        let record = EventRecord {
            at: SystemTime::now(),
            instance: instance.map(str::to_string),
            kind,
            detail,
            seq: *last,
            pid,
        };
        self.inner
            .journal
            .append(&crate::service::wire_event(&record));
        if let Some(instance) = instance {
            let mut last = self.inner.last.lock().unwrap_or_else(|p| p.into_inner());
            let recent = last.entry(instance.to_string()).or_default();
            if recent.len() == RECENT_PER_INSTANCE {
                recent.pop_front();
            }
            recent.push_back(record.clone());
        }
        // No follower is the usual case, not an error.
        let _ = self.inner.live.send(record);
        drop(last);
        log(instance, kind, &words, pid);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<EventRecord> {
        self.inner.live.subscribe()
    }

    pub fn journal(&self) -> &Journal {
        &self.inner.journal
    }

    /// The last event about `instance` since the supervisor started (the
    /// supervisor's own are kept for none).
    pub fn last_event(&self, instance: &str) -> Option<EventRecord> {
        self.inner
            .last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(instance)
            .and_then(|recent| recent.back())
            .cloned()
    }

    /// The last events about `instance` since the supervisor started (at
    /// most [`RECENT_PER_INSTANCE`]), oldest first.
    pub fn recent(&self, instance: &str) -> Vec<EventRecord> {
        self.inner
            .last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(instance)
            .map(|recent| recent.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// The events kept in memory for each instance.
pub const RECENT_PER_INSTANCE: usize = 8;

/// The supervisor's log line of one event: at info (a rejected declaration
/// at error), with the fields `instance`, `event` and `pid`.
fn log(instance: Option<&str>, kind: EventKind, words: &str, pid: Option<i32>) {
    let instance = instance.map(tracing::field::display);
    let event = kind.as_str();
    if kind == EventKind::Rejected {
        tracing::error!(instance, event = %event, pid, "{words}");
    } else {
        tracing::info!(instance, event = %event, pid, "{words}");
    }
}

#[cfg(test)]
mod tests;
