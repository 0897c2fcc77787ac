//! The simulated gateway's boot records and its restart-loop breaker.
//!
//! The real gateway (`dist/gateway-boot-lifecycle-*.mjs`) records each boot
//! in the SQLite table `gateway_boot_lifecycle` of
//! `<state dir>/state/openclaw.sqlite`: a row opened at boot, completed
//! (`clean_stop`, ...) at a graceful exit. A row left open (SIGKILL, crash)
//! is an unclean boot. At boot, 3 unclean boots whose rows started within the
//! last 300 s trip its breaker: it logs the line below and does not
//! auto-start channel and provider accounts. The simulator keeps the same
//! records in a JSON file of its own, `<state dir>/sim-boots.json` (not the
//! real SQLite database), with the same rules.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Unclean boots that trip the breaker (`GATEWAY_BOOT_LOOP_UNCLEAN_THRESHOLD`).
pub const THRESHOLD: usize = 3;
/// The window they must fall in (`GATEWAY_BOOT_LOOP_WINDOW_MS`).
pub const WINDOW_MS: u64 = 300_000;
/// Rows older than this are deleted at boot (`GATEWAY_BOOT_LIFECYCLE_RETENTION_MS`).
const RETENTION_MS: u64 = 86_400_000;

/// One boot: open until the process completes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Boot {
    pub pid: u32,
    pub started_at_ms: u64,
    #[serde(default)]
    pub completed_at_ms: Option<u64>,
    #[serde(default)]
    pub outcome: Option<String>,
}

/// The unclean boots among `boots` as seen at `now_ms`: open rows started in
/// the window, and startups that failed in it (the real query).
pub fn unclean_boots(boots: &[Boot], now_ms: u64) -> usize {
    let window_start = now_ms.saturating_sub(WINDOW_MS);
    boots
        .iter()
        .filter(|boot| match boot.completed_at_ms {
            None => boot.started_at_ms >= window_start,
            Some(completed) => {
                boot.outcome.as_deref() == Some("startup_failed") && completed >= window_start
            }
        })
        .count()
}

/// The line the real gateway logs (at error level) on a boot with its
/// breaker tripped (`beginBoot` in `dist/run-*.mjs`).
pub fn tripped_line(unclean: usize) -> String {
    format!(
        "gateway restart-loop breaker tripped: {unclean} unclean boot(s) within {WINDOW_MS}ms; suppressing channel/provider account auto-start. Inspect the stability bundle and fix the startup crash before restarting the service. Start a channel manually with: openclaw gateway call channels.start --params '{{\"channel\":\"<id>\"}}'"
    )
}

pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("sim-boots.json")
}

/// The records; none when the file is missing or unreadable (the real one
/// fails open too).
pub fn load(path: &Path) -> Vec<Boot> {
    fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

fn save(path: &Path, boots: &[Boot]) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(boots).map_err(std::io::Error::other)?;
    super::write_atomically(path, &text)
}

/// A boot begins: the breaker decision (unclean boots before this one, when
/// they trip it), then this boot's open row.
pub fn begin(path: &Path, pid: u32, now_ms: u64) -> (Option<usize>, std::io::Result<()>) {
    let mut boots = load(path);
    boots.retain(|boot| boot.started_at_ms >= now_ms.saturating_sub(RETENTION_MS));
    let unclean = unclean_boots(&boots, now_ms);
    boots.push(Boot {
        pid,
        started_at_ms: now_ms,
        completed_at_ms: None,
        outcome: None,
    });
    (
        (unclean >= THRESHOLD).then_some(unclean),
        save(path, &boots),
    )
}

/// A graceful exit completes this process's open row.
pub fn complete(path: &Path, pid: u32, now_ms: u64, outcome: &str) -> std::io::Result<()> {
    let mut boots = load(path);
    for boot in boots
        .iter_mut()
        .filter(|boot| boot.pid == pid && boot.completed_at_ms.is_none())
    {
        boot.completed_at_ms = Some(now_ms);
        boot.outcome = Some(outcome.to_string());
    }
    save(path, &boots)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boot(started: u64, completed: Option<u64>, outcome: Option<&str>) -> Boot {
        Boot {
            pid: 1,
            started_at_ms: started,
            completed_at_ms: completed,
            outcome: outcome.map(str::to_string),
        }
    }

    #[test]
    fn open_rows_and_failed_startups_in_the_window_are_unclean() {
        let now = 1_000_000;
        let rows: Vec<(Vec<Boot>, usize)> = vec![
            (vec![], 0),
            (vec![boot(now - 1_000, None, None)], 1),
            (vec![boot(now - WINDOW_MS, None, None)], 1),
            (vec![boot(now - WINDOW_MS - 1, None, None)], 0),
            (
                vec![boot(now - 5_000, Some(now - 4_000), Some("clean_stop"))],
                0,
            ),
            (
                vec![boot(
                    now - WINDOW_MS - 10,
                    Some(now - 1_000),
                    Some("startup_failed"),
                )],
                1,
            ),
            (
                vec![
                    boot(now - 3_000, None, None),
                    boot(now - 2_000, None, None),
                    boot(now - 1_000, None, None),
                ],
                3,
            ),
        ];
        for (boots, expected) in rows {
            assert_eq!(unclean_boots(&boots, now), expected, "{boots:?}");
        }
    }

    #[test]
    fn the_fourth_boot_after_three_unclean_ones_trips_and_a_clean_stop_does_not_count() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = path(dir.path());
        let now = 10_000_000;
        for pid in 1..=3 {
            let (tripped, saved) = begin(&file, pid, now + u64::from(pid));
            saved.expect("saved");
            assert_eq!(tripped, None, "boot {pid}");
        }
        let (tripped, saved) = begin(&file, 4, now + 10);
        saved.expect("saved");
        assert_eq!(tripped, Some(3));
        complete(&file, 4, now + 20, "clean_stop").expect("completed");
        let (tripped, _) = begin(&file, 5, now + 30);
        assert_eq!(tripped, Some(3), "the clean stop of 4 is not unclean");
        let (tripped, _) = begin(&file, 6, now + 30 + WINDOW_MS);
        assert_eq!(tripped, None, "the window drained");
        assert!(matches!(
            openclaw_supervisor_core::breaker::parse(&tripped_line(3)),
            Some(openclaw_supervisor_core::breaker::BreakerLine::Tripped {
                unclean_boots: Some(3),
                ..
            })
        ));
    }
}
