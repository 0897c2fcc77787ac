//! Fitting the host: the declaration schema, completions, the man page and
//! the systemd unit.

use std::path::{Path, PathBuf};
use std::process::Command;

const SUPERVISOR: &str = env!("CARGO_BIN_EXE_openclaw-supervisor");

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(args: &[&str]) -> std::process::Output {
    Command::new(SUPERVISOR)
        .args(args)
        .current_dir(repo())
        .output()
        .expect("run openclaw-supervisor")
}

fn yaml_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            yaml_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            found.push(path);
        }
    }
}

#[test]
fn the_committed_schema_is_the_generated_one() {
    let committed: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("schema/declaration.schema.json"))
            .expect("schema/declaration.schema.json is committed"),
    )
    .expect("the committed schema is JSON");
    let output = run(&["schema"]);
    assert!(output.status.success());
    let printed: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(printed, openclaw_supervisor::declaration::json_schema());
    assert_eq!(
        committed, printed,
        "regenerate it: cargo run -- schema > schema/declaration.schema.json"
    );
}

#[test]
fn every_shipped_and_example_declaration_validates_against_the_schema() {
    let schema = openclaw_supervisor::declaration::json_schema();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let mut files = Vec::new();
    yaml_files(&repo().join("supervisor.d"), &mut files);
    yaml_files(&repo().join("examples"), &mut files);
    assert!(files.len() >= 10, "found {files:?}");
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read");
        let value: serde_json::Value = serde_saphyr::from_str(&text).expect("YAML");
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", file.display());
        if file.starts_with(repo().join("supervisor.d")) {
            assert!(
                text.contains("yaml-language-server: $schema="),
                "{} carries the schema comment for editors",
                file.display()
            );
        }
    }
    // And the schema does reject what the parser rejects.
    for bad in [
        "nope: 1\n",
        "port: \"x\"\n",
        "restart: { policy: sometimes }\n",
        "stop: { timeout: 10 }\n",
    ] {
        let value: serde_json::Value = serde_saphyr::from_str(bad).expect("YAML");
        assert!(!validator.is_valid(&value), "the schema accepts {bad:?}");
    }
}

#[test]
fn completions_generate_for_each_shell() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let output = run(&["completions", shell]);
        assert!(output.status.success(), "{shell}");
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(text.contains("openclaw-supervisor"), "{shell}: {text}");
        assert!(text.contains("check"), "{shell} completes subcommands");
    }
}

#[test]
fn the_man_page_renders() {
    let output = run(&["man"]);
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains(".TH openclaw-supervisor 1"));
    assert!(text.contains("install"));
}

#[test]
fn the_unit_from_install_print_passes_systemd_analyze_verify() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = run(&["--dir", "supervisor.d", "install", "--print"]);
    assert!(output.status.success());
    let unit = String::from_utf8(output.stdout).expect("UTF-8");
    for line in [
        "Type=notify",
        "KillMode=mixed",
        "ExecReload=/bin/kill -HUP $MAINPID",
    ] {
        assert!(unit.contains(line), "{line} in {unit}");
    }
    assert!(unit.contains(&format!("ExecStart={SUPERVISOR} --dir ")));
    let path = dir.path().join("openclaw-supervisor.service");
    std::fs::write(&path, &unit).expect("write the unit");
    let Ok(verify) = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
    else {
        eprintln!("systemd-analyze is not installed here; .ci/run installs it");
        return;
    };
    assert!(
        verify.status.success(),
        "systemd-analyze verify: {}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
}

#[test]
fn install_writes_the_unit_and_enables_nothing() {
    let home = tempfile::tempdir().expect("temp dir");
    let output = Command::new(SUPERVISOR)
        .args(["--dir", "supervisor.d", "install", "--user"])
        .current_dir(repo())
        .env("HOME", home.path())
        .output()
        .expect("run install");
    assert!(output.status.success(), "{output:?}");
    let path = home
        .path()
        .join(".config/systemd/user/openclaw-supervisor.service");
    let unit = std::fs::read_to_string(&path).expect("the unit was written");
    assert!(unit.contains("WantedBy=default.target"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("systemctl --user enable --now openclaw-supervisor.service"));
    assert!(stdout.contains("nothing was enabled"));
}
