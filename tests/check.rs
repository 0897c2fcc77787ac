//! `openclaw-supervisor check`, run as the built binary on the shipped
//! declarations and on each example set, in a controlled environment: a
//! fresh HOME and nothing else inherited.
//!
//! Here: the report itself (text and JSON), the directory's choice, the
//! shipped and annotated declarations. `check/conflicts.rs`: the conflicts
//! and warnings, and one verdict with start and reload; `check/errors.rs`:
//! files and commands that cannot be used; `check/deep.rs`: `--deep`;
//! `check/channels.rs`: shared channel credentials, never printed.
#![allow(clippy::disallowed_methods)] // A test starts the programs it tests.

#[path = "cli_support/mod.rs"]
mod cli_support;
#[path = "process_support/mod.rs"]
mod process_support;

#[path = "check/channels.rs"]
mod channels;
#[path = "check/conflicts.rs"]
mod conflicts;
#[path = "check/deep.rs"]
mod deep;
#[path = "check/errors.rs"]
mod errors;

use std::path::{Path, PathBuf};
use std::process::Command;

use cli_support::Run;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Run `check` with `args`, HOME set to `home` and no other environment.
fn check(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    Run::of(
        Command::new(env!("CARGO_BIN_EXE_openclaw-supervisor"))
            .arg("check")
            .args(args)
            .env_clear()
            .env("HOME", home)
            .envs(env.iter().copied()),
    )
}

fn home() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp home")
}

fn canonical(path: &Path) -> String {
    std::fs::canonicalize(path)
        .expect("exists")
        .display()
        .to_string()
}

#[test]
fn the_shipped_declarations_are_sound() {
    let home = home();
    let dir = repo("supervisor.d");
    let run = check(home.path(), &[dir.to_str().expect("utf-8 path")], &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let home = canonical(home.path());
    for words in [
        "main      default  18789  declaration  18789..18899",
        "rescue    rescue   19789  declaration  19789..19899",
        &format!("main      state dir  {home}/.openclaw\n"),
        &format!("rescue    state dir  {home}/.openclaw-rescue\n"),
        &format!("rescue    workspace  {home}/.openclaw-rescue/workspace\n"),
        "/tmp/openclaw/openclaw-rescue-{date}.log",
        "sound: 2 instances, no conflicts",
    ] {
        assert!(
            run.stdout.contains(words),
            "`{words}` not in:\n{}",
            run.stdout
        );
    }
    // No config exists in the fresh home: a warning, not a conflict.
    assert!(
        run.stdout.contains("does not exist: the gateway exits 78"),
        "{}",
        run.stdout
    );
}

#[test]
fn the_global_dir_option_and_its_variable_choose_the_directory() {
    let home = home();
    let dir = repo("supervisor.d");
    let dir = dir.to_str().expect("utf-8 path");
    let by_option = check(home.path(), &["--dir", dir], &[]);
    assert_eq!(
        by_option.code, 0,
        "{}{}",
        by_option.stdout, by_option.stderr
    );
    let by_variable = check(home.path(), &[], &[("OPENCLAW_SUPERVISOR_DIR", dir)]);
    assert_eq!(
        by_variable.code, 0,
        "{}{}",
        by_variable.stdout, by_variable.stderr
    );
    assert_eq!(by_option.stdout, by_variable.stdout);
}
#[test]
fn json_output_is_the_whole_report() {
    let home = home();
    let dir = repo("examples/guide-20-port-spacing");
    let run = check(
        home.path(),
        &[dir.to_str().expect("utf-8 path"), "--json"],
        &[],
    );
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("stdout is JSON");
    assert_eq!(report["sound"], false);
    assert_eq!(report["instances"][0]["name"], "main");
    assert_eq!(report["instances"][1]["port"], 18809);
    assert_eq!(report["instances"][1]["port_source"], "declaration");
    assert_eq!(
        report["instances"][1]["port_block"],
        serde_json::json!([18809, 18919])
    );
    assert_eq!(report["problems"][0]["resource"], "ports");
    assert_eq!(
        report["problems"][0]["instances"],
        serde_json::json!(["main", "rescue"])
    );
    assert_eq!(report["problems"][0]["shared"], "18809..18899");
    assert!(
        report["problems"][0]["fix"]
            .as_str()
            .is_some_and(|fix| fix.starts_with("move rescue to 19789")),
        "{}",
        report["problems"][0]
    );
    assert_eq!(report["file_errors"], serde_json::json!([]));

    let sound = check(
        home.path(),
        &[repo("supervisor.d").to_str().expect("utf-8"), "--json"],
        &[],
    );
    assert_eq!(sound.code, 0);
    let report: serde_json::Value = serde_json::from_str(&sound.stdout).expect("stdout is JSON");
    assert_eq!(report["sound"], true);
}

#[test]
fn a_missing_directory_exits_2() {
    let home = home();
    let missing = home.path().join("nope");
    let run = check(home.path(), &[missing.to_str().expect("utf-8 path")], &[]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .contains("cannot read the declarations directory"),
        "{}",
        run.stderr
    );
    let json = check(
        home.path(),
        &[missing.to_str().expect("utf-8 path"), "--json"],
        &[],
    );
    assert_eq!(json.code, 2);
    let report: serde_json::Value = serde_json::from_str(&json.stdout).expect("stdout is JSON");
    assert_eq!(report["sound"], false);
}
#[test]
fn the_annotated_declaration_is_valid_beside_its_main() {
    let home = home();
    let dir = home.path().join("sup");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::copy(repo("examples/annotated.yaml"), dir.join("annotated.yaml")).expect("copy");
    std::fs::copy(repo("supervisor.d/main.yaml"), dir.join("main.yaml")).expect("copy");
    let run = check(home.path(), &[dir.to_str().expect("utf-8 path")], &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("annotated  annotated  28789"),
        "{}",
        run.stdout
    );
}

#[test]
fn openclaw_home_replaces_home() {
    let home = home();
    let openclaw_home = home.path().join("oc");
    std::fs::create_dir(&openclaw_home).expect("mkdir");
    let dir = repo("supervisor.d");
    let run = check(
        home.path(),
        &[dir.to_str().expect("utf-8 path")],
        &[("OPENCLAW_HOME", openclaw_home.to_str().expect("utf-8 path"))],
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let expected = format!(
        "main      state dir  {}/.openclaw\n",
        canonical(&openclaw_home)
    );
    assert!(run.stdout.contains(&expected), "{}", run.stdout);
}
