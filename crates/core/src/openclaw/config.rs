//! The parts of an OpenClaw config file (JSON5) that decide an instance's
//! footprint: `gateway.port`, `gateway.bind`, `agents.*.workspace`,
//! `browser.cdpUrl`, `browser.profiles.*.cdpPort|cdpUrl`, `logging.file`,
//! `gateway.tailscale.mode`; and, as keyed fingerprints only (see
//! `secret.rs`), `gateway.auth.token` and `hooks.token` with `hooks.enabled`.
//! Everything else in the file is the gateway's business and is ignored.
//!
//! Pure: works on the text it is given.

use serde_json::Value;

use super::secret::Token;

/// Nesting deeper than this is refused before parsing: the JSON5 parser
/// recurses per level, and a stack overflow would abort the whole daemon.
/// Real configs nest fewer than ten levels.
const MAX_NESTING: usize = 64;

/// The footprint-relevant values of one OpenClaw config, as written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct ConfigView {
    pub gateway_port: Option<u16>,
    pub gateway_bind: Option<String>,
    pub defaults_workspace: Option<String>,
    /// `agents.list[]`: (id, workspace as written).
    pub agents: Vec<(String, Option<String>)>,
    /// Ports set explicitly for browsers on this host: (config key, port).
    pub cdp_ports: Vec<(String, u16)>,
    pub logging_file: Option<String>,
    /// `gateway.tailscale.mode`: `off`, `serve` or `funnel`.
    pub tailscale_mode: Option<String>,
    pub gateway_token: Token,
    pub hooks_token: Token,
    /// `hooks.enabled: true`: only then is `hooks.token` in use.
    pub hooks_enabled: bool,
    /// The variables `hooks.token` refers to (`${VAR}`), substituted from
    /// the gateway's environment.
    pub hooks_token_variables: Vec<String>,
    /// The config, when it has `channels`, for [`super::channels::resolve`].
    pub channels: super::channels::ChannelsConfig,
}

/// Why a config could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ConfigError {
    /// Not JSON5; line and column are 1-based.
    Syntax {
        line: Option<u32>,
        column: Option<u32>,
        message: String,
    },
    /// Valid JSON5 but a footprint key has a value openclaw would refuse.
    Value { key: String, message: String },
}

fn value_error(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Value {
        key: key.into(),
        message: message.into(),
    }
}

/// Parse `text` and pick out the footprint keys.
pub(super) fn parse(text: &str) -> Result<ConfigView, ConfigError> {
    check_nesting(text)?;
    let root: Value = json5::from_str(text).map_err(|err| {
        let message = match err.code() {
            Some(code) => code.to_string(),
            None => err.to_string(),
        };
        // The parser places an early end of input at the start; the end of
        // the text is where the operator has to look.
        let position = if message.starts_with("EOF") {
            Some(end_of(text))
        } else {
            err.position()
                .map(|position| (to_u32(position.line) + 1, to_u32(position.column) + 1))
        };
        ConfigError::Syntax {
            line: position.map(|(line, _)| line),
            column: position.map(|(_, column)| column),
            message,
        }
    })?;
    if !root.is_object() {
        return Err(value_error(
            "(top level)",
            "the config must be an object (`{ gateway: { ... } }`)",
        ));
    }
    let mut view = ConfigView {
        gateway_port: optional_port(&root, &["gateway", "port"])?,
        gateway_bind: optional_string(&root, &["gateway", "bind"])?,
        defaults_workspace: optional_string(&root, &["agents", "defaults", "workspace"])?,
        logging_file: optional_string(&root, &["logging", "file"])?,
        tailscale_mode: optional_string(&root, &["gateway", "tailscale", "mode"])?,
        gateway_token: token(&root, &["gateway", "auth", "token"]),
        hooks_token: token(&root, &["hooks", "token"]),
        hooks_enabled: lookup(&root, &["hooks", "enabled"]) == Some(&Value::Bool(true)),
        hooks_token_variables: lookup(&root, &["hooks", "token"])
            .and_then(Value::as_str)
            .map(referenced_variables)
            .unwrap_or_default(),
        // The whole config when it has channels: their tokens may come from
        // its `env` block or name a `secrets` provider.
        channels: super::channels::ChannelsConfig(
            lookup(&root, &["channels"]).is_some().then(|| root.clone()),
        ),
        ..ConfigView::default()
    };
    if let Some(mode) = &view.tailscale_mode
        && super::TailscaleMode::parse(mode).is_none()
    {
        return Err(value_error(
            "gateway.tailscale.mode",
            format!("`{mode}` is not a mode: use off, serve or funnel"),
        ));
    }
    if let Some(list) = lookup(&root, &["agents", "list"]) {
        let Some(list) = list.as_array() else {
            return Err(value_error("agents.list", "must be a list of agents"));
        };
        for (index, agent) in list.iter().enumerate() {
            let key = format!("agents.list[{index}]");
            let Some(id) = agent.get("id").and_then(Value::as_str) else {
                return Err(value_error(key, "every agent needs a string `id`"));
            };
            let workspace = optional_string(agent, &["workspace"])
                .map_err(|_| value_error(format!("{key}.workspace"), "must be a string path"))?;
            view.agents.push((id.to_string(), workspace));
        }
    }
    if let Some(url) = optional_string(&root, &["browser", "cdpUrl"])? {
        push_url_port(&mut view.cdp_ports, "browser.cdpUrl", &url)?;
    }
    if let Some(profiles) = lookup(&root, &["browser", "profiles"]) {
        let Some(profiles) = profiles.as_object() else {
            return Err(value_error(
                "browser.profiles",
                "must be an object of browser profiles",
            ));
        };
        for (name, profile) in profiles {
            let prefix = format!("browser.profiles.{name}");
            if let Some(port) = optional_port(profile, &["cdpPort"]).map_err(|_| {
                value_error(format!("{prefix}.cdpPort"), "must be a port (1..65535)")
            })? {
                view.cdp_ports.push((format!("{prefix}.cdpPort"), port));
            }
            if let Some(url) = optional_string(profile, &["cdpUrl"])
                .map_err(|_| value_error(format!("{prefix}.cdpUrl"), "must be a URL string"))?
            {
                push_url_port(&mut view.cdp_ports, &format!("{prefix}.cdpUrl"), &url)?;
            }
        }
    }
    Ok(view)
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX - 1)
}

/// The 1-based line and column just past the last character of `text`.
fn end_of(text: &str) -> (u32, u32) {
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    let line = count(text.lines().count().max(1)) + u32::from(text.ends_with('\n'));
    let column = if text.ends_with('\n') {
        1
    } else {
        count(text.lines().last().map_or(0, |last| last.chars().count())).saturating_add(1)
    };
    (line, column)
}

fn lookup<'a>(root: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter()
        .try_fold(root, |value, key| value.get(*key))
        .filter(|value| !value.is_null())
}

fn optional_string(root: &Value, path: &[&str]) -> Result<Option<String>, ConfigError> {
    match lookup(root, path) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(value_error(path.join("."), "must be a string")),
    }
}

/// The variables a `${VAR}` string refers to, in order.
fn referenced_variables(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut seen = super::EnvMap::new();
    while let Err(name) = super::channels::substitute_env(text, &seen) {
        seen.insert(name.clone(), "set".to_string());
        names.push(name);
    }
    names
}

/// A token key: a plain string is fingerprinted at once (the text is not
/// kept); a SecretRef object, a `${VAR}` substitution or any other value
/// is not checked, with the reason.
fn token(root: &Value, path: &[&str]) -> Token {
    let source = path.join(".");
    let not_checked = |reason: &str| Token::NotChecked {
        source: source.clone(),
        reason: reason.to_string(),
    };
    match lookup(root, path) {
        None => Token::Unset,
        Some(Value::String(text)) if text.contains("${") => {
            not_checked("it refers to an environment variable the gateway substitutes")
        }
        Some(Value::String(text)) => Token::plain(&source, text),
        Some(Value::Object(_)) => {
            not_checked("it is a SecretRef, resolved by the gateway at startup")
        }
        Some(_) => not_checked("it is not a string"),
    }
}

fn optional_port(root: &Value, path: &[&str]) -> Result<Option<u16>, ConfigError> {
    match lookup(root, path) {
        None => Ok(None),
        Some(value) => value
            .as_u64()
            .and_then(|port| u16::try_from(port).ok())
            .filter(|port| *port != 0)
            .map(Some)
            .ok_or_else(|| {
                value_error(
                    path.join("."),
                    format!("`{value}` is not a port: use a number from 1 to 65535"),
                )
            }),
    }
}

/// Record the port of a CDP URL when it is on this host. A remote browser's
/// port is that host's business; a local one claims a port here.
fn push_url_port(ports: &mut Vec<(String, u16)>, key: &str, url: &str) -> Result<(), ConfigError> {
    let (host, port) = url_host_port(url)
        .ok_or_else(|| value_error(key, format!("`{url}` is not a URL with a host")))?;
    if is_local_host(&host) {
        ports.push((key.to_string(), port));
    }
    Ok(())
}

/// The host and port of `scheme://[user@]host[:port][/...]`, with the
/// scheme's default port when none is written. `None` for what is not such
/// a URL or has a port that is not one.
pub(super) fn url_host_port(url: &str) -> Option<(String, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" | "ws" => 80,
        "https" | "wss" => 443,
        _ => return None,
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let (host, port) = if let Some(bracketed) = host_port.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']')?;
        (host, after.strip_prefix(':'))
    } else {
        match host_port.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    let port = match port {
        None | Some("") => default_port,
        Some(digits) if digits.bytes().all(|byte| byte.is_ascii_digit()) => {
            digits.parse::<u16>().ok().filter(|port| *port != 0)?
        }
        Some(_) => return None,
    };
    Some((host.to_ascii_lowercase(), port))
}

fn is_local_host(host: &str) -> bool {
    host == "localhost"
        || host.ends_with(".localhost")
        || host == "::1"
        || host == "::"
        || host == "0.0.0.0"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|address| address.is_loopback())
}

/// Refuse nesting deeper than [`MAX_NESTING`], skipping strings and comments.
fn check_nesting(text: &str) -> Result<(), ConfigError> {
    let mut depth = 0usize;
    let mut line = 1u32;
    let mut column = 0u32;
    let mut chars = text.chars().peekable();
    let mut in_string: Option<char> = None;
    while let Some(c) = chars.next() {
        column += 1;
        if c == '\n' {
            line += 1;
            column = 0;
        }
        if let Some(quote) = in_string {
            if c == '\\' {
                chars.next();
                column += 1;
            } else if c == quote {
                in_string = None;
            }
            continue;
        }
        match c {
            '"' | '\'' => in_string = Some(c),
            '/' if chars.peek() == Some(&'/') => {
                for skipped in chars.by_ref() {
                    if skipped == '\n' {
                        line += 1;
                        column = 0;
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut previous = ' ';
                for skipped in chars.by_ref() {
                    column += 1;
                    if skipped == '\n' {
                        line += 1;
                        column = 0;
                    }
                    if previous == '*' && skipped == '/' {
                        break;
                    }
                    previous = skipped;
                }
            }
            '{' | '[' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(ConfigError::Syntax {
                        line: Some(line),
                        column: Some(column),
                        message: format!("nested more than {MAX_NESTING} levels deep"),
                    });
                }
            }
            '}' | ']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn footprint_keys_are_read_and_the_rest_ignored() {
        let text = r#"// JSON5: comments, unquoted keys, trailing commas
        {
          gateway: { mode: "local", port: 19789, bind: "loopback", auth: { mode: "token" } },
          agents: {
            defaults: { workspace: "~/ws" },
            list: [ { id: "work", workspace: "/srv/work" }, { id: "play" }, ],
          },
          browser: {
            cdpUrl: "http://127.0.0.1:19900",
            profiles: {
              remote: { cdpUrl: "wss://chrome.example.com/session?token=x" },
              local: { cdpPort: 19950, cdpUrl: "ws://[::1]:19951/devtools" },
            },
          },
          logging: { file: "/var/log/oc.log" },
          plugins: { anything: [1, 2, 3] },
        }"#;
        let view = parse(text).expect("valid config");
        assert_eq!(view.gateway_port, Some(19789));
        assert_eq!(view.gateway_bind.as_deref(), Some("loopback"));
        assert_eq!(view.defaults_workspace.as_deref(), Some("~/ws"));
        assert_eq!(
            view.agents,
            vec![
                ("work".to_string(), Some("/srv/work".to_string())),
                ("play".to_string(), None)
            ]
        );
        assert_eq!(
            view.cdp_ports,
            vec![
                ("browser.cdpUrl".to_string(), 19900),
                ("browser.profiles.local.cdpPort".to_string(), 19950),
                ("browser.profiles.local.cdpUrl".to_string(), 19951),
            ]
        );
        assert_eq!(view.logging_file.as_deref(), Some("/var/log/oc.log"));
    }

    #[test]
    fn bad_configs_are_errors_with_a_place() {
        let rows: &[(&str, ConfigError)] = &[
            (
                "{\n  gateway: { port: 18789,, }\n}",
                ConfigError::Syntax {
                    line: Some(2),
                    column: Some(26),
                    message: "expected identifier".to_string(),
                },
            ),
            (
                "{ gateway: { port: 70000 } }",
                value_error(
                    "gateway.port",
                    "`70000` is not a port: use a number from 1 to 65535",
                ),
            ),
            (
                "{ gateway: { port: '18789' } }",
                value_error(
                    "gateway.port",
                    "`\"18789\"` is not a port: use a number from 1 to 65535",
                ),
            ),
            (
                "{ agents: { list: [ { workspace: '/x' } ] } }",
                value_error("agents.list[0]", "every agent needs a string `id`"),
            ),
            (
                "{ browser: { cdpUrl: 'not a url' } }",
                value_error("browser.cdpUrl", "`not a url` is not a URL with a host"),
            ),
            (
                "[1]",
                value_error(
                    "(top level)",
                    "the config must be an object (`{ gateway: { ... } }`)",
                ),
            ),
        ];
        for (text, expected) in rows {
            assert_eq!(parse(text).as_ref(), Err(expected), "{text}");
        }
    }

    #[test]
    fn deep_nesting_is_refused_before_the_parser_recurses() {
        let deep = format!("{{a: {}1{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(matches!(
            parse(&deep),
            Err(ConfigError::Syntax { message, .. }) if message.contains("nested")
        ));
        // Brackets inside strings and comments do not count.
        let fine = format!("{{ a: '{}', /* {} */ }}", "[".repeat(200), "{".repeat(200));
        assert!(parse(&fine).is_ok());
    }

    #[test]
    fn url_ports_follow_the_url() {
        let rows: &[(&str, Option<(&str, u16)>)] = &[
            ("http://127.0.0.1:18792", Some(("127.0.0.1", 18792))),
            (
                "ws://localhost:9222/devtools/browser/x",
                Some(("localhost", 9222)),
            ),
            ("http://user:pw@127.0.0.1:9000/", Some(("127.0.0.1", 9000))),
            ("ws://[::1]:9333", Some(("::1", 9333))),
            ("http://127.0.0.1", Some(("127.0.0.1", 80))),
            ("wss://Example.com", Some(("example.com", 443))),
            ("http://127.0.0.1:99999", None),
            ("http://127.0.0.1:0", None),
            ("http://:80", None),
            ("ftp://x:21", None),
            ("127.0.0.1:9222", None),
        ];
        for (url, expected) in rows {
            assert_eq!(
                url_host_port(url),
                expected.map(|(host, port)| (host.to_string(), port)),
                "{url}"
            );
        }
    }
}
