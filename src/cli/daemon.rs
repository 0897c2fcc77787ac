//! `openclaw-supervisor start`: the daemon in the foreground.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::Global;
use openclaw_supervisor::daemon::{self, SocketSettings};
use openclaw_supervisor::declaration::HumanDuration;
use openclaw_supervisor::supervisor::Options;
use openclaw_supervisor::watch::WatchMode;

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Start these instances (or `all`) in the running supervisor instead
    /// of running one: each in order, one line each; exit 0 when every one
    /// was started, 1 otherwise, 3 when the supervisor is not running.
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
    #[command(flatten)]
    pub wait: super::client::verbs::WaitArgs,
    /// Log format of the supervisor's own logs (level from OPENCLAW_SUPERVISOR_LOG).
    #[arg(long, value_enum, default_value = "text", conflicts_with = "names")]
    pub log_format: LogFormat,
    /// Poll the declarations at this interval instead of using file events
    /// (for network filesystems), e.g. `2s`.
    #[arg(long, value_parser = parse_duration, conflicts_with = "names")]
    pub poll: Option<HumanDuration>,
    /// Do not watch the declarations; rescan only on SIGHUP or `reload`.
    #[arg(long, conflicts_with_all = ["poll", "names"])]
    pub no_watch: bool,
    /// Let this group (a name or a gid) use the control socket too: the
    /// socket becomes 0660 and peers in the group pass the credential check.
    #[arg(long, env = "OPENCLAW_SUPERVISOR_SOCKET_GROUP", value_parser = parse_group)]
    pub socket_group: Option<u32>,
    /// All or nothing: refuse to start (exit 1) when any declaration is
    /// broken or conflicts, instead of running the sound ones.
    #[arg(long, conflicts_with = "names")]
    pub strict: bool,
    /// Serve Prometheus metrics at http://ADDR/metrics: a port (on
    /// 127.0.0.1) or an address with a port, e.g. `127.0.0.1:9464`. Off
    /// unless given; an address beyond loopback is logged as a warning.
    #[arg(long, value_name = "ADDR", value_parser = parse_metrics_addr, conflicts_with = "names")]
    pub metrics: Option<std::net::SocketAddr>,
}

pub fn parse_metrics_addr(text: &str) -> Result<std::net::SocketAddr, String> {
    openclaw_supervisor::metrics::parse_listen_addr(text).map_err(|err| err.to_string())
}

/// A group name or number, to a gid.
pub fn parse_group(text: &str) -> Result<u32, String> {
    if let Ok(gid) = text.parse::<u32>() {
        return Ok(gid);
    }
    match nix::unistd::Group::from_name(text) {
        Ok(Some(group)) => Ok(group.gid.as_raw()),
        Ok(None) => Err(format!("no group named `{text}`")),
        Err(err) => Err(format!("cannot look up group `{text}`: {err}")),
    }
}

pub fn parse_duration(text: &str) -> Result<HumanDuration, String> {
    humantime::parse_duration(text)
        .map(HumanDuration)
        .map_err(|err| format!("invalid duration `{text}`: {err}"))
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

pub fn init_tracing(format: LogFormat) {
    if super::journald::stderr_is_journal() {
        match super::journald::layer() {
            Ok(journald) => {
                use tracing_subscriber::layer::SubscriberExt;
                use tracing_subscriber::util::SubscriberInitExt;
                let filter = tracing_subscriber::EnvFilter::try_from_env("OPENCLAW_SUPERVISOR_LOG")
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
                tracing_subscriber::registry()
                    .with(filter)
                    .with(journald)
                    .init();
                return;
            }
            Err(err) => {
                init_tracing_with_default(format, "info");
                tracing::warn!(error = %err, "stderr is the journal, but its native socket cannot be used: logging to stderr");
                return;
            }
        }
    }
    init_tracing_with_default(format, "info")
}

/// Logging to stderr; the level comes from `OPENCLAW_SUPERVISOR_LOG`, else `default`.
pub fn init_tracing_with_default(format: LogFormat, default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("OPENCLAW_SUPERVISOR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // A write that fails (stderr a pipe whose reader went away) loses
        // that line; by default tracing-subscriber reports it with
        // `eprintln!`, which panics on the same closed stderr and took the
        // supervisor down with its gateways orphaned.
        .log_internal_errors(false)
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none(),
        );
    match format {
        // A person reads the text format: sentences, not module paths
        // (`openclaw_supervisor::journal:`). JSON keeps its `target` field.
        LogFormat::Text => builder.with_target(false).init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// The supervisor's state dir: `--state-dir`, else the default.
pub fn state_dir(global: &Global) -> PathBuf {
    global
        .state_dir
        .clone()
        .unwrap_or_else(openclaw_supervisor::control::default_state_dir)
}

pub fn run(global: &Global, args: StartArgs) -> anyhow::Result<u8> {
    if !args.names.is_empty() {
        return super::client::start_instances(global, &args.names, &args.wait);
    }
    init_tracing(args.log_format);
    let options = Options {
        dir: global.dir.clone(),
        state_dir: state_dir(global),
        socket_path: super::client::socket_path(global),
        inherited_env: std::env::vars().collect(),
        watch: match args.poll {
            Some(interval) => WatchMode::Poll(interval.get()),
            None if args.no_watch => WatchMode::Off,
            None => WatchMode::Events,
        },
        strict: args.strict,
    };
    run_daemon(
        options,
        SocketSettings {
            group: args.socket_group,
            metrics: args.metrics,
        },
    )
}

/// Run the supervisor until it is told to stop; the exit code to return.
pub fn run_daemon(options: Options, socket: SocketSettings) -> anyhow::Result<u8> {
    openclaw_supervisor::resident::one_arena();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let (_handle, run) = match daemon::launch(options, socket).await {
            Ok(started) => started,
            Err(err) => {
                eprintln!("openclaw-supervisor: refusing to start: {err}");
                return Ok(super::exit::FAILED);
            }
        };
        // start-up's garbage and code given back (src/resident.rs)
        openclaw_supervisor::resident::settle_after_start();
        run.await;
        Ok(super::exit::OK)
    })
}
