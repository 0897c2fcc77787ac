//! What the actor shows of its instance: the probes it runs for a phase
//! and their changes as events, the gateway's breaker lines, the
//! [`Snapshot`](super::Snapshot) it publishes, and its notices to the
//! supervisor with their detail in words.

use std::time::{Instant, SystemTime};

use super::*;

impl Actor {
    pub(super) async fn set_probes(&mut self, phase: ProbePhase) {
        if let Some(task) = self.probe_task.take() {
            // Awaited: dropping the task kills an exec probe still running,
            // so it is gone before the phase changes.
            task.abort();
            let _ = task.await;
        }
        // Whatever the old task already sent is stale from here on.
        self.probe_generation += 1;
        if phase == ProbePhase::Off {
            return;
        }
        let target = crate::prober::target_for(&self.config.effective);
        // An exec probe carries the marker of the gateway it probes, so
        // whatever it leaves behind is stopped with the gateway, also by a
        // later supervisor reading the gateway's pid record.
        let marker = self
            .child
            .as_ref()
            .map(|child| child.marker.clone())
            .unwrap_or_else(|| format!("{}:{}:probe", self.name, self.shared.supervisor_id));
        let mut env = self.child_env();
        env.insert(crate::process::SPAWN_MARKER_VAR.to_string(), marker);
        let exec = self
            .children
            .exec_runner(env, Some(self.config.effective.state_dir.clone()));
        self.probe_task = Some(tokio::spawn(crate::prober::run_phase(
            self.config.effective.probes.clone(),
            target,
            phase,
            self.probe_status.clone(),
            ProbeSender::new(self.probe_generation, self.probe_tx.clone()),
            exec,
        )));
    }

    /// Liveness or readiness crossing its threshold either way is news for
    /// `events`; a first pass is not (it is what `started` says).
    pub(super) fn probe_changes(&self, new: &ProbesReport) {
        use crate::probe::ProbeStatus;
        let pairs = [
            ("liveness", &self.probe_status.liveness, &new.liveness),
            ("readiness", &self.probe_status.readiness, &new.readiness),
        ];
        for (which, old, new) in pairs {
            let detail = match (old.status(), new.status()) {
                (before, after) if before == after => continue,
                (ProbeStatus::Unknown, ProbeStatus::Passing) => continue,
                (_, ProbeStatus::Passing) => format!("{which} passing again"),
                (_, ProbeStatus::Failing) => {
                    let mut detail =
                        format!("{which} failing ({} in a row)", new.consecutive_failures());
                    if let Some(failing) = new.failing().filter(|list| !list.is_empty()) {
                        detail.push_str(&format!(", failing: {}", failing.join(", ")));
                    }
                    if let Some(last) = new.last() {
                        detail.push_str(&format!(": {}", last.detail));
                    }
                    detail
                }
                (_, ProbeStatus::Unknown) => continue,
            };
            let _ = self.shared.notices.send(InstanceNotice {
                name: self.name.clone(),
                notice: Notice::ProbeChanged,
                at: SystemTime::now(),
                detail,
                pid: self.child.as_ref().map(|child| child.pid),
            });
        }
    }

    /// A breaker line the gateway `pid` wrote: the current one's, or the
    /// last one's when it already exited (a crash loop still shows it).
    pub(super) fn breaker_line(&mut self, pid: i32, line: BreakerLine) {
        if self.child.as_ref().is_some_and(|child| child.pid != pid) {
            return;
        }
        let detail = match line {
            BreakerLine::Tripped {
                unclean_boots,
                detail,
            } => {
                self.breaker = Some(crate::breaker::Tripped {
                    pid,
                    since: SystemTime::now(),
                    unclean_boots,
                    detail: detail.clone(),
                });
                detail
            }
            BreakerLine::Recovered => {
                self.breaker = None;
                crate::breaker::RECOVERED.to_string()
            }
        };
        tracing::debug!(instance = %self.name, pid, %detail, "the gateway's restart-loop breaker");
        let _ = self.shared.notices.send(InstanceNotice {
            name: self.name.clone(),
            notice: Notice::Breaker,
            at: SystemTime::now(),
            detail,
            pid: Some(pid),
        });
    }

    /// A gateway that passed startup without logging its breaker tripped
    /// (it logs that at boot, before it serves) has channel auto-start on.
    pub(super) fn forget_breaker_of_earlier_boots(&mut self) {
        let current = self.child.as_ref().map(|child| child.pid);
        if self.breaker.as_ref().map(|tripped| tripped.pid) != current {
            self.breaker = None;
        }
    }

    pub(super) fn publish(&self) {
        let next_restart_at = match self.lifecycle.state {
            State::Backoff { until } => {
                Some(SystemTime::now() + until.saturating_duration_since(Instant::now()))
            }
            _ => None,
        };
        let failing = matches!(
            self.lifecycle.state,
            State::Failed { .. } | State::Backoff { .. }
        );
        let snapshot = Snapshot {
            name: self.name.clone(),
            state: self.lifecycle.state.name(),
            pid: self
                .child
                .as_ref()
                .filter(|c| c.leader_exit.is_none())
                .map(|c| c.pid),
            spawned_at: self.spawned_at,
            restarts: self.lifecycle.restarts,
            last_exit: self.lifecycle.last_exit.zip(self.last_exit_at),
            next_restart_at,
            last_error: self.last_error.clone(),
            error_lines: if failing {
                self.error_lines.clone()
            } else {
                Vec::new()
            },
            error_from: self.error_from.filter(|_| failing),
            probes: self.probe_status.clone(),
            config: self.config.clone(),
            dropped_log_lines: self.log.dropped(),
            stopping_since: self
                .child
                .as_ref()
                .filter(|c| c.leader_exit.is_none())
                .and_then(|c| c.stopping_since),
            breaker: self.breaker.clone(),
            kills: self.kills.clone(),
            kills_total: self.kills_total,
            last_restart_reason: self.last_restart_reason.clone(),
            tracking: self.tracking.clone(),
            limits: self.limits.limits.clone(),
            rolled_back: self.rolled_back.clone(),
            adoption: self.adoption.clone(),
        };
        self.snapshot.send_replace(snapshot);
    }

    pub(super) fn notify(&mut self, notice: Notice) {
        let cause = match notice {
            Notice::Unhealthy => Some("liveness failed"),
            Notice::StartupTimedOut => Some("startup timed out"),
            Notice::MemoryGuard => Some("memory guard"),
            _ => None,
        };
        if let (Some(cause), Some(child)) = (cause, self.child.as_mut()) {
            child.stop_cause = Some(cause);
        }
        let detail = match notice {
            Notice::Exited(exit) => exit.to_string(),
            Notice::Backoff { delay } => {
                let detail = format!("restarting in {}", humantime::format_duration(round_ms(delay)));
                match &self.last_error {
                    Some(error) => format!("{detail}: {error}"),
                    None => detail,
                }
            }
            Notice::Failed(FailReason::ConfigError) => {
                "exit 78: configuration error; fix the declaration or the OpenClaw config (it is retried when either changes)".to_string()
            }
            Notice::Failed(FailReason::Exited(exit)) => format!("{exit}; restart policy says not to restart"),
            Notice::Unhealthy => format!(
                "liveness failed {} times in a row",
                self.config.effective.probes.liveness.failures
            ),
            Notice::MemoryGuard => self.memory_guard_detail.take().unwrap_or_default(),
            Notice::Spawned | Notice::Adopted => self
                .child
                .as_ref()
                .map(|c| format!("pid {}", c.pid))
                .unwrap_or_default(),
            _ => String::new(),
        };
        if let Notice::Failed(FailReason::ConfigError) = notice {
            self.last_error = Some(detail.clone());
        }
        match notice {
            Notice::MemoryGuard | Notice::Unhealthy => {
                self.last_restart_reason = Some(detail.clone());
            }
            Notice::StartupTimedOut => {
                self.last_restart_reason = Some("startup timed out".to_string());
            }
            _ => {}
        }
        let pid = self.child.as_ref().map(|child| child.pid).or_else(|| {
            matches!(notice, Notice::Exited(_) | Notice::Killed)
                .then_some(self.error_from)
                .flatten()
                .map(|(pid, _)| pid)
        });
        let _ = self.shared.notices.send(InstanceNotice {
            name: self.name.clone(),
            notice,
            at: SystemTime::now(),
            detail,
            pid,
        });
    }
}

fn round_ms(duration: Duration) -> Duration {
    Duration::from_millis(duration.as_millis() as u64)
}
