//! The instance's keeper across its gateways: after a gateway's exit is
//! heard, its keeper stays, idle, for the next one (a restart then costs no
//! keeper fork, exec and handshake, as runit's `runsv` outlives its
//! service's runs); it is told to end when no next gateway is coming.

use nix::sys::signal::Signal;

use super::KeeperRecord;
use crate::keeper::link::Link;
use crate::keeper::wire::Order;
use crate::process::{self, SpawnSpec};

/// A keeper whose gateway is gone, waiting for its next order.
pub(super) struct IdleKeeper {
    pub(super) link: Link,
    pub(super) record: KeeperRecord,
}

/// The order that starts `spec` under an idle keeper: what a new keeper
/// gets on its command line, in its environment and as its directory.
pub(super) fn order_of(spec: &SpawnSpec, cgroup: Option<&std::path::Path>, marker: &str) -> Order {
    Order {
        program: spec.program.clone().into_os_string(),
        args: spec.args.iter().map(Into::into).collect(),
        env: spec
            .env
            .iter()
            .map(|(key, value)| (key.into(), value.into()))
            .collect(),
        // A new keeper runs where the supervisor runs when the spec names
        // no directory: so does a reused one's gateway.
        cwd: spec.cwd.clone().or_else(|| std::env::current_dir().ok()),
        cgroup: cgroup.map(std::path::Path::to_path_buf),
        marker: marker.to_string(),
    }
}

/// A keeper that failed an order: killed when it is provably the one
/// recorded (pid and start time), and whatever it may have started for the
/// order with it: in cgroup mode everything in the order's cgroup (a child
/// that has not exec'd yet too), and any process with the order's marker
/// (the walk of `/proc` off the runtime's thread).
pub(super) async fn give_up_keeper(
    record: &KeeperRecord,
    cgroup: Option<std::path::PathBuf>,
    marker: &str,
) {
    if record.start_time.is_some() {
        process::signal_if_same(record.pid, record.start_time, Signal::SIGKILL);
    }
    let marker = marker.to_string();
    let _ = tokio::task::spawn_blocking(move || {
        if let Some(dir) = cgroup {
            crate::cgroup::kill(&dir);
        }
        for pid in process::all_pids() {
            if let Some((pid, start)) = process::identified(pid, |pid| {
                process::environ_has(pid, process::SPAWN_MARKER_VAR, &marker)
            }) {
                process::signal_if_same(pid, Some(start), Signal::SIGKILL);
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_order_carries_what_a_new_keeper_would_start_the_gateway_with() {
        let spec = SpawnSpec {
            program: "/usr/bin/openclaw".into(),
            args: vec!["gateway".into(), "--port".into(), "18789".into()],
            env: [
                (
                    process::SPAWN_MARKER_VAR.to_string(),
                    "main:1:2".to_string(),
                ),
                ("HOME".to_string(), "/home/a".to_string()),
            ]
            .into(),
            cwd: Some("/srv/a".into()),
            capture_output: true,
            pipe_stdin: false,
        };
        let order = order_of(&spec, Some(std::path::Path::new("/cg/main")), "main:1:2");
        assert_eq!(order.program, "/usr/bin/openclaw");
        assert_eq!(order.args, ["gateway", "--port", "18789"]);
        assert_eq!(
            order.env,
            [
                ("HOME".into(), "/home/a".into()),
                (process::SPAWN_MARKER_VAR.into(), "main:1:2".into()),
            ]
        );
        assert_eq!(order.cwd, Some("/srv/a".into()));
        assert_eq!(order.cgroup, Some("/cg/main".into()));
        assert_eq!(order.marker, "main:1:2");
        let here = order_of(&SpawnSpec { cwd: None, ..spec }, None, "m");
        assert_eq!(here.cwd, std::env::current_dir().ok());
        assert_eq!(here.cgroup, None);
    }
}
