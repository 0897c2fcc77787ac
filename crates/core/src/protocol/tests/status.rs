//! The status document: every field documented, and a status from a daemon
//! older than a field still decoding.

use super::super::*;

/// A status with every field set (none at its empty value).
pub(super) fn status_fixture() -> InstanceStatus {
    InstanceStatus {
        name: String::from("main"),
        role: Role::Main,
        state: String::from("running"),
        pid: Some(4242),
        uptime_secs: Some(3600),
        spawned_at: None,
        probes_off: vec![],
        restarts: 2,
        last_exit: Some(LastExit {
            code: None,
            signal: Some(String::from("SIGKILL")),
            at: 1_760_000_000_000,
        }),
        probes: Probes {
            startup: None,
            liveness: Some(ProbeStatus {
                ok: true,
                at: 1_760_000_001_000,
                latency_ms: 3,
                consecutive_failures: 0,
                failing: vec![],
                detail: None,
            }),
            readiness: Some(ProbeStatus {
                ok: false,
                at: 1_760_000_001_000,
                latency_ms: 12,
                consecutive_failures: 4,
                failing: vec![String::from("discord")],
                detail: Some(String::from("status 503")),
            }),
        },
        next_restart_at: None,
        ports: Ports {
            base: 18789,
            block_start: 18789,
            block_end: 18889,
            explicit: vec![ExplicitPort {
                key: String::from("browser.cdpUrl"),
                port: 9222,
            }],
        },
        paths: Paths {
            config: String::from("/home/a/.openclaw/openclaw.json"),
            state_dir: String::from("/home/a/.openclaw"),
            workspace: String::from("/home/a/.openclaw/workspace"),
            log_file: String::from("/tmp/openclaw/openclaw.log"),
        },
        declaration_file: String::from("/etc/supervisor.d/main.yaml"),
        cpu_percent: Some(1.5),
        memory_bytes: Some(123_456_789),
        last_error_lines: vec![],
        last_error_from: None,
        standby: false,
        rescue_of: None,
        dropped_log_lines: 0,
        stopping_since: Some(1_760_000_002_000),
        breaker: Some(Breaker {
            since: 1_760_000_000_500,
            unclean_boots: Some(3),
            detail: String::from(
                "gateway restart-loop breaker tripped: 3 unclean boot(s) within 300000ms; suppressing channel/provider account auto-start",
            ),
        }),
        supervisor_kills: 1,
        last_event: Some(Event {
            at: 1_760_000_002_000,
            instance: Some(String::from("main")),
            kind: EventKind::Command,
            detail: String::from("stop by operator"),
            seq: None,
        }),
        last_restart_reason: Some(String::from("memory 1.6 GiB above 1.5 GiB for 5m")),
        tracking: Some(Tracking {
            mode: String::from("cgroup"),
            cgroup: Some(String::from(
                "/sys/fs/cgroup/unified/openclaw-supervisor.0123456789ab/main",
            )),
            reason: None,
        }),
        limits: vec![
            Limit {
                key: String::from("memory"),
                value: String::from("2 GiB (high 1.8 GiB)"),
                applied: false,
                reason: Some(String::from(
                    "the memory controller is not available: the host keeps it on cgroup v1",
                )),
            },
            Limit {
                key: String::from("pids"),
                value: String::from("512"),
                applied: true,
                reason: None,
            },
        ],
        wake: Some(WakeStatus {
            at: 1_760_000_003_000,
            endpoint: String::from("/hooks/agent"),
            message: String::from("failure"),
            http_status: Some(200),
            ok: true,
            outcome: String::from("200 ok"),
            tries: 1,
        }),
        last_notify: Some(LastNotify {
            at: 1_760_000_003_000,
            notify: String::from("failed"),
            instance: String::from("main"),
            suppressed: 2,
            ok: false,
            error: Some(String::from("exit code 1: topic not found")),
        }),
        rolled_back: Some(RolledBack {
            at: 1_760_000_003_000,
            from: Some(String::from("/c/openclaw.json.20251009T090003Z.rejected")),
            reason: String::from("by operator"),
        }),
        adoption: Some(AdoptionStatus::Adopted {
            at: 1_760_000_000_200,
            pid: 4242,
        }),
    }
}

#[test]
fn instance_status_carries_every_documented_field() {
    let value = serde_json::to_value(status_fixture()).expect("serialises");
    let object = value.as_object().expect("an object");
    for field in FIRST_FIELDS.iter().chain(&LATER_FIELDS) {
        assert!(object.contains_key(*field), "missing {field}");
    }
    assert_eq!(
        object.len(),
        FIRST_FIELDS.len() + LATER_FIELDS.len(),
        "no undocumented field: {value}"
    );
    assert_eq!(value["probes"]["readiness"]["failing"][0], "discord");
    assert_eq!(value["breaker"]["unclean_boots"], 3);
    assert_eq!(value["stopping_since"], 1_760_000_002_000u64);
    assert_eq!(value["last_event"]["kind"], "command");
    assert_eq!(
        value["last_restart_reason"],
        "memory 1.6 GiB above 1.5 GiB for 5m"
    );
    assert_eq!(value["tracking"]["mode"], "cgroup");
    assert_eq!(value["limits"][0]["applied"], false);
    assert_eq!(value["limits"][1]["key"], "pids");
    assert_eq!(value["wake"]["http_status"], 200);
    assert_eq!(value["wake"]["ok"], true);
    assert_eq!(value["last_notify"]["suppressed"], 2);
    assert_eq!(value["last_notify"]["ok"], false);
    assert_eq!(value["rolled_back"]["reason"], "by operator");
    assert_eq!(value["adoption"]["kind"], "adopted");
    assert_eq!(value["adoption"]["pid"], 4242);
}

/// The fields of the first daemons' status.
const FIRST_FIELDS: [&str; 19] = [
    "name",
    "role",
    "state",
    "pid",
    "uptime_secs",
    "restarts",
    "last_exit",
    "probes",
    "next_restart_at",
    "ports",
    "paths",
    "declaration_file",
    "cpu_percent",
    "memory_bytes",
    "last_error_lines",
    "last_error_from",
    "standby",
    "rescue_of",
    "dropped_log_lines",
];

/// The fields added after the first daemons: a client must accept a status
/// without each of them.
const LATER_FIELDS: [&str; 13] = [
    "spawned_at",
    "probes_off",
    "stopping_since",
    "breaker",
    "supervisor_kills",
    "last_event",
    "last_restart_reason",
    "tracking",
    "limits",
    "wake",
    "last_notify",
    "rolled_back",
    "adoption",
];

#[test]
fn a_status_of_an_older_daemon_decodes_without_each_later_field() {
    let full = serde_json::to_value(InstanceStatus {
        spawned_at: Some(1_759_999_990_000),
        probes_off: vec![String::from("readiness")],
        supervisor_kills: 2,
        ..status_fixture()
    })
    .expect("serialises");
    let empty = serde_json::to_value(InstanceStatus::default()).expect("serialises");
    for field in LATER_FIELDS {
        assert_ne!(full[field], empty[field], "the fixture sets {field}");
        let mut value = full.clone();
        value.as_object_mut().expect("an object").remove(field);
        let status: InstanceStatus = serde_json::from_value(value)
            .unwrap_or_else(|err| panic!("decodes without {field}: {err}"));
        let decoded = serde_json::to_value(status).expect("serialises");
        assert_eq!(decoded[field], empty[field], "{field} is empty when absent");
    }
}

#[test]
fn each_adoption_kind_round_trips_and_an_unknown_one_is_other() {
    let rows = [
        (
            AdoptionStatus::Adopted {
                at: 1_760_000_000_200,
                pid: 1234,
            },
            r#"{"kind":"adopted","at":1760000000200,"pid":1234}"#,
        ),
        (AdoptionStatus::NoRecord, r#"{"kind":"no_record"}"#),
        (
            AdoptionStatus::RecordDidNotMatch {
                reason: String::from("its keeper is gone"),
            },
            r#"{"kind":"record_did_not_match","reason":"its keeper is gone"}"#,
        ),
    ];
    for (adoption, json) in rows {
        assert_eq!(serde_json::to_string(&adoption).expect("serialises"), json);
        let back: AdoptionStatus = serde_json::from_str(json).expect("decodes");
        assert_eq!(back, adoption);
    }
    let newer: AdoptionStatus =
        serde_json::from_str(r#"{"kind":"handed_over","by":"systemd"}"#).expect("decodes");
    assert_eq!(newer, AdoptionStatus::Other);
    let mut status = serde_json::to_value(status_fixture()).expect("serialises");
    status["adoption"] = serde_json::json!({"kind": "handed_over"});
    let decoded: InstanceStatus = serde_json::from_value(status).expect("decodes");
    assert_eq!(decoded.adoption, Some(AdoptionStatus::Other));
}

#[test]
fn a_notify_message_is_the_events_line_with_three_fields_more() {
    let event = Event {
        at: 1_760_000_002_000,
        instance: Some(String::from("main")),
        kind: EventKind::Exited,
        detail: String::from("killed by SIGKILL"),
        seq: Some(42),
    };
    let message = NotifyMessage {
        event: event.clone(),
        notify: String::from("failed"),
        notify_of: String::from("main"),
        suppressed: 0,
    };
    let mut expected = serde_json::to_value(&event).expect("serialises");
    let object = expected.as_object_mut().expect("an object");
    object.insert("notify".into(), "failed".into());
    object.insert("notify_of".into(), "main".into());
    object.insert("suppressed".into(), 0.into());
    let value = serde_json::to_value(&message).expect("serialises");
    assert_eq!(value, expected);
    let back: NotifyMessage = serde_json::from_value(value).expect("decodes");
    assert_eq!(back, message);
}
