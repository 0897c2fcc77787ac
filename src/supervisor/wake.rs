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
use crate::lifecycle::Notice;
use crate::openclaw::hooks;
use crate::wake::send::Sent;
use crate::wake::{self, Answer, EventLine, FailureFacts, Kind, Planner, Step};

/// One failure episode of an instance: since when, and how it began.
#[derive(Debug, Clone)]
pub struct Episode {
    pub since: SystemTime,
    pub how: String,
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
            .is_some_and(|entry| entry.handle.snapshot.borrow().state == "running")
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
                },
            );
        }
        if notice.notice.is_failure() {
            let episode = self.wakes.episodes.get(name).cloned();
            for (rescue, _) in self.woken_rescues_of(name) {
                let ready = self.is_ready(&rescue);
                let track = self.wakes.tracks.entry(rescue.clone()).or_default();
                if track.episode.is_none() || track.recovered_at.is_some() {
                    track.episode = episode.clone();
                    track.recovered_at = None;
                }
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
                name,
                "recovered",
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

    /// Build the message and start its send; `Err` with the reason when it
    /// cannot be sent (no such rescue, hooks off, no token).
    fn send_wake(&self, rescue: &str, kind: Kind, try_number: u32) -> Result<(), Sent> {
        let not_sent = |words: String| Sent {
            status: None,
            ok: false,
            words,
        };
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
        let rescue_config = std::fs::read_to_string(&effective.config_path).map_err(|err| {
            not_sent(format!(
                "not sent: cannot read {}: {err}",
                effective.config_path.display()
            ))
        })?;
        let settings = hooks::settings(&rescue_config).map_err(|_| {
            not_sent(format!(
                "not sent: {} is not valid JSON5",
                effective.config_path.display()
            ))
        })?;
        let token = match (settings.missing(), settings.token.clone()) {
            (None, Some(token)) => token,
            (missing, _) => {
                return Err(not_sent(format!(
                    "not sent: in {} {}; add {}",
                    effective.config_path.display(),
                    missing.unwrap_or("hooks.token is not set"),
                    hooks::HOOKS_SNIPPET
                )));
            }
        };
        let track = self.wakes.tracks.get(rescue);
        let episode = track
            .and_then(|track| track.episode.clone())
            .unwrap_or_else(|| Episode {
                since: SystemTime::now(),
                how: "failed".to_string(),
            });
        let text = match kind {
            Kind::Failure => self.failure_text(&main, &episode, &rescue_config),
            Kind::Recovered => {
                let restarts = self
                    .instances
                    .get(&main)
                    .map(|entry| entry.handle.snapshot.borrow().restarts)
                    .unwrap_or(0);
                let at = track
                    .and_then(|track| track.recovered_at)
                    .unwrap_or_else(SystemTime::now);
                wake::recovered_message(&main, episode.since, at, restarts)
            }
        };
        self.keep_message(rescue, kind, &text);
        let body = wake::body(endpoint, &text);
        let path = endpoint_path(&settings.path, endpoint);
        let target = crate::prober::target_for(effective);
        let messages = self.messages_tx.clone();
        let rescue = rescue.to_string();
        tokio::spawn(async move {
            let sent = wake::send::post(target, &path, &token, &body).await;
            let _ = messages.send(Message::Wake(WakeMessage::Answer {
                rescue,
                kind,
                try_number,
                endpoint: path,
                sent,
            }));
        });
        Ok(())
    }

    /// Keep the text last sent as `<state-dir>/wake/<rescue>.<kind>.txt`
    /// (0600), so an operator can read what the agent was told.
    fn keep_message(&self, rescue: &str, kind: Kind, text: &str) {
        use std::os::unix::fs::PermissionsExt as _;
        let path = message_path(&self.options.state_dir, rescue, kind);
        let kept = super::write_atomically_unsynced(&path, text.as_bytes())
            .and_then(|()| std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)));
        if let Err(err) = kept {
            tracing::warn!(instance = %rescue, "cannot keep the wake message in {}: {err}", path.display());
        }
    }

    /// The failure message: main's facts now, its secrets and the rescue's
    /// taken out.
    fn failure_text(&self, main: &str, episode: &Episode, rescue_config: &str) -> String {
        let mut secrets = hooks::secret_values(rescue_config);
        let (restarts, state, mut error_lines) = match self.instances.get(main) {
            Some(entry) => {
                if let Ok(text) = std::fs::read_to_string(&entry.config.effective.config_path) {
                    secrets.extend(hooks::secret_values(&text));
                }
                let snapshot = entry.handle.snapshot.borrow();
                let mut lines: Vec<String> = snapshot.last_error.iter().cloned().collect();
                lines.extend(snapshot.error_lines.iter().cloned());
                (snapshot.restarts, snapshot.state, lines)
            }
            None => (0, "removed", Vec::new()),
        };
        if error_lines.is_empty() {
            // A liveness failure leaves no crash report: its tail says more.
            error_lines = self
                .instances
                .get(main)
                .map(|entry| entry.handle.log.tail(wake::MAX_ERROR_LINES))
                .unwrap_or_default();
        }
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
        let supervisor = std::env::current_exe()
            .unwrap_or_else(|_| std::path::PathBuf::from("openclaw-supervisor"));
        wake::failure_message(&FailureFacts {
            main,
            how: &episode.how,
            since: episode.since,
            restarts,
            state,
            error_lines: &error_lines,
            events: &events,
            supervisor: &supervisor,
            secrets: &secrets,
        })
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
        self.emit(rescue, "wake", detail);
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
            } => {
                let answer = Answer::of(sent.status);
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
    },
    Retry {
        rescue: String,
    },
}
