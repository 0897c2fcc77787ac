//! Fitting the host: the declaration schema, completions, the man page and
//! the systemd unit.
#![allow(clippy::disallowed_methods)] // A test starts the programs it tests.

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
        assert!(
            text.contains("COMPLETE") && text.contains(shell),
            "{shell}: the script calls back into the binary: {text}"
        );
    }
}

/// What `COMPLETE=fish openclaw-supervisor -- WORDS` answers, one
/// candidate per line, without the help after a tab.
fn complete(dir: Option<&Path>, env_dir: Option<&Path>, words: &[&str]) -> Vec<String> {
    let mut command = Command::new(SUPERVISOR);
    command
        .env("COMPLETE", "fish")
        .env_remove("OPENCLAW_SUPERVISOR_DIR")
        .current_dir(repo())
        .args(["--", "openclaw-supervisor"]);
    if let Some(dir) = dir {
        command.arg("--dir").arg(dir);
    }
    if let Some(env_dir) = env_dir {
        command.env("OPENCLAW_SUPERVISOR_DIR", env_dir);
    }
    let output = command.args(words).output().expect("run the completer");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| line.split('\t').next().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn completion_lists_the_declared_names() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, port) in [("alpha", 20111), ("bravo-2", 20222), ("charlie", 20333)] {
        std::fs::write(
            dir.path().join(format!("{name}.yaml")),
            format!("port: {port}\n"),
        )
        .expect("write a declaration");
    }
    let declared = ["alpha", "bravo-2", "charlie"];
    for command in [
        "status",
        "start",
        "stop",
        "restart",
        "logs",
        "events",
        "is-active",
    ] {
        let got = complete(Some(dir.path()), None, &[command, ""]);
        for name in declared {
            assert!(
                got.iter().any(|c| c == name),
                "{command}: {name} in {got:?}"
            );
        }
        assert!(
            !got.iter().any(|c| c == "main"),
            "{command}: the repo's supervisor.d is not the dir asked for: {got:?}"
        );
    }
    // A prefix narrows; the dir can come from the environment.
    assert_eq!(
        complete(None, Some(dir.path()), &["stop", "b"]),
        ["bravo-2"]
    );
    // Without --dir or the variable: ./supervisor.d (the repo's).
    let got = complete(None, None, &["status", ""]);
    assert!(
        got.iter().any(|c| c == "main") && got.iter().any(|c| c == "rescue"),
        "{got:?}"
    );
}

#[test]
fn the_man_page_renders() {
    let output = run(&["man"]);
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains(".TH openclaw-supervisor 1"));
    assert!(text.contains("install"));
}

/// The `openclaw-supervisor-X(1)` pages a page refers to.
fn references(page: &str) -> Vec<String> {
    page.split_whitespace()
        .filter_map(|word| {
            let name = word.replace("\\-", "-");
            let name = name.strip_suffix("(1)")?;
            name.starts_with("openclaw-supervisor-")
                .then(|| name.to_string())
        })
        .collect()
}

#[test]
fn every_page_the_main_page_refers_to_is_generated() {
    let out = tempfile::tempdir().expect("temp dir");
    let output = run(&["man", "--out", out.path().to_str().expect("UTF-8 path")]);
    assert!(output.status.success(), "{output:?}");
    let printed = String::from_utf8(run(&["man"]).stdout).expect("UTF-8");
    let written = std::fs::read_to_string(out.path().join("openclaw-supervisor.1"))
        .expect("the main page is written");
    assert_eq!(printed, written, "`man` prints the page `man --out` writes");
    let referred = references(&written);
    for expected in [
        "openclaw-supervisor-start",
        "openclaw-supervisor-status",
        "openclaw-supervisor-install",
    ] {
        assert!(
            referred.iter().any(|r| r == expected),
            "{expected} in {referred:?}"
        );
    }
    for page in &referred {
        let path = out.path().join(format!("{page}.1"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|_| {
            panic!("{page}(1) is referred to but {} is missing", path.display())
        });
        assert!(text.contains(&format!(".TH {page} 1")), "{page}: {text}");
    }
    assert!(
        !referred.iter().any(|r| r == "openclaw-supervisor-help"),
        "{referred:?}"
    );
}

#[test]
fn the_unit_from_install_print_passes_systemd_analyze_verify() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = run(&[
        "--dir",
        "supervisor.d",
        "install",
        "--print",
        "--allow-debug",
    ]);
    assert!(output.status.success(), "{output:?}");
    let unit = String::from_utf8(output.stdout).expect("UTF-8");
    for line in [
        "Type=notify",
        "KillMode=process",
        "ExecReload=/bin/kill -HUP $MAINPID",
    ] {
        assert!(unit.contains(line), "{line} in {unit}");
    }
    assert!(unit.contains(&format!("ExecStart={SUPERVISOR} start")));
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

/// The supervisor binary placed at `relative` under `root` (a hard link,
/// else a copy): `install` looks at its own path.
fn binary_at(root: &Path, relative: &str) -> PathBuf {
    let path = root.join(relative);
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("create its dir");
    if std::fs::hard_link(SUPERVISOR, &path).is_err() {
        std::fs::copy(SUPERVISOR, &path).expect("copy the binary");
    }
    path
}

/// Run `binary install ARGS` with a clean, known environment.
fn install(
    binary: &Path,
    home: &Path,
    env: &[(&str, &str)],
    args: &[&str],
) -> std::process::Output {
    Command::new(binary)
        .args(["--dir", "supervisor.d", "install"])
        .args(args)
        .current_dir(repo())
        .env_clear()
        .env("HOME", home)
        .envs(env.iter().copied())
        .output()
        .expect("run install")
}

#[test]
fn install_refuses_a_debug_build_and_says_what_to_do() {
    let root = tempfile::tempdir().expect("temp dir");
    let debug = binary_at(root.path(), "app/target/debug/openclaw-supervisor");
    let output = install(&debug, root.path(), &[], &["--user"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    for words in [
        "is a debug build",
        "cargo install --path .",
        "target/release",
        "--allow-debug",
    ] {
        assert!(stderr.contains(words), "{words:?} in {stderr}");
    }
    assert!(
        !root.path().join(".config/systemd/user").exists(),
        "nothing is written"
    );
    // --print too: it would print a unit that runs the debug build.
    assert!(
        !install(&debug, root.path(), &[], &["--print"])
            .status
            .success()
    );
    // The override accepts it.
    let output = install(&debug, root.path(), &[], &["--print", "--allow-debug"]);
    assert!(output.status.success(), "{output:?}");
}

#[test]
fn install_writes_the_unit_with_the_shells_environment_and_enables_nothing() {
    let root = tempfile::tempdir().expect("temp dir");
    let home = root.path().join("home");
    let binary = binary_at(root.path(), "bin/openclaw-supervisor");
    let path_var = "/opt/node 24/bin:/home/me/100%/bin:/usr/bin";
    let openclaw_home = "/srv/claw \"home\"$x";
    let output = install(
        &binary,
        &home,
        &[("PATH", path_var), ("OPENCLAW_HOME", openclaw_home)],
        &["--user"],
    );
    assert!(output.status.success(), "{output:?}");
    let unit_path = home.join(".config/systemd/user/openclaw-supervisor.service");
    let unit = std::fs::read_to_string(&unit_path).expect("the unit was written");
    let dir = repo().join("supervisor.d");
    for line in [
        "WantedBy=default.target".to_string(),
        format!("ExecStart={} start", binary.display()),
        r#"Environment="PATH=/opt/node 24/bin:/home/me/100%%/bin:/usr/bin""#.to_string(),
        r#"Environment="OPENCLAW_HOME=/srv/claw \"home\"$x""#.to_string(),
        format!(r#"Environment="OPENCLAW_SUPERVISOR_DIR={}""#, dir.display()),
    ] {
        assert!(unit.lines().any(|l| l == line), "{line} in\n{unit}");
    }
    for default in [
        "OPENCLAW_SUPERVISOR_STATE_DIR",
        "OPENCLAW_SUPERVISOR_SOCKET",
    ] {
        assert!(
            !unit.contains(default),
            "{default} is the default: not recorded"
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("nothing was enabled"), "{stdout}");
    for command in [
        "  systemctl --user daemon-reload\n",
        "  systemctl --user enable --now openclaw-supervisor\n",
        "  journalctl --user -u openclaw-supervisor -f\n",
    ] {
        assert!(stdout.contains(command), "{command:?} in {stdout}");
    }
}

#[test]
fn install_records_the_state_dir_and_socket_in_use() {
    let root = tempfile::tempdir().expect("temp dir");
    let binary = binary_at(root.path(), "bin/openclaw-supervisor");
    let state = root.path().join("state dir");
    let output = install(
        &binary,
        root.path(),
        &[("OPENCLAW_SUPERVISOR_SOCKET", "/run/claw/ctl.sock")],
        &["--print", "--state-dir", state.to_str().expect("UTF-8")],
    );
    assert!(output.status.success(), "{output:?}");
    let unit = String::from_utf8(output.stdout).expect("UTF-8");
    for line in [
        format!(
            r#"Environment="OPENCLAW_SUPERVISOR_STATE_DIR={}""#,
            state.display()
        ),
        r#"Environment="OPENCLAW_SUPERVISOR_SOCKET=/run/claw/ctl.sock""#.to_string(),
    ] {
        assert!(unit.lines().any(|l| l == line), "{line} in\n{unit}");
    }
    assert!(
        !unit.contains("PATH="),
        "no PATH in the shell, none recorded: {unit}"
    );
}

#[test]
fn install_system_prints_the_system_commands() {
    let root = tempfile::tempdir().expect("temp dir");
    let binary = binary_at(root.path(), "bin/openclaw-supervisor");
    // As after `sudo -E`: the user's session variables are still there.
    let session = [
        ("XDG_RUNTIME_DIR", "/run/user/1000"),
        ("XDG_STATE_HOME", "/home/alice/.local/state"),
    ];
    let output = install(&binary, root.path(), &session, &["--system", "--print"]);
    assert!(output.status.success(), "{output:?}");
    let unit = String::from_utf8(output.stdout).expect("UTF-8");
    assert!(unit.contains("WantedBy=multi-user.target"));
    // A system service has no user session: both are pinned, to the
    // system's places, never to the installing shell's session.
    assert!(
        unit.contains("Environment=\"OPENCLAW_SUPERVISOR_STATE_DIR=/var/lib/openclaw-supervisor\""),
        "{unit}"
    );
    assert!(
        unit.contains(
            "Environment=\"OPENCLAW_SUPERVISOR_SOCKET=/run/openclaw-supervisor/supervisor.sock\""
        ),
        "{unit}"
    );
    assert!(
        !unit.contains("/run/user/") && !unit.contains("/home/alice"),
        "{unit}"
    );
    // Given explicitly, they are kept.
    let output = install(
        &binary,
        root.path(),
        &[("OPENCLAW_SUPERVISOR_STATE_DIR", "/srv/oc")],
        &["--system", "--print"],
    );
    let unit = String::from_utf8(output.stdout).expect("UTF-8");
    assert!(
        unit.contains("Environment=\"OPENCLAW_SUPERVISOR_STATE_DIR=/srv/oc\""),
        "{unit}"
    );
}
