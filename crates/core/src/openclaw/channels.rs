//! Channel credentials: which bot token (or app token) each enabled channel
//! account of an instance resolves to, as openclaw 2026.9.6 resolves it.
//! Two gateways polling one Telegram bot, or holding one Discord or Slack
//! socket, steal each other's updates; `isolation` compares what is
//! resolved here.
//!
//! Precedence, per account (`default`, or a key of `accounts`):
//! - Telegram (`resolveTelegramToken` in
//!   `dist/extensions/telegram/.setup/setup-plugin-api-*.mjs`;
//!   `docs/channels/telegram.md`): `accounts.<id>.tokenFile` >
//!   `accounts.<id>.botToken` > `tokenFile` > `botToken` >
//!   `TELEGRAM_BOT_TOKEN` (the default account only). A configured
//!   tokenFile that cannot be read (or is a symlink, which openclaw rejects)
//!   leaves the account without a token: it never falls through.
//! - Discord (`docs/channels/discord/setup.md`, "Token resolution is
//!   account-aware"): `accounts.<id>.token` > `token` > `DISCORD_BOT_TOKEN`
//!   (the default account only).
//! - Slack (`docs/channels/slack/setup.md`, "Token model"): `botToken`,
//!   `appToken` and `userToken`, each `accounts.<id>.X` > `X` >
//!   `SLACK_BOT_TOKEN` / `SLACK_APP_TOKEN` / `SLACK_USER_TOKEN` (the default
//!   account only).
//!
//! Accounts (`createAccountListHelpers` in `dist/account-helpers-*.mjs`):
//! the keys of `accounts`, plus `default` when the channel itself carries a
//! credential (or its env variable is set), or when there are no accounts.
//! A channel or account with `enabled: false` is not part of the footprint;
//! a channel without a block in the config is not started (docs:
//! `docs/channels/discord/access-control.md`).
//!
//! Pure: the config subtree, the environment and a file reader are given.
//! The secret never leaves this module: only a keyed fingerprint
//! ([`Secret`]) does, and it prints as `<redacted>`.

use std::path::{Path, PathBuf};

use serde::{Serialize, Serializer, ser::SerializeStruct};
use serde_json::Value;

use super::{EnvMap, Secret};

/// One credential of one channel: its config key and env fallback.
struct Credential {
    /// What it is called in messages: `bot token`, `app token`.
    what: &'static str,
    /// The config key on the channel or account.
    key: &'static str,
    /// A key naming a file that holds it (Telegram's `tokenFile`).
    file_key: Option<&'static str>,
    /// The environment variable the default account falls back to.
    env: &'static str,
}

/// A channel whose accounts hold tokens.
struct Channel {
    id: &'static str,
    credentials: &'static [Credential],
}

const CHANNELS: &[Channel] = &[
    Channel {
        id: "telegram",
        credentials: &[Credential {
            what: "bot token",
            key: "botToken",
            file_key: Some("tokenFile"),
            env: "TELEGRAM_BOT_TOKEN",
        }],
    },
    Channel {
        id: "discord",
        credentials: &[Credential {
            what: "bot token",
            key: "token",
            file_key: None,
            env: "DISCORD_BOT_TOKEN",
        }],
    },
    Channel {
        id: "slack",
        credentials: &[
            Credential {
                what: "bot token",
                key: "botToken",
                file_key: None,
                env: "SLACK_BOT_TOKEN",
            },
            Credential {
                what: "app token",
                key: "appToken",
                file_key: None,
                env: "SLACK_APP_TOKEN",
            },
            Credential {
                what: "user token",
                key: "userToken",
                file_key: None,
                env: "SLACK_USER_TOKEN",
            },
        ],
    },
];

/// The environment variables channel resolution reads (to pick out of a
/// state dir's `.env`).
pub fn env_names() -> impl Iterator<Item = &'static str> + Clone {
    CHANNELS
        .iter()
        .flat_map(|channel| channel.credentials.iter().map(|credential| credential.env))
}

/// Whether a credential could be compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// Resolved: its fingerprint.
    Checked(Secret),
    /// Configured, but the supervisor cannot know its value: why.
    NotChecked(String),
}

/// The credential one enabled account of an instance resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelCredential {
    /// `telegram`, `discord`, `slack`.
    pub channel: String,
    /// `default` or the key under `accounts`.
    pub account: String,
    /// `bot token`, `app token`, `user token`.
    pub what: String,
    /// Where it is taken from: a config key with its file, a tokenFile, or
    /// an environment variable. Never the value.
    pub source: String,
    pub resolved: Resolved,
}

impl Serialize for ChannelCredential {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut state = serializer.serialize_struct("ChannelCredential", 6)?;
        state.serialize_field("channel", &self.channel)?;
        state.serialize_field("account", &self.account)?;
        state.serialize_field("credential", &self.what)?;
        state.serialize_field("source", &self.source)?;
        state.serialize_field("checked", &matches!(self.resolved, Resolved::Checked(_)))?;
        let reason = match &self.resolved {
            Resolved::Checked(_) => None,
            Resolved::NotChecked(reason) => Some(reason),
        };
        state.serialize_field("not_checked", &reason)?;
        state.end()
    }
}

/// An OpenClaw config that has a `channels` block (None: no channels). Its
/// Debug never shows the values (they include tokens).
#[derive(Clone, Default, PartialEq, Eq)]
pub(super) struct ChannelsConfig(pub Option<Value>);

impl std::fmt::Debug for ChannelsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChannelsConfig(<redacted>)")
    }
}

/// What resolution needs from outside.
pub(super) struct Sources<'a> {
    /// The gateway's environment (its state dir's `.env` included).
    pub env: &'a EnvMap,
    /// The OpenClaw config file, to name where a key is written.
    pub config: &'a Path,
    /// Resolves a tokenFile as written to the path the gateway reads.
    pub place: &'a dyn Fn(&str) -> PathBuf,
    /// Reads a tokenFile: its text, or why it cannot be had.
    pub read: &'a dyn Fn(&Path) -> Result<String, String>,
}

/// Every credential of every enabled account of the known channels, in
/// channel, account and credential order.
pub(super) fn resolve(config: &ChannelsConfig, sources: &Sources<'_>) -> Vec<ChannelCredential> {
    let Some(config) = config.0.as_ref() else {
        return Vec::new();
    };
    let Some(root) = config.get("channels").and_then(Value::as_object) else {
        return Vec::new();
    };
    let env = gateway_env(config, sources.env);
    let sources = &Sources {
        env: &env,
        ..*sources
    };
    let secrets = Secrets {
        env: sources.env,
        default_provider_is_env: default_provider_is_env(config),
    };
    let mut found = Vec::new();
    for channel in CHANNELS {
        let Some(block) = root.get(channel.id).filter(|block| block.is_object()) else {
            continue;
        };
        if block.get("enabled") == Some(&Value::Bool(false)) {
            continue;
        }
        for account in account_ids(channel, block, sources.env) {
            let account_block = block
                .get("accounts")
                .and_then(Value::as_object)
                .and_then(|accounts| accounts.get(&account));
            if account_block.and_then(|block| block.get("enabled")) == Some(&Value::Bool(false)) {
                continue;
            }
            for credential in channel.credentials {
                if let Some(resolved) = resolve_one(
                    channel,
                    credential,
                    &account,
                    (account_block, block),
                    sources,
                    &secrets,
                ) {
                    found.push(resolved);
                }
            }
        }
    }
    found
}

/// The accounts openclaw lists for `block`.
fn account_ids(channel: &Channel, block: &Value, env: &EnvMap) -> Vec<String> {
    let mut ids: Vec<String> = block
        .get("accounts")
        .and_then(Value::as_object)
        .map(|accounts| accounts.keys().cloned().collect())
        .unwrap_or_default();
    let implicit_default = channel.credentials.iter().any(|credential| {
        configured(block.get(credential.key))
            || credential
                .file_key
                .is_some_and(|key| configured(block.get(key)))
            || env
                .get(credential.env)
                .is_some_and(|value| !value.trim().is_empty())
    });
    if (implicit_default || ids.is_empty()) && !ids.iter().any(|id| id == "default") {
        ids.insert(0, "default".to_string());
    }
    ids
}

/// A value that counts as configured: a non-blank string or a SecretRef.
fn configured(value: Option<&Value>) -> bool {
    match value {
        Some(Value::String(text)) => !text.trim().is_empty(),
        Some(Value::Object(_)) => true,
        _ => false,
    }
}

fn resolve_one(
    channel: &Channel,
    credential: &Credential,
    account: &str,
    (account_block, block): (Option<&Value>, &Value),
    sources: &Sources<'_>,
    secrets: &Secrets<'_>,
) -> Option<ChannelCredential> {
    let config = sources.config.display();
    let found = |source: String, resolved: Resolved| ChannelCredential {
        channel: channel.id.to_string(),
        account: account.to_string(),
        what: credential.what.to_string(),
        source,
        resolved,
    };
    let levels = [
        (
            account_block,
            format!("channels.{}.accounts.{account}", channel.id),
        ),
        (Some(block), format!("channels.{}", channel.id)),
    ];
    for (level, prefix) in levels {
        let Some(level) = level else { continue };
        if let Some(file_key) = credential.file_key
            && let Some(written) = level
                .get(file_key)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|written| !written.is_empty())
        {
            let path = (sources.place)(written);
            let source = format!("{prefix}.{file_key} in {config} ({})", path.display());
            return Some(match (sources.read)(&path) {
                Ok(text) if !text.trim().is_empty() => {
                    found(source, Resolved::Checked(Secret::new(&text)))
                }
                Ok(_) => found(
                    source,
                    Resolved::NotChecked("the file is empty".to_string()),
                ),
                Err(reason) => found(source, Resolved::NotChecked(reason)),
            });
        }
        let source = || format!("{prefix}.{} in {config}", credential.key);
        match level.get(credential.key) {
            Some(Value::String(text)) if !text.trim().is_empty() => {
                return Some(found(source(), secrets.substitute(text)));
            }
            Some(reference @ Value::Object(_)) => {
                return Some(found(source(), secrets.reference(reference)));
            }
            _ => {}
        }
    }
    if account != "default" {
        return None;
    }
    sources
        .env
        .get(credential.env)
        .filter(|value| !value.trim().is_empty())
        .map(|value| {
            found(
                format!("{} in the gateway's environment", credential.env),
                Resolved::Checked(Secret::new(value)),
            )
        })
}

/// The gateway's environment: `env` (the process's, with the state dir's
/// `.env`), then the config's `env.vars.*` and `env.*` strings where a key
/// is missing (`collectConfigEnvVarsByTarget` in
/// `dist/config-env-vars-*.mjs`; `docs/help/environment.md`, "Precedence"):
/// blank values and values with `${...}` are not applied.
fn gateway_env(config: &Value, env: &EnvMap) -> EnvMap {
    let mut gateway = env.clone();
    let Some(block) = config.get("env").and_then(Value::as_object) else {
        return gateway;
    };
    let vars = block.get("vars").and_then(Value::as_object);
    let direct = block
        .iter()
        .filter(|(key, _)| key.as_str() != "vars" && key.as_str() != "shellEnv");
    for (key, value) in vars.into_iter().flatten().chain(direct) {
        if let Some(value) = value.as_str()
            && !value.trim().is_empty()
            && !value.contains("${")
        {
            gateway
                .entry(key.clone())
                .or_insert_with(|| value.to_string());
        }
    }
    gateway
}

/// Whether a SecretRef's `default` provider reads the environment: it does
/// unless `secrets.providers.default` says otherwise
/// (`docs/gateway/config-secrets-env.md`, "Secret providers config").
fn default_provider_is_env(config: &Value) -> bool {
    match config
        .get("secrets")
        .and_then(|secrets| secrets.get("providers"))
        .and_then(|providers| providers.get("default"))
    {
        None => true,
        Some(provider) => {
            provider.as_object().is_some_and(|fields| fields.len() == 1)
                && provider.get("source").and_then(Value::as_str) == Some("env")
        }
    }
}

/// A config string with `${VAR}` substituted from a gateway's environment
/// (`$${VAR}` is a literal `${VAR}`; `docs/gateway/config-secrets-env.md`,
/// "Env var substitution"); `Err` with the name of the first variable that
/// is unset or blank.
pub fn substitute_env(text: &str, env: &EnvMap) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        let escaped = rest[..at].ends_with('$');
        let Some(end) = rest[at..].find('}') else {
            break;
        };
        let name = &rest[at + 2..at + end];
        let is_name = name
            .chars()
            .next()
            .is_some_and(|first| first.is_ascii_uppercase() || first == '_')
            && name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        if escaped {
            out.push_str(&rest[..at - 1]);
            out.push_str(&rest[at..at + end + 1]);
        } else if is_name {
            out.push_str(&rest[..at]);
            match env.get(name).filter(|value| !value.trim().is_empty()) {
                Some(value) => out.push_str(value),
                None => return Err(name.to_string()),
            }
        } else {
            out.push_str(&rest[..at + end + 1]);
        }
        rest = &rest[at + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// How a configured value becomes a token.
struct Secrets<'a> {
    env: &'a EnvMap,
    default_provider_is_env: bool,
}

impl Secrets<'_> {
    /// A string value, with `${VAR}` substituted from the gateway's
    /// environment (`$${VAR}` is a literal `${VAR}`;
    /// `docs/gateway/config-secrets-env.md`, "Env var substitution").
    fn substitute(&self, text: &str) -> Resolved {
        match substitute_env(text, self.env) {
            Ok(value) => Resolved::Checked(Secret::new(&value)),
            Err(name) => Resolved::NotChecked(format!(
                "it refers to ${{{name}}}, which is not set in the gateway's environment as the supervisor sees it (openclaw leaves it unresolved)"
            )),
        }
    }

    /// A SecretRef object: an env one on the default provider is read from
    /// the gateway's environment; any other is not checked.
    fn reference(&self, reference: &Value) -> Resolved {
        let field = |key: &str| reference.get(key).and_then(Value::as_str);
        let provider = field("provider").unwrap_or("default");
        match (field("source"), field("id")) {
            (Some("env"), Some(id)) if provider == "default" && self.default_provider_is_env => {
                match self.env.get(id).filter(|value| !value.trim().is_empty()) {
                    Some(value) => Resolved::Checked(Secret::new(value)),
                    None => Resolved::NotChecked(format!(
                        "it is a SecretRef to {id}, which is not set in the gateway's environment as the supervisor sees it"
                    )),
                }
            }
            _ => Resolved::NotChecked(
                "it is a SecretRef the supervisor does not resolve (only `source: \"env\"` on the default provider is read)"
                    .to_string(),
            ),
        }
    }
}

/// The fix for two instances on one credential of `channel`, asking
/// `moving` (declared in `file`) to change.
pub fn fix(channel: &str, what: &str, moving: &str, config: &Path) -> String {
    let config = config.display();
    match channel {
        "telegram" => format!(
            "create a second bot for {moving} with BotFather and put its token in {moving}'s config {config}"
        ),
        "discord" => format!(
            "create a second application with its own bot for {moving} in the Discord developer portal and put its bot token in {moving}'s config {config}"
        ),
        "slack" => format!(
            "create a second Slack app for {moving} and put its {what} in {moving}'s config {config}"
        ),
        _ => format!("give {moving} a {what} of its own in its config {config}"),
    }
}

/// The `KEY=value` pairs of a dotenv text that are among `wanted`
/// (`export ` prefixes, quotes and `#` comments handled as dotenv does for
/// plain values).
pub fn parse_dotenv<'a>(
    text: &str,
    wanted: impl Iterator<Item = &'a str> + Clone,
) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            let line = line.strip_prefix("export ").unwrap_or(line);
            let (key, value) = line.split_once('=')?;
            let key = key.trim();
            if !wanted.clone().any(|name| name == key) {
                return None;
            }
            let value = value.trim();
            let value = match value.chars().next() {
                Some(quote @ ('"' | '\'' | '`')) => value[1..]
                    .split_once(quote)
                    .map_or(&value[1..], |(inner, _)| inner),
                _ => value.split(" #").next().unwrap_or_default().trim(),
            };
            Some((key.to_string(), value.to_string()))
        })
        .collect()
}

#[cfg(test)]
#[path = "channels_tests.rs"]
mod tests;
