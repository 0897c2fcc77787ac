//! What the supervisor says about itself in words: the systemd STATUS
//! line, the names of notices as events, times as the wire carries them.

use super::Rejected;
use crate::lifecycle::Notice;
use crate::protocol::EventKind;

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

/// The event a notice is.
pub fn notice_kind(notice: &Notice) -> EventKind {
    match notice {
        Notice::Spawned => EventKind::Spawned,
        Notice::Adopted => EventKind::Adopted,
        Notice::Started => EventKind::Started,
        Notice::Exited(_) => EventKind::Exited,
        Notice::StartupTimedOut => EventKind::StartupTimedOut,
        Notice::Unhealthy => EventKind::Unhealthy,
        Notice::Backoff { .. } => EventKind::Backoff,
        Notice::Failed(_) => EventKind::Failed,
        Notice::Stopped => EventKind::Stopped,
        Notice::Standby => EventKind::Standby,
        Notice::Forgotten => EventKind::Forgotten,
        Notice::ProbeChanged => EventKind::ProbeChanged,
        Notice::Killed => EventKind::Killed,
        Notice::Breaker => EventKind::Breaker,
        Notice::MemoryGuard => EventKind::MemoryGuard,
        Notice::RolledBack => EventKind::RolledBack,
    }
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
