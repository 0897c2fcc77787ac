//! The control server's gate for a re-exec: stop accepting (new clients
//! wait in the listening socket's backlog, which passes through the exec,
//! and are answered by the new process) and let the connections already
//! open finish, so that no client is cut off by the exec.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

#[derive(Debug, Clone, Default)]
pub struct Gate {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    paused: AtomicBool,
    /// Connections that may still bring or answer a request (a follower
    /// of a stream does not count: streams end at the exec, said so).
    open: AtomicUsize,
    changed: Notify,
}

/// One open connection, counted until dropped or [`Open::release`]d.
#[derive(Debug)]
pub struct Open {
    inner: Option<Arc<Inner>>,
}

impl Open {
    /// No longer counted (it became a follower).
    pub fn release(&mut self) {
        if let Some(inner) = self.inner.take() {
            inner.open.fetch_sub(1, Ordering::SeqCst);
            inner.changed.notify_waiters();
        }
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.release();
    }
}

impl Gate {
    pub fn is_paused(&self) -> bool {
        self.inner.paused.load(Ordering::SeqCst)
    }

    /// Until the gate opens or closes.
    pub async fn changed(&self) {
        self.inner.changed.notified().await
    }

    pub fn pause(&self) {
        self.inner.paused.store(true, Ordering::SeqCst);
        self.inner.changed.notify_waiters();
    }

    pub fn resume(&self) {
        self.inner.paused.store(false, Ordering::SeqCst);
        self.inner.changed.notify_waiters();
    }

    pub fn open(&self) -> Open {
        self.inner.open.fetch_add(1, Ordering::SeqCst);
        Open {
            inner: Some(self.inner.clone()),
        }
    }

    /// Wait until at most `left` connections are open (the caller's own),
    /// or `within` has passed; true when it got that quiet.
    pub async fn quiet(&self, left: usize, within: Duration) -> bool {
        let wait = async {
            loop {
                let changed = self.inner.changed.notified();
                if self.inner.open.load(Ordering::SeqCst) <= left {
                    return;
                }
                changed.await;
            }
        };
        tokio::time::timeout(within, wait).await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn quiet_waits_for_the_other_connections_to_close() {
        let gate = Gate::default();
        let own = gate.open();
        let other = gate.open();
        assert!(!gate.quiet(1, Duration::from_millis(20)).await);
        let closer = tokio::spawn(async move {
            drop(other);
        });
        assert!(gate.quiet(1, Duration::from_secs(5)).await);
        let _ = closer.await;
        let mut follower = gate.open();
        follower.release();
        assert!(gate.quiet(1, Duration::from_millis(20)).await);
        drop(own);
        assert!(gate.quiet(0, Duration::from_millis(20)).await);
    }
}
