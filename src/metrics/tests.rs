use openmetrics_parser::prometheus::parse_prometheus;
use openmetrics_parser::{PrometheusType, PrometheusValue};

use super::*;

fn running(name: &str) -> InstanceFigures {
    InstanceFigures {
        name: name.to_string(),
        state: String::from("running"),
        ready: true,
        restarts: 2,
        last_exit: Some(ExitFigures {
            code: Some(0),
            signal: None,
            at: 1_764_864_000.5,
        }),
        started_at: Some(1_764_864_001.25),
        cpu_seconds: Some(1.5),
        memory_bytes: Some(13_000_000),
        probes: vec![
            ProbeFigures {
                probe: "startup",
                ok: true,
                latency_seconds: 0.001,
            },
            ProbeFigures {
                probe: "readiness",
                ok: false,
                latency_seconds: 0.25,
            },
        ],
        dropped_log_lines: 3,
        supervisor_kills: 1,
    }
}

fn stopped(name: &str) -> InstanceFigures {
    InstanceFigures {
        name: name.to_string(),
        state: String::from("stopped"),
        ready: false,
        restarts: 0,
        last_exit: Some(ExitFigures {
            code: None,
            signal: Some(9),
            at: 1_764_864_000.0,
        }),
        started_at: None,
        cpu_seconds: None,
        memory_bytes: None,
        probes: Vec::new(),
        dropped_log_lines: 0,
        supervisor_kills: 0,
    }
}

fn supervisor() -> SupervisorFigures {
    SupervisorFigures {
        journal_dropped: 0,
        version: String::from("0.1.0"),
        rejected_files: 1,
        resident_memory_bytes: Some(8_192_000),
        cpu_seconds: Some(0.75),
        open_fds: Some(17),
        start_time: Some(1_764_863_000.0),
    }
}

fn figures(instances: Vec<InstanceFigures>) -> Figures {
    Figures {
        instances,
        supervisor: supervisor(),
    }
}

/// The sample lines of the exposition (comments left out).
fn samples(text: &str) -> Vec<&str> {
    text.lines().filter(|line| !line.starts_with('#')).collect()
}

/// Each row: what, the figures, lines that must be among the samples,
/// metric names (unprefixed) that must have no sample.
type Row = (
    &'static str,
    Figures,
    &'static [&'static str],
    &'static [&'static str],
);

#[test]
fn each_instance_has_its_series_and_a_stopped_one_no_live_figures() {
    let rows: Vec<Row> = vec![
        (
            "a running instance with probes",
            figures(vec![running("main")]),
            &[
                r#"openclaw_supervisor_instance_state{instance="main",state="running"} 1"#,
                r#"openclaw_supervisor_instance_state{instance="main",state="stopped"} 0"#,
                r#"openclaw_supervisor_instance_ready{instance="main"} 1"#,
                r#"openclaw_supervisor_instance_restarts_total{instance="main"} 2"#,
                r#"openclaw_supervisor_instance_last_exit_code{instance="main"} 0"#,
                r#"openclaw_supervisor_instance_last_exit_timestamp_seconds{instance="main"} 1764864000.5"#,
                r#"openclaw_supervisor_instance_start_time_seconds{instance="main"} 1764864001.25"#,
                r#"openclaw_supervisor_instance_cpu_seconds_total{instance="main"} 1.5"#,
                r#"openclaw_supervisor_instance_memory_bytes{instance="main"} 13000000"#,
                r#"openclaw_supervisor_instance_probe_latency_seconds{instance="main",probe="startup"} 0.001"#,
                r#"openclaw_supervisor_instance_probe_latency_seconds{instance="main",probe="readiness"} 0.25"#,
                r#"openclaw_supervisor_instance_probe_success{instance="main",probe="readiness"} 0"#,
                r#"openclaw_supervisor_instance_dropped_log_lines_total{instance="main"} 3"#,
                r#"openclaw_supervisor_instance_supervisor_kills_total{instance="main"} 1"#,
                r#"openclaw_supervisor_build_info{version="0.1.0"} 1"#,
                "openclaw_supervisor_instances 1",
                "openclaw_supervisor_rejected_files 1",
                "openclaw_supervisor_resident_memory_bytes 8192000",
                "openclaw_supervisor_cpu_seconds_total 0.75",
                "openclaw_supervisor_open_fds 17",
                "openclaw_supervisor_start_time_seconds 1764863000",
            ],
            &["instance_last_exit_signal"],
        ),
        (
            "a stopped instance killed by a signal: no pid, no live figures",
            figures(vec![stopped("rescue")]),
            &[
                r#"openclaw_supervisor_instance_state{instance="rescue",state="stopped"} 1"#,
                r#"openclaw_supervisor_instance_state{instance="rescue",state="running"} 0"#,
                r#"openclaw_supervisor_instance_ready{instance="rescue"} 0"#,
                r#"openclaw_supervisor_instance_last_exit_signal{instance="rescue"} 9"#,
                r#"openclaw_supervisor_instance_restarts_total{instance="rescue"} 0"#,
            ],
            &[
                "instance_last_exit_code",
                "instance_start_time_seconds",
                "instance_cpu_seconds_total",
                "instance_memory_bytes",
                "instance_probe_latency_seconds",
                "instance_probe_success",
            ],
        ),
        (
            "an instance with every probe off: ready while running, no probe series",
            figures(vec![InstanceFigures {
                probes: Vec::new(),
                ..running("quiet")
            }]),
            &[
                r#"openclaw_supervisor_instance_ready{instance="quiet"} 1"#,
                r#"openclaw_supervisor_instance_state{instance="quiet",state="running"} 1"#,
            ],
            &["instance_probe_latency_seconds", "instance_probe_success"],
        ),
        (
            "a state this renderer does not list gets its own series",
            figures(vec![InstanceFigures {
                state: String::from("hibernating"),
                ..stopped("odd")
            }]),
            &[
                r#"openclaw_supervisor_instance_state{instance="odd",state="hibernating"} 1"#,
                r#"openclaw_supervisor_instance_state{instance="odd",state="stopped"} 0"#,
            ],
            &[],
        ),
        (
            "no instance: the supervisor's own figures only",
            figures(Vec::new()),
            &["openclaw_supervisor_instances 0"],
            &[
                "instance_state",
                "instance_ready",
                "instance_restarts_total",
            ],
        ),
        (
            "own figures that could not be read are left out",
            Figures {
                instances: Vec::new(),
                supervisor: SupervisorFigures {
                    journal_dropped: 0,
                    version: String::from("0.1.0"),
                    ..SupervisorFigures::default()
                },
            },
            &["openclaw_supervisor_rejected_files 0"],
            &[
                "resident_memory_bytes",
                "cpu_seconds_total",
                "open_fds",
                "start_time_seconds",
            ],
        ),
    ];
    for (what, figures, present, absent) in rows {
        let text = render(&figures);
        let lines = samples(&text);
        for line in present {
            assert!(lines.contains(line), "{what}: no `{line}` in\n{text}");
        }
        for name in absent {
            let name = format!("{PREFIX}{name}");
            assert!(
                !lines
                    .iter()
                    .any(|line| line.split(['{', ' ']).next() == Some(name.as_str())),
                "{what}: `{name}` has a sample in\n{text}"
            );
        }
        parse_prometheus(&text).unwrap_or_else(|err| panic!("{what}: {err:?}\n{text}"));
    }
}

#[test]
fn every_family_has_help_and_type_once_and_counters_end_in_total() {
    let text = render(&figures(vec![running("main"), stopped("rescue")]));
    let mut seen = std::collections::BTreeSet::new();
    let lines: Vec<&str> = text.lines().collect();
    for (index, line) in lines.iter().enumerate() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let (name, kind) = rest.split_once(' ').expect("name and type");
        assert!(seen.insert(name), "{name} declared twice");
        assert!(name.starts_with(PREFIX), "{name}");
        assert_eq!(
            lines[index - 1].split(' ').nth(2),
            Some(name),
            "HELP right before TYPE of {name}"
        );
        assert_eq!(kind == "counter", name.ends_with("_total"), "{name} {kind}");
    }
    // The samples of a family follow its TYPE line, together.
    let exposition = parse_prometheus(&text).expect("parses");
    assert_eq!(exposition.families.len(), seen.len());
    let state = &exposition.families["openclaw_supervisor_instance_state"];
    assert_eq!(state.family_type, PrometheusType::Gauge);
    assert_eq!(state.iter_samples().count(), 2 * STATES.len());
    let restarts = &exposition.families["openclaw_supervisor_instance_restarts_total"];
    assert_eq!(restarts.family_type, PrometheusType::Counter);
    let values: Vec<f64> = restarts
        .iter_samples()
        .map(|sample| match &sample.value {
            PrometheusValue::Counter(counter) => counter.value.as_f64(),
            other => panic!("a counter's value: {other:?}"),
        })
        .collect();
    assert_eq!(values, vec![2.0, 0.0]);
}

#[test]
fn label_values_and_help_are_escaped() {
    let rows: &[(&str, &str)] = &[
        ("plain-1_a", "plain-1_a"),
        (r#"a"quote"#, r#"a\"quote"#),
        (r"back\slash", r"back\\slash"),
        ("line\nfeed", r"line\nfeed"),
        ("all \\ \" \n", r#"all \\ \" \n"#),
        ("unicode é ✓", "unicode é ✓"),
    ];
    for (value, expected) in rows {
        assert_eq!(escape_label_value(value), *expected, "{value:?}");
    }
    assert_eq!(escape_help("a\\b\nc \"q\""), "a\\\\b\\nc \"q\"");
    // The parser reads back what was escaped.
    let own = SupervisorFigures {
        journal_dropped: 0,
        version: String::from("1.0 \"odd\"\\\nbuild"),
        ..supervisor()
    };
    let text = render(&Figures {
        instances: Vec::new(),
        supervisor: own,
    });
    let exposition = parse_prometheus(&text).unwrap_or_else(|err| panic!("{err:?}\n{text}"));
    let build = &exposition.families["openclaw_supervisor_build_info"];
    let sample = build.iter_samples().next().expect("one sample");
    let labels = sample.get_labelset().expect("labels");
    assert_eq!(
        labels.get_label_value("version"),
        Some("1.0 \"odd\"\\\nbuild")
    );
}

#[test]
fn ready_means_running_and_readiness_passed_or_off() {
    use crate::lifecycle::StateName::{Running, Starting, Stopped, Stopping};
    let rows: &[(StateName, bool, Option<bool>, bool)] = &[
        (Running, true, Some(true), true),
        (Running, true, Some(false), false),
        (Running, true, None, false),
        (Running, false, None, true),
        (Starting, false, None, false),
        (Starting, true, Some(true), false),
        (Stopped, false, None, false),
        (Stopping, true, Some(true), false),
    ];
    for (state, enabled, last, expected) in rows {
        assert_eq!(
            is_ready(*state, *enabled, *last),
            *expected,
            "{state}, readiness on: {enabled}, last: {last:?}"
        );
    }
}

#[test]
fn numbers_are_spelled_as_the_format_wants() {
    let rows: &[(f64, &str)] = &[
        (0.0, "0"),
        (1.5, "1.5"),
        (1_764_864_000.0, "1764864000"),
        (0.000_001, "0.000001"),
        (f64::NAN, "NaN"),
        (f64::INFINITY, "+Inf"),
        (f64::NEG_INFINITY, "-Inf"),
    ];
    for (value, expected) in rows {
        assert_eq!(number(*value), *expected, "{value}");
    }
}

#[test]
fn a_metrics_address_is_a_port_on_loopback_or_an_address_with_a_port() {
    let rows: &[(&str, Option<&str>)] = &[
        ("9464", Some("127.0.0.1:9464")),
        ("127.0.0.1:9464", Some("127.0.0.1:9464")),
        ("localhost:9464", Some("127.0.0.1:9464")),
        ("[::1]:9464", Some("[::1]:9464")),
        ("0.0.0.0:9464", Some("0.0.0.0:9464")),
        ("192.0.2.7:80", Some("192.0.2.7:80")),
        ("", None),
        ("127.0.0.1", None),
        ("example:9464", None),
        ("70000", None),
        ("localhost:x", None),
    ];
    for (text, expected) in rows {
        let parsed = parse_listen_addr(text).ok().map(|addr| addr.to_string());
        assert_eq!(parsed.as_deref(), *expected, "{text:?}");
    }
    let err = parse_listen_addr("nope").expect_err("refused");
    assert!(err.to_string().contains("`nope`"), "{err}");
}

#[test]
fn every_lifecycle_state_has_its_series() {
    for state in crate::lifecycle::StateName::ALL {
        assert!(
            STATES.contains(&state.as_str()),
            "{state} has no instance_state series"
        );
    }
    assert_eq!(STATES.len(), crate::lifecycle::StateName::ALL.len());
}
