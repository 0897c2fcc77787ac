//! A rescue gateway's hooks as the supervisor needs them to wake its agent:
//! `hooks.enabled`, `hooks.token` (a plain string: openclaw's
//! `docs/gateway/config-hooks.md` says SecretRef objects are not supported
//! there; a `${VAR}` in it is substituted from the gateway's environment
//! when openclaw loads its config, so the supervisor substitutes it from
//! the rescue's child environment the same way) and `hooks.path` (default `/hooks`, a leading slash added and
//! trailing ones removed, as `resolveHooksConfig` does).
//!
//! Unlike [`super::secret::Secret`], a [`HookToken`] keeps its value: the
//! supervisor has to send it. It is read from the config only when a wake is
//! sent, never stored in a declaration, a snapshot or an event, and its Debug
//! and Display redact.
//!
//! Pure: works on the text it is given.

use serde_json::Value;

use super::EnvMap;
use super::channels::substitute_env;

/// The hooks path when `hooks.path` is not set.
pub const DEFAULT_HOOKS_PATH: &str = "/hooks";

/// A secret value that has to be used (sent, or redacted from text); it
/// never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct HookToken(String);

impl HookToken {
    /// The value, trimmed as the gateway trims it; `None` when blank.
    pub fn new(value: &str) -> Option<HookToken> {
        let trimmed = value.trim();
        (!trimmed.is_empty()).then(|| HookToken(trimmed.to_string()))
    }

    /// The value itself: only for the `Authorization` header and redaction.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for HookToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HookToken(<redacted>)")
    }
}

impl std::fmt::Display for HookToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// What a config says of its hooks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HooksSettings {
    /// `hooks.enabled: true`.
    pub enabled: bool,
    /// `hooks.token`, when a non-blank string.
    pub token: Option<HookToken>,
    /// `hooks.path`, normalised (`/hooks` when unset).
    pub path: String,
    /// The variable `hooks.token` refers to (`${VAR}`) that is not set in
    /// the environment given.
    pub unset_variable: Option<String>,
}

impl HooksSettings {
    /// Why a wake cannot be sent with these settings, and the fix; `None`
    /// when hooks are on with a token.
    pub fn missing(&self) -> Option<String> {
        match (self.enabled, &self.token, &self.unset_variable) {
            (true, Some(_), _) => None,
            (false, _, _) => Some("hooks are not enabled".to_string()),
            (true, None, Some(name)) => Some(format!(
                "hooks.token refers to ${{{name}}}, which is not set in the rescue's environment"
            )),
            (true, None, None) => Some("hooks.token is not set".to_string()),
        }
    }
}

/// The JSON5 to add to a rescue's config so that it can be woken.
pub const HOOKS_SNIPPET: &str = r#"hooks: { enabled: true, token: "<a long random value, not the gateway's token>", path: "/hooks" }"#;

/// `check`'s warning for a rescue with `wake` whose config cannot be woken
/// (hooks off, or no plain `hooks.token`), with what to add.
pub fn wake_warning(
    endpoint: crate::declaration::WakeEndpoint,
    config_path: &std::path::Path,
    settings: &HooksSettings,
) -> Option<String> {
    let missing = settings.missing()?;
    Some(format!(
        "`wake: {}` is set but in {} {missing}: the rescue's agent cannot be woken; add {HOOKS_SNIPPET} (the token a plain string, not a SecretRef)",
        endpoint.as_str(),
        config_path.display()
    ))
}

/// The hooks of the config `text` (JSON5), `${VAR}` in `hooks.token`
/// substituted from `env` (the rescue's child environment); an error when
/// it is not JSON5.
pub fn settings(text: &str, env: &EnvMap) -> Result<HooksSettings, String> {
    let root: Value = json5::from_str(text).map_err(|err| err.to_string())?;
    let hooks = root.get("hooks");
    let enabled = hooks.and_then(|h| h.get("enabled")) == Some(&Value::Bool(true));
    let written = hooks.and_then(|h| h.get("token")).and_then(Value::as_str);
    let (token, unset_variable) = match written.map(|text| substitute_env(text, env)) {
        None => (None, None),
        Some(Ok(value)) => (HookToken::new(&value), None),
        Some(Err(name)) => (None, Some(name)),
    };
    let written = hooks
        .and_then(|h| h.get("path"))
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|path| !path.is_empty())
        .unwrap_or(DEFAULT_HOOKS_PATH);
    Ok(HooksSettings {
        enabled,
        token,
        path: normalise_path(written),
        unset_variable,
    })
}

/// `hooks.path` as the gateway uses it: a leading slash, no trailing ones.
fn normalise_path(written: &str) -> String {
    let with_slash = if written.starts_with('/') {
        written.to_string()
    } else {
        format!("/{written}")
    };
    let trimmed = with_slash.trim_end_matches('/');
    if trimmed.is_empty() {
        // `/` is refused by the gateway; the default is what could work.
        DEFAULT_HOOKS_PATH.to_string()
    } else {
        trimmed.to_string()
    }
}

/// Every string under a secret key (`crate::secrets::is_secret_key`)
/// anywhere in the config `text`, `${VAR}` substituted from `env` (the
/// instance's child environment), to redact from a wake message by value.
/// Nothing for a config that is not JSON5.
pub fn secret_values(text: &str, env: &EnvMap) -> Vec<HookToken> {
    let Ok(root) = json5::from_str::<Value>(text) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    collect_secrets(&root, false, env, &mut found);
    found
}

fn collect_secrets(value: &Value, secret: bool, env: &EnvMap, found: &mut Vec<HookToken>) {
    match value {
        Value::Object(fields) => {
            for (key, value) in fields {
                let secret = secret || crate::secrets::is_secret_key(key);
                collect_secrets(value, secret, env, found);
            }
        }
        Value::Array(items) => {
            for item in items {
                collect_secrets(item, secret, env, found);
            }
        }
        Value::String(text) if secret => {
            let value = substitute_env(text, env).unwrap_or_else(|_| text.clone());
            found.extend(HookToken::new(&value));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hooks_settings_as_the_gateway_reads_them() {
        /// config, enabled, token, path, what is missing
        type Row = (
            &'static str,
            bool,
            Option<&'static str>,
            &'static str,
            Option<&'static str>,
        );
        let rows: [Row; 6] = [
            ("{}", false, None, "/hooks", Some("hooks are not enabled")),
            (
                "{ hooks: { enabled: true, token: ' tok-1 ' } }",
                true,
                Some("tok-1"),
                "/hooks",
                None,
            ),
            (
                "{ hooks: { enabled: true, token: '  ', path: 'rescue-hooks/' } }",
                true,
                None,
                "/rescue-hooks",
                Some("hooks.token is not set"),
            ),
            (
                "{ hooks: { enabled: false, token: 'tok', path: '/h//' } }",
                false,
                Some("tok"),
                "/h",
                Some("hooks are not enabled"),
            ),
            (
                // A SecretRef object is not supported there: no token.
                "{ hooks: { enabled: true, token: { source: 'env', id: 'X' } } }",
                true,
                None,
                "/hooks",
                Some("hooks.token is not set"),
            ),
            (
                "{ hooks: { enabled: true, token: 't', path: '/' } }",
                true,
                Some("t"),
                "/hooks",
                None,
            ),
        ];
        for (text, enabled, token, path, missing) in rows {
            let read = settings(text, &EnvMap::new()).expect("valid JSON5");
            assert_eq!(read.enabled, enabled, "{text}");
            assert_eq!(read.token.as_ref().map(HookToken::expose), token, "{text}");
            assert_eq!(read.path, path, "{text}");
            assert_eq!(read.missing().as_deref(), missing, "{text}");
        }
        assert!(settings("{ hooks: ", &EnvMap::new()).is_err());
    }

    #[test]
    fn check_says_what_to_add_when_a_woken_rescue_has_no_hooks() {
        use crate::declaration::WakeEndpoint;
        let path = std::path::Path::new("/r/openclaw.json");
        let read = |text: &str| settings(text, &EnvMap::new()).expect("valid JSON5");
        let sound = read("{ hooks: { enabled: true, token: 'tok' } }");
        assert_eq!(wake_warning(WakeEndpoint::Agent, path, &sound), None);
        for (config, missing) in [
            ("{ hooks: { token: 'tok' } }", "hooks are not enabled"),
            ("{}", "hooks are not enabled"),
            ("{ hooks: { enabled: true } }", "hooks.token is not set"),
            (
                "{ hooks: { enabled: true, token: '${HOOK_TOKEN_X}' } }",
                "hooks.token refers to ${HOOK_TOKEN_X}, which is not set",
            ),
        ] {
            let warning = wake_warning(WakeEndpoint::Wake, path, &read(config)).expect("warns");
            assert!(warning.contains(missing), "{warning}");
            assert!(warning.contains("`wake: wake`"), "{warning}");
            assert!(warning.contains(HOOKS_SNIPPET), "{warning}");
            assert!(warning.contains("/r/openclaw.json"), "{warning}");
        }
    }

    #[test]
    fn a_hook_token_never_prints_and_every_secret_is_found() {
        let token = HookToken::new("hook-secret-123").expect("not blank");
        assert!(!format!("{token:?} {token}").contains("hook-secret"));
        let env: EnvMap = [("TG_TOKEN".to_string(), "123456:tg-from-env".to_string())].into();
        let found = secret_values(
            "{ gateway: { auth: { token: 'gw-1', password: 'pw-2' } }, hooks: { token: 'hk-3' },
               channels: { telegram: { botToken: '${TG_TOKEN}', accounts: { b: { botToken: 'tg-b' } } } },
               models: { providers: { openai: { apiKey: 'sk-4', headers: ['x'] } } },
               agents: { maxTokens: 'not-a-secret' },
               auth: { credentials: { nested: { value: 'deep-5' } } } }",
            &env,
        );
        let mut values: Vec<&str> = found.iter().map(HookToken::expose).collect();
        values.sort_unstable();
        assert_eq!(
            values,
            [
                "123456:tg-from-env",
                "deep-5",
                "gw-1",
                "hk-3",
                "pw-2",
                "sk-4",
                "tg-b"
            ]
        );
        assert!(secret_values("not json", &env).is_empty());
    }

    #[test]
    fn a_hooks_token_from_a_variable_is_substituted_from_the_environment() {
        let config = "{ hooks: { enabled: true, token: '${RESCUE_HOOKS_TOKEN}' } }";
        let env: EnvMap = [(
            "RESCUE_HOOKS_TOKEN".to_string(),
            "hook-from-env".to_string(),
        )]
        .into();
        let read = settings(config, &env).expect("valid JSON5");
        assert_eq!(
            read.token.as_ref().map(HookToken::expose),
            Some("hook-from-env")
        );
        assert_eq!(read.missing(), None);
        let unset = settings(config, &EnvMap::new()).expect("valid JSON5");
        assert_eq!(unset.token, None);
        assert_eq!(unset.unset_variable.as_deref(), Some("RESCUE_HOOKS_TOKEN"));
        assert!(
            unset
                .missing()
                .is_some_and(|m| m.contains("${RESCUE_HOOKS_TOKEN}"))
        );
    }
}
