//! The daemon's answer to an `events` request: the live stream alone, or
//! the journal's backlog and then, with `follow`, the live events after it.

use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

use super::{EventBus, Filter};
use crate::control::Reply;
use crate::protocol::{ErrorKind, Event, EventKind, Response};
use crate::supervisor::unix_ms;

/// Reply lines a stream may have waiting for a slow client.
const STREAM_BUFFER: usize = 256;

/// `backlog`: whether the request asked for the journal's events at all
/// (protocol 1's bare `events` did not: live only). `follow`: go on with
/// live events after the backlog.
pub async fn events_reply(bus: EventBus, filter: Filter, backlog: bool, follow: bool) -> Reply {
    // Subscribe before reading the journal: an event is then either in
    // the files or on the subscription (see the module above).
    let mut live = bus.subscribe();
    let selected = if backlog {
        let journal = bus.journal().clone();
        let query = filter.clone();
        match tokio::task::spawn_blocking(move || journal.backlog(&query)).await {
            Ok(Ok(selected)) => Some(selected),
            Ok(Err(err)) => {
                return Reply::One(Response::error(ErrorKind::Internal, err.to_string()));
            }
            Err(err) => {
                return Reply::One(Response::error(
                    ErrorKind::Internal,
                    format!("reading the event journal failed: {err}"),
                ));
            }
        }
    } else {
        None
    };
    let (tx, rx) = mpsc::channel(STREAM_BUFFER);
    tokio::spawn(async move {
        let mut after = None;
        if let Some(selected) = selected {
            after = selected.last_seq;
            for event in selected.events {
                if tx.send(Response::Event(event)).await.is_err() {
                    return;
                }
            }
            if !follow {
                return;
            }
        }
        // The subscription was made before the backlog was read: from here
        // on nothing is missed, and the client may act on that.
        let subscribed = Event {
            at: unix_ms(std::time::SystemTime::now()),
            instance: None,
            kind: EventKind::Subscribed,
            detail: "live events follow".to_string(),
            seq: None,
        };
        if tx.send(Response::Event(subscribed)).await.is_err() {
            return;
        }
        loop {
            let response = match live.recv().await {
                Ok(record) => {
                    // Already sent as part of the backlog.
                    if after.is_some_and(|last| record.seq <= last) {
                        continue;
                    }
                    let event = crate::service::wire_event(&record);
                    if !filter.admits(&event) {
                        continue;
                    }
                    Response::Event(event)
                }
                Err(RecvError::Lagged(n)) => Response::Event(Event {
                    at: unix_ms(std::time::SystemTime::now()),
                    instance: None,
                    kind: EventKind::Dropped,
                    detail: format!("{n} events dropped: the client reads too slowly"),
                    seq: None,
                }),
                Err(RecvError::Closed) => return,
            };
            if tx.send(response).await.is_err() {
                return;
            }
        }
    });
    Reply::Stream(rx)
}
