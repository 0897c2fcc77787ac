//! Table tests over real JSON5 configs: Tailscale route conflicts and the
//! shared-secret warnings, resolved the way `check` resolves them.

use super::{Resource, check, shared_secret_warnings};
use crate::openclaw::{EnvMap, resolve};

/// Every token in these tables contains this, so a leak is easy to find.
const MARK: &str = "SECRETTOKEN";

/// A member of a set: (name, extra declaration YAML, its OpenClaw config).
type Member = (&'static str, &'static str, &'static str);

/// Resolve `members` in a fresh temp dir (each its own state dir and port),
/// then run `test` over the set; the dir lives as long as the call.
fn with_set(members: &[Member], test: impl FnOnce(&[crate::openclaw::Effective])) {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = std::fs::canonicalize(dir.path()).expect("canonical");
    let mut env = EnvMap::new();
    env.insert("HOME".into(), root.join("home").display().to_string());
    let mut set = Vec::new();
    for (index, (name, extra, config)) in members.iter().enumerate() {
        let state = root.join(name);
        std::fs::create_dir_all(&state).expect("state dir");
        std::fs::write(state.join("openclaw.json"), config).expect("config");
        let file = root.join(format!("sup/{name}.yaml"));
        let yaml = format!(
            "profile: {name}\nstate_dir: {}\nport: {}\ncommand: /bin/true\n{extra}",
            state.display(),
            20_000 + 1_000 * index
        );
        let loaded = crate::declaration::parse(&file, &yaml).expect("valid declaration");
        set.push(resolve(&loaded, &env).expect("resolves"));
    }
    for instance in &set {
        assert!(
            !format!("{instance:?}").contains(MARK),
            "Debug leaks a token"
        );
        let json = serde_json::to_string(instance).expect("serializes");
        assert!(!json.contains(MARK), "JSON leaks a token: {json}");
    }
    test(&set);
}

const SERVE: &str = "{ gateway: { tailscale: { mode: 'serve' } } }";
const FUNNEL: &str =
    "{ gateway: { tailscale: { mode: 'funnel' }, auth: { mode: 'password', password: 'pw' } } }";
const OFF: &str = "{ gateway: { tailscale: { mode: 'off' } } }";

#[test]
fn two_tailscale_claims_of_the_https_route_conflict() {
    // (what, set, expected problems: words of each)
    let rows: &[(&str, &[Member], &[&str])] = &[
        (
            "serve and serve",
            &[("a", "", SERVE), ("b", "", SERVE)],
            &[
                "a (tailscale serve) and b (tailscale serve) both claim this host's Tailscale HTTPS port 443: the second to start reports the port occupied; fix: set `gateway.tailscale.mode: \"off\"` in b's OpenClaw config",
            ],
        ),
        (
            "serve and funnel on the same HTTPS port",
            &[("a", "", SERVE), ("b", "", FUNNEL)],
            &["a (tailscale serve) and b (tailscale funnel) both claim"],
        ),
        (
            "funnel on a port it allows (443, the only one a gateway claims) and another funnel",
            &[("a", "", FUNNEL), ("b", "", FUNNEL)],
            &["so that only a claims it"],
        ),
        ("funnel and off", &[("a", "", FUNNEL), ("b", "", OFF)], &[]),
        (
            "serve and no tailscale key (off by default)",
            &[("a", "", SERVE), ("b", "", "{}")],
            &[],
        ),
        (
            "different gateway ports do not give another HTTPS route: tailscale.md has no port key",
            &[
                (
                    "a",
                    "",
                    "{ gateway: { port: 30000, tailscale: { mode: 'serve' } } }",
                ),
                (
                    "b",
                    "",
                    "{ gateway: { port: 40000, tailscale: { mode: 'serve' } } }",
                ),
            ],
            &["both claim this host's Tailscale HTTPS port 443"],
        ),
        (
            "--tailscale off in args turns the config's serve off",
            &[
                ("a", "", SERVE),
                ("b", "args: [--tailscale, 'off']\n", SERVE),
            ],
            &[],
        ),
        (
            "--tailscale=funnel in args claims the route; the fix names the args",
            &[
                ("a", "", SERVE),
                ("b", "args: ['--tailscale=funnel']\n", OFF),
            ],
            &["fix: remove `--tailscale funnel` from `args:` in b.yaml"],
        ),
        (
            "three claims: every pair is reported",
            &[("a", "", SERVE), ("b", "", SERVE), ("c", "", FUNNEL)],
            &[
                "a (tailscale serve) and b",
                "a (tailscale serve) and c",
                "b (tailscale serve) and c",
            ],
        ),
    ];
    for (what, members, expected) in rows {
        with_set(members, |set| {
            let found: Vec<String> = check(set).iter().map(ToString::to_string).collect();
            assert!(
                check(set)
                    .iter()
                    .all(|p| p.resource == Resource::TailscaleRoute),
                "{what}: {found:?}"
            );
            assert_eq!(found.len(), expected.len(), "{what}: {found:#?}");
            for words in *expected {
                assert!(
                    found.iter().any(|p| p.contains(words)),
                    "{what}: `{words}` not in {found:#?}"
                );
            }
        });
    }
}

#[test]
fn an_unknown_tailscale_mode_is_a_config_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = std::fs::canonicalize(dir.path()).expect("canonical");
    std::fs::write(
        root.join("openclaw.json"),
        "{ gateway: { tailscale: { mode: 'on' } } }",
    )
    .expect("config");
    let file = root.join("a.yaml");
    let yaml = format!("state_dir: {}\ncommand: /bin/true\n", root.display());
    let loaded = crate::declaration::parse(&file, &yaml).expect("valid declaration");
    let mut env = EnvMap::new();
    env.insert("HOME".into(), root.display().to_string());
    let err = resolve(&loaded, &env).expect_err("refused");
    assert!(
        err.to_string()
            .contains("`gateway.tailscale.mode`: `on` is not a mode: use off, serve or funnel"),
        "{err}"
    );
    // In the args, only the mode is shown (another arg may be a token).
    std::fs::write(root.join("openclaw.json"), "{}").expect("config");
    let yaml = format!(
        "state_dir: {}\ncommand: /bin/true\nargs: [--token, {MARK}, --tailscale, on]\n",
        root.display()
    );
    let loaded = crate::declaration::parse(&file, &yaml).expect("valid declaration");
    let err = resolve(&loaded, &env).expect_err("refused").to_string();
    assert!(
        err.contains("--tailscale=`on` in `args:` is not a mode: use off, serve or funnel"),
        "{err}"
    );
    assert!(!err.contains(MARK), "{err}");
}

#[test]
fn shared_tokens_are_warnings_and_never_shown() {
    let rows: &[(&str, &[Member], &[&str])] = &[
        (
            "hooks.token equals its own gateway.auth.token",
            &[(
                "a",
                "",
                "{ gateway: { auth: { token: 'SECRETTOKEN-1' } }, hooks: { enabled: true, token: 'SECRETTOKEN-1' } }",
            )],
            &[
                "hooks token reuse: a's hooks.token equals its own gateway auth token (gateway.auth.token)",
            ],
        ),
        (
            "hooks disabled: its token is not in use",
            &[(
                "a",
                "",
                "{ gateway: { auth: { token: 'SECRETTOKEN-1' } }, hooks: { token: 'SECRETTOKEN-1' } }",
            )],
            &[],
        ),
        (
            "hooks.token equals another's token from OPENCLAW_GATEWAY_TOKEN in its env",
            &[
                (
                    "a",
                    "",
                    "{ hooks: { enabled: true, token: 'SECRETTOKEN-2' } }",
                ),
                ("b", "env:\n  OPENCLAW_GATEWAY_TOKEN: SECRETTOKEN-2\n", "{}"),
            ],
            &["a's hooks.token equals b's gateway auth token (OPENCLAW_GATEWAY_TOKEN)"],
        ),
        (
            "two instances share a gateway auth token",
            &[
                ("a", "", "{ gateway: { auth: { token: 'SECRETTOKEN-3' } } }"),
                (
                    "b",
                    "",
                    "{ gateway: { auth: { token: ' SECRETTOKEN-3 ' } } }",
                ),
            ],
            &[
                "shared gateway token: a (gateway.auth.token) and b (gateway.auth.token) use the same gateway auth token",
            ],
        ),
        (
            "gateway.auth.token comes before OPENCLAW_GATEWAY_TOKEN",
            &[
                (
                    "a",
                    "env:\n  OPENCLAW_GATEWAY_TOKEN: SECRETTOKEN-4\n",
                    "{ gateway: { auth: { token: 'SECRETTOKEN-5' } } }",
                ),
                ("b", "", "{ gateway: { auth: { token: 'SECRETTOKEN-4' } } }"),
            ],
            &[],
        ),
        (
            "--token in args comes before the config",
            &[
                (
                    "a",
                    "args: [--token, SECRETTOKEN-8]\n",
                    "{ gateway: { auth: { token: 'SECRETTOKEN-9' } } }",
                ),
                ("b", "", "{ gateway: { auth: { token: 'SECRETTOKEN-8' } } }"),
                ("c", "args: ['--token=SECRETTOKEN-8']\n", "{}"),
            ],
            &[
                "shared gateway token: a (--token in args) and b (gateway.auth.token)",
                "shared gateway token: a (--token in args) and c (--token in args)",
                "shared gateway token: b (gateway.auth.token) and c (--token in args)",
            ],
        ),
        (
            "different tokens",
            &[
                ("a", "", "{ gateway: { auth: { token: 'SECRETTOKEN-6' } } }"),
                ("b", "", "{ gateway: { auth: { token: 'SECRETTOKEN-7' } } }"),
            ],
            &[],
        ),
        (
            "a SecretRef is not checked, never equal",
            &[
                (
                    "a",
                    "",
                    "{ gateway: { auth: { token: { source: 'env', provider: 'default', id: 'SECRETTOKEN_VAR' } } } }",
                ),
                (
                    "b",
                    "",
                    "{ gateway: { auth: { token: { source: 'env', provider: 'default', id: 'SECRETTOKEN_VAR' } } } }",
                ),
            ],
            &[
                "shared secrets not checked: a's gateway.auth.token: it is a SecretRef",
                "shared secrets not checked: b's gateway.auth.token: it is a SecretRef",
            ],
        ),
        (
            "a ${VAR} token is not checked",
            &[(
                "a",
                "",
                "{ hooks: { enabled: true, token: '${SECRETTOKEN_HOOKS}' } }",
            )],
            &["shared secrets not checked: a's hooks.token: it refers to an environment variable"],
        ),
    ];
    for (what, members, expected) in rows {
        with_set(members, |set| {
            let found: Vec<String> = shared_secret_warnings(set)
                .into_iter()
                .map(|(_, message)| message)
                .collect();
            assert_eq!(found.len(), expected.len(), "{what}: {found:#?}");
            for words in *expected {
                assert!(
                    found.iter().any(|w| w.contains(words)),
                    "{what}: `{words}` not in {found:#?}"
                );
            }
            assert!(
                !found.iter().any(|w| w.contains(MARK)),
                "{what}: leaks: {found:?}"
            );
        });
    }
}
