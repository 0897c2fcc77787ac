//! Rendering tables: durations, sizes, health, colours and the status table.

use super::*;
use openclaw_supervisor::protocol::{
    Breaker, ErrorSource, EventKind, LastExit, Paths, Ports, Probes, Role,
};

fn instance(name: &str) -> InstanceStatus {
    InstanceStatus {
        name: name.to_string(),
        role: Role::Main,
        state: String::from("running"),
        pid: Some(4242),
        uptime_secs: Some(3_700),
        restarts: 1,
        last_exit: None,
        probes: Probes::default(),
        next_restart_at: None,
        ports: Ports {
            base: 18789,
            block_start: 18789,
            block_end: 18889,
            explicit: vec![],
        },
        paths: Paths {
            config: String::from("/c/openclaw.json"),
            state_dir: String::from("/s"),
            workspace: String::from("/w"),
            log_file: String::from("/l.log"),
        },
        declaration_file: String::from("/d/main.yaml"),
        cpu_percent: Some(2.25),
        memory_bytes: Some(150 * 1024 * 1024),
        last_error_lines: vec![],
        last_error_from: None,
        standby: false,
        rescue_of: None,
        dropped_log_lines: 0,
        stopping_since: None,
        breaker: None,
        supervisor_kills: 0,
    }
}

fn probe(ok: bool, failing: &[&str]) -> Option<ProbeStatus> {
    Some(ProbeStatus {
        ok,
        at: 0,
        latency_ms: 4,
        consecutive_failures: u32::from(!ok),
        failing: failing.iter().map(|name| name.to_string()).collect(),
        detail: None,
    })
}

#[test]
fn uptimes_and_sizes_are_short() {
    let uptimes = vec![
        (0, "0s"),
        (59, "59s"),
        (60, "1m"),
        (3_599, "59m"),
        (3_600, "1h00m"),
        (3_700, "1h01m"),
        (86_400 + 7_200, "1d02h"),
    ];
    for (seconds, expected) in uptimes {
        assert_eq!(uptime(seconds), expected, "{seconds}");
    }
    let sizes = vec![
        (0, "0B"),
        (1023, "1023B"),
        (1024, "1.0K"),
        (150 * 1024 * 1024, "150.0M"),
        (3 * 1024 * 1024 * 1024, "3.0G"),
    ];
    for (bytes, expected) in sizes {
        assert_eq!(memory(bytes), expected, "{bytes}");
    }
}

#[test]
fn health_sums_up_the_probes() {
    let with = |pid: Option<u32>, probes: Probes| InstanceStatus {
        pid,
        probes,
        ..instance("main")
    };
    let rows = vec![
        (with(None, Probes::default()), "-"),
        (with(Some(1), Probes::default()), "starting"),
        (
            with(
                Some(1),
                Probes {
                    startup: probe(true, &[]),
                    ..Probes::default()
                },
            ),
            "started",
        ),
        (
            with(
                Some(1),
                Probes {
                    readiness: probe(true, &[]),
                    ..Probes::default()
                },
            ),
            "ready",
        ),
        (
            with(
                Some(1),
                Probes {
                    readiness: probe(false, &["discord", "slack"]),
                    ..Probes::default()
                },
            ),
            "not ready: discord,slack",
        ),
        (
            with(
                Some(1),
                Probes {
                    liveness: probe(false, &[]),
                    readiness: probe(true, &[]),
                    ..Probes::default()
                },
            ),
            "liveness failing x1",
        ),
    ];
    for (status, expected) in rows {
        assert_eq!(health(&status).0, expected, "{:?}", status.probes);
    }
}

#[test]
fn colours_only_on_a_terminal_without_no_color() {
    let rows = vec![
        (true, None, true),
        (true, Some(""), true),
        (true, Some("1"), false),
        (false, None, false),
    ];
    for (terminal, no_color, enabled) in rows {
        let paint = Paint::new(terminal, no_color.map(std::ffi::OsString::from));
        assert_eq!(paint.enabled, enabled, "{terminal} {no_color:?}");
        let painted = paint.paint("running", Some(Colour::Green));
        assert_eq!(painted.contains('\x1b'), enabled);
    }
}

#[test]
fn status_table_aligns_columns_and_lists_notes() {
    let mut failed = instance("rescue");
    failed.role = Role::Rescue;
    failed.state = String::from("backoff");
    failed.pid = None;
    failed.uptime_secs = None;
    failed.cpu_percent = None;
    failed.memory_bytes = None;
    failed.next_restart_at = Some(10_000);
    failed.last_error_lines = vec![String::from("Error: port in use")];
    failed.last_error_from = Some(ErrorSource {
        pid: 4242,
        exit: String::from("exit code 1"),
    });
    failed.dropped_log_lines = 12;
    failed.last_exit = Some(LastExit {
        code: Some(1),
        signal: None,
        at: 0,
    });
    let rejected = vec![RejectedFile {
        file: String::from("/d/bad.yaml"),
        reason: String::from("port 18789 is also main's"),
    }];
    let text = table(
        &[instance("main"), failed],
        &rejected,
        Paint { enabled: false },
        5_000,
    );
    let expected = "\
NAME    ROLE    STATE    PID   UPTIME  RESTARTS  HEALTH    PORT   CPU   MEM
main    main    running  4242  1h01m   1         starting  18789  2.2%  150.0M
rescue  rescue  backoff  -     -       1         -         18789  -     -
rescue: next restart in 5s
rescue: 12 output lines dropped: logs/rescue.log in the state dir could not take them (a full disk?)
rescue: last error lines (pid 4242, exit code 1):
  Error: port in use
rejected /d/bad.yaml: port 18789 is also main's
";
    assert_eq!(text, expected);
    let painted = table(&[instance("main")], &[], Paint { enabled: true }, 0);
    assert!(painted.contains("\x1b[32mrunning  \x1b[0m"), "{painted:?}");
}

#[test]
fn detail_shows_paths_probes_and_last_exit() {
    let mut status = instance("main");
    status.probes.readiness = probe(false, &["discord"]);
    status.last_exit = Some(LastExit {
        code: None,
        signal: Some(String::from("SIGKILL")),
        at: 1_000,
    });
    status.dropped_log_lines = 3;
    let text = detail(&status, Paint { enabled: false }, 61_000);
    for expected in [
        "log dropped  3 output lines not written to logs/main.log in the state dir (a full disk?)",
        "main (main): running",
        "health       not ready: discord",
        "last exit    killed by SIGKILL, 1m ago",
        "ports        18789 (block 18789-18889)",
        "config       /c/openclaw.json",
        "declared in  /d/main.yaml",
        "readiness  failing, 4ms, 1m ago, 1 failures in a row, failing: discord",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
}

fn tripped() -> Option<Breaker> {
    Some(Breaker {
        since: 1_000,
        unclean_boots: Some(3),
        detail: String::from(
            "gateway restart-loop breaker tripped: 3 unclean boot(s) within 300000ms; suppressing channel/provider account auto-start",
        ),
    })
}

#[test]
fn a_draining_stop_a_tripped_breaker_and_kills_show_in_the_table() {
    let mut draining = instance("main");
    draining.state = String::from("stopping");
    draining.stopping_since = Some(10_000);
    let mut broken = instance("rescue");
    broken.role = Role::Rescue;
    broken.breaker = tripped();
    broken.supervisor_kills = 2;
    broken.probes.readiness = probe(true, &[]);
    // stopping_since outside a stop (a stale value) is not shown.
    let mut running = instance("other");
    running.stopping_since = Some(10_000);
    let text = table(
        &[draining, broken, running],
        &[],
        Paint { enabled: false },
        52_500,
    );
    let expected = "\
NAME    ROLE    STATE                     PID   UPTIME  RESTARTS  HEALTH          PORT   CPU   MEM
main    main    stopping (draining 42 s)  4242  1h01m   1         starting        18789  2.2%  150.0M
rescue  rescue  running                   4242  1h01m   1         ready, breaker  18789  2.2%  150.0M
other   main    running                   4242  1h01m   1         starting        18789  2.2%  150.0M
rescue: breaker tripped: channel auto-start suppressed after 3 unclean boots in 5 min (the gateway's restart-loop breaker; see `logs`)
rescue: 2 SIGKILL(s) by the supervisor in the last 5 min (stop timeout passed): unclean boots the gateway counts, 3 trip its breaker
";
    assert_eq!(text, expected);
}

#[test]
fn detail_shows_the_drain_the_breaker_and_the_kills() {
    let mut status = instance("main");
    status.state = String::from("stopping");
    status.stopping_since = Some(1_000);
    status.breaker = tripped();
    status.supervisor_kills = 1;
    let text = detail(&status, Paint { enabled: false }, 8_999);
    for expected in [
        "main (main): stopping (draining 7 s)",
        "breaker      breaker tripped: channel auto-start suppressed after 3 unclean boots in 5 min",
        "killed       1 SIGKILL(s) by the supervisor in the last 5 min",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    let quiet = detail(&instance("main"), Paint { enabled: false }, 8_999);
    assert!(!quiet.contains("breaker"), "{quiet}");
    assert!(!quiet.contains("killed"), "{quiet}");
}

#[test]
fn event_lines_read_time_instance_kind_detail() {
    let event = |instance: Option<&str>, kind: EventKind, detail: &str| Event {
        at: 1_760_000_002_000,
        instance: instance.map(str::to_string),
        kind,
        detail: detail.to_string(),
        seq: None,
    };
    let rows = vec![
        (
            event(Some("main"), EventKind::Exited, "exited with code 1"),
            "2025-10-09T08:53:22Z main exited exited with code 1",
        ),
        (
            event(Some("main"), EventKind::Command, "stop by operator"),
            "2025-10-09T08:53:22Z main command stop by operator",
        ),
        // No detail: no trailing space.
        (
            event(Some("main"), EventKind::Stopped, ""),
            "2025-10-09T08:53:22Z main stopped",
        ),
        (
            event(
                Some("main"),
                EventKind::Killed,
                "SIGKILL after the stop timeout",
            ),
            "2025-10-09T08:53:22Z main killed SIGKILL after the stop timeout",
        ),
        (
            event(None, EventKind::Reloaded, "1 added"),
            "2025-10-09T08:53:22Z supervisor reloaded 1 added",
        ),
    ];
    for (event, expected) in rows {
        assert_eq!(event_line(&event, Paint { enabled: false }), expected);
    }
}
