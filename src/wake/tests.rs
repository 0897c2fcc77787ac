use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use super::*;

fn token(value: &str) -> HookToken {
    HookToken::new(value).expect("not blank")
}

#[test]
fn lines_lose_escapes_and_secrets() {
    // A value shorter than 8 characters is not replaced by value.
    let secrets = [
        token("gw-secret-0123"),
        token("hook-secret-4567"),
        token("1"),
        token("TG-9f8e7d6c5b4a"),
    ];
    // line as the gateway wrote it, as the agent reads it
    let rows = [
        ("plain words stay", "plain words stay"),
        ("\u{1b}[31merror\u{1b}[0m: bad", "error: bad"),
        (
            "auth with gw-secret-0123 failed",
            "auth with <redacted> failed",
        ),
        (
            "sending hook-secret-4567 twice hook-secret-4567",
            "sending <redacted> twice <redacted>",
        ),
        (
            "Authorization: Bearer abc.def-123 sent",
            "Authorization: Bearer <redacted> sent",
        ),
        ("bearer: nothing", "bearer: nothing"),
        ("token=xyz123 and more", "token=<redacted> and more"),
        (
            r#"{"token": "t-1", "name": "x"}"#,
            r#"{"token": "<redacted>", "name": "x"}"#,
        ),
        ("botToken: 123:ABC", "botToken: <redacted>"),
        ("password = hunter2", "password = <redacted>"),
        ("OPENAI_APIKEY=sk-1", "OPENAI_APIKEY=<redacted>"),
        ("the tokens are fine", "the tokens are fine"),
        ("tokenFile: /etc/x", "tokenFile: /etc/x"),
        ("token missing", "token missing"),
        ("ünïcode token=é1 ok", "ünïcode token=<redacted> ok"),
        ("exit code 1 after 1s", "exit code 1 after 1s"),
        ("api_key=abc123 next", "api_key=<redacted> next"),
        ("x-api-key: abc123 next", "x-api-key: <redacted> next"),
        ("X-API-KEY:abc123", "X-API-KEY:<redacted>"),
        ("OPENAI_API_KEY=sk-proj-abc", "OPENAI_API_KEY=<redacted>"),
        ("MY_SECRET_TOKEN=abc", "MY_SECRET_TOKEN=<redacted>"),
        (
            "authorization: Basic dXNlcjpwYXNz ok",
            "authorization: Basic <redacted> ok",
        ),
        ("authorization=raw-value ok", "authorization=<redacted> ok"),
        (
            "GET https://api.telegram.org/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/getMe failed",
            "GET https://api.telegram.org/bot<redacted>/getMe failed",
        ),
        (
            "key sk-abcdefghijklmnop0123 refused",
            "key <redacted> refused",
        ),
        ("sk-short stays", "sk-short stays"),
        ("at 12:30:45 ok", "at 12:30:45 ok"),
        ("known TG-9f8e7d6c5b4a here", "known <redacted> here"),
    ];
    for (line, expected) in rows {
        assert_eq!(clean_line(line, &secrets), expected, "{line}");
    }
}

fn facts<'a>(
    error_lines: &'a [String],
    events: &'a [EventLine],
    secrets: &'a [HookToken],
) -> FailureFacts<'a> {
    FailureFacts {
        main: "main",
        how: "exited (exit code 78)",
        since: UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        restarts: 3,
        state: "failed",
        rolled_back: None,
        error_lines,
        events,
        supervisor: Path::new("/usr/local/bin/openclaw-supervisor"),
        secrets,
    }
}

#[test]
fn the_failure_message_says_what_when_how_and_what_to_run() {
    let lines = vec![
        "\u{1b}[33mInvalid config\u{1b}[0m: gateway.mode".to_string(),
        "auth token gw-secret-0123 rejected".to_string(),
    ];
    let events = vec![
        EventLine {
            at: UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            kind: EventKind::Exited,
            detail: "exit code 78".to_string(),
        },
        EventLine {
            at: UNIX_EPOCH + Duration::from_secs(1_800_000_001),
            kind: EventKind::RolledBack,
            detail: "config put back".to_string(),
        },
        EventLine {
            at: UNIX_EPOCH + Duration::from_secs(1_800_000_002),
            kind: EventKind::Started,
            detail: String::new(),
        },
    ];
    let secrets = [token("gw-secret-0123")];
    let text = failure_message(&facts(&lines, &events, &secrets));
    for wanted in [
        "`main`",
        "What happened: main exited (exit code 78)",
        "Since: 2027-01-15T08:00:00Z (UTC)",
        "Restarts so far: 3",
        "State now: failed",
        "  Invalid config: gateway.mode\n",
        "  auth token <redacted> rejected\n",
        "  2027-01-15T08:00:00Z exited exit code 78\n",
        "  2027-01-15T08:00:01Z rolled_back config put back\n",
        "  2027-01-15T08:00:02Z started\n",
        "OPENCLAW_SUPERVISOR_SOCKET",
        "  /usr/local/bin/openclaw-supervisor status\n",
        "  /usr/local/bin/openclaw-supervisor logs main -n 100\n",
        "  /usr/local/bin/openclaw-supervisor restart main\n",
        "  /usr/local/bin/openclaw-supervisor diff main\n",
        "  /usr/local/bin/openclaw-supervisor rollback main\n",
    ] {
        assert!(text.contains(wanted), "{wanted:?} missing in:\n{text}");
    }
    assert!(!text.contains("gw-secret"), "{text}");
    assert!(!text.contains('\u{1b}'), "{text}");
}

#[test]
fn the_failure_message_says_when_main_was_rolled_back() {
    let mut told = facts(&[], &[], &[]);
    assert!(!failure_message(&told).contains("Rolled back"));
    told.rolled_back = Some("put back the config recorded good at 2027-01-15T07:00:00Z");
    let text = failure_message(&told);
    assert!(
        text.contains("Rolled back: main's config was rolled back to its last known good (put back the config recorded good at 2027-01-15T07:00:00Z)"),
        "{text}"
    );
}

#[test]
fn the_failure_message_stays_small_with_any_amount_of_output() {
    let lines: Vec<String> = (0..5000)
        .map(|n| format!("line {n} {}", "x".repeat(2000)))
        .collect();
    let events: Vec<EventLine> = (0..100)
        .map(|n| EventLine {
            at: UNIX_EPOCH,
            kind: EventKind::Exited,
            detail: format!("event {n}"),
        })
        .collect();
    let text = failure_message(&facts(&lines, &events, &[]));
    assert!(text.len() <= MAX_MESSAGE_BYTES + 16, "{}", text.len());
    // The last lines and events are the ones kept.
    assert!(text.contains("line 4999 "), "the last line is kept");
    assert!(!text.contains("line 4969 "), "older lines are left out");
    assert!(text.contains("event 99") && !text.contains("event 91\n"));
    // No section is empty when there is nothing to say.
    let bare = failure_message(&facts(&[], &[], &[]));
    assert!(!bare.contains("Last output lines") && !bare.contains("Last events"));
}

#[test]
fn the_recovered_message_and_the_bodies() {
    let since = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let text = recovered_message("main", since, since + Duration::from_millis(75_500), 4);
    assert!(text.contains("`main` has recovered"), "{text}");
    assert!(text.contains("after 1m 15s"), "{text}");
    assert!(text.contains("2027-01-15T08:01:15Z"), "{text}");
    assert!(text.contains("4 restarts"), "{text}");
    assert_eq!(
        body(WakeEndpoint::Agent, "hi"),
        serde_json::json!({ "message": "hi", "name": "openclaw-supervisor" })
    );
    assert_eq!(
        body(WakeEndpoint::Wake, "hi"),
        serde_json::json!({ "text": "hi", "mode": "now" })
    );
}

#[test]
fn answers_in_words_say_what_to_check() {
    let rows = [
        (200, true, None, "200 ok"),
        (
            200,
            false,
            None,
            "200 accepted, but the answer did not say ok",
        ),
        (
            401,
            false,
            Some("Unauthorized"),
            "401 the hook token was refused: check hooks.token in the rescue's config (Unauthorized)",
        ),
        (
            404,
            false,
            None,
            "404 no hooks there: check hooks.enabled and hooks.path in the rescue's config",
        ),
        (
            503,
            false,
            Some("token=abc"),
            "503 the gateway failed to take it (token=<redacted>)",
        ),
    ];
    for (status, ok, error, expected) in rows {
        assert_eq!(send::words(status, ok, error), expected);
    }
}
