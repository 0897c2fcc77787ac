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
use crate::probe::EffectiveProbes;

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
mod resolve;
#[cfg(test)]
mod test_world;
#[cfg(test)]
mod tests;
pub use resolve::resolve;

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
    /// The declaration's probes as they will run: validated and worked out
    /// once, when the declaration was loaded; the daemon runs these.
    #[serde(skip)]
    pub probes: EffectiveProbes,
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
