//! A gateway simulator that speaks the real openclaw gateway contract.
//! See the `openclaw-gateway-sim` crate (crates/simulator) and the README's
//! "Gateway simulator"; this binary lends it the daemon's port scan.

use openclaw_supervisor::process;
use openclaw_supervisor::simulator::{self, Embedding};

fn main() -> std::process::ExitCode {
    simulator::main(Embedding {
        reexec_prefix: Vec::new(),
        port_holder: process::port_holder,
    })
}
