//! One conformance scenario, run against the simulator by `cargo test` and
//! against the real gateway by `tests/e2e/openclaw.sh` (with
//! `OPENCLAW_CONFORMANCE_GATEWAY` and `OPENCLAW_CONFORMANCE_PATH` set): the
//! target is spawned directly, with exactly what the supervisor would give
//! it (`Effective::spawn_spec`), and each step checks one part of the
//! contract. A step that fails names itself, what was expected and what was
//! observed; a failed step ends its boot, the other boots still run.
#![allow(clippy::disallowed_methods)] // A test starts the programs it tests.

mod sim_support;
#[path = "conformance/steps.rs"]
mod steps;
#[path = "conformance/target.rs"]
mod target;

use std::time::Instant;

use steps::{
    BOUND_V4, BOUND_V6, COLOUR, LOG_FILE, NO_COLOUR, READY, SIGTERM_IDLE, SIGUSR2_IN_PROCESS,
    SIGUSR2_RELAUNCH, STARTING, Step, UNKNOWN_KEY,
};
use target::{Gateway, Target};

/// One gateway process and the steps run against it, in order.
struct Boot {
    name: &'static str,
    /// A mixed-case profile: its log file name encodes the case.
    profile: &'static str,
    /// Top-level keys added to the OpenClaw config.
    config_extra: &'static str,
    /// The declaration's `env:`.
    declared_env: &'static [(&'static str, &'static str)],
    /// Added to the supervisor's own environment (what the gateway inherits).
    inherited: &'static [(&'static str, &'static str)],
    steps: &'static [Step],
}

const BOOTS: &[Boot] = &[
    Boot {
        name: "as supervised (external mode, NO_COLOR=1)",
        profile: "Work",
        config_extra: "",
        declared_env: &[],
        inherited: &[],
        steps: &[
            STARTING,
            READY,
            LOG_FILE,
            BOUND_V4,
            BOUND_V6,
            NO_COLOUR,
            SIGUSR2_RELAUNCH,
        ],
    },
    Boot {
        name: "OPENCLAW_NO_RESPAWN=1, TERM set, NO_COLOR empty",
        profile: "Work",
        config_extra: "",
        declared_env: &[("OPENCLAW_NO_RESPAWN", "1"), ("NO_COLOR", "")],
        inherited: &[("TERM", "xterm-256color")],
        steps: &[READY, COLOUR, SIGUSR2_IN_PROCESS, SIGTERM_IDLE],
    },
    Boot {
        name: "a config with an unknown key",
        profile: "Work",
        config_extra: "\n  bogusKey: 1,",
        declared_env: &[],
        inherited: &[],
        steps: &[UNKNOWN_KEY],
    },
];

#[test]
fn the_gateway_speaks_the_contract() {
    let target = Target::from_env();
    let root = tempfile::tempdir().expect("tempdir");
    let mut failures = Vec::new();
    let mut timings = Vec::new();
    for (index, boot) in BOOTS.iter().enumerate() {
        // The gateway owns its port and the 110 after it.
        let port = sim_support::claim_ports(111);
        let mut gateway = Gateway::spawn(
            &target,
            &root.path().join(format!("boot-{index}")),
            port,
            boot.profile,
            boot.config_extra,
            boot.declared_env,
            boot.inherited,
        );
        for step in boot.steps {
            let started = Instant::now();
            match (step.check)(&target, &mut gateway) {
                Ok(()) => timings.push(format!(
                    "{:<68} {:>7} ms (at {} ms after spawn)",
                    format!("{} / {}", boot.name, step.name),
                    started.elapsed().as_millis(),
                    gateway.spawned.elapsed().as_millis()
                )),
                Err(observed) => {
                    failures.push(format!(
                        "step `{}` (boot `{}`) against {}: {observed}",
                        step.name,
                        boot.name,
                        target.name()
                    ));
                    break;
                }
            }
        }
    }
    println!("conformance against {}:", target.name());
    for line in &timings {
        println!("  {line}");
    }
    assert!(
        failures.is_empty(),
        "{} differs from the contract:\n{}",
        target.name(),
        failures.join("\n")
    );
}
