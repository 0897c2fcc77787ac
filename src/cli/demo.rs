//! `openclaw-supervisor demo`.

use clap::Args;

use super::Global;

#[derive(Debug, Args)]
pub struct DemoArgs {}

pub fn run(_global: &Global, _args: DemoArgs) -> anyhow::Result<u8> {
    anyhow::bail!("demo is not built yet")
}
