//! A rescue gateway's hooks as the supervisor needs them to wake its agent:
//! `hooks.enabled`, `hooks.token` (a plain string: openclaw's
//! `docs/gateway/config-hooks.md` says SecretRef objects are not supported
//! there, and `resolveHooksConfig` in its dist reads no environment
//! variable) and `hooks.path` (default `/hooks`, a leading slash added and
//! trailing ones removed, as `resolveHooksConfig` does).
//!
//! Unlike [`super::secret::Secret`], a [`HookToken`] keeps its value: the
//! supervisor has to send it. It is read from the config only when a wake is
//! sent, never stored in a declaration, a snapshot or an event, and its Debug
//! and Display redact.
//!
//! Pure: works on the text it is given.

use serde_json::Value;

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
}

impl HooksSettings {
    /// Why a wake cannot be sent with these settings, and the fix; `None`
    /// when hooks are on with a token.
    pub fn missing(&self) -> Option<&'static str> {
        match (self.enabled, &self.token) {
            (true, Some(_)) => None,
            (false, _) => Some("hooks are not enabled"),
            (true, None) => Some("hooks.token is not set"),
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
    enabled: bool,
    token_set: bool,
) -> Option<String> {
    let missing = HooksSettings {
        enabled,
        token: token_set.then(|| HookToken("set".to_string())),
        path: DEFAULT_HOOKS_PATH.to_string(),
    }
    .missing()?;
    Some(format!(
        "`wake: {}` is set but in {} {missing}: the rescue's agent cannot be woken; add {HOOKS_SNIPPET} (the token a plain string, not a SecretRef)",
        endpoint.as_str(),
        config_path.display()
    ))
}

/// The hooks of the config `text` (JSON5); an error when it is not JSON5.
pub fn settings(text: &str) -> Result<HooksSettings, String> {
    let root: Value = json5::from_str(text).map_err(|err| err.to_string())?;
    let hooks = root.get("hooks");
    let enabled = hooks.and_then(|h| h.get("enabled")) == Some(&Value::Bool(true));
    let token = hooks
        .and_then(|h| h.get("token"))
        .and_then(Value::as_str)
        .and_then(HookToken::new);
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

/// Every plain secret string of the config `text` that could show up in a
/// gateway's output (`gateway.auth.token`, `gateway.auth.password`,
/// `hooks.token`), to redact from a wake message. Nothing for a config
/// that is not JSON5.
pub fn secret_values(text: &str) -> Vec<HookToken> {
    let Ok(root) = json5::from_str::<Value>(text) else {
        return Vec::new();
    };
    [
        &["gateway", "auth", "token"][..],
        &["gateway", "auth", "password"],
        &["hooks", "token"],
    ]
    .iter()
    .filter_map(|path| {
        path.iter()
            .try_fold(&root, |value, key| value.get(key))
            .and_then(Value::as_str)
            .and_then(HookToken::new)
    })
    .collect()
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
            let read = settings(text).expect("valid JSON5");
            assert_eq!(read.enabled, enabled, "{text}");
            assert_eq!(read.token.as_ref().map(HookToken::expose), token, "{text}");
            assert_eq!(read.path, path, "{text}");
            assert_eq!(read.missing(), missing, "{text}");
        }
        assert!(settings("{ hooks: ").is_err());
    }

    #[test]
    fn check_says_what_to_add_when_a_woken_rescue_has_no_hooks() {
        use crate::declaration::WakeEndpoint;
        let path = std::path::Path::new("/r/openclaw.json");
        assert_eq!(wake_warning(WakeEndpoint::Agent, path, true, true), None);
        for (enabled, token, missing) in [
            (false, true, "hooks are not enabled"),
            (false, false, "hooks are not enabled"),
            (true, false, "hooks.token is not set"),
        ] {
            let warning = wake_warning(WakeEndpoint::Wake, path, enabled, token).expect("warns");
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
        let found = secret_values(
            "{ gateway: { auth: { token: 'gw-1', password: 'pw-2' } }, hooks: { token: 'hk-3' } }",
        );
        let values: Vec<&str> = found.iter().map(HookToken::expose).collect();
        assert_eq!(values, ["gw-1", "pw-2", "hk-3"]);
        assert!(secret_values("not json").is_empty());
    }
}
