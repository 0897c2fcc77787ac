//! What the terminal is: whether to colour (`--color`, NO_COLOR, pure in
//! [`colour_enabled`]), the colours themselves, and the width tables are
//! fitted to (`COLUMNS`, else the terminal's, else 80).

use std::io::IsTerminal;

/// `--color`: when client output is coloured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorWhen {
    /// Always, even when NO_COLOR is set (as cargo and clap have it).
    Always,
    /// Never.
    Never,
    /// On a terminal, unless NO_COLOR is set to anything but the empty string.
    #[default]
    Auto,
}

/// Whether to colour: `always` and `never` say so; `auto` colours a
/// terminal unless NO_COLOR is set and not empty (no-color.org).
pub(super) fn colour_enabled(
    when: ColorWhen,
    terminal: bool,
    no_color: Option<&std::ffi::OsStr>,
) -> bool {
    match when {
        ColorWhen::Always => true,
        ColorWhen::Never => false,
        ColorWhen::Auto => terminal && no_color.is_none_or(|value| value.is_empty()),
    }
}

/// ANSI colours, or none (see [`colour_enabled`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::cli::client) struct Paint {
    pub(super) enabled: bool,
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Colour {
    Green,
    Yellow,
    Red,
    Dim,
}

impl Paint {
    /// No colours (tests).
    #[cfg(test)]
    pub(in crate::cli::client) fn plain() -> Self {
        Paint { enabled: false }
    }

    pub(in crate::cli::client) fn for_stdout(when: ColorWhen) -> Self {
        Paint {
            enabled: colour_enabled(
                when,
                std::io::stdout().is_terminal(),
                std::env::var_os("NO_COLOR").as_deref(),
            ),
        }
    }

    pub(super) fn paint(self, text: &str, colour: Option<Colour>) -> String {
        match (self.enabled, colour) {
            (true, Some(colour)) => {
                let code = match colour {
                    Colour::Green => "32",
                    Colour::Yellow => "33",
                    Colour::Red => "31",
                    Colour::Dim => "2",
                };
                format!("\x1b[{code}m{text}\x1b[0m")
            }
            _ => text.to_string(),
        }
    }
}

/// The width tables are fitted to: `COLUMNS` when set to a number, else the
/// terminal's (stdout's) width, else 80 (not a terminal).
pub(in crate::cli::client) fn terminal_width() -> usize {
    let columns = std::env::var("COLUMNS").ok();
    width_from(columns.as_deref(), stdout_columns())
}

/// The pure rule of [`terminal_width`].
fn width_from(columns: Option<&str>, terminal: Option<usize>) -> usize {
    columns
        .and_then(|text| text.trim().parse::<usize>().ok())
        .filter(|width| *width > 0)
        .or(terminal.filter(|width| *width > 0))
        .unwrap_or(80)
}

/// The width and height of the terminal on stdout, if it is one.
pub(in crate::cli::client) fn stdout_size() -> Option<(usize, usize)> {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` into the struct we own; stdout
    // stays open for the call, and a non-terminal makes it fail (-1).
    let done = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) };
    (done == 0 && size.ws_col > 0).then(|| (usize::from(size.ws_col), usize::from(size.ws_row)))
}

fn stdout_columns() -> Option<usize> {
    stdout_size().map(|(columns, _)| columns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_follows_the_flag_the_terminal_and_no_color() {
        use ColorWhen::{Always, Auto, Never};
        // --color, stdout a terminal, NO_COLOR -> coloured
        let rows = vec![
            (Auto, true, None, true),
            (Auto, true, Some(""), true),
            (Auto, true, Some("1"), false),
            (Auto, false, None, false),
            (Auto, false, Some("1"), false),
            (Always, false, None, true),
            // `always` wins over NO_COLOR, as cargo and clap have it.
            (Always, true, Some("1"), true),
            (Never, true, None, false),
            (Never, false, Some(""), false),
        ];
        for (when, terminal, no_color, enabled) in rows {
            let decided = colour_enabled(when, terminal, no_color.map(std::ffi::OsStr::new));
            assert_eq!(decided, enabled, "{when:?} {terminal} {no_color:?}");
            let painted = Paint { enabled }.paint("running", Some(Colour::Green));
            assert_eq!(painted.contains('\x1b'), enabled);
        }
    }

    #[test]
    fn the_width_is_columns_else_the_terminal_else_80() {
        let rows = vec![
            (Some("100"), Some(120), 100),
            (Some(" 72 "), None, 72),
            (Some("wide"), Some(120), 120),
            (Some("0"), None, 80),
            (None, Some(132), 132),
            (None, Some(0), 80),
            (None, None, 80),
        ];
        for (columns, terminal, expected) in rows {
            assert_eq!(
                width_from(columns, terminal),
                expected,
                "{columns:?} {terminal:?}"
            );
        }
    }
}
