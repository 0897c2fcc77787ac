//! What the simulated gateway resolves before it serves anything: profile,
//! state dir, config file, port, bind, and its lock file. Each refusal carries
//! the exit code the real gateway would use.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::schema::{self, Issue, line_of};

/// Exit code of a configuration error (`EX_CONFIG`), as the real gateway uses it.
pub const EXIT_CONFIG: u8 = 78;

/// The built-in gateway port of the default profile.
pub const DEFAULT_PORT: u16 = 18789;

/// Bind modes the real gateway accepts for `--bind` / `gateway.bind`.
const BIND_MODES: [&str; 5] = ["loopback", "lan", "auto", "tailnet", "custom"];

/// Why the simulated gateway refuses to run, with the exit code to use.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    pub exit_code: u8,
    pub message: String,
    /// A second line the real gateway logs after an invalid config; then
    /// neither line carries the `[gateway]` tag (as in the real output).
    pub follow_up: Option<String>,
}

impl Refusal {
    fn config(message: String) -> Self {
        Refusal {
            exit_code: EXIT_CONFIG,
            message,
            follow_up: None,
        }
    }

    /// What openclaw 2026.9.6 prints when its schema refuses the config
    /// (`Invalid config at` in `dist/io.invalid-config-*.mjs`, the hint in
    /// `dist/config-recovery-hints-*.mjs`, `Gateway failed to start` in
    /// `dist/run-*.mjs`).
    fn schema(path: &Path, text: &str, issues: &[Issue]) -> Self {
        let file = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut message = format!(
            "Gateway failed to start: Invalid config at {}:",
            path.display()
        );
        for issue in issues {
            message.push('\n');
            if issue.path == "<root>" {
                message.push_str(&format!("<root>: {}", issue.message));
            } else {
                message.push_str(&format!(
                    "{file}:{} \u{2014} {}: {}",
                    line_of(text, &issue.path),
                    issue.path,
                    issue.message
                ));
            }
        }
        message.push_str("\nRun \"openclaw doctor --fix\" to repair, then retry.\nIf startup is still blocked, inspect the adjacent .bak backup before restoring it manually.");
        Refusal {
            exit_code: EXIT_CONFIG,
            message,
            follow_up: Some(
                "Run \"openclaw doctor --fix\" to repair the config, then retry.".to_string(),
            ),
        }
    }
}

/// Everything the simulator resolved, as the real gateway would.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub profile: Option<String>,
    pub state_dir: PathBuf,
    pub config_path: PathBuf,
    pub port: u16,
    pub bind: String,
    pub tmpdir: Option<PathBuf>,
    /// `logging.file` of the config.
    pub logging_file: Option<PathBuf>,
    /// `hooks.*`, when enabled with a token.
    pub hooks: Option<super::hooks::HooksConfig>,
}

/// The inputs of the resolution, so it can be tested without touching the process env.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub profile: Option<String>,
    pub port_flag: Option<u16>,
    pub bind_flag: Option<String>,
    pub allow_unconfigured: bool,
    pub env: BTreeMap<String, String>,
}

/// FNV-1a 32-bit hash, used by openclaw for a named profile's default port.
pub fn fnv1a32(bytes: &[u8]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in bytes {
        hash ^= u32::from(*byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

fn valid_profile(name: &str) -> bool {
    let bytes = name.as_bytes();
    let first_ok = bytes
        .first()
        .is_some_and(|first| first.is_ascii_alphanumeric());
    let rest_ok = bytes
        .iter()
        .all(|byte| byte.is_ascii_alphanumeric() || *byte == b'_' || *byte == b'-');
    first_ok && rest_ok && bytes.len() <= 64
}

/// The profile, state dir and config path openclaw would use.
pub struct Located {
    pub profile: Option<String>,
    pub state_dir: PathBuf,
    pub config_path: PathBuf,
}

/// Where the config is, as every openclaw command finds it (the gateway
/// and `config validate` alike).
pub fn locate(inputs: &Inputs) -> Result<Located, Refusal> {
    let env = |key: &str| inputs.env.get(key).filter(|value| !value.is_empty());
    // Kept as written, like the real gateway: `Work` is `~/.openclaw-Work`
    // and writes `openclaw--1work-<date>.log`.
    let profile = inputs.profile.clone().filter(|name| !name.is_empty());
    if let Some(name) = &profile
        && !valid_profile(name)
    {
        return Err(Refusal {
            exit_code: 2,
            message: format!(
                "invalid --profile `{name}`: use letters, digits, `_` and `-` (at most 64, starting with a letter or digit)"
            ),
            follow_up: None,
        });
    }
    let named = profile
        .as_deref()
        .filter(|name| !name.eq_ignore_ascii_case("default"));

    let home = env("OPENCLAW_HOME")
        .or_else(|| env("HOME"))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"));
    let state_dir = match env("OPENCLAW_STATE_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => match named {
            Some(name) => home.join(format!(".openclaw-{name}")),
            None => home.join(".openclaw"),
        },
    };
    let config_path = env("OPENCLAW_CONFIG_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| state_dir.join("openclaw.json"));
    Ok(Located {
        profile,
        state_dir,
        config_path,
    })
}

/// Resolves profile, paths, config and port; reads the config file it finds.
pub fn resolve(inputs: &Inputs) -> Result<Resolved, Refusal> {
    let env = |key: &str| inputs.env.get(key).filter(|value| !value.is_empty());
    let Located {
        profile,
        state_dir,
        config_path,
    } = locate(inputs)?;
    let named = profile.as_deref().filter(|name| *name != "default");

    let config = read_config(&config_path, inputs.allow_unconfigured)?;
    let gateway = config.as_ref().and_then(|value| value.get("gateway"));
    let mode = gateway
        .and_then(|gateway| gateway.get("mode"))
        .and_then(|mode| mode.as_str());
    if mode != Some("local") && !inputs.allow_unconfigured {
        return Err(Refusal::config(format!(
            "Gateway start blocked: set gateway.mode=local (current: {}) or pass --allow-unconfigured. Config: {}",
            mode.unwrap_or("unset"),
            config_path.display()
        )));
    }

    let env_port = match env("OPENCLAW_GATEWAY_PORT") {
        Some(text) => Some(parse_env_port(text)?),
        None => None,
    };
    let config_port = match gateway.and_then(|gateway| gateway.get("port")) {
        Some(value) => Some(
            value
                .as_u64()
                .and_then(|port| u16::try_from(port).ok())
                .filter(|port| *port > 0)
                .ok_or_else(|| {
                    Refusal::config(format!(
                        "Invalid config at {}: gateway.port must be a port number (1..65535), got {value}",
                        config_path.display()
                    ))
                })?,
        ),
        None => None,
    };
    let profile_port = named.map(|name| {
        let offset = fnv1a32(name.as_bytes()) % 40_000;
        u16::try_from(20_000 + offset).expect("20000 + (n % 40000) is below 65536")
    });
    let port = inputs
        .port_flag
        .or(env_port)
        .or(config_port)
        .or(profile_port)
        .unwrap_or(DEFAULT_PORT);

    let config_bind = gateway
        .and_then(|gateway| gateway.get("bind"))
        .and_then(|bind| bind.as_str())
        .map(str::to_string);
    let bind = inputs
        .bind_flag
        .clone()
        .or(config_bind)
        .unwrap_or_else(|| "loopback".to_string());
    if !BIND_MODES.contains(&bind.as_str()) {
        return Err(Refusal::config(format!(
            "Invalid --bind `{bind}`: use one of {}",
            BIND_MODES.join(", ")
        )));
    }

    Ok(Resolved {
        profile,
        state_dir,
        config_path,
        port,
        bind,
        tmpdir: env("TMPDIR").map(PathBuf::from),
        logging_file: config
            .as_ref()
            .and_then(|value| value.get("logging")?.get("file")?.as_str())
            .map(PathBuf::from),
        hooks: super::hooks::HooksConfig::from_config(config.as_ref()),
    })
}

fn parse_env_port(text: &str) -> Result<u16, Refusal> {
    // `N` or `host:N`; the port is what follows the last colon.
    let digits = text.rsplit(':').next().unwrap_or(text);
    digits
        .trim()
        .parse::<u16>()
        .ok()
        .filter(|port| *port > 0)
        .ok_or_else(|| {
            Refusal::config(format!(
                "Invalid OPENCLAW_GATEWAY_PORT `{text}`: write a port (`18789`) or `host:port`"
            ))
        })
}

fn read_config(
    path: &Path,
    allow_unconfigured: bool,
) -> Result<Option<serde_json::Value>, Refusal> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            if allow_unconfigured {
                return Ok(None);
            }
            return Err(Refusal::config(format!(
                "Missing config at {}. Run `openclaw setup`, or set gateway.mode=local or pass --allow-unconfigured.",
                path.display()
            )));
        }
        Err(err) => {
            return Err(Refusal::config(format!(
                "Cannot read config at {}: {err}",
                path.display()
            )));
        }
    };
    let value: serde_json::Value = json5::from_str(&text).map_err(|err| {
        Refusal::config(format!(
            "Invalid config at {}: {err} (the file is JSON5)",
            path.display()
        ))
    })?;
    if !value.is_object() {
        return Err(Refusal::config(format!(
            "Invalid config at {}: the top level must be an object",
            path.display()
        )));
    }
    let issues = schema::issues(&value);
    if !issues.is_empty() {
        return Err(Refusal::schema(path, &text, &issues));
    }
    Ok(Some(value))
}

/// The lock file's content, with the real gateway's field names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LockRecord {
    pub pid: u32,
    pub port: u16,
    pub config_path: PathBuf,
    pub state_dir: PathBuf,
}

/// `$STATE_DIR/tmp/openclaw-<uid>/`: where gateway lock files live.
pub fn lock_dir(state_dir: &Path) -> PathBuf {
    let uid = nix::unistd::getuid();
    state_dir.join("tmp").join(format!("openclaw-{uid}"))
}

/// `gateway.<fnv1a32 of the config path>.lock` in [`lock_dir`].
pub fn lock_path(state_dir: &Path, config_path: &Path) -> PathBuf {
    let hash = fnv1a32(config_path.as_os_str().as_encoded_bytes());
    lock_dir(state_dir).join(format!("gateway.{hash:08x}.lock"))
}

fn pid_alive(pid: u32) -> bool {
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    // Signal 0 checks existence; EPERM still means the pid exists.
    let exists = match nix::sys::signal::kill(nix::unistd::Pid::from_raw(raw), None) {
        Ok(()) => true,
        Err(errno) => errno == nix::errno::Errno::EPERM,
    };
    // A zombie (exited, its parent not reaping) holds nothing any more.
    exists && !is_zombie(raw)
}

fn is_zombie(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rfind(')')
                .map(|i| stat[i + 1..].split_whitespace().next() == Some("Z"))
        })
        .unwrap_or(false)
}

/// Takes the state dir: refuses (exit 78) when a live gateway holds a lock
/// there, reclaims stale locks, and writes ours. Returns the lock path.
pub fn acquire_lock(resolved: &Resolved, pid: u32) -> Result<PathBuf, Refusal> {
    let dir = lock_dir(&resolved.state_dir);
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|err| {
            Refusal::config(format!(
                "Cannot create the lock directory {}: {err} (check the state dir's permissions)",
                dir.display()
            ))
        })?;
    let entries = fs::read_dir(&dir).map_err(|err| {
        Refusal::config(format!(
            "Cannot read the lock directory {}: {err}",
            dir.display()
        ))
    })?;
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with("gateway.") && name.ends_with(".lock")) {
            continue;
        }
        let holder = fs::read_to_string(&path)
            .ok()
            .and_then(|text| serde_json::from_str::<LockRecord>(&text).ok());
        match holder {
            Some(record) if record.pid != pid && pid_alive(record.pid) => {
                return Err(Refusal::config(format!(
                    "Gateway already running for state dir {} (pid {}, port {}); stop it first or use another state dir",
                    resolved.state_dir.display(),
                    record.pid,
                    record.port
                )));
            }
            // A lock whose owner is gone (or unreadable) is stale: reclaim it.
            _ => {
                let _ = fs::remove_file(&path);
            }
        }
    }
    let path = lock_path(&resolved.state_dir, &resolved.config_path);
    let record = LockRecord {
        pid,
        port: resolved.port,
        config_path: resolved.config_path.clone(),
        state_dir: resolved.state_dir.clone(),
    };
    let text = serde_json::to_string(&record).expect("a lock record always serializes");
    fs::write(&path, text)
        .and_then(|()| fs::set_permissions(&path, fs::Permissions::from_mode(0o600)))
        .map_err(|err| {
            Refusal::config(format!(
                "Cannot write the lock file {}: {err}",
                path.display()
            ))
        })?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(profile: Option<&str>, port_flag: Option<u16>, env: &[(&str, &str)]) -> Inputs {
        Inputs {
            profile: profile.map(str::to_string),
            port_flag,
            bind_flag: None,
            allow_unconfigured: true,
            env: env
                .iter()
                .map(|(key, value)| (key.to_string(), value.to_string()))
                .collect(),
        }
    }

    #[test]
    fn named_profiles_hash_to_the_documented_ports() {
        let rows = [("main", 23592u16), ("rescue", 23532)];
        for (name, port) in rows {
            let resolved = resolve(&inputs(Some(name), None, &[("HOME", "/nonexistent-home")]))
                .expect("allow_unconfigured resolves without a file");
            assert_eq!(resolved.port, port, "profile {name}");
            assert_eq!(
                resolved.state_dir,
                PathBuf::from(format!("/nonexistent-home/.openclaw-{name}"))
            );
        }
    }

    #[test]
    fn port_precedence_and_paths() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("c.json5");
        fs::write(
            &config,
            "{ gateway: { mode: 'local', port: 30001, }, // json5\n}",
        )
        .expect("write config");
        let config_str = config.to_str().expect("utf-8 temp path");
        // (profile, --port, env, expected port, expected config path)
        #[allow(clippy::type_complexity)] // a table row: profile, flag, env, port
        let rows: Vec<(Option<&str>, Option<u16>, Vec<(&str, &str)>, u16)> = vec![
            (
                None,
                Some(40000),
                vec![("OPENCLAW_GATEWAY_PORT", "40001")],
                40000,
            ),
            (
                None,
                None,
                vec![("OPENCLAW_GATEWAY_PORT", "127.0.0.1:40002")],
                40002,
            ),
            (
                None,
                None,
                vec![("OPENCLAW_CONFIG_PATH", config_str)],
                30001,
            ),
            (
                Some("main"),
                None,
                vec![("OPENCLAW_CONFIG_PATH", config_str)],
                30001,
            ),
            (Some("main"), None, vec![], 23592),
            (Some("default"), None, vec![], DEFAULT_PORT),
            (None, None, vec![], DEFAULT_PORT),
        ];
        for (profile, flag, env, expected) in rows {
            let mut env = env.clone();
            env.push(("HOME", "/nonexistent-home"));
            let resolved = resolve(&inputs(profile, flag, &env)).expect("resolves");
            assert_eq!(resolved.port, expected, "{profile:?} {flag:?} {env:?}");
        }
    }

    #[test]
    fn refusals_use_exit_78() {
        let dir = tempfile::tempdir().expect("tempdir");
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            fs::write(&path, text).expect("write config");
            path.to_str().expect("utf-8 temp path").to_string()
        };
        let missing = dir
            .path()
            .join("missing.json")
            .to_str()
            .expect("utf-8")
            .to_string();
        let rows = vec![
            (missing, false, "Missing config"),
            (write("bad.json", "{ gateway: "), true, "Invalid config"),
            (
                write("nomode.json", "{ gateway: {} }"),
                false,
                "gateway.mode=local",
            ),
            (
                write("remote.json", "{ gateway: { mode: 'remote' } }"),
                false,
                "current: remote",
            ),
            (
                write("port.json", "{ gateway: { mode: 'local', port: 70000 } }"),
                false,
                "gateway.port",
            ),
        ];
        for (path, allow, needle) in rows {
            let mut row = inputs(
                None,
                None,
                &[("OPENCLAW_CONFIG_PATH", &path), ("HOME", "/x")],
            );
            row.allow_unconfigured = allow;
            let refusal = resolve(&row).expect_err(needle);
            assert_eq!(refusal.exit_code, EXIT_CONFIG, "{needle}");
            assert!(refusal.message.contains(needle), "{}", refusal.message);
        }
    }
}
