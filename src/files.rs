//! Files written whole: a reader sees the old content or the new, never a
//! mix (a temp file beside it, renamed over it), durable or not, with the
//! mode it must have from the moment it exists.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Write a file so that a reader sees the old or the new content, never a
/// mix, even after a power loss: a temp file beside it, fsync, rename, fsync
/// of the directory.
pub fn write_atomically(path: &Path, content: &[u8]) -> std::io::Result<()> {
    write_through_temp(path, content, true, None)
}

/// [`write_atomically`], the file readable by its owner alone (0600) from
/// the moment it is created.
pub fn write_atomically_private(path: &Path, content: &[u8]) -> std::io::Result<()> {
    write_atomically_with_mode(path, content, 0o600)
}

/// [`write_atomically`], the file with `mode` from the moment it is created.
pub fn write_atomically_with_mode(path: &Path, content: &[u8], mode: u32) -> std::io::Result<()> {
    write_through_temp(path, content, true, Some(mode))
}

/// Write a file so that a reader sees the old or the new content, never a
/// mix, without forcing it to disk: for files that only matter while the
/// host stays up. Each fsync costs milliseconds on a real disk, spent on a
/// runtime thread.
pub fn write_atomically_unsynced(path: &Path, content: &[u8]) -> std::io::Result<()> {
    write_through_temp(path, content, false, None)
}

fn write_through_temp(
    path: &Path,
    content: &[u8],
    durable: bool,
    mode: Option<u32>,
) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut temp = tempfile_in(dir, path, mode)?;
    let written = temp
        .1
        .write_all(content)
        .and_then(|()| match durable {
            true => temp.1.sync_all(),
            false => Ok(()),
        })
        .and_then(|()| std::fs::rename(&temp.0, path));
    if let Err(err) = written {
        // A temp file left on a full disk would only take more of it.
        let _ = std::fs::remove_file(&temp.0);
        return Err(err);
    }
    if durable && let Ok(dir) = std::fs::File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

fn tempfile_in(
    dir: &Path,
    path: &Path,
    mode: Option<u32>,
) -> std::io::Result<(PathBuf, std::fs::File)> {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let stem = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let temp = dir.join(format!(".{stem}.{}.tmp", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    if let Some(mode) = mode {
        options.mode(mode);
    }
    let file = options.open(&temp)?;
    if let Some(mode) = mode {
        // A temp file left by an earlier run keeps the mode it had.
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    Ok((temp, file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_atomic_writers_replace_the_file_and_leave_no_temp() {
        type Writer = fn(&Path, &[u8]) -> std::io::Result<()>;
        let rows: Vec<(&str, Writer)> = vec![
            ("durable", write_atomically),
            ("unsynced", write_atomically_unsynced),
        ];
        for (label, write) in rows {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("run").join("main.json");
            write(&path, b"first").unwrap();
            write(&path, b"second").unwrap();
            assert_eq!(std::fs::read(&path).unwrap(), b"second", "{label}");
            let names: Vec<String> = std::fs::read_dir(path.parent().unwrap())
                .unwrap()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect();
            assert_eq!(names, vec!["main.json".to_string()], "{label}");
        }
    }
}
