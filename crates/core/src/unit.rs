//! The systemd unit `openclaw-supervisor install` writes. Pure: the caller
//! passes every path, so the text is a table-testable function.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where a unit is installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `~/.config/systemd/user`, run by the user's service manager.
    User,
    /// `/etc/systemd/system`, run by the system manager.
    System,
}

pub const UNIT_NAME: &str = "openclaw-supervisor.service";

#[derive(Debug, Clone)]
pub struct UnitSpec {
    pub scope: Scope,
    /// Absolute path of the supervisor binary.
    pub binary: PathBuf,
    /// What the service inherits from the shell that ran `install`.
    pub settings: Settings,
    /// The largest stop timeout of any instance.
    pub max_stop_timeout: Duration,
}

/// The shell's settings the service must run with, so it finds what the
/// shell found: `openclaw`/`node` on `PATH`, the same home, declarations,
/// state dir and socket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// The shell's `PATH`, when set.
    pub path: Option<String>,
    /// `OPENCLAW_HOME`, when set.
    pub openclaw_home: Option<String>,
    /// Absolute declarations dir (always recorded: its default is relative).
    pub dir: PathBuf,
    /// Absolute state dir, when not the default.
    pub state_dir: Option<PathBuf>,
    /// Absolute control socket, when not the default.
    pub socket: Option<PathBuf>,
}

/// The variables the unit sets, in order: only those the shell had.
pub fn environment(settings: &Settings) -> Vec<(&'static str, String)> {
    let path_text = |p: &PathBuf| p.display().to_string();
    [
        ("PATH", settings.path.clone()),
        ("OPENCLAW_HOME", settings.openclaw_home.clone()),
        ("OPENCLAW_SUPERVISOR_DIR", Some(path_text(&settings.dir))),
        (
            "OPENCLAW_SUPERVISOR_STATE_DIR",
            settings.state_dir.as_ref().map(path_text),
        ),
        (
            "OPENCLAW_SUPERVISOR_SOCKET",
            settings.socket.as_ref().map(path_text),
        ),
    ]
    .into_iter()
    .filter_map(|(name, value)| value.map(|v| (name, v)))
    .collect()
}

/// One `Environment=` line, quoted as systemd reads it: the whole
/// assignment in double quotes, C escapes for `\`, `"` and control
/// characters, `%%` for a literal `%` (specifiers are expanded here); `$` is
/// literal in `Environment=` (no variable expansion), so it stays as is.
pub fn environment_line(name: &str, value: &str) -> String {
    let mut escaped = String::with_capacity(value.len() + 2);
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '%' => escaped.push_str("%%"),
            '\n' => escaped.push_str("\\n"),
            '\t' => escaped.push_str("\\t"),
            c if c.is_control() => escaped.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => escaped.push(c),
        }
    }
    format!("Environment=\"{name}={escaped}\"")
}

/// Whether `binary` is a cargo debug build (`target/debug/…` or
/// `target/<triple>/debug/…`): slow, and replaced by the next `cargo build`.
pub fn is_debug_build(binary: &Path) -> bool {
    let parts: Vec<_> = binary
        .components()
        .map(|c| c.as_os_str().to_string_lossy().to_string())
        .collect();
    parts.iter().enumerate().any(|(i, part)| {
        part == "debug"
            && (i >= 1 && parts[i - 1] == "target" || i >= 2 && parts[i - 2] == "target")
    })
}

/// The watchdog interval systemd enforces; the supervisor pings at half.
pub const WATCHDOG: Duration = Duration::from_secs(30);

/// systemd's `TimeoutStopSec`: the supervisor stops its gateways in
/// parallel, each within its own stop timeout, then SIGKILLs leftovers; 30 s
/// on top covers the kill and the reaping. The gateways run in this unit's
/// cgroup and the real gateway reads its unit's `TimeoutStopUSec`
/// (`readSystemdStopTimeout`), sizing its own drain to that minus 15 s: with
/// the default stop timeout (330 s) the unit says 360 s and the gateway keeps
/// its full 315 s drain.
pub fn timeout_stop(max_stop_timeout: Duration) -> Duration {
    max_stop_timeout + Duration::from_secs(30)
}

/// Quote one word for an `ExecStart=` line (systemd's own quoting, not a shell's).
fn quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:=@".contains(c))
    {
        return word.to_string();
    }
    let escaped = word
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('%', "%%")
        .replace('$', "$$");
    format!("\"{escaped}\"")
}

pub fn render(spec: &UnitSpec) -> String {
    let exec_start = format!("{} start", quote(&spec.binary.display().to_string()));
    let environment: String = environment(&spec.settings)
        .iter()
        .map(|(name, value)| environment_line(name, value) + "\n")
        .collect();
    let wanted_by = match spec.scope {
        Scope::User => "default.target",
        Scope::System => "multi-user.target",
    };
    format!(
        "# Written by `openclaw-supervisor install`. It replaces the per-profile\n\
         # openclaw-gateway[-<profile>].service units of `openclaw gateway install`:\n\
         # disable those for every profile declared here, or two supervisors fight\n\
         # over one gateway.\n\
         [Unit]\n\
         Description=OpenClaw gateways, side by side and isolated (openclaw-supervisor)\n\
         After=network-online.target\n\
         Wants=network-online.target\n\
         \n\
         [Service]\n\
         Type=notify\n\
         NotifyAccess=main\n\
         # The shell's PATH and settings, as they were when `install` ran.\n\
         {environment}\
         ExecStart={exec_start}\n\
         ExecReload=/bin/kill -HUP $MAINPID\n\
         Restart=on-failure\n\
         RestartSec=2\n\
         WatchdogSec={watchdog}\n\
         # The supervisor stops its gateways itself (gracefully, in parallel) on\n\
         # SIGTERM; systemd signals only the supervisor and kills nothing else, so\n\
         # a crashed supervisor does not take its gateways with it (the next one\n\
         # adopts them through their keepers). Upgrade in place: `openclaw-supervisor\n\
         # reexec` (or SIGUSR2); ExecReload rescans the declarations.\n\
         KillMode=process\n\
         # The unit's cgroup subtree is the supervisor's: each gateway runs in a\n\
         # cgroup v2 of its own under it (tracked, killed and counted as a tree).\n\
         Delegate=yes\n\
         TimeoutStopSec={timeout_stop}\n\
         \n\
         [Install]\n\
         WantedBy={wanted_by}\n",
        watchdog = WATCHDOG.as_secs(),
        timeout_stop = timeout_stop(spec.max_stop_timeout).as_secs(),
    )
}

/// Where the unit file goes.
pub fn unit_path(scope: Scope, home: &Path) -> PathBuf {
    match scope {
        Scope::User => home.join(".config/systemd/user").join(UNIT_NAME),
        Scope::System => PathBuf::from("/etc/systemd/system").join(UNIT_NAME),
    }
}

/// A system unit's state dir when none is given.
pub const SYSTEM_STATE_DIR: &str = "/var/lib/openclaw-supervisor";

/// A system unit's socket when none is given (its directory is made at
/// start, mode 0700).
pub const SYSTEM_SOCKET: &str = "/run/openclaw-supervisor/supervisor.sock";

/// How clients reach a system unit's supervisor: its socket is not where a
/// client looks by itself (that is the user's session or state dir). None
/// for a user unit, whose clients find it as the shell did.
pub fn client_hint(spec: &UnitSpec) -> Option<String> {
    let socket = spec.settings.socket.as_ref()?;
    (spec.scope == Scope::System).then(|| {
        format!(
            "clients reach it with `--socket {}` (or OPENCLAW_SUPERVISOR_SOCKET set to it)",
            socket.display()
        )
    })
}

/// The commands that follow `install` (printed, never run): load the unit,
/// enable and start it, then follow its log.
pub fn enable_commands(scope: Scope) -> Vec<String> {
    let user = match scope {
        Scope::User => " --user",
        Scope::System => "",
    };
    let unit = UNIT_NAME.trim_end_matches(".service");
    vec![
        format!("systemctl{user} daemon-reload"),
        format!("systemctl{user} enable --now {unit}"),
        format!("journalctl{user} -u {unit} -f"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(scope: Scope) -> UnitSpec {
        UnitSpec {
            scope,
            binary: "/usr/local/bin/openclaw-supervisor".into(),
            settings: Settings {
                path: Some("/home/me/.nvm/versions/node/v24/bin:/usr/bin".into()),
                openclaw_home: None,
                dir: "/home/me/supervisor.d".into(),
                state_dir: Some("/home/me/.local/state/openclaw supervisor".into()),
                socket: None,
            },
            max_stop_timeout: crate::declaration::DEFAULT_STOP_TIMEOUT,
        }
    }

    #[test]
    fn a_system_units_clients_are_told_its_socket() {
        let socket = PathBuf::from(SYSTEM_SOCKET);
        let with_socket = |scope| {
            let mut spec = spec(scope);
            spec.settings.socket = Some(socket.clone());
            spec
        };
        assert_eq!(
            client_hint(&with_socket(Scope::System)).as_deref(),
            Some(
                "clients reach it with `--socket /run/openclaw-supervisor/supervisor.sock` (or OPENCLAW_SUPERVISOR_SOCKET set to it)"
            )
        );
        assert_eq!(client_hint(&with_socket(Scope::User)), None);
        assert_eq!(client_hint(&spec(Scope::System)), None);
    }

    #[test]
    fn timeout_stop_is_above_the_largest_stop_timeout() {
        // (largest stop.timeout, TimeoutStopSec): the default gives 360 s,
        // above the vendor unit's 330 s the gateway's own drain is sized for.
        let rows = [(330, 360), (60, 90), (600, 630), (1, 31)];
        for (largest, expected) in rows {
            assert_eq!(
                timeout_stop(Duration::from_secs(largest)),
                Duration::from_secs(expected),
                "largest stop.timeout {largest} s"
            );
        }
        assert!(timeout_stop(crate::declaration::DEFAULT_STOP_TIMEOUT) > Duration::from_secs(330));
    }

    #[test]
    fn unit_has_the_settings_the_supervisor_relies_on() {
        let unit = render(&spec(Scope::User));
        for line in [
            "Type=notify",
            "ExecReload=/bin/kill -HUP $MAINPID",
            "Restart=on-failure",
            "WatchdogSec=30",
            "KillMode=process",
            "Delegate=yes",
            "TimeoutStopSec=360",
            "WantedBy=default.target",
            "ExecStart=/usr/local/bin/openclaw-supervisor start",
            "Environment=\"PATH=/home/me/.nvm/versions/node/v24/bin:/usr/bin\"",
            "Environment=\"OPENCLAW_SUPERVISOR_DIR=/home/me/supervisor.d\"",
            "Environment=\"OPENCLAW_SUPERVISOR_STATE_DIR=/home/me/.local/state/openclaw supervisor\"",
        ] {
            assert!(
                unit.lines().any(|l| l == line),
                "missing {line:?} in\n{unit}"
            );
        }
        assert!(render(&spec(Scope::System)).contains("WantedBy=multi-user.target"));
        assert!(!unit.contains("OPENCLAW_HOME"), "unset, not recorded");
        assert!(!unit.contains("OPENCLAW_SUPERVISOR_SOCKET"), "the default");
    }

    #[test]
    fn environment_records_only_what_the_shell_had() {
        let dir = PathBuf::from("/d");
        let rows: [(Settings, &[&str]); 3] = [
            (
                Settings {
                    dir: dir.clone(),
                    ..Settings::default()
                },
                &["OPENCLAW_SUPERVISOR_DIR"],
            ),
            (
                Settings {
                    path: Some("/usr/bin".into()),
                    openclaw_home: Some("/oc".into()),
                    dir: dir.clone(),
                    state_dir: None,
                    socket: Some("/run/s.sock".into()),
                },
                &[
                    "PATH",
                    "OPENCLAW_HOME",
                    "OPENCLAW_SUPERVISOR_DIR",
                    "OPENCLAW_SUPERVISOR_SOCKET",
                ],
            ),
            (
                Settings {
                    path: Some("/usr/bin".into()),
                    openclaw_home: None,
                    dir,
                    state_dir: Some("/s".into()),
                    socket: Some("/run/s.sock".into()),
                },
                &[
                    "PATH",
                    "OPENCLAW_SUPERVISOR_DIR",
                    "OPENCLAW_SUPERVISOR_STATE_DIR",
                    "OPENCLAW_SUPERVISOR_SOCKET",
                ],
            ),
        ];
        for (settings, names) in rows {
            let got: Vec<&str> = environment(&settings).iter().map(|(n, _)| *n).collect();
            assert_eq!(got, names, "{settings:?}");
        }
    }

    #[test]
    fn environment_line_quoting_table() {
        let rows = [
            (
                "PATH",
                "/usr/bin:/bin",
                r#"Environment="PATH=/usr/bin:/bin""#,
            ),
            (
                "PATH",
                "/opt/my tools/bin:/usr/bin",
                r#"Environment="PATH=/opt/my tools/bin:/usr/bin""#,
            ),
            (
                "OPENCLAW_HOME",
                "/home/me/100%",
                r#"Environment="OPENCLAW_HOME=/home/me/100%%""#,
            ),
            (
                "OPENCLAW_HOME",
                "/home/$USER",
                r#"Environment="OPENCLAW_HOME=/home/$USER""#,
            ),
            (
                "OPENCLAW_HOME",
                r#"/a"b\c"#,
                r#"Environment="OPENCLAW_HOME=/a\"b\\c""#,
            ),
            (
                "OPENCLAW_HOME",
                "/a\nb\tc\u{7}",
                r#"Environment="OPENCLAW_HOME=/a\nb\tc\u0007""#,
            ),
            (
                "OPENCLAW_HOME",
                "/héllo'x",
                r#"Environment="OPENCLAW_HOME=/héllo'x""#,
            ),
        ];
        for (name, value, expected) in rows {
            assert_eq!(environment_line(name, value), expected, "{value:?}");
        }
    }

    #[test]
    fn debug_builds_table() {
        let rows = [
            ("/work/app/target/debug/openclaw-supervisor", true),
            (
                "/work/app/target/x86_64-unknown-linux-gnu/debug/openclaw-supervisor",
                true,
            ),
            ("/work/app/target/debug/deps/openclaw_supervisor-1a2b", true),
            ("/work/app/target/release/openclaw-supervisor", false),
            ("/home/me/.cargo/bin/openclaw-supervisor", false),
            ("/usr/local/bin/openclaw-supervisor", false),
            ("/home/me/debug/openclaw-supervisor", false),
            ("/home/me/target/openclaw-supervisor", false),
        ];
        for (path, debug) in rows {
            assert_eq!(is_debug_build(Path::new(path)), debug, "{path}");
        }
    }

    #[test]
    fn quoting_table() {
        let rows = [
            ("/plain/path", "/plain/path"),
            ("with space", "\"with space\""),
            ("a$b", "\"a$$b\""),
            ("50%", "\"50%%\""),
            ("q\"uote", "\"q\\\"uote\""),
            ("", "\"\""),
        ];
        for (input, expected) in rows {
            assert_eq!(quote(input), expected, "{input:?}");
        }
    }

    #[test]
    fn paths_and_commands_per_scope() {
        assert_eq!(
            unit_path(Scope::User, Path::new("/home/me")),
            PathBuf::from("/home/me/.config/systemd/user/openclaw-supervisor.service")
        );
        assert_eq!(
            unit_path(Scope::System, Path::new("/home/me")),
            PathBuf::from("/etc/systemd/system/openclaw-supervisor.service")
        );
        assert_eq!(
            enable_commands(Scope::User),
            [
                "systemctl --user daemon-reload",
                "systemctl --user enable --now openclaw-supervisor",
                "journalctl --user -u openclaw-supervisor -f",
            ]
        );
        assert_eq!(
            enable_commands(Scope::System),
            [
                "systemctl daemon-reload",
                "systemctl enable --now openclaw-supervisor",
                "journalctl -u openclaw-supervisor -f",
            ]
        );
    }
}
