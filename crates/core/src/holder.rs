//! The process holding a local TCP port: found by the daemon (from
//! `/proc/net/tcp{,6}`) before a spawn, and named by the simulator as the
//! real gateway names it when its port is taken (`formatPortDiagnostics`:
//! `- pid PID: PROGRAM (ADDRESS:PORT)`).

use std::net::IpAddr;

/// The process holding a port, and the local address of its socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortHolder {
    pub pid: i32,
    /// The process's name (`comm`), `?` when it could not be read.
    pub program: String,
    /// The address of its socket on the port.
    pub address: IpAddr,
}
