//! Effective settings: what each gateway will really use, resolved exactly as
//! `openclaw` 2026.9.6 resolves it (declaration > environment > the
//! instance's OpenClaw config file > profile defaults > built-in defaults).
//!
//! Pure: no IO beyond reading the OpenClaw config file it is pointed at.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::declaration::Declaration;

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

/// A workspace root owned by one agent of an instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Workspace {
    /// `default` for the default agent, else the agent id.
    pub agent: String,
    pub path: PathBuf,
}

/// A port set explicitly in the OpenClaw config (`browser.cdpUrl`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExplicitPort {
    /// The config key it came from, e.g. `browser.profiles.work.cdpPort`.
    pub key: String,
    pub port: u16,
}

/// Everything an instance will really use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Effective {
    pub name: String,
    /// The declaration file it came from.
    pub file: PathBuf,
    #[serde(skip)]
    pub declaration: Declaration,
    /// The effective `OPENCLAW_PROFILE` (None = default profile).
    pub profile: Option<String>,
    pub home: PathBuf,
    pub state_dir: PathBuf,
    pub config_path: PathBuf,
    pub config_exists: bool,
    pub workspaces: Vec<Workspace>,
    pub log_file: PathBuf,
    pub tmpdir: PathBuf,
    pub port: u16,
    pub port_source: PortSource,
    pub bind: String,
    pub explicit_ports: Vec<ExplicitPort>,
}

/// The environment resolution reads (the supervisor's own, as a map).
pub type EnvMap = BTreeMap<String, String>;
