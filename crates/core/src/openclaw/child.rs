//! What the gateway process is given: its program, arguments and environment.

use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use super::{Effective, EnvMap, PORT_BLOCK_SPAN};
use crate::spawn::{SpawnError, SpawnSpec, resolve_command};

/// Inherited variables that would make the gateway believe a service
/// manager runs it, or keep it from asking to be relaunched
/// (`OPENCLAW_NO_RESPAWN` turns every restart request into an in-process
/// restart: same pid, old code after an update), or fight `NO_COLOR`:
/// stripped from its env. The declaration's `env:` may still set
/// `OPENCLAW_NO_RESPAWN` or `FORCE_COLOR` on purpose.
pub const STRIPPED_ENV: &[&str] = &[
    "OPENCLAW_NO_RESPAWN",
    "FORCE_COLOR",
    "INVOCATION_ID",
    "JOURNAL_STREAM",
    "SYSTEMD_EXEC_PID",
    "NOTIFY_SOCKET",
    "LISTEN_FDS",
    "LISTEN_PID",
    "LISTEN_FDNAMES",
    "WATCHDOG_USEC",
    "WATCHDOG_PID",
    "OPENCLAW_SYSTEMD_UNIT",
    "OPENCLAW_LAUNCHD_LABEL",
];

impl Effective {
    /// The command to run: a bare name, looked up on PATH at spawn, or an
    /// absolute path (a declared relative path was resolved against the
    /// canonical declaration directory when the declaration was loaded).
    pub fn command(&self) -> &str {
        &self.command
    }

    /// The program to execute (see [`Effective::command`]).
    pub fn program(&self) -> PathBuf {
        PathBuf::from(&self.command)
    }

    /// `[--profile P]`: what every openclaw command of this instance starts with.
    fn profile_args(&self) -> Vec<String> {
        match &self.profile {
            Some(profile) => vec!["--profile".to_string(), profile.clone()],
            None => Vec::new(),
        }
    }

    /// `[--profile P] config validate --json`: openclaw's own verdict on
    /// the config this gateway would read (run with [`Effective::child_env`]).
    pub fn validate_args(&self) -> Vec<String> {
        let mut args = self.profile_args();
        args.extend(["config", "validate", "--json"].map(str::to_string));
        args
    }

    /// Everything a spawn of this gateway is given (the supervisor's spawn
    /// and the conformance scenario both use it): the argv of
    /// [`Effective::child_args`], the environment of
    /// [`Effective::child_env`] over `inherited` then `extra` (the
    /// supervisor's own additions: a rescue's socket path, the spawn
    /// marker), through [`Effective::command_spec`].
    pub fn spawn_spec(
        &self,
        inherited: &EnvMap,
        extra: impl IntoIterator<Item = (String, String)>,
    ) -> Result<SpawnSpec, SpawnError> {
        let mut env = self.child_env(inherited);
        env.extend(extra);
        self.command_spec(self.child_args(), env, true)
    }

    /// What to spawn to run this instance's openclaw with `args` and `env`
    /// (its [`Effective::child_env`] plus what the caller adds): the command
    /// looked up as a spawn does (on the child's `PATH`), in the state dir.
    /// One place for the gateway and `config validate`.
    pub fn command_spec(
        &self,
        args: Vec<String>,
        env: EnvMap,
        capture_output: bool,
    ) -> Result<SpawnSpec, SpawnError> {
        let declaration_dir = self.file.parent().unwrap_or(Path::new("."));
        let program = resolve_command(
            self.command(),
            declaration_dir,
            env.get("PATH").map(String::as_str),
        )?;
        Ok(SpawnSpec {
            program,
            args,
            env,
            cwd: Some(self.state_dir.clone()),
            capture_output,
            pipe_stdin: false,
        })
    }

    /// `[--profile P] gateway --port N --bind B <args>`.
    pub fn child_args(&self) -> Vec<String> {
        let mut args = self.profile_args();
        args.extend([
            "gateway".to_string(),
            "--port".to_string(),
            self.port.to_string(),
            "--bind".to_string(),
            self.bind.clone(),
        ]);
        args.extend(self.declaration.args.iter().cloned());
        args
    }

    /// The child's environment: the inherited one without service-manager
    /// markers (nor `OPENCLAW_NO_RESPAWN`, `FORCE_COLOR`), then the resolved
    /// paths and port, external supervision mode, `NO_COLOR=1`, then the
    /// declaration's `env:`.
    pub fn child_env(&self, inherited: &EnvMap) -> EnvMap {
        let mut env: EnvMap = inherited
            .iter()
            .filter(|(key, _)| !STRIPPED_ENV.contains(&key.as_str()))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        let path = |path: &Path| path.to_string_lossy().into_owned();
        env.insert("OPENCLAW_STATE_DIR".into(), path(&self.state_dir));
        env.insert("OPENCLAW_CONFIG_PATH".into(), path(&self.config_path));
        env.insert("OPENCLAW_GATEWAY_PORT".into(), self.port.to_string());
        match &self.profile {
            Some(profile) => {
                env.insert("OPENCLAW_PROFILE".into(), profile.clone());
            }
            None => {
                // An inherited profile would contradict the default one chosen.
                env.remove("OPENCLAW_PROFILE");
            }
        }
        if let Some(workspace) = &self.declared_workspace {
            env.insert("OPENCLAW_WORKSPACE_DIR".into(), path(workspace));
        }
        env.insert("TMPDIR".into(), path(&self.tmpdir));
        // External mode: a restart the gateway wants (SIGUSR2, a config
        // change, a self-update) is an exit 0 that the supervisor relaunches.
        env.insert("OPENCLAW_SUPERVISOR_MODE".into(), "external".into());
        // The gateway colours its output into a pipe too when it inherits
        // TERM (or COLORTERM, TERM_PROGRAM); the supervisor's
        // logs, `logs` and `status` want plain text. A declaration that sets
        // NO_COLOR or FORCE_COLOR itself decides.
        let declared = &self.declaration.env;
        if !declared.contains_key("NO_COLOR") && !declared.contains_key("FORCE_COLOR") {
            env.insert("NO_COLOR".into(), "1".into());
        }
        env.extend(self.declaration.env.clone());
        env
    }

    /// The ports derived from the base port: `base ..= base + 110`. May run
    /// past 65535; `isolation` reports that.
    pub fn port_block(&self) -> RangeInclusive<u32> {
        let base = u32::from(self.port);
        base..=base + PORT_BLOCK_SPAN
    }
}
