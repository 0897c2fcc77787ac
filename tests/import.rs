//! `openclaw-supervisor import` over a fake home: two profiles
//! (`~/.openclaw`, `~/.openclaw-rescue`) with their configs and the two user
//! units `openclaw gateway install` writes (their text as openclaw
//! 2026.9.6's `dist/systemd-unit-*.mjs` renders it), plus a system unit
//! under a fake root. The built binary runs with a cleared environment.
#![allow(clippy::disallowed_methods)] // A test starts the programs it tests.

#[path = "cli_support/mod.rs"]
mod cli_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use cli_support::{Run, file_names};

/// The secret each vendor unit carries in `Environment=`.
const SECRETS: [&str; 3] = [
    "tok-main-0123456789abcdef",
    "tok-rescue-0123456789abcdef",
    "tok-work-0123456789abcdef",
];

/// A unit as `openclaw gateway install` writes it for `profile`.
fn vendor_unit(home: &Path, profile: Option<&str>, port: u16, secret: &str) -> String {
    let suffix = profile.map(|p| format!("-{p}")).unwrap_or_default();
    let description = match profile {
        Some(p) => format!("OpenClaw Gateway (profile: {p})"),
        None => "OpenClaw Gateway".to_string(),
    };
    let state = home.join(format!(".openclaw{suffix}"));
    let profile_line = profile
        .map(|p| format!("Environment=OPENCLAW_PROFILE={p}\n"))
        .unwrap_or_default();
    format!(
        "[Unit]\nDescription={description}\nAfter=network-online.target\nWants=network-online.target\n\
StartLimitBurst=10\nStartLimitIntervalSec=300\n\n[Service]\n\
ExecStart=/opt/node/bin/node --max-old-space-size=4096 /opt/app/node_modules/openclaw/dist/index.js gateway --port {port}\n\
Restart=always\nRestartSec=5\nRestartPreventExitStatus=78\nTimeoutStopSec=330\nTimeoutStartSec=30\n\
SuccessExitStatus=0 143\nOOMPolicy=continue\nKillMode=mixed\n\
Environment=HOME={home}\nEnvironment=TMPDIR=/tmp\nEnvironment=NODE_OPTIONS=--max-old-space-size=4096\n\
{profile_line}Environment=OPENCLAW_STATE_DIR={state}\nEnvironment=OPENCLAW_CONFIG_PATH={state}/openclaw.json\n\
Environment=OPENCLAW_GATEWAY_PORT={port}\nEnvironment=OPENCLAW_SYSTEMD_UNIT=openclaw-gateway{suffix}.service\n\
Environment=\"OPENCLAW_GATEWAY_TOKEN={secret}\"\n\
Environment=OPENCLAW_SERVICE_MARKER=openclaw\nEnvironment=OPENCLAW_SERVICE_KIND=gateway\n\n\
[Install]\nWantedBy=default.target\n",
        home = home.display(),
        state = state.display(),
    )
}

/// A fake home with `~/.openclaw` and `~/.openclaw-rescue`, their configs
/// and their user units; returns (temp dir, canonical home).
fn fake_home() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let home = std::fs::canonicalize(dir.path())
        .expect("canonical")
        .join("home");
    let units = home.join(".config/systemd/user");
    std::fs::create_dir_all(&units).expect("mkdir units");
    for (profile, port, secret) in [
        (None, 18789, SECRETS[0]),
        (Some("rescue"), 19789, SECRETS[1]),
    ] {
        let suffix = profile.map(|p| format!("-{p}")).unwrap_or_default();
        let state = home.join(format!(".openclaw{suffix}"));
        std::fs::create_dir_all(&state).expect("mkdir state");
        std::fs::write(
            state.join("openclaw.json"),
            format!(
                "// JSON5, as openclaw reads it\n{{ gateway: {{ mode: \"local\", port: {port}, bind: \"loopback\" }}, }}\n"
            ),
        )
        .expect("config");
        std::fs::write(
            units.join(format!("openclaw-gateway{suffix}.service")),
            vendor_unit(&home, profile, port, secret),
        )
        .expect("unit");
    }
    (dir, home)
}

fn import(home: &Path, dir: &Path, root: &Path, extra: &[&str]) -> Run {
    Run::of(
        Command::new(env!("CARGO_BIN_EXE_openclaw-supervisor"))
            .arg("--dir")
            .arg(dir)
            .arg("import")
            .arg("--home")
            .arg(home)
            .arg("--systemd-root")
            .arg(root)
            .args(extra)
            .env_clear()
            .env("HOME", home),
    )
}

/// `words` are in the run's stdout.
fn says(run: &Run, words: &str) {
    assert!(
        run.stdout.contains(words),
        "`{words}` not in:\n{}",
        run.stdout
    );
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

#[test]
fn import_writes_one_checked_declaration_per_gateway_and_names_the_units() {
    let (temp, home) = fake_home();
    let dir = temp.path().join("supervisor.d");
    let run = import(&home, &dir, &temp.path().join("root"), &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);

    assert_eq!(file_names(&dir), ["main.yaml", "rescue.yaml"]);
    let main = read(&dir.join("main.yaml"));
    let rescue = read(&dir.join("rescue.yaml"));
    for (text, words) in [
        (
            &main,
            vec![
                "port: 18789".to_string(),
                format!("state_dir: \"{}/.openclaw\"", home.display()),
            ],
        ),
        (
            &rescue,
            vec![
                "port: 19789".to_string(),
                "profile: \"rescue\"".to_string(),
                "role: rescue".to_string(),
                "rescue_of: \"main\"".to_string(),
                format!(
                    "config: \"{}/.openclaw-rescue/openclaw.json\"",
                    home.display()
                ),
            ],
        ),
    ] {
        for word in words {
            assert!(text.contains(&word), "{word} in\n{text}");
        }
    }
    assert!(!main.contains("role:"), "main is not a rescue:\n{main}");

    // The same check `check` runs, in-process: sound, with both instances.
    says(&run, "sound: 2 instances, no conflicts");
    says(&run, "rescue    rescue   19789");
    let checked = Command::new(env!("CARGO_BIN_EXE_openclaw-supervisor"))
        .arg("check")
        .arg(&dir)
        .env_clear()
        .env("HOME", &home)
        .output()
        .expect("check runs");
    assert_eq!(checked.status.code(), Some(0), "`check` agrees");

    // The commands to disable both vendor units, printed after the check.
    let check_at = run.stdout.find("sound:").expect("check printed");
    for command in [
        "systemctl --user disable --now openclaw-gateway.service",
        "systemctl --user disable --now openclaw-gateway-rescue.service",
    ] {
        let at = run
            .stdout
            .find(command)
            .unwrap_or_else(|| panic!("{command}\n{}", run.stdout));
        assert!(at > check_at, "{command} comes after the check");
    }
    says(&run, "two supervisors never run one gateway");
}

#[test]
fn dry_run_writes_nothing() {
    let (temp, home) = fake_home();
    let dir = temp.path().join("supervisor.d");
    let run = import(&home, &dir, &temp.path().join("root"), &["--dry-run"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(!dir.exists(), "the declarations dir is not even created");
    says(&run, "would write");
    says(&run, "nothing written");
    says(
        &run,
        "systemctl --user disable --now openclaw-gateway-rescue.service",
    );
}

#[test]
fn no_secret_from_the_units_is_copied_or_printed() {
    let (temp, home) = fake_home();
    let root = temp.path().join("root");
    let system = root.join("etc/systemd/system");
    std::fs::create_dir_all(&system).expect("mkdir system units");
    std::fs::write(
        system.join("openclaw-gateway-work.service"),
        vendor_unit(&home, Some("work"), 20789, SECRETS[2]),
    )
    .expect("system unit");
    let dir = temp.path().join("supervisor.d");
    let dry = import(&home, &dir, &root, &["--dry-run"]);
    let run = import(&home, &dir, &root, &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let mut everything = format!("{}{}{}{}", dry.stdout, dry.stderr, run.stdout, run.stderr);
    for name in ["main", "rescue", "work"] {
        let text = read(&dir.join(format!("{name}.yaml")));
        assert!(
            text.contains("OPENCLAW_GATEWAY_TOKEN"),
            "the variable is named:\n{text}"
        );
        everything.push_str(&text);
    }
    for secret in SECRETS {
        assert!(
            !everything.contains(secret),
            "{secret} leaked:\n{everything}"
        );
    }
    // The system unit is imported too, and its own command printed.
    assert!(read(&dir.join("work.yaml")).contains("port: 20789"));
    says(
        &run,
        "\n  systemctl disable --now openclaw-gateway-work.service\n",
    );
}

#[test]
fn an_existing_declaration_is_never_overwritten() {
    let (temp, home) = fake_home();
    let dir = temp.path().join("supervisor.d");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let mine = "port: 30000\n";
    std::fs::write(dir.join("rescue.yaml"), mine).expect("existing");
    let run = import(&home, &dir, &temp.path().join("root"), &[]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("refusing to overwrite") && run.stderr.contains("rescue.yaml"),
        "{}",
        run.stderr
    );
    assert_eq!(read(&dir.join("rescue.yaml")), mine, "left as it was");
    assert!(
        !dir.join("main.yaml").exists(),
        "nothing else written either"
    );
}

#[test]
fn two_gateways_that_would_be_one_instance_are_refused_before_anything_is_written() {
    let (temp, home) = fake_home();
    for profile in ["Work", "work"] {
        let state = home.join(format!(".openclaw-{profile}"));
        std::fs::create_dir_all(&state).expect("mkdir state");
        std::fs::write(
            state.join("openclaw.json"),
            "{ gateway: { mode: \"local\" } }\n",
        )
        .expect("config");
    }
    let dir = temp.path().join("supervisor.d");
    let run = import(&home, &dir, &temp.path().join("root"), &[]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("would both be instance `work`"),
        "{}",
        run.stderr
    );
    let written: Vec<_> = std::fs::read_dir(&dir)
        .map(|entries| entries.flatten().map(|entry| entry.path()).collect())
        .unwrap_or_default();
    assert!(written.is_empty(), "nothing written: {written:?}");
}

#[test]
fn a_unit_profile_that_is_no_name_imports_as_the_default_profile_inside_the_dir() {
    let (temp, home) = fake_home();
    let unit = home.join(".config/systemd/user/openclaw-gateway.service");
    let text = read(&unit).replace(
        "[Service]\n",
        "[Service]\nEnvironment=OPENCLAW_PROFILE=../../escaped\n",
    );
    assert!(text.contains("OPENCLAW_PROFILE=../../escaped"), "{text}");
    std::fs::write(&unit, text).expect("unit");
    let dir = temp.path().join("supervisor.d");
    let run = import(&home, &dir, &temp.path().join("root"), &[]);
    assert!(
        !dir.join("../../escaped.yaml").exists(),
        "{}{}",
        run.stdout,
        run.stderr
    );
    assert!(
        dir.join("main.yaml").exists(),
        "{}{}",
        run.stdout,
        run.stderr
    );
}
