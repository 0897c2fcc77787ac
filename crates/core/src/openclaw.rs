//! Effective settings: what each gateway will really use, resolved exactly as
//! `openclaw` 2026.9.6 resolves it (declaration > environment > the
//! instance's OpenClaw config file > profile defaults > built-in defaults).
//!
//! No IO beyond reading the OpenClaw config file it is pointed at, looking
//! the command up (a path must be an executable file; a bare name is looked
//! for on PATH), and [`canonical_path`], the one function that looks at the
//! filesystem (symlinks) so that `isolation` can compare paths purely.
//!
//! Relative paths: written in a declaration (or its inherited environment)
//! they resolve against the declaration's directory; written in the OpenClaw
//! config they resolve against the gateway's working directory, which the
//! supervisor sets to the state dir. The child is always given absolute,
//! canonical paths, so what `check` compares is what the gateway uses.

use std::collections::BTreeMap;
use std::io::Read;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::declaration::{Declaration, LoadedDeclaration, is_valid_name};

pub mod channels;
mod child;
mod config;
mod credentials;
pub mod hooks;
mod paths;
mod secret;
mod tailscale;
pub mod validate;

#[cfg(test)]
mod child_tests;
#[cfg(test)]
mod test_world;
#[cfg(test)]
mod tests;

pub use child::STRIPPED_ENV;
pub use secret::{Secret, Token, random_bytes};
pub use tailscale::{Tailscale, TailscaleMode};

pub use paths::{canonical as canonical_path, expand as expand_path, fold as fold_path};

/// Where the effective gateway port came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PortSource {
    Declaration,
    Environment,
    Config,
    ProfileHash,
    BuiltIn,
}

impl PortSource {
    /// How the source is named in `check` output.
    pub fn describe(self) -> &'static str {
        match self {
            PortSource::Declaration => "declaration",
            PortSource::Environment => "OPENCLAW_GATEWAY_PORT",
            PortSource::Config => "gateway.port",
            PortSource::ProfileHash => "profile hash",
            PortSource::BuiltIn => "built-in",
        }
    }
}

/// A workspace root owned by one agent of an instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Workspace {
    /// `default` for the default agent, else the agent id.
    pub agent: String,
    pub path: PathBuf,
    /// Where the path came from, to say what to change: `workspace` (the
    /// declaration), `OPENCLAW_WORKSPACE_DIR`, `agents.defaults.workspace`,
    /// `agents.list[N].workspace`, or `default`.
    pub source: String,
}

/// A port set explicitly in the OpenClaw config (`browser.cdpUrl`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExplicitPort {
    /// The config key it came from, e.g. `browser.profiles.work.cdpPort`.
    pub key: String,
    pub port: u16,
}

/// Everything an instance will really use. Every path is canonical.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Effective {
    pub name: String,
    /// The declaration file it came from.
    pub file: PathBuf,
    /// What is run: a bare name (looked up on PATH at each spawn), or the
    /// absolute path a declared path resolved to when it was loaded.
    pub command: String,
    #[serde(skip)]
    pub declaration: Declaration,
    /// The effective `OPENCLAW_PROFILE` (None = default profile; a profile
    /// written `default` is the default profile too).
    pub profile: Option<String>,
    pub home: PathBuf,
    pub state_dir: PathBuf,
    pub config_path: PathBuf,
    pub config_exists: bool,
    /// The default agent's first, then `agents.list[]` in config order.
    pub workspaces: Vec<Workspace>,
    /// May hold the literal placeholder `{date}` (the gateway's default log
    /// name carries the day); compared as written.
    pub log_file: PathBuf,
    pub tmpdir: PathBuf,
    pub port: u16,
    pub port_source: PortSource,
    pub bind: String,
    pub explicit_ports: Vec<ExplicitPort>,
    /// The declared `workspace`, canonical: passed as `OPENCLAW_WORKSPACE_DIR`.
    pub declared_workspace: Option<PathBuf>,
    /// Declared paths that reach their place through a symlink, as written,
    /// so that a conflict can say how a different spelling got there.
    pub via_symlink: Vec<DeclaredPath>,
    /// The credentials of every enabled channel account (never the
    /// secrets: keyed fingerprints, see [`channels`]).
    pub channels: Vec<channels::ChannelCredential>,
    /// Things that are not conflicts but an operator should know.
    pub warnings: Vec<String>,
    /// `gateway.tailscale.mode` (or `--tailscale` in `args:`).
    pub tailscale: Tailscale,
    /// The gateway's shared auth token: `--token` in the args, else
    /// `gateway.auth.token`, else `OPENCLAW_GATEWAY_TOKEN` in its child env
    /// (config first, as openclaw's dist `auth-resolve-*.mjs` and
    /// docs/gateway/remote.md have it).
    /// Known by fingerprint only; never serialized.
    #[serde(skip)]
    pub gateway_token: Token,
    /// `hooks.token` when `hooks.enabled` is true; never serialized.
    #[serde(skip)]
    pub hooks_token: Token,
}

/// A path as written in the declaration, under its key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeclaredPath {
    /// `state_dir`, `config`, `workspace` or `tmpdir`.
    pub key: String,
    pub written: PathBuf,
}

/// The environment resolution reads (the supervisor's own, as a map).
pub type EnvMap = BTreeMap<String, String>;

/// The gateway port when nothing sets one and the profile is the default.
pub const DEFAULT_PORT: u16 = 18789;
/// The ports a gateway derives from its base port: `base ..= base + 110`.
pub const PORT_BLOCK_SPAN: u32 = 110;
/// Where a block that runs past 65535 puts its browsers' CDP ports instead.
pub const FALLBACK_CDP_RANGE: RangeInclusive<u32> = 18800..=18899;
/// The default log file; `{date}` stands for the day.
pub const DEFAULT_LOG_DIR: &str = "/tmp/openclaw";
/// A config bigger than this is refused rather than read.
const MAX_CONFIG_BYTES: u64 = 16 * 1024 * 1024;

/// Why an instance's effective settings could not be worked out.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(
        "{}: instance `{name}`: neither OPENCLAW_HOME nor HOME is set, so `~` and the default state dir mean nothing: set HOME for the supervisor",
        file.display()
    )]
    NoHome { name: String, file: PathBuf },
    #[error("{}: instance `{name}`: {variable}=`{value}` {problem}", file.display())]
    BadEnvironment {
        name: String,
        file: PathBuf,
        variable: String,
        value: String,
        problem: String,
    },
    #[error("{}: `command`: instance `{name}`: {problem}", file.display())]
    Command {
        name: String,
        file: PathBuf,
        problem: String,
    },
    #[error("cannot read the OpenClaw config {} of instance `{name}`: {source}", config.display())]
    ConfigRead {
        name: String,
        file: PathBuf,
        config: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{}{}: {message} (the OpenClaw config of instance `{name}`; the gateway would exit 78 on it)",
        config.display(),
        position(*line, *column)
    )]
    ConfigSyntax {
        name: String,
        file: PathBuf,
        config: PathBuf,
        line: Option<u32>,
        column: Option<u32>,
        message: String,
    },
    #[error(
        "{}: `{key}`: {message} (the OpenClaw config of instance `{name}`; the gateway would exit 78 on it)",
        config.display()
    )]
    ConfigValue {
        name: String,
        file: PathBuf,
        config: PathBuf,
        key: String,
        message: String,
    },
}

fn position(line: Option<u32>, column: Option<u32>) -> String {
    match (line, column) {
        (Some(line), Some(column)) => format!(":{line}:{column}"),
        (Some(line), None) => format!(":{line}"),
        _ => String::new(),
    }
}

impl ResolveError {
    /// The declaration file of the instance.
    pub fn file(&self) -> &Path {
        match self {
            ResolveError::NoHome { file, .. }
            | ResolveError::BadEnvironment { file, .. }
            | ResolveError::Command { file, .. }
            | ResolveError::ConfigRead { file, .. }
            | ResolveError::ConfigSyntax { file, .. }
            | ResolveError::ConfigValue { file, .. } => file,
        }
    }

    /// The instance the error is about.
    pub fn instance(&self) -> &str {
        match self {
            ResolveError::NoHome { name, .. }
            | ResolveError::BadEnvironment { name, .. }
            | ResolveError::Command { name, .. }
            | ResolveError::ConfigRead { name, .. }
            | ResolveError::ConfigSyntax { name, .. }
            | ResolveError::ConfigValue { name, .. } => name,
        }
    }
}

/// The longest profile segment openclaw puts in a log file name as is.
const MAX_LOG_PROFILE_SEGMENT: usize = 220;

/// The profile's part of openclaw's default log file name, as openclaw
/// 2026.9.6 writes it (`encodeLogProfileSegment` in its `dist/`): `a-z` and
/// `0-9` as they are, `-` as `--`, `_` as `-0`, `A-Z` as `-1` and the lower
/// case, anything else as `-2<hex code point>-`; over 220 characters,
/// `-3<sha256 hex of the name>`. So `Work` writes `openclaw--1work-<date>.log`.
pub fn log_profile_segment(profile: &str) -> String {
    use std::fmt::Write as _;
    let mut encoded = String::new();
    for char in profile.chars() {
        match char {
            'a'..='z' | '0'..='9' => encoded.push(char),
            '-' => encoded.push_str("--"),
            '_' => encoded.push_str("-0"),
            'A'..='Z' => {
                encoded.push_str("-1");
                encoded.push(char.to_ascii_lowercase());
            }
            other => {
                let _ = write!(encoded, "-2{:x}-", u32::from(other));
            }
        }
    }
    if encoded.len() <= MAX_LOG_PROFILE_SEGMENT {
        return encoded;
    }
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(profile.as_bytes());
    let mut hashed = String::from("-3");
    for byte in digest {
        let _ = write!(hashed, "{byte:02x}");
    }
    hashed
}

/// openclaw's hashed default port of a named profile:
/// `20000 + fnv1a32(profile as UTF-8) % 40000`.
pub fn profile_port(profile: &str) -> u16 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in profile.as_bytes() {
        hash ^= u32::from(*byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    u16::try_from(20_000 + hash % 40_000).expect("20000 + n % 40000 is below 60000")
}

/// A non-empty value of `key` in `env`.
fn non_empty<'a>(env: &'a EnvMap, key: &str) -> Option<&'a str> {
    env.get(key)
        .map(String::as_str)
        .filter(|value| !value.is_empty())
}

/// Work out what `decl` will really use, given the supervisor's environment.
pub fn resolve(decl: &LoadedDeclaration, env: &EnvMap) -> Result<Effective, ResolveError> {
    let inherited = env;
    let name = decl.name.clone();
    let file = decl.file.clone();
    let declaration = &decl.declaration;
    let bad_env = |variable: &str, value: &str, problem: &str| ResolveError::BadEnvironment {
        name: name.clone(),
        file: file.clone(),
        variable: variable.to_string(),
        value: value.to_string(),
        problem: problem.to_string(),
    };

    // The declaration's env: is the child's environment, so it counts at the
    // environment level (it can set OPENCLAW_HOME, for instance).
    let mut env = env.clone();
    env.extend(declaration.env.clone());

    let declaration_dir = canonical_path(decl.file.parent().unwrap_or(Path::new(".")));
    let raw_home = non_empty(&env, "OPENCLAW_HOME").or_else(|| non_empty(&env, "HOME"));
    let Some(raw_home) = raw_home else {
        return Err(ResolveError::NoHome { name, file });
    };
    let plain_home = non_empty(&env, "HOME").map_or_else(|| PathBuf::from("/"), PathBuf::from);
    let home = canonical_path(&paths::expand(
        Path::new(raw_home),
        &declaration_dir,
        &plain_home,
    ));
    // Declaration and environment paths resolve against the declaration's dir.
    let declared = |path: &Path| canonical_path(&paths::expand(path, &declaration_dir, &home));

    let profile = match &declaration.profile {
        Some(profile) => Some(profile.clone()),
        None => match non_empty(&env, "OPENCLAW_PROFILE") {
            Some(profile) if !is_valid_name(profile) => {
                return Err(bad_env(
                    "OPENCLAW_PROFILE",
                    profile,
                    "is not a valid profile name: fix or unset it, or set `profile:` in the declaration",
                ));
            }
            other => other.map(str::to_string),
        },
    }
    .filter(|profile| !profile.eq_ignore_ascii_case("default"));

    let state_dir = match (
        &declaration.state_dir,
        non_empty(&env, "OPENCLAW_STATE_DIR"),
    ) {
        (Some(path), _) => declared(path),
        (None, Some(path)) => declared(Path::new(path)),
        (None, None) => canonical_path(&match &profile {
            Some(profile) => home.join(format!(".openclaw-{profile}")),
            None => home.join(".openclaw"),
        }),
    };
    let config_path = match (&declaration.config, non_empty(&env, "OPENCLAW_CONFIG_PATH")) {
        (Some(path), _) => declared(path),
        (None, Some(path)) => declared(Path::new(path)),
        (None, None) => canonical_path(&state_dir.join("openclaw.json")),
    };
    // Paths in the config resolve against the gateway's working directory.
    let in_config = |path: &str| canonical_path(&paths::expand(Path::new(path), &state_dir, &home));

    let (config_exists, view) = read_config(&name, &file, &config_path)?;
    let mut warnings = Vec::new();

    // A path is fixed now, against the canonical declaration dir, so the
    // supervisor's working directory never matters; a bare name is looked
    // up on PATH at each spawn, as the gateway's own updates expect.
    let written_command = declaration.command.as_deref().unwrap_or("openclaw");
    let command = if written_command.contains('/') {
        paths::fold(&declaration_dir.join(written_command))
            .display()
            .to_string()
    } else {
        written_command.to_string()
    };
    let command = match crate::spawn::resolve_command(
        &command,
        &declaration_dir,
        env.get("PATH").map(String::as_str),
    ) {
        Ok(_) => command,
        Err(err @ crate::spawn::SpawnError::NotFoundOnPath { .. }) => {
            warnings.push(format!(
                "{err}: the gateway cannot start until it is installed there; set `command:` to its path"
            ));
            written_command.to_string()
        }
        Err(err) => {
            return Err(ResolveError::Command {
                name,
                file,
                problem: format!(
                    "{err}: fix `command:` (a relative path is relative to the declaration's directory {})",
                    declaration_dir.display()
                ),
            });
        }
    };

    if let Some(warning) = declaration
        .notify
        .as_ref()
        .and_then(|notify| notify_command_warning(notify, inherited))
    {
        warnings.push(warning);
    }

    let env_port = match non_empty(&env, "OPENCLAW_GATEWAY_PORT") {
        None => None,
        Some(value) => Some(parse_env_port(value).ok_or_else(|| {
            bad_env(
                "OPENCLAW_GATEWAY_PORT",
                value,
                "is not a port (`N` or `host:N`, N from 1 to 65535): fix or unset it, or set `port:` in the declaration",
            )
        })?),
    };
    let (port, port_source) = if let Some(port) = declaration.port {
        (port, PortSource::Declaration)
    } else if let Some(port) = env_port {
        (port, PortSource::Environment)
    } else if let Some(port) = view.gateway_port {
        (port, PortSource::Config)
    } else if let Some(profile) = &profile {
        (profile_port(profile), PortSource::ProfileHash)
    } else {
        (DEFAULT_PORT, PortSource::BuiltIn)
    };

    let bind = declaration
        .bind
        .clone()
        .or_else(|| view.gateway_bind.clone())
        .unwrap_or_else(|| "loopback".to_string());

    let declared_workspace = declaration.workspace.as_deref().map(declared);
    let config_workspace = view.defaults_workspace.as_deref().map(in_config);
    let env_workspace = declared_workspace.clone().or_else(|| {
        non_empty(&env, "OPENCLAW_WORKSPACE_DIR").map(|path| declared(Path::new(path)))
    });
    if let (Some(from_config), Some(from_declaration)) = (&config_workspace, &declared_workspace)
        && from_config != from_declaration
    {
        warnings.push(format!(
            "the declared workspace {} is overridden by agents.defaults.workspace in {}: the default agent uses {}",
            from_declaration.display(),
            config_path.display(),
            from_config.display()
        ));
    }
    let (default_workspace, default_source) = if let Some(path) = &config_workspace {
        (path.clone(), "agents.defaults.workspace")
    } else if let Some(path) = env_workspace {
        let source = if declared_workspace.is_some() {
            "workspace"
        } else {
            "OPENCLAW_WORKSPACE_DIR"
        };
        (path, source)
    } else {
        (canonical_path(&state_dir.join("workspace")), "default")
    };
    let mut workspaces = vec![Workspace {
        agent: "default".to_string(),
        path: default_workspace,
        source: default_source.to_string(),
    }];
    for (index, (id, workspace)) in view.agents.iter().enumerate() {
        let (path, source) = match (workspace, &config_workspace) {
            (Some(path), _) => (in_config(path), format!("agents.list[{index}].workspace")),
            (None, Some(defaults)) => (
                canonical_path(&defaults.join(id)),
                "agents.defaults.workspace".to_string(),
            ),
            (None, None) => (
                canonical_path(&state_dir.join(format!("workspace-{id}"))),
                "default".to_string(),
            ),
        };
        workspaces.push(Workspace {
            agent: id.clone(),
            path,
            source,
        });
    }

    let log_file = match &view.logging_file {
        Some(path) => in_config(path),
        None => canonical_path(Path::new(DEFAULT_LOG_DIR)).join(match &profile {
            Some(profile) => format!("openclaw-{}-{{date}}.log", log_profile_segment(profile)),
            None => "openclaw-{date}.log".to_string(),
        }),
    };
    let tmpdir = match &declaration.tmpdir {
        Some(path) => declared(path),
        None => canonical_path(&state_dir.join("tmp")),
    };
    let explicit_ports = view
        .cdp_ports
        .iter()
        .map(|(key, port)| ExplicitPort {
            key: key.clone(),
            port: *port,
        })
        .collect();

    if !config_exists
        && !declaration
            .args
            .iter()
            .any(|arg| arg == "--allow-unconfigured")
    {
        warnings.push(format!(
            "the OpenClaw config {} does not exist: the gateway exits 78 (config error) until it does; create it (gateway.mode: local) or add --allow-unconfigured to args",
            config_path.display()
        ));
    }

    if let Some(endpoint) = declaration.wake
        && config_exists
    {
        let unset_variable = view
            .hooks_token_variables
            .iter()
            .find(|name| non_empty(&env, name).is_none_or(|value| value.trim().is_empty()))
            .cloned();
        let token_set = match view.hooks_token {
            Token::Set { .. } => true,
            Token::NotChecked { .. } => {
                !view.hooks_token_variables.is_empty() && unset_variable.is_none()
            }
            Token::Unset => false,
        };
        let settings = hooks::HooksSettings {
            enabled: view.hooks_enabled,
            token: token_set.then(|| hooks::HookToken::new("set")).flatten(),
            path: hooks::DEFAULT_HOOKS_PATH.to_string(),
            unset_variable,
        };
        warnings.extend(hooks::wake_warning(endpoint, &config_path, &settings));
    }

    let channels = credentials::channel_credentials(&view, &env, &config_path, &state_dir, &home);
    warnings.extend(credentials::not_checked_warnings(&channels));

    let mut via_symlink = Vec::new();
    for (key, written, resolved) in [
        ("state_dir", &declaration.state_dir, Some(&state_dir)),
        ("config", &declaration.config, Some(&config_path)),
        (
            "workspace",
            &declaration.workspace,
            declared_workspace.as_ref(),
        ),
        ("tmpdir", &declaration.tmpdir, Some(&tmpdir)),
    ] {
        let (Some(written), Some(resolved)) = (written, resolved) else {
            continue;
        };
        // The declaration's dir and home are canonical already, so only a
        // symlink can make the lexical form differ from the canonical one.
        if &paths::fold(&paths::expand(written, &declaration_dir, &home)) != resolved {
            via_symlink.push(DeclaredPath {
                key: key.to_string(),
                written: written.clone(),
            });
        }
    }

    let tailscale =
        tailscale::of(&declaration.args, view.tailscale_mode.as_deref()).map_err(|mode| {
            bad_env(
                "--tailscale",
                &mode,
                "in `args:` is not a mode: use off, serve or funnel",
            )
        })?;
    let hooks_token = if view.hooks_enabled {
        view.hooks_token.clone()
    } else {
        Token::Unset
    };
    let mut effective = Effective {
        name,
        file,
        command,
        declaration: declaration.clone(),
        profile,
        home,
        state_dir,
        config_path,
        config_exists,
        workspaces,
        log_file,
        tmpdir,
        port,
        port_source,
        bind,
        explicit_ports,
        declared_workspace,
        via_symlink,
        channels,
        warnings,
        tailscale,
        gateway_token: view.gateway_token.clone(),
        hooks_token,
    };
    effective.gateway_token = credentials::gateway_token(
        &declaration.args,
        &effective.gateway_token,
        &effective.child_env(inherited),
    );
    Ok(effective)
}

/// `N` or `host:N` (also `[::1]:N`).
fn parse_env_port(value: &str) -> Option<u16> {
    let digits = value.rsplit_once(':').map_or(value, |(_, port)| port);
    digits.trim().parse::<u16>().ok().filter(|port| *port != 0)
}

/// Read the instance's OpenClaw config if it exists: (exists, its footprint
/// keys). A missing file means defaults, as it does to openclaw.
fn read_config(
    name: &str,
    file: &Path,
    config: &Path,
) -> Result<(bool, config::ConfigView), ResolveError> {
    let read_error = |source| ResolveError::ConfigRead {
        name: name.to_string(),
        file: file.to_path_buf(),
        config: config.to_path_buf(),
        source,
    };
    let handle = match std::fs::File::open(config) {
        Ok(handle) => handle,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Ok((false, config::ConfigView::default()));
        }
        Err(err) => return Err(read_error(err)),
    };
    let mut bytes = Vec::new();
    handle
        .take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(read_error(std::io::Error::other(format!(
            "the file is larger than {MAX_CONFIG_BYTES} bytes"
        ))));
    }
    let text = String::from_utf8(bytes).map_err(|_| {
        read_error(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "the file is not UTF-8 text",
        ))
    })?;
    let view = config::parse(&text).map_err(|err| match err {
        config::ConfigError::Syntax {
            line,
            column,
            message,
        } => ResolveError::ConfigSyntax {
            name: name.to_string(),
            file: file.to_path_buf(),
            config: config.to_path_buf(),
            line,
            column,
            message,
        },
        config::ConfigError::Value { key, message } => ResolveError::ConfigValue {
            name: name.to_string(),
            file: file.to_path_buf(),
            config: config.to_path_buf(),
            key,
            message,
        },
    })?;
    Ok((true, view))
}

/// `check`'s warning about a `notify` command that could not run now (a
/// bare name not on the supervisor's `PATH`, a path that is missing or
/// not executable): the gateway runs all the same, but nobody would be
/// told. Looked up as each run looks it up.
pub fn notify_command_warning(
    notify: &crate::declaration::NotifySpec,
    inherited: &EnvMap,
) -> Option<String> {
    let program = notify.command.first()?;
    let err = crate::spawn::resolve_command(
        program,
        std::path::Path::new("/"),
        inherited.get("PATH").map(String::as_str),
    )
    .err()?;
    Some(format!(
        "notify: {err}: its runs would fail (`notify_failed`) and nobody would be told; install it or fix `notify.command`"
    ))
}
