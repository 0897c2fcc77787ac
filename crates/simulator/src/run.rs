//! The running gateway: what ends it (a stop or restart signal, a simulated
//! crash or wedge, a port it cannot bind) and how it exits for each.

use std::fs;
use std::path::PathBuf;
use std::process::{Child, ExitCode};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::bind::bind_and_serve;
use super::drain::drain;
use super::output::{log, log_err};
use super::server::{ServerEvent, SimState};
use super::signals::Signals;
use super::{PortHolder, SimBehaviour, boots, hooks, unix_ms_now};

/// What ends the simulated gateway.
pub(super) enum Ending {
    /// SIGTERM, SIGINT or an external-mode restart request: exit 0 after the
    /// drain, lock removed. The line it logs, and whether it is a restart.
    Graceful(&'static str, &'static str),
    /// A simulated crash: exit with this code, lock left behind like a real crash.
    Crash(u8),
    /// The port could not be bound: exit 1, lock removed.
    BindFailed(String),
}

pub(super) struct Run {
    pub(super) process_start: Instant,
    pub(super) log_file: PathBuf,
    pub(super) port: u16,
    /// Who holds the port when it cannot be bound (`Embedding::port_holder`).
    pub(super) port_holder: fn(u16) -> Option<PortHolder>,
    /// Its hooks, when the config enables them with a token.
    pub(super) hooks: Option<hooks::Hooks>,
    pub(super) behaviour: SimBehaviour,
    /// A restart request is an exit 0 for the supervisor to relaunch.
    pub(super) relaunch: bool,
    /// `OPENCLAW_NO_RESPAWN` overrides external mode.
    pub(super) no_respawn: bool,
    pub(super) lock: PathBuf,
    /// Its boot records (see `boots`).
    pub(super) boots: PathBuf,
    /// Its breaker tripped at boot: channel auto-start is suppressed until
    /// the window drains (its own boot's open record ages out of it too).
    pub(super) breaker_tripped: bool,
    pub(super) children: Vec<Child>,
}

impl Run {
    pub(super) async fn serve(mut self) -> ExitCode {
        let mut signals = match Signals::new() {
            Ok(signals) => signals,
            Err(err) => {
                log_err(&format!("sim: cannot install signal handlers: {err}"));
                let _ = fs::remove_file(&self.lock);
                return ExitCode::from(1);
            }
        };
        let (ending, state) = self.wait_for_ending(&mut signals).await;
        match ending {
            Ending::Graceful(line, action) => {
                log(line);
                state.set_draining();
                if let Some(delay) = self.behaviour.sim_stop_delay {
                    // The turn in flight when the stop came.
                    state.begin_turn(delay);
                }
                drain(&state, action, &mut signals).await;
                let _ = fs::remove_file(&self.lock);
                let outcome = if action == "stop" {
                    "clean_stop"
                } else {
                    "planned_restart"
                };
                let _ = boots::complete(&self.boots, std::process::id(), unix_ms_now(), outcome);
                log("[shutdown] completed cleanly");
                ExitCode::SUCCESS
            }
            Ending::Crash(code) => {
                for line in &self.behaviour.sim_crash_lines {
                    log_err(line);
                }
                log_err(&format!("sim: crashing with exit code {code}"));
                ExitCode::from(code)
            }
            Ending::BindFailed(message) => {
                for line in message.lines() {
                    log_err(line);
                }
                let _ = fs::remove_file(&self.lock);
                ExitCode::from(1)
            }
        }
    }

    async fn wait_for_ending(&mut self, signals: &mut Signals) -> (Ending, Arc<SimState>) {
        let (events_tx, mut events_rx) = mpsc::unbounded_channel();
        let start_delay = self.behaviour.sim_start_delay.unwrap_or_default();
        let state = Arc::new(SimState::new(
            self.process_start,
            start_delay,
            self.behaviour.sim_ready_failing.clone(),
            events_tx,
            self.hooks.take(),
        ));
        let (bind_tx, mut bind_rx) = mpsc::channel::<String>(1);
        tokio::spawn(bind_and_serve(
            self.port,
            self.port_holder,
            self.log_file.clone(),
            self.behaviour.sim_bind_delay.unwrap_or_default(),
            self.process_start + start_delay,
            Arc::clone(&state),
            bind_tx,
        ));

        let start = tokio::time::Instant::from_std(self.process_start);
        let crash_at = self.behaviour.sim_crash_after.map(|delay| start + delay);
        let mut wedge_at = self.behaviour.sim_wedge_after.map(|delay| start + delay);
        let mut recover_at = self
            .breaker_tripped
            .then(|| start + Duration::from_millis(boots::WINDOW_MS));
        let ending = loop {
            tokio::select! {
                _ = signals.term.recv() => {
                    signals.observe("SIGTERM");
                    if self.behaviour.sim_ignore_sigterm {
                        log("sim: received SIGTERM and ignoring it as asked");
                    } else {
                        break Ending::Graceful("received SIGTERM; shutting down", "stop");
                    }
                }
                _ = signals.int.recv() => {
                    signals.observe("SIGINT");
                    break Ending::Graceful("received SIGINT; shutting down", "stop");
                }
                _ = signals.usr2.recv() => {
                    signals.observe("SIGUSR2");
                    // The real gateway's lines (`dist/run-*.mjs`): "received
                    // SIGUSR2; restarting", then the restart mode it chose.
                    log("received SIGUSR2; restarting");
                    if self.relaunch {
                        break Ending::Graceful(
                            "restart mode: full process restart (supervisor restart)",
                            "restart",
                        );
                    }
                    if self.no_respawn {
                        log("restart mode: in-process restart (OPENCLAW_NO_RESPAWN)");
                    } else {
                        log("restart mode: in-process restart (simulated: nothing changes)");
                    }
                }
                _ = signals.chld.recv() => self.reap_children(),
                _ = sleep_until_or_never(crash_at) => {
                    break Ending::Crash(self.behaviour.sim_crash_code);
                }
                _ = sleep_until_or_never(wedge_at) => {
                    log("sim: wedged as asked; no request will be answered from now on");
                    state.wedge();
                    wedge_at = None;
                }
                _ = sleep_until_or_never(recover_at) => {
                    // The real gateway rechecks once the whole window has
                    // drained without new unclean boots, then resumes.
                    log(openclaw_supervisor_core::breaker::RECOVERED);
                    recover_at = None;
                }
                Some(event) = events_rx.recv() => match event {
                    ServerEvent::Crash(code) => break Ending::Crash(code),
                },
                Some(message) = bind_rx.recv() => break Ending::BindFailed(message),
            }
        };
        (ending, state)
    }

    /// Reaps grandchildren that died, so they do not linger as zombies.
    fn reap_children(&mut self) {
        self.children
            .retain_mut(|child| !matches!(child.try_wait(), Ok(Some(_)) | Err(_)));
    }
}

async fn sleep_until_or_never(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
