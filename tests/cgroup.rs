//! A cgroup v2 per instance: the gateway and every descendant (one that
//! cleared its environment included) live in the instance's cgroup, are
//! stopped and killed with it, and status says the mode. Skipped, with the
//! reason, where no writable cgroup v2 exists.
#![allow(clippy::disallowed_methods)] // A test starts the programs it tests.

mod daemon_support;

use std::fs;
use std::path::{Path, PathBuf};

use daemon_support::*;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use openclaw_supervisor::cgroup;
use serde_json::Value;

/// Whether this host lets a process create a cgroup v2 under its own: the
/// reason it does not, else None.
fn no_writable_cgroup_v2() -> Option<String> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let Some(mount) = cgroup::parse_mountinfo(&mountinfo) else {
        return Some("no cgroup v2 hierarchy is mounted".to_string());
    };
    let own = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let Some(own) = cgroup::parse_own_cgroup(&own) else {
        return Some("this process has no cgroup v2".to_string());
    };
    let probe = mount
        .join(own.trim_start_matches('/'))
        .join(format!("openclaw-test-probe.{}", std::process::id()));
    match fs::create_dir(&probe) {
        Ok(()) => {
            let _ = fs::remove_dir(&probe);
            None
        }
        Err(err) => Some(format!("cannot create {}: {err}", probe.display())),
    }
}

macro_rules! require_cgroup_v2 {
    () => {
        if let Some(reason) = no_writable_cgroup_v2() {
            eprintln!("skipped: no writable cgroup v2 here ({reason})");
            return;
        }
    };
}

/// Kills the pids of a pid file when dropped: a grandchild with an empty
/// environment carries no test tag, so the daemon's guard cannot find it
/// if the test fails before the supervisor stops it.
struct PidfileGuard(PathBuf);

impl Drop for PidfileGuard {
    fn drop(&mut self) {
        for pid in pids(&self.0) {
            let is_sim = fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
                String::from_utf8_lossy(&cmdline).contains("--sim-grandchild")
            });
            if is_sim {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
    }
}

fn pids(pidfile: &Path) -> Vec<i32> {
    fs::read_to_string(pidfile)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.trim().parse().ok())
        .collect()
}

/// A supervisor over `main`, whose simulator starts a grandchild that
/// escapes with setsid and execs with an empty environment; main's status
/// once running, the gateway's pid and the grandchild's.
fn with_a_clean_env_grandchild(env: &str, extra: &str) -> (Daemon, PidfileGuard, Value, i32, i32) {
    let mut pidfile = PathBuf::new();
    let daemon = Daemon::with(|root| {
        pidfile = root.join("pids");
        let port = free_base_port();
        vec![(
            "main.yaml",
            sim_declaration(
                root,
                "main",
                port,
                &format!(
                    "env: {{ OPENCLAW_SIM_CHILD_CLEAN_ENV: \"1\", OPENCLAW_SIM_PIDFILE: \"{}\"{env} }}\n{extra}",
                    root.join("pids").display()
                ),
            ),
        )]
    });
    let guard = PidfileGuard(pidfile.clone());
    let status = daemon.wait_state("main", "running");
    let both = wait_for("the pid file with the gateway and its grandchild", || {
        let pids = pids(&pidfile);
        (pids.len() >= 2).then_some(pids)
    });
    (daemon, guard, status, both[0], both[1])
}

fn cgroup_of(status: &Value) -> PathBuf {
    assert_eq!(status["tracking"]["mode"], "cgroup", "{status}");
    PathBuf::from(
        status["tracking"]["cgroup"]
            .as_str()
            .expect("the cgroup's path"),
    )
}

#[test]
fn a_descendant_with_an_empty_environment_is_in_the_cgroup_and_gone_after_stop() {
    require_cgroup_v2!();
    let (daemon, _guard, status, gateway, grandchild) =
        with_a_clean_env_grandchild("", "stop: { timeout: 20s }");
    let dir = cgroup_of(&status);
    let members = cgroup::members(&dir);
    assert!(
        members.contains(&gateway),
        "{members:?} of {}",
        dir.display()
    );
    assert!(
        members.contains(&grandchild),
        "{members:?} of {}",
        dir.display()
    );
    // What the marker scan would have missed: no marker, no group.
    let environment = environ(grandchild);
    assert!(
        environment.iter().all(|entry| entry.is_empty()),
        "an empty environment: {environment:?}"
    );
    assert!(alive(grandchild));

    assert!(daemon.client(&["stop", "main"]).status.success());
    daemon.wait_state("main", "stopped");
    assert!(!alive(grandchild), "the grandchild outlived the stop");
    assert!(!alive(gateway));
    assert!(!dir.exists(), "{} is removed once empty", dir.display());
}

#[test]
fn a_leftover_that_ignores_sigterm_is_killed_with_its_cgroup_without_polling() {
    require_cgroup_v2!();
    let (daemon, _guard, status, gateway, grandchild) = with_a_clean_env_grandchild(
        ", OPENCLAW_SIM_CHILD_IGNORE_SIGTERM: \"1\"",
        "stop: { timeout: 1s }",
    );
    let dir = cgroup_of(&status);
    assert!(daemon.client(&["stop", "main"]).status.success());
    daemon.wait_state("main", "stopped");
    // The gateway exited on SIGTERM; its grandchild, which ignores it, was
    // waited for (woken by cgroup.events, not by looking every few ms) and
    // killed with the whole cgroup at the stop timeout.
    assert!(!alive(grandchild), "the grandchild outlived the kill");
    assert!(!alive(gateway));
    assert!(
        daemon.log_text().contains("waiting for cgroup.events"),
        "the wait for the tree to empty is woken by cgroup.events:\n{}",
        daemon.log_text()
    );
    assert!(!dir.exists(), "{} is removed once empty", dir.display());
}

#[test]
fn status_names_the_cgroup_and_the_subtree_goes_at_exit() {
    require_cgroup_v2!();
    let (mut daemon, _guard, status, _gateway, _grandchild) = with_a_clean_env_grandchild("", "");
    let dir = cgroup_of(&status);
    assert!(dir.ends_with("main"), "{}", dir.display());
    let subtree = dir.parent().expect("the subtree").to_path_buf();
    let name = subtree
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or_default()
        .to_string();
    assert!(name.starts_with("openclaw-supervisor."), "{name}");
    let detail = daemon.client(&["status", "main"]);
    let text = String::from_utf8_lossy(&detail.stdout);
    assert!(
        text.contains(&format!("tracking     cgroup {}", dir.display())),
        "{text}"
    );
    // The log says the subtree and which controllers its instances have.
    let log = daemon.log_text();
    let line = log
        .lines()
        .find(|line| line.contains("each instance runs in a cgroup of its own"))
        .unwrap_or_else(|| panic!("the mode is logged:\n{log}"));
    assert!(
        line.contains(&format!("cgroup={}", subtree.display())) && line.contains("controllers="),
        "{line}"
    );
    daemon.signal(Signal::SIGTERM);
    assert!(daemon.wait_exit().success());
    assert!(!subtree.exists(), "{} removed at exit", subtree.display());
}

#[test]
fn with_cgroups_turned_off_status_says_marker_and_why() {
    let mut daemon = Daemon::new(&[]);
    let port = free_base_port();
    let declaration = sim_declaration(daemon.root.path(), "main", port, "");
    fs::write(daemon.dir.join("main.yaml"), declaration).expect("write declaration");
    daemon.start_with_env(&[("OPENCLAW_SUPERVISOR_CGROUPS", "off")]);
    let status = daemon.wait_state("main", "running");
    assert_eq!(status["tracking"]["mode"], "marker", "{status}");
    assert_eq!(
        status["tracking"]["reason"],
        "cgroups turned off (OPENCLAW_SUPERVISOR_CGROUPS=off)"
    );
    assert_eq!(status["tracking"]["cgroup"], Value::Null);
    let detail = daemon.client(&["status", "main"]);
    let text = String::from_utf8_lossy(&detail.stdout);
    assert!(
        text.contains("tracking     marker (cgroups turned off (OPENCLAW_SUPERVISOR_CGROUPS=off))"),
        "{text}"
    );
}

#[test]
fn in_marker_mode_a_leftover_with_an_empty_environment_escapes_the_stop() {
    // What cgroup mode fixes, shown where it is turned off: once its
    // gateway exited, a descendant with no marker in its own session is
    // not found, so it outlives the stop (the guard kills it).
    let mut daemon = Daemon::new(&[]);
    let root = daemon.root.path().to_path_buf();
    let pidfile = root.join("pids");
    let declaration = sim_declaration(
        &root,
        "main",
        free_base_port(),
        &format!(
            "env: {{ OPENCLAW_SIM_CHILD_CLEAN_ENV: \"1\", OPENCLAW_SIM_CHILD_IGNORE_SIGTERM: \"1\", OPENCLAW_SIM_PIDFILE: \"{}\" }}\nstop: {{ timeout: 20s }}",
            pidfile.display()
        ),
    );
    fs::write(daemon.dir.join("main.yaml"), declaration).expect("write declaration");
    let _guard = PidfileGuard(pidfile.clone());
    daemon.start_with_env(&[("OPENCLAW_SUPERVISOR_CGROUPS", "off")]);
    let status = daemon.wait_state("main", "running");
    assert_eq!(status["tracking"]["mode"], "marker", "{status}");
    let both = wait_for("the pid file with the gateway and its grandchild", || {
        let pids = pids(&pidfile);
        (pids.len() >= 2).then_some(pids)
    });
    assert!(daemon.client(&["stop", "main"]).status.success());
    daemon.wait_state("main", "stopped");
    assert!(!alive(both[0]));
    assert!(
        alive(both[1]),
        "marker mode cannot find a descendant without the marker once its gateway is gone"
    );
}

/// Every limit, with the files each one writes (a page-aligned
/// `memory.high` at 90 % of `memory.max`).
const LIMITS: &str = "limits: { memory: 1GiB, cpu: 1.5, pids: 256 }";
const LIMIT_FILES: [(&str, &[(&str, &str)]); 3] = [
    (
        "memory",
        &[("memory.max", "1073741824"), ("memory.high", "966365184")],
    ),
    ("cpu", &[("cpu.max", "150000 100000")]),
    ("pids", &[("pids.max", "256")]),
];

fn limit<'a>(status: &'a Value, key: &str) -> &'a Value {
    status["limits"]
        .as_array()
        .and_then(|limits| limits.iter().find(|limit| limit["key"] == key))
        .unwrap_or_else(|| panic!("no {key} limit in {status}"))
}

#[test]
fn each_limit_is_applied_where_its_controller_is_and_else_reported_with_the_reason() {
    require_cgroup_v2!();
    let (daemon, _) = Daemon::gateways(&[("main", LIMITS)]);
    let status = daemon.wait_state("main", "running");
    let dir = cgroup_of(&status);
    let controllers = fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
    let detail = daemon.client(&["status", "main"]);
    let text = String::from_utf8_lossy(&detail.stdout);
    for (key, files) in LIMIT_FILES {
        let limit = limit(&status, key);
        if controllers.split_whitespace().any(|name| name == key) {
            assert_eq!(limit["applied"], true, "{limit}");
            for (file, value) in files {
                let written = fs::read_to_string(dir.join(file)).expect("the limit's file");
                assert_eq!(written.trim(), *value, "{file}");
            }
        } else {
            // This host's hierarchy has no such controller (a hybrid host
            // keeps memory, cpu and pids on cgroup v1): said, not hidden.
            assert_eq!(limit["applied"], false, "{limit}");
            let reason = limit["reason"].as_str().expect("a reason");
            assert!(
                reason.starts_with(&format!("the {key} controller is not available: ")),
                "{reason}"
            );
            assert!(
                text.contains(&format!(
                    "{key} {}: not applied: {reason}",
                    limit["value"].as_str().unwrap_or_default()
                )),
                "{text}"
            );
        }
    }
    assert!(
        text.contains("  limits       memory 1.0 GiB (high 921.6 MiB)"),
        "{text}"
    );
}

#[test]
fn a_reload_that_changes_a_limit_applies_it_to_the_running_gateway() {
    require_cgroup_v2!();
    let (daemon, port) = Daemon::gateways(&[("main", LIMITS)]);
    let status = daemon.wait_state("main", "running");
    let pid = status["pid"].as_u64().expect("a pid");
    let dir = cgroup_of(&status);
    let text = sim_declaration(
        daemon.path(),
        "main",
        port,
        "limits: { memory: 1GiB, cpu: 1.5, pids: 512 }",
    );
    let temp = daemon.dir.join(".main.yaml.tmp");
    fs::write(&temp, text).expect("write the declaration");
    fs::rename(&temp, daemon.dir.join("main.yaml")).expect("rename it into place");
    let status = wait_for("the new pids limit in status", || {
        daemon
            .instance("main")
            .filter(|main| limit(main, "pids")["value"] == "512")
    });
    assert_eq!(status["pid"].as_u64(), Some(pid), "no restart: {status}");
    assert_eq!(status["restarts"], 0, "{status}");
    let controllers = fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
    if controllers.split_whitespace().any(|name| name == "pids") {
        let written = fs::read_to_string(dir.join("pids.max")).expect("pids.max");
        assert_eq!(written.trim(), "512");
    }
}

#[test]
fn with_cgroups_turned_off_each_limit_is_not_applied_and_says_why() {
    let (mut daemon, _) = Daemon::prepare(&[("main", LIMITS)]);
    daemon.start_with_env(&[("OPENCLAW_SUPERVISOR_CGROUPS", "off")]);
    let status = daemon.wait_state("main", "running");
    let shown: Vec<(&str, &str, bool, &str)> = status["limits"]
        .as_array()
        .expect("limits")
        .iter()
        .map(|limit| {
            (
                limit["key"].as_str().unwrap_or_default(),
                limit["value"].as_str().unwrap_or_default(),
                limit["applied"].as_bool().unwrap_or(true),
                limit["reason"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    let why = "no cgroup (cgroups turned off (OPENCLAW_SUPERVISOR_CGROUPS=off))";
    assert_eq!(
        shown,
        [
            (
                "memory",
                "1.0 GiB (high 921.6 MiB)",
                false,
                &*format!("the memory controller is not available: {why}")
            ),
            (
                "cpu",
                "1.5 CPUs",
                false,
                &*format!("the cpu controller is not available: {why}")
            ),
            (
                "pids",
                "256",
                false,
                &*format!("the pids controller is not available: {why}")
            ),
        ]
    );
    let log = daemon.log_text();
    assert!(
        log.contains("main: limits.memory 1.0 GiB (high 921.6 MiB) is not applied: the memory controller is not available"),
        "a warning in the log: {log}"
    );
}
