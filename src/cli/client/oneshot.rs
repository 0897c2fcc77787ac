//! The one-shot client commands answered before clap and tokio: `status
//! [NAME] [--json]`, `is-active NAME... [-q]` and `version`, with the
//! global `--socket`, `--state-dir`, `--dir` and `--color`.
//!
//! Such a command is mostly process start-up: building clap's whole
//! command tree and a tokio runtime cost it more than its exchange with the
//! daemon (BENCHMARKS.md, "The client path"). So `main` first offers the
//! arguments to [`parse`], a strict reader of these few shapes; anything
//! else (`--help`, another command, an option it does not know, a repeated
//! one, a value that is not UTF-8) is left to clap, which then parses it
//! as before. What it accepts, clap accepts with the same meaning (a table
//! test holds the two side by side); the request goes out through
//! [`openclaw_supervisor::control::request_blocking`] and the reply is
//! printed by the same code as the clap path's.

use std::ffi::OsString;
use std::path::PathBuf;

use openclaw_supervisor::control;
use openclaw_supervisor::protocol::Request;

use super::verbs::{self, Called};
use super::{ColorWhen, print_status, print_version, quiet_when_stdout_closed};
use crate::cli::exit;

/// A command this path answers, with where to send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneShot {
    pub socket: PathBuf,
    pub color: ColorWhen,
    pub command: Command,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Status { name: Option<String>, json: bool },
    IsActive { names: Vec<String>, quiet: bool },
    Version,
}

/// The global options as given (`None`: not given).
#[derive(Default)]
struct Globals {
    socket: Option<PathBuf>,
    state_dir: Option<PathBuf>,
    dir: Option<String>,
    color: Option<ColorWhen>,
}

/// Reads `args` (without the program name) when they are one of the
/// shapes this path answers; `None` leaves them to clap. `env` reads an
/// environment variable (the two clap reads for the socket's place).
pub fn parse(args: &[OsString], env: impl Fn(&str) -> Option<OsString>) -> Option<OneShot> {
    let mut words = Vec::with_capacity(args.len());
    for arg in args {
        words.push(arg.to_str()?);
    }
    let mut globals = Globals::default();
    let mut verb: Option<&str> = None;
    let mut positionals: Vec<String> = Vec::new();
    let mut flags: Vec<&str> = Vec::new();
    let mut rest = words.into_iter();
    while let Some(word) = rest.next() {
        if let Some(option) = word.strip_prefix("--") {
            let (key, inline) = match option.split_once('=') {
                Some((key, value)) => (key, Some(value)),
                None => (option, None),
            };
            if matches!(key, "socket" | "state-dir" | "dir" | "color") {
                let value = match inline {
                    Some(value) => value,
                    None => rest.next()?,
                };
                if value.is_empty() || value.starts_with('-') {
                    return None;
                }
                set_global(&mut globals, key, value)?;
                continue;
            }
            // A command's own flag: after the command, once.
            if inline.is_some() || verb.is_none() || flags.contains(&word) {
                return None;
            }
            flags.push(word);
        } else if word.starts_with('-') {
            if word != "-q" || verb.is_none() || flags.contains(&word) {
                return None;
            }
            flags.push(word);
        } else if verb.is_none() {
            verb = Some(word);
        } else {
            positionals.push(word.to_string());
        }
    }
    let command = match (verb?, flags.as_slice()) {
        ("status", flags) if positionals.len() <= 1 && flags.iter().all(|f| *f == "--json") => {
            Command::Status {
                name: positionals.pop(),
                json: !flags.is_empty(),
            }
        }
        ("is-active", flags)
            if !positionals.is_empty()
                && flags.len() <= 1
                && flags.iter().all(|f| matches!(*f, "-q" | "--quiet")) =>
        {
            Command::IsActive {
                names: positionals,
                quiet: !flags.is_empty(),
            }
        }
        ("version", []) if positionals.is_empty() => Command::Version,
        _ => return None,
    };
    Some(OneShot {
        socket: socket_path(globals.socket, globals.state_dir, &env)?,
        color: globals.color.unwrap_or_default(),
        command,
    })
}

/// Records a global option; `None` (clap then) when it is given twice or
/// `--color` has a value clap would refuse.
fn set_global(globals: &mut Globals, key: &str, value: &str) -> Option<()> {
    fn once<T>(slot: &mut Option<T>, value: T) -> Option<()> {
        match slot {
            Some(_) => None,
            None => {
                *slot = Some(value);
                Some(())
            }
        }
    }
    match key {
        "socket" => once(&mut globals.socket, PathBuf::from(value)),
        "state-dir" => once(&mut globals.state_dir, PathBuf::from(value)),
        "dir" => once(&mut globals.dir, value.to_string()),
        _ => {
            let color = match value {
                "auto" => ColorWhen::Auto,
                "always" => ColorWhen::Always,
                "never" => ColorWhen::Never,
                _ => return None,
            };
            once(&mut globals.color, color)
        }
    }
}

/// `--socket`, else `$OPENCLAW_SUPERVISOR_SOCKET`, else the default for
/// `--state-dir` or `$OPENCLAW_SUPERVISOR_STATE_DIR` (as `socket_path`).
/// An environment value clap might read otherwise (empty, not UTF-8) is
/// left to clap.
fn socket_path(
    socket: Option<PathBuf>,
    state_dir: Option<PathBuf>,
    env: &impl Fn(&str) -> Option<OsString>,
) -> Option<PathBuf> {
    let from_env = |name: &str| -> Option<Option<PathBuf>> {
        match env(name) {
            None => Some(None),
            Some(value) if value.is_empty() || value.to_str().is_none() => None,
            Some(value) => Some(Some(PathBuf::from(value))),
        }
    };
    let socket = match socket {
        Some(socket) => Some(socket),
        None => from_env("OPENCLAW_SUPERVISOR_SOCKET")?,
    };
    let state_dir = match state_dir {
        Some(state_dir) => Some(state_dir),
        None => from_env("OPENCLAW_SUPERVISOR_STATE_DIR")?,
    };
    Some(match socket {
        Some(socket) => socket,
        None => {
            let state_dir = state_dir.unwrap_or_else(control::default_state_dir);
            control::default_socket_path(&state_dir)
        }
    })
}

/// Answers the command: one blocking request, the reply printed as the
/// clap path prints it, and the same exit code.
pub fn run(one_shot: OneShot) -> u8 {
    let path = one_shot.socket.as_path();
    let result = match one_shot.command {
        Command::Status { name, json } => {
            let one = name.is_some();
            match verbs::status_reply(Called::blocking(path, Request::Status { name }), one) {
                Ok(reply) => print_status(reply, one, json, one_shot.color),
                Err(code) => Ok(code),
            }
        }
        Command::IsActive { names, quiet } => {
            let called = Called::blocking(path, Request::Status { name: None });
            Ok(match verbs::all_status_of(called) {
                Ok(instances) => verbs::print_is_active(&instances, &names, quiet),
                Err(code) => code,
            })
        }
        Command::Version => {
            use std::io::Write;
            match writeln!(std::io::stdout(), "client {}", env!("CARGO_PKG_VERSION")) {
                Ok(()) => print_version(Called::blocking(path, Request::Version)),
                Err(err) => Err(err.into()),
            }
        }
    };
    match quiet_when_stdout_closed(result) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("openclaw-supervisor: {err:#}");
            exit::FAILED
        }
    }
}

#[cfg(test)]
mod tests;
