//! The command line: clap definitions and dispatch. This is the only place
//! where `anyhow` is used; everything below it returns typed errors.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// `println!` that never panics: a reader of stdout that went away
/// (`demo | head -3`, `check | head`) loses the line, and the command goes
/// on to its end (the demo still stops its gateways).
macro_rules! say {
    () => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout());
    }};
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

mod check;
mod client;
mod daemon;
mod demo;
mod export;
mod host;
mod human;
mod import;
mod init;
mod journald;

/// Exit codes scripts can rely on.
#[allow(dead_code)] // some codes are used only by commands not built yet
pub mod exit {
    /// Done; the set is sound.
    pub const OK: u8 = 0;
    /// Refused, failed, or conflicts found.
    pub const FAILED: u8 = 1;
    /// A file could not be read or parsed.
    pub const UNREADABLE: u8 = 2;
    /// The daemon is not running.
    pub const NOT_RUNNING: u8 = 3;
    /// `status NAME`: no instance has that name (systemctl's code).
    pub const NO_SUCH_INSTANCE: u8 = 4;
}

#[derive(Debug, Parser)]
#[command(
    name = "openclaw-supervisor",
    version,
    about = "Runs several OpenClaw gateways on one host, side by side and isolated"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command understands.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// The declarations directory (one YAML file per instance).
    #[arg(
        long,
        global = true,
        env = "OPENCLAW_SUPERVISOR_DIR",
        default_value = "supervisor.d"
    )]
    pub dir: PathBuf,
    /// The supervisor's own state dir (child logs, intent, pid records).
    #[arg(long, global = true, env = "OPENCLAW_SUPERVISOR_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// The control socket.
    #[arg(long, global = true, env = "OPENCLAW_SUPERVISOR_SOCKET")]
    pub socket: Option<PathBuf>,
    /// Colour client output: auto (on a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = client::ColorWhen::Auto)]
    pub color: client::ColorWhen,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Without NAME: run the supervisor in the foreground. With NAME...: ask
    /// the running supervisor to start those instances (or `all`).
    Start(daemon::StartArgs),
    /// Prove the declarations cannot trample each other; print the footprint table.
    Check(check::CheckArgs),
    /// Declare a new instance: its YAML file and a minimal OpenClaw config, on a free port block.
    Init(init::InitArgs),
    /// Run the supervisor over a simulated main and rescue gateway in a temp dir.
    Demo(demo::DemoArgs),
    /// Write a systemd unit that runs the supervisor (prints the enable commands; enables nothing).
    Install(host::InstallArgs),
    /// Write declarations for the gateways `openclaw gateway install` set up (changes nothing else).
    Import(import::ImportArgs),
    /// Print the declared instances as manifests for another platform (`export kubernetes`).
    Export(export::ExportArgs),
    /// Print shell completions.
    Completions(host::CompletionsArgs),
    /// Print the man page (roff), or write one page per command (--out DIR).
    Man(host::ManArgs),
    /// Print the JSON Schema of a declaration file.
    Schema,
    #[command(flatten)]
    Client(client::ClientCommand),
}

pub fn main() -> ExitCode {
    // `COMPLETE=SHELL openclaw-supervisor -- WORDS`: answer a TAB and exit.
    clap_complete::CompleteEnv::with_factory(host::completing_command)
        .var(host::COMPLETE_VAR)
        .complete();
    // `status`, `is-active`, `version`: answered without clap and tokio
    // (`client/oneshot.rs`); anything else is clap's.
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if let Some(one_shot) = client::oneshot::parse(&args, |name| std::env::var_os(name)) {
        return ExitCode::from(client::oneshot::run(one_shot));
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Start(args) => daemon::run(&cli.global, args),
        Command::Check(args) => check::run(&cli.global, args),
        Command::Init(args) => init::run(&cli.global, args),
        Command::Demo(args) => demo::run(&cli.global, args),
        Command::Install(args) => host::install(&cli.global, args),
        Command::Import(args) => import::run(&cli.global, args),
        Command::Export(args) => export::run(&cli.global, args),
        Command::Completions(args) => host::completions(args),
        Command::Man(args) => host::man(args),
        Command::Schema => host::schema(),
        Command::Client(command) => client::run(&cli.global, command),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("openclaw-supervisor: {err:#}");
            ExitCode::from(exit::FAILED)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The options of running a supervisor are refused beside instance
    /// names (`start NAME` asks the running one), not silently ignored.
    #[test]
    fn daemon_options_and_instance_names_exclude_each_other() {
        let parses = |args: &[&str]| {
            Cli::try_parse_from(std::iter::once("openclaw-supervisor").chain(args.iter().copied()))
                .is_ok()
        };
        for daemon_only in [
            &["--metrics", "9464"][..],
            &["--strict"],
            &["--no-watch"],
            &["--poll", "2s"],
            &["--log-format", "json"],
        ] {
            let alone: Vec<&str> = ["start"].iter().chain(daemon_only).copied().collect();
            let named: Vec<&str> = ["start", "main"]
                .iter()
                .chain(daemon_only)
                .copied()
                .collect();
            assert!(parses(&alone), "{alone:?}");
            assert!(!parses(&named), "{named:?} is refused");
        }
        assert!(parses(&["start", "main", "--wait"]));
        assert!(parses(&["start", "main", "rescue"]));
    }
}
