//! A queue to a writer thread that drops past a bound and allocates only
//! what it holds. `std::sync::mpsc::sync_channel(n)` allocates all `n` slots
//! up front (16 Ki log lines were 1.3 MiB of an idle supervisor's 2.8 MiB of
//! heap); an unbounded channel with a count of what is queued keeps the
//! same bound without the slots.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

/// The sending side; clones share the count.
pub struct Sender<T> {
    sender: mpsc::Sender<T>,
    queued: Arc<AtomicUsize>,
    bound: usize,
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Sender {
            sender: self.sender.clone(),
            queued: self.queued.clone(),
            bound: self.bound,
        }
    }
}

/// The receiving side: iterate it on the writer thread.
pub struct Receiver<T> {
    receiver: mpsc::Receiver<T>,
    queued: Arc<AtomicUsize>,
}

/// A queue that holds at most `bound` items sent with [`Sender::try_send`].
pub fn bounded<T>(bound: usize) -> (Sender<T>, Receiver<T>) {
    let (sender, receiver) = mpsc::channel();
    let queued = Arc::new(AtomicUsize::new(0));
    (
        Sender {
            sender,
            queued: queued.clone(),
            bound,
        },
        Receiver { receiver, queued },
    )
}

impl<T> Sender<T> {
    /// Queue `item` unless `bound` items are queued or the receiver is gone;
    /// never waits.
    pub fn try_send(&self, item: T) -> Result<(), T> {
        if self.queued.fetch_add(1, Ordering::AcqRel) >= self.bound {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(item);
        }
        self.sender.send(item).map_err(|mpsc::SendError(item)| {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            item
        })
    }

    /// Queue `item` whatever the count (a request someone waits on); fails
    /// only when the receiver is gone.
    pub fn send(&self, item: T) -> Result<(), T> {
        self.queued.fetch_add(1, Ordering::AcqRel);
        self.sender.send(item).map_err(|mpsc::SendError(item)| {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            item
        })
    }
}

impl<T> Iterator for Receiver<T> {
    type Item = T;

    /// The next item, waiting for it; None once every sender is gone.
    fn next(&mut self) -> Option<T> {
        let item = self.receiver.recv().ok()?;
        self.queued.fetch_sub(1, Ordering::AcqRel);
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn try_send_drops_past_the_bound_until_the_receiver_takes_some() {
        let (sender, mut receiver) = bounded(2);
        assert_eq!(sender.try_send(1), Ok(()));
        assert_eq!(sender.clone().try_send(2), Ok(()));
        assert_eq!(sender.try_send(3), Err(3));
        // A request someone waits on goes in anyway.
        assert_eq!(sender.send(4), Ok(()));
        assert_eq!(receiver.next(), Some(1));
        assert_eq!(sender.try_send(5), Err(5), "2 and 4 are still queued");
        assert_eq!(receiver.next(), Some(2));
        assert_eq!(sender.try_send(6), Ok(()));
        assert_eq!(receiver.next(), Some(4));
        assert_eq!(receiver.next(), Some(6));
    }

    #[test]
    fn a_gone_receiver_refuses_and_counts_nothing() {
        let (sender, receiver) = bounded(1);
        drop(receiver);
        assert_eq!(sender.try_send(1), Err(1));
        assert_eq!(sender.send(2), Err(2));
        assert_eq!(sender.queued.load(Ordering::Acquire), 0);
    }
}
