//! Keeping secrets out of the ConfigMap: every secret-looking string of an
//! OpenClaw config (under a secret key, at any depth: the items of
//! `apiKeys: [...]` too; or a URL with credentials anywhere) becomes a `${VAR}` reference (openclaw 2026.9.6
//! substitutes `${VAR}` in any config string, names `[A-Z_][A-Z0-9_]*`,
//! `$${VAR}` being a literal), and every `${VAR}` the config then holds is a
//! key of the instance's Secret. A key naming a file on this host (a
//! `tokenFile`) or a SecretRef read from a file or a command cannot be
//! carried into a pod: refused, with the fix.

use std::collections::BTreeMap;

use serde_json::Value;

/// One key of an instance's Secret: the variable the pod gets and where
/// its value is used.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SecretKey {
    pub name: String,
    /// e.g. ``gateway.auth.token`` or ``env: TELEGRAM_BOT_TOKEN``.
    pub used_by: String,
}

/// A config ready for a ConfigMap.
#[derive(Debug, Clone, PartialEq)]
pub struct Sanitized {
    /// Pretty JSON (the config's comments are not kept).
    pub text: String,
    /// Every `${VAR}` it references, sorted by name.
    pub keys: Vec<SecretKey>,
}

/// The variable openclaw's own docs use for a key, else one derived from
/// the key's path: `channels.telegram.botToken` ->
/// `OPENCLAW_CHANNELS_TELEGRAM_BOTTOKEN`.
fn variable_for(path: &[String]) -> String {
    let dotted = path.join(".");
    match dotted.as_str() {
        "gateway.auth.token" => "OPENCLAW_GATEWAY_TOKEN".to_string(),
        "gateway.auth.password" => "OPENCLAW_GATEWAY_PASSWORD".to_string(),
        "hooks.token" => "OPENCLAW_HOOKS_TOKEN".to_string(),
        _ => {
            let mut name = String::from("OPENCLAW");
            for segment in path {
                name.push('_');
                name.extend(segment.chars().map(|char| {
                    if char.is_ascii_alphanumeric() {
                        char.to_ascii_uppercase()
                    } else {
                        '_'
                    }
                }));
            }
            name
        }
    }
}

use crate::secrets::folded;

/// Whether a key (of a config or an environment variable) holds a secret:
/// the one rule (`crate::secrets`).
pub fn is_secret_name(key: &str) -> bool {
    crate::secrets::is_secret_key(key)
}

/// Whether a config key names a file holding a secret (`tokenFile`).
fn is_secret_file_key(key: &str) -> bool {
    let key = folded(key);
    key.ends_with("file") && is_secret_name(&key[..key.len() - 4])
}

/// The `${VAR}` names in `text` (not the escaped `$${VAR}`).
pub fn references(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut index = 0;
    while index + 1 < bytes.len() {
        if bytes[index] == b'$' && bytes[index + 1] == b'$' {
            index += 2;
            continue;
        }
        if bytes[index] == b'$' && bytes[index + 1] == b'{' {
            let start = index + 2;
            if let Some(length) = text[start..].find('}') {
                let name = &text[start..start + length];
                let valid = name
                    .bytes()
                    .next()
                    .is_some_and(|first| first.is_ascii_uppercase() || first == b'_')
                    && name.bytes().all(|byte| {
                        byte.is_ascii_uppercase() || byte.is_ascii_digit() || byte == b'_'
                    });
                if valid {
                    found.push(name.to_string());
                }
                index = start + length + 1;
                continue;
            }
        }
        index += 1;
    }
    found
}

struct Walk {
    keys: BTreeMap<String, String>,
    problems: Vec<String>,
}

impl Walk {
    /// Walks `value` at `path`; `secret`: it is under a secret key, so
    /// every string in it (the items of `apiKeys: ["a", "b"]`, the fields
    /// of an object) is a secret. A string that is a URL with credentials
    /// is one wherever it is.
    fn value(&mut self, path: &mut Vec<String>, value: &mut Value, secret: bool) {
        match value {
            Value::Object(map) => {
                let secret_ref = match (map.get("source"), map.get("provider"), map.get("id")) {
                    (Some(Value::String(source)), Some(_), Some(Value::String(id))) => {
                        Some((source.clone(), id.clone()))
                    }
                    _ => None,
                };
                if let Some((source, id)) = &secret_ref
                    && source == "env"
                {
                    self.keys
                        .entry(id.clone())
                        .or_insert_with(|| path.join("."));
                    return;
                }
                if let Some((source, _)) = &secret_ref
                    && (source == "file" || source == "exec")
                {
                    self.problems.push(format!(
                        "`{}` is a SecretRef read from a {source} on this host, which a pod does not have: make it `{{ source: \"env\", provider: \"default\", id: \"{}\" }}` and put the value in the instance's Secret",
                        path.join("."),
                        variable_for(path)
                    ));
                    return;
                }
                for (key, child) in map.iter_mut() {
                    path.push(key.clone());
                    if is_secret_file_key(key) && matches!(child, Value::String(_)) {
                        let base = &key[..key.len() - 4];
                        self.problems.push(format!(
                            "`{}` names a file on this host, which a pod does not have: write `{base}: \"${{{}}}\"` instead (openclaw substitutes it from the environment) and put the value in the instance's Secret",
                            path.join("."),
                            variable_for(&[&path[..path.len() - 1], &[base.to_string()]].concat())
                        ));
                    } else {
                        self.value(path, child, secret || is_secret_name(key));
                    }
                    path.pop();
                }
            }
            Value::Array(items) => {
                for (index, item) in items.iter_mut().enumerate() {
                    path.push(index.to_string());
                    self.value(path, item, secret);
                    path.pop();
                }
            }
            Value::String(text) => {
                let found = references(text);
                if found.is_empty()
                    && !text.is_empty()
                    && (secret || crate::vendor::has_url_credentials(text))
                {
                    let variable = variable_for(path);
                    self.keys
                        .entry(variable.clone())
                        .or_insert_with(|| path.join("."));
                    *text = format!("${{{variable}}}");
                    return;
                }
                for name in found {
                    self.keys.entry(name).or_insert_with(|| path.join("."));
                }
            }
            _ => {}
        }
    }
}

/// `config` with every inline secret replaced by a `${VAR}` reference, and
/// every variable it references; or every reason it cannot be carried.
pub fn sanitize_config(config: &Value) -> Result<Sanitized, Vec<String>> {
    let mut value = config.clone();
    let mut walk = Walk {
        keys: BTreeMap::new(),
        problems: Vec::new(),
    };
    walk.value(&mut Vec::new(), &mut value, false);
    if !walk.problems.is_empty() {
        return Err(walk.problems);
    }
    let mut text = serde_json::to_string_pretty(&value).map_err(|err| vec![err.to_string()])?;
    text.push('\n');
    Ok(Sanitized {
        text,
        keys: walk
            .keys
            .into_iter()
            .map(|(name, used_by)| SecretKey { name, used_by })
            .collect(),
    })
}
