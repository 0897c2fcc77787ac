//! The one entry point the daemon uses to read a declarations directory:
//! load, resolve and check, with per-file errors kept apart so that one bad
//! file never hides the good ones.

use std::path::{Path, PathBuf};

use crate::openclaw::{Effective, EnvMap};

/// A declaration file that could not be used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    pub file: PathBuf,
    /// The instance name the file declares, when it could be told.
    pub name: Option<String>,
    pub reason: String,
}

/// A conflict between instances of a set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub instances: Vec<String>,
    pub message: String,
}

#[derive(Debug, Clone, Default)]
pub struct Scan {
    pub effective: Vec<Effective>,
    pub file_errors: Vec<FileError>,
}

/// Read and resolve every declaration in `dir`.
pub fn scan(dir: &Path, env: &EnvMap) -> Scan {
    let (effective, errors) = crate::openclaw_tmp::tmp_scan(dir, env);
    Scan {
        effective,
        file_errors: errors
            .into_iter()
            .map(|(file, reason)| FileError {
                file,
                name: None,
                reason,
            })
            .collect(),
    }
}

/// Every isolation conflict within `set`.
pub fn conflicts(set: &[Effective]) -> Vec<Conflict> {
    let mut found = Vec::new();
    for (i, a) in set.iter().enumerate() {
        for b in &set[i + 1..] {
            if a.state_dir == b.state_dir {
                found.push(Conflict {
                    instances: vec![a.name.clone(), b.name.clone()],
                    message: format!("{} and {} share a state dir", a.name, b.name),
                });
            }
        }
    }
    found
}

/// Whether a path names a declaration file (TEMPORARY forwarder).
pub fn is_declaration_file(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    !name.starts_with('.') && (name.ends_with(".yaml") || name.ends_with(".yml"))
}

/// The result of `check` as the control socket reports it.
pub struct CheckReport {
    pub ok: bool,
    pub json: serde_json::Value,
}

/// Check a declarations dir (TEMPORARY until the isolation report lands).
pub fn check_report(dir: &Path, env: &EnvMap) -> CheckReport {
    let scan = scan(dir, env);
    let conflicts = conflicts(&scan.effective);
    let ok = scan.file_errors.is_empty() && conflicts.is_empty();
    CheckReport {
        ok,
        json: serde_json::json!({
            "file_errors": scan.file_errors.iter().map(|e| serde_json::json!({"file": e.file, "reason": e.reason})).collect::<Vec<_>>(),
            "problems": conflicts.iter().map(|c| serde_json::json!({"instances": c.instances, "message": c.message})).collect::<Vec<_>>(),
        }),
    }
}
