//! The event channel every state change goes through, which also keeps the
//! last event of each instance for `status` (`last_event`).
//!
//! The last event is recorded before the event is broadcast, so a client
//! that hears an event and then asks for `status` sees that event (or a
//! later one) as the instance's last: `status --watch` relies on it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

use super::EventRecord;

/// The name supervisor-wide events carry instead of an instance's.
const SUPERVISOR_WIDE: &str = "-";

/// A broadcast of [`EventRecord`]s that remembers each instance's last one.
/// Clones share the channel and the record.
#[derive(Debug, Clone)]
pub struct EventBus {
    sender: broadcast::Sender<EventRecord>,
    last: Arc<Mutex<HashMap<String, EventRecord>>>,
}

impl EventBus {
    /// A channel holding at most `capacity` events a follower has not read.
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity);
        EventBus {
            sender,
            last: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Record `record` as its instance's last event, then broadcast it. An
    /// error only says that nobody follows the events now.
    pub fn send(
        &self,
        record: EventRecord,
    ) -> Result<usize, broadcast::error::SendError<EventRecord>> {
        if record.instance != SUPERVISOR_WIDE {
            self.last
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .insert(record.instance.clone(), record.clone());
        }
        self.sender.send(record)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<EventRecord> {
        self.sender.subscribe()
    }

    /// The last event about `instance` since the supervisor started.
    pub fn last_event(&self, instance: &str) -> Option<EventRecord> {
        self.last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(instance)
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    fn record(instance: &str, kind: &str) -> EventRecord {
        EventRecord {
            at: SystemTime::now(),
            instance: instance.to_string(),
            kind: kind.to_string(),
            detail: String::new(),
        }
    }

    #[test]
    fn each_instance_keeps_its_last_event_and_supervisor_events_none() {
        let bus = EventBus::new(8);
        let mut follower = bus.subscribe();
        // Sent with nobody following too: still recorded.
        let quiet = EventBus::new(8);
        let _ = quiet.send(record("main", "spawned"));
        assert_eq!(
            quiet.last_event("main").map(|r| r.kind),
            Some("spawned".into())
        );
        for (instance, kind) in [
            ("main", "spawned"),
            ("rescue", "standby"),
            ("main", "stopped"),
            ("-", "reloaded"),
        ] {
            let _ = bus.send(record(instance, kind));
        }
        let kind = |name: &str| bus.last_event(name).map(|record| record.kind);
        assert_eq!(kind("main"), Some("stopped".into()));
        assert_eq!(kind("rescue"), Some("standby".into()));
        assert_eq!(kind("-"), None);
        assert_eq!(kind("other"), None);
        assert_eq!(
            follower.try_recv().map(|record| record.kind),
            Ok("spawned".into())
        );
    }
}
