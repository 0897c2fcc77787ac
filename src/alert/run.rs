//! One run of a `notify` command (the IO edge): resolved as a declared
//! `command` is, spawned through the one spawner in its own process group,
//! the message on its stdin, then stdin closed; killed (the group) at the
//! timeout; its output read, bounded, for the error.

use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::openclaw::EnvMap;
pub use crate::openclaw::notify_command_warning as command_warning;
use crate::prober::KillOnDrop;
use crate::process::{ExitKind, SpawnSpec, Spawner};

/// At most this much of each output stream is read.
const OUTPUT_LIMIT: u64 = 64 * 1024;
/// At most this many characters of output go into the error.
const SHOWN_OUTPUT: usize = 300;

/// How a run went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// Why not, in words, with the end of its output.
    Failed(String),
}

/// The environment of a `notify` command: the supervisor's own without the
/// variables that hold secrets (by name, or a URL with credentials), then
/// the notification and the instance the event is about.
pub fn notify_env(inherited: &EnvMap, notification: &str, instance: &str) -> EnvMap {
    let mut env: EnvMap = inherited
        .iter()
        .filter(|(name, value)| {
            !crate::secrets::is_secret_env_name(name) && !crate::vendor::has_url_credentials(value)
        })
        .filter(|(name, _)| name.as_str() != crate::process::SPAWN_MARKER_VAR)
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    env.insert(
        "OPENCLAW_SUPERVISOR_EVENT".to_string(),
        notification.to_string(),
    );
    env.insert(
        "OPENCLAW_SUPERVISOR_INSTANCE".to_string(),
        instance.to_string(),
    );
    env
}

/// Run `argv` with `env`, `input` on its stdin, for at most `timeout`.
pub async fn run(
    spawner: &Spawner,
    argv: &[String],
    env: EnvMap,
    input: Vec<u8>,
    timeout: Duration,
) -> Outcome {
    let Some((program, args)) = argv.split_first() else {
        return Outcome::Failed("the command is empty".to_string());
    };
    let program = match crate::process::resolve_command(
        program,
        Path::new("/"),
        env.get("PATH").map(String::as_str),
    ) {
        Ok(program) => program,
        Err(err) => return Outcome::Failed(format!("cannot run it: {err}")),
    };
    let spec = SpawnSpec {
        program,
        args: args.to_vec(),
        env,
        cwd: Some("/".into()),
        capture_output: true,
        pipe_stdin: true,
    };
    let (exits_tx, mut exits_rx) = mpsc::unbounded_channel();
    let child = match spawner.spawn(&spec, exits_tx) {
        Ok(child) => child,
        Err(err) => return Outcome::Failed(format!("cannot run it: {err}")),
    };
    let mut group = KillOnDrop {
        spawner,
        pid: child.pid,
        armed: true,
    };
    let stdin = child.stdin;
    let feed = async move {
        if let Some(mut stdin) = stdin {
            // A command that reads nothing closes its end: not an error.
            let _ = stdin.write_all(&input).await;
            // Dropped here: stdin is closed, the command sees its end.
        }
    };
    let work = async {
        let ((), stdout, stderr, exit) = tokio::join!(
            feed,
            read_bounded(child.stdout),
            read_bounded(child.stderr),
            exits_rx.recv()
        );
        (stdout, stderr, exit)
    };
    let outcome = match tokio::time::timeout(timeout, work).await {
        Ok((_, _, Some(exit))) if exit.exit == ExitKind::Code(0) => Outcome::Ok,
        Ok((stdout, stderr, Some(exit))) => Outcome::Failed(with_output(
            &format!("{}", exit.exit),
            &stdout,
            &stderr,
            &hidden_values(argv),
        )),
        Ok((_, _, None)) => Outcome::Failed("the reaper went away".to_string()),
        Err(_) => {
            group.kill();
            let _ = exits_rx.recv().await;
            Outcome::Failed(format!(
                "timed out after {}: killed",
                humantime::format_duration(timeout)
            ))
        }
    };
    // Reaped: nothing of it to kill any more.
    group.armed = false;
    outcome
}

/// `exit code 1: <the end of its output>`, or the exit alone when it said
/// nothing. The output goes into an event, the log and status: terminal
/// escapes are stripped, each of `hidden` (the argv's secret values) and
/// each value after a secret label (`token=X`, `Bearer X`, `"password":
/// "X"`) is `<redacted>`.
fn with_output(exit: &str, stdout: &str, stderr: &str, hidden: &[&str]) -> String {
    let said = format!("{} {}", stderr.trim(), stdout.trim());
    let mut said = crate::logs::plain_text(said.trim()).into_owned();
    for value in hidden {
        said = said.replace(value, crate::wake::REDACTED);
    }
    let said: String = crate::wake::clean_line(&said, &[])
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if said.is_empty() {
        return exit.to_string();
    }
    let count = said.chars().count();
    let tail: String = said
        .chars()
        .skip(count.saturating_sub(SHOWN_OUTPUT))
        .collect();
    let cut = if count > SHOWN_OUTPUT { "…" } else { "" };
    format!("{exit}: {cut}{tail}")
}

/// The values `declaration::redacted_args` hides in `argv` (the word after
/// `--token`, the part after `--password=`), never empty.
fn hidden_values(argv: &[String]) -> Vec<&str> {
    argv.iter()
        .zip(crate::declaration::redacted_args(argv))
        .filter(|(arg, shown)| arg.as_str() != *shown)
        .map(|(arg, _)| match arg.split_once('=') {
            Some((option, value)) if option.starts_with("--") => value,
            _ => arg.as_str(),
        })
        .filter(|value| !value.is_empty())
        .collect()
}

async fn read_bounded(pipe: Option<tokio::net::unix::pipe::Receiver>) -> String {
    let mut bytes = Vec::new();
    if let Some(pipe) = pipe {
        let _ = pipe.take(OUTPUT_LIMIT).read_to_end(&mut bytes).await;
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_says_the_exit_and_the_end_of_the_output() {
        let long = "x".repeat(400);
        let rows: Vec<(&str, &str, String)> = vec![
            ("", "", "exit code 1".to_string()),
            (
                "sent\n",
                "error: topic not found\n",
                "exit code 1: error: topic not found sent".to_string(),
            ),
            (
                "",
                "\u{1b}[31mred\u{1b}[0m\n  spaced   out\n",
                "exit code 1: red spaced out".to_string(),
            ),
            ("", &long, format!("exit code 1: …{}", "x".repeat(300))),
        ];
        for (stdout, stderr, expected) in rows {
            assert_eq!(with_output("exit code 1", stdout, stderr, &[]), expected);
        }
    }

    #[test]
    fn the_error_shows_no_secret_of_the_argv_nor_of_the_output() {
        let argv: Vec<String> = [
            "ntfy-send",
            "--token",
            "tk-argv-123",
            "--password=pw-argv-456",
            "--topic",
            "ops",
        ]
        .iter()
        .map(|a| a.to_string())
        .collect();
        let hidden = hidden_values(&argv);
        assert_eq!(hidden, ["tk-argv-123", "pw-argv-456"]);
        let rows = [
            (
                "refused token tk-argv-123 (pw-argv-456)",
                "exit code 1: refused token <redacted> (<redacted>)",
            ),
            (
                "\u{1b}[31mAuthorization: Bearer abc.def\u{1b}[0m",
                "exit code 1: Authorization: Bearer <redacted>",
            ),
            (
                "{\"token\": \"s3cr3t\", \"topic\": \"ops\"}",
                "exit code 1: {\"token\": \"<redacted>\", \"topic\": \"ops\"}",
            ),
            (
                "password=hunter2 rejected",
                "exit code 1: password=<redacted> rejected",
            ),
        ];
        for (stderr, expected) in rows {
            assert_eq!(with_output("exit code 1", "", stderr, &hidden), expected);
        }
    }

    #[test]
    fn a_notify_command_that_cannot_run_now_is_a_warning() {
        let spec = |program: &str| crate::declaration::NotifySpec {
            command: vec![program.to_string(), "--topic".to_string()],
            on: vec!["failed".to_string()],
            min_interval: crate::declaration::HumanDuration::from_secs(60),
            timeout: crate::declaration::HumanDuration::from_secs(10),
        };
        let env: EnvMap = [("PATH".to_string(), "/usr/bin:/bin".to_string())].into();
        let rows = [
            ("sh", None),
            ("/bin/sh", None),
            (
                "no-such-notifier-x7",
                Some("not found on PATH (/usr/bin:/bin)"),
            ),
            ("/nonexistent/ntfy-send", Some("does not exist")),
        ];
        for (program, expected) in rows {
            let warning = command_warning(&spec(program), &env);
            match expected {
                None => assert_eq!(warning, None, "{program}"),
                Some(words) => assert!(
                    warning
                        .as_deref()
                        .is_some_and(|w| w.contains(words) && w.starts_with("notify: ")),
                    "{program}: {warning:?}"
                ),
            }
        }
    }

    #[test]
    fn the_environment_keeps_no_secret_and_names_the_event() {
        let inherited: EnvMap = [
            ("PATH", "/usr/bin"),
            ("HOME", "/home/a"),
            ("OPENCLAW_GATEWAY_TOKEN", "t0k"),
            ("TELEGRAM_BOT_TOKEN", "123:abc"),
            ("AWS_SECRET_ACCESS_KEY", "k"),
            ("HTTPS_PROXY", "http://user:pw@proxy:3128"),
            ("OPENCLAW_SUPERVISOR_SPAWN", "m:1:0"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let env = notify_env(&inherited, "failed", "main");
        let names: Vec<&str> = env.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "HOME",
                "OPENCLAW_SUPERVISOR_EVENT",
                "OPENCLAW_SUPERVISOR_INSTANCE",
                "PATH"
            ]
        );
        assert_eq!(env["OPENCLAW_SUPERVISOR_EVENT"], "failed");
        assert_eq!(env["OPENCLAW_SUPERVISOR_INSTANCE"], "main");
    }
}
