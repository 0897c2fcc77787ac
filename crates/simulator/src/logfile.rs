//! The simulated gateway's log file, where and as the real one writes it:
//! `logging.file` from the config, else
//! `<log dir>/openclaw[-<encoded profile>]-<local date>.log`
//! (`resolveDefaultRollingLogFile` in the real package's
//! `dist/logger-*.mjs`). The log dir is `/tmp/openclaw` when it is safe (a
//! directory owned by this user, not writable by group or others; a loose
//! mode is tightened, a missing one created 0700), else
//! `$TMPDIR/openclaw-<uid>` (`resolveSecureTempRoot` of
//! `@openclaw/fs-safe`). One JSON object a line, with the real `time` and
//! `message` fields.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

use openclaw_supervisor_core::openclaw::{DEFAULT_LOG_DIR, log_profile_segment};

static FILE: OnceLock<Mutex<fs::File>> = OnceLock::new();

/// The file the gateway logs to.
pub fn path(logging_file: Option<&Path>, profile: Option<&str>, tmpdir: Option<&Path>) -> PathBuf {
    if let Some(file) = logging_file {
        return file.to_path_buf();
    }
    let segment = profile
        .map(str::trim)
        .filter(|profile| !profile.is_empty() && !profile.eq_ignore_ascii_case("default"))
        .map(|profile| format!("-{}", log_profile_segment(profile)))
        .unwrap_or_default();
    log_dir(tmpdir).join(format!("openclaw{segment}-{}.log", local_date()))
}

/// Opens (appends to) `path`, creating its directory 0700; from then on
/// every log line is also written there. Returns why it could not.
pub fn open(path: &Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    let _ = FILE.set(Mutex::new(file));
    Ok(())
}

/// Appends one line (without terminal escapes) to the log file, if open.
pub fn write(message: &str) {
    let Some(file) = FILE.get() else {
        return;
    };
    let line = serde_json::json!({
        "time": humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
        "message": message,
    });
    let mut file = match file.lock() {
        Ok(file) => file,
        Err(poisoned) => poisoned.into_inner(),
    };
    // A full disk must not stop the gateway.
    let _ = writeln!(file, "{line}");
}

fn log_dir(tmpdir: Option<&Path>) -> PathBuf {
    let preferred = Path::new(DEFAULT_LOG_DIR);
    let uid = nix::unistd::getuid().as_raw();
    let safe = match fs::symlink_metadata(preferred) {
        Ok(meta) if meta.is_dir() && meta.uid() == uid => {
            meta.mode() & 0o022 == 0
                || fs::set_permissions(preferred, fs::Permissions::from_mode(0o700)).is_ok()
        }
        Ok(_) => false,
        Err(_) => fs::DirBuilder::new().mode(0o700).create(preferred).is_ok(),
    };
    if safe {
        return preferred.to_path_buf();
    }
    tmpdir
        .map(Path::to_path_buf)
        .unwrap_or_else(std::env::temp_dir)
        .join(format!("openclaw-{uid}"))
}

/// Today's local date, `YYYY-MM-DD`, as the real gateway names its file.
fn local_date() -> String {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|since| since.as_secs())
        .unwrap_or(0);
    let seconds = libc::time_t::try_from(now).unwrap_or(0);
    // SAFETY: localtime_r writes only into the zeroed `tm` we own.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let converted = unsafe { !libc::localtime_r(&seconds, &mut tm).is_null() };
    if converted {
        format!(
            "{:04}-{:02}-{:02}",
            tm.tm_year + 1900,
            tm.tm_mon + 1,
            tm.tm_mday
        )
    } else {
        humantime::format_rfc3339(SystemTime::now()).to_string()[..10].to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_is_named_after_the_profile_as_written() {
        let date = local_date();
        let tmp = Path::new("/nonexistent-tmp");
        let rows = [
            (None, "openclaw"),
            (Some("default"), "openclaw"),
            (Some("Default"), "openclaw"),
            (Some("work"), "openclaw-work"),
            (Some("Work"), "openclaw--1work"),
            (Some("a_b-c"), "openclaw-a-0b--c"),
        ];
        for (profile, stem) in rows {
            let file = path(None, profile, Some(tmp));
            assert_eq!(
                file.file_name().and_then(|name| name.to_str()),
                Some(format!("{stem}-{date}.log").as_str()),
                "{profile:?}"
            );
        }
        let configured = Path::new("/x/gateway.log");
        assert_eq!(path(Some(configured), Some("Work"), None), configured);
    }
}
