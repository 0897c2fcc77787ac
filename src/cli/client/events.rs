//! `events`: the live stream of state changes (bare, as it always was), or
//! the supervisor's event journal: `events [NAME] [-n N] [--since WHEN]`
//! prints the backlog and exits, `-f` goes on with live events after it.

use std::io::Write;
use std::path::Path;
use std::time::SystemTime;

use clap::Args;
use openclaw_supervisor::protocol::{EventKind, Request, Response};

use super::render::{Paint, event_line};
use super::since::{Since, parse_since};

/// Events `events -f` shows before the live ones when neither `-n` nor
/// `--since` says (as `tail -f` does).
pub const FOLLOW_BACKLOG: usize = 10;

#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct EventsArgs {
    /// Only this instance's events (from the journal).
    pub name: Option<String>,
    /// The last N events from the journal.
    #[arg(short = 'n', long = "lines", value_name = "N")]
    pub lines: Option<usize>,
    /// Events from the journal since then: a duration ago (`1h`, `30m`,
    /// `2d`) or a UTC time (`2026-12-04T18:00:00Z`).
    #[arg(long, value_name = "WHEN", value_parser = parse_since)]
    pub since: Option<Since>,
    /// After the journal's events, keep printing new ones until interrupted.
    #[arg(short, long)]
    pub follow: bool,
    /// One JSON object per line instead of text.
    #[arg(long)]
    pub json: bool,
}

/// The request `args` make. Bare `events` is protocol 1's live stream;
/// `-f` alone shows the last [`FOLLOW_BACKLOG`] events first.
pub fn request(args: &EventsArgs, now: SystemTime) -> Request {
    let bare = args.name.is_none() && args.lines.is_none() && args.since.is_none();
    if bare && !args.follow {
        return Request::live_events();
    }
    let lines = match (args.lines, args.since, args.follow) {
        (None, None, true) => Some(FOLLOW_BACKLOG),
        (lines, _, _) => lines,
    };
    Request::Events {
        name: args.name.clone(),
        lines,
        since_ms: args.since.map(|since| since.unix_ms(now)),
        follow: args.follow,
    }
}

/// Print the events until the supervisor ends the stream (0), or fail: 1
/// on an error reply or a lost connection, 3 when it is not running.
pub async fn run(path: &Path, args: EventsArgs, color: super::ColorWhen) -> anyhow::Result<u8> {
    let paint = Paint::for_stdout(color);
    let json = args.json;
    let request = request(&args, SystemTime::now());
    super::stream(path, request, |response, out| match response {
        Response::Event(event) if json => {
            writeln!(
                out,
                "{}",
                serde_json::to_string(event).map_err(std::io::Error::other)?
            )
        }
        // The start of the live part: for scripts (`--json`), not for a
        // reader.
        Response::Event(event) if event.kind == EventKind::Subscribed => Ok(()),
        Response::Event(event) => writeln!(out, "{}", event_line(event, paint)),
        _ => Ok(()),
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn the_arguments_make_a_backlog_request_only_when_one_is_asked_for() {
        let now = at(1_000);
        let args =
            |name: Option<&str>, lines: Option<usize>, since: Option<&str>, follow| EventsArgs {
                name: name.map(str::to_string),
                lines,
                since: since.map(|s| parse_since(s).expect("a since")),
                follow,
                json: false,
            };
        let events = |name: Option<&str>, lines, since_ms, follow| Request::Events {
            name: name.map(str::to_string),
            lines,
            since_ms,
            follow,
        };
        let rows = vec![
            // Bare: the live stream, as scripts have it.
            (args(None, None, None, false), Request::live_events()),
            (
                args(None, Some(5), None, false),
                events(None, Some(5), None, false),
            ),
            (
                args(Some("main"), None, None, false),
                events(Some("main"), None, None, false),
            ),
            (
                args(None, None, Some("10s"), false),
                events(None, None, Some(990_000), false),
            ),
            // -f alone: the last few, then live.
            (
                args(None, None, None, true),
                events(None, Some(FOLLOW_BACKLOG), None, true),
            ),
            (
                args(Some("main"), None, None, true),
                events(Some("main"), Some(FOLLOW_BACKLOG), None, true),
            ),
            (
                args(None, Some(3), None, true),
                events(None, Some(3), None, true),
            ),
            (
                args(None, None, Some("10s"), true),
                events(None, None, Some(990_000), true),
            ),
        ];
        for (args, expected) in rows {
            assert_eq!(request(&args, now), expected, "{args:?}");
        }
    }

    #[test]
    fn the_wire_request_of_bare_events_is_what_old_daemons_understand() {
        let line =
            serde_json::to_string(&request(&EventsArgs::default(), at(0))).expect("serializes");
        assert_eq!(line, r#"{"type":"events"}"#);
    }
}
