//! The actor over a fake [`Children`] that records every call and answers
//! as the test scripts it: events in (commands, exits, looks at leftovers),
//! calls, notices and snapshots out, with no process at all. Each test waits
//! for the call or state it expects (no sleep), bounded by [`PATIENCE`] so a
//! broken actor fails the test rather than hanging it.

use std::sync::Mutex;

use nix::sys::signal::Signal;

use super::children::{Adopting, Children, Heard, Left, Spawned, Start, StopSpec};
use super::*;
use crate::declaration::{HumanDuration, StopSignal};
use crate::probe::{BoxFuture, EffectiveProbe, ExecExit, ExecRunner, ProbeKind};
use crate::process::ChildExit;

/// A hang guard, not a timing assertion.
const PATIENCE: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Call {
    Prepare { port: u16 },
    Spawn { pid: i32, marker: String },
    LeaderExited(i32),
    SignalStop(StopSignal),
    Kill,
    Signal(Signal),
    Release,
    NoneComing,
    Exec(Vec<String>),
}

/// What the fake answers, as the test sets it.
struct Script {
    /// The next spawn fails with this.
    spawn_error: Option<String>,
    /// Whether a leader leaves processes behind.
    left: Left,
    /// Whether a look finds the leftovers gone.
    leftovers_gone: bool,
    /// What an exec probe exits with.
    exec_exit: i32,
}

struct Fake {
    calls: mpsc::UnboundedSender<Call>,
    heard: mpsc::UnboundedReceiver<Heard>,
    script: Arc<Mutex<Script>>,
    gateway: Option<i32>,
    /// Whether the gateway's leader exited (its leftovers may live on).
    leader_exited: bool,
    next_pid: i32,
}

impl Fake {
    fn call(&self, call: Call) {
        let _ = self.calls.send(call);
    }

    fn script(&self) -> std::sync::MutexGuard<'_, Script> {
        self.script.lock().expect("script")
    }

    fn leader_alive(&self) -> bool {
        self.gateway.is_some() && !self.leader_exited
    }
}

impl Children for Fake {
    fn prepare(&mut self, _: &[PathBuf], port: u16) -> Result<(), String> {
        self.call(Call::Prepare { port });
        Ok(())
    }

    fn spawn(&mut self, start: Start) -> BoxFuture<'_, Result<Spawned, String>> {
        Box::pin(async move {
            if let Some(error) = self.script().spawn_error.take() {
                return Err(error);
            }
            let pid = self.next_pid;
            self.next_pid += 1;
            self.gateway = Some(pid);
            self.leader_exited = false;
            self.call(Call::Spawn {
                pid,
                marker: start.marker,
            });
            Ok(Spawned {
                pid,
                at: std::time::SystemTime::now(),
            })
        })
    }

    fn adopt(&mut self, _: Adopted, _: Adopting) -> Option<Spawned> {
        None
    }

    fn signal_stop(&mut self, stop: StopSpec) {
        self.call(Call::SignalStop(stop.signal));
    }

    fn kill(&mut self, _: StopSpec) -> bool {
        self.call(Call::Kill);
        self.leader_alive()
    }

    fn signal(&mut self, signal: Signal) -> bool {
        self.call(Call::Signal(signal));
        self.leader_alive()
    }

    fn heard(&mut self) -> BoxFuture<'_, Heard> {
        Box::pin(async move {
            match self.heard.recv().await {
                Some(heard) => heard,
                None => std::future::pending().await,
            }
        })
    }

    fn leader_exited(&mut self, exit: ChildExit, _: StopSpec) -> Option<Left> {
        self.call(Call::LeaderExited(exit.pid));
        if self.gateway != Some(exit.pid) {
            return None;
        }
        self.leader_exited = true;
        Some(self.script().left)
    }

    fn look(&mut self) -> bool {
        self.script().leftovers_gone
    }

    fn release(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.gateway = None;
            self.call(Call::Release);
        })
    }

    fn none_coming(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async move { self.call(Call::NoneComing) })
    }

    fn exec_runner(&self, _: EnvMap, _: Option<PathBuf>) -> Arc<dyn ExecRunner> {
        Arc::new(FakeExec {
            calls: self.calls.clone(),
            script: self.script.clone(),
        })
    }
}

struct FakeExec {
    calls: mpsc::UnboundedSender<Call>,
    script: Arc<Mutex<Script>>,
}

impl ExecRunner for FakeExec {
    fn run<'a>(&'a self, argv: &'a [String], _: Duration) -> BoxFuture<'a, ExecExit> {
        Box::pin(async move {
            let _ = self.calls.send(Call::Exec(argv.to_vec()));
            ExecExit::Code(self.script.lock().expect("script").exec_exit)
        })
    }
}

/// One actor over a fake, and the test's ends of it.
struct Scene {
    handle: InstanceHandle,
    calls: mpsc::UnboundedReceiver<Call>,
    heard: mpsc::UnboundedSender<Heard>,
    script: Arc<Mutex<Script>>,
    notices: mpsc::UnboundedReceiver<InstanceNotice>,
    _dir: tempfile::TempDir,
}

const PORT: u16 = 18789;

/// An actor of `main`, not started, with no probe unless `change` adds one;
/// restarts at once after a first crash.
fn scene(change: impl FnOnce(&mut Effective)) -> Scene {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut effective = crate::isolation::fixtures::instance("main", PORT);
    crate::isolation::fixtures::state(
        &mut effective,
        &dir.path().join("openclaw").to_string_lossy(),
    );
    effective.file = dir.path().join("main.yaml");
    // A command that resolves (the fake never runs it).
    let program = dir.path().join("openclaw");
    std::fs::write(&program, "").expect("program");
    std::fs::set_permissions(
        &program,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("mode");
    effective.command = program.to_string_lossy().into_owned();
    let off = EffectiveProbe {
        enabled: false,
        ..effective.probes.startup.clone()
    };
    effective.probes.startup = off.clone();
    effective.probes.liveness = off.clone();
    effective.probes.readiness = off;
    effective.declaration.restart.backoff.initial = HumanDuration(Duration::ZERO);
    change(&mut effective);
    let (notices_tx, notices) = mpsc::unbounded_channel();
    let shared = Surroundings {
        state_dir: dir.path().join("supervisor"),
        inherited_env: Arc::new(EnvMap::new()),
        notices: notices_tx,
        supervisor_id: "test".to_string(),
        cgroups: crate::cgroup::Mode::Marker("a test".to_string()),
    };
    let log_sink = crate::logs::LogSink::start().expect("log writer");
    let (calls_tx, calls) = mpsc::unbounded_channel();
    let (heard, heard_rx) = mpsc::unbounded_channel();
    let script = Arc::new(Mutex::new(Script {
        spawn_error: None,
        left: Left::Nothing,
        leftovers_gone: false,
        exec_exit: 0,
    }));
    let fake = Fake {
        calls: calls_tx,
        heard: heard_rx,
        script: script.clone(),
        gateway: None,
        leader_exited: false,
        next_pid: 1000,
    };
    let config = InstanceConfig {
        effective,
        extra_env: EnvMap::new(),
    };
    let log = log_sink.instance_log(
        log_path(&shared.state_dir, "main"),
        config.effective.declaration.logs,
    );
    let (_notes_tx, notes) = mpsc::unbounded_channel();
    let begin = start::Begin {
        start: false,
        adopted: None,
        adoption: None,
        saved: None,
    };
    let handle = start::spawn_actor(config, shared, log, Box::new(fake), notes, begin);
    Scene {
        handle,
        calls,
        heard,
        script,
        notices,
        _dir: dir,
    }
}

impl Scene {
    async fn call(&mut self) -> Call {
        tokio::time::timeout(PATIENCE, self.calls.recv())
            .await
            .expect("a call in time")
            .expect("the fake lives")
    }

    /// The calls made so far and not looked at yet.
    fn calls_so_far(&mut self) -> Vec<Call> {
        let mut calls = Vec::new();
        while let Ok(call) = self.calls.try_recv() {
            calls.push(call);
        }
        calls
    }

    /// Start the instance; the pid of the gateway spawned.
    async fn started(&mut self) -> i32 {
        self.command(Command::Start).await;
        self.spawned().await
    }

    /// The next spawn's pid, after its preparation for the declared port.
    async fn spawned(&mut self) -> i32 {
        assert_eq!(self.call().await, Call::Prepare { port: PORT });
        match self.call().await {
            Call::Spawn { pid, .. } => pid,
            other => panic!("expected a spawn, got {other:?}"),
        }
    }

    /// `exit` of the gateway `pid`, and the actor asking its children about it.
    async fn exits(&mut self, pid: i32, exit: ExitKind) {
        self.exit(pid, exit);
        assert_eq!(self.call().await, Call::LeaderExited(pid));
    }

    async fn command(&self, command: Command) -> Outcome {
        tokio::time::timeout(PATIENCE, self.handle.command(command))
            .await
            .expect("an answer in time")
    }

    async fn state(&mut self, want: StateName) -> Snapshot {
        self.until(|snapshot| snapshot.state == want).await
    }

    /// The first published snapshot that `holds`.
    async fn until(&mut self, holds: impl FnMut(&Snapshot) -> bool) -> Snapshot {
        let mut snapshot = self.handle.snapshot.clone();
        let seen = tokio::time::timeout(PATIENCE, snapshot.wait_for(holds))
            .await
            .expect("the state in time")
            .expect("the actor publishes");
        seen.clone()
    }

    fn exit(&self, pid: i32, exit: ExitKind) {
        self.heard
            .send(Heard::Exit(ChildExit { pid, exit }))
            .expect("the actor hears");
    }

    /// The notices so far, without their details.
    fn notices(&mut self) -> Vec<Notice> {
        self.told().into_iter().map(|(notice, _)| notice).collect()
    }

    /// The notices so far, with their details.
    fn told(&mut self) -> Vec<(Notice, String)> {
        let mut notices = Vec::new();
        while let Ok(notice) = self.notices.try_recv() {
            notices.push((notice.notice, notice.detail));
        }
        notices
    }

    fn script(&self, change: impl FnOnce(&mut Script)) {
        change(&mut self.script.lock().expect("script"));
    }
}

fn done(state: StateName) -> Outcome {
    Outcome::Done { state }
}

fn refused(reason: Refusal) -> Outcome {
    Outcome::Refused { reason }
}

#[tokio::test]
async fn a_start_spawns_once_with_a_marker_of_its_own_and_the_declared_port() {
    let mut scene = scene(|_| {});
    assert_eq!(
        scene.command(Command::Start).await,
        done(StateName::Running)
    );
    assert_eq!(scene.call().await, Call::Prepare { port: PORT });
    let Call::Spawn { marker, .. } = scene.call().await else {
        panic!("expected a spawn");
    };
    assert!(marker.starts_with("main:test:"), "{marker}");
    let snapshot = scene.state(StateName::Running).await;
    assert_eq!(snapshot.pid, Some(1000));
    assert_eq!(scene.notices(), [Notice::Spawned, Notice::Started]);
    assert_eq!(
        scene.command(Command::Start).await,
        refused(Refusal::Already(StateName::Running))
    );
    assert_eq!(scene.calls_so_far(), []);
}

#[tokio::test]
async fn a_crash_is_heard_once_the_group_is_gone_and_restarted() {
    let mut scene = scene(|_| {});
    let first = scene.started().await;
    scene.notices();
    scene.exits(first, ExitKind::Code(1)).await;
    assert_eq!(scene.call().await, Call::Release);
    let second = scene.spawned().await;
    assert_ne!(first, second);
    let snapshot = scene.until(|s| s.pid == Some(second)).await;
    assert_eq!(snapshot.state, StateName::Running);
    assert_eq!(snapshot.restarts, 1);
    assert_eq!(
        snapshot.last_exit.map(|(exit, _)| exit),
        Some(ExitKind::Code(1))
    );
    assert_eq!(
        scene.notices(),
        [
            Notice::Exited(ExitKind::Code(1)),
            Notice::Backoff {
                delay: Duration::ZERO
            },
            Notice::Spawned,
            Notice::Started
        ]
    );
}

#[tokio::test]
async fn an_exit_of_a_process_that_is_not_the_gateway_changes_nothing() {
    let mut scene = scene(|_| {});
    let pid = scene.started().await;
    scene.exits(pid + 7, ExitKind::Code(1)).await;
    // A command after it is answered after it was heard.
    assert_eq!(
        scene.command(Command::Start).await,
        refused(Refusal::Already(StateName::Running))
    );
    assert_eq!(scene.calls_so_far(), []);
}

#[tokio::test]
async fn a_stop_signals_once_and_kills_at_the_timeout() {
    let mut scene = scene(|effective| {
        effective.declaration.stop.signal = StopSignal::INT;
        effective.declaration.stop.timeout = HumanDuration(Duration::from_millis(1));
    });
    let pid = scene.started().await;
    scene.notices();
    assert_eq!(
        scene.command(Command::Stop).await,
        done(StateName::Stopping)
    );
    assert_eq!(scene.call().await, Call::SignalStop(StopSignal::INT));
    assert_eq!(scene.call().await, Call::Kill);
    scene.exits(pid, ExitKind::Signal(9)).await;
    assert_eq!(scene.call().await, Call::Release);
    let snapshot = scene.state(StateName::Stopped).await;
    assert_eq!(snapshot.pid, None);
    assert_eq!(snapshot.kills_total, 1);
    assert_eq!(scene.call().await, Call::NoneComing);
    assert_eq!(scene.notices(), [Notice::Killed, Notice::Stopped]);
}

#[tokio::test]
async fn a_gateway_that_exits_at_the_stop_signal_is_not_killed() {
    let mut scene = scene(|_| {});
    let pid = scene.started().await;
    scene.command(Command::Stop).await;
    assert_eq!(scene.call().await, Call::SignalStop(StopSignal::TERM));
    scene.exits(pid, ExitKind::Code(0)).await;
    assert_eq!(scene.call().await, Call::Release);
    scene.state(StateName::Stopped).await;
    assert_eq!(scene.call().await, Call::NoneComing);
    assert_eq!(scene.calls_so_far(), []);
}

#[tokio::test]
async fn while_leftovers_are_stopped_the_actor_answers_and_then_hears_the_exit() {
    let mut scene = scene(|_| {});
    scene.script(|script| script.left = Left::Some);
    let pid = scene.started().await;
    scene.notices();
    scene.exits(pid, ExitKind::Code(1)).await;
    let exiting = scene.state(StateName::Exiting).await;
    assert_eq!(exiting.pid, None, "the leader is gone");
    // The crash is told at once and its leftovers get the stop signal;
    // nothing is released or restarted while the group lives; a look that
    // finds processes left changes nothing; a stop is answered.
    scene.heard.send(Heard::Look).expect("the actor hears");
    assert_eq!(scene.command(Command::Stop).await, done(StateName::Exiting));
    assert_eq!(scene.calls_so_far(), [Call::SignalStop(StopSignal::TERM)]);
    assert_eq!(scene.notices(), [Notice::Exited(ExitKind::Code(1))]);
    // The group is empty: the instance stops, as asked, not restarted.
    scene.script(|script| script.leftovers_gone = true);
    scene.heard.send(Heard::Look).expect("the actor hears");
    assert_eq!(scene.call().await, Call::Release);
    scene.state(StateName::Stopped).await;
    assert_eq!(scene.call().await, Call::NoneComing);
    assert_eq!(scene.notices(), [Notice::Stopped]);
}

#[tokio::test]
async fn a_spawn_that_fails_backs_off_with_its_reason_and_is_tried_again() {
    let mut scene = scene(|_| {});
    scene.script(|script| script.spawn_error = Some("port 18789 is taken".to_string()));
    scene.command(Command::Start).await;
    // The first spawn fails after its preparation; the retry, at once after
    // a first failure, succeeds.
    assert_eq!(scene.call().await, Call::Prepare { port: PORT });
    let pid = scene.spawned().await;
    let snapshot = scene.state(StateName::Running).await;
    assert_eq!(snapshot.pid, Some(pid));
    assert_eq!(snapshot.restarts, 1);
    let told = scene.told();
    assert_eq!(
        told[0],
        (
            Notice::Backoff {
                delay: Duration::ZERO
            },
            "restarting in 0s: port 18789 is taken".to_string()
        ),
        "{told:?}"
    );
}

#[tokio::test]
async fn a_signal_reaches_the_gateway_only_while_there_is_one() {
    let mut scene = scene(|_| {});
    assert_eq!(
        scene.command(Command::Signal(Signal::SIGHUP)).await,
        refused(Refusal::NoGateway(StateName::Stopped))
    );
    assert_eq!(scene.calls_so_far(), []);
    scene.started().await;
    assert_eq!(
        scene.command(Command::Signal(Signal::SIGHUP)).await,
        done(StateName::Running)
    );
    assert_eq!(scene.call().await, Call::Signal(Signal::SIGHUP));
}

#[tokio::test]
async fn exec_probes_run_through_the_children() {
    let argv = vec!["openclaw".to_string(), "health".to_string()];
    let mut scene = scene(|effective| {
        effective.probes.startup = EffectiveProbe {
            kind: ProbeKind::Exec { argv: argv.clone() },
            enabled: true,
            every: Duration::from_millis(1),
            timeout: Duration::from_secs(5),
            failures: 0,
            initial_delay: Duration::ZERO,
            allowance: Some(Duration::from_secs(600)),
        };
    });
    scene.script(|script| script.exec_exit = 1);
    assert_eq!(
        scene.command(Command::Start).await,
        done(StateName::Starting)
    );
    scene.spawned().await;
    // Failing, then passing: running once the probe passed.
    assert_eq!(scene.call().await, Call::Exec(argv.clone()));
    scene.script(|script| script.exec_exit = 0);
    scene.state(StateName::Running).await;
    let calls = scene.calls_so_far();
    assert!(
        calls.iter().all(|call| *call == Call::Exec(argv.clone())),
        "{calls:?}"
    );
}

#[tokio::test]
async fn a_removal_stops_the_gateway_and_ends_the_actor() {
    let mut scene = scene(|_| {});
    let pid = scene.started().await;
    scene.notices();
    assert_eq!(
        scene.command(Command::Remove).await,
        done(StateName::Stopping)
    );
    assert_eq!(scene.call().await, Call::SignalStop(StopSignal::TERM));
    scene.exits(pid, ExitKind::Code(0)).await;
    assert_eq!(scene.call().await, Call::Release);
    tokio::time::timeout(PATIENCE, scene.handle.closed())
        .await
        .expect("the actor ends");
    assert_eq!(scene.notices(), [Notice::Forgotten]);
}
