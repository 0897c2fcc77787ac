//! Watches the declarations directory (and each instance's OpenClaw config
//! file) and asks the supervisor to rescan when something relevant changed.
//!
//! Bursts are debounced: editors write a temp file and rename it over the
//! original, `cp` writes in pieces, and 50 files may land at once; the rescan
//! runs once the directory has been quiet for [`QUIET`] (or at the latest
//! [`MAX_DELAY`] after the first event). Events only say "something changed":
//! the rescan reads the directory as a whole, so a missed or merged event
//! cannot leave the supervisor out of date.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use notify::{EventKind, RecursiveMode};
use tokio::sync::mpsc;

/// Quiet time that ends a burst.
pub const QUIET: Duration = Duration::from_millis(150);
/// A burst never delays the rescan longer than this.
pub const MAX_DELAY: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchMode {
    /// Kernel file events (inotify).
    Events,
    /// Poll the files at this interval (network filesystems).
    Poll(Duration),
    /// Only SIGHUP and the `reload` request rescan.
    Off,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot watch {path}: {source}")]
pub struct WatchError {
    path: PathBuf,
    source: notify::Error,
}

/// Whether a changed path can matter to the declaration set: a
/// declaration file, an OpenClaw config file, or a directory on the way to
/// one (created or removed: the rescan then watches the new nearest one).
pub fn is_relevant(path: &Path, dir: &Path, configs: &BTreeSet<PathBuf>) -> bool {
    if configs.iter().any(|config| config.starts_with(path)) {
        return true;
    }
    path.parent() == Some(dir) && crate::declaration::is_declaration_file(path)
}

/// The directory to watch for `config`: its own directory when it exists,
/// else the nearest existing ancestor, where the missing directories will
/// appear (an instance whose profile is not made yet).
pub fn watch_dir_for(config: &Path, is_dir: impl Fn(&Path) -> bool) -> Option<PathBuf> {
    config
        .ancestors()
        .skip(1)
        .find(|dir| is_dir(dir))
        .map(Path::to_path_buf)
}

/// The running watcher; dropping it stops watching.
pub struct DirWatcher {
    watcher: Box<dyn notify::Watcher + Send + Sync>,
    configs: Arc<Mutex<BTreeSet<PathBuf>>>,
    watched_config_dirs: BTreeSet<PathBuf>,
    /// Each config's watched directory, to notice one that came nearer.
    watch_dir_of: std::collections::BTreeMap<PathBuf, PathBuf>,
    rescan: mpsc::UnboundedSender<()>,
}

impl DirWatcher {
    pub fn start(
        dir: &Path,
        mode: WatchMode,
        reload: impl Fn() + Send + 'static,
    ) -> Result<Option<DirWatcher>, WatchError> {
        let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        let configs: Arc<Mutex<BTreeSet<PathBuf>>> = Arc::default();
        let (events_tx, events_rx) = mpsc::unbounded_channel::<()>();
        let filter_dir = dir.clone();
        let filter_configs = configs.clone();
        let rescan = events_tx.clone();
        let handler = move |result: notify::Result<notify::Event>| {
            let Ok(event) = result else {
                // An overflow or error: rescan to be safe.
                let _ = events_tx.send(());
                return;
            };
            if matches!(event.kind, EventKind::Access(_)) {
                return;
            }
            let configs = filter_configs.lock().unwrap_or_else(|p| p.into_inner());
            if event.need_rescan()
                || event
                    .paths
                    .iter()
                    .any(|path| is_relevant(path, &filter_dir, &configs))
            {
                let _ = events_tx.send(());
            }
        };
        let mut watcher: Box<dyn notify::Watcher + Send + Sync> = match mode {
            WatchMode::Off => return Ok(None),
            WatchMode::Events => Box::new(notify::recommended_watcher(handler).map_err(
                |source| WatchError {
                    path: dir.clone(),
                    source,
                },
            )?),
            WatchMode::Poll(interval) => Box::new(
                notify::PollWatcher::new(
                    handler,
                    notify::Config::default()
                        .with_poll_interval(interval)
                        .with_compare_contents(true),
                )
                .map_err(|source| WatchError {
                    path: dir.clone(),
                    source,
                })?,
            ),
        };
        watcher
            .watch(&dir, RecursiveMode::NonRecursive)
            .map_err(|source| WatchError {
                path: dir.clone(),
                source,
            })?;
        tokio::spawn(debounce(events_rx, reload));
        Ok(Some(DirWatcher {
            watcher,
            configs,
            watched_config_dirs: BTreeSet::new(),
            watch_dir_of: std::collections::BTreeMap::new(),
            rescan,
        }))
    }

    /// Watch these OpenClaw config files too (their directories, so a file
    /// replaced by rename is still seen). A config whose directory does not
    /// exist yet is watched through its nearest existing ancestor: when the
    /// missing directories appear, a rescan follows and watches nearer.
    pub fn set_configs(&mut self, configs: BTreeSet<PathBuf>) {
        let watch_dir_of: std::collections::BTreeMap<PathBuf, PathBuf> = configs
            .iter()
            .filter_map(|c| Some((c.clone(), watch_dir_for(c, Path::is_dir)?)))
            .collect();
        let dirs: BTreeSet<PathBuf> = watch_dir_of.values().cloned().collect();
        for gone in self.watched_config_dirs.difference(&dirs) {
            let _ = self.watcher.unwatch(gone);
        }
        for new in dirs.difference(&self.watched_config_dirs) {
            if let Err(err) = self.watcher.watch(new, RecursiveMode::NonRecursive) {
                tracing::warn!(dir = %new.display(), error = %err, "cannot watch an OpenClaw config dir");
            }
        }
        // A directory that appeared between the rescan's look at the config
        // and this watch could hide the config's arrival: look once more.
        let came_nearer = watch_dir_of.iter().any(|(config, dir)| {
            self.watch_dir_of
                .get(config)
                .is_some_and(|before| dir != before && dir.starts_with(before))
        });
        self.watched_config_dirs = dirs;
        self.watch_dir_of = watch_dir_of;
        *self.configs.lock().unwrap_or_else(|p| p.into_inner()) = configs;
        if came_nearer {
            let _ = self.rescan.send(());
        }
    }
}

/// Calls `reload` once per burst of events: after a quiet spell, or at the
/// latest `MAX_DELAY` after the burst began.
async fn debounce(mut events: mpsc::UnboundedReceiver<()>, reload: impl Fn()) {
    while events.recv().await.is_some() {
        let burst_end = tokio::time::Instant::now() + MAX_DELAY;
        loop {
            let quiet_end = (tokio::time::Instant::now() + QUIET).min(burst_end);
            match tokio::time::timeout_at(quiet_end, events.recv()).await {
                Ok(Some(())) if tokio::time::Instant::now() < burst_end => continue,
                Ok(None) => return,
                _ => break,
            }
        }
        reload();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_config_dir_is_watched_through_its_nearest_existing_ancestor() {
        let existing = |dir: &Path| dir == Path::new("/home/u") || dir == Path::new("/home");
        assert_eq!(
            watch_dir_for(Path::new("/home/u/.openclaw-new/openclaw.json"), existing),
            Some(PathBuf::from("/home/u"))
        );
        let all = |_: &Path| true;
        assert_eq!(
            watch_dir_for(Path::new("/home/u/.openclaw/openclaw.json"), all),
            Some(PathBuf::from("/home/u/.openclaw"))
        );
    }

    #[test]
    fn a_directory_on_the_way_to_a_config_is_relevant() {
        let dir = Path::new("/etc/supervisor.d");
        let configs = BTreeSet::from([PathBuf::from("/home/u/.openclaw-new/openclaw.json")]);
        assert!(is_relevant(
            Path::new("/home/u/.openclaw-new"),
            dir,
            &configs
        ));
        assert!(is_relevant(
            Path::new("/home/u/.openclaw-new/openclaw.json"),
            dir,
            &configs
        ));
        assert!(!is_relevant(Path::new("/home/u/.bashrc"), dir, &configs));
        assert!(!is_relevant(
            Path::new("/home/u/.openclaw-new/other.json"),
            dir,
            &configs
        ));
        assert!(is_relevant(
            Path::new("/etc/supervisor.d/a.yaml"),
            dir,
            &configs
        ));
    }
}
