//! `status NAME`'s `last notify` line: the notification, what it was
//! about, when, and ok or the error. Pure.

use openclaw_supervisor::protocol::LastNotify;

/// `failed (main), 2m ago: ok, 3 more folded in` or `..., failed: exit
/// code 1: topic not found`; `when` is the time in words.
pub(super) fn last_notify_text(last: &LastNotify, when: &str) -> String {
    let mut text = format!("{} ({}), {when}: ", last.notify, last.instance);
    match (&last.ok, &last.error) {
        (true, _) => text.push_str("ok"),
        (false, Some(error)) => text.push_str(&format!("failed: {error}")),
        (false, None) => text.push_str("failed"),
    }
    if last.suppressed > 0 {
        text.push_str(&format!(", {} more folded in", last.suppressed));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_notify_says_what_when_and_how_it_went() {
        let last = |ok: bool, error: Option<&str>, suppressed: u32| LastNotify {
            at: 0,
            notify: String::from("failed"),
            instance: String::from("main"),
            suppressed,
            ok,
            error: error.map(str::to_string),
        };
        let rows = [
            (last(true, None, 0), "failed (main), 2m ago: ok"),
            (
                last(true, None, 3),
                "failed (main), 2m ago: ok, 3 more folded in",
            ),
            (
                last(false, Some("exit code 1: topic not found"), 0),
                "failed (main), 2m ago: failed: exit code 1: topic not found",
            ),
            (last(false, None, 0), "failed (main), 2m ago: failed"),
        ];
        for (last, expected) in rows {
            assert_eq!(last_notify_text(&last, "2m ago"), expected);
        }
    }
}
