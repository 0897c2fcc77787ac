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
    /// Accept a binary under target/debug (to try the unit out while
    /// developing; a service should run an installed release build).
    #[arg(long)]
    pub allow_debug: bool,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write one page per command into DIR (openclaw-supervisor.1,
    /// openclaw-supervisor-start.1, ...) instead of printing the main page.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
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

/// What the service must inherit from this shell. A state dir or socket
/// is recorded when given (flag or env). A system unit records both
/// always, and when not given uses the system's places
/// ([`unit::SYSTEM_STATE_DIR`], [`unit::SYSTEM_SOCKET`]), never this
/// shell's session-derived defaults: `sudo -E` or `su` keep the user's
/// `XDG_RUNTIME_DIR` (gone at logout) and `HOME`.
fn shell_settings(global: &Global, scope: Scope) -> anyhow::Result<unit::Settings> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let system = scope == Scope::System;
    let state_dir = match &global.state_dir {
        Some(dir) => Some(absolute(dir)?),
        None if system => Some(PathBuf::from(unit::SYSTEM_STATE_DIR)),
        None => None,
    };
    let socket = match &global.socket {
        Some(socket) => Some(absolute(socket)?),
        None if system => Some(PathBuf::from(unit::SYSTEM_SOCKET)),
        None => None,
    };
    Ok(unit::Settings {
        path: var("PATH"),
        openclaw_home: var("OPENCLAW_HOME"),
        dir: absolute(&global.dir)?,
        state_dir,
        socket,
    })
}

pub fn install(global: &Global, args: InstallArgs) -> anyhow::Result<u8> {
    let scope = if args.system {
        Scope::System
    } else {
        Scope::User
    };
    let binary = std::env::current_exe().context("cannot find this program's own path")?;
    if unit::is_debug_build(&binary) && !args.allow_debug {
        anyhow::bail!(
            "{} is a debug build: slow, and replaced by the next `cargo build` under the running service.\n\
             Install a release build and run `install` from it: `cargo install --path .` (then \
             ~/.cargo/bin/openclaw-supervisor install), or `cargo build --release` and \
             target/release/openclaw-supervisor install. (--allow-debug accepts it anyway.)",
            binary.display()
        );
    }
    let spec = UnitSpec {
        scope,
        binary,
        settings: shell_settings(global, scope)?,
        max_stop_timeout: max_stop_timeout(global),
    };
    let text = unit::render(&spec);
    if args.print {
        return write_stdout(text.as_bytes());
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
    writeln!(
        out,
        "\nnothing was enabled; to load, enable and start it, then follow its log:"
    )?;
    for command in unit::enable_commands(scope) {
        writeln!(out, "  {command}")?;
    }
    if let Some(hint) = unit::client_hint(&spec) {
        writeln!(out, "{hint}")?;
    }
    writeln!(
        out,
        "and disable any per-profile unit of `openclaw gateway install` for the same profiles,\n\
         e.g. `systemctl --user disable --now openclaw-gateway.service openclaw-gateway-rescue.service`"
    )?;
    Ok(super::exit::OK)
}

const BIN: &str = "openclaw-supervisor";

/// The variable that asks the program for completions instead of a run
/// (clap_complete's dynamic completion; see `main`).
pub const COMPLETE_VAR: &str = "COMPLETE";

/// `completions SHELL`: the shell's registration script. It calls this
/// binary (`COMPLETE=SHELL openclaw-supervisor -- WORDS`) on each TAB, which
/// answers from [`completing_command`]: subcommands, options, and the
/// instance names declared in the dir the command line names.
pub fn completions(args: CompletionsArgs) -> anyhow::Result<u8> {
    let shells = clap_complete::env::Shells::builtins();
    let shell_name = args.shell.to_string();
    let shell = shells
        .completer(&shell_name)
        .with_context(|| format!("no dynamic completion for {shell_name}"))?;
    let exe = std::env::current_exe().context("cannot find this program's own path")?;
    let mut script = Vec::new();
    shell
        .write_registration(COMPLETE_VAR, BIN, BIN, &exe.to_string_lossy(), &mut script)
        .context("cannot write the completion script")?;
    write_stdout(&script)
}

/// The command line as completion sees it: every NAME argument completes
/// the instance names declared in the declarations dir of the words being
/// completed (`--dir`), else `OPENCLAW_SUPERVISOR_DIR`, else `supervisor.d`.
pub fn completing_command() -> clap::Command {
    let words: Vec<String> = std::env::args_os()
        .map(|w| w.to_string_lossy().to_string())
        .collect();
    let dir = completion_dir(&words, std::env::var("OPENCLAW_SUPERVISOR_DIR").ok());
    with_name_candidates(Cli::command(), dir)
}

/// The declarations dir the words name: the last `--dir X` or `--dir=X`,
/// else the environment's, else the default.
fn completion_dir(words: &[String], env_dir: Option<String>) -> PathBuf {
    let mut dir = env_dir.filter(|d| !d.is_empty());
    let mut words = words.iter();
    while let Some(word) = words.next() {
        if word == "--dir" {
            dir = words.next().cloned().or(dir);
        } else if let Some(value) = word.strip_prefix("--dir=") {
            dir = Some(value.to_string());
        }
    }
    PathBuf::from(dir.unwrap_or_else(|| "supervisor.d".to_string()))
}

/// Attach the declared names to every positional argument shown as NAME.
fn with_name_candidates(mut command: clap::Command, dir: PathBuf) -> clap::Command {
    let name_args: Vec<(String, String)> = command
        .get_subcommands()
        .flat_map(|sub| {
            sub.get_positionals()
                .filter(|arg| {
                    arg.get_value_names()
                        .is_some_and(|names| names.iter().any(|n| n == "NAME"))
                        || arg.get_id() == "name"
                })
                .map(|arg| (sub.get_name().to_string(), arg.get_id().to_string()))
                .collect::<Vec<_>>()
        })
        .collect();
    for (sub, arg) in name_args {
        let dir = dir.clone();
        command = command.mut_subcommand(sub, |sub| {
            sub.mut_arg(arg, |arg| {
                arg.add(clap_complete::ArgValueCandidates::new(move || {
                    declared_names(&dir)
                        .into_iter()
                        .map(clap_complete::CompletionCandidate::new)
                        .collect()
                }))
            })
        });
    }
    command
}

/// The instance names the declarations in `dir` declare, sorted.
fn declared_names(dir: &Path) -> Vec<String> {
    let env = std::env::vars().collect();
    let scan = openclaw_supervisor::resolution::scan(dir, &env);
    // A file that does not resolve (or is refused) still names an instance
    // `status NAME` can ask about.
    let mut names: Vec<String> = scan
        .effective
        .into_iter()
        .map(|e| e.name)
        .chain(scan.file_errors.into_iter().filter_map(|e| e.name))
        .chain(scan.refused)
        .collect();
    names.sort();
    names.dedup();
    names
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

/// The command as the man pages show it: no `help` subcommand (it has no
/// page, so the main page must not refer to one).
fn man_command() -> clap::Command {
    Cli::command().disable_help_subcommand(true)
}

pub fn man(args: ManArgs) -> anyhow::Result<u8> {
    if let Some(out) = args.out {
        std::fs::create_dir_all(&out)
            .with_context(|| format!("cannot create {}", out.display()))?;
        clap_mangen::generate_to(man_command(), &out)
            .with_context(|| format!("cannot write the man pages into {}", out.display()))?;
        let mut pages: Vec<String> = std::fs::read_dir(&out)
            .with_context(|| format!("cannot read {}", out.display()))?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .filter(|name| name.starts_with(BIN) && name.ends_with(".1"))
            .collect();
        pages.sort();
        let mut stdout = std::io::stdout().lock();
        writeln!(
            stdout,
            "wrote {} pages into {}:",
            pages.len(),
            out.display()
        )?;
        writeln!(stdout, "  {}", pages.join(" "))?;
        return Ok(super::exit::OK);
    }
    let man = clap_mangen::Man::new(man_command());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completion_dir_table() {
        let words = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        let rows = [
            ("ocs -- ocs status ", None, "supervisor.d"),
            ("ocs -- ocs status ", Some("/env"), "/env"),
            ("ocs -- ocs --dir /a status ", Some("/env"), "/a"),
            ("ocs -- ocs --dir=/b stop ", None, "/b"),
            ("ocs -- ocs --dir /a stop --dir /c ", None, "/c"),
            ("ocs -- ocs --dir", Some("/env"), "/env"),
        ];
        for (line, env, expected) in rows {
            assert_eq!(
                completion_dir(&words(line), env.map(String::from)),
                PathBuf::from(expected),
                "{line:?} {env:?}"
            );
        }
    }

    #[test]
    fn every_name_argument_completes_names() {
        let command = with_name_candidates(Cli::command(), PathBuf::from("/nowhere"));
        let mut with_names: Vec<&str> = command
            .get_subcommands()
            .filter(|sub| {
                sub.get_positionals()
                    .any(|arg| arg.get::<clap_complete::ArgValueCandidates>().is_some())
            })
            .map(|sub| sub.get_name())
            .collect();
        with_names.sort();
        for expected in [
            "events",
            "is-active",
            "logs",
            "restart",
            "start",
            "status",
            "stop",
        ] {
            assert!(
                with_names.contains(&expected),
                "{expected} in {with_names:?}"
            );
        }
    }
}
