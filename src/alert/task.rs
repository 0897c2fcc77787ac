//! The notifier: a task that follows the event bus, routes each event
//! ([`super::Router`]), rate-limits per instance ([`super::Limiter`]) and
//! runs the commands ([`super::run::run`]), each run a task of its own,
//! so neither the supervisor loop nor the bus ever waits for a command.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::{broadcast, mpsc, watch};

use super::run::{self, Outcome};
use super::{Limiter, Router, Run, Targets};
use crate::journal::{EventBus, Subject};
use crate::openclaw::EnvMap;
use crate::process::Spawner;
use crate::protocol::{EventKind, LastNotify, NotifyMessage};
use crate::supervisor::{EventRecord, unix_ms};

/// The notifier's handle: the declared `notify` settings go in, each
/// instance's last run comes out (for `status`).
#[derive(Clone)]
pub struct Alerts {
    inner: Arc<Inner>,
}

struct Inner {
    targets: watch::Sender<Arc<Targets>>,
    last: Mutex<HashMap<String, LastNotify>>,
}

/// A run that ended: whose `notify`, and how it went.
struct Done {
    owner: String,
    last: LastNotify,
}

impl Alerts {
    /// Start following `events` (inside a tokio runtime). Commands run
    /// through `spawner` with the environment of [`run::notify_env`] over
    /// `inherited`.
    pub fn start(events: EventBus, spawner: Spawner, inherited: Arc<EnvMap>) -> Alerts {
        let (targets, targets_rx) = watch::channel(Arc::new(Targets::new()));
        let alerts = Alerts {
            inner: Arc::new(Inner {
                targets,
                last: Mutex::new(HashMap::new()),
            }),
        };
        let notifier = Notifier {
            live: events.subscribe(),
            events,
            spawner,
            inherited,
            targets: targets_rx,
            router: Router::default(),
            limiters: HashMap::new(),
            alerts: alerts.clone(),
        };
        tokio::spawn(notifier.run());
        alerts
    }

    /// The declared instances now (after a start or a reload).
    pub fn set_targets(&self, targets: Targets) {
        self.inner.targets.send_if_modified(|current| {
            if **current == targets {
                return false;
            }
            *current = Arc::new(targets);
            true
        });
    }

    /// The last run of `instance`'s `notify` since the supervisor started.
    pub fn last(&self, instance: &str) -> Option<LastNotify> {
        self.inner
            .last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(instance)
            .cloned()
    }
}

struct Notifier {
    live: broadcast::Receiver<EventRecord>,
    events: EventBus,
    spawner: Spawner,
    inherited: Arc<EnvMap>,
    targets: watch::Receiver<Arc<Targets>>,
    router: Router,
    /// One per instance whose `notify` fired; at most one held run each.
    limiters: HashMap<String, Limiter<EventRecord>>,
    alerts: Alerts,
}

impl Notifier {
    async fn run(mut self) {
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Done>();
        loop {
            let now = Instant::now();
            let due = self.limiters.values().filter_map(|l| l.due(now)).min();
            let wake = async move {
                match due {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                received = self.live.recv() => match received {
                    Ok(record) => self.event(&record, &done_tx),
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "notify fell behind the events: {missed} of them were not looked at");
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                Some(done) = done_rx.recv() => self.done(done),
                () = wake => {}
            }
            let now = Instant::now();
            let ready: Vec<(String, Run<EventRecord>)> = self
                .limiters
                .iter_mut()
                .filter_map(|(owner, limiter)| limiter.poll(now).map(|run| (owner.clone(), run)))
                .collect();
            for (owner, run) in ready {
                self.launch(owner, run, &done_tx);
            }
        }
    }

    fn event(&mut self, record: &EventRecord, done_tx: &mpsc::UnboundedSender<Done>) {
        let targets = self.targets.borrow().clone();
        // Instances no longer declared keep no limiter.
        self.limiters.retain(|owner, _| targets.contains_key(owner));
        // The supervisor's own events fire no notification.
        let Some(instance) = record.instance.as_deref() else {
            return;
        };
        for (owner, trigger) in self
            .router
            .route(instance, record.kind, &record.detail, &targets)
        {
            let Some(notify) = targets.get(&owner).and_then(|t| t.notify.as_ref()) else {
                continue;
            };
            let interval = notify.min_interval.get();
            let limiter = self
                .limiters
                .entry(owner.clone())
                .or_insert_with(|| Limiter::new(interval));
            limiter.set_interval(interval);
            if let Some(run) = limiter.offer(Instant::now(), trigger, record.clone()) {
                self.launch(owner, run, done_tx);
            }
        }
    }

    /// Start one run of `owner`'s command, as a task of its own.
    fn launch(
        &mut self,
        owner: String,
        run: Run<EventRecord>,
        done_tx: &mpsc::UnboundedSender<Done>,
    ) {
        let targets = self.targets.borrow().clone();
        let Some(notify) = targets.get(&owner).and_then(|t| t.notify.clone()) else {
            // Removed meanwhile: nothing to run.
            if let Some(limiter) = self.limiters.get_mut(&owner) {
                limiter.finished();
            }
            return;
        };
        let message = NotifyMessage {
            event: crate::service::wire_event(&run.payload),
            notify: run.trigger.as_str().to_string(),
            notify_of: owner.clone(),
            suppressed: run.suppressed,
        };
        let mut input = serde_json::to_vec(&message).unwrap_or_default();
        input.push(b'\n');
        // Only an instance's events are routed (see `event`).
        let about = run.payload.instance.clone().unwrap_or_default();
        let env = run::notify_env(&self.inherited, run.trigger.as_str(), &about);
        let spawner = self.spawner.clone();
        let done_tx = done_tx.clone();
        let trigger = run.trigger;
        let suppressed = run.suppressed;
        tokio::spawn(async move {
            let at = unix_ms(std::time::SystemTime::now());
            let outcome =
                run::run(&spawner, &notify.command, env, input, notify.timeout.get()).await;
            let (ok, error) = match outcome {
                Outcome::Ok => (true, None),
                Outcome::Failed(why) => (false, Some(why)),
            };
            let _ = done_tx.send(Done {
                owner,
                last: LastNotify {
                    at,
                    notify: trigger.as_str().to_string(),
                    instance: about,
                    suppressed,
                    ok,
                    error,
                },
            });
        });
    }

    fn done(&mut self, done: Done) {
        if let Some(limiter) = self.limiters.get_mut(&done.owner) {
            limiter.finished();
        }
        // Recorded before the event goes out: a client that hears
        // `notify_failed` and then asks for status sees the run.
        self.alerts
            .inner
            .last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(done.owner.clone(), done.last.clone());
        if let Some(error) = &done.last.error {
            // An event (and so one log line); `notify_failed` fires nothing.
            self.events.emit(
                Subject::Instance(&done.owner),
                EventKind::NotifyFailed,
                format!(
                    "the `{}` notification about {}: {error}",
                    done.last.notify, done.last.instance
                ),
                None,
            );
        }
    }
}
