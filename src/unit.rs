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
    /// Absolute declarations dir.
    pub dir: PathBuf,
    /// Absolute supervisor state dir.
    pub state_dir: PathBuf,
    /// The largest stop timeout of any instance.
    pub max_stop_timeout: Duration,
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
    let exec_start = [
        spec.binary.display().to_string(),
        "--dir".to_string(),
        spec.dir.display().to_string(),
        "--state-dir".to_string(),
        spec.state_dir.display().to_string(),
        "start".to_string(),
    ]
    .iter()
    .map(|w| quote(w))
    .collect::<Vec<_>>()
    .join(" ");
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
         ExecStart={exec_start}\n\
         ExecReload=/bin/kill -HUP $MAINPID\n\
         Restart=on-failure\n\
         RestartSec=2\n\
         WatchdogSec={watchdog}\n\
         # The supervisor stops its gateways itself (gracefully, in parallel);\n\
         # systemd signals only the supervisor, and kills what is left at the end.\n\
         KillMode=mixed\n\
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

/// The commands that enable the unit (printed, never run).
pub fn enable_commands(scope: Scope) -> Vec<String> {
    let systemctl = match scope {
        Scope::User => "systemctl --user",
        Scope::System => "systemctl",
    };
    vec![
        format!("{systemctl} daemon-reload"),
        format!("{systemctl} enable --now {UNIT_NAME}"),
        format!("{systemctl} status {UNIT_NAME}"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(scope: Scope) -> UnitSpec {
        UnitSpec {
            scope,
            binary: "/usr/local/bin/openclaw-supervisor".into(),
            dir: "/home/me/supervisor.d".into(),
            state_dir: "/home/me/.local/state/openclaw supervisor".into(),
            max_stop_timeout: crate::declaration::DEFAULT_STOP_TIMEOUT,
        }
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
            "KillMode=mixed",
            "Delegate=yes",
            "TimeoutStopSec=360",
            "WantedBy=default.target",
            "ExecStart=/usr/local/bin/openclaw-supervisor --dir /home/me/supervisor.d --state-dir \"/home/me/.local/state/openclaw supervisor\" start",
        ] {
            assert!(
                unit.lines().any(|l| l == line),
                "missing {line:?} in\n{unit}"
            );
        }
        assert!(render(&spec(Scope::System)).contains("WantedBy=multi-user.target"));
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
            enable_commands(Scope::User)[1],
            "systemctl --user enable --now openclaw-supervisor.service"
        );
        assert_eq!(enable_commands(Scope::System)[0], "systemctl daemon-reload");
    }
}
