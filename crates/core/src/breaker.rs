//! The gateway's own restart-loop breaker, as its output tells it, and the
//! unclean boots the supervisor itself caused. Pure: the instance actor feeds
//! it the gateway's output lines and the times of its own SIGKILLs.
//!
//! The real gateway (`openclaw` 2026.9.6, `dist/run-*.mjs`, `beginBoot`)
//! counts unclean boots in its state database; with 3 within 300 s
//! (`dist/gateway-boot-lifecycle-*.mjs`) every later boot logs
//! `gateway restart-loop breaker tripped: N unclean boot(s) within 300000ms;
//! suppressing channel/provider account auto-start. ...` and leaves its
//! channels stopped while `/healthz`, `/startupz` and `/readyz` stay happy.
//! Once the window drains, the same process logs `gateway restart-loop
//! breaker recovered; channel auto-start restored`.

use std::time::{Duration, SystemTime};

/// What the real gateway logs when its breaker is tripped at boot.
pub const TRIPPED: &str = "gateway restart-loop breaker tripped: ";
/// What it logs when the window drained and its channels start again.
pub const RECOVERED: &str = "gateway restart-loop breaker recovered; channel auto-start restored";

/// The gateway's unclean-boot window (`GATEWAY_BOOT_LOOP_WINDOW_MS`).
pub const WINDOW: Duration = Duration::from_secs(300);
/// Unclean boots in [`WINDOW`] that trip it (`GATEWAY_BOOT_LOOP_UNCLEAN_THRESHOLD`).
pub const THRESHOLD: usize = 3;

/// The longest detail kept from a breaker line.
const MAX_DETAIL: usize = 300;

/// A breaker line of the gateway's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BreakerLine {
    /// Tripped: its channel and provider accounts are not auto-started.
    Tripped {
        /// The unclean boots it counted, when the line says.
        unclean_boots: Option<u32>,
        /// The gateway's words, from `gateway restart-loop breaker tripped`
        /// up to the end of the sentence that names the suppression.
        detail: String,
    },
    /// Recovered: channel auto-start restored.
    Recovered,
}

/// The breaker line in `line` (one line of output, escapes already removed),
/// if it is one. The log prefix (time, `[gateway]`) may be anything.
pub fn parse(line: &str) -> Option<BreakerLine> {
    if line.contains(RECOVERED) {
        return Some(BreakerLine::Recovered);
    }
    let start = line.find(TRIPPED)?;
    let message = &line[start..];
    let counts = &message[TRIPPED.len()..];
    let unclean_boots = counts
        .split_once(" unclean boot")
        .and_then(|(number, _)| number.trim().parse().ok());
    // The first sentence: what tripped and what it suppresses; the rest is
    // advice ("Inspect the stability bundle ...") that `logs` still has.
    let sentence = match message.find(". ") {
        Some(end) => &message[..end],
        None => message.trim_end_matches('.'),
    };
    let detail: String = sentence.trim().chars().take(MAX_DETAIL).collect();
    Some(BreakerLine::Tripped {
        unclean_boots,
        detail,
    })
}

/// A tripped breaker, as an instance keeps it: which gateway process said
/// so, when, and its words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tripped {
    pub pid: i32,
    pub since: SystemTime,
    pub unclean_boots: Option<u32>,
    pub detail: String,
}

/// The supervisor's own SIGKILLs of an instance's gateway within [`WINDOW`]
/// of `now`: each is an unclean boot the gateway will count.
pub fn recent_kills(kills: &[SystemTime], now: SystemTime) -> usize {
    kills.iter().filter(|at| within_window(**at, now)).count()
}

/// Drops kills older than [`WINDOW`], so the list stays short.
pub fn forget_old_kills(kills: &mut Vec<SystemTime>, now: SystemTime) {
    kills.retain(|at| within_window(*at, now));
}

/// Whether `at` is at most [`WINDOW`] before `now` (a time after `now`, a
/// clock stepped back, counts).
fn within_window(at: SystemTime, now: SystemTime) -> bool {
    now.duration_since(at).map_or(true, |age| age <= WINDOW)
}

/// The sentence a `killed` event carries.
pub fn killed_detail(timeout: Duration, recent: usize) -> String {
    let mut detail = format!(
        "SIGKILL after the stop timeout ({}): the gateway's drain was cut short and it counts an unclean boot; {recent} such kill(s) by the supervisor in the last 5 min",
        humantime::format_duration(timeout)
    );
    if recent >= THRESHOLD {
        detail.push_str(
            "; with 3 unclean boots in 5 min the gateway's restart-loop breaker suppresses channel auto-start",
        );
    }
    detail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaker_lines_parse_whatever_the_prefix() {
        let real = "gateway restart-loop breaker tripped: 3 unclean boot(s) within 300000ms; suppressing channel/provider account auto-start. Inspect the stability bundle and fix the startup crash before restarting the service. Start a channel manually with: openclaw gateway call channels.start --params '{\"channel\":\"<id>\"}'";
        let tripped = |boots: Option<u32>, detail: &str| {
            Some(BreakerLine::Tripped {
                unclean_boots: boots,
                detail: detail.to_string(),
            })
        };
        let first = "gateway restart-loop breaker tripped: 3 unclean boot(s) within 300000ms; suppressing channel/provider account auto-start";
        let rows: Vec<(String, Option<BreakerLine>)> = vec![
            (real.to_string(), tripped(Some(3), first)),
            (
                format!("2026-12-04T15:00:00.000+00:00 [gateway] {real}"),
                tripped(Some(3), first),
            ),
            (
                format!("15:00:00 error gateway {{\"subsystem\":\"gateway\"}} {real}"),
                tripped(Some(3), first),
            ),
            (
                "gateway restart-loop breaker tripped: 7 unclean boot(s) within 300000ms; suppressing channel/provider account auto-start.".to_string(),
                tripped(
                    Some(7),
                    "gateway restart-loop breaker tripped: 7 unclean boot(s) within 300000ms; suppressing channel/provider account auto-start",
                ),
            ),
            (
                "gateway restart-loop breaker tripped: many".to_string(),
                tripped(None, "gateway restart-loop breaker tripped: many"),
            ),
            (
                "[gateway] gateway restart-loop breaker recovered; channel auto-start restored"
                    .to_string(),
                Some(BreakerLine::Recovered),
            ),
            ("[gateway] listening on 127.0.0.1:18789".to_string(), None),
            (
                "Idle-timeout cost-runaway breaker tripped: 5 consecutive idle timeouts".to_string(),
                None,
            ),
            (
                "channel autostart suppressed by crash-loop breaker; refusing automatic start for discord".to_string(),
                None,
            ),
            (String::new(), None),
        ];
        for (line, expected) in rows {
            assert_eq!(parse(&line), expected, "{line:?}");
        }
    }

    #[test]
    fn a_long_breaker_line_is_cut() {
        let line = format!("{TRIPPED}{}", "x".repeat(2_000));
        match parse(&line) {
            Some(BreakerLine::Tripped { detail, .. }) => {
                assert_eq!(detail.chars().count(), MAX_DETAIL)
            }
            other => panic!("not tripped: {other:?}"),
        }
    }

    #[test]
    fn only_kills_within_five_minutes_count() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(10_000);
        let ago = |secs: u64| now - Duration::from_secs(secs);
        let rows: Vec<(Vec<SystemTime>, usize)> = vec![
            (vec![], 0),
            (vec![ago(0)], 1),
            (vec![ago(300)], 1),
            (vec![ago(301)], 0),
            (vec![ago(600), ago(200), ago(10)], 2),
            // A clock stepped back: a kill "in the future" still counts.
            (vec![now + Duration::from_secs(5)], 1),
        ];
        for (kills, expected) in rows {
            assert_eq!(recent_kills(&kills, now), expected, "{kills:?}");
            let mut kept = kills.clone();
            forget_old_kills(&mut kept, now);
            assert_eq!(kept.len(), expected, "{kills:?}");
        }
    }

    #[test]
    fn the_killed_detail_warns_at_the_threshold() {
        let rows = [(1, false), (2, false), (3, true), (4, true)];
        for (recent, warns) in rows {
            let detail = killed_detail(Duration::from_secs(330), recent);
            assert!(detail.contains("5m 30s"), "{detail}");
            assert!(
                detail.contains(&format!("{recent} such kill(s)")),
                "{detail}"
            );
            assert_eq!(detail.contains("restart-loop breaker"), warns, "{detail}");
        }
    }
}
