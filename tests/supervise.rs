//! Supervising: spawn, stop and restart each gateway on its own, with the
//! real binary over simulated gateways.

mod daemon_support;

use std::fs;

use daemon_support::*;
use nix::sys::signal::Signal;
use serde_json::Value;

fn restarts(instance: &Value) -> u64 {
    instance["restarts"].as_u64().unwrap_or(0)
}

#[test]
fn a_crash_is_restarted_with_growing_delays() {
    let (daemon, _) = Daemon::gateways(&[(
        "main",
        "env: { OPENCLAW_SIM_EXIT_CODE: \"3\" }\nrestart: { backoff: { initial: 100ms, max: 10s } }",
    )]);
    let mut delays = Vec::new();
    let mut events = Events::follow(&daemon);
    events.wait("four backoff delays", |event| {
        if event["kind"] == "backoff" {
            let detail = event["detail"].as_str().unwrap_or_default();
            let delay = detail
                .strip_prefix("restarting in ")
                .and_then(|rest| rest.split(':').next())
                .and_then(|text| humantime::parse_duration(text.trim()).ok())
                .unwrap_or_else(|| panic!("a backoff event names its delay: {detail}"));
            delays.push(delay);
        }
        delays.len() >= 4
    });
    for pair in delays.windows(2) {
        assert!(pair[1] > pair[0], "delays grow: {delays:?}");
    }
    let main = daemon.instance("main").expect("main");
    assert!(restarts(&main) >= 3, "it keeps restarting: {main}");
    assert_eq!(main["last_exit"]["code"], 3);
}

#[test]
fn exit_78_is_failed_and_not_retried() {
    let port = free_base_port();
    let daemon = Daemon::with(|root| {
        let mut text = sim_declaration(
            root,
            "main",
            port,
            "restart: { backoff: { initial: 10ms } }",
        );
        // No config file at all: the gateway exits 78 like the real one.
        text = text.replace("config: ", "config: /nonexistent-dir/");
        vec![("main.yaml", text)]
    });
    let failed = daemon.wait_state("main", "failed");
    assert_eq!(failed["last_exit"]["code"], 78);
    let reason = failed["last_error_lines"].to_string();
    assert!(
        reason.contains("Missing config"),
        "the gateway's own words explain it: {reason}"
    );
    // A round trip through the supervisor's loop (reload) and it is still
    // failed with no restart: nothing retries a configuration error.
    assert!(daemon.client(&["reload"]).status.success());
    let after = daemon.instance("main").expect("main");
    assert_eq!(after["state"], "failed");
    assert_eq!(restarts(&after), 0);
}

#[test]
fn a_child_ignoring_sigterm_is_killed_after_the_stop_timeout() {
    let (daemon, _) = Daemon::gateways(&[(
        "main",
        "env: { OPENCLAW_SIM_IGNORE_SIGTERM: \"1\" }\nstop: { timeout: 500ms }",
    )]);
    daemon.wait_state("main", "running");
    let pid = daemon.instance_pid("main").expect("a pid");
    let output = daemon.client(&["stop", "main"]);
    assert!(output.status.success(), "{output:?}");
    let stopped = daemon.wait_state("main", "stopped");
    assert_eq!(stopped["last_exit"]["signal"], "SIGKILL");
    assert!(!alive(pid));
}

#[test]
fn grandchildren_and_escaped_descendants_are_gone_after_stop() {
    let port = free_base_port();
    let daemon = Daemon::with(|root| {
        let pidfile = root.join("pids");
        vec![(
            "main.yaml",
            sim_declaration(
                root,
                "main",
                port,
                &format!(
                    "env: {{ OPENCLAW_SIM_GRANDCHILDREN: \"2\", OPENCLAW_SIM_SETSID_GRANDCHILDREN: \"2\", OPENCLAW_SIM_PIDFILE: \"{}\" }}\nstop: {{ timeout: 2s }}",
                    pidfile.display()
                ),
            ),
        )]
    });
    daemon.wait_state("main", "running");
    let pidfile = daemon.path().join("pids");
    let pids: Vec<i32> = wait_for("the pidfile with 5 pids", || {
        let pids: Vec<i32> = fs::read_to_string(&pidfile)
            .ok()?
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        (pids.len() >= 5).then_some(pids)
    });
    assert!(
        pids.iter().all(|pid| alive(*pid)),
        "all running before the stop"
    );
    assert!(daemon.client(&["stop", "main"]).status.success());
    daemon.wait_state("main", "stopped");
    let left: Vec<i32> = pids.into_iter().filter(|pid| alive(*pid)).collect();
    assert!(left.is_empty(), "left alive after stop: {left:?}");
}

#[test]
fn a_crash_looping_main_leaves_the_rescue_alone() {
    let (daemon, _, _) = main_and_rescue(
        "env: { OPENCLAW_SIM_EXIT_CODE: \"1\" }\nrestart: { backoff: { initial: 20ms, max: 100ms } }",
        "",
    );
    let rescue = daemon.wait_state("rescue", "running");
    let rescue_pid = rescue["pid"].as_i64().expect("rescue pid");
    let uptime_before = rescue["uptime_secs"].as_u64().unwrap_or(0);
    wait_for("main to crash five times", || {
        daemon.instance("main").filter(|m| restarts(m) >= 5)
    });
    let rescue = daemon.instance("rescue").expect("rescue");
    assert_eq!(
        rescue["pid"].as_i64(),
        Some(rescue_pid),
        "same rescue process"
    );
    assert_eq!(rescue["state"], "running");
    assert_eq!(restarts(&rescue), 0);
    assert!(rescue["uptime_secs"].as_u64().unwrap_or(0) >= uptime_before);
}

#[test]
fn sigterm_to_the_supervisor_stops_every_child_and_exits_0() {
    let (mut daemon, _) = Daemon::gateways(&[("a", ""), ("b", "")]);
    daemon.wait_state("a", "running");
    daemon.wait_state("b", "running");
    let children: Vec<i32> = ["a", "b"]
        .iter()
        .map(|n| daemon.instance_pid(n).expect("pid"))
        .collect();
    daemon.signal(Signal::SIGTERM);
    let status = daemon.wait_exit();
    assert!(status.success(), "exit 0, got {status}");
    for pid in children {
        assert!(!alive(pid), "gateway {pid} outlived the supervisor");
    }
    assert!(tagged(&daemon.tag).is_empty());
}

#[test]
fn a_new_supervisor_stops_the_gateway_an_old_one_left_behind() {
    let (mut daemon, _) = Daemon::gateways(&[("main", "")]);
    daemon.wait_state("main", "running");
    let old = daemon.instance_pid("main").expect("pid");
    daemon.signal(Signal::SIGKILL);
    daemon.wait_exit();
    assert!(
        alive(old),
        "SIGKILL of the supervisor leaves its gateway running"
    );
    daemon.start();
    let new = daemon.wait_new_pid("main", Some(old));
    daemon.wait_state("main", "running");
    assert!(!alive(old), "the old gateway was stopped");
    assert!(alive(new));
    // Exactly one gateway for the instance: the supervisor and its one child.
    let gateways: Vec<i32> = tagged(&daemon.tag)
        .into_iter()
        .filter(|pid| *pid != daemon.pid())
        .collect();
    assert_eq!(gateways, vec![new]);
}

#[test]
fn a_command_gone_after_loading_retries_that_instance_and_the_other_runs() {
    let port = free_base_port();
    let daemon = Daemon::with(|root| {
        // A command that exists when the declaration is loaded (else the
        // file is rejected), and is then removed (an upgrade in progress).
        std::os::unix::fs::symlink(SIM, root.join("gw")).expect("symlink the gateway");
        let broken = sim_declaration(
            root,
            "broken",
            port,
            "restart: { backoff: { initial: 20ms, max: 50ms } }",
        )
        .replace(SIM, &root.join("gw").display().to_string());
        vec![
            ("broken.yaml", broken),
            ("good.yaml", sim_declaration(root, "good", port + 1000, "")),
        ]
    });
    daemon.wait_state("good", "running");
    daemon.wait_state("broken", "running");
    fs::remove_file(daemon.path().join("gw")).expect("remove the command");
    crash(port, 1);
    let broken = wait_for("the broken instance to retry", || {
        daemon.instance("broken").filter(|b| restarts(b) >= 2)
    });
    assert!(
        broken["last_error_lines"]
            .to_string()
            .contains(&daemon.path().join("gw").display().to_string()),
        "the error names the command: {broken}"
    );
    assert_eq!(daemon.state("good").as_deref(), Some("running"));
}

#[test]
fn a_relative_command_under_a_relative_dir_runs() {
    let port = free_base_port();
    let mut daemon = Daemon::new(&[]);
    std::os::unix::fs::symlink(SIM, daemon.path().join("gw")).expect("symlink the gateway");
    let text = sim_declaration(daemon.path(), "main", port, "")
        .replace(&format!("command: {SIM}"), "command: ../gw");
    fs::write(daemon.dir.join("main.yaml"), text).expect("write main.yaml");
    // `--dir supervisor.d`, relative to the supervisor's working directory.
    daemon.dir = std::path::PathBuf::from("supervisor.d");
    daemon.start();
    let main = daemon.wait_state("main", "running");
    assert!(main["pid"].as_i64().is_some(), "{main}");
}

#[test]
fn a_broken_file_at_start_is_rejected_and_main_and_rescue_run() {
    let (mut daemon, _) =
        Daemon::prepare(&[("main", ""), ("rescue", "role: rescue\nrescue_of: main\n")]);
    fs::write(daemon.dir.join("typo.yaml"), "port: [\n").expect("write typo.yaml");
    daemon.start();
    daemon.wait_state("main", "running");
    daemon.wait_state("rescue", "running");
    let status = daemon.status_json();
    let rejected = status["rejected"].as_array().cloned().unwrap_or_default();
    assert_eq!(rejected.len(), 1, "{status:#}");
    assert!(
        rejected[0]["file"]
            .as_str()
            .is_some_and(|file| file.ends_with("typo.yaml")),
        "{status:#}"
    );
    let reason = rejected[0]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("typo.yaml:1:"), "line and column: {reason}");
    let log = daemon.log_text();
    assert!(
        log.contains("declaration rejected") && log.contains("typo.yaml"),
        "the supervisor log says so: {log}"
    );
    let table = daemon.client(&["status"]);
    assert!(
        String::from_utf8_lossy(&table.stdout).contains("typo.yaml"),
        "{}",
        String::from_utf8_lossy(&table.stdout)
    );
}

#[test]
fn a_typo_in_main_does_not_stop_its_rescue() {
    let (mut daemon, _) =
        Daemon::prepare(&[("main", ""), ("rescue", "role: rescue\nrescue_of: main\n")]);
    let main = fs::read_to_string(daemon.dir.join("main.yaml")).expect("main.yaml");
    fs::write(daemon.dir.join("main.yaml"), format!("{main}prot: 1\n")).expect("write");
    daemon.start();
    daemon.wait_state("rescue", "running");
    assert!(daemon.instance("main").is_none(), "main is not run");
    let rejected = daemon.status_json()["rejected"].clone();
    assert!(rejected.to_string().contains("main.yaml"), "{rejected:#}");
}

#[test]
fn strict_start_refuses_everything_when_one_file_is_broken() {
    let (mut daemon, _) = Daemon::prepare(&[("main", "")]);
    fs::write(daemon.dir.join("typo.yaml"), "port: [\n").expect("write typo.yaml");
    let (status, stderr) = daemon.start_expecting_exit(&["--strict"]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--strict") && stderr.contains("typo.yaml:1:"),
        "{stderr}"
    );
    assert!(tagged(&daemon.tag).is_empty(), "nothing was spawned");
}

#[test]
fn start_exits_1_when_no_declaration_can_run() {
    let port = free_base_port();
    let mut daemon = Daemon::new(&[]);
    // Two newcomers in conflict: neither can be preferred, neither runs.
    for (name, at) in [("a", port), ("b", port + 20)] {
        let text = sim_declaration(daemon.path(), name, at, "");
        fs::write(daemon.dir.join(format!("{name}.yaml")), text).expect("write");
    }
    fs::write(daemon.dir.join("typo.yaml"), "port: [\n").expect("write typo.yaml");
    let (status, stderr) = daemon.start_expecting_exit(&[]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    for words in ["no declaration can run", "typo.yaml:1:", "a.yaml", "b.yaml"] {
        assert!(stderr.contains(words), "`{words}` not in: {stderr}");
    }
    assert!(tagged(&daemon.tag).is_empty(), "nothing was spawned");
}

/// Fill the filesystem under `dir` (seen through `/proc/PID/root`): a
/// filler file grows until ENOSPC, then `topped` files grow into the last
/// pages they already have, so no byte more fits anywhere.
fn fill(dir: &std::path::Path, topped: &[&std::path::Path]) {
    use std::io::Write;
    let no_space = |err: &std::io::Error| err.raw_os_error() == Some(libc::ENOSPC);
    let mut filler = fs::File::create(dir.join("filler")).expect("the filler");
    let chunk = vec![b'x'; 64 * 1024];
    let err = loop {
        if let Err(err) = filler.write_all(&chunk) {
            break err;
        }
    };
    assert!(no_space(&err), "the filler ends on ENOSPC: {err}");
    for path in topped {
        let mut file = fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .expect("a file to top up");
        let err = loop {
            if let Err(err) = file.write_all(b"#") {
                break err;
            }
        };
        assert!(no_space(&err), "{}: {err}", path.display());
    }
}

#[test]
fn a_full_state_dir_is_said_in_replies_saved_later_and_counted_in_status() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!(
            "skipped: a real full disk is a small tmpfs in a mount namespace of the supervisor's own, which needs root"
        );
        return;
    }
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::process::CommandExt;
    let (mut daemon, _) = Daemon::prepare(&[("q", "")]);
    fs::create_dir_all(&daemon.state_dir).expect("the state dir");
    let target = CString::new(daemon.state_dir.as_os_str().as_bytes()).expect("a C path");
    let (root, tmpfs) = (c"/", c"tmpfs");
    let options = c"size=1m,mode=0700";
    // The state dir is a 1 MiB tmpfs that only the supervisor (and its
    // children) see: it lives in a mount namespace of their own.
    daemon.start_with_setup(|command| unsafe {
        command.pre_exec(move || {
            if libc::unshare(libc::CLONE_NEWNS) != 0
                || libc::mount(
                    std::ptr::null(),
                    root.as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                ) != 0
                || libc::mount(
                    tmpfs.as_ptr(),
                    target.as_ptr(),
                    tmpfs.as_ptr(),
                    0,
                    options.as_ptr().cast(),
                ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    });
    daemon.wait_state("q", "running");
    // The supervisor's view of its state dir.
    let view = std::path::PathBuf::from(format!("/proc/{}/root", daemon.pid()))
        .join(daemon.state_dir.strip_prefix("/").expect("absolute"));
    let log = view.join("logs/q.log");
    let intent = || fs::read_to_string(view.join("intent.json")).unwrap_or_default();
    assert!(log.exists(), "q's output is captured on the tmpfs");

    fill(&view, &[&log]);
    let stop = daemon.client(&["stop", "q"]);
    let said = String::from_utf8_lossy(&stop.stdout).into_owned();
    assert!(stop.status.success(), "q was stopped: {said}");
    assert!(
        said.contains("stopping q; the stop could not be saved (No space left on device"),
        "{said}"
    );
    daemon.wait_state("q", "stopped");
    assert!(!intent().contains("\"q\""), "not saved: {}", intent());

    // Space returns: the stop is saved without another command.
    fs::remove_file(view.join("filler")).expect("free the space");
    wait_for("the stop to be saved", || {
        intent().contains("\"q\"").then_some(())
    });

    fill(&view, &[&log]);
    let start = daemon.client(&["start", "q"]);
    let said = String::from_utf8_lossy(&start.stdout).into_owned();
    assert!(start.status.success(), "q was started: {said}");
    assert!(
        said.contains("starting q; the start could not be saved (No space left on device"),
        "{said}"
    );
    daemon.wait_state("q", "running");
    // Its boot lines found no room in its log, nor do those of a restart.
    let dropped_lines = || {
        daemon
            .instance("q")
            .and_then(|q| q["dropped_log_lines"].as_u64())
    };
    let booted = wait_for("dropped lines in status", || {
        dropped_lines().filter(|n| *n > 0)
    });
    let pid = daemon.instance_pid("q");
    assert!(daemon.client(&["restart", "q"]).status.success());
    daemon.wait_new_pid("q", pid);
    daemon.wait_state("q", "running");
    let dropped = wait_for("the restart's lines dropped too", || {
        dropped_lines().filter(|n| *n >= booted + 2)
    });
    let table = String::from_utf8_lossy(&daemon.client(&["status"]).stdout).into_owned();
    assert!(table.contains("q: "), "{table}");
    assert!(
        table.contains(" output lines dropped: logs/q.log"),
        "{table}"
    );
    let json = daemon.status_json();
    assert!(json["instances"][0]["dropped_log_lines"].as_u64() >= Some(dropped));
    // One warning per episode of failed writes (an episode ends at the next
    // line written: q's exit removed its pid record, freeing a page), not
    // one per line.
    let text = daemon.log_text();
    let episodes = text.matches("cannot write a gateway's log").count();
    let ended = text.matches("a gateway's log can be written again").count();
    assert_eq!(episodes, ended + 1, "one warning an episode:\n{text}");

    fs::remove_file(view.join("filler")).expect("free the space again");
    wait_for("the start to be saved", || {
        (!intent().contains("\"q\"")).then_some(())
    });
    // The next line is written, and the episode's end is logged.
    assert!(daemon.client(&["restart", "q"]).status.success());
    wait_for("the log to be writable again", || {
        daemon
            .log_text()
            .contains("a gateway's log can be written again")
            .then_some(())
    });
}

/// Start time of a living process, in clock ticks since boot.
fn start_time_of(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19)?.parse().ok()
}

/// A process the test starts itself (not the supervisor): it dies of the
/// first SIGTERM, so being alive with the same start time proves that no
/// supervisor ever signalled it. Tagged, so the daemon's guard sweeps it; it
/// is also killed and reaped here.
struct Sentinel(std::process::Child);

impl Sentinel {
    fn start(daemon: &Daemon, env: &[(&str, &str)]) -> Sentinel {
        let child = std::process::Command::new("sleep")
            .arg("1000")
            .env("OPENCLAW_TEST_TAG", &daemon.tag)
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn a sentinel");
        Sentinel(child)
    }

    fn pid(&self) -> i32 {
        self.0.id() as i32
    }
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn records_that_do_not_match_their_process_are_kept_aside_and_never_signalled() {
    let (mut daemon, _) = Daemon::prepare(&[("main", "stop: { timeout: 500ms }")]);
    let plain = Sentinel::start(&daemon, &[]);
    let marked = Sentinel::start(&daemon, &[("OPENCLAW_SUPERVISOR_SPAWN", "planted")]);
    let plain_start = start_time_of(plain.pid()).expect("the sentinel runs");
    let marked_start = start_time_of(marked.pid()).expect("the sentinel runs");
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
        start_time_of(plain.pid()),
        Some(plain_start),
        "the sentinel was never signalled"
    );
    assert_eq!(
        start_time_of(marked.pid()),
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

#[test]
fn a_leftover_that_traps_the_stop_signal_gets_it_once_then_sigkill() {
    let port = free_base_port();
    let daemon = Daemon::with(|root| {
        vec![(
            "main.yaml",
            gateway_with_a_trapping_worker(root, port, "stop: { timeout: 1s }"),
        )]
    });
    daemon.wait_state("main", "running");
    let worker = trapping_worker(&daemon);
    assert!(daemon.client(&["stop", "main"]).status.success());
    daemon.wait_state("main", "stopped");
    assert!(!alive(worker), "the worker was killed at the stop timeout");
    let terms = stop_signals_received(&daemon);
    assert_eq!(
        terms.lines().count(),
        1,
        "one stop signal, then SIGKILL: the worker got {terms:?}"
    );
}

#[test]
fn an_earlier_supervisors_leftover_gets_the_stop_signal_once_then_sigkill() {
    let port = free_base_port();
    let mut daemon = Daemon::with(|root| {
        vec![(
            "main.yaml",
            gateway_with_a_trapping_worker(root, port, "stop: { timeout: 1s }"),
        )]
    });
    daemon.wait_state("main", "running");
    let worker = trapping_worker(&daemon);
    daemon.signal(Signal::SIGKILL);
    daemon.wait_exit();
    fs::remove_file(daemon.path().join("worker.pid")).expect("forget the old worker");
    daemon.start();
    // Leftovers are handled before the socket answers.
    assert!(!alive(worker), "the worker was killed at the stop timeout");
    let terms = stop_signals_received(&daemon);
    assert_eq!(
        terms.lines().count(),
        1,
        "one stop signal, then SIGKILL: the worker got {terms:?}"
    );
}

#[test]
fn nothing_is_spawned_once_shutdown_has_begun() {
    const INSTANCES: u16 = 100;
    let base = free_base_port();
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
        .filter(|line| line.contains(": spawned instance="))
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
    assert!(!alive(old_main), "main's old gateway was stopped");
    assert!(
        !daemon.state_dir.join("run").join("gone.json").exists(),
        "the handled record is gone"
    );
    let new = daemon.wait_new_pid("main", Some(old_main));
    let gateways: Vec<i32> = tagged(&daemon.tag)
        .into_iter()
        .filter(|pid| *pid != daemon.pid())
        .collect();
    assert_eq!(gateways, vec![new]);
}
