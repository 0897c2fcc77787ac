use super::*;

fn wall(ms: u64) -> SystemTime {
    from_unix_ms(ms)
}

#[test]
fn a_state_is_saved_in_wall_clock_time() {
    let now = Instant::now() + Duration::from_secs(3600);
    let at = wall(1_000_000);
    let rows: Vec<(State, Result<SavedLifecycle, Busy>)> = vec![
        (State::Stopped, Ok(SavedLifecycle::Stopped)),
        (State::Standby, Ok(SavedLifecycle::Standby)),
        (
            State::Starting {
                since: now - Duration::from_millis(1500),
            },
            Ok(SavedLifecycle::Starting { since_ms: 998_500 }),
        ),
        (
            State::Running {
                since: now - Duration::from_secs(60),
            },
            Ok(SavedLifecycle::Running { since_ms: 940_000 }),
        ),
        (
            State::Backoff {
                until: now + Duration::from_secs(4),
            },
            Ok(SavedLifecycle::Backoff {
                until_ms: 1_004_000,
            }),
        ),
        (
            State::Failed {
                reason: FailReason::ConfigError,
            },
            Ok(SavedLifecycle::Failed {
                reason: SavedFail::ConfigError,
            }),
        ),
        (
            State::Failed {
                reason: FailReason::Exited(ExitKind::Signal(9)),
            },
            Ok(SavedLifecycle::Failed {
                reason: SavedFail::Exited {
                    exit: SavedExit::Signal(9),
                },
            }),
        ),
        (
            State::Stopping {
                since: now,
                then: crate::lifecycle::Then::Stop,
            },
            Err(Busy),
        ),
    ];
    for (state, expected) in rows {
        assert_eq!(
            SavedLifecycle::from_state(state, now, at),
            expected,
            "{state:?}"
        );
    }
}

#[test]
fn a_saved_state_comes_back_in_monotonic_time() {
    let now = Instant::now() + Duration::from_secs(3600);
    let at = wall(1_000_000);
    let rows: Vec<(SavedLifecycle, State)> = vec![
        (SavedLifecycle::Stopped, State::Stopped),
        (SavedLifecycle::Standby, State::Standby),
        (
            SavedLifecycle::Running { since_ms: 940_000 },
            State::Running {
                since: now - Duration::from_secs(60),
            },
        ),
        (
            SavedLifecycle::Starting { since_ms: 999_000 },
            State::Starting {
                since: now - Duration::from_secs(1),
            },
        ),
        // A backoff still ahead keeps its time...
        (
            SavedLifecycle::Backoff {
                until_ms: 1_004_000,
            },
            State::Backoff {
                until: now + Duration::from_secs(4),
            },
        ),
        // ...one whose time passed during the exec is due now.
        (
            SavedLifecycle::Backoff { until_ms: 990_000 },
            State::Backoff { until: now },
        ),
        (
            SavedLifecycle::Failed {
                reason: SavedFail::Exited {
                    exit: SavedExit::Code(3),
                },
            },
            State::Failed {
                reason: FailReason::Exited(ExitKind::Code(3)),
            },
        ),
        (
            SavedLifecycle::Failed {
                reason: SavedFail::ConfigError,
            },
            State::Failed {
                reason: FailReason::ConfigError,
            },
        ),
    ];
    for (saved, expected) in rows {
        assert_eq!(saved.to_state(now, at), expected, "{saved:?}");
    }
}

#[test]
fn a_time_before_the_monotonic_origin_is_now() {
    let now = Instant::now();
    let state = SavedLifecycle::Running { since_ms: 0 }.to_state(now, wall(u64::MAX / 4));
    assert!(matches!(state, State::Running { since } if since <= now));
}

fn sample() -> SavedState {
    let mut instances = BTreeMap::new();
    instances.insert(
        "main".to_string(),
        SavedInstance {
            state: SavedLifecycle::Backoff { until_ms: 5 },
            failures: 3,
            restarts: 7,
            last_exit: Some(SavedExit::Code(1)),
            spawned_at_ms: Some(1),
            last_exit_at_ms: Some(2),
            last_error: Some("exit code 1".to_string()),
            error_lines: vec!["boom".to_string()],
            kills_ms: vec![4],
            kills_total: 1,
            last_restart_reason: None,
            liveness_failures: 2,
        },
    );
    SavedState {
        format: FORMAT,
        version: "0.1.0".to_string(),
        written_at_ms: 10,
        instances,
    }
}

#[test]
fn a_written_state_reads_back_whole() {
    let state = sample();
    assert_eq!(read(&write(&state)), Ok(state));
}

#[test]
fn read_refuses_newer_formats_and_garbage() {
    let newer = br#"{"format":999,"something":"else"}"#;
    let rows: Vec<(&[u8], &str)> = vec![
        (newer, "format 999"),
        (b"{\"format\":0}", "format 0"),
        (b"not json", "cannot be read"),
        (b"{\"format\":1}", "cannot be read"),
        (b"", "cannot be read"),
    ];
    for (bytes, expected) in rows {
        let err = read(bytes).expect_err("refused");
        assert!(
            err.to_string().contains(expected),
            "{}: {err}",
            String::from_utf8_lossy(bytes)
        );
    }
    assert!(matches!(
        read(newer),
        Err(ReadError::NewerFormat { found: 999, .. })
    ));
}

#[test]
fn the_handed_over_variables_are_taken_out_whatever_they_say() {
    let full = [
        (STATE_VAR, "/s/run/reexec.json"),
        (LISTEN_FD_VAR, "5"),
        (LOCK_FD_VAR, "4"),
    ];
    type Row<'a> = (Vec<(&'a str, &'a str)>, Result<Option<HandedOver>, &'a str>);
    let rows: Vec<Row> = vec![
        (vec![], Ok(None)),
        (
            full.to_vec(),
            Ok(Some(HandedOver {
                state_file: "/s/run/reexec.json".into(),
                listen_fd: 5,
                lock_fd: 4,
            })),
        ),
        (full[..2].to_vec(), Err("only some are set")),
        (
            vec![full[0], (LISTEN_FD_VAR, "x"), full[2]],
            Err("is not a descriptor"),
        ),
        (
            vec![full[0], full[1], (LOCK_FD_VAR, "1")],
            Err("is not a descriptor"),
        ),
    ];
    for (vars, expected) in rows {
        let mut env: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        env.insert("HOME".to_string(), "/h".to_string());
        let got = take_handed_over(&mut env);
        match expected {
            Ok(expected) => assert_eq!(got, Ok(expected), "{vars:?}"),
            Err(words) => assert!(
                got.as_ref().is_err_and(|why| why.contains(words)),
                "{vars:?}: {got:?}"
            ),
        }
        assert_eq!(env.keys().collect::<Vec<_>>(), vec!["HOME"], "{vars:?}");
    }
}

#[test]
fn only_the_state_file_a_reexec_writes_is_accepted() {
    let state_dir = std::path::Path::new("/var/lib/sup");
    let expected = state_file(state_dir);
    assert_eq!(
        expected,
        std::path::Path::new("/var/lib/sup/run/.reexec.json")
    );
    let handed = |file: &str| HandedOver {
        state_file: file.into(),
        listen_fd: 10,
        lock_fd: 11,
    };
    assert_eq!(
        accept(handed("/var/lib/sup/run/.reexec.json"), &expected),
        Ok(handed("/var/lib/sup/run/.reexec.json"))
    );
    for elsewhere in [
        "/home/someone/precious.json",
        "/var/lib/sup/run/reexec.json",
        "/var/lib/sup/run/../run/.reexec.json",
        "run/.reexec.json",
    ] {
        let refused = accept(handed(elsewhere), &expected);
        assert!(
            refused.as_ref().is_err_and(|why| why.contains(elsewhere)),
            "{elsewhere}: {refused:?}"
        );
    }
}

#[test]
fn the_state_file_is_no_instance_name() {
    // An instance's pid record is `run/<name>.json`.
    let stem = STATE_FILE.trim_end_matches(".json");
    assert!(!crate::declaration::is_valid_name(stem), "{stem}");
    assert!(STATE_FILE.starts_with('.'));
}
