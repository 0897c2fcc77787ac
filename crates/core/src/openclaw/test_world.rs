//! A scratch world for resolution tests: a temp dir with a home and a
//! declarations dir, and helpers to run a table of rows in it.

use std::path::{Path, PathBuf};

use super::*;
use crate::declaration::parse;

/// A scratch world: `$ROOT` in texts stands for a fresh temp dir, whose
/// `home/` is HOME unless a row says otherwise.
pub(super) struct World {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
}

impl World {
    pub fn new(files: &[(&str, &str)]) -> World {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = std::fs::canonicalize(dir.path()).expect("canonical temp dir");
        std::fs::create_dir_all(root.join("home")).expect("home");
        std::fs::create_dir_all(root.join("sup")).expect("declarations dir");
        let world = World { _dir: dir, root };
        for (path, text) in files {
            let path = world.root.join(path);
            std::fs::create_dir_all(path.parent().expect("file has a parent")).expect("mkdir");
            std::fs::write(path, world.fill(text)).expect("write file");
        }
        world
    }

    pub fn fill(&self, text: &str) -> String {
        text.replace("$ROOT", &self.root.to_string_lossy())
    }

    pub fn resolve(&self, yaml: &str, env: &[(&str, &str)]) -> Result<Effective, ResolveError> {
        let file = self.root.join("sup/gw.yaml");
        let loaded = parse(&file, &self.fill(yaml)).expect("test declaration is valid");
        let mut map = EnvMap::new();
        map.insert("HOME".into(), self.fill("$ROOT/home"));
        for (key, value) in env {
            if value.is_empty() {
                map.remove(*key);
            } else {
                map.insert(key.to_string(), self.fill(value));
            }
        }
        resolve(&loaded, &map)
    }
}

/// (what the row shows, files, declaration, env, expected value or error words)
pub(super) type Row = (
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static str,
    &'static [(&'static str, &'static str)],
    Result<&'static str, &'static str>,
);

pub(super) fn run_rows(rows: &[Row], field: impl Fn(&Effective) -> String) {
    let mut failures = Vec::new();
    for (what, files, yaml, env, expected) in rows {
        let world = World::new(files);
        let got = world.resolve(yaml, env);
        match (expected, got) {
            (Ok(value), Ok(effective)) => {
                let value = world.fill(value);
                if field(&effective) != value {
                    failures.push(format!(
                        "{what}: expected {value}, got {}",
                        field(&effective)
                    ));
                }
            }
            (Err(words), Err(err)) => {
                if !err.to_string().contains(&world.fill(words)) {
                    failures.push(format!("{what}: error `{err}` lacks `{words}`"));
                }
            }
            (expected, got) => failures.push(format!("{what}: expected {expected:?}, got {got:?}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

pub(super) fn show(path: &Path) -> String {
    path.display().to_string()
}
