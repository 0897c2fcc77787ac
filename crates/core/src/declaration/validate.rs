//! Rules a declaration must follow that serde's types cannot express.
//! Pure: works on the parsed value only.

use super::messages::quoted;
use super::{Declaration, Role};
use crate::probe::EffectiveProbes;

/// A rule broken by a declaration: the key (dotted path) and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Invalid {
    pub key: String,
    pub message: String,
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> Invalid {
    Invalid {
        key: key.into(),
        message: message.into(),
    }
}

/// The openclaw profile rule, `^[a-z0-9][a-z0-9_-]{0,63}$`, case-insensitive
/// as openclaw applies it. Instance names follow the same rule.
pub fn is_valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 64
        && bytes[0].is_ascii_alphanumeric()
        && bytes[1..]
            .iter()
            .all(|byte| byte.is_ascii_alphanumeric() || *byte == b'_' || *byte == b'-')
}

/// Gateway flags the supervisor passes itself, and the key that sets each.
const RESERVED_ARGS: &[(&str, &str)] = &[
    ("--port", "port"),
    ("--bind", "bind"),
    ("--profile", "profile"),
];

/// Environment variables the declaration may not set through `env:`, and
/// why: each either has its own key (so there is one way to say it) or is
/// set or stripped by the supervisor itself.
const RESERVED_ENV: &[(&str, &str)] = &[
    ("OPENCLAW_STATE_DIR", "use the `state_dir` key instead"),
    ("OPENCLAW_CONFIG_PATH", "use the `config` key instead"),
    ("OPENCLAW_GATEWAY_PORT", "use the `port` key instead"),
    ("OPENCLAW_PROFILE", "use the `profile` key instead"),
    ("OPENCLAW_WORKSPACE_DIR", "use the `workspace` key instead"),
    ("TMPDIR", "use the `tmpdir` key instead"),
    (
        "OPENCLAW_SUPERVISOR_MODE",
        "the supervisor always sets it to `external`",
    ),
    (
        "INVOCATION_ID",
        "the supervisor strips systemd markers so the gateway does not think systemd runs it",
    ),
    (
        "JOURNAL_STREAM",
        "the supervisor strips systemd markers so the gateway does not think systemd runs it",
    ),
    (
        "SYSTEMD_EXEC_PID",
        "the supervisor strips systemd markers so the gateway does not think systemd runs it",
    ),
    (
        "OPENCLAW_SYSTEMD_UNIT",
        "the supervisor strips service markers so the gateway does not think systemd runs it",
    ),
    (
        "OPENCLAW_LAUNCHD_LABEL",
        "the supervisor strips service markers so the gateway does not think launchd runs it",
    ),
];

/// Check `decl` (named `name`), bring the few values that have several
/// spellings to their canonical one (`notify.on: [Failed]` -> `failed`;
/// `stop.signal` is typed and canonical from the parse on), and give its
/// probes as they will run: the one place they are worked out.
pub(super) fn declaration(decl: &mut Declaration, name: &str) -> Result<EffectiveProbes, Invalid> {
    if let Some(profile) = &decl.profile
        && !is_valid_name(profile)
    {
        return Err(invalid(
            "profile",
            format!(
                "{} is not a valid openclaw profile name: use 1 to 64 letters, digits, \
                 `_` or `-`, starting with a letter or digit",
                quoted(profile)
            ),
        ));
    }
    if let Some(bind) = &decl.bind
        && (bind.is_empty() || bind.chars().any(char::is_whitespace))
    {
        return Err(invalid(
            "bind",
            format!("`{bind}` is not a bind mode: write e.g. `loopback`"),
        ));
    }
    if decl.command.as_deref().is_some_and(str::is_empty) {
        return Err(invalid(
            "command",
            "the command is empty: omit the key to run `openclaw` from PATH, or give a path",
        ));
    }
    for (key, path) in [
        ("config", &decl.config),
        ("state_dir", &decl.state_dir),
        ("workspace", &decl.workspace),
        ("tmpdir", &decl.tmpdir),
    ] {
        if path
            .as_ref()
            .is_some_and(|path| path.as_os_str().is_empty())
        {
            return Err(invalid(
                key,
                "the path is empty: omit the key to use the default",
            ));
        }
    }
    for (index, arg) in decl.args.iter().enumerate() {
        for (flag, key) in RESERVED_ARGS {
            if arg == flag || arg.starts_with(&format!("{flag}=")) {
                return Err(invalid(
                    format!("args[{index}]"),
                    format!(
                        "`{flag}` is passed by the supervisor: use the `{key}` key instead of args"
                    ),
                ));
            }
        }
    }
    for (key, value) in &decl.env {
        if key.is_empty() || key.contains('=') || key.contains('\0') {
            return Err(invalid(
                format!("env.{key}"),
                format!(
                    "`{key}` is not an environment variable name: it must be non-empty and contain no `=`"
                ),
            ));
        }
        if value.contains('\0') {
            return Err(invalid(
                format!("env.{key}"),
                "the value contains a NUL byte, which no environment can carry",
            ));
        }
        if let Some((_, why)) = RESERVED_ENV.iter().find(|(reserved, _)| reserved == key) {
            return Err(invalid(
                format!("env.{key}"),
                format!("`{key}` may not be set in env: {why}"),
            ));
        }
    }
    match (&decl.role, &decl.rescue_of) {
        (Role::Main, Some(_)) => {
            return Err(invalid(
                "rescue_of",
                "`rescue_of` needs `role: rescue`: only a rescue instance rescues another",
            ));
        }
        (Role::Rescue, Some(target)) if target.to_ascii_lowercase() == name => {
            return Err(invalid(
                "rescue_of",
                format!(
                    "{} cannot rescue itself: name the instance it stands by for",
                    quoted(name)
                ),
            ));
        }
        (_, Some(target)) if !is_valid_name(target) => {
            return Err(invalid(
                "rescue_of",
                format!("{} is not a valid instance name", quoted(target)),
            ));
        }
        _ => {}
    }
    // Instance names are stored lowercased, so the reference is too.
    if let Some(target) = &mut decl.rescue_of {
        *target = target.to_ascii_lowercase();
    }
    if decl.standby && decl.role != Role::Rescue {
        return Err(invalid(
            "standby",
            "`standby: true` needs `role: rescue`: a main instance always runs",
        ));
    }
    if decl.wake.is_some() && (decl.role != Role::Rescue || decl.rescue_of.is_none()) {
        return Err(invalid(
            "wake",
            "`wake` needs `role: rescue` and `rescue_of`: only a rescue is woken when the instance it rescues fails",
        ));
    }
    let backoff = decl.restart.backoff;
    if backoff.max.get().is_zero() {
        return Err(invalid(
            "restart.backoff.max",
            "a zero cap turns a crash loop into a hot loop: use e.g. `5m`",
        ));
    }
    if backoff.initial > backoff.max {
        return Err(invalid(
            "restart.backoff.max",
            format!(
                "the cap {} is below the initial backoff {}: raise `max` or lower `initial`",
                backoff.max, backoff.initial
            ),
        ));
    }
    if let Some(guard) = decl.restart.memory_above {
        if guard.size.as_u64() == 0 {
            return Err(invalid(
                "restart.memory_above.size",
                "a zero size would restart the gateway for ever: use e.g. `1.5GiB`",
            ));
        }
        if guard.duration.get() < crate::memory_guard::MIN_FOR {
            return Err(invalid(
                "restart.memory_above.for",
                format!(
                    "`{}` is shorter than the guard's minimum of 1s, which would restart the gateway for one allocation burst: use e.g. `5m`",
                    guard.duration
                ),
            ));
        }
    }
    if let Some(memory) = decl.limits.memory {
        if memory.as_u64() < crate::limits::MIN_MEMORY {
            return Err(invalid(
                "limits.memory",
                format!(
                    "{} is below the least a gateway can start in (64 MiB): the kernel would kill it at once; a real gateway needs about 1GiB, e.g. `limits: {{ memory: 2GiB }}`",
                    memory.display().iec()
                ),
            ));
        }
        if let Some(guard) = decl.restart.memory_above
            && guard.size >= memory
        {
            return Err(invalid(
                "restart.memory_above.size",
                format!(
                    "the guard's {} is not below `limits.memory` ({}): the kernel would kill the gateway before the guard restarts it gracefully; set the guard lower, e.g. 75% of the limit",
                    guard.size.display().iec(),
                    memory.display().iec()
                ),
            ));
        }
    }
    if let Some(pids) = decl.limits.pids
        && pids < crate::limits::MIN_PIDS
    {
        return Err(invalid(
            "limits.pids",
            format!(
                "{pids} is below {}: every thread counts, and Node alone runs about 11; use e.g. `512`",
                crate::limits::MIN_PIDS
            ),
        ));
    }
    if decl.stop.timeout.get().is_zero() {
        return Err(invalid(
            "stop.timeout",
            "a zero stop timeout means SIGKILL at once, which the gateway counts as an unclean boot: leave it out for the default `330s` (the gateway's own drain budget) or set e.g. `60s` for faster stops",
        ));
    }
    // The probe rules live with the probes; this is their one caller on the
    // way in, so every path that loads a declaration applies them, and the
    // result travels with the declaration from here on.
    let probes = crate::probe::effective_probes(&decl.probes)
        .map_err(|err| invalid(err.key(), err.advice()))?;
    if let Some(notify) = &mut decl.notify {
        notify_spec(notify)?;
    }
    if decl.logs.max_size.as_u64() == 0 {
        return Err(invalid(
            "logs.max_size",
            "a zero size would rotate on every line: use e.g. `10MiB`",
        ));
    }
    Ok(probes)
}

/// `notify`: a non-empty argv whose program is an absolute path or a bare
/// name (no shell, no path relative to a directory nobody thinks of),
/// notifications from the known set (canonical lowercase, each once),
/// durations above zero.
fn notify_spec(notify: &mut super::NotifySpec) -> Result<(), Invalid> {
    let Some(program) = notify.command.first() else {
        return Err(invalid(
            "notify.command",
            "the command is empty: give the program and its arguments, e.g. `[/usr/local/bin/ntfy-send, --topic, openclaw]`",
        ));
    };
    if program.trim().is_empty() {
        return Err(invalid(
            "notify.command[0]",
            "the program is empty: give an absolute path or a name on PATH",
        ));
    }
    if program.contains('/') && !program.starts_with('/') {
        return Err(invalid(
            "notify.command[0]",
            format!(
                "{} is a relative path: give an absolute path or a bare name looked up on PATH",
                quoted(program)
            ),
        ));
    }
    if let Some(index) = notify.command.iter().position(|arg| arg.contains('\0')) {
        return Err(invalid(
            format!("notify.command[{index}]"),
            "the argument contains a NUL byte, which no argv can carry",
        ));
    }
    if notify.on.is_empty() {
        return Err(invalid(
            "notify.on",
            format!(
                "no notification is chosen: omit `on` for all of them, or name some of {}",
                super::NOTIFY_EVENTS.join(", ")
            ),
        ));
    }
    let mut canonical: Vec<String> = Vec::new();
    for (index, written) in notify.on.iter().enumerate() {
        let lowered = written.trim().to_ascii_lowercase();
        if !super::NOTIFY_EVENTS.contains(&lowered.as_str()) {
            return Err(invalid(
                format!("notify.on[{index}]"),
                super::messages::unknown_value(written, "notification", super::NOTIFY_EVENTS),
            ));
        }
        if !canonical.contains(&lowered) {
            canonical.push(lowered);
        }
    }
    notify.on = canonical;
    for (key, duration) in [
        ("notify.min_interval", notify.min_interval),
        ("notify.timeout", notify.timeout),
    ] {
        if duration.get().is_zero() {
            return Err(invalid(
                key,
                "a zero duration is not allowed here: use e.g. `1m` for `min_interval`, `10s` for `timeout`",
            ));
        }
    }
    Ok(())
}
