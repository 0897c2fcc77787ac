//! systemd's readiness protocol (`sd_notify`): a few datagrams to the socket
//! named by `NOTIFY_SOCKET`. Small enough to write over a Unix datagram
//! socket rather than pull in a crate; the format is plain `KEY=value` lines.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::Duration;

/// How long a state change waits for room in systemd's queue.
const SEND_TIMEOUT: Duration = Duration::from_secs(1);

/// Where to send notifications, read once from the environment.
#[derive(Debug)]
pub struct Notifier {
    /// State changes (READY, STATUS, RELOADING, STOPPING): waits up to
    /// [`SEND_TIMEOUT`] for room in a full queue, then gives up.
    socket: UnixDatagram,
    /// Watchdog pings: never wait; a ping that finds the queue full is
    /// dropped (the next one follows shortly).
    pings: UnixDatagram,
    target: Target,
    /// Half of `WATCHDOG_USEC`, when the watchdog is on for this process.
    pub watchdog_interval: Option<Duration>,
}

#[derive(Debug, Clone)]
enum Target {
    Path(PathBuf),
    Abstract(Vec<u8>),
}

impl Notifier {
    /// `None` when not started by systemd with `Type=notify`.
    pub fn from_env(env: &crate::openclaw::EnvMap) -> io::Result<Option<Notifier>> {
        let Some(address) = env.get("NOTIFY_SOCKET").filter(|a| !a.is_empty()) else {
            return Ok(None);
        };
        let target = match address.strip_prefix('@') {
            Some(name) => Target::Abstract(name.as_bytes().to_vec()),
            None => Target::Path(PathBuf::from(address)),
        };
        let watchdog_interval = watchdog_interval(env, std::process::id());
        // Never block the supervisor's loop on systemd for long: a full
        // queue (nobody reading the socket) costs a state change at most
        // SEND_TIMEOUT and a ping nothing, instead of stalling every command
        // and probe until someone reads.
        let socket = UnixDatagram::unbound()?;
        socket.set_write_timeout(Some(SEND_TIMEOUT))?;
        let pings = UnixDatagram::unbound()?;
        pings.set_nonblocking(true)?;
        Ok(Some(Notifier {
            socket,
            pings,
            target,
            watchdog_interval,
        }))
    }

    /// Send one notification (`READY=1`, `STATUS=...`, ...). Errors are
    /// returned, but a daemon should log them and go on: systemd missing a
    /// status line is no reason to stop gateways.
    pub fn notify(&self, message: &str) -> io::Result<()> {
        self.send_on(&self.socket, message)
    }

    fn send_on(&self, socket: &UnixDatagram, message: &str) -> io::Result<()> {
        match &self.target {
            Target::Path(path) => socket.send_to(message.as_bytes(), path).map(|_| ()),
            Target::Abstract(name) => {
                use std::os::linux::net::SocketAddrExt;
                let address = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
                socket
                    .send_to_addr(message.as_bytes(), &address)
                    .map(|_| ())
            }
        }
    }

    pub fn ready(&self) {
        self.send_logged("READY=1");
    }

    pub fn status(&self, text: &str) {
        // A status is one line.
        let line = text.replace('\n', " ");
        self.send_logged(&format!("STATUS={line}"));
    }

    pub fn reloading(&self) {
        let monotonic = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
            .map(|t| t.tv_sec() as u64 * 1_000_000 + t.tv_nsec() as u64 / 1000)
            .unwrap_or(0);
        self.send_logged(&format!("RELOADING=1\nMONOTONIC_USEC={monotonic}"));
    }

    pub fn stopping(&self) {
        self.send_logged("STOPPING=1");
    }

    /// A watchdog ping; dropped quietly when systemd's queue is full.
    pub fn watchdog(&self) {
        match self.send_on(&self.pings, "WATCHDOG=1") {
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                tracing::debug!("watchdog ping dropped: systemd's queue is full");
            }
            Err(err) => tracing::warn!(error = %err, "cannot notify systemd: WATCHDOG=1"),
            Ok(()) => {}
        }
    }

    fn send_logged(&self, message: &str) {
        if let Err(err) = self.notify(message) {
            tracing::warn!(error = %err, message, "cannot notify systemd");
        }
    }
}

/// Half of `WATCHDOG_USEC` when the watchdog is meant for `pid` (systemd
/// sets `WATCHDOG_PID` when it may be inherited by someone else).
pub fn watchdog_interval(env: &crate::openclaw::EnvMap, pid: u32) -> Option<Duration> {
    let usec: u64 = env.get("WATCHDOG_USEC")?.parse().ok()?;
    if usec == 0 {
        return None;
    }
    let meant_for_us = env
        .get("WATCHDOG_PID")
        .is_none_or(|for_pid| for_pid.parse::<u32>().ok() == Some(pid));
    if !meant_for_us {
        return None;
    }
    Some(Duration::from_micros(usec / 2))
}

/// "2 running, 1 backoff": instance counts by state, in a stable order.
pub fn summarize<'a>(states: impl Iterator<Item = &'a str>) -> String {
    let mut counts: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for state in states {
        *counts.entry(state).or_default() += 1;
    }
    if counts.is_empty() {
        return "no instances".to_string();
    }
    counts
        .iter()
        .map(|(state, count)| format!("{count} {state}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> crate::openclaw::EnvMap {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_socket_nobody_reads_drops_pings_and_times_out_a_state_change() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("notify");
        let receiver = UnixDatagram::bind(&path).expect("bind the notify socket");
        let notifier = Notifier::from_env(&env(&[("NOTIFY_SOCKET", &path.to_string_lossy())]))
            .expect("notifier")
            .expect("NOTIFY_SOCKET is set");
        // Fill the queue of the unread socket with pings: a blocking send
        // would wait for ever on the first that finds it full.
        let refused = (0..100_000)
            .map(|_| notifier.send_on(&notifier.pings, "WATCHDOG=1"))
            .find_map(Result::err)
            .expect("a full queue refuses a ping");
        assert_eq!(refused.kind(), io::ErrorKind::WouldBlock, "{refused}");
        // A state change waits for room, then gives up instead of hanging.
        let timed_out = notifier.notify("READY=1").expect_err("still full");
        assert!(
            matches!(
                timed_out.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ),
            "{timed_out}"
        );
        // Once systemd reads, it goes through.
        let mut buffer = [0u8; 64];
        receiver.recv(&mut buffer).expect("a ping");
        notifier.notify("READY=1").expect("room again");
    }

    #[test]
    fn watchdog_interval_is_half_and_only_for_us() {
        type Row<'a> = (&'a [(&'a str, &'a str)], Option<Duration>);
        let rows: &[Row] = &[
            (&[], None),
            (&[("WATCHDOG_USEC", "0")], None),
            (&[("WATCHDOG_USEC", "abc")], None),
            (
                &[("WATCHDOG_USEC", "20000000")],
                Some(Duration::from_secs(10)),
            ),
            (
                &[("WATCHDOG_USEC", "20000000"), ("WATCHDOG_PID", "42")],
                Some(Duration::from_secs(10)),
            ),
            (
                &[("WATCHDOG_USEC", "20000000"), ("WATCHDOG_PID", "43")],
                None,
            ),
        ];
        for (pairs, expected) in rows {
            assert_eq!(watchdog_interval(&env(pairs), 42), *expected, "{pairs:?}");
        }
    }

    #[test]
    fn summary_counts_states() {
        assert_eq!(
            summarize(["running", "backoff", "running"].into_iter()),
            "1 backoff, 2 running"
        );
        assert_eq!(summarize(std::iter::empty()), "no instances");
    }

    #[test]
    fn notifications_arrive_on_the_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let receiver = UnixDatagram::bind(&path).unwrap();
        let notifier = Notifier::from_env(&env(&[("NOTIFY_SOCKET", path.to_str().unwrap())]))
            .unwrap()
            .expect("a notifier when NOTIFY_SOCKET is set");
        notifier.ready();
        notifier.status("2 running");
        let mut buffer = [0u8; 256];
        let n = receiver.recv(&mut buffer).unwrap();
        assert_eq!(&buffer[..n], b"READY=1");
        let n = receiver.recv(&mut buffer).unwrap();
        assert_eq!(&buffer[..n], b"STATUS=2 running");
        assert!(Notifier::from_env(&env(&[])).unwrap().is_none());
    }
}
