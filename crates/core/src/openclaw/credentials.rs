//! The IO edge of the secrets an instance's gateway would use: channel
//! credentials (resolved purely by [`channels::resolve`], read here) and
//! the gateway auth token. Everything is kept as keyed fingerprints only.

use std::io::Read;
use std::path::Path;

use super::tailscale::arg_value;
use super::{EnvMap, Token, channels, config, paths};

/// The IO edge of [`channels::resolve`]: the gateway's environment is
/// `env` plus what its state dir's `.env` adds (openclaw loads it without
/// overriding what is set: `loadGlobalRuntimeDotEnvFiles` in
/// `dist/dotenv-global-*.mjs`, `stateEnvPath` in
/// `dist/gateway-dispatch-dotenv-*.mjs`); a tokenFile is read as openclaw
/// reads it (a regular file, not a symlink), relative to the state dir.
pub(super) fn channel_credentials(
    view: &config::ConfigView,
    env: &EnvMap,
    config_path: &Path,
    state_dir: &Path,
    home: &Path,
) -> Vec<channels::ChannelCredential> {
    if view.channels.0.is_none() {
        return Vec::new();
    }
    let mut gateway_env = env.clone();
    if let Ok(text) = std::fs::read_to_string(state_dir.join(".env")) {
        for (key, value) in channels::parse_dotenv(&text, channels::env_names()) {
            gateway_env.entry(key).or_insert(value);
        }
    }
    let place = |written: &str| paths::fold(&paths::expand(Path::new(written), state_dir, home));
    channels::resolve(
        &view.channels,
        &channels::Sources {
            env: &gateway_env,
            config: config_path,
            place: &place,
            read: &read_token_file,
        },
    )
}

/// A tokenFile's text, or why the supervisor cannot have it.
fn read_token_file(path: &Path) -> Result<String, String> {
    let metadata = std::fs::symlink_metadata(path)
        .map_err(|err| format!("the supervisor cannot read it: {err}"))?;
    if metadata.file_type().is_symlink() {
        return Err("it is a symlink, which openclaw refuses to read".to_string());
    }
    if !metadata.is_file() {
        return Err("it is not a regular file".to_string());
    }
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(64 * 1024).read_to_string(&mut text))
        .map_err(|err| format!("the supervisor cannot read it: {err}"))?;
    Ok(text)
}

/// A warning per credential the supervisor could not compare.
pub(super) fn not_checked_warnings(
    channels: &[channels::ChannelCredential],
) -> impl Iterator<Item = String> + '_ {
    channels.iter().filter_map(|credential| match &credential.resolved {
        channels::Resolved::NotChecked(reason) => Some(format!(
            "{} account `{}`: the {} from {} is not checked against the other instances: {reason}",
            credential.channel, credential.account, credential.what, credential.source
        )),
        channels::Resolved::Checked(_) => None,
    })
}

/// The gateway auth token: `--token` in the args overrides the config
/// (dist `run-*.mjs` puts it in the auth override), then the config
/// (`configured`), then `OPENCLAW_GATEWAY_TOKEN` in the gateway's env.
pub(super) fn gateway_token(args: &[String], configured: &Token, child_env: &EnvMap) -> Token {
    if let Some(value) = arg_value(args, "--token") {
        Token::plain("--token in args", value)
    } else if *configured == Token::Unset
        && let Some(value) = child_env.get("OPENCLAW_GATEWAY_TOKEN")
    {
        Token::plain("OPENCLAW_GATEWAY_TOKEN", value)
    } else {
        configured.clone()
    }
}
