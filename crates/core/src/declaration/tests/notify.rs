//! `notify`: what is written and what it reads as (argv, notifications,
//! interval and timeout in ms), or the key and words of its error.

use super::resources::{Row, check_rows};

type Read = Option<(Vec<String>, Vec<String>, u128, u128)>;

fn owned(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| item.to_string()).collect()
}

#[test]
fn notify_takes_an_argv_known_notifications_and_durations_above_zero() {
    let all = ["failed", "rescue_started", "recovered", "rolled_back"];
    let rows: Vec<Row<Read>> = vec![
        ("port: 18789\n", Ok(None)),
        (
            "notify: { command: [/usr/local/bin/ntfy-send, --topic, openclaw] }\n",
            Ok(Some((
                owned(&["/usr/local/bin/ntfy-send", "--topic", "openclaw"]),
                owned(&all),
                60_000,
                10_000,
            ))),
        ),
        (
            "notify:\n  command: [ntfy]\n  on: [Recovered, failed, failed]\n  min_interval: 5m\n  timeout: 2s\n",
            Ok(Some((
                owned(&["ntfy"]),
                owned(&["recovered", "failed"]),
                300_000,
                2_000,
            ))),
        ),
        (
            "notify: { command: [] }\n",
            Err(("notify.command", "the command is empty")),
        ),
        (
            "notify: { command: [\"\"] }\n",
            Err(("notify.command[0]", "the program is empty")),
        ),
        (
            "notify: { command: [bin/ntfy] }\n",
            Err(("notify.command[0]", "is a relative path")),
        ),
        (
            "notify: { command: [ntfy], on: [failed, faild] }\n",
            Err((
                "notify.on[1]",
                "unknown notification `faild`: did you mean `failed`?",
            )),
        ),
        (
            "notify: { command: [ntfy], on: [exploded] }\n",
            Err((
                "notify.on[0]",
                "unknown notification `exploded`: write one of `failed`, `rescue_started`",
            )),
        ),
        (
            "notify: { command: [ntfy], on: [] }\n",
            Err(("notify.on", "no notification is chosen")),
        ),
        (
            "notify: { command: [ntfy], min_interval: 0s }\n",
            Err(("notify.min_interval", "a zero duration")),
        ),
        (
            "notify: { command: [ntfy], timeout: 0s }\n",
            Err(("notify.timeout", "a zero duration")),
        ),
        (
            "notify: { command: [ntfy], shell: true }\n",
            Err(("notify.shell", "unknown key `shell`")),
        ),
    ];
    check_rows(&rows, |declaration| {
        declaration.notify.as_ref().map(|notify| {
            (
                notify.command.clone(),
                notify.on.clone(),
                notify.min_interval.get().as_millis(),
                notify.timeout.get().as_millis(),
            )
        })
    });
}

#[test]
fn a_notify_token_argument_is_redacted_in_debug() {
    let loaded = super::parse_text(
        "/d/main.yaml",
        "notify: { command: [/bin/send, --token, hunter2, --password=pw] }\n",
    )
    .expect("parses");
    let shown = format!("{:?}", loaded.declaration);
    assert!(
        !shown.contains("hunter2") && !shown.contains("=pw"),
        "{shown}"
    );
    assert!(shown.contains("/bin/send"), "{shown}");
}
