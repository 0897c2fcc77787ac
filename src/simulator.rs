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

mod boots;
mod cli;
mod logfile;
mod schema;
mod server;
mod setup;
mod validate;

use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use clap::Parser;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

pub use cli::{ConfigCommand, GatewayArgs, SimBehaviour, SimCli, SimCommand};
pub use server::SIM_GATEWAY_VERSION;
pub use setup::{
    DEFAULT_PORT, EXIT_CONFIG, Inputs, LockRecord, Refusal, Resolved, fnv1a32, lock_dir, lock_path,
    resolve,
};

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

/// How many times a port in use is retried, `BIND_RETRY_PAUSE` apart.
const BIND_ATTEMPTS: u32 = 5;
const BIND_RETRY_PAUSE: Duration = Duration::from_millis(100);

/// Entry point of the `openclaw-gateway-sim` binary.
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

/// Prints a gateway-like log line on stdout.
fn log(message: &str) {
    logfile::write(message);
    // A gateway whose supervisor died has no reader on its stdout: a log
    // line must not panic it (println! would), so write errors are ignored.
    let _ = writeln!(std::io::stdout().lock(), "{}", log_line(message));
}

/// Prints a gateway-like log line on stderr.
fn log_err(message: &str) {
    logfile::write(message);
    let _ = writeln!(std::io::stderr().lock(), "{}", log_line(message));
}

/// Whether log lines are coloured, by the real gateway's rule
/// (`getColorForConsole` in its `dist/subsystem-*.mjs`): a `FORCE_COLOR`
/// that is not blank nor `0` forces colour; otherwise colour needs no
/// `NO_COLOR` (an empty one does not count) and a terminal on stdout or
/// stderr, or a rich console: `COLORTERM` or `TERM_PROGRAM` set, or a
/// `TERM` other than `dumb`. So into a pipe with no `TERM`, no colour.
static COLOUR: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

#[derive(Debug, Default, Clone, Copy)]
struct ColourEnv<'a> {
    no_color: Option<&'a str>,
    force_color: Option<&'a str>,
    term: Option<&'a str>,
    colorterm: Option<&'a str>,
    term_program: Option<&'a str>,
    tty: bool,
}

fn colour_wanted(env: ColourEnv<'_>) -> bool {
    let set = |value: Option<&str>| value.is_some_and(|value| !value.is_empty());
    if env
        .force_color
        .is_some_and(|value| !value.trim().is_empty() && value.trim() != "0")
    {
        return true;
    }
    let term = env.term.unwrap_or("").trim().to_lowercase();
    let rich = set(env.colorterm) || set(env.term_program) || (!term.is_empty() && term != "dumb");
    !set(env.no_color) && (env.tty || rich)
}

fn log_line(message: &str) -> String {
    let now = humantime::format_rfc3339_millis(SystemTime::now());
    let colour = *COLOUR.get_or_init(|| {
        use std::io::IsTerminal as _;
        let var = |key: &str| std::env::var(key).ok();
        let (no_color, force_color, term, colorterm, term_program) = (
            var("NO_COLOR"),
            var("FORCE_COLOR"),
            var("TERM"),
            var("COLORTERM"),
            var("TERM_PROGRAM"),
        );
        colour_wanted(ColourEnv {
            no_color: no_color.as_deref(),
            force_color: force_color.as_deref(),
            term: term.as_deref(),
            colorterm: colorterm.as_deref(),
            term_program: term_program.as_deref(),
            tty: std::io::stdout().is_terminal() || std::io::stderr().is_terminal(),
        })
    });
    if colour {
        format!("\x1b[90m{now}\x1b[39m \x1b[36m[gateway]\x1b[39m {message}")
    } else {
        format!("{now} [gateway] {message}")
    }
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
    let wanted = behaviour.sim_grandchildren + behaviour.sim_setsid_grandchildren;
    if wanted > 0 {
        let exe = std::env::current_exe().map_err(|err| {
            format!("sim: cannot find its own executable to start grandchildren: {err}")
        })?;
        for index in 0..wanted {
            let escape = index >= behaviour.sim_grandchildren;
            let mut command = Command::new(&exe);
            command
                .args(reexec_prefix)
                .arg("--sim-grandchild")
                .stdin(Stdio::null());
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
            let child = command.spawn().map_err(|err| {
                format!(
                    "sim: cannot start a grandchild from {}: {err}",
                    exe.display()
                )
            })?;
            log(&format!(
                "sim: started grandchild {} ({})",
                child.id(),
                if escape {
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

/// Binds the port as openclaw 2026.9.6 does with `--bind loopback`
/// (`resolveGatewayListenHosts`, `dist/net-*.mjs`; the listen loop in
/// `dist/server-start-*.mjs`): 127.0.0.1, then ::1 when the host can bind
/// IPv6 at all. A port in use is retried on each (the real one: 20 retries
/// 500 ms apart; here `BIND_ATTEMPTS`, `BIND_RETRY_PAUSE` apart). When
/// 127.0.0.1 stays taken the gateway fails to start (exit 1, its lines
/// below); when only ::1 does, it warns and serves on 127.0.0.1 alone. Then
/// serves for ever. A bind failure is reported on `failed`.
async fn bind_and_serve(
    port: u16,
    log_file: PathBuf,
    bind_delay: Duration,
    started_at: Instant,
    state: Arc<SimState>,
    failed: mpsc::Sender<String>,
) {
    if !bind_delay.is_zero() {
        log(&format!(
            "sim: waiting {} before binding the port",
            humantime::format_duration(bind_delay)
        ));
        tokio::time::sleep(bind_delay).await;
    }
    let v4 = match bind_retrying(IpAddr::V4(Ipv4Addr::LOCALHOST), port).await {
        Ok(listener) => listener,
        Err(err) => {
            let _ = failed.send(bind_failure(port, &err)).await;
            return;
        }
    };
    // `canBindToHost("::1")`: an ephemeral port, to learn whether IPv6 works.
    let v6 = match std::net::TcpListener::bind((Ipv6Addr::LOCALHOST, 0)) {
        Err(_) => None,
        Ok(_) => match bind_retrying(IpAddr::V6(Ipv6Addr::LOCALHOST), port).await {
            Ok(listener) => Some(listener),
            Err(err) => {
                // The real line, as the real gateway printed it in a private
                // network namespace with [::1]:PORT held (its subsystem logger
                // turns `gateway: ` into the `[gateway]` tag), after its retries.
                log(&format!(
                    "failed to bind loopback alias ::1:{port} (GatewayLockError: {})",
                    lock_error(Ipv6Addr::LOCALHOST.into(), port, &err)
                ));
                None
            }
        },
    };
    let pid = std::process::id();
    log(&format!("listening on 127.0.0.1:{port} (PID {pid})"));
    if v6.is_some() {
        log(&format!("listening on [::1]:{port} (PID {pid})"));
    }
    log(&format!("log file: {}", log_file.display()));
    let announce = async move {
        tokio::time::sleep_until(tokio::time::Instant::from_std(started_at)).await;
        log("started");
    };
    let alias = async {
        if let Some(v6) = v6 {
            server::serve(v6, Arc::clone(&state)).await;
        }
    };
    tokio::join!(announce, server::serve(v4, Arc::clone(&state)), alias);
}

/// `host:port` bound, a port in use retried `BIND_ATTEMPTS` times.
async fn bind_retrying(host: IpAddr, port: u16) -> std::io::Result<TcpListener> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match TcpListener::bind((host, port)).await {
            Err(err) if err.kind() == std::io::ErrorKind::AddrInUse && attempt < BIND_ATTEMPTS => {
                tokio::time::sleep(BIND_RETRY_PAUSE).await;
            }
            result => return result,
        }
    }
}

/// The message of the real gateway's `GatewayLockError` for a failed listen.
fn lock_error(host: IpAddr, port: u16, err: &std::io::Error) -> String {
    if err.kind() == std::io::ErrorKind::AddrInUse {
        format!("another gateway instance is already listening on ws://{host}:{port}")
    } else {
        format!("failed to bind gateway socket on ws://{host}:{port}: {err}")
    }
}

/// The real gateway's lines when 127.0.0.1 cannot be bound (before its exit
/// 1): the error, the hint, and the port's holder (`formatPortDiagnostics`).
fn bind_failure(port: u16, err: &std::io::Error) -> String {
    let mut lines = vec![
        format!(
            "Gateway failed to start: {}",
            lock_error(Ipv4Addr::LOCALHOST.into(), port, err)
        ),
        "If the gateway is supervised, stop it with: openclaw gateway stop".to_string(),
    ];
    if err.kind() == std::io::ErrorKind::AddrInUse {
        lines.push(format!("Port {port} is already in use."));
        if let Some(holder) = crate::process::port_holder(port) {
            let address = std::net::SocketAddr::new(holder.address, port);
            lines.push(format!(
                "- pid {}: {} ({address})",
                holder.pid, holder.program
            ));
        }
    }
    lines.join("\n")
}

#[cfg(test)]
mod colour_tests {
    use super::{ColourEnv, colour_wanted};

    #[test]
    fn colour_follows_the_real_gateways_rule() {
        let none = ColourEnv::default();
        let rows = [
            ("a pipe, no TERM", none, false),
            ("a terminal", ColourEnv { tty: true, ..none }, true),
            (
                "TERM=xterm",
                ColourEnv {
                    term: Some("xterm"),
                    ..none
                },
                true,
            ),
            (
                "TERM=dumb",
                ColourEnv {
                    term: Some("dumb"),
                    ..none
                },
                false,
            ),
            (
                "COLORTERM",
                ColourEnv {
                    colorterm: Some("truecolor"),
                    ..none
                },
                true,
            ),
            (
                "TERM_PROGRAM",
                ColourEnv {
                    term_program: Some("vscode"),
                    ..none
                },
                true,
            ),
            (
                "NO_COLOR=1 with TERM",
                ColourEnv {
                    no_color: Some("1"),
                    term: Some("xterm"),
                    ..none
                },
                false,
            ),
            (
                "NO_COLOR= with TERM",
                ColourEnv {
                    no_color: Some(""),
                    term: Some("xterm"),
                    ..none
                },
                true,
            ),
            (
                "NO_COLOR=1 on a terminal",
                ColourEnv {
                    no_color: Some("1"),
                    tty: true,
                    ..none
                },
                false,
            ),
            (
                "FORCE_COLOR=1 into a pipe",
                ColourEnv {
                    force_color: Some("1"),
                    ..none
                },
                true,
            ),
            (
                "FORCE_COLOR=1 beats NO_COLOR",
                ColourEnv {
                    force_color: Some("1"),
                    no_color: Some("1"),
                    ..none
                },
                true,
            ),
            (
                "FORCE_COLOR=0 does not turn it off",
                ColourEnv {
                    force_color: Some("0"),
                    term: Some("xterm"),
                    ..none
                },
                true,
            ),
            (
                "FORCE_COLOR=0 does not force it",
                ColourEnv {
                    force_color: Some(" 0 "),
                    ..none
                },
                false,
            ),
            (
                "FORCE_COLOR blank",
                ColourEnv {
                    force_color: Some(" "),
                    ..none
                },
                false,
            ),
        ];
        for (what, env, expected) in rows {
            assert_eq!(colour_wanted(env), expected, "{what}");
        }
    }
}
