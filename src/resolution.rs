//! The one entry point the daemon uses to read a declarations directory:
//! load, resolve and check (through `isolation::check_dir`, the same function
//! `check` uses), with per-file errors kept apart so that one bad file never
//! hides the good ones. It adds what only the daemon needs: a `probes:` block
//! that cannot run is a file error too.

use std::path::{Path, PathBuf};

use crate::isolation::{self, Report};
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
    /// What is wrong and the fix, naming both instances.
    pub message: String,
}

#[derive(Debug, Clone, Default)]
pub struct Scan {
    pub effective: Vec<Effective>,
    pub file_errors: Vec<FileError>,
}

/// Read and resolve every declaration in `dir`; conflicts are not checked
/// here (see [`conflicts`]), so reload can decide which change to reject.
pub fn scan(dir: &Path, env: &EnvMap) -> Scan {
    match isolation::check_dir(dir, env) {
        Ok(report) => split(report),
        Err(err) => Scan {
            effective: Vec::new(),
            file_errors: vec![FileError {
                file: dir.to_path_buf(),
                name: None,
                reason: err.to_string(),
            }],
        },
    }
}

fn split(report: Report) -> Scan {
    let file_errors: Vec<FileError> = report
        .file_errors
        .iter()
        .map(|err| FileError {
            file: err.file().to_path_buf(),
            name: err.instance().map(str::to_string),
            reason: err.to_string(),
        })
        .collect();
    let effective = report.effective;
    Scan {
        effective,
        file_errors,
    }
}

/// Every isolation conflict within `set`.
pub fn conflicts(set: &[Effective]) -> Vec<Conflict> {
    isolation::check(set)
        .into_iter()
        .map(|problem| Conflict {
            instances: problem.instances.clone(),
            message: problem.to_string(),
        })
        .collect()
}

/// The result of `check` as the control socket reports it.
pub struct CheckReport {
    pub ok: bool,
    pub json: serde_json::Value,
}

/// The same report `openclaw-supervisor check --json` prints.
pub fn check_report(dir: &Path, env: &EnvMap) -> CheckReport {
    match isolation::check_dir(dir, env) {
        Ok(report) => CheckReport {
            ok: report.is_sound(),
            json: serde_json::to_value(&report).unwrap_or_else(
                |err| serde_json::json!({ "error": format!("cannot encode the report: {err}") }),
            ),
        },
        Err(err) => CheckReport {
            ok: false,
            json: serde_json::json!({ "error": err.to_string() }),
        },
    }
}
