//! One instance's status as the supervisor sends it, for the client's
//! table tests (render, verbs, watch): each test changes what it is about.

use openclaw_supervisor::protocol::{InstanceStatus, Paths, Ports};

/// A running main `name` (pid 4242, up 1h01m40s, one restart, 2.25 % CPU,
/// 150 MiB).
pub fn instance(name: &str) -> InstanceStatus {
    InstanceStatus {
        name: name.to_string(),
        state: String::from("running"),
        pid: Some(4242),
        uptime_secs: Some(3_700),
        restarts: 1,
        ports: Ports {
            base: 18789,
            block_start: 18789,
            block_end: 18889,
            explicit: vec![],
        },
        paths: Paths {
            config: String::from("/c/openclaw.json"),
            state_dir: String::from("/s"),
            workspace: String::from("/w"),
            log_file: String::from("/l.log"),
        },
        declaration_file: String::from("/d/main.yaml"),
        cpu_percent: Some(2.25),
        memory_bytes: Some(150 * 1024 * 1024),
        ..InstanceStatus::default()
    }
}
