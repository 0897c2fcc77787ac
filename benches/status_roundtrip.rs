//! Status round trips over the control socket. First with a fake handler:
//! the cost of the socket, framing and JSON, not of gathering a real status.
//! Then against the real daemon over two simulated gateways: the whole cost,
//! the supervisor loop's snapshot and the CPU and memory of each process tree
//! included.
//!
//! `cargo bench --bench status_roundtrip` prints median and p99 for 10,000
//! requests on one connection and 2,000 with a connection each (what the
//! command line does) to the fake handler, and 2,000 on one connection to the
//! real daemon. Under `cargo test` it runs a few of each as a smoke test.
#![allow(clippy::disallowed_methods)] // A benchmark starts the programs it measures.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/daemon_support/mod.rs"]
mod daemon_support;

use std::time::{Duration, Instant};

use common::TestServer;
use openclaw_supervisor::control::{self, Client, ServerOptions};
use openclaw_supervisor::protocol::{Request, Response};

fn summary(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |quantile: f64| {
        let index = ((samples.len() as f64 - 1.0) * quantile).round() as usize;
        samples[index].as_secs_f64() * 1e6
    };
    let mean = samples.iter().sum::<Duration>().as_secs_f64() * 1e6 / samples.len() as f64;
    println!(
        "{label:<36} n={:<6} median {:>7.1} µs  p99 {:>7.1} µs  mean {:>7.1} µs  max {:>8.1} µs",
        samples.len(),
        at(0.5),
        at(0.99),
        mean,
        at(1.0)
    );
}

fn check(response: &Response) {
    assert!(
        matches!(response, Response::Status { instances, .. } if instances.len() == 2),
        "unexpected reply {response:?}"
    );
}

fn main() {
    let benchmarking = std::env::args().any(|arg| arg == "--bench");
    let (one_connection, connection_each) = if benchmarking {
        (10_000, 2_000)
    } else {
        (50, 10)
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let mut server = TestServer::start(ServerOptions::default());
        let request = || Request::Status { name: None };

        let mut client = Client::connect(&server.path).await.expect("connect");
        for _ in 0..100 {
            check(&client.call(request()).await.expect("warm-up"));
        }
        let mut samples = Vec::with_capacity(one_connection);
        for _ in 0..one_connection {
            let started = Instant::now();
            let response = client.call(request()).await.expect("status");
            samples.push(started.elapsed());
            check(&response);
        }
        summary("status, one connection", samples);

        let mut samples = Vec::with_capacity(connection_each);
        for _ in 0..connection_each {
            let started = Instant::now();
            let response = control::request(&server.path, request())
                .await
                .expect("status");
            samples.push(started.elapsed());
            check(&response);
        }
        summary("status, a connection per request", samples);
        server.stop().await;
    });
    real_daemon(&runtime, if benchmarking { 2_000 } else { 20 });
}

/// The real supervisor binary over a simulated main and rescue.
fn real_daemon(runtime: &tokio::runtime::Runtime, requests: usize) {
    use daemon_support::{Daemon, free_base_port, sim_declaration};
    let port = free_base_port();
    let daemon = Daemon::with(|root| {
        vec![
            ("main.yaml", sim_declaration(root, "main", port, "")),
            (
                "rescue.yaml",
                sim_declaration(root, "rescue", port + 1000, "role: rescue\nrescue_of: main"),
            ),
        ]
    });
    daemon.wait_state("main", "running");
    daemon.wait_state("rescue", "running");
    runtime.block_on(async {
        let mut client = Client::connect(&daemon.socket).await.expect("connect");
        let request = || Request::Status { name: None };
        for _ in 0..100 {
            check(&client.call(request()).await.expect("warm-up"));
        }
        let mut samples = Vec::with_capacity(requests);
        for _ in 0..requests {
            let started = Instant::now();
            let response = client.call(request()).await.expect("status");
            samples.push(started.elapsed());
            check(&response);
        }
        summary("status, real daemon, one connection", samples);
    });
}
