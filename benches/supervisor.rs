//! How fast the supervisor notices, how little it costs, how far it scales.
//!
//! Starts the real `openclaw-supervisor` binary over simulated gateways
//! (`openclaw-gateway-sim`) in temp dirs and prints two Markdown tables
//! (latency, cost) with the machine and the build profile. Cargo builds both
//! binaries before a benchmark runs and hands their paths to it
//! (`CARGO_BIN_EXE_*`), so nothing needs building by hand:
//!
//! ```text
//! cargo bench --bench supervisor              # full run (several minutes)
//! cargo bench --bench supervisor -- --quick   # small counts, for CI
//! cargo bench --bench supervisor -- --only respawn,status
//! ```
//!
//! Under `cargo test` it does nothing: CI runs the quick mode itself.
//! BENCHMARKS.md has a full run and what each figure means.
#![allow(clippy::disallowed_methods)] // A benchmark starts the programs it measures.

#[path = "supervisor/fleet.rs"]
mod fleet;
#[path = "../tests/process_support/mod.rs"]
mod process_support;
#[path = "supervisor/scenarios.rs"]
mod scenarios;
#[path = "supervisor/stats.rs"]
mod stats;

use std::time::Duration;

use fleet::{Fleet, Ports};
use stats::Report;

/// How much of everything to do.
struct Counts {
    respawn: usize,
    /// Kills of one gateway among the large fleet.
    respawn_large: usize,
    status_requests: usize,
    status_processes: usize,
    idle: Duration,
    /// Instances of the large fleet (scale, and its idle cost).
    large: usize,
    reload: usize,
    reload_large: usize,
    /// Stops of one gateway in each tracking mode.
    stops: usize,
}

const FULL: Counts = Counts {
    respawn: 200,
    respawn_large: 50,
    status_requests: 2_000,
    status_processes: 100,
    idle: Duration::from_secs(60),
    large: 200,
    reload: 20,
    reload_large: 5,
    stops: 50,
};

const QUICK: Counts = Counts {
    respawn: 20,
    respawn_large: 5,
    status_requests: 200,
    status_processes: 10,
    idle: Duration::from_secs(5),
    large: 20,
    reload: 5,
    reload_large: 2,
    stops: 5,
};

const SECTIONS: [&str; 6] = ["respawn", "status", "idle", "scale", "reload", "tracking"];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|arg| arg == "--bench") {
        println!(
            "supervisor benchmark: not run under `cargo test`; use `cargo bench --bench supervisor [-- --quick]`"
        );
        return;
    }
    let quick = args.iter().any(|arg| arg == "--quick");
    let only: Option<Vec<String>> = args
        .iter()
        .position(|arg| arg == "--only")
        .and_then(|at| args.get(at + 1))
        .map(|list| list.split(',').map(str::to_string).collect());
    if let Some(unknown) = only
        .iter()
        .flatten()
        .find(|section| !SECTIONS.contains(&section.as_str()))
    {
        eprintln!(
            "unknown section `{unknown}`: choose among {}",
            SECTIONS.join(", ")
        );
        std::process::exit(2);
    }
    let wants = |section: &str| only.as_ref().is_none_or(|o| o.iter().any(|s| s == section));
    let counts = if quick { QUICK } else { FULL };

    println!(
        "openclaw-supervisor benchmark, {} mode",
        if quick { "quick" } else { "full" }
    );
    println!("{}", machine());
    let mut report = Report::default();

    if wants("respawn") {
        println!("respawn ({} kills)", counts.respawn);
        scenarios::respawn(&mut report, counts.respawn);
    }

    if wants("idle") || wants("status") || wants("reload") {
        println!("a main and a rescue");
        let mut ports = Ports::new();
        let mut fleet = Fleet::new();
        fleet.declare("main", ports.take(), "");
        fleet.declare("rescue", ports.take(), "role: rescue\nrescue_of: main");
        fleet.start();
        fleet.wait_all_running();
        if wants("idle") {
            scenarios::idle(&mut report, &fleet, counts.idle, "");
        }
        if wants("status") {
            scenarios::status(&mut report, &fleet, counts.status_requests, &[1, 32]);
            scenarios::status_command(&mut report, &fleet, counts.status_processes);
        }
        if wants("reload") {
            scenarios::reload(&mut report, &mut fleet, &mut ports, counts.reload, false);
            scenarios::reload(&mut report, &mut fleet, &mut ports, counts.reload, true);
        }
    }

    if wants("tracking") {
        println!("cgroup and marker mode ({} stops each)", counts.stops);
        scenarios::tracking(&mut report, counts.stops, counts.idle);
    }

    if ["respawn", "status", "idle", "scale", "reload"]
        .iter()
        .any(|section| wants(section))
    {
        println!("{} instances", counts.large);
        let mut ports = Ports::new();
        let mut fleet = scenarios::scale(&mut report, &mut ports, counts.large);
        if wants("idle") {
            scenarios::idle(&mut report, &fleet, counts.idle, "");
        }
        if wants("status") {
            scenarios::status(&mut report, &fleet, counts.status_requests / 4, &[1]);
            scenarios::status_command(&mut report, &fleet, counts.status_processes);
        }
        if wants("reload") {
            scenarios::reload(
                &mut report,
                &mut fleet,
                &mut ports,
                counts.reload_large,
                true,
            );
        }
        if wants("respawn") {
            scenarios::respawn_in(&mut report, &fleet, "g000", counts.respawn_large);
        }
    }

    report.print();
}

/// Cores, CPU model, memory, kernel and the build profile of the binaries.
fn machine() -> String {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .and_then(|rest| rest.split_once(':'))
        .map(|(_, model)| model.trim().to_string())
        .unwrap_or_else(|| "unknown CPU".to_string());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_gib = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<f64>().ok())
        .map(|kib| kib / (1024.0 * 1024.0))
        .unwrap_or(0.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let binary = fleet::supervisor();
    format!(
        "machine: {cores} cores, {model}, {memory_gib:.1} GiB, Linux {}; supervisor: {} (bench built {})",
        kernel.trim(),
        binary.display(),
        if cfg!(debug_assertions) {
            "with debug assertions"
        } else {
            "optimized"
        }
    )
}
