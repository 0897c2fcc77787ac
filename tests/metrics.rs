//! Metrics with the real binary over simulated gateways: `metrics` and the
//! `--metrics` listener serve an exposition a real parser reads, with each
//! instance's state and restarts, and no secret.
#![allow(clippy::disallowed_methods)] // A test starts the programs it tests.

mod daemon_support;

use std::collections::BTreeSet;
use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use daemon_support::{Daemon, crash, wait_for, write_sim_config};
use openmetrics_parser::prometheus::parse_prometheus;
use openmetrics_parser::{MetricsExposition, PrometheusType, PrometheusValue};

type Exposition = MetricsExposition<PrometheusType, PrometheusValue>;

fn parse(what: &str, text: &str) -> Exposition {
    parse_prometheus(text)
        .unwrap_or_else(|err| panic!("{what} is not a valid exposition ({err:?}):\n{text}"))
}

/// `metrics` through the control socket: its text, parsed.
fn metrics_command(daemon: &Daemon) -> (String, Exposition) {
    let output = daemon.client(&["metrics"]);
    assert!(
        output.status.success(),
        "metrics failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).expect("UTF-8");
    let exposition = parse("`metrics`", &text);
    (text, exposition)
}

/// The value of the sample of `family` whose labels include `labels`.
fn value(exposition: &Exposition, family: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let family = exposition.families.get(family)?;
    family.iter_samples().find_map(|sample| {
        let set = sample.get_labelset().ok()?;
        labels
            .iter()
            .all(|(name, want)| set.get_label_value(name) == Some(*want))
            .then(|| match &sample.value {
                PrometheusValue::Counter(counter) => counter.value.as_f64(),
                PrometheusValue::Gauge(gauge) => gauge.as_f64(),
                PrometheusValue::Unknown(number) => number.as_f64(),
                other => panic!("an unexpected value: {other:?}"),
            })
    })
}

fn families(exposition: &Exposition) -> BTreeSet<String> {
    exposition.families.keys().cloned().collect()
}

/// One HTTP/1.1 GET over loopback: the status, the head and the body.
fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    let mut stream =
        TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect to the listener");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send the request");
    let mut text = String::new();
    stream.read_to_string(&mut text).expect("read the reply");
    let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    (status, head.to_string(), body.to_string())
}

const INSTANCE_FAMILIES: &[&str] = &[
    "openclaw_supervisor_instance_state",
    "openclaw_supervisor_instance_ready",
    "openclaw_supervisor_instance_restarts_total",
    "openclaw_supervisor_instance_start_time_seconds",
    "openclaw_supervisor_instance_cpu_seconds_total",
    "openclaw_supervisor_instance_memory_bytes",
    "openclaw_supervisor_instance_probe_latency_seconds",
    "openclaw_supervisor_instance_dropped_log_lines_total",
    "openclaw_supervisor_instance_supervisor_kills_total",
    "openclaw_supervisor_build_info",
    "openclaw_supervisor_instances",
    "openclaw_supervisor_resident_memory_bytes",
    "openclaw_supervisor_cpu_seconds_total",
    "openclaw_supervisor_open_fds",
    "openclaw_supervisor_start_time_seconds",
];

#[test]
fn metrics_and_the_listener_show_each_instance_and_restarts_grow_after_a_crash() {
    const ENV_SECRET: &str = "s3cr3t-env-value";
    const CONFIG_SECRET: &str = "tok-metrics-xyz";
    let (mut daemon, port) = Daemon::prepare(&[
        (
            "main",
            &format!("env: {{ OPENCLAW_GATEWAY_TOKEN_TEST: \"{ENV_SECRET}\" }}"),
        ),
        ("second", ""),
    ]);
    write_sim_config(
        daemon.path(),
        "main",
        port,
        &format!("auth: {{ token: \"{CONFIG_SECRET}\" }}"),
    );
    // The third port block of this test is free: the listener's.
    let listen = SocketAddr::from(([127, 0, 0, 1], port + 2000));
    let listen_arg = listen.to_string();
    daemon.start_with_options(&["--metrics", &listen_arg]);
    daemon.wait_state("main", "running");
    daemon.wait_state("second", "running");

    let (_, before) = metrics_command(&daemon);
    for name in ["main", "second"] {
        assert_eq!(
            value(
                &before,
                "openclaw_supervisor_instance_state",
                &[("instance", name), ("state", "running")]
            ),
            Some(1.0),
            "{name} is running"
        );
        assert_eq!(
            value(
                &before,
                "openclaw_supervisor_instance_state",
                &[("instance", name), ("state", "stopped")]
            ),
            Some(0.0),
            "{name} is not stopped"
        );
        assert_eq!(
            value(
                &before,
                "openclaw_supervisor_instance_restarts_total",
                &[("instance", name)]
            ),
            Some(0.0),
            "{name} has not restarted"
        );
    }
    assert_eq!(
        value(&before, "openclaw_supervisor_instances", &[]),
        Some(2.0)
    );
    assert_eq!(
        value(
            &before,
            "openclaw_supervisor_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        Some(1.0)
    );

    // A crash: main is restarted, and the counter says so.
    let old_pid = daemon.instance_pid("main");
    crash(port, 3);
    daemon.wait_new_pid("main", old_pid);
    daemon.wait_state("main", "running");
    let (text, after) = metrics_command(&daemon);
    let restarts = |exposition: &Exposition, name: &str| {
        value(
            exposition,
            "openclaw_supervisor_instance_restarts_total",
            &[("instance", name)],
        )
    };
    assert_eq!(restarts(&after, "main"), Some(1.0), "{text}");
    assert_eq!(restarts(&after, "second"), Some(0.0), "{text}");
    assert_eq!(
        value(
            &after,
            "openclaw_supervisor_instance_last_exit_code",
            &[("instance", "main")]
        ),
        Some(3.0),
        "{text}"
    );
    for family in INSTANCE_FAMILIES {
        assert!(
            after.families.contains_key(*family),
            "no {family} in\n{text}"
        );
    }

    // The listener serves the same exposition over loopback.
    let (status, head, body) = get(listen, "/metrics");
    assert_eq!(status, 200, "{head}\n{body}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    let scraped = parse("GET /metrics", &body);
    let missing: Vec<String> = families(&after)
        .difference(&families(&scraped))
        .cloned()
        .collect();
    assert!(
        missing.is_empty(),
        "the listener lacks {missing:?}:\n{body}"
    );
    assert_eq!(restarts(&scraped, "main"), Some(1.0), "{body}");
    for path in ["/", "/metricsx", "/status"] {
        let (status, _, body) = get(listen, path);
        assert_eq!(status, 404, "GET {path}: {body}");
    }

    // No secret anywhere, though main's gateway has both.
    let pid = daemon.instance_pid("main").expect("main runs");
    let environ = fs::read(format!("/proc/{pid}/environ")).expect("environ");
    assert!(String::from_utf8_lossy(&environ).contains(ENV_SECRET));
    for (what, said) in [("metrics", &text), ("GET /metrics", &body)] {
        for secret in [ENV_SECRET, CONFIG_SECRET] {
            assert!(!said.contains(secret), "{what} carries {secret}:\n{said}");
        }
    }

    // It shuts down with the daemon: the port is free again.
    assert!(daemon.client(&["shutdown"]).status.success());
    assert!(daemon.wait_exit().success());
    wait_for("the metrics port to be free", || {
        std::net::TcpListener::bind(listen).ok().map(drop)
    });
}

#[test]
fn a_taken_metrics_port_refuses_the_start_and_metrics_without_a_supervisor_is_exit_3() {
    let (mut daemon, port) = Daemon::prepare(&[("main", "")]);
    let output = daemon.client(&["metrics"]);
    assert_eq!(output.status.code(), Some(3), "nothing answers yet");

    let taken = SocketAddr::from(([127, 0, 0, 1], port + 2000));
    let _holder = std::net::TcpListener::bind(taken).expect("hold the port");
    let (status, stderr) = daemon.start_expecting_exit(&["--metrics", &taken.to_string()]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot listen for metrics on {taken}")),
        "{stderr}"
    );
    assert!(
        daemon.descendants().is_empty(),
        "no gateway was started: {:?}",
        daemon.descendants()
    );
}
