//! The one entry point the daemon uses to read a declarations directory:
//! load, resolve and check (through `isolation::check_dir`, the same function
//! `check` uses), with per-file errors kept apart so that one bad file never
//! hides the good ones; then [`plan`], the one decision of what runs, made
//! the same way by `start` (nothing running yet) and by `reload`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::isolation::{self, Movers, Resource};
use crate::openclaw::{Effective, EnvMap};

/// A declaration file that could not be used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    pub file: PathBuf,
    /// The instance name the file declares, when it could be told.
    pub name: Option<String>,
    pub reason: String,
}

impl FileError {
    /// How a person names the refused file in one word: its file name, or
    /// the instance when there is no file (a running set that conflicts).
    pub fn label(&self) -> String {
        self.file
            .file_name()
            .map(|name| name.to_string_lossy().to_string())
            .or_else(|| self.name.clone())
            .unwrap_or_else(|| "-".to_string())
    }

    /// The reason with its file in front (parse errors already have it).
    pub fn located(&self) -> String {
        let file = self.file.display().to_string();
        if self.reason.starts_with(&file) {
            self.reason.clone()
        } else {
            format!("{file}: {}", self.reason)
        }
    }
}

/// A conflict between instances of a set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub instances: Vec<String>,
    pub resource: Resource,
    /// The shared thing (for `rescue_of`, the instance rescued).
    pub shared: String,
    /// What is wrong and the fix, naming both instances.
    pub message: String,
}

#[derive(Debug, Clone, Default)]
pub struct Scan {
    pub effective: Vec<Effective>,
    pub file_errors: Vec<FileError>,
    /// Names the refused files declare (see [`isolation::Loaded::refused`]).
    pub refused: BTreeSet<String>,
}

/// Read and resolve every declaration in `dir`; conflicts are not checked
/// here (see [`plan`]), so reload can decide which change to reject.
pub fn scan(dir: &Path, env: &EnvMap) -> Scan {
    scan_keeping(dir, env, &BTreeMap::new())
}

/// [`scan`] for a running supervisor: `running` maps each running instance
/// to its file, which keeps the name when another file declares it too.
pub fn scan_keeping(dir: &Path, env: &EnvMap, running: &BTreeMap<String, PathBuf>) -> Scan {
    match isolation::load_dir_resolved(dir, env, running) {
        Ok(loaded) => Scan {
            file_errors: loaded
                .file_errors
                .iter()
                .map(|err| FileError {
                    file: err.file().to_path_buf(),
                    name: err.instance().map(str::to_string),
                    reason: err.to_string(),
                })
                .collect(),
            effective: loaded.effective,
            refused: loaded.refused,
        },
        Err(err) => Scan {
            effective: Vec::new(),
            file_errors: vec![FileError {
                file: dir.to_path_buf(),
                name: None,
                reason: err.to_string(),
            }],
            refused: BTreeSet::new(),
        },
    }
}

/// Every isolation conflict within `set`.
pub fn conflicts(set: &[Effective]) -> Vec<Conflict> {
    conflicts_with(set, &Movers::default(), &BTreeSet::new())
}

fn conflicts_with(set: &[Effective], movers: &Movers, refused: &BTreeSet<String>) -> Vec<Conflict> {
    isolation::check_with(set, movers, refused)
        .into_iter()
        .map(|problem| Conflict {
            instances: problem.instances.clone(),
            resource: problem.resource,
            shared: problem.shared.clone(),
            message: problem.to_string(),
        })
        .collect()
}

/// What runs after a scan, and what is refused.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// The set to run: conflict-free, unless `standing` says otherwise.
    pub wanted: BTreeMap<String, Effective>,
    /// Files refused: broken, duplicate, or a change that would conflict.
    pub rejected: Vec<FileError>,
    /// Conflicts among running instances that no file change caused (an
    /// OpenClaw config changed under them): reported, nothing is stopped.
    pub standing: Vec<Conflict>,
}

/// How a name stands against what runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Change {
    /// Running on this very declaration.
    Unchanged = 0,
    /// Running, on another declaration than the one proposed.
    Changed = 1,
    /// Not running.
    New = 2,
}

/// Which sides of one conflict give way: those that change the most. What
/// runs unchanged never gives way; a newcomer gives way to a running
/// instance even when that one changes too; sides that change alike (two
/// newcomers, as at `start`) all give way, as neither can be preferred.
pub fn yielding(sides: &[Change]) -> Vec<usize> {
    let most = sides.iter().copied().max().unwrap_or(Change::Unchanged);
    if most == Change::Unchanged {
        return Vec::new();
    }
    (0..sides.len()).filter(|&i| sides[i] == most).collect()
}

/// Decide what runs: `scan` against `running` (name -> what it runs on;
/// empty at `start`). A broken file leaves its running instance on its
/// last good declaration; a new or changed declaration that conflicts is
/// refused (the running side keeps running); newcomers that conflict with
/// each other are all refused.
pub fn plan(scan: Scan, running: &BTreeMap<String, Effective>) -> Plan {
    let mut rejected = scan.file_errors.clone();
    // Names whose file is broken keep their last good declaration; a file
    // whose name is unknown protects the instance that ran from it.
    let broken: BTreeSet<String> = scan
        .file_errors
        .iter()
        .filter_map(|error| error.name.clone())
        .chain(scan.file_errors.iter().filter_map(|error| {
            running
                .iter()
                .find(|(_, effective)| effective.file == error.file)
                .map(|(name, _)| name.clone())
        }))
        .collect();
    // Every name some file declares, even one refused now or refused below
    // for a conflict: a rescue of it is not told it rescues nothing (the
    // refused file is reported already).
    let refused: BTreeSet<String> = scan
        .refused
        .iter()
        .chain(&broken)
        .chain(scan.effective.iter().map(|effective| &effective.name))
        .cloned()
        .collect();
    let mut wanted: BTreeMap<String, Effective> = scan
        .effective
        .into_iter()
        .map(|effective| (effective.name.clone(), effective))
        .collect();
    for name in &broken {
        if let Some(current) = running.get(name) {
            wanted.insert(name.clone(), current.clone());
        }
    }
    let change = |wanted: &BTreeMap<String, Effective>, name: &str| match running.get(name) {
        None => Change::New,
        Some(current) if Some(current) == wanted.get(name) => Change::Unchanged,
        Some(_) => Change::Changed,
    };
    let mut standing = Vec::new();
    loop {
        let mut movers = Movers::default();
        for name in wanted.keys() {
            movers.rank(name, change(&wanted, name) as u8);
        }
        let set: Vec<Effective> = wanted.values().cloned().collect();
        let conflicts = conflicts_with(&set, &movers, &refused);
        if conflicts.is_empty() {
            break;
        }
        let mut gave_way = BTreeSet::new();
        for conflict in &conflicts {
            let sides: Vec<Change> = conflict
                .instances
                .iter()
                .map(|name| change(&wanted, name))
                .collect();
            let yielders = yielding(&sides);
            if yielders.is_empty() {
                standing.push(conflict.clone());
            }
            for index in yielders {
                let name = &conflict.instances[index];
                let file = wanted
                    .get(name)
                    .map(|effective| effective.file.clone())
                    .unwrap_or_default();
                rejected.push(FileError {
                    file,
                    name: Some(name.clone()),
                    reason: conflict.message.clone(),
                });
                gave_way.insert(name.clone());
            }
        }
        if gave_way.is_empty() {
            break;
        }
        // Only the conflicts that nothing could resolve are standing ones;
        // the others are looked at again once the refused changes are out.
        standing.clear();
        for name in gave_way {
            match running.get(&name) {
                Some(current) => {
                    wanted.insert(name, current.clone());
                }
                None => {
                    wanted.remove(&name);
                }
            }
        }
    }
    Plan {
        wanted,
        rejected,
        standing,
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::declaration::Role;
    use crate::isolation::fixtures::instance;

    fn rescue_of(mut instance: Effective, target: &str) -> Effective {
        instance.declaration.role = Role::Rescue;
        instance.declaration.rescue_of = Some(target.to_string());
        instance
    }

    fn broken(file: &str, name: Option<&str>) -> FileError {
        FileError {
            file: PathBuf::from(format!("/sup/{file}")),
            name: name.map(str::to_string),
            reason: format!("/sup/{file}: broken"),
        }
    }

    #[test]
    fn the_side_that_changes_most_gives_way() {
        use Change::*;
        let rows: &[(&[Change], &[usize])] = &[
            (&[Unchanged, Unchanged], &[]),
            (&[New, Unchanged], &[0]),
            (&[Unchanged, Changed], &[1]),
            (&[New, Changed], &[0]),
            (&[Changed, New], &[1]),
            (&[New, New], &[0, 1]),
            (&[Changed, Changed], &[0, 1]),
            (&[New], &[0]),
            (&[Changed], &[0]),
            (&[Unchanged], &[]),
        ];
        for (sides, expected) in rows {
            assert_eq!(yielding(sides), *expected, "{sides:?}");
        }
    }

    /// (what, running, scanned, file errors, wanted with their ports,
    /// rejected files, words every rejection's reason holds, standing)
    type Row = (
        &'static str,
        Vec<Effective>,
        Vec<Effective>,
        Vec<FileError>,
        Vec<(&'static str, u16)>,
        Vec<&'static str>,
        &'static str,
        usize,
    );

    #[test]
    fn plan_keeps_what_runs_and_refuses_the_change() {
        let rows: Vec<Row> = vec![
            (
                "start: a sound set runs whole",
                vec![],
                vec![instance("a", 18789), instance("b", 19789)],
                vec![],
                vec![("a", 18789), ("b", 19789)],
                vec![],
                "",
                0,
            ),
            (
                "start: two newcomers in conflict are both refused, the rest runs",
                vec![],
                vec![
                    instance("a", 18789),
                    instance("b", 18800),
                    instance("c", 20789),
                ],
                vec![],
                vec![("c", 20789)],
                vec!["/sup/a.yaml", "/sup/b.yaml"],
                "ports:",
                0,
            ),
            (
                "start: a broken file does not take the others down",
                vec![],
                vec![instance("b", 19789)],
                vec![broken("typo.yaml", None)],
                vec![("b", 19789)],
                vec!["/sup/typo.yaml"],
                "broken",
                0,
            ),
            (
                "start: a rescue of a broken main still runs",
                vec![],
                vec![rescue_of(instance("rescue", 19789), "main")],
                vec![broken("main.yaml", None)],
                vec![("rescue", 19789)],
                vec!["/sup/main.yaml"],
                "broken",
                0,
            ),
            (
                "start: a rescue of an instance no file declares is refused",
                vec![],
                vec![rescue_of(instance("rescue", 19789), "mian")],
                vec![],
                vec![],
                vec!["/sup/rescue.yaml"],
                "rescue_of",
                0,
            ),
            (
                "reload: a newcomer overlapping a running instance is refused, named in the fix",
                vec![instance("main", 18789)],
                vec![instance("extra", 18700), instance("main", 18789)],
                vec![],
                vec![("main", 18789)],
                vec!["/sup/extra.yaml"],
                "fix: move extra to",
                0,
            ),
            (
                "reload: a running instance's change onto another's ports is refused",
                vec![instance("a", 18789), instance("b", 19789)],
                vec![instance("a", 19800), instance("b", 19789)],
                vec![],
                vec![("a", 18789), ("b", 19789)],
                vec!["/sup/a.yaml"],
                "fix: move a to",
                0,
            ),
            (
                "reload: a newcomer gives way to a running instance's change",
                vec![instance("a", 18789)],
                vec![instance("a", 21789), instance("b", 21800)],
                vec![],
                vec![("a", 21789)],
                vec!["/sup/b.yaml"],
                "fix: move b to",
                0,
            ),
            (
                "reload: a duplicate of a running name leaves it on what it runs",
                vec![instance("good1", 18789), instance("good2", 19789)],
                vec![instance("good2", 19789)],
                vec![broken("copy.yaml", Some("good1"))],
                vec![("good1", 18789), ("good2", 19789)],
                vec!["/sup/copy.yaml"],
                "broken",
                0,
            ),
            (
                "reload: a broken running file keeps its instance",
                vec![instance("a", 18789)],
                vec![],
                vec![broken("a.yaml", None)],
                vec![("a", 18789)],
                vec!["/sup/a.yaml"],
                "broken",
                0,
            ),
            (
                "reload: a running rescue whose main's file is gone is reported, not stopped",
                vec![
                    instance("main", 18789),
                    rescue_of(instance("rescue", 19789), "main"),
                ],
                vec![rescue_of(instance("rescue", 19789), "main")],
                vec![],
                vec![("rescue", 19789)],
                vec![],
                "",
                1,
            ),
            (
                "reload: running instances that now conflict are reported, not stopped",
                vec![instance("a", 18789), instance("b", 18800)],
                vec![instance("a", 18789), instance("b", 18800)],
                vec![],
                vec![("a", 18789), ("b", 18800)],
                vec![],
                "",
                1,
            ),
        ];
        let mut failures = Vec::new();
        for (what, running, scanned, errors, wanted, rejected, words, standing) in rows {
            let running: BTreeMap<String, Effective> = running
                .into_iter()
                .map(|effective| (effective.name.clone(), effective))
                .collect();
            // As loading names them: the instance, and the file's stem.
            let refused = errors
                .iter()
                .flat_map(|error| {
                    let stem = error
                        .file
                        .file_stem()
                        .map(|stem| stem.to_string_lossy().to_ascii_lowercase());
                    error.name.clone().into_iter().chain(stem)
                })
                .collect();
            let plan = plan(
                Scan {
                    effective: scanned,
                    file_errors: errors,
                    refused,
                },
                &running,
            );
            let got_wanted: Vec<(&str, u16)> = plan
                .wanted
                .values()
                .map(|effective| (effective.name.as_str(), effective.port))
                .collect();
            let mut got_rejected: Vec<String> = plan
                .rejected
                .iter()
                .map(|error| error.file.display().to_string())
                .collect();
            got_rejected.dedup();
            let reasons_hold = plan
                .rejected
                .iter()
                .all(|error| error.reason.contains(words));
            if got_wanted != wanted
                || got_rejected != rejected
                || !reasons_hold
                || plan.standing.len() != standing
            {
                failures.push(format!(
                    "{what}:\n  wanted {got_wanted:?}\n  rejected {:#?}\n  standing {:?}",
                    plan.rejected, plan.standing
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}
