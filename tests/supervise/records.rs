//! Pid records, leftovers of an earlier supervisor, one stop signal then
//! SIGKILL, and nothing spawned once shutdown has begun.

use std::fs;

use crate::daemon_support::*;
use nix::sys::signal::Signal;
use serde_json::Value;

#[test]
fn records_that_do_not_match_their_process_are_kept_aside_and_never_signalled() {
    let (mut daemon, _) = Daemon::prepare(&[("main", "stop: { timeout: 500ms }")]);
    let plain = Sentinel::start(&daemon, &[]);
    let marked = Sentinel::start(&daemon, &[("OPENCLAW_SUPERVISOR_SPAWN", "planted")]);
    let plain_start = start_time(plain.pid()).expect("the sentinel runs");
    let marked_start = start_time(marked.pid()).expect("the sentinel runs");
    let records = [
        // No start time: the pid alone proves nothing.
        (
            "main",
            format!(
                r#"{{"pid": {}, "start_time": null, "marker": "x"}}"#,
                plain.pid()
            ),
        ),
        // No start time at all, for an instance that is not declared.
        (
            "ghost",
            format!(r#"{{"pid": {}, "marker": "x"}}"#, plain.pid()),
        ),
        // The right start time, but the process carries no such marker.
        (
            "unmarked",
            format!(
                r#"{{"pid": {}, "start_time": {plain_start}, "marker": "x"}}"#,
                plain.pid()
            ),
        ),
        // A marker some process does carry, but that process is not the
        // recorded pid.
        (
            "elsewhere",
            format!(
                r#"{{"pid": {}, "start_time": {plain_start}, "marker": "planted"}}"#,
                plain.pid()
            ),
        ),
        ("garbage", "this is not a record".to_string()),
    ];
    let run = daemon.state_dir.join("run");
    fs::create_dir_all(&run).expect("run dir");
    for (name, text) in &records {
        fs::write(run.join(format!("{name}.json")), text).expect("plant a record");
    }
    daemon.start();
    daemon.wait_state("main", "running");
    assert!(alive(plain.pid()), "the sentinel was never signalled");
    assert!(
        alive(marked.pid()),
        "the marked sentinel was never signalled"
    );
    assert_eq!(
        start_time(plain.pid()),
        Some(plain_start),
        "the sentinel was never signalled"
    );
    assert_eq!(
        start_time(marked.pid()),
        Some(marked_start),
        "the marked sentinel was never signalled"
    );
    let log = daemon.log_text();
    for (name, text) in &records {
        let kept = run.join("unverified").join(format!("{name}.json"));
        assert_eq!(
            fs::read_to_string(&kept).ok().as_deref(),
            Some(text.as_str()),
            "{name}'s record is kept aside as it was\n{log}"
        );
        if *name != "main" {
            assert!(
                !run.join(format!("{name}.json")).exists(),
                "{name}'s record is no longer taken as a live record"
            );
        }
        assert!(
            log.lines()
                .any(|line| line.contains("record") && line.contains(&format!("{name}.json"))),
            "the log says why {name}'s record was not acted on\n{log}"
        );
    }
}

#[test]
fn an_unreadable_intent_is_kept_aside_with_a_warning() {
    let (mut daemon, _) = Daemon::prepare(&[("main", "")]);
    fs::create_dir_all(&daemon.state_dir).expect("state dir");
    let garbage = "{\"stopped\": [\"main\"";
    fs::write(daemon.state_dir.join("intent.json"), garbage).expect("write intent");
    daemon.start();
    daemon.wait_state("main", "running");
    let kept = daemon.state_dir.join("intent.json.unreadable");
    assert_eq!(
        fs::read_to_string(&kept).ok().as_deref(),
        Some(garbage),
        "a copy of the unreadable intent is kept"
    );
    let log = daemon.log_text();
    assert!(
        log.lines().any(|line| line.contains("WARN")
            && line.contains("intent")
            && line.contains("intent.json.unreadable")),
        "the log warns and names the copy\n{log}"
    );
    // The next save writes a fresh intent and leaves the copy alone.
    assert!(daemon.client(&["stop", "main"]).status.success());
    daemon.wait_state("main", "stopped");
    let intent: Value = serde_json::from_str(
        &fs::read_to_string(daemon.state_dir.join("intent.json")).expect("intent"),
    )
    .expect("intent is JSON again");
    assert_eq!(intent["stopped"], serde_json::json!(["main"]));
    assert_eq!(fs::read_to_string(&kept).ok().as_deref(), Some(garbage));
}

/// A gateway (the simulator, exec'd by a script) that leaves a worker behind
/// which counts every SIGTERM it receives in `<root>/terms` and writes its
/// pid to `<root>/worker.pid` once its trap is set. Its output goes to
/// /dev/null: a shell writing to the pipe of a SIGKILLed supervisor would die
/// of SIGPIPE.
fn gateway_with_a_trapping_worker(root: &std::path::Path, port: u16, extra: &str) -> String {
    let script = root.join("gateway.sh");
    fs::write(
        &script,
        format!(
            "#!/bin/sh\nsh -c 'trap \"echo TERM >> {terms}\" TERM; echo $$ > {ready}.tmp; mv {ready}.tmp {ready}; while :; do sleep 0.05; done' >/dev/null 2>&1 &\nexec {SIM} \"$@\"\n",
            terms = root.join("terms").display(),
            ready = root.join("worker.pid").display(),
        ),
    )
    .expect("write the script");
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).expect("chmod");
    sim_declaration(root, "main", port, extra).replace(
        &format!("command: {SIM}"),
        &format!("command: {}", script.display()),
    )
}

fn trapping_worker(daemon: &Daemon) -> i32 {
    wait_for("the worker to trap SIGTERM", || {
        fs::read_to_string(daemon.path().join("worker.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    })
}

fn stop_signals_received(daemon: &Daemon) -> String {
    fs::read_to_string(daemon.path().join("terms")).unwrap_or_default()
}

/// A running supervisor over a main whose worker traps SIGTERM, and the
/// worker's pid.
fn main_with_a_trapping_worker() -> (Daemon, i32) {
    let port = free_base_port();
    let daemon = Daemon::with(|root| {
        vec![(
            "main.yaml",
            gateway_with_a_trapping_worker(root, port, "stop: { timeout: 1s }"),
        )]
    });
    daemon.wait_state("main", "running");
    let worker = trapping_worker(&daemon);
    (daemon, worker)
}

/// The worker is gone, and it got exactly one stop signal before SIGKILL.
fn assert_one_stop_signal_then_sigkill(daemon: &Daemon, worker: i32) {
    assert!(!alive(worker), "the worker was killed at the stop timeout");
    let terms = stop_signals_received(daemon);
    assert_eq!(
        terms.lines().count(),
        1,
        "one stop signal, then SIGKILL: the worker got {terms:?}"
    );
}

#[test]
fn a_leftover_that_traps_the_stop_signal_gets_it_once_then_sigkill() {
    let (daemon, worker) = main_with_a_trapping_worker();
    assert!(daemon.client(&["stop", "main"]).status.success());
    daemon.wait_state("main", "stopped");
    assert_one_stop_signal_then_sigkill(&daemon, worker);
}

#[test]
fn an_earlier_supervisors_leftover_gets_the_stop_signal_once_then_sigkill() {
    let (mut daemon, worker) = main_with_a_trapping_worker();
    daemon.signal(Signal::SIGKILL);
    daemon.wait_exit();
    // With its keeper gone too, the gateway is nobody's to adopt.
    daemon.kill_keepers();
    fs::remove_file(daemon.path().join("worker.pid")).expect("forget the old worker");
    daemon.start();
    // Leftovers are handled before the socket answers.
    assert_one_stop_signal_then_sigkill(&daemon, worker);
}

#[test]
fn nothing_is_spawned_once_shutdown_has_begun() {
    // Enough for a start storm, few enough that their ports (120 apart,
    // all claimed) fit beside the other tests' claims.
    const INSTANCES: u16 = 60;
    let base = claim_ports(120 * INSTANCES);
    let mut daemon = Daemon::new(&[]);
    for i in 0..INSTANCES {
        let name = format!("g{i:02}");
        let text = sim_declaration(daemon.path(), &name, base + 120 * i, "");
        fs::write(daemon.dir.join(format!("{name}.yaml")), text).expect("write declaration");
    }
    let log_path = daemon.path().join("supervisor.log");
    let log = fs::File::create(&log_path).expect("log");
    let child = daemon
        .command()
        .arg("start")
        .stdout(log.try_clone().expect("log fd"))
        .stderr(log)
        .spawn()
        .expect("spawn the supervisor");
    daemon.child = Some(child);
    // SIGTERM in the middle of the start storm: as soon as the first
    // instance is about to spawn.
    wait_for("the first start", || {
        daemon.log_text().contains("event=Start").then_some(())
    });
    daemon.signal(Signal::SIGTERM);
    let status = daemon.wait_exit();
    assert!(status.success(), "exit 0, got {status}");
    let log = daemon.log_text();
    let closing = log
        .lines()
        .find(|line| line.contains("nothing more is spawned"))
        .unwrap_or_else(|| panic!("the log says when spawning ended\n{log}"));
    let spawned_before: usize = closing
        .split("spawned=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the count of spawns: {closing}"));
    let gateways = log
        .lines()
        .filter(|line| line.contains(" DEBUG spawned instance="))
        .count();
    eprintln!("{gateways} of {INSTANCES} gateways spawned before shutdown began");
    assert_eq!(
        gateways, spawned_before,
        "every gateway was spawned before shutdown began\n{log}"
    );
    assert!(tagged(&daemon.tag).is_empty(), "nothing is left running");
}

#[test]
fn a_leftover_whose_declaration_was_deleted_is_stopped() {
    let (mut daemon, _) = Daemon::gateways(&[("main", ""), ("gone", "")]);
    daemon.wait_state("main", "running");
    daemon.wait_state("gone", "running");
    let old_main = daemon.instance_pid("main").expect("pid");
    let old_gone = daemon.instance_pid("gone").expect("pid");
    daemon.signal(Signal::SIGKILL);
    daemon.wait_exit();
    fs::remove_file(daemon.dir.join("gone.yaml")).expect("delete gone's declaration");
    daemon.start();
    // Leftovers are handled before the socket answers.
    assert!(
        !alive(old_gone),
        "the gateway of the deleted declaration was stopped"
    );
    assert!(
        !daemon.state_dir.join("run").join("gone.json").exists(),
        "the handled record is gone"
    );
    // main's is still declared: adopted, not stopped.
    daemon.wait_state("main", "running");
    assert_eq!(daemon.instance_pid("main"), Some(old_main));
    assert_eq!(daemon.descendants(), vec![old_main]);
    // gone's keeper heard its gateway's exit and ended.
    wait_for("gone's keeper to end", || {
        (daemon.keepers().len() == 1).then_some(())
    });
}

#[test]
fn what_a_dead_gateway_of_an_earlier_supervisor_left_behind_is_stopped() {
    // Found in review: a record whose gateway is gone was set aside, so the
    // workers it left (holding its ports) lived on beside the new gateway.
    let (mut daemon, worker) = main_with_a_trapping_worker();
    let leader = daemon.instance_pid("main").expect("main's pid");
    daemon.signal(Signal::SIGKILL);
    daemon.wait_exit();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(leader), Signal::SIGKILL)
        .expect("kill the gateway itself");
    wait_for("the old gateway to be gone", || {
        (!alive(leader)).then_some(())
    });
    assert!(alive(worker), "its worker lives on");
    fs::remove_file(daemon.path().join("worker.pid")).expect("forget the old worker");
    daemon.start();
    // The keeper tells the new supervisor how its gateway ended; what the
    // gateway left behind (init's children now) is stopped before the
    // instance starts again.
    wait_for("the old worker to be stopped", || {
        (!alive(worker)).then_some(())
    });
    assert_one_stop_signal_then_sigkill(&daemon, worker);
    daemon.wait_state("main", "running");
    let events = daemon.client(&["events", "main", "-n", "50"]);
    let text = String::from_utf8_lossy(&events.stdout).to_string();
    assert!(text.contains("adopted"), "{text}");
    assert!(
        text.contains("killed by SIGKILL"),
        "the exit its keeper kept: {text}"
    );
}

/// `status NAME`'s text.
fn status_text(daemon: &Daemon, name: &str) -> String {
    let output = daemon.client(&["status", name]);
    assert!(output.status.success(), "status {name} failed: {output:?}");
    String::from_utf8_lossy(&output.stdout).to_string()
}

#[test]
fn status_says_a_gateway_was_started_anew_with_no_record_or_a_record_that_did_not_match() {
    let (mut daemon, _) = Daemon::gateways(&[("main", "")]);
    let main = daemon.wait_state("main", "running");
    assert_eq!(main["adoption"]["kind"], "no_record", "{main}");
    let text = status_text(&daemon, "main");
    assert!(
        text.contains("  at start     restarted: no record\n"),
        "a fresh start: {text}"
    );
    let old = daemon.instance_pid("main").expect("pid");
    // The supervisor and the keeper gone at once: the record names a keeper
    // that no longer answers.
    daemon.signal(Signal::SIGKILL);
    daemon.wait_exit();
    daemon.kill_keepers();
    daemon.start();
    let new = daemon.wait_new_pid("main", Some(old));
    assert!(!alive(old), "the unkept gateway was stopped as a leftover");
    let main = daemon.wait_state("main", "running");
    assert_eq!(main["pid"].as_i64(), Some(i64::from(new)), "{main}");
    assert_eq!(main["adoption"]["kind"], "record_did_not_match", "{main}");
    let reason = main["adoption"]["reason"].as_str().expect("a reason");
    assert!(reason.contains("keeper"), "{main}");
    let text = status_text(&daemon, "main");
    assert!(
        text.contains(&format!(
            "  at start     restarted: record did not match ({reason})\n"
        )),
        "a start after the keeper died: {text}"
    );
}
