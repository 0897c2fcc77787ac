//! Load, resolve and check a declarations directory in one call.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Serialize, Serializer, ser::SerializeStruct};

use super::{Movers, Problem, check_with};
use crate::declaration::{DeclarationError, load_dir_keeping};
use crate::openclaw::{Effective, EnvMap, ResolveError, resolve};

/// A declaration that could not be used: it did not load, or its effective
/// settings could not be worked out (e.g. its OpenClaw config is broken).
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error(transparent)]
    Declaration(#[from] DeclarationError),
    #[error(transparent)]
    Resolve(#[from] ResolveError),
}

impl FileError {
    /// The declaration file the error is about.
    pub fn file(&self) -> &Path {
        match self {
            FileError::Declaration(err) => err.file(),
            FileError::Resolve(err) => err.file(),
        }
    }

    /// The instance, when it is known (a file that did not parse has none).
    pub fn instance(&self) -> Option<&str> {
        match self {
            FileError::Declaration(err) => err.instance(),
            FileError::Resolve(err) => Some(err.instance()),
        }
    }
}

impl Serialize for FileError {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut state = serializer.serialize_struct("FileError", 3)?;
        state.serialize_field("file", self.file())?;
        state.serialize_field("instance", &self.instance())?;
        state.serialize_field("message", &self.to_string())?;
        state.end()
    }
}

/// Something an operator should know that is not a conflict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    pub instance: String,
    pub message: String,
}

/// The whole answer for a declarations directory.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The instances that loaded and resolved, sorted by name.
    pub effective: Vec<Effective>,
    /// Isolation problems among `effective`.
    pub problems: Vec<Problem>,
    /// Files left out, each with why.
    pub file_errors: Vec<FileError>,
    pub warnings: Vec<Warning>,
}

impl Report {
    /// No conflicts and no broken files.
    pub fn is_sound(&self) -> bool {
        self.problems.is_empty() && self.file_errors.is_empty()
    }
}

/// Every declaration in `dir`, loaded and resolved, not checked yet.
#[derive(Debug)]
pub struct Loaded {
    /// The instances that loaded and resolved, sorted by name.
    pub effective: Vec<Effective>,
    /// Files left out, each with why.
    pub file_errors: Vec<FileError>,
    /// Names those files declare (the instance, else the file stem): a
    /// rescue of one of them is not told it rescues nothing.
    pub refused: BTreeSet<String>,
}

/// Load every declaration in `dir` and resolve each against `env`. A
/// running supervisor passes `running` (each running instance's file, which
/// keeps the name when a second file declares it, see
/// [`crate::declaration::load_dir_keeping`]); `check` passes none. Only an
/// unreadable directory is an `Err`.
pub fn load_dir_resolved(
    dir: &Path,
    env: &EnvMap,
    running: &BTreeMap<String, PathBuf>,
) -> Result<Loaded, DeclarationError> {
    let scan = load_dir_keeping(dir, running)?;
    let mut file_errors: Vec<FileError> = scan.errors.into_iter().map(FileError::from).collect();
    let mut effective = Vec::new();
    for loaded in &scan.declarations {
        match resolve(loaded, env) {
            Ok(resolved) => effective.push(resolved),
            Err(err) => file_errors.push(err.into()),
        }
    }
    let refused = file_errors
        .iter()
        .flat_map(|err| match err {
            FileError::Resolve(err) => vec![err.instance().to_string()],
            FileError::Declaration(err) => err
                .files()
                .iter()
                .filter_map(|file| file.file_stem())
                .map(|stem| stem.to_string_lossy().to_ascii_lowercase())
                .chain(err.instance().map(str::to_string))
                .collect(),
        })
        .collect();
    Ok(Loaded {
        effective,
        file_errors,
        refused,
    })
}

/// Load every declaration in `dir`, resolve each against `env` and check the
/// set: what `check` shows. Only an unreadable directory is an `Err`; a bad
/// file is reported in [`Report::file_errors`] and the rest are still
/// resolved and checked.
pub fn check_dir(dir: &Path, env: &EnvMap) -> Result<Report, DeclarationError> {
    let loaded = load_dir_resolved(dir, env, &BTreeMap::new())?;
    let problems = check_with(&loaded.effective, &Movers::default(), &loaded.refused);
    let effective = loaded.effective;
    let mut warnings: Vec<Warning> = effective
        .iter()
        .flat_map(|instance| {
            instance.warnings.iter().map(|message| Warning {
                instance: instance.name.clone(),
                message: message.clone(),
            })
        })
        .collect();
    warnings.extend(
        super::shared_secret_warnings(&effective)
            .into_iter()
            .map(|(instance, message)| Warning { instance, message }),
    );
    if let Some(range) = ephemeral_port_range() {
        warnings.extend(
            super::ephemeral_warnings(&effective, &range)
                .into_iter()
                .map(|(instance, message)| Warning { instance, message }),
        );
    }
    Ok(Report {
        effective,
        problems,
        file_errors: loaded.file_errors,
        warnings,
    })
}

/// The kernel's ephemeral port range, from
/// `/proc/sys/net/ipv4/ip_local_port_range`; None where it cannot be read.
pub fn ephemeral_port_range() -> Option<std::ops::RangeInclusive<u32>> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let mut numbers = text.split_whitespace().map(str::parse::<u32>);
    match (numbers.next(), numbers.next()) {
        (Some(Ok(low)), Some(Ok(high))) if low <= high => Some(low..=high),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::isolation::Resource;

    #[test]
    fn check_dir_loads_resolves_and_checks_keeping_bad_files_apart() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = std::fs::canonicalize(dir.path()).expect("canonical");
        let sup = root.join("sup");
        std::fs::create_dir_all(&sup).expect("mkdir");
        std::fs::create_dir_all(root.join("home/.openclaw-broken-config")).expect("mkdir");
        std::fs::write(
            root.join("home/.openclaw-broken-config/openclaw.json"),
            "{ gateway: ",
        )
        .expect("write config");
        let files: &[(&str, &str)] = &[
            ("main.yaml", "port: 18789\n"),
            (
                "rescue.yaml",
                "profile: rescue\nport: 18809\nrole: rescue\nrescue_of: main\n",
            ),
            (
                "helper.yaml",
                "profile: helper\nport: 30000\nrole: rescue\nrescue_of: typo\n",
            ),
            ("broken.yaml", "port: [\n"),
            (
                "rescue-of-broken.yaml",
                "profile: rob\nport: 25000\nrole: rescue\nrescue_of: broken\n",
            ),
            ("cfg.yaml", "profile: broken-config\nport: 27000\n"),
        ];
        for (name, text) in files {
            std::fs::write(sup.join(name), text).expect("write declaration");
        }
        let mut env = crate::openclaw::EnvMap::new();
        env.insert("HOME".into(), root.join("home").display().to_string());

        let report = check_dir(&sup, &env).expect("dir is readable");
        let names: Vec<&str> = report.effective.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["helper", "main", "rescue", "rescue-of-broken"]);
        let errors: Vec<String> = report.file_errors.iter().map(ToString::to_string).collect();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors.iter().any(|e| e.contains("broken.yaml:1:7")),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.contains("openclaw.json:1:12: EOF parsing value")),
            "{errors:?}"
        );
        let problems: Vec<(Resource, Vec<String>)> = report
            .problems
            .iter()
            .map(|p| (p.resource, p.instances.clone()))
            .collect();
        // The typo is reported; the rescue of a merely broken file is not.
        assert_eq!(
            problems,
            [
                (
                    Resource::Ports,
                    vec!["main".to_string(), "rescue".to_string()]
                ),
                (Resource::RescueOf, vec!["helper".to_string()]),
            ]
        );
        assert!(!report.is_sound());
        // Missing OpenClaw configs are warnings, one per instance; so is
        // `openclaw` missing from PATH (HOME is all the environment here).
        for words in ["exits 78", "not found on PATH"] {
            let count = report
                .warnings
                .iter()
                .filter(|warning| warning.message.contains(words))
                .count();
            assert_eq!(count, 4, "{words}: {:?}", report.warnings);
        }
        assert_eq!(report.warnings.len(), 8, "{:?}", report.warnings);

        let json = serde_json::to_value(&report).expect("serializes");
        assert_eq!(json["file_errors"][1]["instance"], "cfg");
        assert_eq!(json["problems"][0]["resource"], "ports");
    }
}
