//! Last known good: when an instance passes its startup, the OpenClaw config
//! it was spawned with (the bytes read at spawn, never re-read) and its
//! declaration are kept in `<state-dir>/last-good/<name>/<generation>/`
//! (dirs 0700, files 0600, [`plan::KEEP`] generations, an identical one
//! never twice). `diff NAME` compares the current ones with the newest;
//! `rollback NAME` (or `rollback: auto` after an exit 78) puts its config
//! back.
//!
//! The decisions are pure (`plan.rs`, `diff.rs`); this file is the IO edge:
//! a generation is written into a temp dir and renamed into place whole, and
//! a config is replaced by a temp file in its own dir, fsynced, renamed.

use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

pub mod diff;
pub mod plan;

#[cfg(test)]
mod tests;

pub use plan::{AutoDecision, AutoFacts, GenerationInfo, NotWhy, Refusal};

const CONFIG_FILE: &str = "openclaw.json";
const DECLARATION_FILE: &str = "declaration.yaml";
const META_FILE: &str = "meta.json";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Refused(#[from] Refusal),
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| Error::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Meta {
    at_ms: u64,
    config_digest: String,
    declaration_digest: String,
}

/// One stored generation, read back.
#[derive(Debug, Clone)]
pub struct Generation {
    pub info: GenerationInfo,
    pub at: SystemTime,
    pub config: Vec<u8>,
    pub declaration: String,
}

impl Generation {
    /// When it was recorded, as `2026-12-04T22:30:00Z`.
    pub fn at_words(&self) -> String {
        humantime::format_rfc3339_seconds(self.at).to_string()
    }
}

/// The last good generations of one instance.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    pub fn of(state_dir: &Path, name: &str) -> Store {
        Store {
            dir: state_dir.join("last-good").join(name),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The stored generations, oldest first (a torn or foreign entry is
    /// skipped).
    fn generations(&self) -> Result<Vec<(GenerationInfo, Meta)>, Error> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => return Err(io("cannot read", &self.dir)(err)),
        };
        let mut found = Vec::new();
        for entry in entries.flatten() {
            let id = entry.file_name().to_string_lossy().to_string();
            if id.starts_with('.') {
                continue;
            }
            let Ok(text) = std::fs::read(entry.path().join(META_FILE)) else {
                continue;
            };
            let Ok(meta) = serde_json::from_slice::<Meta>(&text) else {
                continue;
            };
            found.push((
                GenerationInfo {
                    id,
                    config_digest: meta.config_digest.clone(),
                    declaration_digest: meta.declaration_digest.clone(),
                },
                meta,
            ));
        }
        found.sort_by(|a, b| a.0.id.cmp(&b.0.id));
        Ok(found)
    }

    /// The newest generation, with its files.
    pub fn newest(&self) -> Result<Option<Generation>, Error> {
        let Some((info, meta)) = self.generations()?.pop() else {
            return Ok(None);
        };
        let dir = self.dir.join(&info.id);
        let config_path = dir.join(CONFIG_FILE);
        let config = std::fs::read(&config_path).map_err(io("cannot read", &config_path))?;
        let declaration_path = dir.join(DECLARATION_FILE);
        let declaration = std::fs::read_to_string(&declaration_path)
            .map_err(io("cannot read", &declaration_path))?;
        Ok(Some(Generation {
            info,
            at: UNIX_EPOCH + Duration::from_millis(meta.at_ms),
            config,
            declaration,
        }))
    }

    /// The config digest of the newest generation, if any.
    pub fn newest_config_digest(&self) -> Result<Option<String>, Error> {
        Ok(self
            .generations()?
            .pop()
            .map(|(info, _)| info.config_digest))
    }

    /// Keep `config` and `declaration` as the newest good generation. False
    /// when the newest already is this one.
    pub fn record(&self, config: &[u8], declaration: &str, at: SystemTime) -> Result<bool, Error> {
        let config_digest = plan::digest(config);
        let declaration_digest = plan::digest(declaration.as_bytes());
        let existing: Vec<GenerationInfo> = self
            .generations()?
            .into_iter()
            .map(|(info, _)| info)
            .collect();
        let record = plan::plan_record(&existing, &config_digest, &declaration_digest);
        if record.store {
            private_dir(&self.dir)?;
            let at_ms = at
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0);
            // Never two with one name (two records in one millisecond).
            let newest_ms = existing
                .last()
                .and_then(|info| info.id.parse::<u64>().ok())
                .map_or(0, |ms| ms + 1);
            let at_ms = at_ms.max(newest_ms);
            let meta = Meta {
                at_ms,
                config_digest,
                declaration_digest,
            };
            let meta_text = serde_json::to_vec(&meta).map_err(|err| Error::Io {
                what: "cannot encode",
                path: self.dir.join(META_FILE),
                source: std::io::Error::other(err),
            })?;
            let id = plan::generation_id(at_ms);
            let temp = self.dir.join(format!(".{id}.{}.tmp", std::process::id()));
            let _ = std::fs::remove_dir_all(&temp);
            private_dir(&temp)?;
            let written = write_private(&temp.join(CONFIG_FILE), config)
                .and_then(|()| write_private(&temp.join(DECLARATION_FILE), declaration.as_bytes()))
                .and_then(|()| write_private(&temp.join(META_FILE), &meta_text))
                .and_then(|()| {
                    std::fs::rename(&temp, self.dir.join(&id)).map_err(io("cannot rename", &temp))
                });
            if let Err(err) = written {
                let _ = std::fs::remove_dir_all(&temp);
                return Err(err);
            }
            sync_dir(&self.dir);
        }
        for id in &record.prune {
            let _ = std::fs::remove_dir_all(self.dir.join(id));
        }
        Ok(record.store)
    }
}

fn private_dir(dir: &Path) -> Result<(), Error> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io("cannot create", dir))
}

fn write_private(path: &Path, content: &[u8]) -> Result<(), Error> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io("cannot create", path))?;
    file.write_all(content)
        .and_then(|()| file.sync_all())
        .map_err(io("cannot write", path))
}

fn sync_dir(dir: &Path) {
    if let Ok(dir) = std::fs::File::open(dir) {
        let _ = dir.sync_all();
    }
}

/// What a rollback did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolledBack {
    /// Where the replaced config is kept; none when there was no config.
    pub rejected: Option<PathBuf>,
    /// When the config put back was recorded good, in words.
    pub good_at: String,
}

impl RolledBack {
    /// The event's and status' words.
    pub fn detail(&self, config_path: &Path, reason: &str) -> String {
        let kept = match &self.rejected {
            Some(rejected) => format!("the replaced one is kept as {}", rejected.display()),
            None => String::from("there was no config to keep"),
        };
        format!(
            "{reason}: {} is the last good again (recorded at {}); {kept}",
            config_path.display(),
            self.good_at,
        )
    }
}

/// Put the newest good config of `store` back at `config_path`, keeping the
/// current one beside it as `<name>.<UTC time>.rejected`; refused when there
/// is no last good or the config is the last good already.
pub fn rollback(
    store: &Store,
    name: &str,
    config_path: &Path,
    now: SystemTime,
) -> Result<RolledBack, Error> {
    let good = store.newest()?;
    let current = match std::fs::read(config_path) {
        Ok(bytes) => Some(bytes),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
        Err(err) => return Err(io("cannot read", config_path)(err)),
    };
    let current_digest = current.as_deref().map(plan::digest);
    let good_at = good.as_ref().map(Generation::at_words);
    plan::plan_rollback(
        name,
        current_digest.as_deref(),
        good.as_ref()
            .map(|g| g.info.config_digest.as_str())
            .zip(good_at.as_deref()),
    )?;
    let (Some(good), Some(good_at)) = (good, good_at) else {
        // plan_rollback refused this already.
        return Err(Refusal::NoLastGood {
            name: name.to_string(),
        }
        .into());
    };
    let dir = config_path.parent().unwrap_or(Path::new("."));
    let file_name = config_path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| CONFIG_FILE.to_string());
    let mode = std::fs::metadata(config_path)
        .map(|meta| meta.permissions().mode() & 0o7777)
        .unwrap_or(0o600);
    let rejected = match &current {
        Some(current) => {
            let mut rejected = dir.join(plan::rejected_name(&file_name, now));
            let mut n = 1;
            while rejected.exists() {
                rejected = dir.join(format!("{}.{n}", plan::rejected_name(&file_name, now)));
                n += 1;
            }
            write_private(&rejected, current)?;
            Some(rejected)
        }
        None => None,
    };
    // Through a symlink to its target: a dotfiles setup keeps its link.
    let target = write_target(config_path);
    crate::files::write_atomically_with_mode(&target, &good.config, mode)
        .map_err(io("cannot write", &target))?;
    Ok(RolledBack { rejected, good_at })
}

/// Where writing `config_path` goes: the file it names through every
/// symlink, even a dangling one (its target is created); itself when it is
/// no symlink.
fn write_target(config_path: &Path) -> PathBuf {
    if let Ok(real) = std::fs::canonicalize(config_path) {
        return real;
    }
    match std::fs::read_link(config_path) {
        Ok(link) => config_path.parent().unwrap_or(Path::new(".")).join(link),
        Err(_) => config_path.to_path_buf(),
    }
}
