//! The supervisor's side of waking rescues (see `crate::wake`): main's
//! failure episodes (opened by its first failure notice, ended by its next
//! `started`, which is the `recovered` event), one planner per rescue with
//! `wake`, the sends as tasks that answer the loop, and what status shows.
//!
//! The hook token is read from the rescue's OpenClaw config when a message
//! is sent and goes nowhere but the request's header.

use std::collections::{BTreeMap, HashMap};
use std::time::SystemTime;

use super::{Message, Supervisor};
use crate::declaration::WakeEndpoint;
use crate::instance::InstanceNotice;
use crate::journal::Subject;
use crate::lifecycle::{Notice, StateName};
use crate::openclaw::hooks;
use crate::protocol::EventKind;
use crate::wake::send::Sent;
use crate::wake::{self, Answer, EventLine, Kind, Planner, Step};

mod job;

use job::{FailureJob, Job, Text, not_sent};

/// One failure episode of an instance: since when, and how it began.
#[derive(Debug, Clone)]
pub struct Episode {
    pub since: SystemTime,
    pub how: String,
    /// main's state as the notice that woke the rescue left it.
    pub state: Option<String>,
    /// How main's config was rolled back in this episode (`rollback: auto`).
    pub rolled_back: Option<String>,
}

/// The last wake of a rescue, for status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WakeReport {
    pub at: SystemTime,
    /// `/hooks/agent` or `/hooks/wake` (with the config's `hooks.path`).
    pub endpoint: String,
    pub kind: Kind,
    pub http_status: Option<u16>,
    /// The gateway answered `ok: true`.
    pub ok: bool,
    /// In words, with what comes next (`retrying in 4s`, `not retried`).
    pub outcome: String,
    /// Tries of this message so far.
    pub tries: u32,
}

/// One rescue's wake state.
#[derive(Debug, Default)]
pub struct WakeTrack {
    planner: Planner,
    /// main's episode the messages are about.
    episode: Option<Episode>,
    recovered_at: Option<SystemTime>,
    last: Option<WakeReport>,
}

/// The wake state of every rescue, and every instance's open episode.
#[derive(Debug, Default)]
pub struct Wakes {
    tracks: BTreeMap<String, WakeTrack>,
    episodes: HashMap<String, Episode>,
}

impl Wakes {
    /// What status shows of each rescue's last wake.
    pub fn reports(&self) -> BTreeMap<String, WakeReport> {
        self.tracks
            .iter()
            .filter_map(|(name, track)| Some((name.clone(), track.last.clone()?)))
            .collect()
    }
}

/// main's state after a failure notice that wakes its rescues, in words;
/// `None` for a notice that does not (an exit: what follows it does).
fn state_after(notice: &Notice) -> Option<String> {
    match notice {
        Notice::Backoff { delay } => Some(format!(
            "backoff (restarting in {})",
            humantime::format_duration(std::time::Duration::from_secs(delay.as_secs()))
        )),
        Notice::Failed(_) => Some("failed".to_string()),
        Notice::Unhealthy | Notice::StartupTimedOut => Some("being restarted".to_string()),
        _ => None,
    }
}

/// Where the last message of `kind` sent to `rescue` is kept.
pub fn message_path(state_dir: &std::path::Path, rescue: &str, kind: Kind) -> std::path::PathBuf {
    state_dir
        .join("wake")
        .join(format!("{rescue}.{}.txt", kind.as_str()))
}

fn endpoint_path(hooks_path: &str, endpoint: WakeEndpoint) -> String {
    format!("{hooks_path}/{}", endpoint.as_str())
}

impl Supervisor {
    /// The rescues of `main` with `wake`, and their endpoint.
    fn woken_rescues_of(&self, main: &str) -> Vec<(String, WakeEndpoint)> {
        self.rescues_of(main)
            .into_iter()
            .filter_map(|entry| {
                let endpoint = entry.config.effective.declaration.wake?;
                Some((entry.handle.name.clone(), endpoint))
            })
            .collect()
    }

    fn is_ready(&self, name: &str) -> bool {
        self.instances
            .get(name)
            .is_some_and(|entry| entry.handle.snapshot.borrow().state == StateName::Running)
    }

    /// Episodes, `recovered` and wakes for one notice (after its event).
    pub(super) fn wake_notice(&mut self, notice: &InstanceNotice) {
        let name = notice.name.as_str();
        if notice.notice.is_failure() && !self.wakes.episodes.contains_key(name) {
            let how = crate::rescue::failure_words(&notice.notice, &notice.detail)
                .unwrap_or_else(|| "failed".to_string());
            self.wakes.episodes.insert(
                name.to_string(),
                Episode {
                    since: notice.at,
                    how,
                    state: None,
                    rolled_back: None,
                },
            );
        }
        if notice.notice == Notice::RolledBack
            && let Some(episode) = self.wakes.episodes.get_mut(name)
        {
            episode.rolled_back = Some(notice.detail.clone());
        }
        // An exit is followed by what the lifecycle made of it (backoff or
        // failed; for an exit 78 under `rollback: auto`, after the rollback
        // was decided): the rescue is woken on that, which says main's
        // state without reading a snapshot published later.
        if let Some(state) = state_after(&notice.notice) {
            if let Some(episode) = self.wakes.episodes.get_mut(name) {
                episode.state = Some(state);
            }
            let episode = self.wakes.episodes.get(name).cloned();
            for (rescue, _) in self.woken_rescues_of(name) {
                let ready = self.is_ready(&rescue);
                let track = self.wakes.tracks.entry(rescue.clone()).or_default();
                // The episode open now, with main's latest state.
                track.episode = episode.clone();
                track.recovered_at = None;
                let step = track.planner.main_failed(ready);
                self.wake_step(&rescue, step);
            }
        }
        if notice.notice != Notice::Started {
            return;
        }
        if let Some(episode) = self.wakes.episodes.remove(name) {
            let down = notice.at.duration_since(episode.since).unwrap_or_default();
            let down = humantime::format_duration(std::time::Duration::from_secs(down.as_secs()));
            self.emit(
                Subject::Instance(name),
                EventKind::Recovered,
                format!(
                    "running again after {down}; it had {} at {}",
                    episode.how,
                    humantime::format_rfc3339_seconds(episode.since)
                ),
            );
            for (rescue, _) in self.woken_rescues_of(name) {
                let ready = self.is_ready(&rescue);
                let track = self.wakes.tracks.entry(rescue.clone()).or_default();
                track.recovered_at = Some(notice.at);
                let step = track.planner.main_recovered(ready);
                self.wake_step(&rescue, step);
            }
        }
        // A rescue with wake that is now ready: a message may wait for it.
        let woken = self
            .instances
            .get(name)
            .is_some_and(|entry| entry.config.effective.declaration.wake.is_some());
        if woken && let Some(track) = self.wakes.tracks.get_mut(name) {
            let step = track.planner.next(true);
            self.wake_step(name, step);
        }
    }

    /// Carry out the planner's step for `rescue`.
    fn wake_step(&mut self, rescue: &str, mut step: Step) {
        loop {
            match step {
                Step::Nothing | Step::GiveUp => return,
                Step::RetryIn(delay) => {
                    let messages = self.messages_tx.clone();
                    let rescue = rescue.to_string();
                    tokio::spawn(async move {
                        tokio::time::sleep(delay).await;
                        let _ = messages.send(Message::Wake(WakeMessage::Retry { rescue }));
                    });
                    return;
                }
                Step::Send { kind, try_number } => match self.send_wake(rescue, kind, try_number) {
                    Ok(()) => return,
                    // Nothing to send with: a refusal, not retried.
                    Err(sent) => {
                        let endpoint = self.endpoint_of(rescue);
                        let sent = (sent, Answer::Refused);
                        step = self.wake_answered(rescue, kind, try_number, endpoint, sent);
                    }
                },
            }
        }
    }

    fn endpoint_of(&self, rescue: &str) -> String {
        let endpoint = self
            .instances
            .get(rescue)
            .and_then(|entry| entry.config.effective.declaration.wake)
            .unwrap_or(WakeEndpoint::Agent);
        endpoint_path(hooks::DEFAULT_HOOKS_PATH, endpoint)
    }

    /// Gather what the message needs (no IO) and start its send: a task
    /// that reads the configs, builds and keeps the text off the loop, then
    /// posts it. `Err` with the reason when there is nothing to send to.
    fn send_wake(&self, rescue: &str, kind: Kind, try_number: u32) -> Result<(), Sent> {
        let entry = self
            .instances
            .get(rescue)
            .ok_or_else(|| not_sent("the rescue is gone".to_string()))?;
        let effective = &entry.config.effective;
        let endpoint = effective
            .declaration
            .wake
            .ok_or_else(|| not_sent("`wake` is no longer declared".to_string()))?;
        let main = effective.declaration.rescue_of.clone().unwrap_or_default();
        let track = self.wakes.tracks.get(rescue);
        let episode = track
            .and_then(|track| track.episode.clone())
            .unwrap_or_else(|| Episode {
                since: SystemTime::now(),
                how: "failed".to_string(),
                state: None,
                rolled_back: None,
            });
        let text = match kind {
            Kind::Failure => Text::Failure(Box::new(self.failure_facts(&main, &episode))),
            Kind::Recovered => {
                let restarts = self
                    .instances
                    .get(&main)
                    .map(|entry| entry.handle.snapshot.borrow().restarts)
                    .unwrap_or(0);
                let at = track
                    .and_then(|track| track.recovered_at)
                    .unwrap_or_else(SystemTime::now);
                Text::Ready(wake::recovered_message(&main, episode.since, at, restarts))
            }
        };
        let job = Job {
            rescue: rescue.to_string(),
            kind,
            endpoint,
            config_path: effective.config_path.clone(),
            env: entry.config.child_env(&self.options.inherited_env),
            kept: message_path(&self.options.state_dir, rescue, kind),
            text,
        };
        let target = crate::prober::target_for(effective);
        let messages = self.messages_tx.clone();
        let rescue = rescue.to_string();
        let default_path = endpoint_path(hooks::DEFAULT_HOOKS_PATH, endpoint);
        tokio::spawn(async move {
            let prepared = tokio::task::spawn_blocking(move || job.prepare())
                .await
                .unwrap_or_else(|err| Err((not_sent(format!("not sent: {err}")), None)));
            let (sent, answer, endpoint) = match prepared {
                Ok((token, path, body)) => {
                    let sent = wake::send::post(target, &path, &token, &body).await;
                    let answer = Answer::of(sent.status);
                    (sent, answer, path)
                }
                Err((sent, path)) => (sent, Answer::Refused, path.unwrap_or(default_path)),
            };
            let _ = messages.send(Message::Wake(WakeMessage::Answer {
                rescue,
                kind,
                try_number,
                endpoint,
                sent,
                answer,
            }));
        });
        Ok(())
    }

    /// main's facts for the failure message, from the loop's own records
    /// (the state main's notice carried, not a later snapshot).
    fn failure_facts(&self, main: &str, episode: &Episode) -> FailureJob {
        let (restarts, snapshot_state, error_lines, config_path, env, declared) =
            match self.instances.get(main) {
                Some(entry) => {
                    let snapshot = entry.handle.snapshot.borrow();
                    let mut lines: Vec<String> = snapshot.last_error.iter().cloned().collect();
                    lines.extend(snapshot.error_lines.iter().cloned());
                    if lines.is_empty() {
                        // A liveness failure leaves no crash report: its tail says more.
                        lines = entry.handle.log.tail(wake::MAX_ERROR_LINES);
                    }
                    let declared = entry.config.effective.declaration.env.values().cloned();
                    (
                        snapshot.restarts,
                        snapshot.state.as_str(),
                        lines,
                        Some(entry.config.effective.config_path.clone()),
                        entry.config.child_env(&self.options.inherited_env),
                        declared.collect(),
                    )
                }
                None => (
                    0,
                    "removed",
                    Vec::new(),
                    None,
                    Default::default(),
                    Vec::new(),
                ),
            };
        let events: Vec<EventLine> = self
            .events
            .recent(main)
            .into_iter()
            .map(|record| EventLine {
                at: record.at,
                kind: record.kind,
                detail: record.detail,
            })
            .collect();
        FailureJob {
            main: main.to_string(),
            how: episode.how.clone(),
            since: episode.since,
            restarts,
            state: episode
                .state
                .clone()
                .unwrap_or_else(|| snapshot_state.to_string()),
            rolled_back: episode.rolled_back.clone(),
            error_lines,
            events,
            config_path,
            env,
            declared,
        }
    }

    /// An answer and its class (or a send that could not start, refused):
    /// status, the `wake` event, and the planner's next step.
    pub(super) fn wake_answered(
        &mut self,
        rescue: &str,
        kind: Kind,
        try_number: u32,
        endpoint: String,
        (sent, answer): (Sent, Answer),
    ) -> Step {
        let ready = self.is_ready(rescue);
        let Some(track) = self.wakes.tracks.get_mut(rescue) else {
            return Step::Nothing;
        };
        let step = track.planner.answered(answer, ready);
        let about = self
            .instances
            .get(rescue)
            .and_then(|entry| entry.config.effective.declaration.rescue_of.clone())
            .unwrap_or_default();
        let what = format!("{} message about {about}", kind.as_str());
        let (outcome, detail) = match (answer, step) {
            (Answer::Accepted, _) => (
                sent.words.clone(),
                format!(
                    "woke {rescue}'s agent ({what}): {} (POST {endpoint}, try {try_number})",
                    sent.words
                ),
            ),
            (_, Step::RetryIn(delay)) => {
                let delay = humantime::format_duration(delay);
                (
                    format!("{}; retrying in {delay}", sent.words),
                    format!(
                        "wake not delivered ({what}): {}; retrying in {delay} (POST {endpoint}, try {try_number} of {})",
                        sent.words,
                        wake::plan::MAX_TRIES
                    ),
                )
            }
            (Answer::Refused, _) => (
                format!("{}; not retried", sent.words),
                format!(
                    "wake refused ({what}): {}; not retried (POST {endpoint})",
                    sent.words
                ),
            ),
            (_, _) => (
                format!("{}; given up after {try_number} tries", sent.words),
                format!(
                    "wake given up ({what}) after {try_number} tries: {} (POST {endpoint})",
                    sent.words
                ),
            ),
        };
        track.last = Some(WakeReport {
            at: SystemTime::now(),
            endpoint,
            kind,
            http_status: sent.status,
            ok: sent.ok,
            outcome,
            tries: try_number,
        });
        self.emit(Subject::Instance(rescue), EventKind::Wake, detail);
        step
    }

    /// A message from a send task or a retry timer.
    pub(super) fn wake_message(&mut self, message: WakeMessage) {
        match message {
            WakeMessage::Answer {
                rescue,
                kind,
                try_number,
                endpoint,
                sent,
                answer,
            } => {
                let step = self.wake_answered(&rescue, kind, try_number, endpoint, (sent, answer));
                self.wake_step(&rescue, step);
            }
            WakeMessage::Retry { rescue } => {
                let ready = self.is_ready(&rescue);
                if let Some(track) = self.wakes.tracks.get_mut(&rescue) {
                    let step = track.planner.retry_due(ready);
                    self.wake_step(&rescue, step);
                }
            }
        }
    }
}

/// What send tasks and retry timers tell the loop.
pub enum WakeMessage {
    Answer {
        rescue: String,
        kind: Kind,
        try_number: u32,
        endpoint: String,
        sent: Sent,
        answer: Answer,
    },
    Retry {
        rescue: String,
    },
}
