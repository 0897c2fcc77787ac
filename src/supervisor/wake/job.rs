//! One wake's work off the supervisor loop (run by `spawn_blocking`): read
//! the rescue's config for its hooks, read main's config for its secrets,
//! build the text with every known secret taken out, keep it (0600 in a
//! 0700 dir) and hand back what to post.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::declaration::WakeEndpoint;
use crate::openclaw::EnvMap;
use crate::openclaw::hooks::{self, HookToken};
use crate::wake::send::Sent;
use crate::wake::{self, EventLine, FailureFacts, Kind};

/// A refusal before anything was sent.
pub fn not_sent(words: String) -> Sent {
    Sent {
        status: None,
        ok: false,
        words,
    }
}

/// The text to send: ready, or main's failure still to be written (it needs
/// main's config for the secrets to take out).
pub enum Text {
    Ready(String),
    Failure(Box<FailureJob>),
}

/// main's facts as the loop knew them when the send began.
pub struct FailureJob {
    pub main: String,
    pub how: String,
    pub since: SystemTime,
    pub restarts: u32,
    pub state: String,
    pub rolled_back: Option<String>,
    pub error_lines: Vec<String>,
    pub events: Vec<EventLine>,
    /// main's OpenClaw config (its secrets are taken out by value).
    pub config_path: Option<PathBuf>,
    /// main's child environment (its secret-named variables are taken out).
    pub env: EnvMap,
    /// The values of main's declared `env:` (taken out, all of them).
    pub declared: Vec<String>,
}

/// One send's work.
pub struct Job {
    pub rescue: String,
    pub kind: Kind,
    pub endpoint: WakeEndpoint,
    /// The rescue's OpenClaw config.
    pub config_path: PathBuf,
    /// The rescue's child environment (`${VAR}` in its config).
    pub env: EnvMap,
    /// Where the text is kept.
    pub kept: PathBuf,
    pub text: Text,
}

/// What to post: the token, the endpoint's path, the body.
type Ready = (HookToken, String, serde_json::Value);

impl Job {
    /// Read, build, keep; `Err` (a refusal, with the endpoint's path when
    /// the config told it) when the rescue's config cannot be woken.
    pub fn prepare(self) -> Result<Ready, (Sent, Option<String>)> {
        let shown = self.config_path.display();
        let rescue_config = std::fs::read_to_string(&self.config_path).map_err(|err| {
            (
                not_sent(format!("not sent: cannot read {shown}: {err}")),
                None,
            )
        })?;
        let settings = hooks::settings(&rescue_config, &self.env).map_err(|_| {
            (
                not_sent(format!("not sent: {shown} is not valid JSON5")),
                None,
            )
        })?;
        let path = format!("{}/{}", settings.path, self.endpoint.as_str());
        let token = match (settings.missing(), settings.token.clone()) {
            (None, Some(token)) => token,
            (missing, _) => {
                let missing = missing.unwrap_or_else(|| "hooks.token is not set".to_string());
                let words = format!(
                    "not sent: in {shown} {missing}; add {}",
                    hooks::HOOKS_SNIPPET
                );
                return Err((not_sent(words), Some(path)));
            }
        };
        let text = match self.text {
            Text::Ready(text) => text,
            Text::Failure(facts) => {
                let mut secrets = hooks::secret_values(&rescue_config, &self.env);
                secrets.extend(secrets_of_main(&facts));
                let supervisor = std::env::current_exe()
                    .unwrap_or_else(|_| PathBuf::from("openclaw-supervisor"));
                wake::failure_message(&FailureFacts {
                    main: &facts.main,
                    how: &facts.how,
                    since: facts.since,
                    restarts: facts.restarts,
                    state: &facts.state,
                    rolled_back: facts.rolled_back.as_deref(),
                    error_lines: &facts.error_lines,
                    events: &facts.events,
                    supervisor: &supervisor,
                    secrets: &secrets,
                })
            }
        };
        if let Err(err) = keep(&self.kept, &text) {
            tracing::warn!(instance = %self.rescue, kind = self.kind.as_str(), "cannot keep the wake message in {}: {err}", self.kept.display());
        }
        Ok((token, path.clone(), wake::body(self.endpoint, &text)))
    }
}

/// main's secrets: every string under a secret key of its config, every
/// value of its declared `env:`, every secret-named variable of its child
/// environment.
fn secrets_of_main(facts: &FailureJob) -> Vec<HookToken> {
    let mut secrets = Vec::new();
    if let Some(text) = facts
        .config_path
        .as_ref()
        .and_then(|path| std::fs::read_to_string(path).ok())
    {
        secrets.extend(hooks::secret_values(&text, &facts.env));
    }
    secrets.extend(
        facts
            .declared
            .iter()
            .filter_map(|value| HookToken::new(value)),
    );
    secrets.extend(
        facts
            .env
            .iter()
            .filter(|(name, _)| crate::secrets::is_secret_env_name(name))
            .filter_map(|(_, value)| HookToken::new(value)),
    );
    secrets
}

/// Keep the text as `<state-dir>/wake/<rescue>.<kind>.txt`: the dir 0700
/// and the file 0600 from the moment each is created.
fn keep(path: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        if std::fs::metadata(dir)?.permissions().mode() & 0o777 != 0o700 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
    }
    crate::files::write_atomically_private(path, text.as_bytes())
}
