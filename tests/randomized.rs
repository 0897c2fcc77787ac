//! A seeded, model-based test of the whole supervisor over simulated
//! gateways: random sequences of what operators, editors and crashes do
//! (add, edit, break, duplicate, rename and remove declaration files;
//! SIGKILL a gateway; SIGKILL the supervisor and start a new one; stop,
//! start, restart and reload commands), with the invariants checked after
//! every step:
//!
//! - at most one gateway per instance, at every look;
//! - every valid, conflict-free, not-stopped instance is running (the one
//!   declared last), every stopped one has no process, every undeclared one
//!   is gone;
//! - a running instance is never disturbed by a copied file naming it;
//! - nothing outside the supervisor's own tree is ever signalled (sentinel
//!   processes with misleading pid records are planted before every start);
//! - no orphan after shutdown, and shutdown exits 0;
//! - every reply to a command is true (exit 0 for a known instance, and the
//!   state that follows is the one the reply announced).
//!
//! Every run prints its seed and replays exactly from it (the sequence of
//! operations; timing is the machine's): `cargo test --test randomized --
//! --seed 7`. `--steps N` sets the steps per seed, `--soak MINUTES` runs new
//! seeds until the time is up. Without options it runs a fixed budget (the
//! one `cargo test` and CI run).
//!
//! Here: the seeds, the steps and the options. `randomized/model.rs`: what
//! should be; `randomized/world.rs`: the supervisor and the operations a
//! step applies; `randomized/looks.rs`: what it shows, and the invariants.
#![allow(clippy::disallowed_methods)] // A test starts the programs it tests.

mod daemon_support;
#[path = "randomized/looks.rs"]
mod looks;
#[path = "randomized/model.rs"]
mod model;
#[path = "randomized/world.rs"]
mod world;

use std::time::{Duration, Instant};

use world::World;

/// Seeds and steps `cargo test` runs.
const DEFAULT_SEEDS: [u64; 5] = [1, 2, 3, 4, 5];
const DEFAULT_STEPS: usize = 40;

/// One seed: `steps` random steps, each followed by the invariants.
fn run_seed(seed: u64, steps: usize) -> Result<(), String> {
    println!("randomized: seed {seed}, {steps} steps");
    // A thread per seed: the test ports it claims are released when its
    // thread ends (they are held per thread), so a soak never runs out.
    let outcome = std::thread::spawn(move || {
        let mut world = World::new(seed);
        world.settle();
        for step in 0..steps {
            let op = world.pick();
            let started = Instant::now();
            world.apply(op);
            world.settle();
            println!(
                "  step {step:>3}: {op:?} ({} ms)",
                started.elapsed().as_millis()
            );
        }
        world.finish();
    })
    .join();
    outcome.map_err(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        format!("seed {seed} failed: {message}\n  replay: cargo test --test randomized -- --seed {seed} --steps {steps}")
    })
}

struct Options {
    seeds: Vec<u64>,
    steps: usize,
    soak: Option<Duration>,
}

fn options() -> Options {
    let mut options = Options {
        seeds: DEFAULT_SEEDS.to_vec(),
        steps: DEFAULT_STEPS,
        soak: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |what: &str| {
            args.next()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("{arg} needs a number ({what})"))
        };
        match arg.as_str() {
            "--seed" => options.seeds = vec![value("a seed")],
            "--steps" => options.steps = value("steps per seed") as usize,
            "--soak" => options.soak = Some(Duration::from_secs(60 * value("minutes"))),
            // libtest's own flags (`--nocapture`, a filter, ...) mean nothing here.
            _ => {}
        }
    }
    options
}

fn main() {
    let options = options();
    let mut failures = Vec::new();
    let mut passed = 0usize;
    let mut steps = 0usize;
    let started = Instant::now();
    let mut seeds = options.seeds.clone().into_iter();
    let mut next_seed = || -> Option<u64> {
        match options.soak {
            Some(limit) if started.elapsed() < limit => Some(fastrand::u64(..)),
            Some(_) => None,
            None => seeds.next(),
        }
    };
    while let Some(seed) = next_seed() {
        match run_seed(seed, options.steps) {
            Ok(()) => passed += 1,
            Err(failure) => failures.push(failure),
        }
        steps += options.steps;
    }
    for failure in &failures {
        eprintln!("{failure}");
    }
    println!(
        "randomized: {} seeds, {steps} steps in {:.0} s",
        passed + failures.len(),
        started.elapsed().as_secs_f64()
    );
    println!(
        "test result: {}. {passed} passed; {} failed",
        if failures.is_empty() { "ok" } else { "FAILED" },
        failures.len()
    );
    if !failures.is_empty() {
        std::process::exit(1);
    }
}
