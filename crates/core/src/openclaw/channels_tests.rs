//! Table tests of channel credential resolution over JSON5 configs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::*;

const TOKEN_A: &str = "111:FAKE-token-a";
const TOKEN_B: &str = "222:FAKE-token-b";

/// (channel, account, credential, source, the test token or why not checked).
type Got = (String, String, String, String, Result<String, String>);

/// (case, config, env, expected).
type Case = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static [Row],
);

/// Resolve `config` (JSON5) with `env` and tokenFiles `files` (path ->
/// Ok(text) or Err(reason)); tokenFiles are relative to `/state`.
fn run(config: &str, env: &[(&str, &str)], files: &[(&str, Result<&str, &str>)]) -> Vec<Got> {
    let root: Value = json5::from_str(config).expect("JSON5");
    let channels = ChannelsConfig(Some(root));
    let env: EnvMap = env
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect();
    let files: BTreeMap<PathBuf, Result<String, String>> = files
        .iter()
        .map(|(path, text)| {
            (
                PathBuf::from(path),
                text.map(str::to_string).map_err(str::to_string),
            )
        })
        .collect();
    let place = |written: &str| Path::new("/state").join(written);
    let read = |path: &Path| {
        files
            .get(path)
            .cloned()
            .unwrap_or_else(|| Err("no such file".to_string()))
    };
    let sources = Sources {
        env: &env,
        config: Path::new("/state/openclaw.json"),
        place: &place,
        read: &read,
    };
    // Which test token each fingerprint is, for readable tables.
    let name = |fingerprint: &Secret| {
        [TOKEN_A, TOKEN_B]
            .into_iter()
            .find(|token| Secret::new(token) == *fingerprint)
            .map_or_else(|| "other".to_string(), str::to_string)
    };
    resolve(&channels, &sources)
        .into_iter()
        .map(|found| {
            (
                found.channel,
                found.account,
                found.what,
                found.source,
                match &found.resolved {
                    Resolved::Checked(fingerprint) => Ok(name(fingerprint)),
                    Resolved::NotChecked(reason) => Err(reason.clone()),
                },
            )
        })
        .collect()
}

type Row = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Result<&'static str, &'static str>,
);

const SECRET_REF: &str = "it is a SecretRef the supervisor does not resolve (only `source: \"env\"` on the default provider is read)";

#[test]
fn every_precedence_case_resolves_as_openclaw_does() {
    let files: &[(&str, Result<&str, &str>)] = &[
        ("/state/tg.token", Ok("111:FAKE-token-a\n")),
        ("/state/other.token", Ok("222:FAKE-token-b")),
        (
            "/state/locked.token",
            Err("the supervisor cannot read it: permission denied"),
        ),
        ("/state/empty.token", Ok("  \n")),
    ];
    let cases: &[Case] = &[
        (
            "no channels block: nothing, even with the env variable set",
            "{ gateway: { mode: 'local' } }",
            &[("TELEGRAM_BOT_TOKEN", TOKEN_A)],
            &[],
        ),
        (
            "telegram: tokenFile beats botToken",
            "{ channels: { telegram: { tokenFile: 'tg.token', botToken: '222:FAKE-token-b' } } }",
            &[],
            &[(
                "telegram",
                "default",
                "bot token",
                "channels.telegram.tokenFile in /state/openclaw.json (/state/tg.token)",
                Ok(TOKEN_A),
            )],
        ),
        (
            "telegram: botToken beats TELEGRAM_BOT_TOKEN",
            "{ channels: { telegram: { botToken: '111:FAKE-token-a' } } }",
            &[("TELEGRAM_BOT_TOKEN", TOKEN_B)],
            &[(
                "telegram",
                "default",
                "bot token",
                "channels.telegram.botToken in /state/openclaw.json",
                Ok(TOKEN_A),
            )],
        ),
        (
            "telegram: TELEGRAM_BOT_TOKEN for the default account",
            "{ channels: { telegram: { dmPolicy: 'pairing' } } }",
            &[("TELEGRAM_BOT_TOKEN", TOKEN_B)],
            &[(
                "telegram",
                "default",
                "bot token",
                "TELEGRAM_BOT_TOKEN in the gateway's environment",
                Ok(TOKEN_B),
            )],
        ),
        (
            "telegram: a blank botToken falls through to the environment",
            "{ channels: { telegram: { botToken: '  ' } } }",
            &[("TELEGRAM_BOT_TOKEN", TOKEN_B)],
            &[(
                "telegram",
                "default",
                "bot token",
                "TELEGRAM_BOT_TOKEN in the gateway's environment",
                Ok(TOKEN_B),
            )],
        ),
        (
            "telegram: an unreadable tokenFile is not checked and never falls through",
            "{ channels: { telegram: { tokenFile: 'locked.token', botToken: '111:FAKE-token-a' } } }",
            &[],
            &[(
                "telegram",
                "default",
                "bot token",
                "channels.telegram.tokenFile in /state/openclaw.json (/state/locked.token)",
                Err("the supervisor cannot read it: permission denied"),
            )],
        ),
        (
            "telegram: a missing tokenFile is not checked",
            "{ channels: { telegram: { tokenFile: '/nowhere' } } }",
            &[],
            &[(
                "telegram",
                "default",
                "bot token",
                "channels.telegram.tokenFile in /state/openclaw.json (/nowhere)",
                Err("no such file"),
            )],
        ),
        (
            "telegram: an empty tokenFile is not checked",
            "{ channels: { telegram: { tokenFile: 'empty.token' } } }",
            &[],
            &[(
                "telegram",
                "default",
                "bot token",
                "channels.telegram.tokenFile in /state/openclaw.json (/state/empty.token)",
                Err("the file is empty"),
            )],
        ),
        (
            "telegram: a file SecretRef is not checked",
            "{ channels: { telegram: { botToken: { source: 'file', provider: 'filemain', id: '/telegram' } } } }",
            &[("TELEGRAM_BOT_TOKEN", TOKEN_A)],
            &[(
                "telegram",
                "default",
                "bot token",
                "channels.telegram.botToken in /state/openclaw.json",
                Err(SECRET_REF),
            )],
        ),
        (
            "telegram: an env SecretRef on the default provider is read from the environment",
            "{ channels: { telegram: { botToken: { source: 'env', provider: 'default', id: 'TG' } } } }",
            &[("TG", TOKEN_A), ("TELEGRAM_BOT_TOKEN", TOKEN_B)],
            &[(
                "telegram",
                "default",
                "bot token",
                "channels.telegram.botToken in /state/openclaw.json",
                Ok(TOKEN_A),
            )],
        ),
        (
            "telegram: an env SecretRef whose variable is unset is not checked",
            "{ channels: { telegram: { botToken: { source: 'env', provider: 'default', id: 'TG' } } } }",
            &[("TELEGRAM_BOT_TOKEN", TOKEN_B)],
            &[(
                "telegram",
                "default",
                "bot token",
                "channels.telegram.botToken in /state/openclaw.json",
                Err(
                    "it is a SecretRef to TG, which is not set in the gateway's environment as the supervisor sees it",
                ),
            )],
        ),
        (
            "telegram: an env SecretRef on a redefined default provider is not checked",
            "{ secrets: { providers: { default: { source: 'env', allowlist: ['X'] } } }, channels: { telegram: { botToken: { source: 'env', provider: 'default', id: 'TG' } } } }",
            &[("TG", TOKEN_A)],
            &[(
                "telegram",
                "default",
                "bot token",
                "channels.telegram.botToken in /state/openclaw.json",
                Err(SECRET_REF),
            )],
        ),
        (
            "telegram: ${VAR} in botToken is substituted from the environment; $${VAR} is literal",
            "{ channels: { telegram: { botToken: '${TG}', accounts: { ops: { botToken: '$${TG}' }, dev: { botToken: '${MISSING}' } } } } }",
            &[("TG", TOKEN_A)],
            &[
                (
                    "telegram",
                    "default",
                    "bot token",
                    "channels.telegram.botToken in /state/openclaw.json",
                    Ok(TOKEN_A),
                ),
                (
                    "telegram",
                    "dev",
                    "bot token",
                    "channels.telegram.accounts.dev.botToken in /state/openclaw.json",
                    Err(
                        "it refers to ${MISSING}, which is not set in the gateway's environment as the supervisor sees it (openclaw leaves it unresolved)",
                    ),
                ),
                (
                    "telegram",
                    "ops",
                    "bot token",
                    "channels.telegram.accounts.ops.botToken in /state/openclaw.json",
                    Ok("other"),
                ),
            ],
        ),
        (
            "telegram: the config's env block fills TELEGRAM_BOT_TOKEN only where the process has none",
            "{ env: { vars: { TELEGRAM_BOT_TOKEN: '111:FAKE-token-a' } }, channels: { telegram: {} } }",
            &[],
            &[(
                "telegram",
                "default",
                "bot token",
                "TELEGRAM_BOT_TOKEN in the gateway's environment",
                Ok(TOKEN_A),
            )],
        ),
        (
            "telegram: the process environment beats the config's env block",
            "{ env: { TELEGRAM_BOT_TOKEN: '111:FAKE-token-a' }, channels: { telegram: {} } }",
            &[("TELEGRAM_BOT_TOKEN", TOKEN_B)],
            &[(
                "telegram",
                "default",
                "bot token",
                "TELEGRAM_BOT_TOKEN in the gateway's environment",
                Ok(TOKEN_B),
            )],
        ),
        (
            "telegram: named accounts, each its own token; the env is for the default account only",
            "{ channels: { telegram: { accounts: { alerts: { botToken: '111:FAKE-token-a' }, ops: { tokenFile: 'other.token', botToken: '111:FAKE-token-a' } } } } }",
            &[("TELEGRAM_BOT_TOKEN", TOKEN_A)],
            &[
                (
                    "telegram",
                    "default",
                    "bot token",
                    "TELEGRAM_BOT_TOKEN in the gateway's environment",
                    Ok(TOKEN_A),
                ),
                (
                    "telegram",
                    "alerts",
                    "bot token",
                    "channels.telegram.accounts.alerts.botToken in /state/openclaw.json",
                    Ok(TOKEN_A),
                ),
                (
                    "telegram",
                    "ops",
                    "bot token",
                    "channels.telegram.accounts.ops.tokenFile in /state/openclaw.json (/state/other.token)",
                    Ok(TOKEN_B),
                ),
            ],
        ),
        (
            "telegram: a named account without a token takes the channel's; not the env",
            "{ channels: { telegram: { accounts: { alerts: {} } } } }",
            &[],
            &[],
        ),
        (
            "telegram: a named account without a token takes the channel's botToken",
            "{ channels: { telegram: { botToken: '222:FAKE-token-b', accounts: { alerts: { name: 'Alerts' } } } } }",
            &[],
            &[
                (
                    "telegram",
                    "default",
                    "bot token",
                    "channels.telegram.botToken in /state/openclaw.json",
                    Ok(TOKEN_B),
                ),
                (
                    "telegram",
                    "alerts",
                    "bot token",
                    "channels.telegram.botToken in /state/openclaw.json",
                    Ok(TOKEN_B),
                ),
            ],
        ),
        (
            "telegram: a disabled channel is not part of the footprint",
            "{ channels: { telegram: { enabled: false, botToken: '111:FAKE-token-a' } } }",
            &[],
            &[],
        ),
        (
            "telegram: a disabled account is not part of the footprint",
            "{ channels: { telegram: { accounts: { default: { enabled: false, botToken: '111:FAKE-token-a' }, ops: { botToken: '222:FAKE-token-b' } } } } }",
            &[],
            &[(
                "telegram",
                "ops",
                "bot token",
                "channels.telegram.accounts.ops.botToken in /state/openclaw.json",
                Ok(TOKEN_B),
            )],
        ),
        (
            "discord: token beats DISCORD_BOT_TOKEN; named accounts",
            "{ channels: { discord: { token: '111:FAKE-token-a', accounts: { work: { token: '222:FAKE-token-b' } } } } }",
            &[("DISCORD_BOT_TOKEN", TOKEN_B)],
            &[
                (
                    "discord",
                    "default",
                    "bot token",
                    "channels.discord.token in /state/openclaw.json",
                    Ok(TOKEN_A),
                ),
                (
                    "discord",
                    "work",
                    "bot token",
                    "channels.discord.accounts.work.token in /state/openclaw.json",
                    Ok(TOKEN_B),
                ),
            ],
        ),
        (
            "discord: DISCORD_BOT_TOKEN once the block exists",
            "{ channels: { discord: {} } }",
            &[("DISCORD_BOT_TOKEN", TOKEN_B)],
            &[(
                "discord",
                "default",
                "bot token",
                "DISCORD_BOT_TOKEN in the gateway's environment",
                Ok(TOKEN_B),
            )],
        ),
        (
            "slack: bot and app tokens, config over env, env SecretRef read",
            "{ channels: { slack: { botToken: '111:FAKE-token-a', appToken: { source: 'env', provider: 'default', id: 'SLACK_APP_TOKEN' } } } }",
            &[("SLACK_BOT_TOKEN", TOKEN_B), ("SLACK_APP_TOKEN", TOKEN_B)],
            &[
                (
                    "slack",
                    "default",
                    "bot token",
                    "channels.slack.botToken in /state/openclaw.json",
                    Ok(TOKEN_A),
                ),
                (
                    "slack",
                    "default",
                    "app token",
                    "channels.slack.appToken in /state/openclaw.json",
                    Ok(TOKEN_B),
                ),
            ],
        ),
        (
            "slack: env fallbacks for the default account",
            "{ channels: { slack: { mode: 'socket' } } }",
            &[("SLACK_BOT_TOKEN", TOKEN_A), ("SLACK_APP_TOKEN", TOKEN_B)],
            &[
                (
                    "slack",
                    "default",
                    "bot token",
                    "SLACK_BOT_TOKEN in the gateway's environment",
                    Ok(TOKEN_A),
                ),
                (
                    "slack",
                    "default",
                    "app token",
                    "SLACK_APP_TOKEN in the gateway's environment",
                    Ok(TOKEN_B),
                ),
            ],
        ),
        (
            "unknown channels (whatsapp keeps its session in the state dir) are not credentials",
            "{ channels: { whatsapp: { enabled: true } } }",
            &[],
            &[],
        ),
    ];
    let mut failures = Vec::new();
    for (case, config, env, expected) in cases {
        let got = run(config, env, files);
        let expected: Vec<_> = expected
            .iter()
            .map(|(channel, account, what, source, resolved)| {
                (
                    channel.to_string(),
                    account.to_string(),
                    what.to_string(),
                    source.to_string(),
                    resolved.map(str::to_string).map_err(str::to_string),
                )
            })
            .collect();
        if got != expected {
            failures.push(format!(
                "{case}:\n  got      {got:?}\n  expected {expected:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn no_secret_in_debug_or_json() {
    let found = ChannelCredential {
        channel: "telegram".to_string(),
        account: "default".to_string(),
        what: "bot token".to_string(),
        source: "channels.telegram.botToken in /c".to_string(),
        resolved: Resolved::Checked(Secret::new(TOKEN_A)),
    };
    let config = ChannelsConfig(Some(
        serde_json::json!({ "channels": { "telegram": { "botToken": TOKEN_A } } }),
    ));
    let shown = format!(
        "{found:?} {config:?} {}",
        serde_json::to_string(&found).expect("json")
    );
    for part in ["111:", "FAKE-token-a", "token-a"] {
        assert!(!shown.contains(part), "{part} in {shown}");
    }
    assert_eq!(Secret::new(TOKEN_A), Secret::new(" 111:FAKE-token-a\n"));
    assert_ne!(Secret::new(TOKEN_A), Secret::new(TOKEN_B));
}

#[test]
fn dotenv_lines_are_read_for_the_wanted_names() {
    let text = "# comment\nexport TELEGRAM_BOT_TOKEN=\"111:FAKE-token-a\"\nOTHER=x\nSLACK_APP_TOKEN=abc # note\nDISCORD_BOT_TOKEN='q w'\n";
    assert_eq!(
        parse_dotenv(text, env_names()),
        vec![
            ("TELEGRAM_BOT_TOKEN".to_string(), TOKEN_A.to_string()),
            ("SLACK_APP_TOKEN".to_string(), "abc".to_string()),
            ("DISCORD_BOT_TOKEN".to_string(), "q w".to_string()),
        ]
    );
}
