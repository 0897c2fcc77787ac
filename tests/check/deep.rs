//! `check --deep`: each config put to openclaw's own `config validate`,
//! a command that gives no verdict, a validation that overruns.

use std::path::{Path, PathBuf};

use crate::{canonical, check, home, process_support};

/// A declarations dir of simulated gateways, each with its OpenClaw config
/// text: `(name, port, config)`.
fn sim_set(root: &Path, instances: &[(&str, u16, &str)]) -> PathBuf {
    let dir = root.join("supervisor.d");
    std::fs::create_dir_all(&dir).expect("mkdir");
    for (name, port, config) in instances {
        let home = root.join(name);
        std::fs::create_dir_all(&home).expect("mkdir");
        std::fs::write(home.join("openclaw.json"), config).expect("write config");
        std::fs::write(
            dir.join(format!("{name}.yaml")),
            format!(
                "command: {}\nport: {port}\nstate_dir: {}\nconfig: {}\n",
                env!("CARGO_BIN_EXE_openclaw-gateway-sim"),
                home.join("state").display(),
                home.join("openclaw.json").display()
            ),
        )
        .expect("write declaration");
    }
    dir
}

#[test]
fn check_deep_fails_on_a_config_openclaw_refuses_naming_the_key() {
    let home = home();
    let sound = |name: &str| {
        format!(
            "{{ gateway: {{ mode: 'local' }}, logging: {{ file: '{}' }} }}",
            home.path().join(name).join("gateway.log").display()
        )
    };
    let dir = sim_set(
        home.path(),
        &[
            ("main", 18789, "{ gateway: { mode: 'local', wibble: 1 } }"),
            ("other", 19789, &sound("other")),
        ],
    );
    let dir = dir.to_str().expect("utf-8 path");
    // Without --deep the set is sound: the isolation check cannot know.
    let plain = check(home.path(), &[dir], &[]);
    assert_eq!(plain.code, 0, "{}{}", plain.stdout, plain.stderr);

    let run = check(home.path(), &["--deep", dir], &[]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let main_config = home.path().join("main/openclaw.json");
    for words in [
        format!(
            "refused: openclaw refuses main's config {} (its gateway would exit 78):\n  gateway: Unrecognized key: \"wibble\"\n",
            canonical(&main_config)
        ),
        "openclaw accepts other's config".to_string(),
        "deep: 1 config refused by openclaw".to_string(),
    ] {
        assert!(
            run.stdout.contains(&words),
            "`{words}` not in:\n{}",
            run.stdout
        );
    }

    let json = check(home.path(), &["--deep", "--json", dir], &[]);
    assert_eq!(json.code, 1, "{}{}", json.stdout, json.stderr);
    let report: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(report["sound"], false);
    let deep = report["deep"].as_array().expect("deep verdicts");
    let main = deep
        .iter()
        .find(|deep| deep["instance"] == "main")
        .expect("main's verdict");
    assert_eq!(main["verdict"], "invalid");
    assert_eq!(
        main["reasons"],
        serde_json::json!(["gateway: Unrecognized key: \"wibble\""])
    );

    // Fixed: the deep check passes.
    std::fs::write(&main_config, sound("main")).expect("fix the config");
    let fixed = check(home.path(), &["--deep", dir], &[]);
    assert_eq!(fixed.code, 0, "{}{}", fixed.stdout, fixed.stderr);
    assert!(
        fixed
            .stdout
            .contains("deep: no config refused among 2 instances"),
        "{}",
        fixed.stdout
    );
}

#[test]
fn check_deep_reports_a_command_that_gives_no_verdict_without_failing() {
    let home = home();
    let dir = sim_set(
        home.path(),
        &[("main", 18789, "{ gateway: { mode: 'local' } }")],
    );
    // Not openclaw: `true` answers nothing at all.
    let yaml = dir.join("main.yaml");
    let text = std::fs::read_to_string(&yaml).expect("read");
    let text = text.replace(env!("CARGO_BIN_EXE_openclaw-gateway-sim"), "/bin/true");
    std::fs::write(&yaml, text).expect("write");
    let run = check(home.path(), &["--deep", dir.to_str().expect("utf-8")], &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(
            "warning: main's config was not validated: `config validate --json` exited 0 and printed nothing"
        ),
        "{}",
        run.stdout
    );
}

#[test]
fn check_deep_kills_a_validation_that_overruns_its_timeout() {
    let home = home();
    let dir = sim_set(
        home.path(),
        &[("main", 18789, "{ gateway: { mode: 'local' } }")],
    );
    let tag = format!("check-deep-timeout-{}", std::process::id());
    let run = check(
        home.path(),
        &["--deep", "--timeout", "1s", dir.to_str().expect("utf-8")],
        &[
            ("OPENCLAW_SIM_VALIDATE_DELAY", "1h"),
            ("OPENCLAW_TEST_TAG", &tag),
        ],
    );
    // Whatever is left is killed before the verdict, so the test leaves nothing.
    let left = process_support::tagged("OPENCLAW_TEST_TAG", &tag);
    for pid in &left {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(*pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    assert!(left.is_empty(), "still running after check: {left:?}");
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(
            "warning: main's config was not validated: `config validate` did not finish in time"
        ),
        "{}",
        run.stdout
    );
}
