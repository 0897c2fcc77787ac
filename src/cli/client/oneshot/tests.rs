use super::*;
use crate::cli::client::ClientCommand;
use crate::cli::{Cli, Command as CliCommand};
use clap::Parser;

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

fn no_env(_: &str) -> Option<OsString> {
    None
}

fn status(name: Option<&str>, json: bool) -> Command {
    Command::Status {
        name: name.map(String::from),
        json,
    }
}

/// What clap makes of the same words, in this path's terms (`None`: a
/// command this path does not answer, or an error).
fn clap_reading(args: &[&str]) -> Option<OneShot> {
    let cli =
        Cli::try_parse_from(std::iter::once("openclaw-supervisor").chain(args.iter().copied()))
            .ok()?;
    let command = match cli.command {
        CliCommand::Client(ClientCommand::Status {
            name,
            json,
            watch: false,
            ..
        }) => Command::Status { name, json },
        CliCommand::Client(ClientCommand::IsActive { names, quiet }) => {
            Command::IsActive { names, quiet }
        }
        CliCommand::Client(ClientCommand::Version) => Command::Version,
        _ => return None,
    };
    Some(OneShot {
        socket: crate::cli::client::socket_path(&cli.global),
        color: cli.global.color,
        command,
    })
}

/// Every shape this path answers means to it what it means to clap.
#[test]
fn what_it_answers_clap_reads_the_same() {
    let rows: Vec<(&[&str], Command, ColorWhen)> = vec![
        (
            &["--socket", "/s", "status"],
            status(None, false),
            ColorWhen::Auto,
        ),
        (
            &["--socket", "/s", "status", "w1"],
            status(Some("w1"), false),
            ColorWhen::Auto,
        ),
        (
            &["status", "w1", "--socket=/s", "--json"],
            status(Some("w1"), true),
            ColorWhen::Auto,
        ),
        (
            &["--socket", "/s", "status", "--json"],
            status(None, true),
            ColorWhen::Auto,
        ),
        (
            &[
                "--color", "never", "--dir", "d", "--socket", "/s", "status", "all",
            ],
            status(Some("all"), false),
            ColorWhen::Never,
        ),
        (
            &["--socket", "/s", "status", "--color=always", "w1"],
            status(Some("w1"), false),
            ColorWhen::Always,
        ),
        (
            &["--socket", "/s", "is-active", "a", "b", "-q"],
            Command::IsActive {
                names: vec!["a".into(), "b".into()],
                quiet: true,
            },
            ColorWhen::Auto,
        ),
        (
            &["--socket", "/s", "is-active", "--quiet", "a"],
            Command::IsActive {
                names: vec!["a".into()],
                quiet: true,
            },
            ColorWhen::Auto,
        ),
        (
            &["version", "--socket", "/s"],
            Command::Version,
            ColorWhen::Auto,
        ),
    ];
    for (args, command, color) in rows {
        let expected = OneShot {
            socket: PathBuf::from("/s"),
            color,
            command,
        };
        assert_eq!(parse(&os(args), no_env), Some(expected.clone()), "{args:?}");
        assert_eq!(clap_reading(args), Some(expected), "clap: {args:?}");
    }
}

/// Anything else goes to clap: help, other commands and options, repeats,
/// a flag before its command, extra names, an unknown `--color`.
#[test]
fn anything_else_is_left_to_clap() {
    let rows: &[&[&str]] = &[
        &[],
        &["--help"],
        &["status", "--help"],
        &["status", "-h"],
        &["--version"],
        &["status", "--watch"],
        &["status", "a", "b"],
        &["status", "--json", "--json"],
        &["--json", "status"],
        &["-q", "is-active", "a"],
        &["status", "-q"],
        &["status", "--json=yes"],
        &["is-active"],
        &["is-active", "a", "-q", "--quiet"],
        &["version", "extra"],
        &["stop", "main"],
        &["start"],
        &["logs", "main"],
        &["--socket", "/a", "--socket", "/b", "status"],
        &["--socket"],
        &["--socket", "--json", "status"],
        &["--socket=", "status"],
        &["--color", "sometimes", "status"],
        &["status", "--", "w1"],
        &["status", "-"],
    ];
    for args in rows {
        assert_eq!(parse(&os(args), no_env), None, "{args:?}");
    }
}

#[test]
fn the_socket_comes_from_the_flag_then_the_environment_then_the_state_dir() {
    let env = |socket: Option<&'static str>, state: Option<&'static str>| {
        move |name: &str| match name {
            "OPENCLAW_SUPERVISOR_SOCKET" => socket.map(OsString::from),
            "OPENCLAW_SUPERVISOR_STATE_DIR" => state.map(OsString::from),
            _ => None,
        }
    };
    let socket_of = |args: &[&str], socket, state| {
        parse(&os(args), env(socket, state)).map(|one_shot| one_shot.socket)
    };
    let default_of =
        |state_dir: &str| control::default_socket_path(std::path::Path::new(state_dir));
    assert_eq!(
        socket_of(&["--socket", "/flag", "status"], Some("/env"), None),
        Some(PathBuf::from("/flag"))
    );
    assert_eq!(
        socket_of(&["status"], Some("/env"), Some("/state")),
        Some(PathBuf::from("/env"))
    );
    assert_eq!(
        socket_of(&["status"], None, Some("/state")),
        Some(default_of("/state"))
    );
    assert_eq!(
        socket_of(&["--state-dir", "/flag", "status"], None, Some("/state")),
        Some(default_of("/flag"))
    );
    // An empty variable is clap's to read.
    assert_eq!(socket_of(&["status"], Some(""), None), None);
    assert_eq!(socket_of(&["status"], None, Some("")), None);
}

#[test]
fn arguments_that_are_not_utf8_are_left_to_clap() {
    use std::os::unix::ffi::OsStringExt;
    let args = vec![
        OsString::from("status"),
        OsString::from_vec(vec![b'w', 0xff]),
    ];
    assert_eq!(parse(&args, no_env), None);
}
