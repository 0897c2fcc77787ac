//! Process bookkeeping shared by the integration tests and the benchmark:
//! every process they start carries a tag in its environment (children
//! inherit it), so whatever is left at the end can be found and killed, even
//! after the supervisor itself was SIGKILLed.
#![allow(dead_code)]

use std::fs;
use std::process::Child;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Whether a pid is alive (not gone, not a zombie).
pub fn alive(pid: i32) -> bool {
    if kill(Pid::from_raw(pid), None).is_err() {
        return false;
    }
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rfind(')')
                .map(|i| stat[i + 1..].split_whitespace().next() != Some("Z"))
        })
        .unwrap_or(false)
}

/// The environment of a process, one `KEY=value` each (empty when it is
/// gone or not readable).
pub fn environ(pid: i32) -> Vec<String> {
    fs::read(format!("/proc/{pid}/environ"))
        .map(|bytes| {
            bytes
                .split(|b| *b == 0)
                .map(|entry| String::from_utf8_lossy(entry).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Start time of a process, in clock ticks since boot (field 22 of
/// /proc/<pid>/stat).
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19)?.parse().ok()
}

/// Pids of living processes whose environment has `var=tag`.
pub fn tagged(var: &str, tag: &str) -> Vec<i32> {
    let wanted = format!("{var}={tag}");
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| environ(*pid).contains(&wanted) && alive(*pid))
        .collect()
}

/// Stop a supervisor gracefully (SIGTERM: it stops its gateways), waiting at
/// most `grace` before SIGKILL; then kill whatever carries `var=tag`.
pub fn stop_then_sweep(supervisor: Option<&mut Child>, grace: Duration, var: &str, tag: &str) {
    if let Some(child) = supervisor {
        if let Ok(None) = child.try_wait() {
            let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
            let start = Instant::now();
            while start.elapsed() < grace {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    for _ in 0..5 {
        let left = tagged(var, tag);
        if left.is_empty() {
            break;
        }
        for pid in left {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The lines a child prints on one of its pipes, read by a thread of their
/// own and kept in `seen` as they are received.
pub struct Lines {
    lines: std::sync::mpsc::Receiver<String>,
    pub seen: Vec<String>,
}

impl Lines {
    pub fn read(reader: impl std::io::Read + Send + 'static) -> Lines {
        use std::io::BufRead;
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(reader)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Lines {
            lines,
            seen: Vec::new(),
        }
    }

    /// The next line within `wait`, or why there is none (the timeout, or
    /// the pipe's end).
    pub fn receive(&mut self, wait: Duration) -> Result<String, std::sync::mpsc::RecvTimeoutError> {
        let line = self.lines.recv_timeout(wait)?;
        self.seen.push(line.clone());
        Ok(line)
    }

    /// The next line within `wait`, if any.
    pub fn next_within(&mut self, wait: Duration) -> Option<String> {
        self.receive(wait).ok()
    }

    /// Waits at most `limit` for a line that `wanted` accepts.
    pub fn wait_line(
        &mut self,
        what: &str,
        limit: Duration,
        mut wanted: impl FnMut(&str) -> bool,
    ) -> String {
        let start = Instant::now();
        loop {
            let left = limit.saturating_sub(start.elapsed());
            match self.next_within(left) {
                Some(line) if wanted(&line) => return line,
                Some(_) => {}
                None => panic!(
                    "timed out waiting for {what}; saw:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Whatever has arrived by now, kept in `seen`.
    pub fn take_arrived(&mut self) {
        self.seen.extend(self.lines.try_iter());
    }
}

/// A child a test started, carrying `var=tag` in its environment: when
/// dropped, it is stopped and everything carrying the tag is killed, even
/// when the test fails half-way.
pub struct Swept {
    child: Option<Child>,
    var: &'static str,
    tag: String,
}

impl Swept {
    pub fn new(child: Child, var: &'static str, tag: &str) -> Swept {
        Swept {
            child: Some(child),
            var,
            tag: tag.to_string(),
        }
    }

    pub fn child(&mut self) -> &mut Child {
        self.child
            .as_mut()
            .expect("the child is waited for only once")
    }

    /// The child's exit, waited for at most `limit` (by a thread that
    /// blocks in `wait`, so no polling); None when it did not end.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        let (done_tx, done) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = done_tx.send(child.wait());
        });
        done.recv_timeout(limit).ok()?.ok()
    }
}

impl Drop for Swept {
    fn drop(&mut self) {
        stop_then_sweep(
            self.child.as_mut(),
            Duration::from_secs(5),
            self.var,
            &self.tag,
        );
    }
}
