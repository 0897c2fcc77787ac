//! Configs: a missing or invalid one exits 78 with the real lines,
//! `config validate` answers as openclaw does, `--allow-unconfigured`, and
//! an exit code on request comes first.

use std::fs;

use crate::exit_code;
use crate::sim_support::{self, Sim};

#[test]
fn exits_78_without_a_config() {
    let mut sim = Sim::prepare();
    fs::remove_file(sim.dir.path().join("openclaw.json")).expect("remove config");
    sim.spawn(&[], &[]);
    assert_eq!(exit_code(&mut sim), Some(78));
    let stderr = sim.stderr();
    assert!(stderr.contains("Missing config"), "{stderr}");
    assert!(
        stderr.contains("set gateway.mode=local or pass --allow-unconfigured"),
        "{stderr}"
    );
}

#[test]
fn an_unknown_config_key_exits_78_with_the_real_lines() {
    let mut sim = Sim::prepare();
    let config = sim.dir.path().join("openclaw.json");
    fs::write(&config, "{ gateway: { mode: 'local', wibble: 1 } }").expect("write config");
    sim.spawn(&[], &[("NO_COLOR", "1")]);
    assert_eq!(exit_code(&mut sim), Some(78));
    let stderr = sim.stderr();
    // openclaw 2026.9.6 wrote these lines (each timestamped line without a tag).
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 5, "{stderr}");
    assert!(
        lines[0].ends_with(&format!(
            " Gateway failed to start: Invalid config at {}:",
            config.display()
        )),
        "{stderr}"
    );
    assert_eq!(
        &lines[1..4],
        [
            "openclaw.json:1 \u{2014} gateway: Unrecognized key: \"wibble\"",
            "Run \"openclaw doctor --fix\" to repair, then retry.",
            "If startup is still blocked, inspect the adjacent .bak backup before restoring it manually.",
        ]
    );
    assert!(
        lines[4].ends_with(" Run \"openclaw doctor --fix\" to repair the config, then retry."),
        "{stderr}"
    );
}

#[test]
fn config_validate_answers_like_openclaw() {
    let sim = Sim::prepare();
    let config = sim.dir.path().join("openclaw.json");
    let validate = |json: bool| {
        let mut command = std::process::Command::new(sim_support::SIM);
        command
            .args(["config", "validate"])
            .env_clear()
            .env("OPENCLAW_CONFIG_PATH", &config)
            .env("HOME", sim.dir.path());
        if json {
            command.arg("--json");
        }
        command.output().expect("run the simulator")
    };
    let sound = validate(true);
    assert_eq!(sound.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&sound.stdout),
        format!(
            "{{\"valid\":true,\"path\":\"{}\",\"warnings\":[]}}\n",
            config.display()
        )
    );
    fs::write(&config, "{ gateway: { mode: 'local', wibble: 1 } }").expect("write config");
    let broken = validate(true);
    assert_eq!(broken.status.code(), Some(1));
    let answer: serde_json::Value = serde_json::from_slice(&broken.stdout).expect("JSON");
    assert_eq!(answer["valid"], false);
    assert_eq!(
        answer["issues"],
        serde_json::json!([{ "path": "gateway", "message": "Unrecognized key: \"wibble\"" }])
    );
    let text = validate(false);
    assert_eq!(text.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&text.stderr).starts_with(
            "OpenClaw config is invalid: ~/openclaw.json\n  \u{d7} openclaw.json:1 \u{2014} gateway: Unrecognized key: \"wibble\"\n"
        ),
        "{}",
        String::from_utf8_lossy(&text.stderr)
    );
}

#[test]
fn allow_unconfigured_starts_without_a_config() {
    let mut sim = Sim::prepare();
    fs::remove_file(sim.dir.path().join("openclaw.json")).expect("remove config");
    sim.spawn(&["--allow-unconfigured"], &[]);
    sim.wait_listening();
}

#[test]
fn bad_configs_exit_78() {
    // (config text, words the message must contain)
    let rows = [
        ("{ gateway: { mode: 'local' ", "Invalid config"),
        ("{ gateway: { port: 1 } }", "gateway.mode=local"),
        ("[1, 2]", "top level"),
    ];
    for (text, needle) in rows {
        let mut sim = Sim::prepare();
        fs::write(sim.dir.path().join("openclaw.json"), text).expect("write config");
        sim.spawn(&[], &[]);
        assert_eq!(exit_code(&mut sim), Some(78), "config {text}");
        assert!(
            sim.stderr().contains(needle),
            "config {text}: {}",
            sim.stderr()
        );
    }
}

#[test]
fn exit_code_on_request_comes_before_the_config() {
    let mut sim = Sim::prepare();
    fs::remove_file(sim.dir.path().join("openclaw.json")).expect("remove config");
    sim.spawn(&[], &[("OPENCLAW_SIM_EXIT_CODE", "3")]);
    assert_eq!(exit_code(&mut sim), Some(3));
}
