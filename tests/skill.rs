//! The rescue's skill with the real binary over simulated gateways: the
//! supervisor writes `skills/openclaw-supervisor/SKILL.md` into the rescue's
//! workspace (not main's), rewrites its own older version, and leaves an
//! operator's edit alone, saying so in its log once.
#![allow(clippy::disallowed_methods)] // A test starts the programs it tests.

mod daemon_support;

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use openclaw_supervisor::skill;

use daemon_support::*;

const PROBES: &str = "probes:\n  startup: { every: 100ms, timeout: 20s }";

fn skill_of(daemon: &Daemon, name: &str) -> PathBuf {
    skill::path_in(
        &daemon
            .path()
            .join("instances")
            .join(name)
            .join("state")
            .join("workspace"),
    )
}

fn wanted() -> String {
    let binary = fs::canonicalize(SUPERVISOR).expect("the supervisor binary");
    skill::text(&binary, "main")
}

fn restart(daemon: &Daemon, name: &str) {
    let output = daemon.client(&["restart", "--force", name, "--wait"]);
    assert!(output.status.success(), "{output:?}");
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

#[test]
fn the_skill_is_written_into_the_rescues_workspace_and_never_over_an_operators_edit() {
    let (daemon, _, _) = main_and_rescue(PROBES, PROBES);
    daemon.wait_state("rescue", "running");
    let path = skill_of(&daemon, "rescue");
    assert_eq!(fs::read_to_string(&path).expect("the skill"), wanted());
    assert_eq!(mode(&path), 0o600);
    assert!(!skill_of(&daemon, "main").exists(), "main gets no skill");

    // Our own older text (another binary path) is brought up to date.
    let older = skill::text(Path::new("/old/place/openclaw-supervisor"), "main");
    fs::write(&path, &older).expect("write");
    restart(&daemon, "rescue");
    assert_eq!(fs::read_to_string(&path).expect("the skill"), wanted());

    // An operator's edit stays, and the log says so once.
    let edited = wanted().replace("## Then act", "## Then act (ask Ada first)");
    fs::write(&path, &edited).expect("write");
    restart(&daemon, "rescue");
    restart(&daemon, "rescue");
    assert_eq!(fs::read_to_string(&path).expect("the skill"), edited);
    let check = daemon.client(&["check"]);
    assert!(check.status.success(), "{check:?}");
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(
        text.contains("warning: rescue: the openclaw-supervisor skill ")
            && text.contains(" was edited by hand"),
        "{text}"
    );
    let log = daemon.log_text();
    assert_eq!(
        log.matches("the openclaw-supervisor skill was edited by hand")
            .count(),
        1,
        "{log}"
    );
}
