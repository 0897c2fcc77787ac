//! The simulator's command line: the real gateway's argv shape
//! (`[--profile P] gateway --port N --bind B [args]`) plus `--sim-*` behaviours.

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::FalseyValueParser;
use clap::{Args, Parser, Subcommand};

/// `openclaw-gateway-sim`: a stand-in for `openclaw gateway` in tests and demos.
#[derive(Debug, Parser)]
#[command(
    name = "openclaw-gateway-sim",
    version = super::SIM_VERSION,
    about = "A simulated OpenClaw gateway: same argv, env, endpoints, signals and exit codes"
)]
pub struct SimCli {
    /// Profile name; sets OPENCLAW_PROFILE and the default state dir (~/.openclaw-NAME).
    #[arg(long, env = "OPENCLAW_PROFILE", global = true)]
    pub profile: Option<String>,

    /// Internal: run as a grandchild that only waits until it is killed.
    #[arg(long, hide = true)]
    pub sim_grandchild: bool,

    /// Internal: as such a grandchild, ignore SIGTERM (only SIGKILL ends it).
    #[arg(long, hide = true)]
    pub sim_grandchild_ignore_sigterm: bool,

    #[command(subcommand)]
    pub command: Option<SimCommand>,
}

#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// Run the (simulated) gateway in the foreground.
    Gateway(Box<GatewayArgs>),
    /// Config helpers (only `validate`, as the real `openclaw config validate`).
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the config against the schema without starting the gateway (exit 0 valid, 1 not).
    Validate {
        /// Output validation result as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `gateway` flags: the real ones the supervisor passes, then the simulator's.
#[derive(Debug, Args)]
pub struct GatewayArgs {
    /// Gateway port (beats OPENCLAW_GATEWAY_PORT and gateway.port).
    #[arg(long)]
    pub port: Option<u16>,

    /// Bind mode: loopback, lan, auto, tailnet or custom (the simulator always listens on 127.0.0.1 and ::1, as loopback does).
    #[arg(long)]
    pub bind: Option<String>,

    /// Start without a config file (as the real gateway allows).
    #[arg(long)]
    pub allow_unconfigured: bool,

    /// Accepted and ignored, like the real gateway's flag of the same name.
    #[arg(long)]
    pub verbose: bool,

    /// Accepted and ignored (the real gateway kills a stale listener with it).
    #[arg(long)]
    pub force: bool,

    /// Accepted and ignored (gateway auth token).
    #[arg(long)]
    pub token: Option<String>,

    /// Accepted and ignored (gateway auth mode).
    #[arg(long)]
    pub auth: Option<String>,

    #[command(flatten)]
    pub sim: SimBehaviour,
}

/// Behaviours on request. Each has a flag (after `gateway`) and an env var.
#[derive(Debug, Args, Default, Clone)]
pub struct SimBehaviour {
    /// Answer /startupz 503 "starting" this long after process start, then 200 "started".
    #[arg(long, env = "OPENCLAW_SIM_START_DELAY", value_parser = humantime::parse_duration)]
    pub sim_start_delay: Option<Duration>,

    /// Wait this long before binding the port (connections are refused meanwhile, like a booting Node).
    #[arg(long, env = "OPENCLAW_SIM_BIND_DELAY", value_parser = humantime::parse_duration)]
    pub sim_bind_delay: Option<Duration>,

    /// Crash (exit with --sim-crash-code, lock file left behind) this long after start.
    #[arg(long, env = "OPENCLAW_SIM_CRASH_AFTER", value_parser = humantime::parse_duration)]
    pub sim_crash_after: Option<Duration>,

    /// Exit code of a crash (default 1).
    #[arg(long, env = "OPENCLAW_SIM_CRASH_CODE", default_value_t = 1)]
    pub sim_crash_code: u8,

    /// Exit at once with this code, before reading any config (crash loops, exit 78).
    #[arg(long, env = "OPENCLAW_SIM_EXIT_CODE")]
    pub sim_exit_code: Option<u8>,

    /// Log SIGTERM and keep running (SIGINT still stops it).
    #[arg(long, env = "OPENCLAW_SIM_IGNORE_SIGTERM", value_parser = FalseyValueParser::new())]
    pub sim_ignore_sigterm: bool,

    /// On SIGTERM/SIGINT (or an external-mode SIGUSR2), wait this long before exiting.
    #[arg(long, env = "OPENCLAW_SIM_STOP_DELAY", value_parser = humantime::parse_duration)]
    pub sim_stop_delay: Option<Duration>,

    /// Start this many grandchildren in the gateway's own process group.
    #[arg(long, env = "OPENCLAW_SIM_GRANDCHILDREN", default_value_t = 0)]
    pub sim_grandchildren: u32,

    /// Start this many grandchildren that escape the group with setsid (like a browser).
    #[arg(long, env = "OPENCLAW_SIM_SETSID_GRANDCHILDREN", default_value_t = 0)]
    pub sim_setsid_grandchildren: u32,

    /// Start one more grandchild that escapes with setsid and execs with an
    /// empty environment (no spawn marker: only a cgroup still holds it).
    #[arg(long, env = "OPENCLAW_SIM_CHILD_CLEAN_ENV", value_parser = FalseyValueParser::new())]
    pub sim_child_clean_env: bool,

    /// Its grandchildren ignore SIGTERM: they outlive the gateway's stop until SIGKILL.
    #[arg(long, env = "OPENCLAW_SIM_CHILD_IGNORE_SIGTERM", value_parser = FalseyValueParser::new())]
    pub sim_child_ignore_sigterm: bool,

    /// Write the simulator's pid, then every grandchild's pid, one per line, to this file.
    #[arg(long, env = "OPENCLAW_SIM_PIDFILE")]
    pub sim_pidfile: Option<PathBuf>,

    /// Stop answering anything (connections are accepted, never answered) this long after start.
    #[arg(long, env = "OPENCLAW_SIM_WEDGE_AFTER", value_parser = humantime::parse_duration)]
    pub sim_wedge_after: Option<Duration>,

    /// Keep one core busy (a spinning thread) for as long as it runs.
    #[arg(long, env = "OPENCLAW_SIM_BUSY", value_parser = FalseyValueParser::new())]
    pub sim_busy: bool,

    /// Hold this many MiB from the start, every page written (resident).
    #[arg(long, env = "OPENCLAW_SIM_ALLOCATE_MIB", default_value_t = 0)]
    pub sim_allocate_mib: u32,

    /// Grow by this many MiB a second, every page written, up to 2048 MiB in all.
    #[arg(long, env = "OPENCLAW_SIM_GROW_MIB_PER_SEC", default_value_t = 0)]
    pub sim_grow_mib_per_sec: u32,

    /// Comma-separated names /readyz reports as failing (503 while the list is not empty).
    #[arg(long, env = "OPENCLAW_SIM_READY_FAILING", value_delimiter = ',')]
    pub sim_ready_failing: Vec<String>,

    /// Lines (separated by `|`) written to stderr just before a crash, as a
    /// failing gateway's last words.
    #[arg(long, env = "OPENCLAW_SIM_CRASH_LINES", value_delimiter = '|')]
    pub sim_crash_lines: Vec<String>,

    /// Answer this many authorised hook requests with 503 before taking any.
    #[arg(long, env = "OPENCLAW_SIM_HOOKS_UNAVAILABLE", default_value_t = 0)]
    pub sim_hooks_unavailable: u32,
}
