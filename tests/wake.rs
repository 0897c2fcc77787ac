//! Waking a rescue's agent: main driven into each kind of failure over
//! simulated gateways; what the rescue's gateway received through its hooks
//! (`<state>/hooks-received.jsonl`, written by the simulator), what status
//! and the events say.
#![allow(clippy::disallowed_methods)] // A test starts the programs it tests.

mod daemon_support;

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use daemon_support::*;

const MAIN_TOKEN: &str = "gw-main-secret-7c1d9e0a4b";
const RESCUE_TOKEN: &str = "gw-rescue-secret-5f2a8b3c6d";
const HOOK_TOKEN: &str = "hook-rescue-secret-9e8d7c6b5a";

/// Probes fast enough for tests (as tests/health's).
const FAST_PROBES: &str = "probes:\n  \
    startup: { every: 100ms, timeout: 20s }\n  \
    liveness: { every: 200ms, timeout: 300ms, failures: 3 }\n  \
    readiness: { every: 200ms, timeout: 300ms, failures: 2 }";

/// Write an instance's OpenClaw config: local mode on `port`, a gateway
/// token, its own log file, and `more` top-level keys.
fn write_config(root: &Path, name: &str, port: u16, token: &str, more: &str) -> PathBuf {
    let auth = format!("auth: {{ token: \"{token}\" }}");
    write_sim_config_with(root, name, port, &auth, more)
}

fn hooks(token: &str) -> String {
    format!("hooks: {{ enabled: true, token: \"{token}\", path: \"/hooks\" }}")
}

/// A started supervisor over main and a rescue of it whose config has
/// `rescue_more` (hooks), each declaration with its extra YAML and fast
/// probes: the supervisor, main's port, the rescue's port.
fn start(main_extra: &str, rescue_extra: &str, rescue_more: &str) -> (Daemon, u16, u16) {
    start_with(main_extra, "", rescue_extra, rescue_more)
}

/// [`start`], main's config with `main_more` top-level keys.
fn start_with(
    main_extra: &str,
    main_more: &str,
    rescue_extra: &str,
    rescue_more: &str,
) -> (Daemon, u16, u16) {
    let rescue = format!("role: rescue\nrescue_of: main\n{rescue_extra}\n{FAST_PROBES}");
    let main = format!("{main_extra}\n{FAST_PROBES}");
    let (mut daemon, port) = Daemon::prepare(&[("main", &main), ("rescue", &rescue)]);
    write_config(daemon.path(), "main", port, MAIN_TOKEN, main_more);
    write_config(
        daemon.path(),
        "rescue",
        port + 1000,
        RESCUE_TOKEN,
        rescue_more,
    );
    daemon.start();
    (daemon, port, port + 1000)
}

/// What the rescue's simulated gateway accepted through its hooks.
fn received(daemon: &Daemon) -> Vec<Value> {
    received_in(&daemon.path().join("instances/rescue/state"))
}

/// What a simulated gateway with state dir `state` accepted through its hooks.
fn received_in(state: &Path) -> Vec<Value> {
    fs::read_to_string(state.join("hooks-received.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}

/// The text of an accepted request (`message` of /agent, `text` of /wake).
fn text_of(request: &Value) -> String {
    let body = &request["body"];
    body["message"]
        .as_str()
        .or_else(|| body["text"].as_str())
        .unwrap_or_default()
        .to_string()
}

/// Wait until the rescue's gateway has accepted `count` requests.
fn wait_received(daemon: &Daemon, count: usize) -> Vec<Value> {
    wait_for(&format!("{count} accepted hook requests"), || {
        let got = received(daemon);
        (got.len() >= count).then_some(got)
    })
}

fn assert_no_secret(text: &str) {
    for secret in [MAIN_TOKEN, RESCUE_TOKEN, HOOK_TOKEN] {
        assert!(!text.contains(secret), "a secret leaked: {text}");
    }
}

/// main (kept down after a crash by an hour of backoff) and a running
/// rescue with `rescue_extra` and `rescue_more`; `meanwhile` runs once both
/// run, then main exits 1. The supervisor, the events followed from before
/// the crash, and main's port.
fn crash_main(
    rescue_extra: &str,
    rescue_more: &str,
    meanwhile: impl FnOnce(&Daemon, u16),
) -> (Daemon, Events, u16) {
    let (daemon, main_port, _) = start(
        "restart: { backoff: { initial: 1h, max: 2h } }",
        rescue_extra,
        rescue_more,
    );
    daemon.wait_state("main", "running");
    daemon.wait_state("rescue", "running");
    meanwhile(&daemon, main_port);
    let events = Events::follow(&daemon);
    crash(main_port, 1);
    (daemon, events, main_port)
}

/// `check --dir DIR`'s whole output.
fn check_text(dir: &Path) -> String {
    let output = std::process::Command::new(SUPERVISOR)
        .args(["check", "--dir"])
        .arg(dir)
        .output()
        .expect("check runs");
    String::from_utf8_lossy(&output.stdout).to_string() + &String::from_utf8_lossy(&output.stderr)
}

/// A rescue's last wake in status.
fn wake_status(daemon: &Daemon) -> Value {
    daemon.instance("rescue").expect("rescue")["wake"].clone()
}

#[test]
fn a_crash_of_main_wakes_the_running_rescue_once_then_says_it_recovered() {
    let (daemon, mut events, _) = crash_main("wake: agent", &hooks(HOOK_TOKEN), |_, _| {});
    let woke = events.wait("the rescue's wake", is("rescue", "wake"));
    let detail = woke["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("200 ok"), "{woke}");
    assert!(detail.contains("POST /hooks/agent"), "{woke}");

    let got = wait_received(&daemon, 1);
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!(got[0]["endpoint"], "agent");
    assert_eq!(got[0]["body"]["name"], "openclaw-supervisor");
    let message = text_of(&got[0]);
    for wanted in [
        "What happened: main exited (exit code 1)",
        "Since: ",
        "Restarts so far: ",
        "Last events of main:",
        "logs main -n 100",
        "rollback main",
        env!("CARGO_BIN_EXE_openclaw-supervisor"),
    ] {
        assert!(message.contains(wanted), "{wanted:?} missing: {message}");
    }
    assert_no_secret(&got[0].to_string());
    let kept = daemon.state_dir.join("wake/rescue.failure.txt");
    assert_eq!(
        fs::read_to_string(&kept).ok(),
        Some(message.clone()),
        "the text is kept"
    );
    use std::os::unix::fs::PermissionsExt as _;
    let mode = fs::metadata(&kept)
        .map(|m| m.permissions().mode() & 0o777)
        .ok();
    assert_eq!(mode, Some(0o600));
    let dir_mode = fs::metadata(daemon.state_dir.join("wake"))
        .map(|m| m.permissions().mode() & 0o777)
        .ok();
    assert_eq!(dir_mode, Some(0o700));

    let wake = wake_status(&daemon);
    assert_eq!(wake["http_status"], 200, "{wake}");
    assert_eq!(wake["ok"], true, "{wake}");
    assert_eq!(wake["endpoint"], "/hooks/agent", "{wake}");
    assert_eq!(wake["message"], "failure", "{wake}");
    assert_eq!(wake["tries"], 1, "{wake}");
    let detail = daemon.client(&["status", "rescue"]);
    let detail = String::from_utf8_lossy(&detail.stdout);
    assert!(
        detail.contains("last wake") && detail.contains("200 ok (ok: true)"),
        "{detail}"
    );
    assert_no_secret(&daemon.status_json().to_string());

    // main back: one `recovered` on main, one recovered message.
    assert!(daemon.client(&["start", "main"]).status.success());
    let recovered = events.wait("main's recovery", is("main", "recovered"));
    assert!(
        recovered["detail"]
            .as_str()
            .is_some_and(|d| d.contains("running again after")),
        "{recovered}"
    );
    events.wait("the recovered wake", |e| {
        is("rescue", "wake")(e)
            && e["detail"]
                .as_str()
                .is_some_and(|d| d.contains("recovered message"))
    });
    let got = wait_received(&daemon, 2);
    assert_eq!(got.len(), 2, "one failure, one recovery: {got:#?}");
    assert!(
        text_of(&got[1]).contains("`main` has recovered"),
        "{got:#?}"
    );
    assert_eq!(events.count("main", "recovered"), 1);
    assert_eq!(events.count("rescue", "wake"), 2, "{:#?}", events.seen);
    assert_no_secret(
        &fs::read_to_string(daemon.state_dir.join("events.jsonl")).unwrap_or_default(),
    );
    assert_no_secret(&daemon.log_text());
}

#[test]
fn an_exit_78_wakes_a_standby_rescue_only_once_it_is_ready() {
    let (daemon, main_port, _) = start("", "standby: true\nwake: wake", &hooks(HOOK_TOKEN));
    daemon.wait_state("main", "running");
    assert_eq!(daemon.state("rescue").as_deref(), Some("standby"));
    let mut events = Events::follow(&daemon);
    crash(main_port, 78);
    events.wait("the rescue's start", is("rescue", "started"));
    let woke = events.wait("the rescue's wake", is("rescue", "wake"));
    assert!(
        woke["detail"]
            .as_str()
            .is_some_and(|d| d.contains("200 ok")),
        "{woke}"
    );
    let got = wait_received(&daemon, 1);
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!(got[0]["endpoint"], "wake");
    assert_eq!(got[0]["body"]["mode"], "now");
    let text = text_of(&got[0]);
    assert!(text.contains("main exited (exit code 78)"), "{text}");
    assert!(text.contains("State now: failed"), "{text}");
    assert_no_secret(&got[0].to_string());
    // Not one try before it was ready: the first one went through.
    let wake = wake_status(&daemon);
    assert_eq!(wake["tries"], 1, "{wake}");
    assert_eq!(wake["endpoint"], "/hooks/wake", "{wake}");
}

#[test]
fn a_liveness_failure_of_main_wakes_the_rescue_with_the_probe() {
    let (daemon, main_port, _) = start("", "wake: agent", &hooks(HOOK_TOKEN));
    daemon.wait_state("main", "running");
    daemon.wait_state("rescue", "running");
    let mut events = Events::follow(&daemon);
    sim_post(main_port, "/__sim/wedge");
    events.wait("main's liveness failure", is("main", "unhealthy"));
    events.wait("the rescue's wake", is("rescue", "wake"));
    let got = wait_received(&daemon, 1);
    let text = text_of(&got[0]);
    assert!(text.contains("main failed its liveness probe"), "{text}");
    assert_no_secret(&text);
    // The restarted main recovers: one recovered message follows.
    events.wait("main's recovery", is("main", "recovered"));
    let got = wait_received(&daemon, 2);
    assert_eq!(got.len(), 2, "{got:#?}");
    assert!(text_of(&got[1]).contains("has recovered"), "{got:#?}");
}

#[test]
fn a_refused_token_shows_401_in_status_and_is_not_retried() {
    // The config then names another token than the running gateway's.
    let (daemon, mut events, _) = crash_main("wake: agent", &hooks(HOOK_TOKEN), |daemon, port| {
        let other = hooks("hook-another-token-0000000");
        write_config(daemon.path(), "rescue", port + 1000, RESCUE_TOKEN, &other);
    });
    let refused = events.wait("the refused wake", is("rescue", "wake"));
    let detail = refused["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("401"), "{refused}");
    assert!(detail.contains("hooks.token"), "{refused}");
    assert!(detail.contains("not retried"), "{refused}");
    let wake = wake_status(&daemon);
    assert_eq!(wake["http_status"], 401, "{wake}");
    assert_eq!(wake["ok"], false, "{wake}");
    assert_eq!(wake["tries"], 1, "{wake}");
    assert!(received(&daemon).is_empty());
    // Its recovery is no news to an agent never woken.
    assert!(daemon.client(&["start", "main"]).status.success());
    events.wait("main's recovery", is("main", "recovered"));
    assert_eq!(events.count("rescue", "wake"), 1, "{:#?}", events.seen);
    assert_eq!(wake_status(&daemon)["tries"], 1);
    assert_no_secret(&daemon.log_text());
}

#[test]
fn a_rescue_without_hooks_is_not_sent_anything_and_status_says_what_to_add() {
    let (daemon, mut events, _) = crash_main("wake: agent", "", |_, _| {});
    let refused = events.wait("the wake not sent", is("rescue", "wake"));
    let detail = refused["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("hooks are not enabled"), "{refused}");
    assert!(
        detail.contains("hooks: { enabled: true, token:"),
        "{refused}"
    );
    assert!(detail.contains("not retried"), "{refused}");
    let wake = wake_status(&daemon);
    assert!(wake["http_status"].is_null(), "{wake}");
    assert_eq!(wake["tries"], 1, "{wake}");
    assert!(received(&daemon).is_empty());
}

#[test]
fn a_refusal_shows_the_configs_hooks_path() {
    // Hooks on at another path, but no token: not sent, and status names
    // the endpoint the config says.
    let more = "hooks: { enabled: true, path: \"/rescue-hooks\" }";
    let (daemon, mut events, _) = crash_main("wake: agent", more, |_, _| {});
    let refused = events.wait("the wake not sent", is("rescue", "wake"));
    let detail = refused["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("hooks.token is not set"), "{refused}");
    assert!(detail.contains("POST /rescue-hooks/agent"), "{refused}");
    assert_eq!(wake_status(&daemon)["endpoint"], "/rescue-hooks/agent");
}

#[test]
fn no_wake_without_the_wake_key() {
    let (daemon, mut events, _) = crash_main("", &hooks(HOOK_TOKEN), |_, _| {});
    events.wait("main's backoff", is("main", "backoff"));
    assert!(daemon.client(&["start", "main"]).status.success());
    events.wait("main's recovery", is("main", "recovered"));
    assert_eq!(events.count("rescue", "wake"), 0, "{:#?}", events.seen);
    assert!(received(&daemon).is_empty());
    assert!(wake_status(&daemon).is_null());
}

#[test]
fn check_says_what_to_add_when_a_woken_rescue_has_no_hooks() {
    let (daemon, port) = Daemon::prepare(&[
        ("main", ""),
        ("rescue", "role: rescue\nrescue_of: main\nwake: agent"),
    ]);
    write_config(daemon.path(), "rescue", port + 1000, RESCUE_TOKEN, "");
    let text = check_text(&daemon.dir);
    assert!(text.contains("`wake: agent` is set"), "{text}");
    assert!(text.contains("hooks are not enabled"), "{text}");
    assert!(text.contains("hooks: { enabled: true, token:"), "{text}");
    // With hooks on, no such warning.
    write_config(
        daemon.path(),
        "rescue",
        port + 1000,
        RESCUE_TOKEN,
        &hooks(HOOK_TOKEN),
    );
    let text = check_text(&daemon.dir);
    assert!(!text.contains("`wake: agent` is set"), "{text}");
    assert_no_secret(&text);
}

/// One raw HTTP/1.0 request to the simulator: (status, body).
fn raw(port: u16, head: &str, body: &[u8]) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    let request = format!(
        "{head}\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("write head");
    // A refused body may not be read to its end: the answer counts.
    let _ = stream.write_all(body);
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn the_simulated_hooks_keep_the_real_contract() {
    let port = free_base_port();
    let daemon = Daemon::new(&[]);
    write_config(daemon.path(), "sim", port, MAIN_TOKEN, &hooks(HOOK_TOKEN));
    let home = daemon.path().join("instances/sim");
    let mut sim = std::process::Command::new(SIM)
        .args(["gateway", "--port", &port.to_string()])
        .env("OPENCLAW_STATE_DIR", home.join("state"))
        .env("OPENCLAW_CONFIG_PATH", home.join("openclaw.json"))
        .env("OPENCLAW_TEST_TAG", &daemon.tag)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn the simulator");
    wait_for("the simulator to listen", || {
        http(port, "GET", "/healthz", std::time::Duration::from_secs(1)).ok()
    });
    let bearer = format!("Authorization: Bearer {HOOK_TOKEN}");
    let wake = br#"{"text":"hi","mode":"now"}"#;
    let agent = br#"{"message":"hi","name":"t"}"#;
    let big = format!(r#"{{"text":"{}"}}"#, "x".repeat(256 * 1024));
    // request head, body, status, part of the answer
    let rows: Vec<(String, &[u8], u16, &str)> = vec![
        (
            format!("POST /hooks/wake HTTP/1.0\r\n{bearer}"),
            wake,
            200,
            r#""eventOutcome":"queued""#,
        ),
        (
            format!("POST /hooks/agent HTTP/1.0\r\nx-openclaw-token: {HOOK_TOKEN}"),
            agent,
            200,
            r#""runId":"#,
        ),
        (
            format!("POST /hooks/wake?token={HOOK_TOKEN} HTTP/1.0\r\n{bearer}"),
            wake,
            400,
            "query parameters are not allowed",
        ),
        (
            "POST /hooks/wake HTTP/1.0\r\nAuthorization: Bearer wrong".to_string(),
            wake,
            401,
            "Unauthorized",
        ),
        (
            "POST /hooks/wake HTTP/1.0".to_string(),
            wake,
            401,
            "Unauthorized",
        ),
        (
            format!("GET /hooks/wake HTTP/1.0\r\n{bearer}"),
            b"",
            405,
            "Method Not Allowed",
        ),
        (
            format!("POST /hooks/wake HTTP/1.0\r\n{bearer}"),
            b"{}",
            400,
            "text required",
        ),
        (
            format!("POST /hooks/agent HTTP/1.0\r\n{bearer}"),
            b"not json",
            400,
            "invalid JSON",
        ),
        (
            format!("POST /hooks/other HTTP/1.0\r\n{bearer}"),
            b"{}",
            404,
            "Not Found",
        ),
        (
            format!("POST /hooks/wake HTTP/1.0\r\n{bearer}"),
            big.as_bytes(),
            413,
            "payload too large",
        ),
    ];
    for (head, body, status, part) in &rows {
        let (got, answer) = raw(port, head, body);
        assert_eq!(
            (got, answer.contains(part)),
            (*status, true),
            "{head}: {answer}"
        );
    }
    let got = received_in(&home.join("state"));
    assert_eq!(
        got.len(),
        2,
        "only the accepted ones are recorded: {got:#?}"
    );
    let _ = sim.kill();
    let _ = sim.wait();
}

#[path = "wake/redaction_and_rollback.rs"]
mod redaction_and_rollback;
