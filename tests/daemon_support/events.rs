//! Followers of the client's streaming commands (`events`, `logs -f`), and
//! an events follower that is known to be subscribed before the test acts.

use std::process::{Child, Stdio};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::process_support::Lines;
use super::{DEADLINE, Daemon};

/// A client command that keeps printing (`logs -f`, `events`): its stdout
/// lines arrive on a channel and are kept in `seen`; it is killed when
/// dropped.
pub struct Follower {
    pub child: Child,
    lines: Lines,
}

impl Follower {
    pub fn spawn(daemon: &Daemon, args: &[&str]) -> Follower {
        let mut child = daemon
            .command()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn a following client");
        let stdout = child.stdout.take().expect("stdout");
        Follower {
            child,
            lines: Lines::read(stdout),
        }
    }

    /// The lines received so far.
    pub fn seen(&mut self) -> &mut Vec<String> {
        &mut self.lines.seen
    }

    /// The next line within `wait`, or why there is none.
    fn receive(&mut self, wait: Duration) -> Result<String, RecvTimeoutError> {
        self.lines.receive(wait)
    }

    /// The next line within `wait`, if any.
    pub fn next_within(&mut self, wait: Duration) -> Option<String> {
        self.lines.next_within(wait)
    }

    /// Waits (bounded) for a line that `wanted` accepts.
    pub fn wait_line(&mut self, what: &str, wanted: impl FnMut(&str) -> bool) -> String {
        self.lines.wait_line(what, DEADLINE, wanted)
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn parse(line: &str) -> Value {
    serde_json::from_str(line).expect("an event is JSON")
}

/// A running `events --json` that is known to be subscribed, so nothing the
/// test does after [`Events::follow`] returns can be missed. Every event
/// received from then on is kept in `seen`.
pub struct Events {
    /// The raw lines (`stream.seen`) and the client process.
    pub stream: Follower,
    pub seen: Vec<Value>,
    /// How many of `seen` the [`Events::wait`]s so far have gone past.
    read: usize,
}

impl Events {
    /// Follow the daemon's events, and return once the subscription is
    /// live: the daemon's `subscribed` event has come through (the first
    /// line of a live stream). Recording starts after it.
    pub fn follow(daemon: &Daemon) -> Events {
        let mut stream = Follower::spawn(daemon, &["events", "--json"]);
        let first = match stream.receive(DEADLINE) {
            Ok(line) => parse(&line),
            Err(RecvTimeoutError::Timeout) => panic!("no `subscribed` event within the deadline"),
            Err(RecvTimeoutError::Disconnected) => panic!("events ended"),
        };
        assert_eq!(
            first["kind"], "subscribed",
            "a live stream's first line: {first}"
        );
        assert_eq!(first["instance"], Value::Null, "{first}");
        assert!(first.get("seq").is_none(), "never journaled: {first}");
        stream.seen().clear();
        Events {
            stream,
            seen: Vec::new(),
            read: 0,
        }
    }

    /// Receive one more event into `seen`, failing at the deadline.
    fn receive(&mut self, what: &str, start: Instant) {
        let left = DEADLINE.saturating_sub(start.elapsed());
        match self.stream.next_within(left) {
            Some(line) => self.seen.push(parse(&line)),
            None => panic!("timed out waiting for {what}; saw {:#?}", self.seen),
        }
    }

    /// Wait for the next event that `wanted` accepts: the first one after
    /// those the earlier `wait`s went through.
    pub fn wait(&mut self, what: &str, mut wanted: impl FnMut(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            while let Some(event) = self.seen.get(self.read) {
                self.read += 1;
                if wanted(event) {
                    return event.clone();
                }
            }
            self.receive(what, start);
        }
    }

    /// Wait until `count` events that `wanted` accepts have been seen in
    /// all (whatever the `wait`s went through); the last of them.
    pub fn wait_count(
        &mut self,
        what: &str,
        count: usize,
        wanted: impl Fn(&Value) -> bool,
    ) -> Value {
        let start = Instant::now();
        loop {
            if let Some(event) = self.seen.iter().filter(|e| wanted(e)).nth(count - 1) {
                return event.clone();
            }
            self.receive(what, start);
        }
    }

    /// Wait for the next `reloaded` event whose summary contains `part`.
    pub fn reloaded(&mut self, part: &str) -> Value {
        self.wait(&format!("a reload with `{part}`"), |event| {
            event["kind"] == "reloaded"
                && event["detail"]
                    .as_str()
                    .is_some_and(|detail| detail.contains(part))
        })
    }

    /// Events seen so far that `wanted` accepts.
    pub fn seen_count(&self, wanted: impl Fn(&Value) -> bool) -> usize {
        self.seen.iter().filter(|e| wanted(e)).count()
    }

    /// Events seen so far about `instance` of `kind`.
    pub fn count(&self, instance: &str, kind: &str) -> usize {
        self.seen.iter().filter(|e| is(instance, kind)(e)).count()
    }
}

/// Whether an event is about `instance` and of `kind`.
pub fn is<'a>(instance: &'a str, kind: &'a str) -> impl Fn(&Value) -> bool + 'a {
    move |event| event["instance"] == instance && event["kind"] == kind
}
