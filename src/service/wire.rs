//! The wire edge: the daemon's typed values (`Snapshot`, `EventRecord`, probe trackers, adoption, wake reports) as the protocol's, words and strings made only here.

use super::*;

/// An event on the wire (and in the journal's file): the supervisor's own
/// with a null instance, the kind by its wire name.
pub fn wire_event(record: &EventRecord) -> Event {
    Event {
        at: unix_ms(record.at),
        seq: Some(record.seq),
        instance: record.instance.clone(),
        kind: record.kind,
        detail: record.detail.clone(),
    }
}

pub(super) fn wire_probe(tracker: &ProbeTracker) -> Option<protocol::ProbeStatus> {
    let last = tracker.last()?;
    Some(protocol::ProbeStatus {
        ok: last.ok,
        at: unix_ms(last.at),
        latency_ms: last.latency.as_millis() as u64,
        consecutive_failures: tracker.consecutive_failures(),
        failing: tracker
            .failing()
            .map(<[String]>::to_vec)
            .unwrap_or_default(),
        detail: (!last.ok).then(|| last.detail.clone()),
    })
}

/// The probes a declaration turns off, by name (`status`'s `probes_off`).
pub(super) fn probes_off(probes: &crate::probe::EffectiveProbes) -> Vec<String> {
    [
        ("startup", &probes.startup),
        ("liveness", &probes.liveness),
        ("readiness", &probes.readiness),
    ]
    .into_iter()
    .filter(|(_, probe)| !probe.enabled)
    .map(|(name, _)| name.to_string())
    .collect()
}

/// The wire status of one instance. Only paths and ports leave the daemon:
/// never an environment value or a config value (tokens live there).
pub fn wire_status(snapshot: &Snapshot, usage: Option<(f32, u64)>) -> InstanceStatus {
    let effective = &snapshot.config.effective;
    let declaration = &effective.declaration;
    let block = effective.port_block();
    let clamp = |port: u32| u16::try_from(port).unwrap_or(u16::MAX);
    InstanceStatus {
        name: snapshot.name.clone(),
        role: match declaration.role {
            crate::declaration::Role::Main => protocol::Role::Main,
            crate::declaration::Role::Rescue => protocol::Role::Rescue,
        },
        state: snapshot.state.to_string(),
        pid: snapshot.pid.map(|p| p as u32),
        uptime_secs: snapshot
            .spawned_at
            .and_then(|at| SystemTime::now().duration_since(at).ok())
            .map(|d| d.as_secs()),
        spawned_at: snapshot.spawned_at.map(unix_ms),
        probes_off: probes_off(&snapshot.config.effective.probes),
        restarts: snapshot.restarts,
        last_exit: snapshot.last_exit.map(|(exit, at)| LastExit {
            code: match exit {
                crate::process::ExitKind::Code(code) => Some(code),
                crate::process::ExitKind::Signal(_) => None,
            },
            signal: match exit {
                crate::process::ExitKind::Signal(signal) => Some(
                    nix::sys::signal::Signal::try_from(signal)
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_else(|_| signal.to_string()),
                ),
                crate::process::ExitKind::Code(_) => None,
            },
            at: unix_ms(at),
        }),
        probes: Probes {
            startup: wire_probe(&snapshot.probes.startup),
            liveness: wire_probe(&snapshot.probes.liveness),
            readiness: wire_probe(&snapshot.probes.readiness),
        },
        next_restart_at: snapshot.next_restart_at.map(unix_ms),
        ports: Ports {
            base: effective.port,
            block_start: clamp(*block.start()),
            block_end: clamp(*block.end()),
            explicit: effective
                .explicit_ports
                .iter()
                .map(|p| ExplicitPort {
                    key: p.key.clone(),
                    port: p.port,
                })
                .collect(),
        },
        paths: Paths {
            config: effective.config_path.to_string_lossy().into_owned(),
            state_dir: effective.state_dir.to_string_lossy().into_owned(),
            workspace: effective
                .workspaces
                .first()
                .map(|w| w.path.to_string_lossy().into_owned())
                .unwrap_or_default(),
            log_file: effective.log_file.to_string_lossy().into_owned(),
        },
        declaration_file: effective.file.to_string_lossy().into_owned(),
        cpu_percent: usage.map(|u| u.0),
        memory_bytes: usage.map(|u| u.1),
        last_error_lines: {
            let mut lines = Vec::new();
            if let Some(error) = &snapshot.last_error {
                lines.push(error.clone());
            }
            lines.extend(snapshot.error_lines.iter().cloned());
            lines
        },
        last_error_from: snapshot.error_from.map(|(pid, exit)| ErrorSource {
            pid: pid.unsigned_abs(),
            exit: exit.to_string(),
        }),
        standby: declaration.standby,
        rescue_of: declaration.rescue_of.clone(),
        dropped_log_lines: snapshot.dropped_log_lines,
        stopping_since: snapshot.stopping_since.map(unix_ms),
        breaker: snapshot.breaker.as_ref().map(|tripped| protocol::Breaker {
            since: unix_ms(tripped.since),
            unclean_boots: tripped.unclean_boots,
            detail: tripped.detail.clone(),
        }),
        supervisor_kills: u32::try_from(crate::breaker::recent_kills(
            &snapshot.kills,
            SystemTime::now(),
        ))
        .unwrap_or(u32::MAX),
        last_event: None,
        wake: None,
        last_notify: None,
        last_restart_reason: snapshot.last_restart_reason.clone(),
        rolled_back: snapshot
            .rolled_back
            .as_ref()
            .map(|record| protocol::RolledBack {
                at: unix_ms(record.at),
                from: record
                    .from
                    .as_ref()
                    .map(|from| from.to_string_lossy().into_owned()),
                reason: record.reason.clone(),
            }),
        tracking: Some(match &snapshot.tracking {
            crate::cgroup::Tracking::Cgroup(dir) => protocol::Tracking {
                mode: "cgroup".to_string(),
                cgroup: Some(dir.to_string_lossy().into_owned()),
                reason: None,
            },
            crate::cgroup::Tracking::Marker(why) => protocol::Tracking {
                mode: "marker".to_string(),
                cgroup: None,
                reason: Some(why.clone()),
            },
        }),
        adoption: snapshot.adoption.as_ref().map(wire_adoption),
        limits: snapshot
            .limits
            .iter()
            .map(|limit| protocol::Limit {
                key: limit.controller.name().to_string(),
                value: limit.value.clone(),
                applied: limit.applied.is_ok(),
                reason: limit.applied.clone().err(),
            })
            .collect(),
    }
}

/// What became of the instance's gateway at start, on the wire.
pub(super) fn wire_adoption(adoption: &crate::instance::Adoption) -> protocol::AdoptionStatus {
    match adoption {
        crate::instance::Adoption::Adopted { at, pid } => protocol::AdoptionStatus::Adopted {
            at: unix_ms(*at),
            pid: pid.unsigned_abs(),
        },
        crate::instance::Adoption::NoRecord => protocol::AdoptionStatus::NoRecord,
        crate::instance::Adoption::DidNotMatch(reason) => {
            protocol::AdoptionStatus::RecordDidNotMatch {
                reason: reason.clone(),
            }
        }
    }
}

/// A rescue's last wake on the wire (the token is never part of it).
pub(super) fn wire_wake(report: &crate::supervisor::WakeReport) -> protocol::WakeStatus {
    protocol::WakeStatus {
        at: unix_ms(report.at),
        endpoint: report.endpoint.clone(),
        message: report.kind.as_str().to_string(),
        http_status: report.http_status,
        ok: report.ok,
        outcome: report.outcome.clone(),
        tries: report.tries,
    }
}
