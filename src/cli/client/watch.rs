//! `status --watch` (and `top`): the status table redrawn on every event
//! the supervisor publishes and every `--every` (2 s) for CPU and memory.
//! On a terminal each frame is drawn in place (cursor home, lines cleared,
//! the cursor hidden and shown again at the end); otherwise each frame is
//! printed whole after a blank line, so the output can be captured. A
//! resized terminal (SIGWINCH) is redrawn at once.
//! SIGINT (Ctrl-C) and SIGTERM end it quietly with 0.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::{Duration, SystemTime};

use openclaw_supervisor::control;
use openclaw_supervisor::protocol::{
    EndReason, ErrorKind, InstanceStatus, RejectedFile, Request, Response,
};
use tokio::signal::unix::{SignalKind, signal};

use super::exit;
use super::render::{self, ColorWhen, Paint, View};
use super::{REPLY_TIMEOUT, client_error, fail, unexpected};

/// The default pause between two frames when no event comes.
pub(super) const DEFAULT_EVERY: &str = "2s";

/// `--every`: a human duration above zero (`2s`, `500ms`, `1m`).
pub(super) fn refresh_interval(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(every) if every.is_zero() => Err(String::from("must be above zero")),
        Ok(every) => Ok(every),
        Err(err) => Err(format!("{err} (e.g. 2s, 500ms, 1m)")),
    }
}

/// One frame: a title line (the time, how it refreshes), then the live
/// view's table, every line fitted to `width`.
pub(super) fn frame(
    instances: &[InstanceStatus],
    rejected: &[RejectedFile],
    paint: Paint,
    now: SystemTime,
    every: Duration,
    width: usize,
) -> String {
    let now_ms = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as u64)
        .unwrap_or(0);
    let title = format!(
        "{} every {} and on each event (Ctrl-C quits)",
        humantime::format_rfc3339_seconds(now),
        humantime::format_duration(every),
    );
    let mut out = super::layout::cut(&title, width);
    out.push('\n');
    out.push_str(&render::table(
        instances,
        rejected,
        View::Watch,
        paint,
        now_ms,
        width,
    ));
    out
}

/// What a terminal is sent to replace the screen's content with `frame`
/// without scrolling: cursor home, each line then clear to its end, at most
/// `rows - 1` lines (a newline on the last row would scroll), then clear
/// below.
pub(super) fn in_place(frame: &str, rows: usize) -> String {
    let mut text = String::from("\x1b[H");
    for line in frame.lines().take(rows.saturating_sub(1).max(1)) {
        text.push_str(line);
        text.push_str("\x1b[K\n");
    }
    text.push_str("\x1b[J");
    text
}

/// Where frames go. On a terminal the cursor is hidden while it runs and
/// shown again when this is dropped (also on an error).
struct Screen {
    terminal: bool,
    frames: u64,
}

impl Screen {
    fn new(terminal: bool) -> std::io::Result<Screen> {
        if terminal {
            // Hide the cursor and clear the screen once.
            let mut out = std::io::stdout().lock();
            out.write_all(b"\x1b[?25l\x1b[2J")?;
            out.flush()?;
        }
        Ok(Screen {
            terminal,
            frames: 0,
        })
    }

    fn draw(&mut self, frame: &str) -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        if self.terminal {
            let rows = render::stdout_size().map_or(24, |(_, rows)| rows);
            out.write_all(in_place(frame, rows).as_bytes())?;
        } else {
            if self.frames > 0 {
                out.write_all(b"\n")?;
            }
            out.write_all(frame.as_bytes())?;
        }
        self.frames += 1;
        out.flush()
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        if self.terminal {
            // Nothing to do when stdout is gone.
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(b"\x1b[?25h");
            let _ = out.flush();
        }
    }
}

/// Runs the live view until Ctrl-C (0), the supervisor's shutdown (0, said
/// on stderr), a lost connection (1) or a supervisor that is not running (3).
pub(super) async fn run(
    path: &Path,
    name: Option<String>,
    every: Duration,
    color: ColorWhen,
) -> anyhow::Result<u8> {
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    // A resized terminal is redrawn at once, in the layout that fits.
    let mut resized = signal(SignalKind::window_change())?;
    // Subscribed before the first frame, so no event after it is missed.
    let mut replies = match control::live_events(path).await {
        Ok(replies) => replies,
        Err(err) => return Ok(client_error(&err)),
    };
    let paint = Paint::for_stdout(color);
    let mut screen = Screen::new(std::io::stdout().is_terminal())?;
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let code = loop {
        tokio::select! {
            _ = interrupt.recv() => break exit::OK,
            _ = terminate.recv() => break exit::OK,
            _ = tick.tick() => {}
            _ = resized.recv() => {}
            reply = replies.recv() => match reply {
                Some(Ok(Some(Response::Event(_)))) => {}
                Some(Ok(Some(Response::End { reason }))) => {
                    drop(screen);
                    if reason == EndReason::Shutdown {
                        eprintln!("openclaw-supervisor: the supervisor is shutting down");
                    }
                    return Ok(exit::OK);
                }
                Some(Ok(Some(Response::Error { message, .. }))) => break fail(&message),
                Some(Ok(Some(_))) => continue,
                Some(Ok(None)) | None => break exit::OK,
                Some(Err(err)) => break client_error(&err),
            },
        }
        let status = tokio::select! {
            _ = interrupt.recv() => break exit::OK,
            _ = terminate.recv() => break exit::OK,
            status = fetch(path, name.clone()) => status,
        };
        match status {
            Ok((instances, rejected)) => {
                let width = render::terminal_width();
                let text = frame(
                    &instances,
                    &rejected,
                    paint,
                    SystemTime::now(),
                    every,
                    width,
                );
                screen.draw(&text)?;
            }
            Err(code) => break code,
        }
    };
    drop(screen);
    Ok(code)
}

/// The status to draw, or the code to end with (the reason printed): a
/// supervisor that is shutting down ends the view with 0, as the end of
/// its event stream does.
async fn fetch(
    path: &Path,
    name: Option<String>,
) -> Result<(Vec<InstanceStatus>, Vec<RejectedFile>), u8> {
    let request = control::request(path, Request::Status { name });
    match tokio::time::timeout(REPLY_TIMEOUT, request).await {
        Ok(Ok(Response::Status {
            instances,
            rejected,
        })) => Ok((instances, rejected)),
        Ok(Ok(Response::Error {
            kind: ErrorKind::ShuttingDown,
            ..
        })) => {
            eprintln!("openclaw-supervisor: the supervisor is shutting down");
            Err(exit::OK)
        }
        Ok(Ok(Response::Error { message, .. })) => Err(fail(&message)),
        Ok(Ok(other)) => Err(unexpected(&other)),
        Ok(Err(err)) => Err(client_error(&err)),
        Err(_) => Err(fail(&format!(
            "the supervisor on {} did not answer within {}s",
            path.display(),
            REPLY_TIMEOUT.as_secs()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openclaw_supervisor::protocol::{Event, EventKind};

    fn instance(name: &str, state: &str) -> InstanceStatus {
        InstanceStatus {
            state: state.to_string(),
            pid: Some(1_234_567),
            uptime_secs: Some(192),
            spawned_at: Some(1_000),
            restarts: 2,
            cpu_percent: Some(12.5),
            memory_bytes: Some(1_100 * 1024 * 1024),
            last_event: Some(Event {
                at: 1_760_000_000_000,
                instance: Some(name.to_string()),
                kind: EventKind::Spawned,
                detail: String::new(),
                seq: None,
            }),
            ..crate::cli::client::fixture::instance(name)
        }
    }

    #[test]
    fn a_frame_is_a_title_then_the_live_table() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_millis(1_760_000_072_000);
        let text = frame(
            &[instance("main", "running")],
            &[],
            Paint::plain(),
            now,
            Duration::from_secs(2),
            80,
        );
        let expected = "\
2025-10-09T08:54:32Z every 2s and on each event (Ctrl-C quits)
NAME  STATE    HEALTH  PID      UPTIME  CPU    MEM     RESTARTS  LAST EVENT
main  running  -       1234567  3m12s   12.5%  1.1GiB  2         spawned 1m12s
";
        assert_eq!(text, expected);
        let narrow = frame(
            &[instance("main", "running")],
            &[],
            Paint::plain(),
            now,
            Duration::from_secs(2),
            40,
        );
        assert!(
            narrow.lines().all(|line| line.chars().count() <= 40),
            "{narrow}"
        );
        assert!(
            narrow.starts_with("2025-10-09T08:54:32Z every 2s and on ea…\n"),
            "{narrow}"
        );
    }

    #[test]
    fn a_terminal_frame_replaces_the_screen_without_scrolling() {
        let table = vec![
            ("a\nb\n", 24, "\x1b[Ha\x1b[K\nb\x1b[K\n\x1b[J"),
            // Three rows: two lines, the third would scroll.
            ("a\nb\nc\n", 3, "\x1b[Ha\x1b[K\nb\x1b[K\n\x1b[J"),
            ("a\n", 0, "\x1b[Ha\x1b[K\n\x1b[J"),
        ];
        for (frame, rows, expected) in table {
            assert_eq!(in_place(frame, rows), expected, "{frame:?} in {rows} rows");
        }
    }

    #[test]
    fn the_refresh_interval_is_a_duration_above_zero() {
        let table = vec![
            ("2s", Ok(Duration::from_secs(2))),
            ("500ms", Ok(Duration::from_millis(500))),
            ("0s", Err("must be above zero")),
        ];
        for (text, expected) in table {
            assert_eq!(
                refresh_interval(text),
                expected.map_err(String::from),
                "{text}"
            );
        }
        assert!(refresh_interval("soon").is_err());
    }
}
