//! Waiting for a cgroup to empty: an inotify watch of its `cgroup.events`.

use std::path::Path;

/// An inotify watch of a cgroup's `cgroup.events` (the kernel notifies a
/// change of `populated` or `frozen` as a modification of that file).
pub struct EventsWatch {
    changes: tokio::sync::mpsc::UnboundedReceiver<()>,
    // Kept alive: dropping it ends the watch.
    _watcher: notify::RecommendedWatcher,
}

impl EventsWatch {
    /// Watch `<dir>/cgroup.events`; none (the caller looks again on a timer)
    /// when the watch cannot be set up, which is logged.
    pub fn new(dir: &Path, label: &str) -> Option<EventsWatch> {
        use notify::Watcher;
        let (tx, changes) = tokio::sync::mpsc::unbounded_channel();
        let watched = notify::recommended_watcher(move |_event| {
            let _ = tx.send(());
        })
        .and_then(|mut watcher| {
            watcher
                .watch(
                    &dir.join("cgroup.events"),
                    notify::RecursiveMode::NonRecursive,
                )
                .map(|()| watcher)
        });
        match watched {
            Ok(watcher) => {
                tracing::debug!(label, cgroup = %dir.display(), "waiting for cgroup.events to say populated 0");
                Some(EventsWatch {
                    changes,
                    _watcher: watcher,
                })
            }
            Err(err) => {
                tracing::warn!(label, cgroup = %dir.display(), error = %err, "cannot watch cgroup.events: looking again on a timer");
                None
            }
        }
    }

    /// The next change (pending ones coalesced); never when the watcher
    /// ended.
    pub async fn changed(&mut self) {
        match self.changes.recv().await {
            Some(()) => while self.changes.try_recv().is_ok() {},
            None => std::future::pending::<()>().await,
        }
    }
}
