use std::time::Duration;

use serde_json::json;

use super::*;
use crate::declaration::{HumanDuration, ProbeSpec};
use crate::isolation::fixtures::{instance, with};
use crate::probe::effective_probes;

#[test]
fn names_must_make_dns_1123_object_names() {
    let (longest, too_long) = ("x".repeat(43), "x".repeat(44));
    let cases: &[(&str, Option<&str>)] = &[
        ("main", None),
        ("rescue-2", None),
        ("team_a", Some("`openclaw-team_a` is not a DNS-1123 name")),
        ("Main", Some("e.g. `main`")),
        (longest.as_str(), None),
        (
            too_long.as_str(),
            Some("is 53 characters, a StatefulSet name may have 52"),
        ),
    ];
    for (name, problem) in cases {
        match (name_problem(name), problem) {
            (None, None) => {}
            (Some(found), Some(words)) => assert!(found.contains(words), "{name}: {found}"),
            (found, _) => panic!("{name}: {found:?}"),
        }
    }
}

#[test]
fn inline_secrets_become_references_and_keys() {
    let config = json!({
        "gateway": { "mode": "local", "auth": { "token": "inline-gateway-secret" } },
        "hooks": { "enabled": true, "token": "inline-hooks-secret" },
        "channels": {
            "telegram": { "botToken": "${TG_TOKEN}", "enabled": true },
            "slack": { "accounts": { "work": { "appToken": "xapp-inline", "botToken": "xoxb-inline" } } },
        },
        "models": { "providers": { "openai": { "apiKey": { "source": "env", "provider": "default", "id": "OPENAI_API_KEY" } } } },
        "agents": { "list": [ { "id": "a", "name": "$${NOT_A_VAR} stays" } ] },
    });
    let sanitized = sanitize_config(&config).expect("carried");
    for secret in [
        "inline-gateway-secret",
        "inline-hooks-secret",
        "xapp-inline",
        "xoxb-inline",
    ] {
        assert!(!sanitized.text.contains(secret), "{secret} kept");
    }
    let keys: Vec<(&str, &str)> = sanitized
        .keys
        .iter()
        .map(|key| (key.name.as_str(), key.used_by.as_str()))
        .collect();
    assert_eq!(
        keys,
        [
            ("OPENAI_API_KEY", "models.providers.openai.apiKey"),
            (
                "OPENCLAW_CHANNELS_SLACK_ACCOUNTS_WORK_APPTOKEN",
                "channels.slack.accounts.work.appToken"
            ),
            (
                "OPENCLAW_CHANNELS_SLACK_ACCOUNTS_WORK_BOTTOKEN",
                "channels.slack.accounts.work.botToken"
            ),
            ("OPENCLAW_GATEWAY_TOKEN", "gateway.auth.token"),
            ("OPENCLAW_HOOKS_TOKEN", "hooks.token"),
            ("TG_TOKEN", "channels.telegram.botToken"),
        ]
    );
    let text: serde_json::Value = serde_json::from_str(&sanitized.text).expect("json");
    assert_eq!(
        text["gateway"]["auth"]["token"],
        "${OPENCLAW_GATEWAY_TOKEN}"
    );
    assert_eq!(text["agents"]["list"][0]["name"], "$${NOT_A_VAR} stays");
}

#[test]
fn host_files_holding_secrets_are_refused_with_the_fix() {
    let config = json!({
        "channels": { "telegram": { "tokenFile": "/etc/telegram-token" } },
        "models": { "providers": { "x": { "apiKey": { "source": "file", "provider": "vault", "id": "/x" } } } },
    });
    let problems = sanitize_config(&config).expect_err("refused");
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].contains(
        "`channels.telegram.tokenFile` names a file on this host, which a pod does not have: write `token: \"${OPENCLAW_CHANNELS_TELEGRAM_TOKEN}\"`"
    ), "{}", problems[0]);
    assert!(problems[1].contains("`models.providers.x.apiKey` is a SecretRef read from a file"));
}

#[test]
fn references_are_the_substituted_names_only() {
    let cases: &[(&str, &[&str])] = &[
        ("${A}", &["A"]),
        ("${BASE}/v1 and ${KEY_2}", &["BASE", "KEY_2"]),
        ("$${ESCAPED}", &[]),
        ("${lower}", &[]),
        ("${1X}", &[]),
        ("${UNCLOSED", &[]),
        ("plain", &[]),
    ];
    for (text, names) in cases {
        assert_eq!(references(text), *names, "{text}");
    }
}

#[test]
fn secret_names_are_recognised_in_any_spelling() {
    for name in [
        "token",
        "botToken",
        "OPENAI_API_KEY",
        "apiKey",
        "password",
        "signing-secret",
    ] {
        assert!(is_secret_name(name), "{name}");
    }
    for name in ["mode", "tokenFile", "NODE_OPTIONS", "keys", "enabled"] {
        assert!(!is_secret_name(name), "{name}");
    }
}

#[test]
fn only_conflicts_that_matter_on_a_cluster_are_kept() {
    let problem = |resource| crate::isolation::Problem {
        resource,
        instances: vec!["a".into(), "b".into()],
        shared: String::new(),
        message: String::new(),
        fix: String::new(),
    };
    let all = [
        Resource::Config,
        Resource::StateDir,
        Resource::Workspace,
        Resource::LogFile,
        Resource::Tmpdir,
        Resource::Ports,
        Resource::PortRange,
        Resource::RescueOf,
        Resource::TailscaleRoute,
        Resource::ChannelCredential,
    ]
    .map(problem);
    let kept: Vec<Resource> = cluster_problems(&all)
        .into_iter()
        .map(|problem| problem.resource)
        .collect();
    assert_eq!(
        kept,
        [
            Resource::Config,
            Resource::StateDir,
            Resource::Workspace,
            Resource::RescueOf,
            Resource::ChannelCredential
        ]
    );
}

fn seconds(secs: u64) -> Option<HumanDuration> {
    Some(HumanDuration(Duration::from_secs(secs)))
}

#[test]
fn probe_thresholds_follow_the_declaration() {
    let spec = crate::declaration::ProbesSpec {
        startup: ProbeSpec {
            every: seconds(1),
            timeout: seconds(301),
            ..ProbeSpec::default()
        },
        liveness: ProbeSpec {
            tcp: Some(true),
            every: Some(HumanDuration(Duration::from_millis(1500))),
            failures: Some(5),
            initial_delay: seconds(30),
            ..ProbeSpec::default()
        },
        readiness: ProbeSpec {
            every: seconds(3),
            timeout: seconds(10),
            ..ProbeSpec::default()
        },
    };
    let probes = probes::translate_all(&effective_probes(&spec).expect("valid"), 18789);
    let startup = probes.startup.expect("startup");
    // An HTTP probe starts node: every 1 s becomes every 2 s, with the same
    // allowance (301 s: 151 attempts), and an attempt gets at least 5 s.
    assert_eq!(
        (
            startup.period_seconds,
            startup.failure_threshold,
            startup.timeout_seconds
        ),
        (Some(2), Some(151), Some(5))
    );
    let command = startup.exec.and_then(|exec| exec.command).expect("exec");
    assert_eq!(command[..2], ["node", "-e"]);
    assert!(command[2].contains("fetch(\"http://127.0.0.1:18789/startupz\")"));
    assert!(command[2].contains("const want={\"status\":\"started\"}"));
    let liveness = probes.liveness.expect("liveness");
    assert!(liveness.tcp_socket.is_some());
    assert_eq!(
        (
            liveness.period_seconds,
            liveness.failure_threshold,
            liveness.initial_delay_seconds
        ),
        (Some(2), Some(5), Some(30))
    );
    // A tcp probe starts nothing: its attempt keeps the default 2 s.
    assert_eq!(liveness.timeout_seconds, Some(2));
    // The declaration's values win when larger.
    let readiness = probes.readiness.expect("readiness");
    assert_eq!(
        (readiness.period_seconds, readiness.timeout_seconds),
        (Some(3), Some(10))
    );
    let disabled = crate::declaration::ProbesSpec {
        readiness: ProbeSpec {
            enabled: Some(false),
            ..ProbeSpec::default()
        },
        ..spec
    };
    let probes = probes::translate_all(&effective_probes(&disabled).expect("valid"), 18789);
    assert!(probes.readiness.is_none());
}

fn yaml_of(export: &Export, instance: &str) -> String {
    export
        .files
        .iter()
        .find(|file| file.instance == instance)
        .map(|file| file.yaml.clone())
        .expect("exported")
}

#[test]
fn a_rescue_keeps_off_its_main_and_may_restart_only_it() {
    let main = instance("main", 18789);
    let rescue = with(instance("rescue", 19789), |rescue| {
        rescue.declaration.role = Role::Rescue;
        rescue.declaration.rescue_of = Some("main".into());
    });
    let instances = [
        Instance {
            effective: &rescue,
            config: None,
        },
        Instance {
            effective: &main,
            config: None,
        },
    ];
    let required = kubernetes(&instances, &Options::default()).expect("exported");
    assert_eq!(
        required
            .files
            .iter()
            .map(|file| file.instance.as_str())
            .collect::<Vec<_>>(),
        ["main", "rescue"]
    );
    let yaml = yaml_of(&required, "rescue");
    for words in [
        "requiredDuringSchedulingIgnoredDuringExecution:\n          - labelSelector:\n              matchLabels:\n                app.kubernetes.io/instance: main\n                app.kubernetes.io/name: openclaw\n            topologyKey: kubernetes.io/hostname",
        "kind: ServiceAccount",
        "rules:\n- apiGroups:\n  - \"\"\n  resourceNames:\n  - openclaw-main-0\n  resources:\n  - pods\n  verbs:\n  - get\n  - delete\n- apiGroups:\n  - \"\"\n  resourceNames:\n  - openclaw-main-0\n  resources:\n  - pods/log\n  verbs:\n  - get\n---",
        "serviceAccountName: openclaw-rescue",
        "automountServiceAccountToken: true",
        "name: OPENCLAW_SUPERVISOR_MAIN_POD\n          value: openclaw-main-0",
        // The skill and its tool, seeded into the rescue's workspace.
        "kind: ConfigMap\ndata:\n  SKILL.md: |",
        "name: openclaw-rescue-skill",
        "Its pod is `openclaw-main-0`",
        "node /home/node/.openclaw/workspace/skills/openclaw-supervisor/main.mjs status",
        "name: seed-skill",
        "configMap:\n          name: openclaw-rescue-skill\n        name: skill",
    ] {
        assert!(yaml.contains(words), "{words} not in\n{yaml}");
    }
    // Nothing that could change main's pod template (`patch` on its
    // StatefulSet would run anything with main's Secret), and no `list` or
    // `watch`, which `resourceNames` cannot hold without a field selector.
    for words in ["statefulsets", "- patch", "- list", "- watch"] {
        assert!(!yaml.contains(words), "{words} in\n{yaml}");
    }
    let main_yaml = yaml_of(&required, "main");
    assert!(main_yaml.contains("automountServiceAccountToken: false"));
    assert!(!main_yaml.contains("kind: Role"));
    assert!(!main_yaml.contains("seed-skill"), "{main_yaml}");
    let preferred = kubernetes(
        &instances,
        &Options {
            rescue_affinity: RescueAffinity::Preferred,
            ..Options::default()
        },
    )
    .expect("exported");
    let yaml = yaml_of(&preferred, "rescue");
    assert!(yaml.contains("preferredDuringSchedulingIgnoredDuringExecution:"));
    assert!(yaml.contains("weight: 100"));
}

#[test]
fn the_pod_gets_the_supervisors_environment_with_the_volumes_paths() {
    let main = with(instance("main", 18789), |main| {
        main.declaration.stop.timeout = HumanDuration(Duration::from_millis(90_500));
        main.declaration
            .env
            .insert("TELEGRAM_BOT_TOKEN".into(), "123:secret-in-env".into());
        main.declaration
            .env
            .insert("OPENCLAW_STATE_DIR".into(), "/host/path".into());
        main.declaration.env.insert("LANG".into(), "C.UTF-8".into());
    });
    let exported = kubernetes(
        &[Instance {
            effective: &main,
            config: Some(json!({ "gateway": { "auth": { "token": "inline-config-secret" } } })),
        }],
        &Options::default(),
    )
    .expect("exported");
    let yaml = yaml_of(&exported, "main");
    for secret in [
        "123:secret-in-env",
        "inline-config-secret",
        "/host/path",
        "/h/",
    ] {
        assert!(!yaml.contains(secret), "{secret} in\n{yaml}");
    }
    for words in [
        "name: OPENCLAW_SUPERVISOR_MODE\n          value: external",
        "name: NO_COLOR\n          value: \"1\"",
        "name: OPENCLAW_STATE_DIR\n          value: /home/node/.openclaw\n",
        "name: OPENCLAW_CONFIG_PATH\n          value: /home/node/.openclaw/openclaw.json",
        "name: OPENCLAW_PROFILE\n          value: main",
        "name: LANG\n          value: C.UTF-8",
        "name: TELEGRAM_BOT_TOKEN\n          valueFrom:\n            secretKeyRef:\n              key: TELEGRAM_BOT_TOKEN\n              name: openclaw-main-secrets\n",
        "terminationGracePeriodSeconds: 91",
        "- --profile\n        - main\n        - gateway\n        - --port\n        - \"18789\"",
        "name: seed-config",
        "name: openclaw-main-config",
    ] {
        assert!(yaml.contains(words), "{words} not in\n{yaml}");
    }
    assert!(!yaml.contains("OPENCLAW_NO_RESPAWN"));
    let keys: Vec<&str> = exported.secrets[0]
        .keys
        .iter()
        .map(|key| key.name.as_str())
        .collect();
    assert_eq!(keys, ["OPENCLAW_GATEWAY_TOKEN", "TELEGRAM_BOT_TOKEN"]);
    assert_eq!(
        exported.secrets[0].command("openclaw"),
        "kubectl create secret generic openclaw-main-secrets --namespace openclaw --from-literal=OPENCLAW_GATEWAY_TOKEN='<OPENCLAW_GATEWAY_TOKEN>' --from-literal=TELEGRAM_BOT_TOKEN='<TELEGRAM_BOT_TOKEN>'"
    );
}

#[test]
fn every_refusal_is_reported_at_once() {
    let bad_name = instance("team_a", 18789);
    let bad_config = instance("main", 19789);
    let err = kubernetes(
        &[
            Instance {
                effective: &bad_name,
                config: None,
            },
            Instance {
                effective: &bad_config,
                config: Some(json!({ "channels": { "discord": { "tokenFile": "/x" } } })),
            },
        ],
        &Options::default(),
    )
    .expect_err("refused");
    assert_eq!(err.problems.len(), 2, "{err}");
}

#[test]
fn binds_the_pod_cannot_probe_or_serve_get_a_note() {
    let cases = [
        ("loopback", Some("answers only inside its pod")),
        ("lan", None),
        ("tailnet", Some("its probes fetch 127.0.0.1 inside the pod")),
    ];
    for (bind, words) in cases {
        let main = with(instance("main", 18789), |main| main.bind = bind.to_string());
        let exported = kubernetes(
            &[Instance {
                effective: &main,
                config: Some(json!({})),
            }],
            &Options::default(),
        )
        .expect("exported");
        let bind_notes: Vec<&String> = exported
            .notes
            .iter()
            .filter(|note| note.contains("`bind: "))
            .collect();
        match words {
            None => assert!(bind_notes.is_empty(), "{bind}: {bind_notes:?}"),
            Some(words) => assert!(
                bind_notes.len() == 1 && bind_notes[0].contains(words),
                "{bind}: {bind_notes:?}"
            ),
        }
    }
}

#[test]
fn secrets_under_secret_keys_and_in_urls_never_reach_the_output() {
    let main = with(instance("main", 18789), |main| {
        main.declaration.env.insert(
            "OPENCLAW_PROXY_URL".into(),
            "http://proxy-user:proxy-pass@proxy.example:3128".into(),
        );
        main.declaration
            .env
            .insert("PLAIN_URL".into(), "http://proxy.example:3128".into());
    });
    let config = json!({
        "models": { "providers": { "openai": { "apiKeys": ["sk-array-one", "sk-array-two"] } } },
        "channels": { "matrix": { "credentials": { "user": "bot", "pass": "nested-secret" } } },
        "tools": { "web": { "endpoint": "https://web-user:web-pass@search.example/api" } },
        "agents": { "list": [ { "id": "a", "name": "plain stays" } ] },
    });
    let exported = kubernetes(
        &[Instance {
            effective: &main,
            config: Some(config),
        }],
        &Options::default(),
    )
    .expect("exported");
    let all = exported.joined();
    for secret in [
        "sk-array-one",
        "sk-array-two",
        "nested-secret",
        "web-pass",
        "proxy-pass",
    ] {
        assert!(!all.contains(secret), "{secret} in\n{all}");
    }
    for words in [
        r#""${OPENCLAW_MODELS_PROVIDERS_OPENAI_APIKEYS_0}","#,
        r#""${OPENCLAW_MODELS_PROVIDERS_OPENAI_APIKEYS_1}""#,
        r#""pass": "${OPENCLAW_CHANNELS_MATRIX_CREDENTIALS_PASS}""#,
        r#""endpoint": "${OPENCLAW_TOOLS_WEB_ENDPOINT}""#,
        "\"plain stays\"",
        "name: OPENCLAW_PROXY_URL\n          valueFrom:\n            secretKeyRef:\n              key: OPENCLAW_PROXY_URL",
        "name: PLAIN_URL\n          value: http://proxy.example:3128",
    ] {
        assert!(all.contains(words), "{words} not in\n{all}");
    }
    let keys: Vec<&str> = exported.secrets[0]
        .keys
        .iter()
        .map(|key| key.name.as_str())
        .collect();
    for key in [
        "OPENCLAW_PROXY_URL",
        "OPENCLAW_MODELS_PROVIDERS_OPENAI_APIKEYS_0",
        "OPENCLAW_TOOLS_WEB_ENDPOINT",
    ] {
        assert!(keys.contains(&key), "{key} not in {keys:?}");
    }
}

#[test]
fn what_only_a_supervisor_does_is_dropped_with_a_note() {
    let quiet = instance("main", 18789);
    assert!(objects::supervisor_only_notes(&quiet).is_empty());
    let rescue = with(instance("rescue", 19789), |rescue| {
        rescue.declaration.wake = Some(crate::declaration::WakeEndpoint::Agent);
        rescue.declaration.notify =
            Some(serde_json::from_value(json!({ "command": ["notify-send"] })).expect("notify"));
        rescue.declaration.rollback = crate::declaration::RollbackMode::Auto;
    });
    let notes = objects::supervisor_only_notes(&rescue);
    let expected = [
        "instance `rescue`: `wake: agent` is dropped",
        "instance `rescue`: `notify:` is dropped",
        "instance `rescue`: `rollback: auto` is dropped",
    ];
    assert_eq!(notes.len(), expected.len(), "{notes:?}");
    for (note, words) in notes.iter().zip(expected) {
        assert!(note.starts_with(words), "{note}");
    }
}

#[test]
fn the_governing_service_is_headless_and_home_is_writable() {
    let main = instance("main", 18789);
    let exported = kubernetes(
        &[Instance {
            effective: &main,
            config: None,
        }],
        &Options::default(),
    )
    .expect("exported");
    let yaml = yaml_of(&exported, "main");
    for words in [
        "kind: Service\n",
        "clusterIP: None",
        "serviceName: openclaw-main",
        "readOnlyRootFilesystem: true",
        "- mountPath: /home/node\n          name: home\n        - mountPath: /home/node/.openclaw\n          name: state",
        "- emptyDir: {}\n        name: home",
    ] {
        assert!(yaml.contains(words), "{words} not in\n{yaml}");
    }
}
