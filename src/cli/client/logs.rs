//! `logs [NAME]`: an instance's captured output read back from its files by
//! the supervisor, or every instance's interleaved with a name prefix (as
//! `pm2 logs` does); `-f` follows. Parsing `--since` and formatting a line
//! are pure; the rest is the request and printing.

use std::io::Write;
use std::path::Path;

use clap::Args;
use openclaw_supervisor::logs::read::stamp;
use openclaw_supervisor::protocol::{LogLine, Request, Response};

use super::since::{Since, parse_since};
use super::{call, exit, stream, unexpected};

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The instance's name; every instance's, interleaved in time order, when omitted.
    name: Option<String>,
    /// How many lines (per instance without NAME); 50 when omitted, or
    /// every line since `--since` when that is given.
    #[arg(short = 'n', long)]
    lines: Option<usize>,
    /// Only lines since then: a duration ago (`1h`, `30m`, `2h 15m`) or an
    /// RFC 3339 time (`2026-12-04T18:40:00Z`).
    #[arg(long, value_name = "WHEN", value_parser = parse_since)]
    since: Option<Since>,
    /// Begin each line with the time the supervisor read it (RFC 3339 UTC).
    #[arg(short = 't', long)]
    timestamps: bool,
    /// Keep printing new lines until interrupted; across rotation.
    #[arg(short, long)]
    follow: bool,
}

/// One line as printed: the instance padded to `width` and ` | ` when the
/// line names one, the time when asked (and known), then the text.
pub fn format_line(line: &LogLine, width: usize, timestamps: bool) -> String {
    let mut out = String::new();
    if let Some(instance) = &line.instance {
        out.push_str(&format!("{instance:<width$} | "));
    }
    if let Some(at) = line.at.filter(|_| timestamps) {
        out.push_str(&stamp(at));
        out.push(' ');
    }
    out.push_str(&line.text);
    out
}

pub async fn run(path: &Path, args: LogsArgs) -> anyhow::Result<u8> {
    // The prefix is padded to the longest name, followed instances too.
    let mut width = 0;
    if args.name.is_none() {
        match call(path, Request::Status { name: None }).await {
            Ok(Response::Status { instances, .. }) => {
                width = instances.iter().map(|i| i.name.len()).max().unwrap_or(0);
            }
            Ok(other) => return Ok(unexpected(&other)),
            Err(code) => return Ok(code),
        }
    }
    let request = Request::Logs {
        name: args.name,
        lines: args.lines,
        follow: args.follow,
        since_ms: args
            .since
            .map(|since| since.unix_ms(std::time::SystemTime::now())),
    };
    let timestamps = args.timestamps;
    let mut print = move |line: &LogLine, out: &mut dyn Write| {
        if let Some(instance) = &line.instance {
            width = width.max(instance.len());
        }
        writeln!(out, "{}", format_line(line, width, timestamps))
    };
    if !args.follow {
        return match call(path, request).await {
            Ok(Response::Logs { lines, .. }) => {
                let mut out = std::io::stdout().lock();
                for line in &lines {
                    print(line, &mut out)?;
                }
                Ok(exit::OK)
            }
            Ok(other) => Ok(unexpected(&other)),
            Err(code) => Ok(code),
        };
    }
    stream(path, request, |response, out| match response {
        Response::LogLine(line) => print(line, out),
        Response::Logs { lines, .. } => lines.iter().try_for_each(|line| print(line, out)),
        _ => Ok(()),
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-12-04T18:40:00.123Z
    const T: u64 = 1_796_409_600_123;

    #[test]
    fn lines_print_with_the_padded_name_and_the_time_when_asked() {
        let line = |instance: Option<&str>, at: Option<u64>| LogLine {
            at,
            stream: None,
            text: "ready".to_string(),
            instance: instance.map(str::to_string),
        };
        let rows = [
            (line(None, Some(T)), 6, false, "ready"),
            (
                line(None, Some(T)),
                6,
                true,
                "2026-12-04T18:40:00.123Z ready",
            ),
            (line(None, None), 6, true, "ready"),
            (line(Some("main"), Some(T)), 6, false, "main   | ready"),
            (line(Some("rescue"), Some(T)), 6, false, "rescue | ready"),
            (
                line(Some("main"), Some(T)),
                6,
                true,
                "main   | 2026-12-04T18:40:00.123Z ready",
            ),
            (
                line(Some("longer-name"), None),
                6,
                false,
                "longer-name | ready",
            ),
        ];
        for (line, width, timestamps, expected) in rows {
            assert_eq!(format_line(&line, width, timestamps), expected);
        }
    }
}
