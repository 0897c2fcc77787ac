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
//!
//! A crate of its own (`openclaw-gateway-sim`): it depends on the pure core,
//! never on the daemon. What it needs of the program it runs in comes
//! through an [`Embedding`]: the arguments that re-execute it, and who holds
//! a port it cannot bind (the daemon's `/proc` scan).

mod bind;
mod boots;
mod cli;
mod drain;
mod grandchildren;
mod hooks;
mod logfile;
mod memory;
mod output;
mod run;
mod schema;
mod server;
mod setup;
mod signals;
mod validate;

use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Instant, SystemTime};

use clap::Parser;

pub use cli::{ConfigCommand, GatewayArgs, SimBehaviour, SimCli, SimCommand};
pub use server::SIM_GATEWAY_VERSION;
pub use setup::{
    DEFAULT_PORT, EXIT_CONFIG, Inputs, LockRecord, Refusal, Resolved, fnv1a32, lock_dir, lock_path,
    resolve,
};

use grandchildren::{start_grandchildren, wait_until_killed};
use output::{log, log_err};
use run::Run;

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

pub use openclaw_supervisor_core::holder::PortHolder;

/// What the simulator takes from the program it runs in.
#[derive(Debug, Clone)]
pub struct Embedding {
    /// Put between this executable and `--sim-grandchild` when grandchildren
    /// are started, so a host binary can embed the simulator under a
    /// subcommand (e.g. `["simulate-gateway"]`); a standalone binary has none.
    pub reexec_prefix: Vec<OsString>,
    /// Who holds a port the simulator cannot bind, if anyone can tell.
    pub port_holder: fn(u16) -> Option<PortHolder>,
}

impl Default for Embedding {
    /// No prefix; a taken port's holder is not named.
    fn default() -> Self {
        Self {
            reexec_prefix: Vec::new(),
            port_holder: |_| None,
        }
    }
}

/// Runs the simulator with the process's own arguments.
pub fn main(embedding: Embedding) -> ExitCode {
    main_with(std::env::args_os().collect(), embedding)
}

/// Runs the simulator with `args` (argv, program name first).
pub fn main_with(args: Vec<OsString>, embedding: Embedding) -> ExitCode {
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

    let children = match start_grandchildren(&behaviour, &embedding.reexec_prefix, pid) {
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
        port_holder: embedding.port_holder,
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

/// Writes through a temporary file and a rename, so readers see all or nothing.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let mut temporary = PathBuf::from(path);
    temporary.as_mut_os_string().push(".tmp");
    let mut file = fs::File::create(&temporary)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    fs::rename(&temporary, path)
}
