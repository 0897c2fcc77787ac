//! The steps of the scenario: each one check of the contract, with a name;
//! `Err` says what was expected and what was observed.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::Value;

use super::target::{Gateway, Target, get};

pub type Check = fn(&Target, &mut Gateway) -> Result<(), String>;

pub struct Step {
    pub name: &'static str,
    pub check: Check,
}

const fn step(name: &'static str, check: Check) -> Step {
    Step { name, check }
}

pub const STARTING: Step = step("probes while starting", starting);
pub const READY: Step = step("probes once ready", ready);
pub const LOG_FILE: Step = step("log file of a mixed-case profile", log_file);
pub const BOUND_V4: Step = step("port bound on 127.0.0.1", |_, g| bound(g, v4(g.port)));
pub const BOUND_V6: Step = step("port bound on ::1", |_, g| bound(g, v6(g.port)));
pub const NO_COLOUR: Step = step(
    "no colour with NO_COLOR=1 (the supervisor's env)",
    no_colour,
);
pub const COLOUR: Step = step("colour with TERM set and NO_COLOR empty", colour);
pub const SIGUSR2_RELAUNCH: Step = step("SIGUSR2 in external mode: exit 0", sigusr2_relaunch);
pub const SIGUSR2_IN_PROCESS: Step = step(
    "SIGUSR2 with OPENCLAW_NO_RESPAWN=1: same pid restarts in-process",
    sigusr2_in_process,
);
pub const SIGTERM_IDLE: Step = step("SIGTERM when idle: exit 0, lock removed", sigterm_idle);
pub const UNKNOWN_KEY: Step = step("unknown config key: exit 78 with its reason", unknown_key);

fn v4(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn v6(port: u16) -> SocketAddr {
    SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port))
}

/// Polls `check` every 50 ms until it gives an answer; fails when the
/// gateway exits or `target.deadline` passes.
fn poll<T>(
    target: &Target,
    gateway: &mut Gateway,
    what: &str,
    mut check: impl FnMut(&mut Gateway) -> Option<T>,
) -> Result<T, String> {
    let start = Instant::now();
    loop {
        if let Some(value) = check(gateway) {
            return Ok(value);
        }
        if let Some(status) = gateway.try_exit() {
            return Err(format!(
                "expected {what}; observed an exit ({status}) first"
            ));
        }
        if start.elapsed() > target.deadline {
            return Err(format!(
                "expected {what} within {:?}; observed nothing",
                target.deadline
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn json(path: &str, status: u16, body: &str) -> Result<Value, String> {
    serde_json::from_str(body)
        .map_err(|err| format!("expected JSON from {path}; observed {status} {body:?} ({err})"))
}

/// `fields` of `value`: (key, expected kind or exact value).
fn expect_fields(
    path: &str,
    body: &str,
    value: &Value,
    fields: &[(&str, Value)],
) -> Result<(), String> {
    for (key, expected) in fields {
        let observed = &value[*key];
        let matches = match expected.as_str() {
            Some("<string>") => observed.is_string(),
            Some("<number>") => observed.is_u64() || observed.is_f64(),
            Some("<non-empty list>") => observed.as_array().is_some_and(|list| !list.is_empty()),
            _ => observed == expected,
        };
        if !matches {
            return Err(format!(
                "expected {path} field `{key}` to be {expected}; observed {observed} in {body}"
            ));
        }
    }
    Ok(())
}

fn starting(target: &Target, gateway: &mut Gateway) -> Result<(), String> {
    let addr = v4(gateway.port);
    let (status, body) = poll(target, gateway, "a first answer of /startupz", |_| {
        get(addr, "/startupz").ok()
    })?;
    if status != 503 {
        return Err(format!(
            "expected the first answer of /startupz to be 503 \"starting\"; observed {status} {body}"
        ));
    }
    let value = json("/startupz", status, &body)?;
    expect_fields(
        "/startupz (503)",
        &body,
        &value,
        &[
            ("ok", Value::Bool(false)),
            ("status", "starting".into()),
            ("version", "<string>".into()),
            ("uptimeMs", "<number>".into()),
            ("pendingReason", "<string>".into()),
        ],
    )?;
    let (status, body) = get(addr, "/healthz")
        .map_err(|err| format!("expected /healthz to answer while starting; observed {err}"))?;
    let value = json("/healthz", status, &body)?;
    if status != 200 {
        return Err(format!(
            "expected /healthz 200 while starting; observed {status} {body}"
        ));
    }
    expect_fields(
        "/healthz",
        &body,
        &value,
        &[("ok", Value::Bool(true)), ("status", "live".into())],
    )
}

fn ready(target: &Target, gateway: &mut Gateway) -> Result<(), String> {
    let addr = v4(gateway.port);
    let (status, body) = poll(target, gateway, "/startupz 200", |_| {
        get(addr, "/startupz")
            .ok()
            .filter(|(status, _)| *status == 200)
    })?;
    let value = json("/startupz", status, &body)?;
    expect_fields(
        "/startupz (200)",
        &body,
        &value,
        &[
            ("ok", Value::Bool(true)),
            ("status", "started".into()),
            ("version", "<string>".into()),
            ("uptimeMs", "<number>".into()),
        ],
    )?;
    if !value["pendingReason"].is_null() {
        return Err(format!(
            "expected no pendingReason once started; observed {body}"
        ));
    }
    let (status, body) = poll(target, gateway, "/readyz 200", |_| {
        get(addr, "/readyz")
            .ok()
            .filter(|(status, _)| *status == 200)
    })?;
    let value = json("/readyz", status, &body)?;
    expect_fields(
        "/readyz (200)",
        &body,
        &value,
        &[
            ("ready", Value::Bool(true)),
            ("failing", Value::Array(Vec::new())),
            ("uptimeMs", "<number>".into()),
        ],
    )?;
    let (status, body) =
        get(addr, "/healthz").map_err(|err| format!("expected /healthz; observed {err}"))?;
    let value = json("/healthz", status, &body)?;
    expect_fields(
        "/healthz",
        &body,
        &value,
        &[("ok", Value::Bool(true)), ("status", "live".into())],
    )
}

fn log_file(target: &Target, gateway: &mut Gateway) -> Result<(), String> {
    // The supervisor's own prediction (what `check` shows) is the
    // expectation: `<dir>/openclaw-<encoded profile>-{date}.log`.
    let expected = gateway.effective.log_file.display().to_string();
    let (before, after) = expected.split_once("{date}").unwrap_or((&expected, ""));
    let wanted = format!("log file: {before}");
    let said = poll(
        target,
        gateway,
        &format!("a line `{wanted}<date>{after}`"),
        |g| {
            g.output()
                .lines()
                .find_map(|line| Some(line.split_once(&wanted)?.1.trim_end().to_string()))
        },
    )?;
    let date_ok = said
        .strip_suffix(after)
        .is_some_and(|date| date.len() == 10 && date.chars().filter(|c| *c == '-').count() == 2);
    if !date_ok {
        return Err(format!(
            "expected `{wanted}<YYYY-MM-DD>{after}`; observed `{wanted}{said}`"
        ));
    }
    let file = format!("{before}{said}");
    if !std::path::Path::new(&file).is_file() {
        return Err(format!(
            "expected the log file {file} to exist; observed none"
        ));
    }
    Ok(())
}

fn bound(gateway: &mut Gateway, addr: SocketAddr) -> Result<(), String> {
    match get(addr, "/healthz") {
        Ok((200, body)) if body.contains("\"live\"") => Ok(()),
        Ok((status, body)) => Err(format!(
            "expected /healthz 200 on {addr}; observed {status} {body}"
        )),
        Err(err) => Err(format!(
            "expected the gateway (pid {}) to answer on {addr}; observed {err}",
            gateway.pid()
        )),
    }
}

fn no_colour(_: &Target, gateway: &mut Gateway) -> Result<(), String> {
    match gateway
        .raw_output()
        .lines()
        .find(|line| line.contains('\x1b'))
    {
        None => Ok(()),
        Some(line) => Err(format!("expected no terminal escapes; observed {line:?}")),
    }
}

fn colour(_: &Target, gateway: &mut Gateway) -> Result<(), String> {
    if gateway.raw_output().contains("\x1b[") {
        Ok(())
    } else {
        Err("expected coloured lines (ANSI escapes); observed none".to_string())
    }
}

fn exited(target: &Target, gateway: &mut Gateway, what: &str) -> Result<i32, String> {
    let status = poll(target, gateway, what, |g| g.try_exit()).or_else(|err| {
        // poll reports an exit as an error; here it is what we wait for.
        gateway.try_exit().ok_or(err)
    })?;
    status
        .code()
        .ok_or_else(|| format!("expected {what}; observed an end by {status}"))
}

fn lines_present(gateway: &Gateway, lines: &[&str]) -> Result<(), String> {
    let output = gateway.output();
    for line in lines {
        if !output.contains(line) {
            let tail: Vec<&str> = output.lines().rev().take(8).collect();
            return Err(format!(
                "expected the line `{line}`; observed (last lines, newest first) {tail:?}"
            ));
        }
    }
    Ok(())
}

fn no_lock_left(gateway: &Gateway) -> Result<(), String> {
    let locks = gateway.lock_files();
    if locks.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "expected no gateway lock after a clean exit; observed {locks:?}"
        ))
    }
}

fn sigusr2_relaunch(target: &Target, gateway: &mut Gateway) -> Result<(), String> {
    gateway.signal(Signal::SIGUSR2);
    let code = exited(target, gateway, "an exit after SIGUSR2")?;
    if code != 0 {
        return Err(format!(
            "expected exit 0 after SIGUSR2 in external mode; observed exit {code}"
        ));
    }
    lines_present(
        gateway,
        &[
            "received SIGUSR2; restarting",
            "restart mode: full process restart (supervisor restart)",
        ],
    )?;
    no_lock_left(gateway)
}

fn sigusr2_in_process(target: &Target, gateway: &mut Gateway) -> Result<(), String> {
    gateway.signal(Signal::SIGUSR2);
    poll(
        target,
        gateway,
        "the line `restart mode: in-process restart`",
        |g| {
            g.output()
                .contains("restart mode: in-process restart")
                .then_some(())
        },
    )?;
    lines_present(gateway, &["received SIGUSR2; restarting"])?;
    // The same process serves again.
    ready(target, gateway)
}

fn sigterm_idle(target: &Target, gateway: &mut Gateway) -> Result<(), String> {
    gateway.signal(Signal::SIGTERM);
    let code = exited(target, gateway, "an exit after SIGTERM")?;
    if code != 0 {
        return Err(format!(
            "expected exit 0 after SIGTERM; observed exit {code}"
        ));
    }
    lines_present(
        gateway,
        &[
            "received SIGTERM; shutting down",
            "[shutdown] completed cleanly",
        ],
    )?;
    no_lock_left(gateway)
}

fn unknown_key(target: &Target, gateway: &mut Gateway) -> Result<(), String> {
    let code = exited(target, gateway, "an exit on a config with an unknown key")?;
    if code != 78 {
        return Err(format!("expected exit 78; observed exit {code}"));
    }
    let config = gateway.effective.config_path.display().to_string();
    lines_present(
        gateway,
        &[
            &format!("Invalid config at {config}"),
            "Unrecognized key: \"bogusKey\"",
        ],
    )
}
