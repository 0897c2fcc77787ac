use std::ops::RangeInclusive;
use std::path::PathBuf;

use super::test_world::World;
use super::*;

#[test]
fn child_args_pass_profile_port_and_bind_before_the_declared_args() {
    let world = World::new(&[]);
    let rows: &[(&str, &[&str])] = &[
        ("", &["gateway", "--port", "18789", "--bind", "loopback"]),
        (
            "profile: rescue\nport: 19789\nargs: [--verbose]",
            &[
                "--profile",
                "rescue",
                "gateway",
                "--port",
                "19789",
                "--bind",
                "loopback",
                "--verbose",
            ],
        ),
    ];
    for (yaml, expected) in rows {
        let effective = world.resolve(yaml, &[]).expect("resolves");
        assert_eq!(effective.child_args(), *expected, "{yaml}");
    }
}

#[test]
fn child_env_strips_service_markers_and_sets_the_resolved_settings() {
    let world = World::new(&[]);
    let effective = world
        .resolve(
            "profile: rescue\nport: 19789\nworkspace: $ROOT/ws\nenv: { OPENCLAW_LOG_LEVEL: debug, PATH: /declared }",
            &[],
        )
        .expect("resolves");
    let mut inherited = EnvMap::new();
    for (key, value) in [
        ("PATH", "/usr/bin"),
        ("LANG", "C.UTF-8"),
        ("INVOCATION_ID", "x"),
        ("NOTIFY_SOCKET", "/run/notify"),
        ("OPENCLAW_SYSTEMD_UNIT", "u"),
        ("TMPDIR", "/tmp"),
        ("OPENCLAW_SUPERVISOR_MODE", "inline"),
        ("OPENCLAW_NO_RESPAWN", "1"),
        ("FORCE_COLOR", "1"),
    ] {
        inherited.insert(key.to_string(), value.to_string());
    }
    let env = effective.child_env(&inherited);
    let root = world.root.display().to_string();
    let expected: &[(&str, Option<String>)] = &[
        ("LANG", Some("C.UTF-8".into())),
        ("PATH", Some("/declared".into())),
        ("INVOCATION_ID", None),
        ("NOTIFY_SOCKET", None),
        ("OPENCLAW_SYSTEMD_UNIT", None),
        (
            "OPENCLAW_STATE_DIR",
            Some(format!("{root}/home/.openclaw-rescue")),
        ),
        (
            "OPENCLAW_CONFIG_PATH",
            Some(format!("{root}/home/.openclaw-rescue/openclaw.json")),
        ),
        ("OPENCLAW_GATEWAY_PORT", Some("19789".into())),
        ("OPENCLAW_PROFILE", Some("rescue".into())),
        ("OPENCLAW_WORKSPACE_DIR", Some(format!("{root}/ws"))),
        ("TMPDIR", Some(format!("{root}/home/.openclaw-rescue/tmp"))),
        ("OPENCLAW_SUPERVISOR_MODE", Some("external".into())),
        // Relaunched on a restart request, never restarted in-process.
        ("OPENCLAW_NO_RESPAWN", None),
        ("NO_COLOR", Some("1".into())),
        ("FORCE_COLOR", None),
        ("OPENCLAW_LOG_LEVEL", Some("debug".into())),
    ];
    for (key, value) in expected {
        assert_eq!(env.get(*key), value.as_ref(), "{key}");
    }

    // The default profile: no profile variable, no workspace variable.
    let effective = world.resolve("", &[]).expect("resolves");
    inherited.insert("OPENCLAW_PROFILE".into(), "default".into());
    let env = effective.child_env(&inherited);
    assert_eq!(env.get("OPENCLAW_PROFILE"), None);
    assert_eq!(env.get("OPENCLAW_WORKSPACE_DIR"), None);
}

#[test]
fn the_declaration_may_ask_for_in_process_restarts_or_colour_on_purpose() {
    let world = World::new(&[]);
    type Expected = &'static [(&'static str, Option<&'static str>)];
    let rows: &[(&str, Expected)] = &[
        (
            "env: { OPENCLAW_NO_RESPAWN: '1' }",
            &[("OPENCLAW_NO_RESPAWN", Some("1")), ("NO_COLOR", Some("1"))],
        ),
        (
            "env: { FORCE_COLOR: '1' }",
            &[("FORCE_COLOR", Some("1")), ("NO_COLOR", None)],
        ),
        ("env: { NO_COLOR: '' }", &[("NO_COLOR", Some(""))]),
    ];
    for (yaml, expected) in rows {
        let effective = world.resolve(yaml, &[]).expect("resolves");
        let env = effective.child_env(&EnvMap::new());
        for (key, value) in *expected {
            assert_eq!(env.get(*key).map(String::as_str), *value, "{yaml}: {key}");
        }
    }
}

#[test]
fn port_block_is_base_to_base_plus_110() {
    let world = World::new(&[]);
    let rows: &[(&str, RangeInclusive<u32>)] =
        &[("", 18789..=18899), ("port: 65500", 65500..=65610)];
    for (yaml, expected) in rows {
        let effective = world.resolve(yaml, &[]).expect("resolves");
        assert_eq!(effective.port_block(), *expected, "{yaml}");
    }
}

#[test]
fn a_command_path_is_fixed_at_load_against_the_declaration_dir_and_checked() {
    use std::os::unix::fs::PermissionsExt;
    let world = World::new(&[("bin/openclaw", "#!/bin/sh\n"), ("bin/plain", "text\n")]);
    let gateway = world.root.join("bin/openclaw");
    std::fs::set_permissions(&gateway, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let gateway = gateway.display().to_string();
    let on_path: &[(&str, &str)] = &[("PATH", "$ROOT/bin")];
    let empty_path: &[(&str, &str)] = &[("PATH", "$ROOT/nothing")];
    /// (declaration, env, the command run or the error's words, a PATH warning)
    type Row<'a> = (
        &'a str,
        &'a [(&'a str, &'a str)],
        Result<&'a str, &'a str>,
        bool,
    );
    let rows: &[Row] = &[
        ("", on_path, Ok("openclaw"), false),
        ("", empty_path, Ok("openclaw"), true),
        ("command: node", empty_path, Ok("node"), true),
        ("command: ../bin/openclaw", empty_path, Ok(&gateway), false),
        (
            "command: ./../bin/openclaw",
            empty_path,
            Ok(&gateway),
            false,
        ),
        (
            "command: $ROOT/bin/openclaw",
            empty_path,
            Ok(&gateway),
            false,
        ),
        (
            "command: ../bin/missing",
            on_path,
            Err("does not exist"),
            false,
        ),
        (
            "command: /nonexistent/oc",
            on_path,
            Err("does not exist"),
            false,
        ),
        (
            "command: ../bin/plain",
            on_path,
            Err("is not an executable file"),
            false,
        ),
    ];
    for (yaml, env, expected, warned) in rows {
        match (world.resolve(yaml, env), expected) {
            (Ok(effective), Ok(command)) => {
                assert_eq!(effective.command(), *command, "{yaml}");
                assert_eq!(effective.program(), PathBuf::from(command), "{yaml}");
                let path_warning = effective
                    .warnings
                    .iter()
                    .any(|warning| warning.contains("not found on PATH"));
                assert_eq!(path_warning, *warned, "{yaml}: {:?}", effective.warnings);
            }
            (Err(err), Err(words)) => {
                let text = err.to_string();
                assert!(
                    matches!(err, ResolveError::Command { .. }),
                    "{yaml}: {text}"
                );
                assert!(
                    text.contains(words) && text.contains("`command`"),
                    "{yaml}: {text}"
                );
            }
            (got, _) => panic!("{yaml}: expected {expected:?}, got {got:?}"),
        }
    }
}
