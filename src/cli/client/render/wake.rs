//! `status NAME`'s line about a rescue's last wake.

use openclaw_supervisor::protocol::WakeStatus;

/// `failure message, POST /hooks/agent: 200 ok (ok: true), try 1, 5s ago`.
pub(super) fn wake_text(wake: &WakeStatus, when: String) -> String {
    let answer = match wake.http_status {
        Some(_) => format!("{} (ok: {})", wake.outcome, wake.ok),
        None => wake.outcome.clone(),
    };
    let tries = if wake.tries == 1 { "try" } else { "tries" };
    format!(
        "{} message, POST {}: {answer}, {} {tries}, {when}",
        wake.message, wake.endpoint, wake.tries
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_wake_in_words() {
        let wake = |status: Option<u16>, ok: bool, outcome: &str, tries: u32| WakeStatus {
            at: 0,
            endpoint: "/hooks/agent".to_string(),
            message: "failure".to_string(),
            http_status: status,
            ok,
            outcome: outcome.to_string(),
            tries,
        };
        let rows = [
            (
                wake(Some(200), true, "200 ok", 1),
                "failure message, POST /hooks/agent: 200 ok (ok: true), 1 try, 5s ago",
            ),
            (
                wake(
                    Some(401),
                    false,
                    "401 the hook token was refused; not retried",
                    1,
                ),
                "failure message, POST /hooks/agent: 401 the hook token was refused; not retried (ok: false), 1 try, 5s ago",
            ),
            (
                wake(None, false, "connection refused; retrying in 4s", 2),
                "failure message, POST /hooks/agent: connection refused; retrying in 4s, 2 tries, 5s ago",
            ),
        ];
        for (status, expected) in rows {
            assert_eq!(wake_text(&status, "5s ago".to_string()), expected);
        }
    }
}
