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

mod cli;
mod server;
mod setup;

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

pub use cli::{GatewayArgs, SimBehaviour, SimCli, SimCommand};
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

    let env: std::collections::BTreeMap<String, String> = std::env::vars_os()
        .filter_map(|(key, value)| Some((key.into_string().ok()?, value.into_string().ok()?)))
        .collect();
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
        Err(refusal) => {
            log_err(&refusal.message);
            return ExitCode::from(refusal.exit_code);
        }
    };
    if let Some(tmpdir) = &resolved.tmpdir {
        // The real gateway (Node) keeps its compile cache here; a missing one is not fatal.
        let _ = fs::create_dir_all(tmpdir.join("node-compile-cache"));
    }
    let pid = std::process::id();
    let lock = match setup::acquire_lock(&resolved, pid) {
        Ok(lock) => lock,
        Err(refusal) => {
            log_err(&refusal.message);
            return ExitCode::from(refusal.exit_code);
        }
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
        port: resolved.port,
        behaviour,
        relaunch: external && !no_respawn,
        no_respawn,
        lock,
        children,
    };
    runtime.block_on(run.serve())
}

/// Prints a gateway-like log line on stdout.
fn log(message: &str) {
    // A gateway whose supervisor died has no reader on its stdout: a log
    // line must not panic it (println! would), so write errors are ignored.
    let _ = writeln!(std::io::stdout().lock(), "{}", log_line(message));
}

/// Prints a gateway-like log line on stderr.
fn log_err(message: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{}", log_line(message));
}

/// Whether log lines are coloured: like the real gateway, even into a pipe,
/// unless `NO_COLOR` is set (not empty) or `FORCE_COLOR` is `0`.
static COLOUR: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

fn colour_wanted(no_color: Option<&str>, force_color: Option<&str>) -> bool {
    no_color.is_none_or(str::is_empty) && force_color != Some("0")
}

fn log_line(message: &str) -> String {
    let now = humantime::format_rfc3339_millis(SystemTime::now());
    let colour = *COLOUR.get_or_init(|| {
        colour_wanted(
            std::env::var("NO_COLOR").ok().as_deref(),
            std::env::var("FORCE_COLOR").ok().as_deref(),
        )
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
    /// SIGTERM, SIGINT or an external-mode restart request: exit 0, lock removed.
    Graceful(&'static str),
    /// A simulated crash: exit with this code, lock left behind like a real crash.
    Crash(u8),
    /// The port could not be bound: exit 1, lock removed.
    BindFailed(String),
}

struct Run {
    process_start: Instant,
    port: u16,
    behaviour: SimBehaviour,
    /// A restart request is an exit 0 for the supervisor to relaunch.
    relaunch: bool,
    /// `OPENCLAW_NO_RESPAWN` overrides external mode.
    no_respawn: bool,
    lock: PathBuf,
    children: Vec<Child>,
}

impl Run {
    async fn serve(mut self) -> ExitCode {
        match self.wait_for_ending().await {
            Ok(Ending::Graceful(why)) => {
                log(&format!("{why}: shutting down"));
                if let Some(delay) = self.behaviour.sim_stop_delay {
                    log(&format!(
                        "sim: stopping slowly ({})",
                        humantime::format_duration(delay)
                    ));
                    tokio::time::sleep(delay).await;
                }
                let _ = fs::remove_file(&self.lock);
                log("gateway stopped");
                ExitCode::SUCCESS
            }
            Ok(Ending::Crash(code)) => {
                log_err(&format!("sim: crashing with exit code {code}"));
                ExitCode::from(code)
            }
            Ok(Ending::BindFailed(message)) => {
                for line in message.lines() {
                    log_err(line);
                }
                let _ = fs::remove_file(&self.lock);
                ExitCode::from(1)
            }
            Err(err) => {
                log_err(&format!("sim: cannot install signal handlers: {err}"));
                let _ = fs::remove_file(&self.lock);
                ExitCode::from(1)
            }
        }
    }

    async fn wait_for_ending(&mut self) -> std::io::Result<Ending> {
        let mut sigterm = signal(SignalKind::terminate())?;
        let mut sigint = signal(SignalKind::interrupt())?;
        let mut sigusr2 = signal(SignalKind::user_defined2())?;
        let mut sigchld = signal(SignalKind::child())?;

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
            self.behaviour.sim_bind_delay.unwrap_or_default(),
            self.process_start + start_delay,
            Arc::clone(&state),
            bind_tx,
        ));

        let start = tokio::time::Instant::from_std(self.process_start);
        let crash_at = self.behaviour.sim_crash_after.map(|delay| start + delay);
        let mut wedge_at = self.behaviour.sim_wedge_after.map(|delay| start + delay);
        loop {
            tokio::select! {
                _ = sigterm.recv() => {
                    if self.behaviour.sim_ignore_sigterm {
                        log("sim: received SIGTERM and ignoring it as asked");
                    } else {
                        return Ok(Ending::Graceful("received SIGTERM"));
                    }
                }
                _ = sigint.recv() => return Ok(Ending::Graceful("received SIGINT")),
                _ = sigusr2.recv() => {
                    if self.relaunch {
                        return Ok(Ending::Graceful(
                            "received SIGUSR2 (restart requested); supervisor mode external, exiting 0 to be relaunched",
                        ));
                    }
                    if self.no_respawn {
                        log("received SIGUSR2 (restart requested); in-process restart (OPENCLAW_NO_RESPAWN)");
                    } else {
                        log("received SIGUSR2 (restart requested); restarting in-process (simulated: nothing changes)");
                    }
                }
                _ = sigchld.recv() => self.reap_children(),
                _ = sleep_until_or_never(crash_at) => {
                    return Ok(Ending::Crash(self.behaviour.sim_crash_code));
                }
                _ = sleep_until_or_never(wedge_at) => {
                    log("sim: wedged as asked; no request will be answered from now on");
                    state.wedge();
                    wedge_at = None;
                }
                Some(event) = events_rx.recv() => match event {
                    ServerEvent::Crash(code) => return Ok(Ending::Crash(code)),
                },
                Some(message) = bind_rx.recv() => return Ok(Ending::BindFailed(message)),
            }
        }
    }

    /// Reaps grandchildren that died, so they do not linger as zombies.
    fn reap_children(&mut self) {
        self.children
            .retain_mut(|child| !matches!(child.try_wait(), Ok(Some(_)) | Err(_)));
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
    use super::colour_wanted;

    #[test]
    fn lines_are_coloured_unless_no_color_or_force_color_0() {
        let rows = [
            (None, None, true),
            (Some("1"), None, false),
            (Some(""), None, true),
            (None, Some("0"), false),
            (None, Some("1"), true),
            (Some("1"), Some("1"), false),
        ];
        for (no_color, force_color, expected) in rows {
            assert_eq!(
                colour_wanted(no_color, force_color),
                expected,
                "NO_COLOR={no_color:?} FORCE_COLOR={force_color:?}"
            );
        }
    }
}
