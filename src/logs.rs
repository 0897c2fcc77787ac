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
//!
//! Each line in the file starts with the time it was read (see [`read`]);
//! the writer thread hands a line to followers once it is in the file, and
//! a [`Cut`] taken on that thread is the exact boundary between what a
//! reader finds in the files and what it will be sent: nothing is lost or
//! sent twice, whatever rotates meanwhile.
//!
//! The writer keeps at most 64 files open (`rotating.rs`); a removed
//! instance's are closed and forgotten at once ([`InstanceLog::forget`],
//! from its actor as it ends).

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::broadcast;

use crate::declaration::LogSpec;
use crate::queue;

mod capture;
mod pause;
pub mod read;
mod rotating;

pub use pause::CapturePause;
use rotating::{MAX_OPEN, RotatingFile, to_close};

/// Lines kept in memory per instance.
pub const TAIL_LINES: usize = 200;
/// A longer line is cut into pieces of this size.
pub const MAX_LINE: usize = 16 * 1024;
/// Lines queued for the writer thread at most; past it lines are dropped
/// (and counted). The queue holds only what is in it ([`crate::queue`]).
const QUEUE: usize = 16 * 1024;
/// Lines a `logs -f` follower may fall behind before it is told it skipped
/// some. Allocated whole (about 16 KiB) on an instance's first follower, so
/// kept small: a follower reads lines as fast as they come.
const FOLLOW_BUFFER: usize = 256;

/// An instance's followers: the ring is made by the writer thread when the
/// first follower subscribes (most instances never have one), and only that
/// thread sends into it, so a follower neither misses nor repeats a line.
type Followers = Arc<OnceLock<broadcast::Sender<Stamped>>>;

struct WriteRequest {
    path: Arc<PathBuf>,
    spec: LogSpec,
    line: Stamped,
    dropped: Arc<AtomicU64>,
    follow: Followers,
}

/// What the writer thread is asked to do, in order.
enum Job {
    Write(WriteRequest),
    Cut(CutRequest),
    /// The instance writing to this path was removed: close its files and
    /// forget them.
    Forget(Arc<PathBuf>),
}

struct CutRequest {
    path: Arc<PathBuf>,
    follow: Option<Followers>,
    reply: std::sync::mpsc::Sender<io::Result<Cut>>,
}

/// One line as the supervisor read it: when (Unix ms) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamped {
    pub at: u64,
    pub text: String,
}

/// A log at one moment of its writer: its files as they were then, open
/// (oldest first, the current one last with its length then), and, when
/// asked, a follower subscribed at that moment.
pub struct Cut {
    pub files: Vec<read::FilePart>,
    pub follow: Option<broadcast::Receiver<Stamped>>,
}

/// Rotated files beyond this number are not looked for.
const MAX_ROTATED: u32 = 1000;

/// `x.log.<n>`.
fn numbered(path: &Path, n: u32) -> PathBuf {
    let mut name = path.to_path_buf().into_os_string();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// Open every file of the log at `path`, oldest first. Runs on the writer
/// thread, between two writes: the current file's length is then exactly
/// the lines written so far, and a rename later does not move an open file.
fn open_cut(path: &Path) -> io::Result<Vec<read::FilePart>> {
    let mut files = Vec::new();
    let mut open = |path: &Path| -> io::Result<bool> {
        match File::open(path) {
            Ok(file) => {
                let len = file.metadata()?.len();
                files.push(read::FilePart { file, len });
                Ok(true)
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(err) => Err(err),
        }
    };
    open(path)?;
    for n in 1..=MAX_ROTATED {
        if !open(&numbered(path, n))? {
            break;
        }
    }
    files.reverse();
    Ok(files)
}

/// The one writer thread shared by every instance.
#[derive(Clone)]
pub struct LogSink {
    queue: queue::Sender<Job>,
}

impl LogSink {
    pub fn start() -> io::Result<LogSink> {
        let (queue, requests) = queue::bounded::<Job>(QUEUE);
        std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || {
                let mut files: HashMap<Arc<PathBuf>, RotatingFile> = HashMap::new();
                let mut lines: u64 = 0;
                for job in requests {
                    let request = match job {
                        Job::Write(request) => request,
                        Job::Cut(cut) => {
                            let follow = cut.follow.map(|followers| {
                                followers
                                    .get_or_init(|| broadcast::channel(FOLLOW_BUFFER).0)
                                    .subscribe()
                            });
                            let reply = open_cut(&cut.path).map(|files| Cut { files, follow });
                            // The reader may have left.
                            let _ = cut.reply.send(reply);
                            continue;
                        }
                        Job::Forget(path) => {
                            // Dropped, its file is closed; a later line
                            // (none is expected) opens it again.
                            files.remove(&path);
                            continue;
                        }
                    };
                    lines += 1;
                    if files
                        .get(&request.path)
                        .is_none_or(|file| file.file.is_none())
                    {
                        let open = files.iter().filter(|(_, file)| file.file.is_some());
                        let open = open.map(|(path, file)| (Arc::as_ptr(path), file.used));
                        let close: HashSet<_> =
                            to_close(open.collect(), MAX_OPEN).into_iter().collect();
                        // Each is reopened, in append mode, at its next line.
                        files.retain(|path, _| !close.contains(&Arc::as_ptr(path)));
                    }
                    let file = files
                        .entry(request.path.clone())
                        .or_insert_with(|| RotatingFile::new(request.path.as_ref().clone()));
                    file.used = lines;
                    let mut line = read::stamp(request.line.at);
                    line.push(' ');
                    line.push_str(&request.line.text);
                    line.push('\n');
                    match file.write_line(line.as_bytes(), request.spec) {
                        Ok(()) => file.writable_again(),
                        Err(err) => {
                            request.dropped.fetch_add(1, Ordering::Relaxed);
                            file.cannot_write(&err);
                            // Reopen next time: the directory may be back.
                            file.file = None;
                        }
                    }
                    if let Some(followers) = request.follow.get() {
                        // None left is not an error.
                        let _ = followers.send(request.line);
                    }
                }
            })?;
        Ok(LogSink { queue })
    }

    /// The log of one instance, writing to `path`.
    pub fn instance_log(&self, path: PathBuf, spec: LogSpec) -> InstanceLog {
        InstanceLog {
            sink: self.clone(),
            path: Arc::new(path),
            spec: Arc::new(Mutex::new(spec)),
            // Grown as lines come: an instance that says little costs little.
            tail: Arc::new(Mutex::new(VecDeque::new())),
            follow: Followers::default(),
            dropped: Arc::new(AtomicU64::new(0)),
            pause: CapturePause::default(),
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
    follow: Followers,
    dropped: Arc<AtomicU64>,
    pause: CapturePause,
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
        self.line_at(pid, text, None)
    }

    /// [`InstanceLog::line`], read at `at` (unix ms; now when None): output
    /// a keeper spooled while no supervisor was connected keeps its time.
    pub fn line_at(&self, pid: i32, text: &str, at: Option<u64>) {
        let plain = plain_text(text);
        let text = plain.as_ref();
        {
            let mut tail = self.tail.lock().unwrap_or_else(|p| p.into_inner());
            if tail.len() == TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back((pid, text.to_string()));
        }
        let at = at.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|elapsed| elapsed.as_millis() as u64)
                .unwrap_or(0)
        });
        let spec = *self.spec.lock().unwrap_or_else(|p| p.into_inner());
        let request = WriteRequest {
            path: self.path.clone(),
            spec,
            line: Stamped {
                at,
                text: text.to_string(),
            },
            dropped: self.dropped.clone(),
            follow: self.follow.clone(),
        };
        if self.sink.queue.try_send(Job::Write(request)).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
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

    /// A line of the supervisor's own in the instance's log (a spawn, an
    /// exit): `[openclaw-supervisor] <text>`. It is in no process's tail.
    pub fn marker(&self, text: &str) {
        self.line(0, &format!("{MARKER} {text}"));
    }

    /// The log's files as they are once every line recorded so far is
    /// written, and with `follow` a receiver of every line written after
    /// that. Blocks until the writer thread gets to it: call it off the
    /// async threads.
    pub fn cut(&self, follow: bool) -> io::Result<Cut> {
        let (reply, answer) = std::sync::mpsc::channel();
        let request = CutRequest {
            path: self.path.clone(),
            follow: follow.then(|| self.follow.clone()),
            reply,
        };
        self.sink
            .queue
            .send(Job::Cut(request))
            .map_err(|_| io::Error::other("the log writer has stopped"))?;
        answer
            .recv()
            .map_err(|_| io::Error::other("the log writer has stopped"))?
    }

    /// The instance is removed: its files are closed and forgotten by the
    /// writer, after every line recorded so far (not when the least
    /// recently written are closed, which an idle fleet may never need).
    /// Never waits, and never dropped as a line may be.
    pub fn forget(&self) {
        // Fails only when the writer has stopped: nothing is open then.
        let _ = self.sink.queue.send(Job::Forget(self.path.clone()));
    }

    /// Hold the capture of this log's gateways still (a re-exec): returns
    /// once every line read so far is recorded; the rest stays in the pipe.
    pub async fn pause_capture(&self) {
        self.pause.pause().await;
    }

    /// Capture again after [`InstanceLog::pause_capture`].
    pub fn resume_capture(&self) {
        self.pause.resume();
    }

    /// Lines that could not be written to the file.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// How the supervisor's own lines in a gateway's log begin.
pub const MARKER: &str = "[openclaw-supervisor]";

/// The marker line of a gateway's exit: `pid 1234 exited with code 1
/// (liveness failed)`; `why` is left out when nobody asked for the exit.
pub fn exit_marker(pid: i32, exit: crate::process::ExitKind, why: Option<&str>) -> String {
    let how = match exit {
        crate::process::ExitKind::Code(code) => format!("exited with code {code}"),
        crate::process::ExitKind::Signal(_) => format!("was {exit}"),
    };
    match why {
        Some(why) => format!("pid {pid} {how} ({why})"),
        None => format!("pid {pid} {how}"),
    }
}

/// `text` without ANSI escape sequences (colours, cursor moves, OSC titles).
pub fn plain_text(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains('\x1b') && !text.contains('\u{9b}') {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(strip_ansi_escapes::strip_str(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

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
    fn exit_markers_say_pid_exit_and_why() {
        use crate::process::ExitKind;
        let rows = [
            (
                ExitKind::Code(1),
                Some("liveness failed"),
                "pid 1234 exited with code 1 (liveness failed)",
            ),
            (ExitKind::Code(0), None, "pid 1234 exited with code 0"),
            (
                ExitKind::Signal(9),
                Some("stop requested"),
                "pid 1234 was killed by SIGKILL (stop requested)",
            ),
        ];
        for (exit, why, expected) in rows {
            assert_eq!(exit_marker(1234, exit, why), expected);
        }
    }

    /// Lines recorded before a cut are in its files, later ones reach its
    /// follower, each exactly once, with rotations before and after it.
    #[test]
    fn a_cut_splits_a_log_between_its_files_and_its_follower() {
        let dir = tempfile::tempdir().unwrap();
        let sink = LogSink::start().unwrap();
        let spec = LogSpec {
            max_size: bytesize::ByteSize::b(100),
            keep: 100,
        };
        let log = sink.instance_log(dir.path().join("main.log"), spec);
        for i in 0..10 {
            log.line(1, &format!("before {i}"));
        }
        log.marker("spawned pid 1");
        let cut = log.cut(true).unwrap();
        for i in 0..10 {
            log.line(1, &format!("after {i}"));
        }
        assert!(cut.files.len() > 2, "it rotated before the cut");
        let read = read::read_files(cut.files, None, None).unwrap();
        let mut expected: Vec<String> = (0..10).map(|i| format!("before {i}")).collect();
        expected.push("[openclaw-supervisor] spawned pid 1".to_string());
        let texts: Vec<String> = read.iter().map(|entry| entry.text.clone()).collect();
        assert_eq!(texts, expected);
        assert!(read.iter().all(|entry| entry.at.is_some()), "{read:?}");
        let mut follow = cut.follow.unwrap();
        for i in 0..10 {
            assert_eq!(follow.blocking_recv().unwrap().text, format!("after {i}"));
        }
        // Every file line carries its time prefix.
        let later = log.cut(false).unwrap();
        assert!(later.follow.is_none());
        let all = read::read_files(later.files, None, None).unwrap();
        assert_eq!(all.len(), 21);
        assert_eq!(all[20].text, "after 9");
        let current = fs::read_to_string(dir.path().join("main.log")).unwrap();
        for line in current.lines() {
            assert!(read::split_stamp(line).0.is_some(), "{line:?}");
        }
        // A marker belongs to no gateway's crash report.
        assert!(log.tail_of(0, 50).len() == 1 && log.tail_of(1, 50).len() == 20);
    }

    /// Whether a descriptor of this process is open on `path`.
    fn held_open(path: &Path) -> bool {
        fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|entry| fs::read_link(entry.ok()?.path()).ok())
            .any(|target| target == path)
    }

    /// A removed instance's log holds no descriptor once the writer has
    /// its `forget`; a line after it opens the file again, appending.
    #[test]
    fn a_forgotten_log_holds_no_file_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = fs::canonicalize(dir.path()).unwrap().join("gone.log");
        let sink = LogSink::start().unwrap();
        let log = sink.instance_log(path.clone(), LogSpec::default());
        // A cut is answered once the writer has done what came before it;
        // its own read-only files are closed as it is dropped.
        let written = |log: &InstanceLog| drop(log.cut(false).unwrap());
        log.line(1, "before");
        written(&log);
        assert!(held_open(&path), "the writer holds the log it writes");
        log.forget();
        written(&log);
        assert!(!held_open(&path), "the writer still holds a forgotten log");
        log.line(1, "after");
        written(&log);
        assert!(held_open(&path));
        let texts: Vec<String> = fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(|line| read::split_stamp(line).1.to_string())
            .collect();
        assert_eq!(texts, ["before", "after"]);
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
