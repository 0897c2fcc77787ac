//! Client commands: talk to the running supervisor over its socket.

use clap::Subcommand;

use super::Global;

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Show every instance, or one.
    Status {
        name: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(_global: &Global, _command: ClientCommand) -> anyhow::Result<u8> {
    anyhow::bail!("the control socket is not built yet")
}
