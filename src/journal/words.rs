//! Events in words a person reads, one line each: what the supervisor's own
//! log (and so journald) says about every event. Pure.

/// The log line of an event: `main: exited with code 1`, `main: liveness
/// failed 3 times in a row; restarting`, `rescue: started because main
/// exited (exit code 1)`. `instance` is `-` for supervisor-wide events.
pub fn sentence(instance: &str, kind: &str, detail: &str) -> String {
    let who = if instance == "-" {
        "supervisor"
    } else {
        instance
    };
    let what = match (kind, detail) {
        ("spawned", "") => "spawned".to_string(),
        ("spawned", pid) => format!("spawned ({pid})"),
        ("adopted", detail) => with_detail(
            "adopted: an earlier supervisor's gateway runs on",
            detail,
            &format!("adopted ({detail}): an earlier supervisor's gateway runs on"),
        ),
        ("started", _) => "started: its startup probe passed".to_string(),
        ("exited", detail) => match detail.strip_prefix("exit code ") {
            Some(code) => format!("exited with code {code}"),
            None if detail.is_empty() => "exited".to_string(),
            None => format!("exited: {detail}"),
        },
        ("startup_timed_out", _) => {
            "did not pass its startup probe within its allowance; restarting".to_string()
        }
        ("unhealthy", "") => "liveness failed; restarting".to_string(),
        ("unhealthy", detail) => format!("{detail}; restarting"),
        ("backoff", detail) => with_detail("restarting later", detail, detail),
        ("failed", detail) => with_detail(
            "failed, not restarting",
            detail,
            &format!("failed, not restarting: {detail}"),
        ),
        ("stopped", _) => "stopped".to_string(),
        ("standby", _) => "back in standby".to_string(),
        ("forgotten", _) => "forgotten (removed, or the supervisor is stopping)".to_string(),
        ("added", detail) => with_detail("declared", detail, &format!("declared; {detail}")),
        ("removed", _) => "declaration removed; stopping".to_string(),
        ("rejected", detail) => with_detail(
            "declaration rejected",
            detail,
            &format!("declaration rejected: {detail}"),
        ),
        ("reloaded", detail) => with_detail("reloaded", detail, &format!("reloaded: {detail}")),
        ("rescue_triggered", detail) => {
            with_detail("started because its main failed", detail, detail)
        }
        ("probe_changed", detail) => with_detail("probe changed", detail, detail),
        ("command", detail) => with_detail("operator command", detail, detail),
        ("killed", detail) => with_detail(
            "outlived its stop timeout: SIGKILL",
            detail,
            &format!("outlived its stop timeout: SIGKILL ({detail})"),
        ),
        ("breaker", detail) => with_detail(
            "restart-loop breaker",
            detail,
            &format!("restart-loop breaker: {detail}"),
        ),
        ("memory_guard", detail) => with_detail(
            "memory guard; restarting",
            detail,
            &format!("{detail}; restarting"),
        ),
        ("notify_failed", detail) => with_detail(
            "its notify command failed",
            detail,
            &format!("its notify command failed: {detail}"),
        ),
        ("reexecuted", detail) => with_detail(
            "re-executed in place",
            detail,
            &format!("re-executed in place: {detail}"),
        ),
        (kind, "") => kind.replace('_', " "),
        (kind, detail) => format!("{}: {detail}", kind.replace('_', " ")),
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

    #[test]
    fn each_event_is_one_sentence_naming_the_instance_and_the_reason() {
        let rows = [
            ("main", "spawned", "pid 9513", "main: spawned (pid 9513)"),
            (
                "main",
                "adopted",
                "pid 9513",
                "main: adopted (pid 9513): an earlier supervisor's gateway runs on",
            ),
            (
                "main",
                "started",
                "",
                "main: started: its startup probe passed",
            ),
            ("main", "exited", "exit code 1", "main: exited with code 1"),
            (
                "main",
                "exited",
                "killed by SIGKILL",
                "main: exited: killed by SIGKILL",
            ),
            (
                "main",
                "unhealthy",
                "liveness failed 3 times in a row",
                "main: liveness failed 3 times in a row; restarting",
            ),
            ("main", "unhealthy", "", "main: liveness failed; restarting"),
            (
                "main",
                "startup_timed_out",
                "",
                "main: did not pass its startup probe within its allowance; restarting",
            ),
            (
                "main",
                "backoff",
                "restarting in 2s: exit code 1",
                "main: restarting in 2s: exit code 1",
            ),
            (
                "main",
                "failed",
                "exit code 2; restart policy says not to restart",
                "main: failed, not restarting: exit code 2; restart policy says not to restart",
            ),
            (
                "rescue",
                "rescue_triggered",
                "main exited (exit code 1); started from standby",
                "rescue: main exited (exit code 1); started from standby",
            ),
            (
                "main",
                "command",
                "stop by operator",
                "main: stop by operator",
            ),
            ("main", "stopped", "", "main: stopped"),
            ("rescue", "standby", "", "rescue: back in standby"),
            ("b", "added", "", "b: declared"),
            ("b", "removed", "", "b: declaration removed; stopping"),
            (
                "-",
                "reloaded",
                "added: b",
                "supervisor: reloaded: added: b",
            ),
            (
                "-",
                "rejected",
                "typo.yaml: unknown key",
                "supervisor: declaration rejected: typo.yaml: unknown key",
            ),
            (
                "main",
                "killed",
                "1 in the last 5 minutes",
                "main: outlived its stop timeout: SIGKILL (1 in the last 5 minutes)",
            ),
            (
                "main",
                "probe_changed",
                "readiness failing (2 in a row)",
                "main: readiness failing (2 in a row)",
            ),
            (
                "main",
                "memory_guard",
                "memory 1.6 GiB above 1.5 GiB for 5m",
                "main: memory 1.6 GiB above 1.5 GiB for 5m; restarting",
            ),
            (
                "main",
                "notify_failed",
                "the `failed` notification about main: exit code 1",
                "main: its notify command failed: the `failed` notification about main: exit code 1",
            ),
            (
                "main",
                "rolled_back",
                "by operator: /c/openclaw.json is the last good again",
                "main: rolled back: by operator: /c/openclaw.json is the last good again",
            ),
            (
                "-",
                "reexecuted",
                "0.1.0 -> 0.2.0",
                "supervisor: re-executed in place: 0.1.0 -> 0.2.0",
            ),
            ("main", "from_the_future", "x", "main: from the future: x"),
        ];
        for (instance, kind, detail, expected) in rows {
            assert_eq!(sentence(instance, kind, detail), expected, "{kind}");
        }
    }
}
