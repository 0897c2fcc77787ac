//! The conflicts `check` finds: each example set's one conflict, ports an
//! OpenClaw config sets, the ephemeral range, host-wide Tailscale routes
//! and shared tokens; and one verdict with `start` and `reload`.

use std::path::{Path, PathBuf};

use crate::{canonical, check, home, repo};

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
