//! The live view and the display of `status`, with the real binary over
//! simulated gateways: `status --watch` redraws on events and ends quietly
//! on Ctrl-C, a stopped standby rescue reads `stopped`, `--color`, and a
//! reader that closes the pipe early (`status | head -1`).
#![allow(clippy::disallowed_methods)] // A test starts the programs it tests.

mod daemon_support;

use std::io::Read;
use std::process::{Child, Stdio};

use daemon_support::{DEADLINE, Daemon, Lines, main_and_rescue, wait_for};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// A running `status --watch`: its stdout lines, its stderr kept for the
/// end; killed when dropped (a failing test too).
struct Watcher {
    child: Child,
    lines: Lines,
}

impl Watcher {
    fn spawn(daemon: &Daemon, args: &[&str]) -> Watcher {
        let mut child = daemon
            .command()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn status --watch");
        let stdout = child.stdout.take().expect("stdout");
        Watcher {
            child,
            lines: Lines::read(stdout),
        }
    }

    /// Waits (bounded) for a row of `name` whose cells `wanted` accepts.
    fn wait_row(&mut self, what: &str, name: &str, wanted: impl Fn(&[&str]) -> bool) -> String {
        self.lines.wait_line(what, DEADLINE, |line| {
            let cells: Vec<&str> = line.split_whitespace().collect();
            cells.first() == Some(&name) && wanted(&cells)
        })
    }

    /// SIGINT, as Ctrl-C sends; its exit status and stderr.
    fn interrupt(&mut self) -> (std::process::ExitStatus, String) {
        kill(Pid::from_raw(self.child.id() as i32), Signal::SIGINT).expect("SIGINT the client");
        let status = wait_for("status --watch to exit", || {
            self.child.try_wait().expect("try_wait")
        });
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            pipe.read_to_string(&mut stderr).expect("read stderr");
        }
        (status, stderr)
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn watch_off_a_terminal_prints_a_frame_per_event_and_ends_quietly_on_ctrl_c() {
    let (daemon, _port) = Daemon::gateways(&[("main", "")]);
    daemon.wait_state("main", "running");
    // Redrawn every hour only: any later frame comes from an event.
    let mut watcher = Watcher::spawn(&daemon, &["status", "--watch", "--every", "1h"]);
    let header = watcher
        .lines
        .wait_line("the table's header", DEADLINE, |line| {
            line.starts_with("NAME ")
        });
    for title in ["STATE", "HEALTH", "PID", "CPU", "MEM", "LAST EVENT"] {
        assert!(header.contains(title), "{header}");
    }
    watcher.wait_row("main running", "main", |cells| cells[1] == "running");
    let stop = daemon.client(&["stop", "main"]);
    assert!(stop.status.success(), "{stop:?}");
    // State `stopped`, and in the last column the last event's kind and age.
    let row = watcher.wait_row("main stopped, last event stopped", "main", |cells| {
        cells[1] == "stopped" && cells.len() > 3 && cells[cells.len() - 2] == "stopped"
    });
    assert!(row.trim_end().ends_with('s'), "an age: {row}");
    assert!(
        watcher.lines.seen.iter().any(String::is_empty),
        "frames are separated by a blank line: {:#?}",
        watcher.lines.seen
    );
    let wide = watcher.lines.seen.iter().find(|l| l.chars().count() > 80);
    assert_eq!(wide, None, "not a terminal: 80 columns");
    // The wire carries the same last event.
    let last = wait_for("main's last event to be `stopped`", || {
        daemon
            .instance("main")
            .filter(|status| status["last_event"]["kind"] == "stopped")
    });
    assert_eq!(last["last_event"]["instance"], "main", "{last}");
    let (status, stderr) = watcher.interrupt();
    assert_eq!(status.code(), Some(0), "{status:?} {stderr}");
    assert_eq!(stderr, "", "Ctrl-C ends it quietly");
}

#[test]
fn a_stopped_standby_rescue_shows_stopped_and_color_follows_the_flag() {
    let (daemon, _main, _rescue) = main_and_rescue("", "standby: true\n");
    daemon.wait_state("main", "running");
    daemon.wait_state("rescue", "standby");
    let row = |args: &[&str], env: &[(&str, &str)]| {
        let output = daemon
            .command()
            .args(args)
            .envs(env.iter().copied())
            .output()
            .expect("status");
        assert!(output.status.success(), "{output:?}");
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .find(|line| line.contains("rescue"))
            .unwrap_or_default()
            .to_string()
    };
    assert!(row(&["status"], &[]).contains(" standby "));
    let stop = daemon.client(&["stop", "rescue"]);
    assert!(stop.status.success(), "{stop:?}");
    daemon.wait_state("rescue", "stopped");
    let plain = row(&["status"], &[]);
    let cells: Vec<&str> = plain.split_whitespace().collect();
    assert_eq!(cells.get(2), Some(&"stopped"), "{plain}");
    assert!(!plain.contains("standby"), "{plain}");
    // Not a terminal: no colour unless asked; `always` wins over NO_COLOR.
    assert!(!plain.contains('\x1b'), "{plain:?}");
    assert!(row(&["--color", "always", "status"], &[("NO_COLOR", "1")]).contains('\x1b'));
    assert!(row(&["status", "--color=never"], &[]).contains("stopped"));
    assert!(!row(&["status", "--color=never"], &[]).contains('\x1b'));
}

#[test]
fn status_into_a_pipe_whose_reader_closed_exits_quietly() {
    let (daemon, _port) = Daemon::gateways(&[("main", "")]);
    daemon.wait_state("main", "running");
    for args in [&["status"][..], &["status", "--json"], &["version"]] {
        let (reader, writer) = std::io::pipe().expect("a pipe");
        // The reader is gone before the client writes: every write fails
        // with EPIPE, as after `head -1` has read its line.
        drop(reader);
        let output = daemon
            .command()
            .args(args)
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .expect("run the client");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{args:?}: {stderr}");
        assert_eq!(stderr, "", "{args:?}");
    }
}

#[test]
fn health_with_every_probe_off_is_a_dash_not_starting_for_ever() {
    let (daemon, _port) = Daemon::gateways(&[(
        "main",
        "probes: { startup: { enabled: false }, liveness: { enabled: false }, readiness: { enabled: false } }",
    )]);
    let running = daemon.wait_state("main", "running");
    assert!(running["probes"]["startup"].is_null(), "{running}");
    let output = daemon.client(&["status"]);
    let table = String::from_utf8_lossy(&output.stdout);
    let header: Vec<&str> = table
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let health = header
        .iter()
        .position(|title| *title == "HEALTH")
        .expect("a HEALTH column");
    let row = table
        .lines()
        .find(|line| line.starts_with("main "))
        .unwrap_or_default();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells.get(2), Some(&"running"), "{table}");
    assert_eq!(cells.get(health), Some(&"-"), "{table}");
}
