//! Declaration files: one YAML file per instance in `supervisor.d/`.
//!
//! This module owns the raw, as-written shape of a declaration. It knows
//! nothing about how openclaw resolves paths and ports (that is `openclaw`),
//! and it does no IO beyond reading the files it is given.
//!
//! Theory of operation: [`parse`] turns one file's text into a
//! [`LoadedDeclaration`] (serde-saphyr with tight budgets, then validation
//! that serde cannot express); [`load_dir`] does that for every declaration
//! file in a directory and keeps per-file errors apart, so that one broken
//! file never hides the good ones. Every error names the file, the line, the
//! column and the key, found through a small index of the file's keys.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

mod keys;
mod load;
mod messages;
mod rescue;
mod stop;
mod validate;
mod write;

mod resources;
#[cfg(test)]
mod tests;
pub use resources::{CpuLimit, LimitsSpec};

pub use load::{
    DeclarationError, DirScan, LoadedDeclaration, MAX_DECLARATION_BYTES, is_declaration_file,
    keeper, load_dir, load_dir_keeping, parse,
};
pub use rescue::{NOTIFY_EVENTS, NotifySpec, RollbackMode, WakeEndpoint};
pub use stop::{NotAStopSignal, StopSignal};
pub use validate::is_valid_name;
pub use write::to_yaml;

/// A human duration (`10s`, `5m`, `1h 30m`, `250ms`), parsed with `humantime`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    pub const fn from_secs(secs: u64) -> Self {
        HumanDuration(Duration::from_secs(secs))
    }
    pub const fn from_millis(millis: u64) -> Self {
        HumanDuration(Duration::from_millis(millis))
    }
    pub fn get(self) -> Duration {
        self.0
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        humantime::parse_duration(text.trim())
            .map(HumanDuration)
            .map_err(|err| {
                serde::de::Error::custom(format!(
                    "invalid duration `{text}`: {err} (write e.g. `500ms`, `10s`, `5m`)"
                ))
            })
    }
}

impl schemars::JsonSchema for HumanDuration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A human duration: `500ms`, `10s`, `5m`, `1h 30m`.",
            "pattern": "^\\s*[0-9]+\\s*[a-zµ]+(\\s*[0-9]+\\s*[a-zµ]+)*\\s*$"
        })
    }
}

/// The schema of a byte size (`10MiB`, `512 KB`, or a number of bytes).
struct ByteSizeSchema;

impl schemars::JsonSchema for ByteSizeSchema {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ByteSize".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A size: `10MiB`, `512 KB`, or a number of bytes.",
            "oneOf": [
                { "type": "integer", "minimum": 0 },
                { "type": "string", "pattern": "^\\s*[0-9.]+\\s*[A-Za-z]*\\s*$" }
            ]
        })
    }
}

/// What port 0 means, for the messages that refuse it.
pub const PORT_ZERO_MEANS: &str =
    "port 0 lets the system pick any free port, a new one at every start";

/// A gateway port as read (`None`: beyond 0..=65535), or the words for it:
/// 0 (any free port) or out of range; `example` is the fix as written
/// where the port was (`port: 18789`, `--port 18789`).
pub fn port_in_range(
    written: &dyn fmt::Display,
    port: Option<u16>,
    example: &str,
) -> Result<u16, String> {
    match port {
        Some(0) => Err(format!(
            "{PORT_ZERO_MEANS}, so neither the supervisor's probes nor clients could find the gateway: it needs a fixed port, e.g. `{example}`"
        )),
        Some(port) => Ok(port),
        None => Err(format!(
            "`{written}` is out of range: a gateway port is a number from 1024 to 65535, e.g. `{example}`"
        )),
    }
}

/// A port given on the command line (`--port N`), with the same words as
/// a declaration's `port`.
pub fn parse_cli_port(text: &str) -> Result<u16, String> {
    let written = text.trim();
    match written.parse::<i128>() {
        Ok(number) => port_in_range(&written, u16::try_from(number).ok(), "--port 18789"),
        Err(_) => Err(format!(
            "`{written}` is not a port: write a number from 1024 to 65535, e.g. `--port 18789`"
        )),
    }
}

/// A gateway port, with words for the mistakes serde would report as
/// `expected u16`: out of range, 0 (any free port), not a number.
fn deserialize_port<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u16>, D::Error> {
    struct PortVisitor;

    fn in_range<E: serde::de::Error>(
        written: &dyn fmt::Display,
        port: Option<u16>,
    ) -> Result<Option<u16>, E> {
        port_in_range(written, port, "port: 18789")
            .map(Some)
            .map_err(E::custom)
    }

    impl<'de> serde::de::Visitor<'de> for PortVisitor {
        type Value = Option<u16>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a port number from 1024 to 65535")
        }
        fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<Self::Value, E> {
            in_range(&value, u16::try_from(value).ok())
        }
        fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<Self::Value, E> {
            in_range(&value, u16::try_from(value).ok())
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D2: Deserializer<'de>>(
            self,
            deserializer: D2,
        ) -> Result<Self::Value, D2::Error> {
            deserializer.deserialize_i64(PortVisitor)
        }
    }

    // As an integer, not `deserialize_any`: the parser then reports a
    // sequence or a mapping at the value, and a YAML syntax error first.
    deserializer.deserialize_option(PortVisitor)
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

/// What an instance is for.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    #[default]
    Main,
    Rescue,
}

/// When an exited gateway is started again.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    /// Always relaunch (exit 0 in external mode means "relaunch me").
    #[default]
    Always,
    /// Relaunch only after a non-zero exit or a death by signal.
    OnFailure,
    /// Never relaunch by itself.
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct BackoffSpec {
    /// First delay after a failure. `0s`: the first restart at once, the
    /// next ones 100ms, 200ms, 400ms ... up to `max`.
    pub initial: HumanDuration,
    /// The cap: a crash loop keeps retrying at this delay, for ever.
    pub max: HumanDuration,
}

impl Default for BackoffSpec {
    fn default() -> Self {
        BackoffSpec {
            initial: HumanDuration::from_secs(1),
            max: HumanDuration::from_secs(300),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RestartSpec {
    pub policy: RestartPolicy,
    pub backoff: BackoffSpec,
    /// Running this long resets the backoff to `initial`.
    pub reset_after: HumanDuration,
    /// Restart the gateway gracefully when its process tree's memory stays
    /// above `size` for `for`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_above: Option<MemoryAboveSpec>,
}

/// `restart.memory_above`: the memory guard (see `memory_guard`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MemoryAboveSpec {
    /// The size the tree's memory must stay above (`1.5GiB`).
    #[schemars(with = "ByteSizeSchema")]
    pub size: bytesize::ByteSize,
    /// For this long, every reading above (`5m`; at least `1s`).
    #[serde(rename = "for")]
    pub duration: HumanDuration,
}

impl Default for RestartSpec {
    fn default() -> Self {
        RestartSpec {
            policy: RestartPolicy::Always,
            backoff: BackoffSpec::default(),
            reset_after: HumanDuration::from_secs(600),
            memory_above: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct StopSpec {
    /// The first signal sent to the process group (`SIGTERM`, `SIGINT`, ...).
    #[schemars(with = "String")]
    pub signal: StopSignal,
    /// How long to wait after `signal` before SIGKILL of the group.
    pub timeout: HumanDuration,
}

/// The default `stop.timeout`: the real gateway drains active agent turns for
/// up to 315 s, keeps 10 s for final writes and 5 s of margin
/// (`dist/gateway-shutdown-budget-*.mjs`: 325 s shutdown, 330 s service stop);
/// the vendor's own unit has `TimeoutStopSec=330`. A shorter timeout SIGKILLs
/// a draining gateway: the turn is cut and the gateway counts an unclean boot.
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(330);

impl Default for StopSpec {
    fn default() -> Self {
        StopSpec {
            signal: StopSignal::TERM,
            timeout: HumanDuration(DEFAULT_STOP_TIMEOUT),
        }
    }
}

/// One probe as written. Every field is optional: the effective probe takes
/// per-probe defaults (see `probe`), chosen for the real gateway.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ProbeSpec {
    /// `false` turns the probe off.
    pub enabled: Option<bool>,
    /// HTTP GET of this path on the instance's bind address and port.
    pub http: Option<String>,
    /// Expected string values of top-level JSON fields of the HTTP body.
    pub json: Option<BTreeMap<String, String>>,
    /// TCP connect to the gateway port.
    pub tcp: Option<bool>,
    /// Run this argv (no shell); exit 0 answers yes.
    pub exec: Option<Vec<String>>,
    /// Interval between attempts.
    pub every: Option<HumanDuration>,
    /// Per-attempt timeout; for the startup probe, the whole allowance.
    pub timeout: Option<HumanDuration>,
    /// Consecutive failures that count.
    pub failures: Option<u32>,
    /// Wait this long after spawn (or after startup passed) before the first attempt.
    pub initial_delay: Option<HumanDuration>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ProbesSpec {
    pub startup: ProbeSpec,
    pub liveness: ProbeSpec,
    pub readiness: ProbeSpec,
}

/// Where the child's stdout and stderr go: `<state-dir>/logs/<instance>.log`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct LogSpec {
    /// Rotate when the file passes this size (`10MiB`).
    #[schemars(with = "ByteSizeSchema")]
    pub max_size: bytesize::ByteSize,
    /// How many rotated files to keep besides the current one.
    pub keep: u32,
}

impl Default for LogSpec {
    fn default() -> Self {
        LogSpec {
            max_size: bytesize::ByteSize::mib(10),
            keep: 5,
        }
    }
}

// Its Debug (below) shows the names of `env:` but not their values, nor the
// value of a `--token` or `--password` in `args:`: a secret may be one.
/// A declaration exactly as written in its YAML file.
#[derive(Clone, PartialEq, Eq, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Declaration {
    /// Instance name; the file stem when omitted.
    #[serde(default)]
    pub name: Option<String>,
    /// `openclaw --profile`; omitted = the default profile.
    #[serde(default)]
    pub profile: Option<String>,
    /// Gateway port, passed as `--port`.
    #[serde(default, deserialize_with = "deserialize_port")]
    #[schemars(with = "Option<u16>")]
    pub port: Option<u16>,
    /// Gateway bind mode, passed as `--bind` (default `loopback`).
    #[serde(default)]
    pub bind: Option<String>,
    /// Bare name on PATH, absolute path, or path relative to the declaration's directory.
    #[serde(default)]
    pub command: Option<String>,
    /// Extra arguments after `gateway --port N --bind B`.
    #[serde(default)]
    pub args: Vec<String>,
    /// OpenClaw config file (JSON5).
    #[serde(default)]
    pub config: Option<PathBuf>,
    /// OpenClaw state dir.
    #[serde(default)]
    pub state_dir: Option<PathBuf>,
    /// Default agent workspace (passed as `OPENCLAW_WORKSPACE_DIR`).
    #[serde(default)]
    pub workspace: Option<PathBuf>,
    /// The child's `TMPDIR`.
    #[serde(default)]
    pub tmpdir: Option<PathBuf>,
    /// Extra environment for the child.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub role: Role,
    /// The instance this one rescues (requires `role: rescue`).
    #[serde(default)]
    pub rescue_of: Option<String>,
    /// Start only when the rescued instance fails.
    #[serde(default)]
    pub standby: bool,
    /// Wake the rescue's agent through its own gateway's hooks when its
    /// main fails (`agent` or `wake`; requires `role: rescue`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wake: Option<WakeEndpoint>,
    #[serde(default)]
    pub restart: RestartSpec,
    #[serde(default)]
    pub stop: StopSpec,
    #[serde(default)]
    pub probes: ProbesSpec,
    #[serde(default)]
    pub logs: LogSpec,
    /// cgroup limits on the instance's process tree.
    #[serde(default, skip_serializing_if = "LimitsSpec::is_empty")]
    pub limits: LimitsSpec,
    /// A command told about failures, rescues and recoveries (see `alert`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<NotifySpec>,
    /// `auto`: an exit 78 right after the OpenClaw config changed puts its
    /// last known good config back and restarts (once until a new good).
    #[serde(default, skip_serializing_if = "RollbackMode::is_manual")]
    pub rollback: RollbackMode,
}

impl std::fmt::Debug for Declaration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let env: BTreeMap<&str, &str> = self
            .env
            .keys()
            .map(|key| (key.as_str(), "<redacted>"))
            .collect();
        f.debug_struct("Declaration")
            .field("name", &self.name)
            .field("profile", &self.profile)
            .field("port", &self.port)
            .field("bind", &self.bind)
            .field("command", &self.command)
            .field("args", &redacted_args(&self.args))
            .field("config", &self.config)
            .field("state_dir", &self.state_dir)
            .field("workspace", &self.workspace)
            .field("tmpdir", &self.tmpdir)
            .field("env", &env)
            .field("role", &self.role)
            .field("rescue_of", &self.rescue_of)
            .field("standby", &self.standby)
            .field("wake", &self.wake)
            .field("restart", &self.restart)
            .field("stop", &self.stop)
            .field("probes", &self.probes)
            .field("logs", &self.logs)
            .field("limits", &self.limits)
            .field("notify", &self.notify)
            .field("rollback", &self.rollback)
            .finish()
    }
}

/// `args` with the value of each secret option (`--token`, `--password`,
/// either spelling) shown as `<redacted>`.
pub fn redacted_args(args: &[String]) -> Vec<&str> {
    const SECRET_OPTIONS: [&str; 2] = ["--token", "--password"];
    let mut shown = Vec::with_capacity(args.len());
    let mut previous_is_option = false;
    for arg in args {
        let inline = SECRET_OPTIONS.iter().any(|option| {
            arg.strip_prefix(option)
                .is_some_and(|rest| rest.starts_with('='))
        });
        shown.push(if previous_is_option || inline {
            "<redacted>"
        } else {
            arg.as_str()
        });
        previous_is_option = SECRET_OPTIONS.contains(&arg.as_str());
    }
    shown
}

/// The JSON Schema of a declaration file, generated from these types (the
/// committed `schema/declaration.schema.json` must equal it; a test checks).
pub fn json_schema() -> serde_json::Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(Declaration))
        .expect("a generated schema always serializes");
    if let Some(object) = schema.as_object_mut() {
        object.insert(
            "title".into(),
            serde_json::Value::String("openclaw-supervisor declaration".into()),
        );
    }
    schema
}
