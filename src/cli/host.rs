//! Fitting the host: `install` (a systemd unit), `completions`, `man`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::{Args, CommandFactory};

use super::{Cli, Global};
use openclaw_supervisor::unit::{self, Scope, UnitSpec};

#[derive(Debug, Args)]
pub struct InstallArgs {
    /// A user unit in ~/.config/systemd/user (the default).
    #[arg(long, conflicts_with = "system")]
    pub user: bool,
    /// A system unit in /etc/systemd/system.
    #[arg(long)]
    pub system: bool,
    /// Only print the unit; write nothing.
    #[arg(long)]
    pub print: bool,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to generate completions for.
    pub shell: clap_complete::Shell,
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    Ok(std::env::current_dir()
        .context("cannot read the current directory")?
        .join(path))
}

/// The largest stop timeout among the declarations (the default when none can be read).
fn max_stop_timeout(global: &Global) -> Duration {
    let env = std::env::vars().collect();
    let scan = openclaw_supervisor::resolution::scan(&global.dir, &env);
    scan.effective
        .iter()
        .map(|e| e.declaration.stop.timeout.get())
        .max()
        .unwrap_or(openclaw_supervisor::declaration::DEFAULT_STOP_TIMEOUT)
}

pub fn install(global: &Global, args: InstallArgs) -> anyhow::Result<u8> {
    let scope = if args.system {
        Scope::System
    } else {
        Scope::User
    };
    let binary = std::env::current_exe().context("cannot find this program's own path")?;
    let spec = UnitSpec {
        scope,
        binary,
        dir: absolute(&global.dir)?,
        state_dir: absolute(&super::daemon::state_dir(global))?,
        max_stop_timeout: max_stop_timeout(global),
    };
    let text = unit::render(&spec);
    if args.print {
        print!("{text}");
        return Ok(super::exit::OK);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .context("HOME is not set: cannot place a user unit")?;
    let path = unit::unit_path(scope, &home);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(&path, &text).with_context(|| format!("cannot write {}", path.display()))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "wrote {}:\n", path.display())?;
    write!(out, "{text}")?;
    writeln!(out, "\nnothing was enabled; to enable and start it:")?;
    for command in unit::enable_commands(scope) {
        writeln!(out, "  {command}")?;
    }
    writeln!(
        out,
        "and disable any per-profile unit of `openclaw gateway install` for the same profiles,\n\
         e.g. `systemctl --user disable --now openclaw-gateway.service openclaw-gateway-rescue.service`"
    )?;
    Ok(super::exit::OK)
}

pub fn completions(args: CompletionsArgs) -> anyhow::Result<u8> {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "openclaw-supervisor", &mut script);
    write_stdout(&script)
}

/// Write to stdout; a reader that went away (`| head`) is not an error.
fn write_stdout(bytes: &[u8]) -> anyhow::Result<u8> {
    match std::io::stdout().lock().write_all(bytes) {
        Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(err).context("cannot write to stdout")
        }
        _ => Ok(super::exit::OK),
    }
}

pub fn man() -> anyhow::Result<u8> {
    let man = clap_mangen::Man::new(Cli::command());
    let mut page = Vec::new();
    man.render(&mut page)
        .context("cannot render the man page")?;
    write_stdout(&page)
}

pub fn schema() -> anyhow::Result<u8> {
    let schema = openclaw_supervisor::declaration::json_schema();
    let mut text = serde_json::to_string_pretty(&schema).context("cannot encode the schema")?;
    text.push('\n');
    write_stdout(text.as_bytes())
}
