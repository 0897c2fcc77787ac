//! `openclaw-supervisor start`: the daemon in the foreground.

use clap::Args;

use super::Global;

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Start this instance in the running supervisor instead of running one.
    pub name: Option<String>,
    /// Log format of the supervisor's own logs.
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

pub fn run(_global: &Global, _args: StartArgs) -> anyhow::Result<u8> {
    anyhow::bail!("start is not built yet")
}
