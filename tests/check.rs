//! `openclaw-supervisor check`, run as the built binary on the shipped
//! declarations and on each example set, in a controlled environment: a
//! fresh HOME and nothing else inherited.
#![allow(clippy::disallowed_methods)] // A test starts the programs it tests.

#[path = "cli_support/mod.rs"]
mod cli_support;
#[path = "process_support/mod.rs"]
mod process_support;

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

/// (example set, words that must appear in its one conflict)
const EXAMPLES: &[(&str, &[&str])] = &[
    (
        "guide-20-port-spacing",
        &[
            "conflict: ports: main's block 18789..18899 and rescue's block 18809..18919 overlap at 18809..18899",
            "only 20 apart",
            "fix: move rescue to 19789 (`port: 19789` in rescue.yaml)",
            "the guide's 20-port spacing is not enough",
        ],
    ),
    (
        "hashed-default-ports",
        &[
            "main      main     23592  profile hash",
            "rescue    rescue   23532  profile hash",
            "fnv1a32(profile) % 40000): main 23592 and rescue 23532, only 60 apart",
            "overlap at 23592..23642",
            "fix: set `port:` in both declarations, e.g. `port: 18789` in main.yaml and `port: 19789` in rescue.yaml",
        ],
    ),
    (
        "symlinked-state-dir",
        &[
            "conflict: state dir: main and rescue both use $EXAMPLE/state/main",
            "(`state_dir: state-link` in rescue.yaml reaches it through a symlink)",
            "so their config, default workspace and TMPDIR, which default to paths inside it, are shared too",
            "fix: change `state_dir: state-link` in rescue.yaml to a path no other instance uses, or remove it: profile `rescue` alone gives ~/.openclaw-rescue",
        ],
    ),
    (
        "workspace-in-other-state-dir",
        &[
            "conflict: workspace: rescue's workspace $HOME/.openclaw/workspace-rescue is inside main's state dir $HOME/.openclaw",
            "the older guide's `~/.openclaw/workspace-<profile>` layout",
            "fix: move rescue's workspace out of $HOME/.openclaw: remove `workspace:` from rescue.yaml (the default $HOME/.openclaw-rescue/workspace is rescue's own)",
        ],
    ),
    (
        "copied-rescue",
        &[
            "conflict: telegram bot token: main's account `default` (channels.telegram.botToken in $EXAMPLE/state/main/openclaw.json) and rescue's account `default` (channels.telegram.botToken in $EXAMPLE/state/rescue/openclaw.json) resolve to the same bot token",
            "fix: create a second bot for rescue with BotFather and put its token in rescue's config $EXAMPLE/state/rescue/openclaw.json",
        ],
    ),
    (
        "shared-default-log",
        &[
            "conflict: log file: main and staging both write /tmp/openclaw/openclaw-{date}.log",
            "openclaw names its log after the profile (both use the default profile), not after the state dir",
            "fix: set `logging.file` in staging's OpenClaw config $HOME/.openclaw-staging/openclaw.json",
        ],
    ),
];

#[test]
fn each_example_set_fails_with_its_conflict() {
    let mut failures = Vec::new();
    for (example, words) in EXAMPLES {
        let home = home();
        let dir = repo(&format!("examples/{example}"));
        let run = check(home.path(), &[dir.to_str().expect("utf-8 path")], &[]);
        if run.code != 1 {
            failures.push(format!(
                "{example}: exit {}\n{}{}",
                run.code, run.stdout, run.stderr
            ));
            continue;
        }
        let conflicts = run.stdout.matches("conflict: ").count();
        if conflicts != 1 {
            failures.push(format!("{example}: {conflicts} conflicts\n{}", run.stdout));
        }
        for words in *words {
            let words = words
                .replace("$HOME", &canonical(home.path()))
                .replace("$EXAMPLE", &canonical(&dir));
            if !run.stdout.contains(&words) {
                failures.push(format!("{example}: `{words}` not in:\n{}", run.stdout));
            }
        }
        if !run
            .stdout
            .contains("conflicts: 1 problem among 2 instances")
        {
            failures.push(format!("{example}: no summary line:\n{}", run.stdout));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
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
fn a_broken_file_exits_2_naming_file_line_column_and_key_and_the_rest_is_checked() {
    let home = home();
    let dir = home.path().join("sup");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::write(dir.join("main.yaml"), "port: 18789\n").expect("write");
    std::fs::write(
        dir.join("rescue.yaml"),
        "port: 18799\nprobes:\n  liveness: { evry: 10s }\n",
    )
    .expect("write");
    std::fs::write(dir.join("other.yaml"), "port: 18800\n").expect("write");
    let run = check(home.path(), &[dir.to_str().expect("utf-8 path")], &[]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    let expected = format!(
        "error: {}:3:15: `probes.liveness.evry`: unknown key `evry`: did you mean `every`?",
        dir.join("rescue.yaml").display()
    );
    assert!(
        run.stdout.contains(&expected),
        "`{expected}` not in:\n{}",
        run.stdout
    );
    // The good files are still checked against each other.
    assert!(
        run.stdout.contains("conflict: ports: main's block"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("unreadable: 1 file could not be used"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_probe_block_start_would_refuse_is_refused_by_check_too() {
    // `failures` has no meaning for the startup probe: the daemon refused
    // it while `check` passed it (two sets of probe rules that disagreed).
    let home = home();
    let dir = home.path().join("sup");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::write(
        dir.join("main.yaml"),
        "port: 18789\nprobes:\n  startup:\n    failures: 2\n",
    )
    .expect("write");
    let run = check(home.path(), &[dir.to_str().expect("utf-8 path")], &[]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    let expected = format!(
        "error: {}:4:5: `probes.startup.failures`: `failures` has no meaning for the startup probe",
        dir.join("main.yaml").display()
    );
    assert!(
        run.stdout.contains(&expected),
        "`{expected}` not in:\n{}",
        run.stdout
    );
}

#[test]
fn a_command_that_cannot_run_is_an_error_and_one_not_on_path_a_warning() {
    let home = home();
    let dir = home.path().join("sup");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::write(dir.join("main.yaml"), "port: 18789\ncommand: ../gw\n").expect("write");
    std::fs::write(
        dir.join("rescue.yaml"),
        "profile: rescue\nport: 19789\ncommand: no-such-gateway\n",
    )
    .expect("write");
    let run = check(home.path(), &[dir.to_str().expect("utf-8 path")], &[]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    let gw = home.path().join("gw");
    for words in [
        format!(
            "error: {}: `command`: instance `main`: command {} does not exist",
            dir.join("main.yaml").display(),
            canonical(home.path()) + "/gw"
        ),
        "command `no-such-gateway` not found on PATH".to_string(),
    ] {
        assert!(
            run.stdout.contains(&words),
            "`{words}` not in:\n{}",
            run.stdout
        );
    }
    // Made executable, it passes.
    std::fs::write(&gw, "#!/bin/sh\n").expect("write gw");
    let executable: std::fs::Permissions = std::os::unix::fs::PermissionsExt::from_mode(0o755);
    std::fs::set_permissions(&gw, executable).expect("chmod");
    let run = check(home.path(), &[dir.to_str().expect("utf-8 path")], &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
}

#[test]
fn a_notify_command_that_cannot_run_is_a_warning() {
    let home = home();
    let dir = home.path().join("sup");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::write(
        dir.join("main.yaml"),
        "port: 18789\nnotify: { command: [/nonexistent/ntfy-send, --token, s3cret] }\n",
    )
    .expect("write");
    let run = check(home.path(), &[dir.to_str().expect("utf-8 path")], &[]);
    assert_eq!(
        run.code, 0,
        "a warning, not an error: {}{}",
        run.stdout, run.stderr
    );
    assert!(
        run.stdout.contains(
            "warning: main: notify: command /nonexistent/ntfy-send does not exist: its runs would fail"
        ),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("s3cret"), "{}", run.stdout);
}

#[test]
fn a_broken_openclaw_config_exits_2_naming_its_line_and_column() {
    let home = home();
    let state = home.path().join(".openclaw");
    std::fs::create_dir(&state).expect("mkdir");
    std::fs::write(
        state.join("openclaw.json"),
        "{\n  gateway: { port: 18789 \n}\n",
    )
    .expect("write");
    let dir = repo("supervisor.d");
    let run = check(home.path(), &[dir.to_str().expect("utf-8 path")], &[]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    let config = canonical(&state.join("openclaw.json"));
    assert!(
        run.stdout
            .contains(&format!("error: {config}:4:1: EOF parsing object")),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("instance `main`"), "{}", run.stdout);
}

#[test]
fn ports_set_in_the_openclaw_config_are_checked() {
    let home = home();
    let state = home.path().join(".openclaw");
    std::fs::create_dir(&state).expect("mkdir");
    // main's browser talks to a Chrome inside rescue's port block.
    std::fs::write(
        state.join("openclaw.json"),
        "// JSON5\n{ gateway: { mode: 'local' }, browser: { cdpUrl: 'http://127.0.0.1:19792' }, }\n",
    )
    .expect("write");
    let dir = repo("supervisor.d");
    let run = check(home.path(), &[dir.to_str().expect("utf-8 path")], &[]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("19792 (browser.cdpUrl)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("conflict: ports: main's `browser.cdpUrl` port 19792 is in rescue's port block 19789..19899"),
        "{}",
        run.stdout
    );
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

#[test]
fn a_port_block_in_the_ephemeral_range_is_warned_about_with_a_fix() {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .expect("the kernel's ephemeral port range");
    let low: u32 = text
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a number");
    let home = home();
    let dir = home.path().join("sup");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let port = low + 1000;
    std::fs::write(dir.join("work.yaml"), format!("port: {port}\n")).expect("write");
    let run = check(home.path(), &["--dir", dir.to_str().expect("utf-8")], &[]);
    assert_eq!(run.code, 0, "a warning, not a conflict: {}", run.stdout);
    for words in [
        format!("warning: work: ports: work's ports {port}..{}", port + 110),
        format!("lie in the ephemeral port range {low}.."),
        format!("fix: move work below {low} (`port: "),
        format!("net.ipv4.ip_local_reserved_ports={port}-{}", port + 110),
    ] {
        assert!(
            run.stdout.contains(&words),
            "`{words}` not in:\n{}",
            run.stdout
        );
    }
}

#[test]
fn two_tailscale_routes_conflict_and_shared_tokens_warn_without_showing_them() {
    let token = "tok-SECRETTOKEN-0123456789abcdef";
    let home = home();
    for (state, config) in [
        (
            ".openclaw",
            format!(
                "{{ gateway: {{ mode: 'local', tailscale: {{ mode: 'serve' }}, auth: {{ token: '{token}' }} }}, hooks: {{ enabled: true, token: '{token}' }} }}"
            ),
        ),
        (
            ".openclaw-rescue",
            "{ gateway: { mode: 'local', tailscale: { mode: 'funnel' } } }".to_string(),
        ),
    ] {
        let dir = home.path().join(state);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("openclaw.json"), config).expect("write config");
    }
    let dir = repo("supervisor.d");
    let dir = dir.to_str().expect("utf-8 path");
    // rescue's token comes from the environment its gateway inherits.
    let env = [("OPENCLAW_GATEWAY_TOKEN", token)];
    let text = check(home.path(), &[dir], &env);
    let json = check(home.path(), &[dir, "--json"], &env);
    for run in [&text, &json] {
        assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
        for words in [
            "main (tailscale serve) and rescue (tailscale funnel) both claim this host's Tailscale HTTPS port 443",
            "set `gateway.tailscale.mode: \\\"off\\\"` in rescue's OpenClaw config",
            "hooks token reuse: main's hooks.token equals its own gateway auth token (gateway.auth.token)",
            "main's hooks.token equals rescue's gateway auth token (OPENCLAW_GATEWAY_TOKEN)",
            "shared gateway token: main (gateway.auth.token) and rescue (OPENCLAW_GATEWAY_TOKEN)",
        ] {
            // JSON escapes the quotes the text shows as is.
            let words = if std::ptr::eq(run, &text) {
                words.replace("\\\"", "\"")
            } else {
                words.to_string()
            };
            assert!(
                run.stdout.contains(&words),
                "`{words}` not in:\n{}",
                run.stdout
            );
        }
        for output in [&run.stdout, &run.stderr] {
            assert!(!output.contains("tok-SECRET"), "a token leaks:\n{output}");
        }
    }
    let report: serde_json::Value = serde_json::from_str(&json.stdout).expect("stdout is JSON");
    assert_eq!(report["problems"][0]["resource"], "tailscale_route");
    assert_eq!(report["problems"][0]["shared"], "tailscale https:443");
}

/// The files `check` finds fault with, and the files `start` and then a
/// `reload` of the same set refuse: one verdict, held for every example set
/// and for a few broken sets besides.
#[test]
fn check_start_and_reload_give_one_verdict_on_every_example_set() {
    use openclaw_supervisor::{isolation, resolution, supervisor};
    use std::collections::{BTreeMap, BTreeSet};

    let home = home();
    let extra = home.path().join("extra");
    let broken_sets: &[(&str, &[(&str, &str)])] = &[
        (
            "startup-failures",
            &[
                (
                    "main.yaml",
                    "port: 18789\nprobes:\n  startup:\n    failures: 2\n",
                ),
                ("rescue.yaml", "profile: rescue\nport: 19789\n"),
            ],
        ),
        (
            "typo-beside-good",
            &[
                ("main.yaml", "port: 18789\n"),
                ("typo.yaml", "port: [\n"),
                (
                    "rescue.yaml",
                    "profile: rescue\nport: 19789\nrole: rescue\nrescue_of: typo\n",
                ),
            ],
        ),
        (
            "duplicate-name",
            &[
                ("main.yaml", "port: 18789\n"),
                ("copy.yaml", "name: main\nport: 19789\n"),
                ("other.yaml", "profile: other\nport: 20789\n"),
            ],
        ),
        (
            "tailscale-serve-twice",
            &[
                ("main.yaml", "port: 18789\nconfig: main.json\n"),
                ("main.json", "{ gateway: { tailscale: { mode: 'serve' } } }"),
                (
                    "rescue.yaml",
                    "profile: rescue\nport: 19789\nconfig: rescue.json\n",
                ),
                (
                    "rescue.json",
                    "{ gateway: { tailscale: { mode: 'serve' } } }",
                ),
            ],
        ),
        (
            "rescue-of-nothing",
            &[
                ("main.yaml", "port: 18789\n"),
                (
                    "rescue.yaml",
                    "profile: rescue\nport: 19789\nrole: rescue\nrescue_of: mian\n",
                ),
            ],
        ),
    ];
    let mut dirs: Vec<PathBuf> = vec![repo("supervisor.d")];
    for entry in std::fs::read_dir(repo("examples")).expect("examples/") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            dirs.push(path);
        }
    }
    for (name, files) in broken_sets {
        let dir = extra.join(name);
        std::fs::create_dir_all(&dir).expect("mkdir");
        for (file, text) in *files {
            std::fs::write(dir.join(file), text).expect("write");
        }
        dirs.push(dir);
    }
    dirs.sort();
    let mut env = BTreeMap::new();
    env.insert("HOME".to_string(), home.path().display().to_string());

    for dir in &dirs {
        let report = isolation::check_dir(dir, &env).expect("readable");
        let file_of: BTreeMap<&str, &Path> = report
            .effective
            .iter()
            .map(|e| (e.name.as_str(), e.file.as_path()))
            .collect();
        let check_bad: BTreeSet<PathBuf> = report
            .file_errors
            .iter()
            .map(|err| err.file().to_path_buf())
            .chain(report.problems.iter().flat_map(|problem| {
                problem
                    .instances
                    .iter()
                    .map(|name| file_of[name.as_str()].to_path_buf())
            }))
            .collect();

        let started = resolution::plan(resolution::scan(dir, &env), &BTreeMap::new());
        let start_bad: BTreeSet<PathBuf> =
            started.rejected.iter().map(|r| r.file.clone()).collect();
        assert_eq!(check_bad, start_bad, "{}: check and start", dir.display());
        assert_eq!(
            supervisor::start_verdict(&started, true).is_ok(),
            report.is_sound(),
            "{}: check and start --strict",
            dir.display()
        );
        assert!(started.standing.is_empty(), "{}", dir.display());

        // A reload of the unchanged set over what start runs.
        let files = started
            .wanted
            .iter()
            .map(|(name, e)| (name.clone(), e.file.clone()))
            .collect();
        let reloaded =
            resolution::plan(resolution::scan_keeping(dir, &env, &files), &started.wanted);
        let reload_bad: BTreeSet<PathBuf> =
            reloaded.rejected.iter().map(|r| r.file.clone()).collect();
        assert_eq!(check_bad, reload_bad, "{}: check and reload", dir.display());
        assert_eq!(reloaded.wanted, started.wanted, "{}", dir.display());
        assert!(reloaded.standing.is_empty(), "{}", dir.display());
    }
}

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

/// The fake token of the channel tests: never in any output.
const FAKE_TOKEN: &str = "123456:FAKE-not-a-real-token";

fn assert_no_token(run: &Run) {
    for part in [FAKE_TOKEN, "123456", "FAKE-not", "real-token"] {
        assert!(
            !run.stdout.contains(part) && !run.stderr.contains(part),
            "`{part}` printed:\n{}{}",
            run.stdout,
            run.stderr
        );
    }
}

/// `root/sup` with main (state dir `root/state/main`, port 18789) and rescue
/// (profile rescue, `root/state/rescue`, 19789, then `rescue_extra`), their
/// OpenClaw configs `main_config` and `rescue_config`: the declarations dir.
fn main_and_rescue(
    root: &Path,
    rescue_extra: &str,
    main_config: &str,
    rescue_config: &str,
) -> PathBuf {
    for dir in ["sup", "state/main", "state/rescue"] {
        std::fs::create_dir_all(root.join(dir)).expect("mkdir");
    }
    let sup = root.join("sup");
    let declarations = [
        (
            "main",
            format!("state_dir: {}/state/main\nport: 18789\n", root.display()),
        ),
        (
            "rescue",
            format!(
                "profile: rescue\nstate_dir: {}/state/rescue\nport: 19789\n{rescue_extra}",
                root.display()
            ),
        ),
    ];
    for ((name, declaration), config) in declarations.iter().zip([main_config, rescue_config]) {
        std::fs::write(sup.join(format!("{name}.yaml")), declaration).expect("write");
        std::fs::write(root.join(format!("state/{name}/openclaw.json")), config).expect("write");
    }
    sup
}

#[test]
fn a_shared_bot_token_is_refused_by_every_way_the_gateway_resolves_it_and_never_printed() {
    // (main's config, rescue's config, rescue's declared env, rescue's state .env, where rescue takes it)
    let config = |telegram: &str| {
        format!("{{ gateway: {{ mode: 'local' }}, channels: {{ telegram: {telegram} }} }}")
    };
    let cases: &[(&str, String, String, &str, &str, &str)] = &[
        (
            "botToken in both",
            config(&format!("{{ botToken: '{FAKE_TOKEN}' }}")),
            config(&format!("{{ botToken: '{FAKE_TOKEN}' }}")),
            "",
            "",
            "channels.telegram.botToken in",
        ),
        (
            "tokenFile and env",
            config("{ tokenFile: 'bot.token', botToken: 'ignored:other' }"),
            config("{ dmPolicy: 'pairing' }"),
            "env:\n  TELEGRAM_BOT_TOKEN: \"123456:FAKE-not-a-real-token\"\n",
            "",
            "TELEGRAM_BOT_TOKEN in the gateway's environment",
        ),
        (
            "state dir .env",
            config(&format!("{{ botToken: '{FAKE_TOKEN}' }}")),
            config("{}"),
            "",
            "TELEGRAM_BOT_TOKEN=123456:FAKE-not-a-real-token\n",
            "TELEGRAM_BOT_TOKEN in the gateway's environment",
        ),
        (
            "env SecretRef and config env block",
            config(&format!("{{ botToken: '{FAKE_TOKEN}' }}")),
            format!(
                "{{ env: {{ vars: {{ TG: '{FAKE_TOKEN}' }} }}, channels: {{ telegram: {{ botToken: {{ source: 'env', provider: 'default', id: 'TG' }} }} }} }}"
            ),
            "",
            "",
            "channels.telegram.botToken in",
        ),
        (
            "named account",
            config(&format!("{{ botToken: '{FAKE_TOKEN}' }}")),
            config(&format!(
                "{{ accounts: {{ ops: {{ botToken: '{FAKE_TOKEN}' }} }} }}"
            )),
            "",
            "",
            "channels.telegram.accounts.ops.botToken in",
        ),
    ];
    for (case, main_config, rescue_config, rescue_env, dotenv, rescue_source) in cases {
        let home = home();
        let root = std::path::PathBuf::from(canonical(home.path()));
        let sup = main_and_rescue(
            &root,
            &format!("role: rescue\nrescue_of: main\n{rescue_env}"),
            main_config,
            rescue_config,
        );
        std::fs::write(root.join("state/main/bot.token"), format!("{FAKE_TOKEN}\n"))
            .expect("write");
        if !dotenv.is_empty() {
            std::fs::write(root.join("state/rescue/.env"), dotenv).expect("write");
        }
        let dir = sup.to_str().expect("utf-8 path");
        let run = check(home.path(), &[dir], &[]);
        assert_eq!(run.code, 1, "{case}: {}{}", run.stdout, run.stderr);
        assert_no_token(&run);
        assert!(
            run.stdout
                .contains("conflict: telegram bot token: main's account `default`"),
            "{case}: {}",
            run.stdout
        );
        assert!(run.stdout.contains(rescue_source), "{case}: {}", run.stdout);
        assert!(
            run.stdout.contains("INSTANCE  CHANNEL   ACCOUNT  CREDENTIAL  COMPARED  FROM\nmain      telegram  default  bot token   yes       "),
            "{case}: {}",
            run.stdout
        );
        assert!(
            run.stdout
                .contains("fix: create a second bot for rescue with BotFather"),
            "{case}: {}",
            run.stdout
        );

        let run = check(home.path(), &[dir, "--json"], &[]);
        assert_eq!(run.code, 1, "{case}: {}{}", run.stdout, run.stderr);
        assert_no_token(&run);
        let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("stdout is JSON");
        assert_eq!(
            report["problems"][0]["resource"], "channel_credential",
            "{case}"
        );
        assert_eq!(
            report["problems"][0]["instances"],
            serde_json::json!(["main", "rescue"])
        );
        assert_eq!(report["instances"][0]["channels"][0]["channel"], "telegram");
        assert_eq!(report["instances"][0]["channels"][0]["checked"], true);
    }
}

#[test]
fn a_secret_ref_or_an_unreadable_token_file_is_not_checked_but_a_warning() {
    let home = home();
    let root = std::path::PathBuf::from(canonical(home.path()));
    main_and_rescue(
        &root,
        "",
        "{ gateway: { mode: 'local' }, channels: { telegram: { botToken: { source: 'file', provider: 'vault', id: '/telegram' } } } }",
        "{ gateway: { mode: 'local' }, channels: { telegram: { tokenFile: 'missing.token' } } }",
    );
    let run = check(
        home.path(),
        &[root.join("sup").to_str().expect("utf-8")],
        &[("TG", FAKE_TOKEN)],
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_no_token(&run);
    for words in [
        "warning: main: telegram account `default`: the bot token from channels.telegram.botToken in",
        "is not checked against the other instances: it is a SecretRef the supervisor does not resolve",
        "warning: rescue: telegram account `default`: the bot token from channels.telegram.tokenFile in",
        "is not checked against the other instances: the supervisor cannot read it",
    ] {
        assert!(
            run.stdout.contains(words),
            "`{words}` not in:\n{}",
            run.stdout
        );
    }
}

#[test]
fn a_zero_initial_backoff_passes_check_and_a_zero_cap_is_refused() {
    let home = home();
    let dir = home.path().join("sup");
    std::fs::create_dir(&dir).expect("mkdir");
    let file = dir.join("main.yaml");
    std::fs::write(&file, "port: 18789\nrestart:\n  backoff: { initial: 0s }\n").expect("write");
    let run = check(home.path(), &[dir.to_str().expect("utf-8 path")], &[]);
    assert!(
        !run.stdout.contains("error:") && !run.stdout.contains("backoff"),
        "{}{}",
        run.stdout,
        run.stderr
    );
    std::fs::write(
        &file,
        "port: 18789\nrestart:\n  backoff: { initial: 0s, max: 0s }\n",
    )
    .expect("write");
    let run = check(home.path(), &[dir.to_str().expect("utf-8 path")], &[]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    let expected = format!(
        "error: {}:3:27: `restart.backoff.max`: a zero cap turns a crash loop into a hot loop",
        file.display()
    );
    assert!(
        run.stdout.contains(&expected),
        "`{expected}` not in:\n{}",
        run.stdout
    );
}
