//! The simulator's log lines: on stdout/stderr with the real gateway's
//! timestamp, `[gateway]` tag and colour rule, and into its log file.

use std::io::Write;
use std::time::SystemTime;

use super::logfile;

/// Prints a gateway-like log line on stdout.
pub(super) fn log(message: &str) {
    logfile::write(message);
    // A gateway whose supervisor died has no reader on its stdout: a log
    // line must not panic it (println! would), so write errors are ignored.
    let _ = writeln!(std::io::stdout().lock(), "{}", log_line(message));
}

/// Prints a gateway-like log line on stderr.
pub(super) fn log_err(message: &str) {
    logfile::write(message);
    let _ = writeln!(std::io::stderr().lock(), "{}", log_line(message));
}

/// Whether log lines are coloured, by the real gateway's rule
/// (`getColorForConsole` in its `dist/subsystem-*.mjs`): a `FORCE_COLOR`
/// that is not blank nor `0` forces colour; otherwise colour needs no
/// `NO_COLOR` (an empty one does not count) and a terminal on stdout or
/// stderr, or a rich console: `COLORTERM` or `TERM_PROGRAM` set, or a
/// `TERM` other than `dumb`. So into a pipe with no `TERM`, no colour.
static COLOUR: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

#[derive(Debug, Default, Clone, Copy)]
struct ColourEnv<'a> {
    no_color: Option<&'a str>,
    force_color: Option<&'a str>,
    term: Option<&'a str>,
    colorterm: Option<&'a str>,
    term_program: Option<&'a str>,
    tty: bool,
}

fn colour_wanted(env: ColourEnv<'_>) -> bool {
    let set = |value: Option<&str>| value.is_some_and(|value| !value.is_empty());
    if env
        .force_color
        .is_some_and(|value| !value.trim().is_empty() && value.trim() != "0")
    {
        return true;
    }
    let term = env.term.unwrap_or("").trim().to_lowercase();
    let rich = set(env.colorterm) || set(env.term_program) || (!term.is_empty() && term != "dumb");
    !set(env.no_color) && (env.tty || rich)
}

fn log_line(message: &str) -> String {
    let now = humantime::format_rfc3339_millis(SystemTime::now());
    let colour = *COLOUR.get_or_init(|| {
        use std::io::IsTerminal as _;
        let var = |key: &str| std::env::var(key).ok();
        let (no_color, force_color, term, colorterm, term_program) = (
            var("NO_COLOR"),
            var("FORCE_COLOR"),
            var("TERM"),
            var("COLORTERM"),
            var("TERM_PROGRAM"),
        );
        colour_wanted(ColourEnv {
            no_color: no_color.as_deref(),
            force_color: force_color.as_deref(),
            term: term.as_deref(),
            colorterm: colorterm.as_deref(),
            term_program: term_program.as_deref(),
            tty: std::io::stdout().is_terminal() || std::io::stderr().is_terminal(),
        })
    });
    if colour {
        format!("\x1b[90m{now}\x1b[39m \x1b[36m[gateway]\x1b[39m {message}")
    } else {
        format!("{now} [gateway] {message}")
    }
}

#[cfg(test)]
mod tests {
    use super::{ColourEnv, colour_wanted};

    #[test]
    fn colour_follows_the_real_gateways_rule() {
        let none = ColourEnv::default();
        let rows = [
            ("a pipe, no TERM", none, false),
            ("a terminal", ColourEnv { tty: true, ..none }, true),
            (
                "TERM=xterm",
                ColourEnv {
                    term: Some("xterm"),
                    ..none
                },
                true,
            ),
            (
                "TERM=dumb",
                ColourEnv {
                    term: Some("dumb"),
                    ..none
                },
                false,
            ),
            (
                "COLORTERM",
                ColourEnv {
                    colorterm: Some("truecolor"),
                    ..none
                },
                true,
            ),
            (
                "TERM_PROGRAM",
                ColourEnv {
                    term_program: Some("vscode"),
                    ..none
                },
                true,
            ),
            (
                "NO_COLOR=1 with TERM",
                ColourEnv {
                    no_color: Some("1"),
                    term: Some("xterm"),
                    ..none
                },
                false,
            ),
            (
                "NO_COLOR= with TERM",
                ColourEnv {
                    no_color: Some(""),
                    term: Some("xterm"),
                    ..none
                },
                true,
            ),
            (
                "NO_COLOR=1 on a terminal",
                ColourEnv {
                    no_color: Some("1"),
                    tty: true,
                    ..none
                },
                false,
            ),
            (
                "FORCE_COLOR=1 into a pipe",
                ColourEnv {
                    force_color: Some("1"),
                    ..none
                },
                true,
            ),
            (
                "FORCE_COLOR=1 beats NO_COLOR",
                ColourEnv {
                    force_color: Some("1"),
                    no_color: Some("1"),
                    ..none
                },
                true,
            ),
            (
                "FORCE_COLOR=0 does not turn it off",
                ColourEnv {
                    force_color: Some("0"),
                    term: Some("xterm"),
                    ..none
                },
                true,
            ),
            (
                "FORCE_COLOR=0 does not force it",
                ColourEnv {
                    force_color: Some(" 0 "),
                    ..none
                },
                false,
            ),
            (
                "FORCE_COLOR blank",
                ColourEnv {
                    force_color: Some(" "),
                    ..none
                },
                false,
            ),
        ];
        for (what, env, expected) in rows {
            assert_eq!(colour_wanted(env), expected, "{what}");
        }
    }
}
