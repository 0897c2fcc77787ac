//! A small part of openclaw 2026.9.6's strict config schema (`openclaw
//! config schema`): every top-level key, and the keys of `gateway`,
//! `gateway.auth` and `logging`. Below those the simulator accepts anything.
//! An unknown key is an issue, as in the real schema, and so is a
//! `gateway.port` that is not a number. (openclaw lists issues in the
//! file's order; the simulator in key order.)

use serde_json::Value;

/// One problem, with the real path and message texts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Issue {
    /// Dotted path of the object (or value) at fault; `<root>` for the top.
    pub path: String,
    pub message: String,
}

enum Node {
    /// Anything goes (the simulator does not model it).
    Open,
    Number,
    Object(&'static [(&'static str, Node)]),
}

const ROOT: &[(&str, Node)] = &[
    ("$schema", Node::Open),
    ("accessGroups", Node::Open),
    ("acp", Node::Open),
    ("agents", Node::Open),
    ("approvals", Node::Open),
    ("attachments", Node::Open),
    ("auth", Node::Open),
    ("bindings", Node::Open),
    ("broadcast", Node::Open),
    ("browser", Node::Open),
    ("channels", Node::Open),
    ("cloudWorkers", Node::Open),
    ("commands", Node::Open),
    ("cron", Node::Open),
    ("desktop", Node::Open),
    ("diagnostics", Node::Open),
    ("discovery", Node::Open),
    ("env", Node::Open),
    ("gateway", Node::Object(GATEWAY)),
    ("hooks", Node::Open),
    ("logging", Node::Object(LOGGING)),
    ("mcp", Node::Open),
    ("memory", Node::Open),
    ("messages", Node::Open),
    ("meta", Node::Open),
    ("models", Node::Open),
    ("nodeHost", Node::Open),
    ("plugins", Node::Open),
    ("proxy", Node::Open),
    ("secrets", Node::Open),
    ("security", Node::Open),
    ("session", Node::Open),
    ("skills", Node::Open),
    ("surfaces", Node::Open),
    ("talk", Node::Open),
    ("telemetry", Node::Open),
    ("tools", Node::Open),
    ("transcripts", Node::Open),
    ("tts", Node::Open),
    ("ui", Node::Open),
    ("update", Node::Open),
    ("wizard", Node::Open),
    ("worktreeAcceleration", Node::Open),
    ("worktreeRoot", Node::Open),
];

const GATEWAY: &[(&str, Node)] = &[
    ("allowRealIpFallback", Node::Open),
    ("auth", Node::Object(GATEWAY_AUTH)),
    ("bind", Node::Open),
    ("cliAgents", Node::Open),
    ("controlUi", Node::Open),
    ("customBindHost", Node::Open),
    ("http", Node::Open),
    ("mode", Node::Open),
    ("nodes", Node::Open),
    ("port", Node::Number),
    ("portals", Node::Open),
    ("publicOrigin", Node::Open),
    ("push", Node::Open),
    ("reload", Node::Open),
    ("remote", Node::Open),
    ("roles", Node::Open),
    ("tailscale", Node::Open),
    ("terminal", Node::Open),
    ("tls", Node::Open),
    ("tools", Node::Open),
    ("trustedProxies", Node::Open),
];

const GATEWAY_AUTH: &[(&str, Node)] = &[
    ("allowTailscale", Node::Open),
    ("identityScopes", Node::Open),
    ("mode", Node::Open),
    ("password", Node::Open),
    ("rateLimit", Node::Open),
    ("token", Node::Open),
    ("trustedProxy", Node::Open),
];

const LOGGING: &[(&str, Node)] = &[
    ("audit", Node::Open),
    ("consoleLevel", Node::Open),
    ("consoleStyle", Node::Open),
    ("file", Node::Open),
    ("level", Node::Open),
    ("maxFileBytes", Node::Open),
    ("redactPatterns", Node::Open),
];

/// The issues of a parsed config, in the real order: an object's members
/// first, then its own unknown keys.
pub fn issues(config: &Value) -> Vec<Issue> {
    let mut found = Vec::new();
    check(&Node::Object(ROOT), config, "", &mut found);
    found
}

fn check(node: &Node, value: &Value, path: &str, found: &mut Vec<Issue>) {
    let shown = if path.is_empty() { "<root>" } else { path };
    let expected = match node {
        Node::Open => return,
        Node::Number if value.is_number() => return,
        Node::Number => "number",
        Node::Object(keys) => match value.as_object() {
            Some(members) => {
                let mut unknown = Vec::new();
                for (key, member) in members {
                    match keys.iter().find(|(known, _)| known == key) {
                        Some((_, node)) => {
                            let path = if path.is_empty() {
                                key.clone()
                            } else {
                                format!("{path}.{key}")
                            };
                            check(node, member, &path, found)
                        }
                        None => unknown.push(format!("\"{key}\"")),
                    }
                }
                if !unknown.is_empty() {
                    let noun = if unknown.len() == 1 { "key" } else { "keys" };
                    found.push(Issue {
                        path: shown.to_string(),
                        message: format!("Unrecognized {noun}: {}", unknown.join(", ")),
                    });
                }
                return;
            }
            None => "object",
        },
    };
    found.push(Issue {
        path: shown.to_string(),
        message: format!(
            "Invalid input: expected {expected}, received {}",
            kind_of(value)
        ),
    });
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The line an issue is shown at, as `openclaw.json:N`: the first line
/// naming the last key of its path (1 when none does).
pub fn line_of(text: &str, path: &str) -> usize {
    let key = path.rsplit('.').next().unwrap_or(path);
    let names = |line: &str| {
        [format!("{key}:"), format!("\"{key}\""), format!("'{key}'")]
            .iter()
            .any(|pattern| {
                line.match_indices(pattern.as_str()).any(|(at, _)| {
                    at == 0
                        || !line[..at]
                            .chars()
                            .next_back()
                            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$')
                })
            })
    };
    text.lines().position(names).map_or(1, |index| index + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Value {
        json5::from_str(text).expect("JSON5")
    }

    #[test]
    fn issues_match_the_real_schema_on_the_tested_configs() {
        let rows: [(&str, &[(&str, &str)]); 5] = [
            (
                "{ gateway: { mode: 'local', port: 1, bind: 'loopback', auth: { token: 't' } }, logging: { file: '/x' }, browser: { cdpUrl: 'x', anything: 1 } }",
                &[],
            ),
            (
                "{ gateway: { mode: 'local', wibble: 1 } }",
                &[("gateway", "Unrecognized key: \"wibble\"")],
            ),
            // The texts openclaw 2026.9.6 gave for this config; it names
            // members in file order, the simulator in key order.
            (
                "{ wibble: true, gateway: { port: 'x', auth: { token: 't', foo: 1, bar: 2 } } }",
                &[
                    ("gateway.auth", "Unrecognized keys: \"bar\", \"foo\""),
                    (
                        "gateway.port",
                        "Invalid input: expected number, received string",
                    ),
                    ("<root>", "Unrecognized key: \"wibble\""),
                ],
            ),
            (
                "{ logging: { fiel: '/x' } }",
                &[("logging", "Unrecognized key: \"fiel\"")],
            ),
            (
                "[1]",
                &[("<root>", "Invalid input: expected object, received array")],
            ),
        ];
        for (text, expected) in rows {
            let expected: Vec<Issue> = expected
                .iter()
                .map(|(path, message)| Issue {
                    path: path.to_string(),
                    message: message.to_string(),
                })
                .collect();
            assert_eq!(issues(&parsed(text)), expected, "{text}");
        }
    }

    #[test]
    fn an_issue_is_shown_at_the_line_of_its_key() {
        let text = "// comment\n{\n  gateway: {\n    mode: \"local\",\n    wibble: 1,\n  },\n}\n";
        // openclaw showed `openclaw.json:3 — gateway: ...` for this file.
        assert_eq!(line_of(text, "gateway"), 3);
        assert_eq!(line_of(text, "gateway.auth"), 1);
        assert_eq!(
            line_of("{ \"gateway\": { \"port\": \"x\" } }", "gateway.port"),
            1
        );
        assert_eq!(line_of("{\n mygateway: 1,\n gateway: {} }", "gateway"), 3);
    }
}
