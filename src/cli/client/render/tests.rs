//! Rendering: health, the status and live-view tables and their notes, one
//! instance in detail, event lines.

use super::*;
use openclaw_supervisor::protocol::{
    Breaker, ErrorSource, EventKind, LastExit, Probes, RejectedFile, Role,
};

fn instance(name: &str) -> InstanceStatus {
    super::super::fixture::instance(name)
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
fn health_sums_up_the_probes() {
    let with = |pid: Option<u32>, probes: Probes| InstanceStatus {
        pid,
        probes,
        ..instance("main")
    };
    let starting = InstanceStatus {
        state: String::from("starting"),
        ..with(Some(1), Probes::default())
    };
    let rows = vec![
        (with(None, Probes::default()), "-"),
        // Running with no probe result: all probes off (or none answered
        // yet) is not `starting` for ever.
        (with(Some(1), Probes::default()), "-"),
        (starting, "starting"),
        (
            with(
                Some(1),
                Probes {
                    liveness: probe(true, &[]),
                    ..Probes::default()
                },
            ),
            "live",
        ),
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
        View::Status,
        Paint { enabled: false },
        5_000,
        120,
    );
    let expected = "\
NAME    ROLE    STATE    PID   UPTIME  RESTARTS  HEALTH  PORT   CPU   MEM
main    main    running  4242  1h01m   1         -       18789  2.2%  150MiB
rescue  rescue  backoff  -     -       1         -       18789  -     -
rescue: next restart in 5s
rescue: 12 output lines dropped: logs/rescue.log in the state dir could not take them (a full disk?)
rescue: last error lines (pid 4242, exit code 1):
  Error: port in use
rejected /d/bad.yaml: port 18789 is also main's
";
    assert_eq!(text, expected);
    let painted = table(
        &[instance("main")],
        &[],
        View::Status,
        Paint { enabled: true },
        0,
        120,
    );
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
        "last exit    killed by SIGKILL, 1m00s ago",
        "ports        18789 (block 18789-18889)",
        "config       /c/openclaw.json",
        "declared in  /d/main.yaml",
        "readiness  failing, 4ms, 1m01s ago, 1 failures in a row, failing: discord",
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
        View::Status,
        Paint { enabled: false },
        52_500,
        120,
    );
    let expected = "\
NAME    ROLE    STATE                    PID   UPTIME  RESTARTS  HEALTH          PORT   CPU   MEM
main    main    stopping (draining 42s)  4242  1h01m   1         -               18789  2.2%  150MiB
rescue  rescue  running                  4242  1h01m   1         ready, breaker  18789  2.2%  150MiB
other   main    running                  4242  1h01m   1         -               18789  2.2%  150MiB
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
        "main (main): stopping (draining 7s)",
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
fn detail_shows_why_the_supervisor_last_restarted_the_gateway() {
    let mut status = instance("main");
    status.last_restart_reason = Some(String::from("memory 1.6 GiB above 1.5 GiB for 5m"));
    let text = detail(&status, Paint { enabled: false }, 8_999);
    let expected = "  restarted    memory 1.6 GiB above 1.5 GiB for 5m\n";
    assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    let quiet = detail(&instance("main"), Paint { enabled: false }, 8_999);
    assert!(!quiet.contains("restarted"), "{quiet}");
}

#[test]
fn detail_shows_the_last_rollback() {
    let mut status = instance("main");
    status.rolled_back = Some(openclaw_supervisor::protocol::RolledBack {
        at: 1_796_423_400_000,
        from: Some(String::from("/c/openclaw.json.20261204T223000Z.rejected")),
        reason: String::from("by operator"),
    });
    let text = detail(&status, Paint { enabled: false }, 8_999);
    let expected = "  rolled back  2026-12-04T22:30:00Z, by operator; the replaced config is kept as /c/openclaw.json.20261204T223000Z.rejected\n";
    assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    let quiet = detail(&instance("main"), Paint { enabled: false }, 8_999);
    assert!(!quiet.contains("rolled back"), "{quiet}");
}

#[test]
fn detail_says_how_the_processes_are_tracked() {
    use openclaw_supervisor::protocol::Tracking;
    let tracking = |mode: &str, cgroup: Option<&str>, reason: Option<&str>| Tracking {
        mode: mode.to_string(),
        cgroup: cgroup.map(str::to_string),
        reason: reason.map(str::to_string),
    };
    let rows = [
        (
            Some(tracking(
                "cgroup",
                Some("/sys/fs/cgroup/unified/x/main"),
                None,
            )),
            Some("tracking     cgroup /sys/fs/cgroup/unified/x/main"),
        ),
        (
            Some(tracking(
                "marker",
                None,
                Some("no cgroup v2 hierarchy is mounted"),
            )),
            Some("tracking     marker (no cgroup v2 hierarchy is mounted)"),
        ),
        (
            Some(tracking("jail", None, None)),
            Some("tracking     jail"),
        ),
        (None, None),
    ];
    for (given, expected) in rows {
        let mut status = instance("main");
        status.tracking = given;
        let text = detail(&status, Paint { enabled: false }, 8_999);
        match expected {
            Some(line) => assert!(text.contains(line), "missing {line:?} in\n{text}"),
            None => assert!(!text.contains("tracking"), "{text}"),
        }
    }
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

/// Instances with the longest cells a table meets: a 20-character name,
/// 7-digit pids, the drain, a readiness list, a breaker, a long last event.
fn crowded() -> Vec<InstanceStatus> {
    let mut main = instance("main-gateway-prod-eu1");
    main.pid = Some(4_194_303);
    main.uptime_secs = Some(3 * 86_400 + 7_200);
    main.cpu_percent = Some(187.5);
    main.memory_bytes = Some(1_300 * 1024 * 1024);
    main.restarts = 1234;
    main.probes.readiness = probe(false, &["discord", "slack", "telegram"]);
    main.last_event = Some(Event {
        at: 0,
        instance: Some(main.name.clone()),
        kind: EventKind::RescueTriggered,
        detail: String::new(),
        seq: None,
    });
    let mut rescue = instance("rescue-gateway-prod-e");
    rescue.role = Role::Rescue;
    rescue.state = String::from("stopping");
    rescue.stopping_since = Some(0);
    rescue.breaker = tripped();
    rescue.pid = Some(4_194_302);
    let mut standby = instance("standby");
    standby.state = String::from("standby");
    standby.pid = None;
    standby.last_error_lines = vec![String::from(
        "Error: gateway.port 18789 is already in use by another process on 127.0.0.1; stop it or pick another port",
    )];
    vec![main, rescue, standby]
}

#[test]
fn every_line_fits_80_and_120_columns_in_both_views() {
    let rejected = vec![RejectedFile {
        file: String::from("/etc/openclaw-supervisor/supervisor.d/a-rather-long-file-name.yaml"),
        reason: String::from("port 18789 is also main's; give one of them another `port:`"),
    }];
    for view in [View::Status, View::Watch] {
        for width in [80, 120] {
            let text = table(
                &crowded(),
                &rejected,
                view,
                Paint { enabled: false },
                315_000,
                width,
            );
            // The table's lines in both views; the notes too in the live view.
            let checked = match view {
                View::Status => 1 + crowded().len(),
                View::Watch => usize::MAX,
            };
            for line in text.lines().take(checked) {
                assert!(
                    line.chars().count() <= width,
                    "{view:?} at {width}: {} characters: {line}\n{text}",
                    line.chars().count()
                );
            }
            // Nothing is lost from the notes: wrapped or whole, never cut.
            let notes: String = text.lines().skip(4).collect::<Vec<_>>().join(" ");
            assert!(notes.contains("pick another port"), "{text}");
            assert!(notes.contains("another `port:`"), "{text}");
        }
    }
}

#[test]
fn a_narrow_terminal_gets_the_narrow_layout_and_a_wide_one_everything() {
    let at = |view, width| {
        table(
            &crowded(),
            &[],
            view,
            Paint { enabled: false },
            315_000,
            width,
        )
    };
    let wide = at(View::Status, 200);
    let titles: Vec<&str> = wide
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        titles,
        [
            "NAME", "ROLE", "STATE", "PID", "UPTIME", "RESTARTS", "HEALTH", "PORT", "CPU", "MEM"
        ],
        "{wide}"
    );
    assert!(wide.contains("stopping (draining 5m15s)"), "{wide}");
    assert!(wide.contains("  breaker  "), "{wide}");
    assert!(wide.contains("not ready: discord,slack,telegram"), "{wide}");
    // At 80: short titles, no PORT nor ROLE, long cells cut with an ellipsis.
    let status = at(View::Status, 80);
    let header = status.lines().next().unwrap_or_default();
    assert!(header.contains("RST"), "{status}");
    assert!(
        !header.contains("PORT") && !header.contains("ROLE"),
        "{status}"
    );
    assert!(status.contains('…'), "{status}");
    assert!(status.contains("main-gatewa…  running"), "{status}");
    let watch = at(View::Watch, 200);
    assert!(watch.contains("rescue_triggered 5m15s"), "{watch}");
    let narrow = at(View::Watch, 80);
    let header = narrow.lines().next().unwrap_or_default();
    assert!(header.starts_with("NAME"), "{narrow}");
    assert!(header.contains("LAST"), "{narrow}");
}

#[test]
fn a_stopped_standby_rescue_shows_its_state_not_standby() {
    let mut rescue = instance("rescue");
    rescue.role = Role::Rescue;
    rescue.standby = true;
    rescue.pid = None;
    rescue.state = String::from("stopped");
    let text = table(
        &[rescue.clone()],
        &[],
        View::Status,
        Paint { enabled: false },
        0,
        80,
    );
    assert!(text.contains("rescue  rescue  stopped"), "{text}");
    rescue.state = String::from("standby");
    let text = table(
        &[rescue],
        &[],
        View::Status,
        Paint { enabled: false },
        0,
        80,
    );
    assert!(text.contains("rescue  rescue  standby"), "{text}");
}
