//! Health probes and the rescue rules, with the real binary over simulated
//! gateways: what the supervisor does when a gateway stops answering, starts
//! slowly, is not ready, asks to be relaunched, or fails while a rescue waits.
#![allow(clippy::disallowed_methods)] // A test starts the programs it tests.

mod daemon_support;
#[path = "health/support.rs"]
mod support;

#[path = "health/probes.rs"]
mod probes;
#[path = "health/rescue.rs"]
mod rescue;
