//! Related shared secrets (warnings, not conflicts): a `hooks.token` equal
//! to its own or another instance's gateway auth token (openclaw warns at
//! startup on the first, docs/gateway/config-hooks.md), and two instances
//! sharing a gateway auth token. Tokens are compared by keyed fingerprint
//! (`openclaw::Secret`); no message carries one. A token the supervisor
//! cannot read (a SecretRef, a `${VAR}`) is "not checked", with the reason.

use crate::openclaw::{Effective, Token};

/// `(instance, message)` for every shared-secret warning within `instances`.
pub fn shared_secret_warnings(instances: &[Effective]) -> Vec<(String, String)> {
    let mut warnings = Vec::new();
    for instance in instances {
        for token in [&instance.gateway_token, &instance.hooks_token] {
            if let Token::NotChecked { source, reason } = token {
                warnings.push((
                    instance.name.clone(),
                    format!(
                        "shared secrets not checked: {}'s {source}: {reason}",
                        instance.name
                    ),
                ));
            }
        }
        for owner in instances {
            if let Some(message) = hooks_reuse(instance, owner) {
                warnings.push((instance.name.clone(), message));
            }
        }
    }
    for (index, a) in instances.iter().enumerate() {
        for b in &instances[index + 1..] {
            if let Some((source_a, source_b)) = same(&a.gateway_token, &b.gateway_token) {
                warnings.push((
                    b.name.clone(),
                    format!(
                        "shared gateway token: {} ({source_a}) and {} ({source_b}) use the same gateway auth token: a client of one can use the other; give each its own",
                        a.name, b.name
                    ),
                ));
            }
        }
    }
    warnings
}

/// The warning when `instance`'s hooks token is `owner`'s gateway token.
fn hooks_reuse(instance: &Effective, owner: &Effective) -> Option<String> {
    let (hooks, auth) = same(&instance.hooks_token, &owner.gateway_token)?;
    let whose = if owner.name == instance.name {
        "its own".to_string()
    } else {
        format!("{}'s", owner.name)
    };
    Some(format!(
        "hooks token reuse: {}'s {hooks} equals {whose} gateway auth token ({auth}): whoever can send hooks can drive that gateway; set a distinct hooks.token",
        instance.name
    ))
}

/// The sources of two tokens known to be equal.
fn same<'a>(a: &'a Token, b: &'a Token) -> Option<(&'a str, &'a str)> {
    match (a, b) {
        (
            Token::Set {
                source: source_a,
                secret: secret_a,
            },
            Token::Set {
                source: source_b,
                secret: secret_b,
            },
        ) if secret_a == secret_b => Some((source_a, source_b)),
        _ => None,
    }
}
