//! The supervisor's own log under systemd: when its stderr is connected to
//! the journal, it logs through journald's native protocol instead, so the
//! fields of a line (`instance`, `event`, `pid`) become journal fields
//! (`INSTANCE=`, `EVENT=`, `PID=`) and `journalctl -u openclaw-supervisor
//! INSTANCE=main` picks one gateway's lines.

use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;

/// systemd's mark that a service's stderr is the journal: the device and
/// inode of that stream (see systemd.exec(5), `$JOURNAL_STREAM`).
pub const JOURNAL_STREAM: &str = "JOURNAL_STREAM";

/// Whether `journal_stream` (the variable's value) names the stream whose
/// device and inode are `stderr`: a stderr redirected elsewhere (a file, a
/// pipe to another program) keeps the variable but is not the journal.
pub fn is_journal(journal_stream: Option<&str>, stderr: (u64, u64)) -> bool {
    let Some((device, inode)) = journal_stream.and_then(|value| value.trim().split_once(':'))
    else {
        return false;
    };
    match (device.parse::<u64>(), inode.parse::<u64>()) {
        (Ok(device), Ok(inode)) => (device, inode) == stderr,
        _ => false,
    }
}

/// Whether this process's stderr is the journal.
pub fn stderr_is_journal() -> bool {
    let value = std::env::var(JOURNAL_STREAM).ok();
    if value.is_none() {
        return false;
    }
    let stderr = std::io::stderr();
    let Ok(owned) = stderr.as_fd().try_clone_to_owned() else {
        return false;
    };
    match std::fs::File::from(owned).metadata() {
        Ok(metadata) => is_journal(value.as_deref(), (metadata.dev(), metadata.ino())),
        Err(_) => false,
    }
}

/// The journald layer: no prefix on field names (`INSTANCE`, not
/// `F_INSTANCE`), `SYSLOG_IDENTIFIER=openclaw-supervisor`, info at
/// priority 6 (info) and debug at 7, as `journalctl -p` reads them.
pub fn layer() -> std::io::Result<tracing_journald::Layer> {
    use tracing_journald::{Priority, PriorityMappings};
    Ok(tracing_journald::layer()?
        .with_field_prefix(None)
        .with_syslog_identifier("openclaw-supervisor".to_string())
        .with_priority_mappings(PriorityMappings {
            info: Priority::Informational,
            debug: Priority::Debug,
            ..PriorityMappings::new()
        }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_journal_stream_naming_stderr_itself_counts() {
        let stderr = (64769, 123456);
        let rows = [
            (Some("64769:123456"), true),
            (Some(" 64769:123456\n"), true),
            // stderr was redirected: the variable was inherited.
            (Some("64769:999"), false),
            (Some("1:123456"), false),
            (None, false),
            (Some(""), false),
            (Some("64769"), false),
            (Some("64769:abc"), false),
            (Some("8:1:2"), false),
        ];
        for (value, expected) in rows {
            assert_eq!(is_journal(value, stderr), expected, "{value:?}");
        }
    }
}
