//! openclaw-supervisor: runs several OpenClaw gateways on one host, side by
//! side and isolated. See ARCHITECTURE.md for the code map and invariants.

// The pure core, a crate of its own (crates/core): re-exported under the
// paths the daemon has always used.
pub use openclaw_supervisor_core::{
    breaker, declaration, init, isolation, lifecycle, limits, memory_guard, openclaw, protocol,
    rescue, resolution, secrets, unit, vendor,
};
// The gateway simulator, a crate of its own too (crates/simulator); the
// binaries run it with `process::port_holder` to name a taken port's holder.
pub use openclaw_gateway_sim as simulator;

pub mod alert;
pub mod cgroup;
pub mod control;
pub mod daemon;
pub mod export;
pub mod files;
pub mod instance;
pub mod journal;
pub mod keeper;
pub mod lastgood;
pub mod logs;
pub mod metrics;
pub mod probe;
pub mod prober;
pub mod process;
pub mod queue;
pub mod records;
pub mod reexec;
pub mod resident;
pub mod sdnotify;
pub mod service;
pub mod signals;
pub mod skill;
pub mod supervisor;
pub mod usage;
pub mod validator;
pub mod wake;
pub mod watch;
