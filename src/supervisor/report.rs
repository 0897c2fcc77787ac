//! What the supervisor says about itself in words: the systemd STATUS
//! line, the names of notices as events, times as the wire carries them.

use std::time::SystemTime;

use super::Rejected;
use crate::lifecycle::Notice;

/// The systemd STATUS line: the instances' states, then the refused files.
pub fn status_line(states: &str, rejected: &[Rejected]) -> String {
    let mut files: Vec<String> = Vec::new();
    for label in rejected.iter().map(Rejected::label) {
        if !files.contains(&label) {
            files.push(label);
        }
    }
    if files.is_empty() {
        states.to_string()
    } else {
        format!("{states}; rejected: {} (see `status`)", files.join(", "))
    }
}

pub fn notice_kind(notice: &Notice) -> &'static str {
    match notice {
        Notice::Spawned => "spawned",
        Notice::Adopted => "adopted",
        Notice::Started => "started",
        Notice::Exited(_) => "exited",
        Notice::StartupTimedOut => "startup_timed_out",
        Notice::Unhealthy => "unhealthy",
        Notice::Backoff { .. } => "backoff",
        Notice::Failed(_) => "failed",
        Notice::Stopped => "stopped",
        Notice::Standby => "standby",
        Notice::Forgotten => "forgotten",
        Notice::ProbeChanged => "probe_changed",
        Notice::Killed => "killed",
        Notice::Breaker => "breaker",
        Notice::MemoryGuard => "memory_guard",
        Notice::RolledBack => "rolled_back",
    }
}

pub fn unix_ms(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn the_status_line_names_each_rejected_file_once() {
        let rejected = |file: &str, instance: Option<&str>| Rejected {
            file: PathBuf::from(file),
            name: instance.map(str::to_string),
            reason: "why".to_string(),
        };
        let rows: Vec<(Vec<Rejected>, &str)> = vec![
            (vec![], "2 running"),
            (
                vec![rejected("/sup/typo.yaml", None)],
                "2 running; rejected: typo.yaml (see `status`)",
            ),
            (
                vec![
                    rejected("/sup/a.yaml", Some("a")),
                    rejected("/sup/b.yaml", Some("b")),
                    rejected("/sup/a.yaml", Some("a")),
                    rejected("", Some("c")),
                ],
                "2 running; rejected: a.yaml, b.yaml, c (see `status`)",
            ),
        ];
        for (list, expected) in rows {
            assert_eq!(status_line("2 running", &list), expected);
        }
    }
}
