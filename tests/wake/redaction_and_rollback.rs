//! The wake message without any of main's secrets, a `${VAR}` hook token,
//! the rolled-back line, a 503 retried.

use std::fs;

use serde_json::Value;

use super::*;

/// The first request the rescue's gateway accepted, its text holding each
/// of `wanted`.
fn first_message_with(daemon: &Daemon, wanted: &[&str]) -> Value {
    let got = wait_received(daemon, 1);
    let message = text_of(&got[0]);
    for wanted in wanted {
        assert!(message.contains(wanted), "{wanted:?} missing: {message}");
    }
    got[0].clone()
}

const DISCORD_TOKEN: &str = "discord-bot-token-a1b2c3d4e5";
const API_KEY: &str = "openai-key-7f6e5d4c3b2a";
const BEARER: &str = "bearer-value-8a7b6c5d4e";

#[test]
fn the_wake_message_holds_none_of_mains_secrets() {
    // main's gateway writes, as it crashes, a channel token of its config,
    // an API key of its declared env and a Bearer header.
    let crash_lines = format!(
        "discord: login with {DISCORD_TOKEN} failed|openai: request with {API_KEY} refused|hooks: sent Authorization: Bearer {BEARER}"
    );
    let main_extra = format!(
        "restart: {{ backoff: {{ initial: 1h, max: 2h }} }}\nenv:\n  OPENAI_API_KEY: {API_KEY}\n  OPENCLAW_SIM_CRASH_LINES: \"{crash_lines}\""
    );
    let discord = format!("channels: {{ discord: {{ token: \"{DISCORD_TOKEN}\" }} }}");
    let (daemon, main_port, _) =
        start_with(&main_extra, &discord, "wake: agent", &hooks(HOOK_TOKEN));
    daemon.wait_state("main", "running");
    daemon.wait_state("rescue", "running");
    crash(main_port, 1);
    let got = first_message_with(
        &daemon,
        &[
            "discord: login with <redacted> failed",
            "openai: request with <redacted> refused",
            "Authorization: Bearer <redacted>",
        ],
    );
    let kept = fs::read_to_string(daemon.state_dir.join("wake/rescue.failure.txt"))
        .expect("the message is kept");
    for text in [got.to_string(), kept] {
        assert_no_secret(&text);
        for secret in [DISCORD_TOKEN, API_KEY, BEARER] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
    }
}

#[test]
fn a_hooks_token_from_a_variable_is_sent_resolved_and_check_says_when_it_is_unset() {
    let rescue_extra = format!("wake: agent\nenv:\n  RESCUE_HOOKS_TOKEN: {HOOK_TOKEN}");
    let (daemon, mut events, _) =
        crash_main(&rescue_extra, &hooks("${RESCUE_HOOKS_TOKEN}"), |_, _| {});
    let woke = events.wait("the rescue's wake", is("rescue", "wake"));
    assert!(
        woke["detail"]
            .as_str()
            .is_some_and(|d| d.contains("200 ok")),
        "{woke}"
    );
    assert_eq!(wait_received(&daemon, 1).len(), 1);
    assert!(!check_text(&daemon.dir).contains("hooks.token refers to"));
    drop(daemon);

    let (daemon, port) = Daemon::prepare(&[
        ("main", ""),
        ("rescue", "role: rescue\nrescue_of: main\nwake: agent"),
    ]);
    write_config(
        daemon.path(),
        "rescue",
        port + 1000,
        RESCUE_TOKEN,
        &hooks("${RESCUE_HOOKS_TOKEN_UNSET}"),
    );
    let text = check_text(&daemon.dir);
    assert!(
        text.contains("hooks.token refers to ${RESCUE_HOOKS_TOKEN_UNSET}, which is not set"),
        "{text}"
    );
}

#[test]
fn the_wake_message_says_mains_config_was_rolled_back() {
    let (daemon, main_port, _) = start("rollback: auto", "wake: agent", &hooks(HOOK_TOKEN));
    daemon.wait_state("main", "running");
    daemon.wait_state("rescue", "running");
    let last_good = daemon.state_dir.join("last-good/main");
    wait_for("main's last good config recorded", || {
        fs::read_dir(&last_good)
            .ok()?
            .flatten()
            .any(|entry| entry.path().join("meta.json").exists())
            .then_some(())
    });
    let config = daemon.path().join("instances/main/openclaw.json");
    let good = fs::read_to_string(&config).expect("main's config");
    let broken = good.replacen('{', "{ bogusKey: true,", 1);
    assert_ne!(good, broken);
    fs::write(&config, broken).expect("break main's config");
    let mut events = Events::follow(&daemon);
    let _ = main_port;
    assert!(
        daemon
            .client(&["restart", "--force", "main"])
            .status
            .success()
    );
    events.wait("the rescue's wake", is("rescue", "wake"));
    let got = first_message_with(
        &daemon,
        &[
            "main exited (exit code 78)",
            "State now: failed",
            "Rolled back: main's config was rolled back to its last known good (exit 78 right after its config changed (rollback: auto)",
        ],
    );
    assert_no_secret(&got.to_string());
}

#[test]
fn a_503_from_the_rescues_hooks_is_retried_then_delivered() {
    let rescue_extra = "wake: agent\nenv:\n  OPENCLAW_SIM_HOOKS_UNAVAILABLE: \"1\"";
    let (daemon, mut events, _) = crash_main(rescue_extra, &hooks(HOOK_TOKEN), |_, _| {});
    let retrying = events.wait("the wake not delivered", is("rescue", "wake"));
    let detail = retrying["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("503"), "{retrying}");
    assert!(detail.contains("retrying in 2s"), "{retrying}");
    let woke = events.wait("the retried wake", is("rescue", "wake"));
    let detail = woke["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("200 ok") && detail.contains("try 2"),
        "{woke}"
    );
    let got = wait_received(&daemon, 1);
    assert_eq!(got.len(), 1, "{got:#?}");
    assert!(text_of(&got[0]).contains("main exited (exit code 1)"));
    assert_eq!(wake_status(&daemon)["tries"], 2);
}
