//! Events in words a person reads, one line each: what the supervisor's own
//! log (and so journald) says about every event. Pure.

use crate::protocol::EventKind;

/// The log line of an event: `main: exited with code 1`, `main: liveness
/// failed 3 times in a row; restarting`, `rescue: started because main
/// exited (exit code 1)`. `instance` is `None` for supervisor-wide events.
pub fn sentence(instance: Option<&str>, kind: EventKind, detail: &str) -> String {
    let who = instance.unwrap_or("supervisor");
    let what = match (kind, detail) {
        (EventKind::Spawned, "") => "spawned".to_string(),
        (EventKind::Spawned, pid) => format!("spawned ({pid})"),
        (EventKind::Adopted, detail) => with_detail(
            "adopted: an earlier supervisor's gateway runs on",
            detail,
            &format!("adopted ({detail}): an earlier supervisor's gateway runs on"),
        ),
        (EventKind::Started, _) => "started: its startup probe passed".to_string(),
        (EventKind::Exited, detail) => match detail.strip_prefix("exit code ") {
            Some(code) => format!("exited with code {code}"),
            None if detail.is_empty() => "exited".to_string(),
            None => format!("exited: {detail}"),
        },
        (EventKind::StartupTimedOut, _) => {
            "did not pass its startup probe within its allowance; restarting".to_string()
        }
        (EventKind::Unhealthy, "") => "liveness failed; restarting".to_string(),
        (EventKind::Unhealthy, detail) => format!("{detail}; restarting"),
        (EventKind::Backoff, detail) => with_detail("restarting later", detail, detail),
        (EventKind::Failed, detail) => with_detail(
            "failed, not restarting",
            detail,
            &format!("failed, not restarting: {detail}"),
        ),
        (EventKind::Stopped, _) => "stopped".to_string(),
        (EventKind::Standby, _) => "back in standby".to_string(),
        (EventKind::Forgotten, _) => {
            "forgotten (removed, or the supervisor is stopping)".to_string()
        }
        (EventKind::Added, detail) => {
            with_detail("declared", detail, &format!("declared; {detail}"))
        }
        (EventKind::Removed, _) => "declaration removed; stopping".to_string(),
        (EventKind::Rejected, detail) => with_detail(
            "declaration rejected",
            detail,
            &format!("declaration rejected: {detail}"),
        ),
        (EventKind::Reloaded, detail) => {
            with_detail("reloaded", detail, &format!("reloaded: {detail}"))
        }
        (EventKind::RescueTriggered, detail) => {
            with_detail("started because its main failed", detail, detail)
        }
        (EventKind::ProbeChanged, detail) => with_detail("probe changed", detail, detail),
        (EventKind::Command, detail) => with_detail("operator command", detail, detail),
        (EventKind::Killed, detail) => with_detail(
            "outlived its stop timeout: SIGKILL",
            detail,
            &format!("outlived its stop timeout: SIGKILL ({detail})"),
        ),
        (EventKind::Breaker, detail) => with_detail(
            "restart-loop breaker",
            detail,
            &format!("restart-loop breaker: {detail}"),
        ),
        (EventKind::MemoryGuard, detail) => with_detail(
            "memory guard; restarting",
            detail,
            &format!("{detail}; restarting"),
        ),
        (EventKind::NotifyFailed, detail) => with_detail(
            "its notify command failed",
            detail,
            &format!("its notify command failed: {detail}"),
        ),
        (EventKind::Reexecuted, detail) => with_detail(
            "re-executed in place",
            detail,
            &format!("re-executed in place: {detail}"),
        ),
        (kind, "") => kind.as_str().replace('_', " "),
        (kind, detail) => format!("{}: {detail}", kind.as_str().replace('_', " ")),
    };
    format!("{who}: {what}")
}

/// `bare` when `detail` is empty, else `with`.
fn with_detail(bare: &str, detail: &str, with: &str) -> String {
    if detail.is_empty() {
        bare.to_string()
    } else {
        with.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use EventKind::*;

    #[test]
    fn each_event_is_one_sentence_naming_the_instance_and_the_reason() {
        let rows = [
            (
                Some("main"),
                Spawned,
                "pid 9513",
                "main: spawned (pid 9513)",
            ),
            (
                Some("main"),
                Adopted,
                "pid 9513",
                "main: adopted (pid 9513): an earlier supervisor's gateway runs on",
            ),
            (
                Some("main"),
                Started,
                "",
                "main: started: its startup probe passed",
            ),
            (
                Some("main"),
                Exited,
                "exit code 1",
                "main: exited with code 1",
            ),
            (
                Some("main"),
                Exited,
                "killed by SIGKILL",
                "main: exited: killed by SIGKILL",
            ),
            (
                Some("main"),
                Unhealthy,
                "liveness failed 3 times in a row",
                "main: liveness failed 3 times in a row; restarting",
            ),
            (
                Some("main"),
                Unhealthy,
                "",
                "main: liveness failed; restarting",
            ),
            (
                Some("main"),
                StartupTimedOut,
                "",
                "main: did not pass its startup probe within its allowance; restarting",
            ),
            (
                Some("main"),
                Backoff,
                "restarting in 2s: exit code 1",
                "main: restarting in 2s: exit code 1",
            ),
            (
                Some("main"),
                Failed,
                "exit code 2; restart policy says not to restart",
                "main: failed, not restarting: exit code 2; restart policy says not to restart",
            ),
            (
                Some("rescue"),
                RescueTriggered,
                "main exited (exit code 1); started from standby",
                "rescue: main exited (exit code 1); started from standby",
            ),
            (
                Some("main"),
                Command,
                "stop by operator",
                "main: stop by operator",
            ),
            (Some("main"), Stopped, "", "main: stopped"),
            (Some("rescue"), Standby, "", "rescue: back in standby"),
            (Some("b"), Added, "", "b: declared"),
            (Some("b"), Removed, "", "b: declaration removed; stopping"),
            (None, Reloaded, "added: b", "supervisor: reloaded: added: b"),
            (
                None,
                Rejected,
                "typo.yaml: unknown key",
                "supervisor: declaration rejected: typo.yaml: unknown key",
            ),
            (
                Some("main"),
                Killed,
                "1 in the last 5 minutes",
                "main: outlived its stop timeout: SIGKILL (1 in the last 5 minutes)",
            ),
            (
                Some("main"),
                ProbeChanged,
                "readiness failing (2 in a row)",
                "main: readiness failing (2 in a row)",
            ),
            (
                Some("main"),
                MemoryGuard,
                "memory 1.6 GiB above 1.5 GiB for 5m",
                "main: memory 1.6 GiB above 1.5 GiB for 5m; restarting",
            ),
            (
                Some("main"),
                NotifyFailed,
                "the `failed` notification about main: exit code 1",
                "main: its notify command failed: the `failed` notification about main: exit code 1",
            ),
            (
                Some("main"),
                RolledBack,
                "by operator: /c/openclaw.json is the last good again",
                "main: rolled back: by operator: /c/openclaw.json is the last good again",
            ),
            (
                None,
                Reexecuted,
                "0.1.0 -> 0.2.0",
                "supervisor: re-executed in place: 0.1.0 -> 0.2.0",
            ),
            (
                Some("rescue"),
                Wake,
                "delivered (200)",
                "rescue: wake: delivered (200)",
            ),
        ];
        for (instance, kind, detail, expected) in rows {
            assert_eq!(sentence(instance, kind, detail), expected, "{kind:?}");
        }
    }
}
