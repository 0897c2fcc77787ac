//! The event journal and the supervisor's own log lines, with the real
//! binary over simulated gateways: `events -n`, `--since`, `NAME` and `-f`
//! over `<state-dir>/events.jsonl`, its backlog across a supervisor
//! restart, each event as one sentence in the supervisor's log, and the
//! same lines as journald fields when stderr is the journal.
#![allow(clippy::disallowed_methods)] // A test starts the programs it tests.

mod daemon_support;

use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant, UNIX_EPOCH};

use daemon_support::*;
use serde_json::Value;

/// Liveness fast enough that a wedged gateway fails it in about a second.
const FAST_LIVENESS: &str = "probes:\n  \
    startup: { every: 100ms, timeout: 20s }\n  \
    liveness: { every: 200ms, timeout: 300ms, failures: 3 }\n\
    restart: { backoff: { initial: 100ms } }";

/// `events ARGS --json`, which must exit 0: one parsed event a line.
fn events(daemon: &Daemon, args: &[&str]) -> Vec<Value> {
    daemon.journal(args)
}

fn seq(event: &Value) -> u64 {
    event["seq"]
        .as_u64()
        .expect("a journaled event is numbered")
}

fn spawned_pid(event: &Value) -> Option<i32> {
    (event["kind"] == "spawned")
        .then(|| event["detail"].as_str()?.strip_prefix("pid ")?.parse().ok())
        .flatten()
}

/// Wait until the journal lists a `kind` event of `instance`.
fn wait_journaled(daemon: &Daemon, instance: &str, kind: &str) -> Vec<Value> {
    wait_for(
        &format!("a {kind} event of {instance} in the journal"),
        || {
            let all = events(daemon, &["-n", "100000"]);
            all.iter().any(is(instance, kind)).then_some(all)
        },
    )
}

#[test]
fn the_backlog_survives_a_supervisor_restart() {
    let (mut daemon, _) = Daemon::gateways(&[("main", "")]);
    let first = daemon
        .wait_state("main", "running")
        .get("pid")
        .and_then(Value::as_i64)
        .expect("a pid") as i32;
    wait_journaled(&daemon, "main", "started");
    assert!(daemon.client(&["shutdown"]).status.success());
    assert!(daemon.wait_exit().success());
    // A crash in the middle of a write leaves a torn last line.
    let mut journal = fs::OpenOptions::new()
        .append(true)
        .open(daemon.state_dir.join("events.jsonl"))
        .expect("the journal is in the state dir");
    journal
        .write_all(br#"{"at":1,"instance":"main","kind":"spaw"#)
        .expect("write");
    drop(journal);

    daemon.start();
    let second = daemon.wait_new_pid("main", Some(first));
    let all = wait_for("the second run's spawn in the journal", || {
        let all = events(&daemon, &["-n", "100"]);
        all.iter()
            .any(|e| spawned_pid(e) == Some(second))
            .then_some(all)
    });
    let pids: Vec<i32> = all.iter().filter_map(spawned_pid).collect();
    assert_eq!(pids, vec![first, second], "{all:#?}");
    // The first run's end is there too, and the numbers go on.
    assert!(all.iter().any(is("main", "forgotten")), "{all:#?}");
    let seqs: Vec<u64> = all.iter().map(seq).collect();
    assert!(seqs.windows(2).all(|pair| pair[1] > pair[0]), "{seqs:?}");
    let text = daemon.client(&["events", "main", "-n", "1"]);
    assert!(text.status.success());
    assert!(
        String::from_utf8_lossy(&text.stdout).contains(" main "),
        "{}",
        String::from_utf8_lossy(&text.stdout)
    );
}

#[test]
fn events_pick_by_name_count_and_time() {
    let (daemon, _) = Daemon::gateways(&[("main", ""), ("other", "")]);
    wait_journaled(&daemon, "main", "started");
    let all = wait_journaled(&daemon, "other", "started");

    let main = events(&daemon, &["main"]);
    assert!(!main.is_empty());
    assert!(main.iter().all(|e| e["instance"] == "main"), "{main:#?}");
    let main_in_all: Vec<u64> = all
        .iter()
        .filter(|e| e["instance"] == "main")
        .map(seq)
        .collect();
    let main_seqs: Vec<u64> = main.iter().map(seq).collect();
    assert!(main_seqs.starts_with(&main_in_all), "{main_seqs:?}");

    let last_two = events(&daemon, &["-n", "2"]);
    assert_eq!(last_two.len(), 2, "{last_two:#?}");
    assert_eq!(seq(&last_two[1]), seq(&last_two[0]) + 1);
    assert!(seq(&last_two[1]) >= seq(all.last().expect("events")));
    assert_eq!(events(&daemon, &["other", "-n", "1"]).len(), 1);

    // From an event in the middle on: that one and every later one.
    let middle = &all[all.len() / 2];
    let at_ms = middle["at"].as_u64().expect("at");
    let since = humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(at_ms));
    let later = events(&daemon, &["--since", &since.to_string()]);
    assert!(
        later.iter().all(|e| e["at"].as_u64() >= Some(at_ms)),
        "{later:#?}"
    );
    let later_seqs: Vec<u64> = later.iter().map(seq).collect();
    for event in all.iter().filter(|e| e["at"].as_u64() >= Some(at_ms)) {
        assert!(
            later_seqs.contains(&seq(event)),
            "{event} missing from {later:#?}"
        );
    }
    assert!(!later_seqs.contains(&seq(&all[0])) || all[0]["at"].as_u64() >= Some(at_ms));
    assert_eq!(events(&daemon, &["--since", "1h"])[0], all[0]);
    assert!(events(&daemon, &["--since", "2999-01-01T00:00:00Z"]).is_empty());

    let refused = daemon.client(&["events", "--since", "last tuesday"]);
    assert_eq!(refused.status.code(), Some(2), "a usage error");
}

#[test]
fn follow_goes_on_after_the_backlog_with_no_gap_and_no_duplicate() {
    let (daemon, _) = Daemon::gateways(&[("main", "")]);
    daemon.wait_state("main", "running");
    wait_journaled(&daemon, "main", "started");
    let mut follower = Follower::spawn(&daemon, &["events", "-f", "-n", "1", "--json"]);
    // The backlog's one event, then the start of the live part.
    follower.wait_line("the backlog", |_| true);
    let subscribed = follower.wait_line("the subscription", |line| {
        line.contains(r#""kind":"subscribed""#)
    });
    assert_eq!(
        follower.seen().len(),
        2,
        "nothing between the backlog and the live part: {subscribed}"
    );
    assert!(daemon.client(&["stop", "main"]).status.success());
    follower.wait_line("main stopped", |line| line.contains(r#""kind":"stopped""#));
    assert!(daemon.client(&["start", "main"]).status.success());
    follower.wait_line("main spawned again", |line| {
        line.contains(r#""kind":"spawned""#)
    });
    let seen: Vec<Value> = follower
        .seen()
        .iter()
        .map(|line| serde_json::from_str::<Value>(line).expect("JSON"))
        .filter(|event| event["kind"] != "subscribed")
        .collect();
    let seqs: Vec<u64> = seen.iter().map(seq).collect();
    let expected: Vec<u64> = (seqs[0]..seqs[0] + seqs.len() as u64).collect();
    assert_eq!(seqs, expected, "every event once, in order: {seen:#?}");
    assert!(seen.iter().any(is("main", "command")), "{seen:#?}");
}

#[test]
fn each_event_is_one_sentence_in_the_supervisors_log() {
    let (daemon, port) = Daemon::gateways(&[("main", FAST_LIVENESS)]);
    let first = daemon.wait_new_pid("main", None);
    daemon.wait_state("main", "running");
    crash(port, 1);
    let second = daemon.wait_new_pid("main", Some(first));
    daemon.wait_state("main", "running");
    sim_post(port, "/__sim/wedge");
    daemon.wait_new_pid("main", Some(second));
    wait_journaled(&daemon, "main", "unhealthy");
    let log = daemon.log_text();
    let lines_with = |text: &str| log.lines().filter(|line| line.contains(text)).count();
    for sentence in [
        format!("main: spawned (pid {first})"),
        "main: exited with code 1".to_string(),
        "main: liveness failed 3 times in a row; restarting".to_string(),
    ] {
        assert_eq!(lines_with(&sentence), 1, "`{sentence}` once in:\n{log}");
    }
    // Each backoff is one sentence with its delay.
    assert_eq!(
        lines_with("main: restarting in"),
        lines_with("event=backoff"),
        "{log}"
    );
    assert!(lines_with("main: restarting in") >= 2, "{log}");
    let spawned = log
        .lines()
        .find(|line| line.contains(&format!("main: spawned (pid {first})")))
        .expect("the spawned line");
    // A sentence right after the level: no module path, no Rust values.
    assert!(
        spawned.contains(&format!(" INFO main: spawned (pid {first})")),
        "{spawned}"
    );
    assert!(!log.contains("openclaw_supervisor::"), "{log}");
    assert!(!log.contains("Some("), "{log}");
    assert!(spawned.contains("instance=main"), "{spawned}");
    assert!(spawned.contains("event=spawned"), "{spawned}");
    assert!(spawned.contains(&format!("pid={first}")), "{spawned}");
    let exited = log
        .lines()
        .find(|line| line.contains("main: exited with code 1"))
        .expect("the exited line");
    // The pid of the gateway that exited, though it is gone by then.
    assert!(exited.contains(&format!("pid={first}")), "{exited}");
}

/// Fields of one journald native-protocol datagram: `NAME=value\n`, or
/// `NAME\n`, a 64-bit little-endian length, the value and `\n`.
fn journal_fields(mut data: &[u8]) -> Vec<(String, String)> {
    let mut fields = Vec::new();
    while let Some(end) = data.iter().position(|b| *b == b'\n' || *b == b'=') {
        let name = String::from_utf8_lossy(&data[..end]).into_owned();
        if data[end] == b'=' {
            let rest = &data[end + 1..];
            let stop = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
            fields.push((name, String::from_utf8_lossy(&rest[..stop]).into_owned()));
            data = rest.get(stop + 1..).unwrap_or_default();
        } else {
            let rest = &data[end + 1..];
            let length = u64::from_le_bytes(rest[..8].try_into().expect("8 bytes")) as usize;
            let value = &rest[8..8 + length];
            fields.push((name, String::from_utf8_lossy(value).into_owned()));
            data = rest.get(8 + length + 1..).unwrap_or_default();
        }
    }
    fields
}

#[test]
fn journal_fields_are_parsed_from_both_encodings() {
    let mut binary = b"MESSAGE\n".to_vec();
    binary.extend_from_slice(&5u64.to_le_bytes());
    binary.extend_from_slice(b"a\nb c\nINSTANCE=main\n");
    assert_eq!(
        journal_fields(&binary),
        vec![
            ("MESSAGE".to_string(), "a\nb c".to_string()),
            ("INSTANCE".to_string(), "main".to_string())
        ]
    );
}

/// Under systemd with stderr connected to the journal, the supervisor logs
/// through journald's socket, `/run/systemd/journal/socket`. The crate has
/// that path built in, so the supervisor runs in a mount namespace of its
/// own where the test's dir is bind-mounted over `/run`: the test's socket
/// is the journal.
#[test]
fn under_journald_the_fields_are_journal_fields() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!(
            "skipped: a private mount namespace with /run bind-mounted needs root (CI runs as root)"
        );
        return;
    }
    let (mut daemon, _) = Daemon::prepare(&[("main", "")]);
    let run = daemon.path().join("run");
    let journal_dir = run.join("systemd").join("journal");
    fs::create_dir_all(&journal_dir).expect("dir");
    let socket = UnixDatagram::bind(journal_dir.join("socket")).expect("bind the journal socket");
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    // stderr is the supervisor's log file: JOURNAL_STREAM names it.
    let stderr = daemon.path().join("supervisor.log");
    fs::write(&stderr, "").expect("create the log");
    let meta = fs::metadata(&stderr).expect("stat");
    let stream = format!("{}:{}", meta.dev(), meta.ino());
    let source = std::ffi::CString::new(run.as_os_str().as_encoded_bytes()).expect("path");
    daemon.start_with_setup(|command| {
        command
            .env("JOURNAL_STREAM", &stream)
            .env("OPENCLAW_SUPERVISOR_LOG", "info");
        // SAFETY: only system calls between fork and exec, on data made
        // before the fork.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(command, move || {
                if libc::unshare(libc::CLONE_NEWNS) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let root = c"/";
                let flags = libc::MS_REC | libc::MS_PRIVATE;
                if libc::mount(
                    std::ptr::null(),
                    root.as_ptr(),
                    std::ptr::null(),
                    flags,
                    std::ptr::null(),
                ) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                let target = c"/run";
                if libc::mount(
                    source.as_ptr(),
                    target.as_ptr(),
                    std::ptr::null(),
                    libc::MS_BIND,
                    std::ptr::null(),
                ) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    });
    let pid = daemon.wait_new_pid("main", None);
    let start = Instant::now();
    let mut buffer = vec![0u8; 64 * 1024];
    let fields = loop {
        assert!(
            start.elapsed() < DEADLINE,
            "no spawned event reached the journal"
        );
        let Ok(size) = socket.recv(&mut buffer) else {
            continue;
        };
        let fields = journal_fields(&buffer[..size]);
        if fields
            .iter()
            .any(|(name, value)| name == "EVENT" && value == "spawned")
        {
            break fields;
        }
    };
    let field = |wanted: &str| {
        fields
            .iter()
            .find(|(name, _)| name == wanted)
            .map(|(_, value)| value.as_str())
    };
    assert_eq!(field("INSTANCE"), Some("main"), "{fields:?}");
    assert_eq!(field("PID"), Some(pid.to_string().as_str()), "{fields:?}");
    assert_eq!(
        field("MESSAGE"),
        Some(format!("main: spawned (pid {pid})").as_str()),
        "{fields:?}"
    );
    assert_eq!(field("PRIORITY"), Some("6"), "info: {fields:?}");
    assert_eq!(field("SYSLOG_IDENTIFIER"), Some("openclaw-supervisor"));
    // Nothing went to stderr: the journal has it, once.
    assert!(
        !daemon.log_text().contains("main: spawned"),
        "{}",
        daemon.log_text()
    );
}

#[test]
fn a_journal_that_cannot_be_written_stops_nothing() {
    let (mut daemon, _) = Daemon::prepare(&[("main", "")]);
    fs::create_dir_all(&daemon.state_dir).expect("state dir");
    // Every write fails with ENOSPC, as on a full disk.
    std::os::unix::fs::symlink("/dev/full", daemon.state_dir.join("events.jsonl"))
        .expect("symlink");
    daemon.start();
    let first = daemon.wait_new_pid("main", None);
    daemon.wait_state("main", "running");
    assert!(daemon.client(&["restart", "main"]).status.success());
    daemon.wait_new_pid("main", Some(first));
    daemon.wait_state("main", "running");
    let log = daemon.log_text();
    let warnings = log
        .lines()
        .filter(|line| line.contains("cannot write the event journal"))
        .count();
    assert_eq!(warnings, 1, "one warning an episode:\n{log}");
    // The events are still logged, each once.
    assert!(log.contains("main: restart by operator"), "{log}");
    let backlog = daemon.client(&["events", "-n", "5"]);
    assert_eq!(backlog.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&backlog.stderr).contains("cannot read the event journal"),
        "{}",
        String::from_utf8_lossy(&backlog.stderr)
    );
}

/// The same under a real systemd-journald (started by
/// `tests/journald/real.sh` in a private mount namespace, over a temp /run
/// and /var/log), read back with journalctl: `journalctl INSTANCE=main`
/// lists main's events, and each entry carries `INSTANCE=`, `EVENT=` and
/// `PID=` as journal fields. Skipped where there is no journald or no root.
#[test]
fn a_real_journald_files_each_event_under_its_instance() {
    let journald = std::path::Path::new("/lib/systemd/systemd-journald");
    let journalctl = ["/usr/bin/journalctl", "/bin/journalctl"]
        .iter()
        .any(|path| std::path::Path::new(path).exists());
    if !nix::unistd::geteuid().is_root() || !journald.exists() || !journalctl {
        eprintln!("skipped: needs root, /lib/systemd/systemd-journald and journalctl");
        return;
    }
    let (daemon, _) = Daemon::prepare(&[("main", "")]);
    let work = daemon.root.path().join("journald");
    fs::create_dir_all(&work).expect("work dir");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/journald/real.sh");
    let output = std::process::Command::new("unshare")
        .args(["--mount", "--propagation", "private", "bash", script])
        .arg(SUPERVISOR)
        .arg(&daemon.dir)
        .arg(&work)
        .env("OPENCLAW_TEST_TAG", &daemon.tag)
        .env_remove("NOTIFY_SOCKET")
        .env_remove("XDG_RUNTIME_DIR")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run tests/journald/real.sh");
    let text = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "real.sh failed ({}):\n{text}\n{stderr}",
        output.status
    );
    let section = |title: &str| -> String {
        text.split("---- ")
            .find(|part| part.starts_with(title))
            .unwrap_or_default()
            .to_string()
    };
    let listed = section("journalctl INSTANCE=main\n");
    let spawned = listed
        .lines()
        .filter(|line| line.starts_with("main: spawned (pid "))
        .count();
    assert_eq!(spawned, 2, "a start and a restart: {text}");
    assert!(listed.contains("main: declared"), "{text}");
    let verbose = section("journalctl INSTANCE=main EVENT=spawned");
    for field in [
        "INSTANCE=main",
        "EVENT=spawned",
        "SYSLOG_IDENTIFIER=openclaw-supervisor",
        "PRIORITY=6",
        "MESSAGE=main: spawned (pid ",
    ] {
        assert!(verbose.contains(field), "no {field} in:\n{verbose}");
    }
    assert!(
        verbose
            .lines()
            .any(|line| line.trim_start().starts_with("PID=")),
        "no PID field in:\n{verbose}"
    );
    // Everything went to the journal, nothing to stderr.
    assert!(
        section("stderr").trim() == "stderr",
        "the supervisor wrote to stderr under journald: {text}"
    );
}
