//! What `openclaw gateway install` left on a host, read for `import`: the
//! vendor's systemd units (`openclaw-gateway[-<profile>].service`, as
//! openclaw 2026.9.6 writes them in its `dist/systemd-unit-*.mjs`) and the
//! profile state dirs (`~/.openclaw`, `~/.openclaw-<profile>`, as its
//! `dist/profile-utils-*.mjs` names them). Everything here is pure; the
//! command reads the files and hands their text in.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::declaration::{Declaration, is_valid_name};

/// The vendor's unit name without a profile.
pub const UNIT_PREFIX: &str = "openclaw-gateway";

/// Where a vendor unit is installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// `~/.config/systemd/user/` (what `openclaw gateway install` writes).
    User,
    /// `/etc/systemd/system/`.
    System,
}

/// The parts of a unit file `import` uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitFile {
    /// `ExecStart=` split into words (the last one wins, as in systemd).
    pub exec_start: Vec<String>,
    /// `Environment=` assignments in order; a later one of a key wins.
    pub environment: BTreeMap<String, String>,
    /// `EnvironmentFile=` paths (not read: they may hold secrets).
    pub environment_files: Vec<String>,
}

/// Split a unit file into `(section, key, value)` entries: comments dropped,
/// continuation lines (ending in `\`) joined with a space.
fn entries(text: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut section = String::new();
    let mut pending = String::new();
    for raw in text.lines() {
        let line = raw.trim();
        if pending.is_empty() && (line.starts_with('#') || line.starts_with(';')) {
            continue;
        }
        if let Some(body) = line.strip_suffix('\\') {
            pending.push_str(body);
            pending.push(' ');
            continue;
        }
        pending.push_str(line);
        let logical = std::mem::take(&mut pending);
        let logical = logical.trim();
        if logical.starts_with('[') && logical.ends_with(']') {
            section = logical[1..logical.len() - 1].to_string();
        } else if let Some((key, value)) = logical.split_once('=') {
            out.push((
                section.clone(),
                key.trim().to_string(),
                value.trim().to_string(),
            ));
        }
    }
    out
}

/// Words as systemd splits them (`extract_first_word` with unquoting):
/// whitespace separates; `"` or `'` open a quoted part anywhere in a word
/// (`A="two words"` is one word, `A=two words`); a backslash escapes the
/// next character outside single quotes; `%%` is `%`.
pub fn split_words(value: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = value.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return words;
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        while let Some(c) = chars.next() {
            match (quote, c) {
                (None, c) if c.is_whitespace() => break,
                (None, '"' | '\'') => quote = Some(c),
                (Some(open), c) if c == open => quote = None,
                (Some('\''), c) => word.push(c),
                (_, '\\') => word.extend(chars.next()),
                (_, c) => word.push(c),
            }
        }
        words.push(word.replace("%%", "%"));
    }
}

/// Parse a unit file's `[Service]` section.
pub fn parse_unit(text: &str) -> UnitFile {
    let mut unit = UnitFile::default();
    for (section, key, value) in entries(text) {
        if section != "Service" {
            continue;
        }
        match key.as_str() {
            "ExecStart" => {
                let command = value.trim_start_matches(['-', '@', ':', '+', '!']);
                unit.exec_start = split_words(command);
            }
            "Environment" => {
                for word in split_words(&value) {
                    if let Some((name, value)) = word.split_once('=')
                        && !name.is_empty()
                    {
                        unit.environment.insert(name.to_string(), value.to_string());
                    }
                }
            }
            "EnvironmentFile" => unit
                .environment_files
                .push(value.trim_start_matches('-').to_string()),
            _ => {}
        }
    }
    unit
}

/// The profile a vendor unit's file name stands for: `Some(None)` for
/// `openclaw-gateway.service` (the default profile), `Some(Some(p))` for
/// `openclaw-gateway-<p>.service`, `None` for any other file.
pub fn unit_name_profile(file_name: &str) -> Option<Option<String>> {
    let stem = file_name.strip_suffix(".service")?;
    suffix_profile(stem.strip_prefix(UNIT_PREFIX)?)
}

/// The profile a state dir's name stands for (`.openclaw` -> default,
/// `.openclaw-<p>` -> `p`); `None` for any other name.
pub fn dir_name_profile(dir_name: &str) -> Option<Option<String>> {
    suffix_profile(dir_name.strip_prefix(".openclaw")?)
}

/// What follows a name's fixed part: nothing (the default profile) or
/// `-<profile>` with a valid profile name.
fn suffix_profile(rest: &str) -> Option<Option<String>> {
    if rest.is_empty() {
        return Some(None);
    }
    let profile = rest.strip_prefix('-')?;
    is_valid_name(profile).then(|| normalize_profile(profile))
}

/// A profile as openclaw normalizes it (`normalizeProfileName` in its
/// `dist/profile-utils-*.mjs`): trimmed; empty, `default` (any case) or not
/// a valid name is the default profile. So a unit's `OPENCLAW_PROFILE` of
/// `../x` is the default profile, as the gateway would run it, and never a
/// path.
fn normalize_profile(profile: &str) -> Option<String> {
    let profile = profile.trim();
    (!profile.is_empty() && !profile.eq_ignore_ascii_case("default") && is_valid_name(profile))
        .then(|| profile.to_string())
}

/// A value that is a URL with credentials in it (`http://user:pass@host`,
/// as `OPENCLAW_PROXY_URL` may be): a secret whatever its name.
pub fn has_url_credentials(value: &str) -> bool {
    value
        .split_once("://")
        .map(|(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or_default())
        .is_some_and(|authority| authority.contains('@'))
}

/// Variables that hold secrets: never copied, only named (the one rule,
/// `crate::secrets`).
pub fn is_secret_name(name: &str) -> bool {
    crate::secrets::is_secret_env_name(name)
}

/// Variables of the vendor's unit that a declaration says otherwise (its
/// own keys) or that belong to the vendor's service manager, not the gateway.
const NOT_COPIED: [&str; 16] = [
    "HOME",
    "PATH",
    "TMPDIR",
    "OPENCLAW_PROFILE",
    "OPENCLAW_STATE_DIR",
    "OPENCLAW_CONFIG_PATH",
    "OPENCLAW_GATEWAY_PORT",
    "OPENCLAW_SYSTEMD_UNIT",
    "OPENCLAW_SERVICE_MARKER",
    "OPENCLAW_SERVICE_KIND",
    "OPENCLAW_LAUNCHD_LABEL",
    "OPENCLAW_WINDOWS_TASK_NAME",
    "OPENCLAW_WINDOWS_TASK_HIDDEN_LAUNCHER",
    "OPENCLAW_WRAPPER",
    "OPENCLAW_SERVICE_VERSION",
    "OPENCLAW_GATEWAY_SERVICE_PID",
];

/// What one vendor unit says about its gateway.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitGateway {
    /// None = the default profile.
    pub profile: Option<String>,
    /// `--port` in `ExecStart`, else `OPENCLAW_GATEWAY_PORT`.
    pub port: Option<u16>,
    pub state_dir: Option<PathBuf>,
    pub config: Option<PathBuf>,
    /// Plain variables carried over to the declaration's `env:`.
    pub env: BTreeMap<String, String>,
    /// Names of the variables that hold secrets (values never kept).
    pub secret_names: Vec<String>,
    pub environment_files: Vec<String>,
}

/// The value after `option` in `args` (`--opt V` or `--opt=V`).
fn option_value<'a>(args: &'a [String], option: &str) -> Option<&'a str> {
    args.iter().enumerate().find_map(|(index, arg)| {
        if arg == option {
            args.get(index + 1).map(String::as_str)
        } else {
            arg.strip_prefix(option)?.strip_prefix('=')
        }
    })
}

/// A port written `N` or `host:N`, as openclaw reads `OPENCLAW_GATEWAY_PORT`.
fn parse_port(value: &str) -> Option<u16> {
    let number = value.rsplit(':').next()?.trim();
    number.parse::<u16>().ok().filter(|port| *port != 0)
}

/// The gateway a unit runs. `name_profile` is the profile its file name
/// stands for; `--profile` in `ExecStart` or `OPENCLAW_PROFILE` win over it.
pub fn unit_gateway(unit: &UnitFile, name_profile: Option<String>) -> UnitGateway {
    let env = &unit.environment;
    let profile = option_value(&unit.exec_start, "--profile")
        .map(str::to_string)
        .or_else(|| {
            unit.exec_start
                .iter()
                .any(|arg| arg == "--dev")
                .then(|| "dev".to_string())
        })
        .or_else(|| env.get("OPENCLAW_PROFILE").cloned())
        .filter(|profile| !profile.trim().is_empty())
        .map_or(name_profile, |profile| normalize_profile(&profile));
    debug_assert!(profile.as_deref().is_none_or(is_valid_name));
    let port = option_value(&unit.exec_start, "--port")
        .and_then(parse_port)
        .or_else(|| env.get("OPENCLAW_GATEWAY_PORT").and_then(|v| parse_port(v)));
    let path = |key: &str| {
        env.get(key)
            .filter(|value| !value.trim().is_empty())
            .map(PathBuf::from)
    };
    let mut copied = BTreeMap::new();
    let mut secret_names = Vec::new();
    for (name, value) in env {
        if is_secret_name(name) || has_url_credentials(value) {
            secret_names.push(name.clone());
        } else if !NOT_COPIED.contains(&name.as_str()) && !value.trim().is_empty() {
            copied.insert(name.clone(), value.clone());
        }
    }
    UnitGateway {
        profile,
        port,
        state_dir: path("OPENCLAW_STATE_DIR"),
        config: path("OPENCLAW_CONFIG_PATH"),
        env: copied,
        secret_names,
        environment_files: unit.environment_files.clone(),
    }
}

/// The instance name a profile is imported as: the default profile is
/// `main` (or `default` when a profile is itself named `main`); a named
/// profile keeps its name, lower-cased.
pub fn instance_name(profile: Option<&str>, profiles: &[Option<String>]) -> String {
    match profile {
        None if profiles
            .iter()
            .flatten()
            .any(|p| p.eq_ignore_ascii_case("main")) =>
        {
            "default".to_string()
        }
        None => "main".to_string(),
        Some(profile) => profile.to_ascii_lowercase(),
    }
}

/// The command that disables a vendor unit, to be run once the
/// supervisor's own unit runs the gateway.
pub fn disable_command(scope: Scope, unit_name: &str) -> String {
    match scope {
        Scope::User => format!("systemctl --user disable --now {unit_name}"),
        Scope::System => format!("systemctl disable --now {unit_name}"),
    }
}

/// The YAML text of an imported declaration: `header` lines as comments
/// first, only the keys import sets, and each secret variable named in a
/// comment (its value is never known here).
pub fn render(decl: &Declaration, header: &[String], secret_names: &[String]) -> String {
    let footer: Vec<String> = secret_names
        .iter()
        .map(|name| {
            format!("The vendor's unit set {name} in Environment=; its value is not copied here.")
        })
        .collect();
    crate::declaration::to_yaml(decl, header, &footer)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A unit as openclaw 2026.9.6's `buildSystemdUnit` renders it.
    const VENDOR_UNIT: &str = r#"[Unit]
Description=OpenClaw Gateway (profile: rescue)
After=network-online.target
Wants=network-online.target
StartLimitBurst=10
StartLimitIntervalSec=300

[Service]
ExecStart=/opt/node/bin/node --max-old-space-size=4096 /opt/app/node_modules/openclaw/dist/index.js gateway --port 23532
Restart=always
RestartSec=5
RestartPreventExitStatus=78
TimeoutStopSec=330
TimeoutStartSec=30
SuccessExitStatus=0 143
OOMPolicy=continue
KillMode=mixed
Environment=HOME=/home/u
Environment=TMPDIR=/tmp
Environment="NODE_OPTIONS=--max-old-space-size=4096 --title=a%%b"
Environment=OPENCLAW_PROFILE=rescue
Environment=OPENCLAW_STATE_DIR=/home/u/.openclaw-rescue
Environment=OPENCLAW_CONFIG_PATH=/home/u/.openclaw-rescue/openclaw.json
Environment=OPENCLAW_GATEWAY_PORT=23532
Environment=OPENCLAW_SYSTEMD_UNIT=openclaw-gateway-rescue.service
Environment=OPENCLAW_GATEWAY_TOKEN=s3cret-value
Environment=OPENCLAW_SERVICE_MARKER=openclaw
Environment=OPENCLAW_SERVICE_KIND=gateway

[Install]
WantedBy=default.target
"#;

    #[test]
    fn the_vendor_unit_is_read_as_written() {
        let unit = parse_unit(VENDOR_UNIT);
        assert_eq!(unit.exec_start.len(), 6);
        assert_eq!(unit.exec_start[4], "--port");
        assert_eq!(
            unit.environment.get("NODE_OPTIONS").map(String::as_str),
            Some("--max-old-space-size=4096 --title=a%b")
        );
        let gateway = unit_gateway(&unit, Some("rescue".into()));
        assert_eq!(gateway.profile.as_deref(), Some("rescue"));
        assert_eq!(gateway.port, Some(23532));
        assert_eq!(
            gateway.state_dir,
            Some(PathBuf::from("/home/u/.openclaw-rescue"))
        );
        assert_eq!(gateway.secret_names, vec!["OPENCLAW_GATEWAY_TOKEN"]);
        assert_eq!(
            gateway.env.keys().collect::<Vec<_>>(),
            vec!["NODE_OPTIONS"],
            "only what the gateway needs and no declaration key says"
        );
        assert!(!format!("{gateway:?}").contains("s3cret"));
    }

    #[test]
    fn unit_lines_table() {
        // (unit text, ExecStart words, environment)
        type Row<'a> = (&'a str, &'a [&'a str], &'a [(&'a str, &'a str)]);
        let rows: &[Row] = &[
            ("[Service]\nExecStart=a b\n", &["a", "b"], &[]),
            // The last ExecStart wins; prefixes are dropped.
            (
                "[Service]\nExecStart=x\nExecStart=-/bin/oc gateway\n",
                &["/bin/oc", "gateway"],
                &[],
            ),
            // Continuation lines, comments, other sections.
            (
                "[Unit]\nExecStart=no\n[Service]\n# ExecStart=no\nExecStart=a \\\n  b\n",
                &["a", "b"],
                &[],
            ),
            // Quoted words and several assignments on one line.
            (
                "[Service]\nExecStart=\"/my dir/oc\" 'x y'\nEnvironment=A=1 \"B=two words\"\n",
                &["/my dir/oc", "x y"],
                &[("A", "1"), ("B", "two words")],
            ),
            // A later assignment of a key wins.
            (
                "[Service]\nEnvironment=A=1\nEnvironment=A=2\n",
                &[],
                &[("A", "2")],
            ),
            // Quotes anywhere in a word, as systemd unquotes them.
            (
                "[Service]\nEnvironment=P=\"http://p:3128\" B=\"two words\" C='a \\b'\n",
                &[],
                &[("P", "http://p:3128"), ("B", "two words"), ("C", "a \\b")],
            ),
        ];
        for (text, exec, env) in rows {
            let unit = parse_unit(text);
            assert_eq!(unit.exec_start, exec.to_vec(), "{text}");
            let expected: BTreeMap<String, String> = env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            assert_eq!(unit.environment, expected, "{text}");
        }
    }

    #[test]
    fn profile_port_and_paths_table() {
        // (ExecStart, environment, name's profile) -> (profile, port)
        type Row<'a> = (
            &'a str,
            &'a str,
            Option<&'a str>,
            Option<&'a str>,
            Option<u16>,
        );
        let rows: &[Row] = &[
            ("oc gateway --port 18789", "", None, None, Some(18789)),
            ("oc gateway --port=19000", "", None, None, Some(19000)),
            (
                "oc gateway",
                "OPENCLAW_GATEWAY_PORT=127.0.0.1:19100",
                None,
                None,
                Some(19100),
            ),
            (
                "oc --profile work gateway",
                "OPENCLAW_PROFILE=x",
                None,
                Some("work"),
                None,
            ),
            ("oc gateway", "OPENCLAW_PROFILE=x", None, Some("x"), None),
            ("oc gateway", "", Some("y"), Some("y"), None),
            (
                "oc gateway",
                "OPENCLAW_PROFILE=Default",
                Some("y"),
                None,
                None,
            ),
            ("oc --dev gateway", "", None, Some("dev"), None),
            // Not a valid profile name: the default profile, as openclaw
            // normalizes it, and never a path to write to.
            (
                "oc gateway",
                "OPENCLAW_PROFILE=../../escaped",
                None,
                None,
                None,
            ),
            ("oc --profile a/b gateway", "", None, None, None),
            (
                "oc gateway",
                "OPENCLAW_PROFILE=\" work \"",
                None,
                Some("work"),
                None,
            ),
            ("oc gateway --port 0", "", None, None, None),
        ];
        for (exec, env, named, profile, port) in rows {
            let text = format!("[Service]\nExecStart={exec}\nEnvironment={env}\n");
            let gateway = unit_gateway(&parse_unit(&text), named.map(str::to_string));
            assert_eq!(gateway.profile.as_deref(), *profile, "{text}");
            assert_eq!(gateway.port, *port, "{text}");
        }
    }

    #[test]
    fn rendered_declarations_read_back() {
        let mut env = BTreeMap::new();
        env.insert(
            "NODE_OPTIONS".to_string(),
            "--x=\"1\" # not a comment".to_string(),
        );
        let decl = Declaration {
            name: Some("rescue".into()),
            profile: Some("rescue".into()),
            port: Some(23532),
            state_dir: Some(PathBuf::from("/home/u/.openclaw-rescue")),
            config: Some(PathBuf::from("/home/u/my: config.json")),
            env,
            role: crate::declaration::Role::Rescue,
            rescue_of: Some("main".into()),
            ..Declaration::default()
        };
        let text = render(
            &decl,
            &["imported".to_string()],
            &["OPENCLAW_GATEWAY_TOKEN".to_string()],
        );
        let loaded = crate::declaration::parse(std::path::Path::new("rescue.yaml"), &text)
            .expect("the rendered declaration parses");
        assert_eq!(loaded.declaration, decl, "{text}");
        assert!(text.contains("OPENCLAW_GATEWAY_TOKEN"));
    }

    #[test]
    fn a_url_with_credentials_is_a_secret_whatever_its_name() {
        let text = "[Service]\nExecStart=oc gateway\nEnvironment=OPENCLAW_PROXY_URL=http://u:pw@proxy:3128 NO_PROXY=localhost PLAIN_URL=http://proxy:3128/a@b\n";
        let gateway = unit_gateway(&parse_unit(text), None);
        assert_eq!(gateway.secret_names, ["OPENCLAW_PROXY_URL"]);
        assert_eq!(
            gateway.env.get("PLAIN_URL").map(String::as_str),
            Some("http://proxy:3128/a@b"),
            "an @ in the path is no credential"
        );
        assert!(!format!("{gateway:?}").contains("pw@"));
    }

    #[test]
    fn names_table() {
        type Row<'a> = (&'a str, Option<Option<&'a str>>);
        let check = |rows: &[Row], of: fn(&str) -> Option<Option<String>>| {
            for (name, expected) in rows {
                let expected = expected.map(|p| p.map(str::to_string));
                assert_eq!(of(name), expected, "{name}");
            }
        };
        let units: &[Row] = &[
            ("openclaw-gateway.service", Some(None)),
            ("openclaw-gateway-rescue.service", Some(Some("rescue"))),
            ("openclaw-gateway-default.service", Some(None)),
            ("openclaw-gateway-.service", None),
            ("openclaw-gatewayx.service", None),
            ("openclaw-node.service", None),
            ("openclaw-gateway-a.b.service", None),
            ("openclaw-gateway.timer", None),
        ];
        check(units, unit_name_profile);
        let dirs: &[Row] = &[
            (".openclaw", Some(None)),
            (".openclaw-rescue", Some(Some("rescue"))),
            (".openclaw-Work_1", Some(Some("Work_1"))),
            (".openclaw-rescue.bak", None),
            (".openclawx", None),
            ("openclaw", None),
        ];
        check(dirs, dir_name_profile);
        let profiles = vec![None, Some("rescue".to_string())];
        assert_eq!(instance_name(None, &profiles), "main");
        assert_eq!(instance_name(Some("Rescue"), &profiles), "rescue");
        let with_main = vec![None, Some("main".to_string())];
        assert_eq!(instance_name(None, &with_main), "default");
        for (name, secret) in [
            ("OPENCLAW_GATEWAY_TOKEN", true),
            ("OPENCLAW_GATEWAY_PASSWORD", true),
            ("ANTHROPIC_API_KEY", true),
            ("NODE_OPTIONS", false),
            ("HTTPS_PROXY", false),
        ] {
            assert_eq!(is_secret_name(name), secret, "{name}");
        }
    }
}
