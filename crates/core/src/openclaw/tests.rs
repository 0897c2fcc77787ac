use std::path::Path;

use super::test_world::{Row, World, run_rows, show};
use super::*;

#[test]
fn the_hashed_profile_ports_match_openclaw() {
    let rows: &[(&str, u16)] = &[("main", 23592), ("rescue", 23532)];
    for (profile, port) in rows {
        assert_eq!(profile_port(profile), *port, "{profile}");
    }
}

#[test]
fn home_is_openclaw_home_then_home() {
    let rows: &[Row] = &[
        ("HOME", &[], "", &[], Ok("$ROOT/home")),
        (
            "OPENCLAW_HOME beats HOME",
            &[],
            "",
            &[("OPENCLAW_HOME", "$ROOT/oc")],
            Ok("$ROOT/oc"),
        ),
        (
            "the declaration's env sets OPENCLAW_HOME",
            &[],
            "env: { OPENCLAW_HOME: $ROOT/declared }",
            &[("OPENCLAW_HOME", "$ROOT/oc")],
            Ok("$ROOT/declared"),
        ),
        (
            "neither",
            &[],
            "",
            &[("HOME", "")],
            Err("neither OPENCLAW_HOME nor HOME is set"),
        ),
    ];
    run_rows(rows, |effective| show(&effective.home));
}

#[test]
fn profile_is_the_declaration_then_the_environment() {
    let rows: &[Row] = &[
        ("none", &[], "", &[], Ok("-")),
        ("declared", &[], "profile: rescue", &[], Ok("rescue")),
        (
            "declared beats env",
            &[],
            "profile: rescue",
            &[("OPENCLAW_PROFILE", "other")],
            Ok("rescue"),
        ),
        (
            "env",
            &[],
            "",
            &[("OPENCLAW_PROFILE", "other")],
            Ok("other"),
        ),
        (
            "`default` is the default profile",
            &[],
            "profile: default",
            &[],
            Ok("-"),
        ),
        (
            "a bad env profile",
            &[],
            "",
            &[("OPENCLAW_PROFILE", "no way")],
            Err("OPENCLAW_PROFILE=`no way` is not a valid profile name"),
        ),
    ];
    run_rows(rows, |effective| {
        effective.profile.clone().unwrap_or_else(|| "-".to_string())
    });
}

#[test]
fn state_dir_is_declaration_then_env_then_profile_default() {
    let rows: &[Row] = &[
        ("default profile", &[], "", &[], Ok("$ROOT/home/.openclaw")),
        (
            "named profile",
            &[],
            "profile: rescue",
            &[],
            Ok("$ROOT/home/.openclaw-rescue"),
        ),
        (
            "env beats profile",
            &[],
            "profile: rescue",
            &[("OPENCLAW_STATE_DIR", "$ROOT/env-state")],
            Ok("$ROOT/env-state"),
        ),
        (
            "declaration beats env",
            &[],
            "state_dir: $ROOT/declared",
            &[("OPENCLAW_STATE_DIR", "$ROOT/env-state")],
            Ok("$ROOT/declared"),
        ),
        (
            "`~` is home",
            &[],
            "state_dir: ~/s",
            &[],
            Ok("$ROOT/home/s"),
        ),
        (
            "relative is against the declaration's dir",
            &[],
            "state_dir: ../states/./main",
            &[],
            Ok("$ROOT/states/main"),
        ),
        (
            "`~` follows OPENCLAW_HOME",
            &[],
            "state_dir: ~/s",
            &[("OPENCLAW_HOME", "$ROOT/oc")],
            Ok("$ROOT/oc/s"),
        ),
    ];
    run_rows(rows, |effective| show(&effective.state_dir));
}

#[test]
fn a_symlinked_state_dir_is_compared_by_its_target() {
    let world = World::new(&[("real/keep", "")]);
    std::os::unix::fs::symlink(world.root.join("real"), world.root.join("home/.openclaw"))
        .expect("symlink");
    let effective = world.resolve("", &[]).expect("resolves");
    assert_eq!(effective.state_dir, world.root.join("real"));
    assert_eq!(effective.config_path, world.root.join("real/openclaw.json"));
    // Only a declared path is recorded as reached through a symlink.
    assert!(effective.via_symlink.is_empty());
    let effective = world
        .resolve("state_dir: ~/.openclaw\ntmpdir: ../real/tmp", &[])
        .expect("resolves");
    assert_eq!(effective.state_dir, world.root.join("real"));
    let keys: Vec<&str> = effective
        .via_symlink
        .iter()
        .map(|d| d.key.as_str())
        .collect();
    assert_eq!(keys, ["state_dir"]);
}

#[test]
fn config_path_is_declaration_then_env_then_state_dir() {
    let rows: &[Row] = &[
        (
            "default",
            &[],
            "",
            &[],
            Ok("$ROOT/home/.openclaw/openclaw.json"),
        ),
        (
            "follows the state dir",
            &[],
            "state_dir: $ROOT/s",
            &[],
            Ok("$ROOT/s/openclaw.json"),
        ),
        (
            "env",
            &[],
            "",
            &[("OPENCLAW_CONFIG_PATH", "$ROOT/env.json")],
            Ok("$ROOT/env.json"),
        ),
        (
            "declaration beats env",
            &[],
            "config: $ROOT/declared.json",
            &[("OPENCLAW_CONFIG_PATH", "$ROOT/env.json")],
            Ok("$ROOT/declared.json"),
        ),
    ];
    run_rows(rows, |effective| show(&effective.config_path));
}

const CONFIG_PORT: &[(&str, &str)] = &[(
    "home/.openclaw-rescue/openclaw.json",
    "{ gateway: { port: 30000 } }",
)];

#[test]
fn port_is_declaration_then_env_then_config_then_profile_hash_then_18789() {
    let rows: &[Row] = &[
        ("built-in", &[], "", &[], Ok("18789 built_in")),
        (
            "profile hash",
            &[],
            "profile: main",
            &[],
            Ok("23592 profile_hash"),
        ),
        (
            "profile hash",
            &[],
            "profile: rescue",
            &[],
            Ok("23532 profile_hash"),
        ),
        (
            "`default` has no hash",
            &[],
            "profile: default",
            &[],
            Ok("18789 built_in"),
        ),
        (
            "config beats hash",
            CONFIG_PORT,
            "profile: rescue",
            &[],
            Ok("30000 config"),
        ),
        (
            "env beats config",
            CONFIG_PORT,
            "profile: rescue",
            &[("OPENCLAW_GATEWAY_PORT", "31000")],
            Ok("31000 environment"),
        ),
        (
            "env as host:port",
            &[],
            "",
            &[("OPENCLAW_GATEWAY_PORT", "127.0.0.1:31001")],
            Ok("31001 environment"),
        ),
        (
            "declaration beats env",
            CONFIG_PORT,
            "profile: rescue\nport: 19789",
            &[("OPENCLAW_GATEWAY_PORT", "31000")],
            Ok("19789 declaration"),
        ),
        (
            "a bad env port",
            &[],
            "",
            &[("OPENCLAW_GATEWAY_PORT", "lots")],
            Err("OPENCLAW_GATEWAY_PORT=`lots` is not a port"),
        ),
    ];
    run_rows(rows, |effective| {
        let source = serde_json::to_value(effective.port_source).expect("serializes");
        format!("{} {}", effective.port, source.as_str().unwrap_or("?"))
    });
}

#[test]
fn bind_is_declaration_then_config_then_loopback() {
    let config: &[(&str, &str)] = &[(
        "home/.openclaw/openclaw.json",
        "{ gateway: { bind: 'lan' } }",
    )];
    let rows: &[Row] = &[
        ("built-in", &[], "", &[], Ok("loopback")),
        ("config", config, "", &[], Ok("lan")),
        (
            "declaration beats config",
            config,
            "bind: tailnet",
            &[],
            Ok("tailnet"),
        ),
    ];
    run_rows(rows, |effective| effective.bind.clone());
}

const CONFIG_WORKSPACE: &[(&str, &str)] = &[(
    "home/.openclaw/openclaw.json",
    "{ agents: { defaults: { workspace: '$ROOT/cfg-ws' } } }",
)];

#[test]
fn default_workspace_is_config_then_declaration_or_env_then_state_dir() {
    let rows: &[Row] = &[
        (
            "built-in",
            &[],
            "",
            &[],
            Ok("$ROOT/home/.openclaw/workspace"),
        ),
        (
            "env",
            &[],
            "",
            &[("OPENCLAW_WORKSPACE_DIR", "$ROOT/env-ws")],
            Ok("$ROOT/env-ws"),
        ),
        (
            "declaration beats env",
            &[],
            "workspace: $ROOT/decl-ws",
            &[("OPENCLAW_WORKSPACE_DIR", "$ROOT/env-ws")],
            Ok("$ROOT/decl-ws"),
        ),
        (
            "config beats declaration",
            CONFIG_WORKSPACE,
            "workspace: $ROOT/decl-ws",
            &[],
            Ok("$ROOT/cfg-ws"),
        ),
    ];
    run_rows(rows, |effective| show(&effective.workspaces[0].path));

    // The override is reported, since the operator asked for another place.
    let world = World::new(CONFIG_WORKSPACE);
    let effective = world
        .resolve("workspace: $ROOT/decl-ws", &[])
        .expect("resolves");
    assert!(
        effective
            .warnings
            .iter()
            .any(|warning| warning.contains("overridden by agents.defaults.workspace")),
        "{:?}",
        effective.warnings
    );
    let effective = world
        .resolve("workspace: $ROOT/cfg-ws", &[])
        .expect("resolves");
    assert!(
        !effective
            .warnings
            .iter()
            .any(|warning| warning.contains("overridden")),
        "{:?}",
        effective.warnings
    );
}

#[test]
fn listed_agents_get_their_own_workspace_or_a_derived_one() {
    let rows: &[Row] = &[
        (
            "without defaults",
            &[(
                "home/.openclaw/openclaw.json",
                "{ agents: { list: [ { id: 'a' }, { id: 'b', workspace: 'rel/b' } ] } }",
            )],
            "",
            &[],
            Ok(
                "default=$ROOT/home/.openclaw/workspace a=$ROOT/home/.openclaw/workspace-a b=$ROOT/home/.openclaw/rel/b",
            ),
        ),
        (
            "with defaults",
            &[(
                "home/.openclaw/openclaw.json",
                "{ agents: { defaults: { workspace: '~/ws' }, list: [ { id: 'a' } ] } }",
            )],
            "",
            &[],
            Ok("default=$ROOT/home/ws a=$ROOT/home/ws/a"),
        ),
    ];
    run_rows(rows, |effective| {
        effective
            .workspaces
            .iter()
            .map(|workspace| format!("{}={}", workspace.agent, workspace.path.display()))
            .collect::<Vec<_>>()
            .join(" ")
    });
}

#[test]
fn log_file_is_config_then_the_profile_named_default() {
    let tmp = canonical_path(Path::new(DEFAULT_LOG_DIR));
    let default_log = format!("{}/openclaw-{{date}}.log", tmp.display());
    let rescue_log = format!("{}/openclaw-rescue-{{date}}.log", tmp.display());
    let rows: Vec<Row> = vec![
        ("default profile", &[], "", &[], Ok(default_log.leak())),
        (
            "named profile",
            &[],
            "profile: rescue",
            &[],
            Ok(rescue_log.leak()),
        ),
        (
            "config",
            &[(
                "home/.openclaw-rescue/openclaw.json",
                "{ logging: { file: 'logs/gw.log' } }",
            )],
            "profile: rescue",
            &[],
            Ok("$ROOT/home/.openclaw-rescue/logs/gw.log"),
        ),
    ];
    run_rows(&rows, |effective| show(&effective.log_file));
}

#[test]
fn tmpdir_is_the_declaration_then_the_state_dir() {
    let rows: &[Row] = &[
        (
            "built-in",
            &[],
            "profile: x",
            &[],
            Ok("$ROOT/home/.openclaw-x/tmp"),
        ),
        (
            "declared",
            &[],
            "tmpdir: $ROOT/t",
            &[("TMPDIR", "/tmp")],
            Ok("$ROOT/t"),
        ),
        (
            "the inherited TMPDIR is shared by every instance, so it does not count",
            &[],
            "",
            &[("TMPDIR", "/tmp")],
            Ok("$ROOT/home/.openclaw/tmp"),
        ),
    ];
    run_rows(rows, |effective| show(&effective.tmpdir));
}

#[test]
fn explicit_cdp_ports_come_from_the_config() {
    let rows: &[Row] = &[
        ("none", &[], "", &[], Ok("")),
        (
            "cdpUrl and profiles",
            &[(
                "home/.openclaw/openclaw.json",
                "{ browser: { cdpUrl: 'http://127.0.0.1:18800', profiles: { w: { cdpPort: 18850 } } } }",
            )],
            "",
            &[],
            Ok("browser.cdpUrl=18800 browser.profiles.w.cdpPort=18850"),
        ),
    ];
    run_rows(rows, |effective| {
        effective
            .explicit_ports
            .iter()
            .map(|port| format!("{}={}", port.key, port.port))
            .collect::<Vec<_>>()
            .join(" ")
    });
}

#[test]
fn a_broken_config_is_an_error_naming_file_line_and_column() {
    let rows: &[Row] = &[
        (
            "syntax",
            &[(
                "home/.openclaw/openclaw.json",
                "{\n  gateway: { port: 1,, }\n}",
            )],
            "",
            &[],
            Err("$ROOT/home/.openclaw/openclaw.json:2:22: expected identifier"),
        ),
        (
            "value",
            &[("home/.openclaw/openclaw.json", "{ gateway: { port: -1 } }")],
            "",
            &[],
            Err("$ROOT/home/.openclaw/openclaw.json: `gateway.port`: `-1` is not a port"),
        ),
        ("missing is fine", &[], "", &[], Ok("false")),
        (
            "present",
            &[("home/.openclaw/openclaw.json", "{}")],
            "",
            &[],
            Ok("true"),
        ),
    ];
    run_rows(rows, |effective| effective.config_exists.to_string());
}

#[test]
fn a_missing_config_is_a_warning_unless_the_gateway_may_run_unconfigured() {
    let world = World::new(&[]);
    let effective = world.resolve("", &[]).expect("resolves");
    assert!(
        effective
            .warnings
            .iter()
            .any(|warning| warning.contains("exits 78")),
        "{:?}",
        effective.warnings
    );
    let effective = world
        .resolve("args: [--allow-unconfigured]", &[])
        .expect("resolves");
    assert!(
        !effective
            .warnings
            .iter()
            .any(|warning| warning.contains("exits 78")),
        "{:?}",
        effective.warnings
    );
}

/// Real outputs of openclaw 2026.9.6's `resolveLogProfileSegment` (its own
/// code from `dist/`, run under node against these inputs).
#[test]
fn log_profile_segments_are_openclaws_own() {
    let rows = [
        ("rescue", "rescue"),
        ("Work", "-1work"),
        ("my-bot", "my--bot"),
        ("a_b", "a-0b"),
        ("MAIN_2", "-1m-1a-1i-1n-02"),
        ("x-Y_z", "x---1y-0z"),
        ("é", "-2e9-"),
        (
            &"A".repeat(111),
            "-33ed01dd816dc93ea2d445681df11aa24e9fd1441de429eb0ee7816ccc09a2b7a",
        ),
        (
            &"a".repeat(221),
            "-35ab16c213b8bc2e50416ce3f88ffe7bec8cfc187291759f4165bfa29e18518fb",
        ),
    ];
    for (profile, expected) in rows {
        assert_eq!(super::log_profile_segment(profile), expected, "{profile}");
    }
}

#[test]
fn a_mixed_case_profile_logs_where_openclaw_writes() {
    let tmp = canonical_path(Path::new(DEFAULT_LOG_DIR));
    let work_log = format!("{}/openclaw--1work-{{date}}.log", tmp.display());
    let rows: Vec<Row> = vec![(
        "profile Work",
        &[],
        "profile: Work",
        &[],
        Ok(work_log.leak()),
    )];
    run_rows(&rows, |effective| show(&effective.log_file));
}

#[test]
fn the_effective_settings_carry_the_probes_validation_worked_out() {
    let world = World::new(&[]);
    let effective = world
        .resolve(
            "probes: { startup: { timeout: 30s }, liveness: { tcp: true } }\nstop: { signal: quit }\n",
            &[],
        )
        .expect("resolves");
    assert_eq!(
        effective.probes.startup.allowance,
        Some(std::time::Duration::from_secs(30))
    );
    assert_eq!(effective.probes.liveness.kind, crate::probe::ProbeKind::Tcp);
    assert_eq!(
        effective.declaration.stop.signal,
        crate::declaration::StopSignal::QUIT
    );
}
