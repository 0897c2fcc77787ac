//! `openclaw-supervisor check`.

use clap::Args;

use super::Global;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(_global: &Global, _args: CheckArgs) -> anyhow::Result<u8> {
    anyhow::bail!("check is not built yet")
}
