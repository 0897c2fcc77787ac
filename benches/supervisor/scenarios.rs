//! The measurements. Each takes a fleet (or makes one), times what the
//! issue asks for from outside the supervisor, and adds rows to the report.

use std::collections::HashSet;
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use openclaw_supervisor::control;
use openclaw_supervisor::protocol::{EventKind, Request, Response};

use crate::fleet::{self, Fleet, Ports, RunWatch, alive, http_status, wait_for};
use crate::stats::{CostRow, Report, human, mib};

/// How often the benchmark polls a gateway's `/startupz`: the resolution of
/// the "answering" figures.
const STARTUPZ_POLL: Duration = Duration::from_micros(200);

/// Longer than the watcher's debounce (150 ms quiet), so the next
/// declaration written is a burst of its own.
const LET_THE_WATCHER_SETTLE: Duration = Duration::from_millis(500);

/// The restart settings of an instance that the respawn scenario kills. A
/// zero backoff is refused (it turns a crash loop into a hot loop), so the
/// run uses the smallest one: 1 ms, jittered down to 0.8..1 ms.
pub const FAST_RESTART: &str = "restart: { backoff: { initial: 1ms, max: 1ms } }";

/// A supervisor with one gateway, killed `count` times.
pub fn respawn(report: &mut Report, count: usize) {
    let mut ports = Ports::new();
    let mut fleet = Fleet::new();
    fleet.declare("victim", ports.take(), FAST_RESTART);
    fleet.start();
    respawn_in(report, &fleet, "victim", count);
}

/// SIGKILL the gateway of `name` (declared with [`FAST_RESTART`]) `count`
/// times; time each replacement.
pub fn respawn_in(report: &mut Report, fleet: &Fleet, name: &str, count: usize) {
    let port = fleet
        .ports
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, port)| *port)
        .expect("a declared instance");
    let watch = RunWatch::new(&fleet.run_dir());
    let mut pid = wait_for("the first gateway", Duration::from_millis(5), || {
        watch.pid(name)
    });
    wait_for("/startupz of the first gateway", STARTUPZ_POLL, || {
        (http_status(port, "/startupz") == Some(200)).then_some(())
    });
    let restarts_before = restarts_of(fleet, name);

    let mut noticed = Vec::with_capacity(count);
    let mut replaced = Vec::with_capacity(count);
    let mut answering = Vec::with_capacity(count);
    for _ in 0..count {
        watch.drain();
        let killed_at = Instant::now();
        kill(Pid::from_raw(pid), Signal::SIGKILL).expect("SIGKILL the gateway");
        let removed_at = watch.next_removed(name);
        let (written_at, new_pid) = watch.next_written(name);
        assert!(
            new_pid != pid && alive(new_pid),
            "the record names a new, living gateway"
        );
        let ready_at = wait_for("/startupz of the new gateway", STARTUPZ_POLL, || {
            (http_status(port, "/startupz") == Some(200)).then(Instant::now)
        });
        noticed.push(removed_at - killed_at);
        replaced.push(written_at - killed_at);
        answering.push(ready_at - killed_at);
        pid = new_pid;
    }
    // Every kill was a restart (the snapshot may lag the record by a moment).
    wait_for("the restart count", Duration::from_millis(20), || {
        (restarts_of(fleet, name) >= restarts_before + count).then_some(())
    });
    let declared = fleet.ports.len();
    report.latency(
        format!("respawn ({declared} declared): SIGKILL → exit handled (pid record removed)"),
        &noticed,
        "reaper woken by SIGCHLD, leftovers checked",
    );
    report.latency(
        format!("respawn ({declared} declared): SIGKILL → new gateway's pid (record written)"),
        &replaced,
        "includes the 1 ms backoff",
    );
    report.latency(
        format!("respawn ({declared} declared): SIGKILL → new gateway's /startupz 200"),
        &answering,
        "includes the simulator's own start",
    );
}

fn restarts_of(fleet: &Fleet, name: &str) -> usize {
    fleet
        .status()
        .iter()
        .find(|i| i.name == name)
        .map_or(0, |i| i.restarts as usize)
}

/// Status round trips over the control socket, each on a connection of its
/// own as the command line and the rescue bot make them.
pub fn status(report: &mut Report, fleet: &Fleet, requests: usize, clients_list: &[usize]) {
    let instances = fleet.ports.len();
    let first = fleet.ports[0].0.clone();
    for (scope, name) in [("one", Some(first)), ("all", None)] {
        for &clients in clients_list {
            let per_client = requests.div_ceil(clients);
            let socket = fleet.socket.clone();
            let (samples, wall) = fleet.block_on(async {
                for _ in 0..20 {
                    status_once(&socket, name.clone()).await;
                }
                let started = Instant::now();
                let tasks: Vec<_> = (0..clients)
                    .map(|_| {
                        let socket = socket.clone();
                        let name = name.clone();
                        tokio::spawn(async move {
                            let mut samples = Vec::with_capacity(per_client);
                            for _ in 0..per_client {
                                let sent = Instant::now();
                                status_once(&socket, name.clone()).await;
                                samples.push(sent.elapsed());
                            }
                            samples
                        })
                    })
                    .collect();
                let mut samples = Vec::with_capacity(per_client * clients);
                for task in tasks {
                    samples.extend(task.await.expect("a status client"));
                }
                (samples, started.elapsed())
            });
            let rate = samples.len() as f64 / wall.as_secs_f64();
            report.latency(
                format!(
                    "status {scope} ({instances} declared), {clients} client{}",
                    if clients == 1 { "" } else { "s" }
                ),
                &samples,
                format!("{rate:.0} requests/s"),
            );
        }
    }
}

async fn status_once(socket: &std::path::Path, name: Option<String>) {
    let one = name.is_some();
    match control::request(socket, Request::Status { name }).await {
        Ok(Response::Status { instances, .. }) if !one || instances.len() == 1 => {}
        other => panic!("status failed: {other:?}"),
    }
}

/// The `status` command as an operator runs it: a process each time, for
/// one instance (`status NAME`) and for all.
pub fn status_command(report: &mut Report, fleet: &Fleet, count: usize) {
    let first = fleet.ports[0].0.clone();
    for name in [Some(first), None] {
        let mut samples = Vec::with_capacity(count);
        for _ in 0..count {
            let started = Instant::now();
            let output = Command::new(fleet::supervisor())
                .arg("--socket")
                .arg(&fleet.socket)
                .arg("status")
                .args(name.iter())
                .output()
                .expect("run `status`");
            samples.push(started.elapsed());
            assert!(
                output.status.success(),
                "`status` failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let (command, what) = match name {
            Some(_) => ("status NAME", "spawn, connect, render one instance, exit"),
            None => ("status", "spawn, connect, render the table, exit"),
        };
        report.latency(
            format!(
                "`openclaw-supervisor {command}` as a process ({} declared)",
                fleet.ports.len()
            ),
            &samples,
            what,
        );
    }
}

/// The supervisor's own RSS and CPU time while nothing happens but the
/// default probes (liveness and readiness every 10 s per instance).
pub fn idle(report: &mut Report, fleet: &Fleet, window: Duration, label: &str) {
    fleet.wait_all_running();
    let instances = fleet.ports.len();
    let probed_before = probe_times(fleet);
    let before = fleet.usage();
    let before_nanos = fleet::cpu_nanos(fleet.pid());
    let started = Instant::now();
    let mut peak = before.rss_bytes;
    while started.elapsed() < window {
        std::thread::sleep((window - started.elapsed()).min(Duration::from_secs(1)));
        peak = peak.max(fleet.usage().rss_bytes);
    }
    let after = fleet.usage();
    let cpu = Duration::from_nanos(fleet::cpu_nanos(fleet.pid()).saturating_sub(before_nanos));
    let elapsed = started.elapsed();
    let probed_after = probe_times(fleet);
    let probed = probed_after
        .iter()
        .filter(|(name, at)| {
            probed_before
                .iter()
                .any(|(n, before)| n == name && before < at)
        })
        .count();
    let ticks = after.cpu.saturating_sub(before.cpu);
    let (keepers, keepers_pss, keepers_private) = fleet::keepers_of(fleet.pid());
    let probes = (instances as f64 * 2.0 * elapsed.as_secs_f64() / 10.0).round();
    report.cost(CostRow {
        figure: format!(
            "idle, {instances} instances{label}, {:.0} s",
            elapsed.as_secs_f64()
        ),
        rss: format!("{} ({} anon)", mib(after.rss_bytes), mib(after.anon_bytes)),
        cpu: format!(
            "{} ({:.3} %)",
            human(cpu),
            100.0 * cpu.as_secs_f64() / elapsed.as_secs_f64()
        ),
        note: format!(
            "utime+stime {:.2} s; peak RSS {}; ≈{probes} probes ({probed} of {instances} instances probed in the window), {} of CPU each; {keepers} keepers: PSS {} in all ({} private dirty, {} KiB each)",
            ticks.as_secs_f64(),
            mib(peak),
            if probes > 0.0 {
                human(cpu.div_f64(probes))
            } else {
                "-".to_string()
            },
            mib(keepers_pss),
            mib(keepers_private),
            keepers_private / 1024 / (keepers.max(1) as u64),
        ),
    });
}

/// When each instance's liveness and readiness probes last ran (summed,
/// so that either one running moves it).
fn probe_times(fleet: &Fleet) -> Vec<(String, u64)> {
    fleet
        .status()
        .into_iter()
        .map(|instance| {
            let at = |probe: &Option<openclaw_supervisor::protocol::ProbeStatus>| {
                probe.as_ref().map_or(0, |p| p.at)
            };
            let probes = &instance.probes;
            (instance.name, at(&probes.liveness) + at(&probes.readiness))
        })
        .collect()
}

/// Start a supervisor over `count` gateways and time it until every one
/// has passed its startup probe. Returns the fleet, still running.
pub fn scale(report: &mut Report, ports: &mut Ports, count: usize) -> Fleet {
    let mut fleet = Fleet::new();
    for index in 0..count {
        let port = ports.take();
        // The first one can be killed by the respawn scenario afterwards.
        let extra = if index == 0 { FAST_RESTART } else { "" };
        fleet.declare(&format!("g{index:03}"), port, extra);
    }
    let spawned_at = fleet.spawn();
    fleet.wait_answering();
    let socket = fleet.socket.clone();
    // Subscribe first, then ask: an instance that started in between is in
    // both, and none is missed.
    let all_running_at = fleet.block_on(async {
        let mut events = control::request_stream(&socket, Request::live_events())
            .await
            .expect("follow events");
        let mut running: HashSet<String> = running_now(&socket).await;
        let deadline = tokio::time::Instant::now() + fleet::DEADLINE;
        while running.len() < count {
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {} of {count} instances running before the deadline",
                running.len()
            );
            match tokio::time::timeout(Duration::from_millis(250), events.next()).await {
                Ok(Ok(Some(Response::Event(event)))) if event.kind == EventKind::Started => {
                    running.extend(event.instance);
                }
                Ok(Ok(Some(_))) => {}
                Ok(other) => panic!("the event stream ended: {other:?}"),
                // The server may have subscribed us after the status above
                // was taken: an instance that started in between is only
                // in a later status.
                Err(_) => running.extend(running_now(&socket).await),
            }
        }
        Instant::now()
    });
    let usage = fleet.usage();
    report.cost(CostRow {
        figure: format!("scale: start with {count} instances until all running"),
        rss: format!("{} ({} anon)", mib(usage.rss_bytes), mib(usage.anon_bytes)),
        cpu: format!("{:.2} s", usage.cpu.as_secs_f64()),
        note: format!(
            "all passed their startup probe {} after the supervisor was spawned",
            human(all_running_at - spawned_at)
        ),
    });
    fleet
}

async fn running_now(socket: &std::path::Path) -> HashSet<String> {
    match control::request(socket, Request::Status { name: None }).await {
        Ok(Response::Status { instances, .. }) => instances
            .into_iter()
            .filter(|i| i.state == "running")
            .map(|i| i.name)
            .collect(),
        other => panic!("status failed: {other:?}"),
    }
}

/// Write a new declaration file; time until its gateway's pid exists. With
/// `by_request`, a `reload` request follows the write at once; otherwise
/// the supervisor's directory watcher notices the file by itself.
pub fn reload(
    report: &mut Report,
    fleet: &mut Fleet,
    ports: &mut Ports,
    count: usize,
    by_request: bool,
) {
    let watch = RunWatch::new(&fleet.run_dir());
    let declared = fleet.ports.len();
    let mut samples = Vec::with_capacity(count);
    for index in 0..count {
        let name = format!("new{}{index}", if by_request { "r" } else { "w" });
        let port = ports.take();
        watch.drain();
        let written_at = fleet.declare(&name, port, "");
        if by_request {
            match fleet.call(Request::Reload) {
                Some(Response::Ok { .. }) => {}
                other => panic!("reload failed: {other:?}"),
            }
        }
        let (spawned_at, pid) = watch.next_written(&name);
        assert!(alive(pid), "the new gateway lives");
        samples.push(spawned_at - written_at);
        // Take it away again, so every sample reloads the same set.
        fleet.undeclare(&name);
        let _ = fleet.call(Request::Reload);
        watch.next_removed(&name);
        std::thread::sleep(LET_THE_WATCHER_SETTLE);
    }
    let (figure, note) = if by_request {
        ("`reload` request", "rescan, check, diff, spawn")
    } else {
        ("file watch", "inotify, 150 ms debounce, then as a request")
    };
    report.latency(
        format!("reload by {figure} ({declared} declared): new file → its gateway's pid"),
        &samples,
        note,
    );
}

/// Stop latency and idle CPU in each way of tracking a gateway's processes,
/// from one run: a supervisor in cgroup mode (where the host allows it),
/// then one with `OPENCLAW_SUPERVISOR_CGROUPS=off`, each over a lone
/// gateway and one with two workers that left its process group (setsid,
/// as a browser does: leftovers once the gateway exits). Each stop is timed
/// from the request to the state `stopped`, which the supervisor reaches
/// only once every process of the instance is gone (`cgroup.events` in
/// cgroup mode, a look at /proc every 20 ms in marker mode); the gateway is
/// started again between stops.
pub fn tracking(report: &mut Report, count: usize, window: Duration) {
    const GATEWAYS: [(&str, &str, &str); 2] = [
        ("lone", "", "a lone gateway"),
        (
            "workers",
            "env: { OPENCLAW_SIM_SETSID_GRANDCHILDREN: '2' }",
            "a gateway and 2 setsid workers",
        ),
    ];
    for (mode, switch) in [("cgroup", None), ("marker", Some("off"))] {
        let mut ports = Ports::new();
        let mut fleet = Fleet::new();
        if let Some(switch) = switch {
            fleet.env.push((
                "OPENCLAW_SUPERVISOR_CGROUPS".to_string(),
                switch.to_string(),
            ));
        }
        for (name, extra, _) in GATEWAYS {
            fleet.declare(name, ports.take(), extra);
        }
        fleet.start();
        fleet.wait_all_running();
        let tracking = fleet.status()[0].tracking.clone();
        let actual = tracking.as_ref().map_or("-", |t| t.mode.as_str());
        if actual != mode {
            let why = tracking.and_then(|t| t.reason).unwrap_or_default();
            println!("  {mode} mode not available here ({why}): skipped");
            continue;
        }
        let state = |fleet: &Fleet, name: &str| {
            fleet
                .status()
                .into_iter()
                .find(|instance| instance.name == name)
                .map(|instance| instance.state)
        };
        for (name, _, what) in GATEWAYS {
            let mut samples = Vec::with_capacity(count);
            for _ in 0..count {
                let asked = Instant::now();
                let answer = fleet.call(Request::Stop {
                    name: name.to_string(),
                });
                assert!(matches!(answer, Some(Response::Ok { .. })), "{answer:?}");
                wait_for("stopped", Duration::from_millis(1), || {
                    (state(&fleet, name).as_deref() == Some("stopped")).then_some(())
                });
                samples.push(asked.elapsed());
                fleet.call(Request::Start {
                    name: name.to_string(),
                });
                fleet.wait_all_running();
            }
            report.latency(
                format!("stop, {mode} mode, {what}"),
                &samples,
                "stop request -> `stopped`: SIGTERM, and every process of the instance gone",
            );
        }
        idle(report, &fleet, window, &format!(", {mode} mode"));
    }
}
