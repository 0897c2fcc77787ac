//! Probe attempts against the gateway simulator, over loopback only.
#![allow(clippy::disallowed_methods)] // A test starts the programs it tests.

mod sim_support;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use openclaw_supervisor::probe::{
    BoxFuture, ExecExit, ExecRunner, ProbeFailure, ProbeKind, ProbeTarget, run_once, run_once_with,
};
use sim_support::{DEADLINE, Sim, free_port, http};

const TIMEOUT: Duration = Duration::from_secs(5);

fn http_probe(path: &str, json: &[(&str, &str)]) -> ProbeKind {
    ProbeKind::Http {
        path: path.to_string(),
        json: json
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect::<BTreeMap<_, _>>(),
    }
}

#[tokio::test]
async fn http_probes_against_a_started_gateway() {
    let sim = Sim::start(&[], &[("OPENCLAW_SIM_READY_FAILING", "discord")]);
    let target = ProbeTarget::loopback(sim.port);
    // (probe, expected failure, expected http status, expected failing list)
    type Row = (ProbeKind, Option<ProbeFailure>, u16, Option<Vec<String>>);
    let rows: Vec<Row> = vec![
        (http_probe("/healthz", &[]), None, 200, None),
        (
            http_probe("/startupz", &[("status", "started")]),
            None,
            200,
            None,
        ),
        (http_probe("/healthz", &[("ok", "true")]), None, 200, None),
        (
            http_probe("/healthz", &[("status", "started")]),
            Some(ProbeFailure::JsonMismatch {
                field: "status".into(),
                expected: "started".into(),
                found: "\"live\"".into(),
            }),
            200,
            None,
        ),
        (
            http_probe("/readyz", &[]),
            Some(ProbeFailure::Status(503)),
            503,
            Some(vec!["discord".to_string()]),
        ),
        (
            http_probe("/nowhere", &[]),
            Some(ProbeFailure::Status(404)),
            404,
            None,
        ),
    ];
    for (probe, failure, status, failing) in rows {
        let outcome = run_once(&probe, &target, TIMEOUT).await;
        assert_eq!(outcome.failure, failure, "{probe:?}");
        assert_eq!(outcome.http_status, Some(status), "{probe:?}");
        assert_eq!(outcome.failing, failing, "{probe:?}");
        assert_eq!(outcome.passed(), failure.is_none());
    }
    let ready = run_once(&http_probe("/readyz", &[]), &target, TIMEOUT).await;
    assert!(!ready.passed());
    http(sim.port, "POST", "/__sim/ready?failing=", DEADLINE).expect("clear failing");
    let ready = run_once(&http_probe("/readyz", &[]), &target, TIMEOUT).await;
    assert_eq!((ready.failure, ready.failing), (None, Some(vec![])));
}

#[tokio::test]
async fn startup_probe_fails_with_503_while_starting() {
    let sim = Sim::start(&[], &[("OPENCLAW_SIM_START_DELAY", "1h")]);
    let probe = http_probe("/startupz", &[("status", "started")]);
    let outcome = run_once(&probe, &ProbeTarget::loopback(sim.port), TIMEOUT).await;
    assert_eq!(outcome.failure, Some(ProbeFailure::Status(503)));
    assert_eq!(outcome.http_status, Some(503));
}

#[tokio::test]
async fn a_wedged_gateway_times_out() {
    let sim = Sim::start(&[], &[]);
    http(sim.port, "POST", "/__sim/wedge", DEADLINE).expect("wedge");
    let timeout = Duration::from_millis(300);
    let target = ProbeTarget::loopback(sim.port);
    let outcome = run_once(&http_probe("/healthz", &[]), &target, timeout).await;
    assert_eq!(outcome.failure, Some(ProbeFailure::Timeout(timeout)));
    assert_eq!(outcome.http_status, None);
    // Its listener still accepts, so a TCP probe cannot tell it is wedged.
    assert_eq!(
        run_once(&ProbeKind::Tcp, &target, timeout).await.failure,
        None
    );
}

#[tokio::test]
async fn nothing_listening_is_refused() {
    let target = ProbeTarget::loopback(free_port());
    for probe in [http_probe("/healthz", &[]), ProbeKind::Tcp] {
        let outcome = run_once(&probe, &target, TIMEOUT).await;
        assert_eq!(outcome.failure, Some(ProbeFailure::Refused), "{probe:?}");
    }
}

#[tokio::test]
async fn tcp_probe_connects() {
    let sim = Sim::start(&[], &[]);
    let outcome = run_once(
        &ProbeKind::Tcp,
        &ProbeTarget::for_bind("lan", sim.port),
        TIMEOUT,
    )
    .await;
    assert!(outcome.passed(), "{outcome:?}");
}

#[tokio::test]
async fn probes_refuse_non_loopback_targets() {
    // A documentation address (TEST-NET-1): refused before any packet is sent.
    let target = ProbeTarget {
        host: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        port: 80,
    };
    for probe in [http_probe("/healthz", &[]), ProbeKind::Tcp] {
        let outcome = run_once(&probe, &target, TIMEOUT).await;
        assert_eq!(
            outcome.failure,
            Some(ProbeFailure::NotLoopback(target.host))
        );
    }
}

/// Answers every exec probe with a fixed exit, recording the argv.
struct FixedRunner(ExecExit, std::sync::Mutex<Vec<Vec<String>>>);

impl ExecRunner for FixedRunner {
    fn run<'a>(&'a self, argv: &'a [String], _timeout: Duration) -> BoxFuture<'a, ExecExit> {
        self.1.lock().expect("lock").push(argv.to_vec());
        let exit = self.0.clone();
        Box::pin(async move { exit })
    }
}

#[tokio::test]
async fn exec_probes_go_through_the_runner() {
    let probe = ProbeKind::Exec {
        argv: vec!["openclaw".into(), "health".into()],
    };
    let target = ProbeTarget::loopback(free_port());
    let timeout = Duration::from_secs(1);
    let outcome = run_once(&probe, &target, timeout).await;
    assert_eq!(outcome.failure, Some(ProbeFailure::ExecUnavailable));

    let rows = [
        (ExecExit::Code(0), None),
        (ExecExit::Code(2), Some(ProbeFailure::ExitCode(2))),
        (ExecExit::Signal(9), Some(ProbeFailure::Signal(9))),
        (ExecExit::TimedOut, Some(ProbeFailure::Timeout(timeout))),
        (
            ExecExit::SpawnFailed("not found".into()),
            Some(ProbeFailure::Spawn("not found".into())),
        ),
    ];
    for (exit, failure) in rows {
        let runner = FixedRunner(exit, Default::default());
        let outcome = run_once_with(&probe, &target, timeout, Some(&runner)).await;
        assert_eq!(outcome.failure, failure);
        assert_eq!(runner.1.lock().expect("lock")[0], ["openclaw", "health"]);
    }
}
