use std::fs;

use super::*;
use crate::control::Reply;
use crate::protocol::{Event, Response};

fn bus(dir: &Path, max_bytes: u64) -> EventBus {
    EventBus::start_with(dir, 4096, max_bytes).expect("the journal starts")
}

/// An event about `name` with no detail and no pid.
fn note(bus: &EventBus, name: &str, kind: EventKind) {
    bus.emit(Subject::Instance(name), kind, String::new(), None);
}

fn backlog(bus: &EventBus, filter: &Filter) -> Vec<u64> {
    bus.journal()
        .backlog(filter)
        .expect("the journal reads")
        .events
        .iter()
        .filter_map(|event| event.seq)
        .collect()
}

#[test]
fn rotation_keeps_the_journal_within_two_files_of_the_bound() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bound = 2_000;
    let bus = bus(dir.path(), bound);
    for index in 0..300 {
        bus.emit(
            Subject::Instance("main"),
            EventKind::Spawned,
            format!("pid {index}"),
            Some(index),
        );
    }
    assert!(
        bus.journal().flush(Duration::from_secs(30)),
        "the writer caught up"
    );
    let size = |name: &str| fs::metadata(dir.path().join(name)).map(|m| m.len());
    let current = size(FILE_NAME).expect("the current file");
    let rotated = size(ROTATED_NAME).expect("a rotated file");
    assert!(current <= bound, "{current} > {bound}");
    assert!(rotated <= bound, "{rotated} > {bound}");
    assert!(!dir.path().join("events.jsonl.2").exists());
    // What is kept is the newest events, in order, none missing among them.
    let seqs = backlog(&bus, &Filter::default());
    assert_eq!(seqs.last(), Some(&300));
    assert!(seqs.len() < 300, "older events were rotated away");
    let expected: Vec<u64> = (301 - seqs.len() as u64..=300).collect();
    assert_eq!(seqs, expected);
    assert_eq!(bus.journal().dropped(), 0);
    for name in [FILE_NAME, ROTATED_NAME] {
        let mode = fs::metadata(dir.path().join(name))
            .expect("stat")
            .permissions();
        let mode = std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777;
        assert_eq!(mode, 0o600, "{name} is for the supervisor's user only");
    }
}

#[test]
fn the_numbers_and_the_backlog_go_on_across_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let first = bus(dir.path(), MAX_BYTES);
        first.emit(
            Subject::Instance("main"),
            EventKind::Spawned,
            "pid 1".into(),
            Some(1),
        );
        first.emit(
            Subject::Instance("main"),
            EventKind::Exited,
            "exit code 1".into(),
            Some(1),
        );
        assert!(first.journal().flush(Duration::from_secs(30)));
    }
    let second = bus(dir.path(), MAX_BYTES);
    let mut live = second.subscribe();
    second.emit(
        Subject::Instance("main"),
        EventKind::Spawned,
        "pid 2".into(),
        Some(2),
    );
    assert_eq!(live.try_recv().expect("sent live").seq, 3);
    assert_eq!(backlog(&second, &Filter::default()), vec![1, 2, 3]);
    let lines = Filter {
        lines: Some(2),
        ..Filter::default()
    };
    assert_eq!(backlog(&second, &lines), vec![2, 3]);
}

#[test]
fn a_torn_last_line_is_sealed_and_skipped() {
    let dir = tempfile::tempdir().expect("temp dir");
    let whole = r#"{"at":1,"instance":"main","kind":"spawned","detail":"pid 7","seq":1}"#;
    let torn = r#"{"at":2,"instance":"main","kind":"exi"#;
    fs::write(dir.path().join(FILE_NAME), format!("{whole}\n{torn}")).expect("write");
    let bus = bus(dir.path(), MAX_BYTES);
    bus.emit(
        Subject::Instance("main"),
        EventKind::Spawned,
        "pid 8".into(),
        Some(8),
    );
    assert_eq!(backlog(&bus, &Filter::default()), vec![1, 2]);
    let text = fs::read_to_string(dir.path().join(FILE_NAME)).expect("read");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(lines[1], torn, "the torn line stays a line of its own");
}

#[test]
fn an_unwritable_state_dir_drops_journal_lines_but_not_events() {
    let dir = tempfile::tempdir().expect("temp dir");
    // A file where the dir should be: nothing can be created below it.
    let blocked = dir.path().join("not-a-dir");
    fs::write(&blocked, "x").expect("write");
    let bus = bus(&blocked, MAX_BYTES);
    let mut live = bus.subscribe();
    for _ in 0..3 {
        note(&bus, "main", EventKind::Stopped);
    }
    assert!(bus.journal().flush(Duration::from_secs(30)));
    assert_eq!(bus.journal().dropped(), 3);
    let seqs: Vec<u64> = (0..3)
        .map(|_| live.try_recv().expect("sent live").seq)
        .collect();
    assert_eq!(seqs, vec![1, 2, 3]);
    assert!(bus.journal().backlog(&Filter::default()).is_err());
}

async fn next_event(stream: &mut tokio::sync::mpsc::Receiver<Response>) -> Option<Event> {
    match tokio::time::timeout(Duration::from_secs(30), stream.recv()).await {
        Ok(Some(Response::Event(event))) => Some(event),
        Ok(None) => None,
        other => panic!("not an event: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_after_the_backlog_has_no_gap_and_no_duplicate() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bus = bus(dir.path(), MAX_BYTES);
    for _ in 0..50 {
        note(&bus, "main", EventKind::ProbeChanged);
    }
    // Events keep coming while the follower subscribes and reads.
    let emitter = {
        let bus = bus.clone();
        std::thread::spawn(move || {
            for _ in 0..500 {
                note(&bus, "main", EventKind::ProbeChanged);
            }
        })
    };
    let Reply::Stream(mut stream) = events_reply(bus.clone(), Filter::default(), true, true).await
    else {
        panic!("a stream");
    };
    emitter.join().expect("the emitter ends");
    let mut seqs = Vec::new();
    let mut subscribed = 0;
    // The subscription's line comes after the backlog: after event 550 too
    // when all of them were journaled before the backlog was read.
    while seqs.last() != Some(&550) || subscribed == 0 {
        let event = next_event(&mut stream).await.expect("the stream goes on");
        match event.kind {
            EventKind::Subscribed => subscribed += 1,
            _ => seqs.push(event.seq.expect("numbered")),
        }
    }
    let expected: Vec<u64> = (1..=550).collect();
    assert_eq!(seqs, expected);
    assert_eq!(subscribed, 1, "the live part begins once");
}

#[tokio::test]
async fn a_backlog_without_follow_ends_and_filters_the_live_part_too() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bus = bus(dir.path(), MAX_BYTES);
    bus.emit(
        Subject::Instance("main"),
        EventKind::Spawned,
        "pid 1".into(),
        Some(1),
    );
    bus.emit(
        Subject::Instance("rescue"),
        EventKind::Spawned,
        "pid 2".into(),
        Some(2),
    );
    bus.emit(
        Subject::Supervisor,
        EventKind::Reloaded,
        "nothing changed".into(),
        None,
    );
    let main_only = Filter {
        name: Some("main".into()),
        ..Filter::default()
    };
    let Reply::Stream(mut stream) = events_reply(bus.clone(), main_only.clone(), true, false).await
    else {
        panic!("a stream");
    };
    assert_eq!(next_event(&mut stream).await.and_then(|e| e.seq), Some(1));
    assert!(next_event(&mut stream).await.is_none(), "the backlog ends");
    let Reply::Stream(mut stream) = events_reply(bus.clone(), main_only, true, true).await else {
        panic!("a stream");
    };
    assert_eq!(next_event(&mut stream).await.and_then(|e| e.seq), Some(1));
    assert_subscribed(next_event(&mut stream).await);
    note(&bus, "rescue", EventKind::Stopped);
    note(&bus, "main", EventKind::Stopped);
    let live = next_event(&mut stream).await.expect("a live event");
    assert_eq!(
        (live.instance.as_deref(), live.seq),
        (Some("main"), Some(5))
    );
}

#[tokio::test]
async fn bare_events_is_the_live_stream_alone() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bus = bus(dir.path(), MAX_BYTES);
    bus.emit(
        Subject::Instance("main"),
        EventKind::Spawned,
        "pid 1".into(),
        Some(1),
    );
    let Reply::Stream(mut stream) =
        events_reply(bus.clone(), Filter::default(), false, false).await
    else {
        panic!("a stream");
    };
    note(&bus, "main", EventKind::Stopped);
    assert_subscribed(next_event(&mut stream).await);
    assert_eq!(next_event(&mut stream).await.and_then(|e| e.seq), Some(2));
}

/// The stream's own first live line: no instance, no number.
fn assert_subscribed(event: Option<Event>) {
    let event = event.expect("the subscription's line");
    assert_eq!(
        (event.kind, event.instance, event.seq, event.detail.as_str()),
        (EventKind::Subscribed, None, None, "live events follow")
    );
}

#[test]
fn a_full_disk_drops_journal_lines_and_a_device_is_not_read() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Every write to /dev/full fails with ENOSPC; reading it never ends.
    std::os::unix::fs::symlink("/dev/full", dir.path().join(FILE_NAME)).expect("symlink");
    let bus = bus(dir.path(), MAX_BYTES);
    let mut live = bus.subscribe();
    note(&bus, "main", EventKind::Stopped);
    note(&bus, "main", EventKind::Stopped);
    assert!(bus.journal().flush(Duration::from_secs(30)));
    assert_eq!(bus.journal().dropped(), 2);
    assert_eq!(live.try_recv().expect("sent live").seq, 1);
    let err = bus
        .journal()
        .backlog(&Filter::default())
        .expect_err("a device is no journal");
    assert!(err.to_string().contains("not a regular file"), "{err}");
}

#[test]
fn each_instance_keeps_its_last_event_and_supervisor_events_none() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bus = bus(dir.path(), 1 << 20);
    let mut follower = bus.subscribe();
    for (subject, kind) in [
        (Subject::Instance("main"), EventKind::Spawned),
        (Subject::Instance("rescue"), EventKind::Standby),
        (Subject::Instance("main"), EventKind::Stopped),
        (Subject::Supervisor, EventKind::Reloaded),
    ] {
        bus.emit(subject, kind, String::new(), None);
    }
    let kind = |name: &str| bus.last_event(name).map(|record| record.kind);
    assert_eq!(kind("main"), Some(EventKind::Stopped));
    assert_eq!(kind("rescue"), Some(EventKind::Standby));
    assert_eq!(kind("-"), None);
    assert_eq!(kind(""), None);
    assert_eq!(kind("other"), None);
    assert_eq!(
        follower.try_recv().map(|record| record.kind),
        Ok(EventKind::Spawned)
    );
}

#[test]
fn a_journal_line_names_the_supervisor_as_null_and_the_kind_by_its_wire_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bus = bus(dir.path(), MAX_BYTES);
    bus.emit(
        Subject::Supervisor,
        EventKind::Reloaded,
        "added: b".into(),
        None,
    );
    bus.emit(
        Subject::Instance("b"),
        EventKind::RescueTriggered,
        "main exited (exit code 1); started from standby".into(),
        Some(7),
    );
    assert!(bus.journal().flush(Duration::from_secs(30)));
    let text = fs::read_to_string(dir.path().join(FILE_NAME)).expect("the journal");
    // Each line as written, but for its time.
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            let (at, rest) = line
                .strip_prefix(r#"{"at":"#)
                .and_then(|rest| rest.split_once(','))
                .expect("a line begins with its time");
            assert!(at.parse::<u64>().is_ok(), "{line}");
            rest.to_string()
        })
        .collect();
    assert_eq!(
        lines,
        [
            r#""instance":null,"kind":"reloaded","detail":"added: b","seq":1}"#,
            r#""instance":"b","kind":"rescue_triggered","detail":"main exited (exit code 1); started from standby","seq":2}"#,
        ]
    );
}
