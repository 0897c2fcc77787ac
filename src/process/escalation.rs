//! Stopping a set of processes, the one escalation path for a gateway, what
//! it leaves behind, and what an earlier supervisor left: each process gets
//! the stop signal once, whatever is left at the deadline gets SIGKILL once,
//! and the wait for the set to empty is bounded.
//!
//! A process is known by its pid and its start time, both read when it was
//! identified as a member of the set ([`super::identified`]), so a reused
//! pid is a new process: it is never taken for one already signalled, and a
//! signal only goes to the process that was identified.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::time::Instant;

/// A process of the set: its pid and its start time when it was identified.
pub type Member = (i32, u64);

/// The pids of `members`, for a log line a person reads: `31300, 31301`.
fn pid_list(members: &[Member]) -> String {
    members
        .iter()
        .map(|(pid, _)| pid.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// How long processes may outlive SIGKILL before they are given up on (one
/// in uninterruptible sleep on a dead disk).
const KILL_GRACE: Duration = Duration::from_secs(10);

/// How often the set is looked at again while waiting for it to empty.
const LOOK_AGAIN: Duration = Duration::from_millis(20);

/// One stop of a set of processes: the stop signal once to each, SIGKILL at
/// `stop.timeout` from the beginning of the stop.
#[derive(Debug)]
pub struct Escalation {
    /// Names the set in the log (the instance).
    label: String,
    signal: Signal,
    kill_at: Instant,
    signalled: HashSet<(i32, u64)>,
    killed: HashSet<(i32, u64)>,
    /// The SIGKILL warning was logged.
    warned: bool,
    /// The set's cgroup, in cgroup mode: SIGKILL is one write to its
    /// `cgroup.kill`, and the wait for the set to empty is woken by its
    /// `cgroup.events` instead of looking every [`LOOK_AGAIN`].
    cgroup: Option<PathBuf>,
}

impl Escalation {
    /// A stop beginning now: `signal` first, SIGKILL after `timeout`.
    pub fn begin(label: &str, signal: Signal, timeout: Duration) -> Escalation {
        Escalation {
            label: label.to_string(),
            signal,
            kill_at: Instant::now() + timeout,
            signalled: HashSet::new(),
            killed: HashSet::new(),
            warned: false,
            cgroup: None,
        }
    }

    /// The same stop of a set that lives in the cgroup `dir` (when given).
    pub fn with_cgroup(mut self, dir: Option<PathBuf>) -> Escalation {
        self.cgroup = dir;
        self
    }

    /// Whether SIGKILL is due (the deadline passed, or [`Escalation::kill`]
    /// was called).
    pub fn killing(&self) -> bool {
        Instant::now() >= self.kill_at
    }

    /// The stop signal to each member that has not had it in this stop;
    /// SIGKILL instead once that is due.
    pub fn signal(&mut self, members: &[Member]) {
        if self.killing() {
            self.kill(members);
            return;
        }
        for &(pid, start) in members {
            if self.signalled.insert((pid, start)) {
                super::signal_if_same(pid, Some(start), self.signal);
            }
        }
    }

    /// SIGKILL to each member not killed yet; from now on every process of
    /// the set gets SIGKILL, not the stop signal.
    pub fn kill(&mut self, members: &[Member]) {
        let now = Instant::now();
        if now < self.kill_at {
            self.kill_at = now;
        }
        // One write kills every process of the cgroup, those forked since
        // the members were listed included; a member outside it (none is
        // expected) still gets its own SIGKILL.
        let in_cgroup: HashSet<i32> = match &self.cgroup {
            Some(dir) => {
                let before: HashSet<i32> = crate::cgroup::members(dir).into_iter().collect();
                if crate::cgroup::kill(dir) {
                    before
                } else {
                    HashSet::new()
                }
            }
            None => HashSet::new(),
        };
        for &(pid, start) in members {
            if in_cgroup.contains(&pid) {
                self.killed.insert((pid, start));
                continue;
            }
            if self.killed.insert((pid, start)) {
                super::signal_if_same(pid, Some(start), Signal::SIGKILL);
            }
        }
    }

    /// One look at the living processes of the set: a process seen for the
    /// first time gets the stop signal, everything left once SIGKILL is due
    /// gets SIGKILL. Says whether the set is gone, when to look again, or
    /// that processes outlived SIGKILL by [`KILL_GRACE`] (given up on).
    pub fn advance(&mut self, left: &[Member]) -> Progress {
        if left.is_empty() {
            return Progress::Gone;
        }
        let now = Instant::now();
        if now >= self.kill_at + KILL_GRACE {
            tracing::error!(label = %self.label, pids = %pid_list(left), "processes survive SIGKILL; giving up waiting for them");
            return Progress::GaveUp;
        }
        if self.killing() && !self.warned {
            tracing::warn!(label = %self.label, pids = %pid_list(left), "processes outlived the stop timeout: SIGKILL");
            self.warned = true;
        }
        self.signal(left);
        Progress::LookAgainAt(if now < self.kill_at {
            (now + LOOK_AGAIN).min(self.kill_at)
        } else {
            now + LOOK_AGAIN
        })
    }

    /// When the escalation moves on by itself: SIGKILL, then giving up.
    pub fn next_deadline(&self) -> Instant {
        if Instant::now() < self.kill_at {
            self.kill_at
        } else {
            self.kill_at + KILL_GRACE
        }
    }
}

/// Where a stop stands after one look (see [`Escalation::advance`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    Gone,
    LookAgainAt(Instant),
    GaveUp,
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // Tests start processes of their own to stop.
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    /// A child of the test that traps SIGTERM and counts it in a file.
    fn trapping_child(count: &std::path::Path) -> std::process::Child {
        Command::new("sh")
            .arg("-c")
            .arg(format!(
                "trap 'echo TERM >> {}' TERM; echo ready; while :; do sleep 0.05; done",
                count.display()
            ))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    /// Look at `find` until it comes back empty, as the actor's loop does
    /// one look at a time (woken at each step of the escalation).
    async fn until_gone(
        escalation: &mut Escalation,
        mut find: impl FnMut() -> Vec<Member>,
    ) -> Result<(), Vec<Member>> {
        loop {
            let left = find();
            match escalation.advance(&left) {
                Progress::Gone => return Ok(()),
                Progress::GaveUp => return Err(left),
                Progress::LookAgainAt(at) => tokio::time::sleep_until(at).await,
            }
        }
    }

    #[tokio::test]
    async fn one_stop_signal_then_sigkill_and_the_set_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let count = dir.path().join("count");
        let mut child = trapping_child(&count);
        // Wait for the trap to be in place.
        let mut ready = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut ready,
        )
        .unwrap();
        let pid = child.id() as i32;
        let mut escalation = Escalation::begin("test", Signal::SIGTERM, Duration::from_millis(300));
        let result = until_gone(&mut escalation, || {
            // The test reaps its own child: a zombie is gone.
            match child.try_wait() {
                Ok(None) => crate::process::identified(pid, |_| true)
                    .into_iter()
                    .collect(),
                _ => Vec::new(),
            }
        })
        .await;
        assert_eq!(result, Ok(()));
        let status = child.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9)
        );
        let terms = std::fs::read_to_string(&count).unwrap_or_default();
        assert_eq!(terms.lines().count(), 1, "{terms:?}");
    }
}
