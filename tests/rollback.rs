//! Last known good, `diff`, `rollback` and `rollback: auto` with the real
//! binary over simulated gateways: the config a gateway started with is
//! kept (0600) once it passes its startup; a broken config (an unknown key:
//! the simulator exits 78, as openclaw does) is shown by `diff` with its
//! secrets redacted and put right by `rollback`, the broken one kept beside
//! it; `rollback: auto` does that on its own, once; no last good, no
//! rollback.
#![allow(clippy::disallowed_methods)] // A test starts the programs it tests.

mod daemon_support;

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use daemon_support::*;

const PROBES: &str = "probes:\n  \
    startup: { every: 100ms, timeout: 20s }\n  \
    liveness: { every: 200ms, timeout: 1s, failures: 3 }";

const SECRET_GOOD: &str = "tok-good-0123456789";
const SECRET_NEW: &str = "tok-new-9876543210";

fn mode(path: &Path) -> u32 {
    fs::metadata(path)
        .unwrap_or_else(|err| panic!("{}: {err}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// The generations kept for `name`, oldest first.
fn generations(daemon: &Daemon, name: &str) -> Vec<PathBuf> {
    let dir = daemon.state_dir.join("last-good").join(name);
    let mut found: Vec<PathBuf> = match fs::read_dir(&dir) {
        Ok(entries) => entries
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| {
                !path
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    found.sort();
    found
}

fn wait_last_good(daemon: &Daemon, name: &str) -> PathBuf {
    wait_for(&format!("{name}'s last good config recorded"), || {
        generations(daemon, name)
            .pop()
            .filter(|generation| generation.join("meta.json").exists())
    })
}

/// A supervisor over `main` (with `extra` YAML) whose config holds a gateway
/// token; the supervisor and main's config path.
fn main_with_token(extra: &str) -> (Daemon, PathBuf) {
    let (mut daemon, port) = Daemon::prepare(&[("main", &format!("{PROBES}\n{extra}"))]);
    let config = write_sim_config(
        daemon.path(),
        "main",
        port,
        &format!("auth: {{ mode: \"token\", token: \"{SECRET_GOOD}\" }}"),
    );
    fs::set_permissions(&config, fs::Permissions::from_mode(0o640)).expect("chmod");
    daemon.start();
    (daemon, config)
}

/// main's config with an unknown top-level key and a new token.
fn break_config(config: &Path) -> String {
    let good = fs::read_to_string(config).expect("read config");
    let broken = good.replace(SECRET_GOOD, SECRET_NEW).replacen(
        "{ gateway:",
        "{ bogusKey: true, gateway:",
        1,
    );
    assert_ne!(good, broken);
    fs::write(config, &broken).expect("write config");
    broken
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).to_string()
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).to_string()
}

fn rejected_files(config: &Path) -> Vec<PathBuf> {
    let dir = config.parent().expect("config dir");
    let mut found: Vec<PathBuf> = fs::read_dir(dir)
        .expect("read config dir")
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.to_string_lossy().ends_with(".rejected"))
        .collect();
    found.sort();
    found
}

#[test]
fn a_broken_config_is_shown_by_diff_and_put_right_by_rollback() {
    let (daemon, config) = main_with_token("env: { SIM_NOTE: hunter2-in-env }");
    daemon.wait_state("main", "running");
    let good = fs::read(&config).expect("read config");

    // The config main started with is kept, private.
    let generation = wait_last_good(&daemon, "main");
    assert_eq!(
        fs::read(generation.join("openclaw.json")).expect("kept"),
        good
    );
    assert_eq!(mode(&generation.join("openclaw.json")), 0o600);
    assert_eq!(mode(&generation.join("declaration.yaml")), 0o600);
    assert_eq!(mode(&generation), 0o700);
    assert_eq!(mode(&daemon.state_dir.join("last-good")), 0o700);
    let declaration = fs::read_to_string(generation.join("declaration.yaml")).expect("kept");
    assert!(
        declaration.contains("SIM_NOTE: <redacted>"),
        "{declaration}"
    );
    assert!(!declaration.contains("hunter2"), "{declaration}");
    let same = daemon.client(&["diff", "main"]);
    assert!(same.status.success(), "{same:?}");
    assert!(
        stdout(&same).starts_with("no change since the last good (at "),
        "{}",
        stdout(&same)
    );

    // Broken while it runs: not recorded as good, and diff shows it.
    let broken = break_config(&config);
    let diff = daemon.client(&["diff", "main"]);
    assert!(diff.status.success(), "{diff:?}");
    let text = stdout(&diff);
    assert!(text.contains("+{ bogusKey: true, gateway:"), "{text}");
    assert!(text.contains("token: <redacted, changed>"), "{text}");
    for secret in [SECRET_GOOD, SECRET_NEW] {
        assert!(!text.contains(secret), "a secret in the diff:\n{text}");
    }

    let mut events = Events::follow(&daemon);
    let restart = daemon.client(&["restart", "--force", "main"]);
    assert!(restart.status.success(), "{restart:?}");
    events.wait("main failed with exit 78", is("main", "failed"));
    assert_eq!(
        generations(&daemon, "main"),
        std::slice::from_ref(&generation)
    );

    // Without `--wait`: the config watcher may still retry the broken
    // config once (its change is seen late), and `--wait` would take that
    // attempt's exit 78 for the rollback's.
    let rollback = daemon.client(&["rollback", "main"]);
    assert!(rollback.status.success(), "{rollback:?}");
    assert!(
        stdout(&rollback).contains("rolled back: by operator"),
        "{rollback:?}"
    );
    assert_eq!(fs::read(&config).expect("read config"), good);
    assert_eq!(mode(&config), 0o640, "the config keeps its mode");
    let rejected = rejected_files(&config);
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(fs::read_to_string(&rejected[0]).expect("read"), broken);
    assert_eq!(mode(&rejected[0]), 0o600);
    let name = rejected[0]
        .file_name()
        .expect("name")
        .to_string_lossy()
        .to_string();
    assert!(
        name.starts_with("openclaw.json.")
            && name.len() == "openclaw.json.20261204T223000Z.rejected".len(),
        "{name}"
    );

    let event = events.wait("the rolled_back event", is("main", "rolled_back"));
    let detail = event["detail"].as_str().expect("detail");
    assert!(detail.starts_with("by operator: "), "{event}");
    assert!(
        detail.contains(&rejected[0].display().to_string()),
        "{event}"
    );
    events.wait("main started on the good config", is("main", "started"));
    let main = daemon.instance("main").expect("main");
    assert_eq!(main["state"], "running", "{main}");
    assert_eq!(main["rolled_back"]["reason"], "by operator", "{main}");
    assert_eq!(
        main["rolled_back"]["from"],
        rejected[0].display().to_string()
    );
    let detail = stdout(&daemon.client(&["status", "main"]));
    assert!(detail.contains("  rolled back  "), "{detail}");

    // Nothing to roll back now.
    let again = daemon.client(&["rollback", "main"]);
    assert_eq!(again.status.code(), Some(1), "{again:?}");
    assert!(
        stderr(&again).contains("main's config has not changed since the last good"),
        "{again:?}"
    );
}

#[test]
fn rollback_is_refused_without_a_last_good() {
    let (mut daemon, port) = Daemon::prepare(&[("main", PROBES)]);
    let config = write_sim_config(daemon.path(), "main", port, "");
    break_config(&config);
    daemon.start();
    daemon.wait_state("main", "failed");
    let diff = daemon.client(&["diff", "main"]);
    assert!(diff.status.success(), "{diff:?}");
    assert!(
        stdout(&diff).contains("main: no last known good yet"),
        "{diff:?}"
    );
    let refused = daemon.client(&["rollback", "main"]);
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert!(
        stderr(&refused).contains("main has no last known good config yet"),
        "{refused:?}"
    );
    assert!(rejected_files(&config).is_empty());
    assert!(generations(&daemon, "main").is_empty());
}

#[test]
fn rollback_auto_rolls_back_once_after_an_exit_78_that_follows_a_config_change() {
    let (daemon, config) = main_with_token("rollback: auto");
    daemon.wait_state("main", "running");
    wait_last_good(&daemon, "main");
    let good = fs::read(&config).expect("read config");
    let mut events = Events::follow(&daemon);

    break_config(&config);
    let restart = daemon.client(&["restart", "--force", "main"]);
    assert!(restart.status.success(), "{restart:?}");
    // The exit 78 is reported `failed` once the rollback was decided (a
    // rescue's wake message says so): `rolled_back` comes first.
    let event = events.wait("the rolled_back event", is("main", "rolled_back"));
    events.wait("main failed with exit 78", is("main", "failed"));
    assert!(
        event["detail"].as_str().is_some_and(
            |d| d.starts_with("exit 78 right after its config changed (rollback: auto): ")
        ),
        "{event}"
    );
    events.wait("main started on the good config", is("main", "started"));
    assert_eq!(fs::read(&config).expect("read config"), good);
    assert_eq!(rejected_files(&config).len(), 1);
    let main = daemon.instance("main").expect("main");
    assert_eq!(
        main["rolled_back"]["reason"], "exit 78 right after its config changed (rollback: auto)",
        "{main}"
    );
    assert_eq!(events.count("main", "rolled_back"), 1, "{:#?}", events.seen);
    let log = daemon.log_text();
    assert!(
        log.contains("main: rolled back: exit 78 right after"),
        "{log}"
    );

    // A failure that is not a config change (the good config, exit 78 by
    // hand) is not rolled back.
    let port = main["ports"]["base"].as_u64().expect("port") as u16;
    crash(port, 78);
    events.wait("main failed again", is("main", "failed"));
    let status = daemon.instance("main").expect("main");
    assert_eq!(status["state"], "failed", "{status}");
    wait_for("rollback: auto saying why it does not roll back", || {
        let log = daemon.log_text();
        (log.contains("rollback: auto does not roll back")
            && log.contains("it ran the last good config"))
        .then_some(())
    });
    assert_eq!(events.count("main", "rolled_back"), 1, "{:#?}", events.seen);
    assert_eq!(fs::read(&config).expect("read config"), good);
}

#[test]
fn a_notify_token_is_neither_kept_nor_shown_by_diff_and_a_stopped_instance_is_started_by_rollback()
{
    const NOTIFY_ONE: &str = "tk-notify-one-123";
    const NOTIFY_TWO: &str = "tk-notify-two-456";
    let (daemon, config) = main_with_token(&format!(
        "notify: {{ command: [/bin/true, --token, {NOTIFY_ONE}], on: [failed] }}"
    ));
    daemon.wait_state("main", "running");
    let generation = wait_last_good(&daemon, "main");
    let kept = fs::read_to_string(generation.join("declaration.yaml")).expect("kept");
    assert!(!kept.contains(NOTIFY_ONE), "{kept}");
    assert!(kept.contains("--token"), "{kept}");
    assert!(kept.contains("<redacted>"), "{kept}");

    // Another token and another `on`: diff shows the notify part, redacted.
    let path = daemon.dir.join("main.yaml");
    let text = fs::read_to_string(&path).expect("read declaration");
    let changed = text
        .replace(NOTIFY_ONE, NOTIFY_TWO)
        .replace("on: [failed]", "on: [failed, recovered]");
    assert_ne!(text, changed);
    let mut events = Events::follow(&daemon);
    fs::write(&path, changed).expect("write declaration");
    let _ = daemon.client(&["reload"]);
    events.reloaded("main");
    let diff = daemon.client(&["diff", "main"]);
    assert!(diff.status.success(), "{diff:?}");
    let shown = stdout(&diff);
    assert!(shown.contains("recovered"), "{shown}");
    for token in [NOTIFY_ONE, NOTIFY_TWO] {
        assert!(
            !shown.contains(token),
            "a notify token in the diff:\n{shown}"
        );
    }

    // README: `rollback` of a stopped instance starts it (as `restart`).
    break_config(&config);
    let stop = daemon.client(&["stop", "main", "--wait"]);
    assert!(stop.status.success(), "{stop:?}");
    assert_eq!(daemon.state("main").as_deref(), Some("stopped"));
    let rollback = daemon.client(&["rollback", "main", "--wait"]);
    assert!(rollback.status.success(), "{rollback:?}");
    let main = daemon.instance("main").expect("main");
    assert_eq!(main["state"], "running", "{main}");
}
