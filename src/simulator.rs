//! A gateway simulator that speaks the real openclaw gateway contract, so the
//! supervisor's tests and demo are fast and deterministic.
//!
//! Theory of operation: `openclaw-gateway-sim [--profile P] gateway --port N
//! --bind B` resolves its state dir, config and port exactly as
//! `openclaw@2026.9.6` does (see /work/shared/openclaw-gateway.md), refuses a
//! missing or invalid config with exit 78, takes the gateway lock file, binds
//! 127.0.0.1 and ::1 as the real one does (::1 taken: a warning, and it
//! serves on 127.0.0.1 alone; 127.0.0.1 taken: exit 1) and answers `/healthz`, `/startupz` and `/readyz` with the real
//! bodies. Behaviours a test needs (slow start, crash, wedge, ignoring
//! SIGTERM, slow stop, grandchildren) are asked for with `--sim-*` flags or
//! `OPENCLAW_SIM_*` variables, or at run time through the simulator-only
//! `/__sim/*` endpoints. Everything runs on one current-thread tokio runtime
//! so two hundred simulators fit in little memory.
//!
//! Grandchildren are started before the runtime exists (no fork inside it).
//! They re-execute this program in a hidden `--sim-grandchild` mode that only
//! waits to be killed; the simulator never kills them itself, so a test can
//! check that the supervisor does.

mod bind;
mod boots;
mod cli;
mod hooks;
mod logfile;
mod memory;
mod output;
mod schema;
mod server;
mod setup;
mod validate;

use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use clap::Parser;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

pub use cli::{ConfigCommand, GatewayArgs, SimBehaviour, SimCli, SimCommand};
pub use server::SIM_GATEWAY_VERSION;
pub use setup::{
    DEFAULT_PORT, EXIT_CONFIG, Inputs, LockRecord, Refusal, Resolved, fnv1a32, lock_dir, lock_path,
    resolve,
};

use bind::bind_and_serve;
use output::{log, log_err};
use server::{ServerEvent, SimState};

/// The simulator's own version (also what `/startupz` reports).
pub const SIM_VERSION: &str = SIM_GATEWAY_VERSION;

/// Environment markers that make the real gateway treat a restart request as
/// "exit 0 and let my supervisor relaunch me".
const EXTERNAL_MARKERS: [&str; 5] = [
    "INVOCATION_ID",
    "JOURNAL_STREAM",
    "SYSTEMD_EXEC_PID",
    "OPENCLAW_SYSTEMD_UNIT",
    "OPENCLAW_LAUNCHD_LABEL",
];

/// openclaw's `isTruthyEnvValue`: `1`, `true`, `yes` or `on`, any case,
/// surrounding blanks ignored.
fn is_truthy(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes" | "on"
    )
}

pub fn main() -> ExitCode {
    main_with(std::env::args_os().collect(), Vec::new())
}

/// Runs the simulator with `args` (argv, program name first).
///
/// `reexec_prefix` is put between this executable and `--sim-grandchild` when
/// grandchildren are started, so a host binary can embed the simulator under a
/// subcommand (e.g. `["simulate-gateway"]`); the standalone binary passes none.
pub fn main_with(args: Vec<OsString>, reexec_prefix: Vec<OsString>) -> ExitCode {
    let process_start = Instant::now();
    let cli = match SimCli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return ExitCode::from(if err.use_stderr() { 2 } else { 0 });
        }
    };
    if cli.sim_grandchild {
        if cli.sim_grandchild_ignore_sigterm {
            // SAFETY: SIG_IGN installs no handler code.
            let _ = unsafe {
                nix::sys::signal::signal(
                    nix::sys::signal::Signal::SIGTERM,
                    nix::sys::signal::SigHandler::SigIgn,
                )
            };
        }
        wait_until_killed();
    }
    if let Some(SimCommand::Config {
        command: ConfigCommand::Validate { json },
    }) = &cli.command
    {
        let inputs = Inputs {
            profile: cli.profile.clone(),
            env: process_env(),
            ..Inputs::default()
        };
        // An openclaw without the command (commander's answer).
        if inputs
            .env
            .get("OPENCLAW_SIM_VALIDATE_UNKNOWN")
            .is_some_and(|value| is_truthy(value))
        {
            eprintln!("error: unknown command 'config'");
            return ExitCode::from(1);
        }
        // A cold openclaw CLI takes seconds (13 s seen on a slow disk).
        if let Some(delay) = inputs
            .env
            .get("OPENCLAW_SIM_VALIDATE_DELAY")
            .and_then(|text| humantime::parse_duration(text).ok())
        {
            std::thread::sleep(delay);
        }
        let (stdout, stderr, code) = validate::run(&inputs, *json);
        let _ = std::io::stdout().lock().write_all(stdout.as_bytes());
        let _ = std::io::stderr().lock().write_all(stderr.as_bytes());
        return ExitCode::from(code);
    }
    let Some(SimCommand::Gateway(gateway)) = cli.command else {
        eprintln!(
            "openclaw-gateway-sim: nothing to do: run `openclaw-gateway-sim gateway --port N --bind loopback`"
        );
        return ExitCode::from(2);
    };
    let behaviour = gateway.sim.clone();
    if let Some(code) = behaviour.sim_exit_code {
        log_err(&format!(
            "sim: exiting at once with code {code} as asked (OPENCLAW_SIM_EXIT_CODE / --sim-exit-code)"
        ));
        return ExitCode::from(code);
    }

    let env = process_env();
    let external = env.get("OPENCLAW_SUPERVISOR_MODE").map(String::as_str) == Some("external")
        || EXTERNAL_MARKERS
            .iter()
            .any(|key| env.get(*key).is_some_and(|value| !value.trim().is_empty()));
    // Checked before any supervisor marker, as the real gateway does
    // (`resolveGatewayRestartDecision`): restarts stay in-process.
    let no_respawn = env
        .get("OPENCLAW_NO_RESPAWN")
        .is_some_and(|value| is_truthy(value));
    let inputs = Inputs {
        profile: cli.profile,
        port_flag: gateway.port,
        bind_flag: gateway.bind,
        allow_unconfigured: gateway.allow_unconfigured,
        env,
    };
    let resolved = match resolve(&inputs) {
        Ok(resolved) => resolved,
        Err(refusal) => return refuse(&refusal),
    };
    if let Some(tmpdir) = &resolved.tmpdir {
        // The real gateway (Node) keeps its compile cache here; a missing one is not fatal.
        let _ = fs::create_dir_all(tmpdir.join("node-compile-cache"));
    }
    let pid = std::process::id();
    let lock = match setup::acquire_lock(&resolved, pid) {
        Ok(lock) => lock,
        Err(refusal) => return refuse(&refusal),
    };
    log(&format!(
        "openclaw-gateway-sim {SIM_VERSION} starting (pid {pid}, profile {}, state dir {}, config {}, bind {}{})",
        resolved.profile.as_deref().unwrap_or("default"),
        resolved.state_dir.display(),
        resolved.config_path.display(),
        resolved.bind,
        if external {
            ", supervisor mode external"
        } else {
            ""
        },
    ));

    let log_file = logfile::path(
        resolved.logging_file.as_deref(),
        resolved.profile.as_deref(),
        resolved.tmpdir.as_deref(),
    );
    if let Err(err) = logfile::open(&log_file) {
        log_err(&format!(
            "cannot write the log file {}: {err}",
            log_file.display()
        ));
    }

    // The boot record and the restart-loop breaker, as the real `beginBoot`.
    let boots = boots::path(&resolved.state_dir);
    let (tripped, saved) = boots::begin(&boots, pid, unix_ms_now());
    if let Err(err) = saved {
        log_err(&format!(
            "failed to persist gateway boot start; fail-open: {err}"
        ));
    }
    if let Some(unclean) = tripped {
        log_err(&boots::tripped_line(unclean));
    }

    let children = match start_grandchildren(&behaviour, &reexec_prefix, pid) {
        Ok(children) => children,
        Err(message) => {
            log_err(&message);
            let _ = fs::remove_file(&lock);
            return ExitCode::from(1);
        }
    };

    memory::start(behaviour.sim_allocate_mib, behaviour.sim_grow_mib_per_sec);

    if behaviour.sim_busy {
        log("sim: keeping one core busy as asked");
        std::thread::spawn(|| {
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        });
    }

    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            log_err(&format!("cannot start the async runtime: {err}"));
            let _ = fs::remove_file(&lock);
            return ExitCode::from(1);
        }
    };
    let run = Run {
        process_start,
        log_file,
        port: resolved.port,
        hooks: resolved.hooks.clone().map(|config| {
            hooks::Hooks::new(config, &resolved.state_dir, behaviour.sim_hooks_unavailable)
        }),
        behaviour,
        relaunch: external && !no_respawn,
        no_respawn,
        lock,
        boots,
        breaker_tripped: tripped.is_some(),
        children,
    };
    runtime.block_on(run.serve())
}

fn unix_ms_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|since| u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The real gateway's active-work drain budget on a stop: 325 s of shutdown
/// less 10 s kept for final writes (`dist/gateway-shutdown-budget-*.mjs`).
const DRAIN_BUDGET: Duration = Duration::from_millis(315_000);

/// How often a drain still waiting says so (`RESTART_DRAIN_STILL_PENDING_WARN_MS`).
const STILL_DRAINING_EVERY: Duration = Duration::from_secs(30);

/// The process environment (variables that are not UTF-8 are skipped).
fn process_env() -> std::collections::BTreeMap<String, String> {
    std::env::vars_os()
        .filter_map(|(key, value)| Some((key.into_string().ok()?, value.into_string().ok()?)))
        .collect()
}

/// Logs why the gateway will not run, as the real one does, and exits.
fn refuse(refusal: &Refusal) -> ExitCode {
    match &refusal.follow_up {
        None => log_err(&refusal.message),
        Some(follow_up) => {
            // The real lines carry a timestamp but no `[gateway]` tag.
            let mut stderr = std::io::stderr().lock();
            for message in [&refusal.message, follow_up] {
                let now = humantime::format_rfc3339_millis(SystemTime::now());
                let _ = writeln!(stderr, "{now} {message}");
            }
        }
    }
    ExitCode::from(refusal.exit_code)
}

/// The grandchild mode: do nothing until a signal ends the process.
fn wait_until_killed() -> ! {
    loop {
        nix::unistd::pause();
    }
}

fn start_grandchildren(
    behaviour: &SimBehaviour,
    reexec_prefix: &[OsString],
    pid: u32,
) -> Result<Vec<Child>, String> {
    let mut children = Vec::new();
    let wanted = behaviour.sim_grandchildren
        + behaviour.sim_setsid_grandchildren
        + u32::from(behaviour.sim_child_clean_env);
    if wanted > 0 {
        let exe = std::env::current_exe().map_err(|err| {
            format!("sim: cannot find its own executable to start grandchildren: {err}")
        })?;
        for index in 0..wanted {
            let escape = index >= behaviour.sim_grandchildren;
            let clean_env =
                index >= behaviour.sim_grandchildren + behaviour.sim_setsid_grandchildren;
            let mut command = Command::new(&exe);
            command
                .args(reexec_prefix)
                .arg("--sim-grandchild")
                .stdin(Stdio::null());
            if clean_env {
                command.env_clear();
                if behaviour.sim_child_ignore_sigterm {
                    command.arg("--sim-grandchild-ignore-sigterm");
                }
            }
            if escape {
                // SAFETY: setsid is async-signal-safe and touches no memory of
                // the parent; it runs in the forked child just before exec.
                unsafe {
                    command.pre_exec(|| {
                        nix::unistd::setsid().map_err(std::io::Error::from)?;
                        Ok(())
                    });
                }
            }
            #[allow(clippy::disallowed_methods)]
            // The simulator is a program of its own, not the daemon.
            let child = command.spawn().map_err(|err| {
                format!(
                    "sim: cannot start a grandchild from {}: {err}",
                    exe.display()
                )
            })?;
            log(&format!(
                "sim: started grandchild {} ({})",
                child.id(),
                if clean_env {
                    "escaped with setsid, with an empty environment"
                } else if escape {
                    "escaped with setsid"
                } else {
                    "in the gateway's process group"
                }
            ));
            children.push(child);
        }
    }
    if let Some(pidfile) = &behaviour.sim_pidfile {
        let mut text = format!("{pid}\n");
        for child in &children {
            text.push_str(&format!("{}\n", child.id()));
        }
        write_atomically(pidfile, &text).map_err(|err| {
            format!(
                "sim: cannot write the pid file {}: {err}",
                pidfile.display()
            )
        })?;
    }
    Ok(children)
}

/// Writes through a temporary file and a rename, so readers see all or nothing.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let mut temporary = PathBuf::from(path);
    temporary.as_mut_os_string().push(".tmp");
    let mut file = fs::File::create(&temporary)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    fs::rename(&temporary, path)
}

/// What ends the simulated gateway.
enum Ending {
    /// SIGTERM, SIGINT or an external-mode restart request: exit 0 after the
    /// drain, lock removed. The line it logs, and whether it is a restart.
    Graceful(&'static str, &'static str),
    /// A simulated crash: exit with this code, lock left behind like a real crash.
    Crash(u8),
    /// The port could not be bound: exit 1, lock removed.
    BindFailed(String),
}

struct Run {
    process_start: Instant,
    log_file: PathBuf,
    port: u16,
    /// Its hooks, when the config enables them with a token.
    hooks: Option<hooks::Hooks>,
    behaviour: SimBehaviour,
    /// A restart request is an exit 0 for the supervisor to relaunch.
    relaunch: bool,
    /// `OPENCLAW_NO_RESPAWN` overrides external mode.
    no_respawn: bool,
    lock: PathBuf,
    /// Its boot records (see `boots`).
    boots: PathBuf,
    /// Its breaker tripped at boot: channel auto-start is suppressed until
    /// the window drains (its own boot's open record ages out of it too).
    breaker_tripped: bool,
    children: Vec<Child>,
}

/// The signals the simulated gateway listens to.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    usr2: tokio::signal::unix::Signal,
    chld: tokio::signal::unix::Signal,
    /// When each signal came, the last three within [`SIGNAL_REPEAT_WINDOW`].
    seen: std::collections::HashMap<&'static str, Vec<Instant>>,
}

/// The real gateway's window for repeated signals (`GATEWAY_SIGNAL_REPEAT_WINDOW_MS`).
const SIGNAL_REPEAT_WINDOW: Duration = Duration::from_secs(300);

impl Signals {
    fn new() -> std::io::Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            usr2: signal(SignalKind::user_defined2())?,
            chld: signal(SignalKind::child())?,
            seen: std::collections::HashMap::new(),
        })
    }

    /// The real `createGatewaySignalObserver`: the third `name` within 5
    /// minutes warns that another supervisor may be managing the gateway.
    fn observe(&mut self, name: &'static str) {
        let now = Instant::now();
        let times = self.seen.entry(name).or_default();
        times.retain(|at| now.duration_since(*at) <= SIGNAL_REPEAT_WINDOW);
        times.push(now);
        if times.len() == 3 {
            log(&format!(
                "received {name} 3 times in 5 min: another supervisor may be managing this Gateway — see `openclaw gateway status --deep`"
            ));
        }
        let excess = times.len().saturating_sub(3);
        times.drain(..excess);
    }
}

impl Run {
    async fn serve(mut self) -> ExitCode {
        let mut signals = match Signals::new() {
            Ok(signals) => signals,
            Err(err) => {
                log_err(&format!("sim: cannot install signal handlers: {err}"));
                let _ = fs::remove_file(&self.lock);
                return ExitCode::from(1);
            }
        };
        let (ending, state) = self.wait_for_ending(&mut signals).await;
        match ending {
            Ending::Graceful(line, action) => {
                log(line);
                state.set_draining();
                if let Some(delay) = self.behaviour.sim_stop_delay {
                    // The turn in flight when the stop came.
                    state.begin_turn(delay);
                }
                drain(&state, action, &mut signals).await;
                let _ = fs::remove_file(&self.lock);
                let outcome = if action == "stop" {
                    "clean_stop"
                } else {
                    "planned_restart"
                };
                let _ = boots::complete(&self.boots, std::process::id(), unix_ms_now(), outcome);
                log("[shutdown] completed cleanly");
                ExitCode::SUCCESS
            }
            Ending::Crash(code) => {
                for line in &self.behaviour.sim_crash_lines {
                    log_err(line);
                }
                log_err(&format!("sim: crashing with exit code {code}"));
                ExitCode::from(code)
            }
            Ending::BindFailed(message) => {
                for line in message.lines() {
                    log_err(line);
                }
                let _ = fs::remove_file(&self.lock);
                ExitCode::from(1)
            }
        }
    }

    async fn wait_for_ending(&mut self, signals: &mut Signals) -> (Ending, Arc<SimState>) {
        let (events_tx, mut events_rx) = mpsc::unbounded_channel();
        let start_delay = self.behaviour.sim_start_delay.unwrap_or_default();
        let state = Arc::new(SimState::new(
            self.process_start,
            start_delay,
            self.behaviour.sim_ready_failing.clone(),
            events_tx,
            self.hooks.take(),
        ));
        let (bind_tx, mut bind_rx) = mpsc::channel::<String>(1);
        tokio::spawn(bind_and_serve(
            self.port,
            self.log_file.clone(),
            self.behaviour.sim_bind_delay.unwrap_or_default(),
            self.process_start + start_delay,
            Arc::clone(&state),
            bind_tx,
        ));

        let start = tokio::time::Instant::from_std(self.process_start);
        let crash_at = self.behaviour.sim_crash_after.map(|delay| start + delay);
        let mut wedge_at = self.behaviour.sim_wedge_after.map(|delay| start + delay);
        let mut recover_at = self
            .breaker_tripped
            .then(|| start + Duration::from_millis(boots::WINDOW_MS));
        let ending = loop {
            tokio::select! {
                _ = signals.term.recv() => {
                    signals.observe("SIGTERM");
                    if self.behaviour.sim_ignore_sigterm {
                        log("sim: received SIGTERM and ignoring it as asked");
                    } else {
                        break Ending::Graceful("received SIGTERM; shutting down", "stop");
                    }
                }
                _ = signals.int.recv() => {
                    signals.observe("SIGINT");
                    break Ending::Graceful("received SIGINT; shutting down", "stop");
                }
                _ = signals.usr2.recv() => {
                    signals.observe("SIGUSR2");
                    // The real gateway's lines (`dist/run-*.mjs`): "received
                    // SIGUSR2; restarting", then the restart mode it chose.
                    log("received SIGUSR2; restarting");
                    if self.relaunch {
                        break Ending::Graceful(
                            "restart mode: full process restart (supervisor restart)",
                            "restart",
                        );
                    }
                    if self.no_respawn {
                        log("restart mode: in-process restart (OPENCLAW_NO_RESPAWN)");
                    } else {
                        log("restart mode: in-process restart (simulated: nothing changes)");
                    }
                }
                _ = signals.chld.recv() => self.reap_children(),
                _ = sleep_until_or_never(crash_at) => {
                    break Ending::Crash(self.behaviour.sim_crash_code);
                }
                _ = sleep_until_or_never(wedge_at) => {
                    log("sim: wedged as asked; no request will be answered from now on");
                    state.wedge();
                    wedge_at = None;
                }
                _ = sleep_until_or_never(recover_at) => {
                    // The real gateway rechecks once the whole window has
                    // drained without new unclean boots, then resumes.
                    log(crate::breaker::RECOVERED);
                    recover_at = None;
                }
                Some(event) = events_rx.recv() => match event {
                    ServerEvent::Crash(code) => break Ending::Crash(code),
                },
                Some(message) = bind_rx.recv() => break Ending::BindFailed(message),
            }
        };
        (ending, state)
    }

    /// Reaps grandchildren that died, so they do not linger as zombies.
    fn reap_children(&mut self) {
        self.children
            .retain_mut(|child| !matches!(child.try_wait(), Ok(Some(_)) | Err(_)));
    }
}

/// The real gateway's drain: it waits for the agent turns in flight, up to
/// [`DRAIN_BUDGET`], saying so in its own words; a stop signal meanwhile is
/// ignored ("received SIGTERM during shutdown; ignoring").
async fn drain(state: &SimState, action: &str, signals: &mut Signals) {
    let deadline = tokio::time::Instant::now() + DRAIN_BUDGET;
    let mut warned_at = tokio::time::Instant::now();
    let mut first = true;
    loop {
        let changed = state.turns_changed();
        let (active, last_end) = state.active_turns();
        let Some(last_end) = last_end else {
            break;
        };
        if first {
            log(&format!(
                "draining active work before {action} with timeout {}ms: embeddedRuns={active}",
                DRAIN_BUDGET.as_millis()
            ));
            first = false;
        }
        if tokio::time::Instant::now() >= deadline {
            log(&format!(
                "gateway active-work drain timeout reached; proceeding with shutdown: embeddedRuns={active}"
            ));
            break;
        }
        let still = warned_at + STILL_DRAINING_EVERY;
        tokio::select! {
            () = changed => {}
            () = tokio::time::sleep_until(last_end.min(deadline).min(still)) => {
                if tokio::time::Instant::now() >= still {
                    warned_at = still;
                    log(&format!("still draining active work before {action}: embeddedRuns={active}"));
                }
            }
            _ = signals.term.recv() => {
                signals.observe("SIGTERM");
                log("received SIGTERM during shutdown; ignoring");
            }
            _ = signals.int.recv() => {
                signals.observe("SIGINT");
                log("received SIGINT during shutdown; ignoring");
            }
            _ = signals.chld.recv() => {}
        }
    }
    if action == "stop" {
        log("active-work drain settled; beginning server close");
    } else if !first {
        log("all active work drained");
    }
}

async fn sleep_until_or_never(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
