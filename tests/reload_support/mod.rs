//! Helpers for the live reload tests: an editor-like save, free port
//! blocks for many instances, and status accessors.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::daemon_support::*;

/// Write `name` in `dir` as an editor does: a temp file beside it (a dotfile
/// the watcher ignores), then a rename over the original.
pub fn save(dir: &Path, name: &str, text: &str) {
    let temp = dir.join(format!(".{name}.tmp"));
    fs::write(&temp, text).expect("write the temp file");
    fs::rename(&temp, dir.join(name)).expect("rename over the declaration");
}

pub fn restarts(instance: &Value) -> u64 {
    instance["restarts"].as_u64().unwrap_or(0)
}

pub fn pid_of(instance: &Value) -> i64 {
    instance["pid"]
        .as_i64()
        .unwrap_or_else(|| panic!("a pid: {instance}"))
}

pub fn rejected(daemon: &Daemon) -> Vec<Value> {
    daemon.status_json()["rejected"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Wait until every one of `files` is listed in `rejected`; the list then.
pub fn wait_rejected(daemon: &Daemon, files: &[&str]) -> Vec<Value> {
    wait_for(&format!("{files:?} in `rejected`"), || {
        let list = rejected(daemon);
        let has = |file: &str| {
            list.iter()
                .any(|r| r["file"].as_str().is_some_and(|f| f.ends_with(file)))
        };
        files.iter().all(|file| has(file)).then_some(list)
    })
}

/// Whether `text` has `file:LINE:COLUMN` in it.
pub fn names_line_and_column(text: &str, file: &str) -> bool {
    text.match_indices(&format!("{file}:")).any(|(at, found)| {
        let rest = &text[at + found.len()..];
        let mut parts = rest.splitn(3, ':');
        let line = parts.next().unwrap_or_default();
        let column: String = parts
            .next()
            .unwrap_or_default()
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        !line.is_empty() && line.chars().all(|c| c.is_ascii_digit()) && !column.is_empty()
    })
}

/// `count` base ports 120 apart (blocks of 111 never meet), this test's
/// alone until it ends ([`claim_ports`]).
pub fn free_bases(count: u16) -> Vec<u16> {
    let start = claim_ports(count * 120);
    (0..count).map(|i| start + i * 120).collect()
}

/// Every file under `dir`.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
