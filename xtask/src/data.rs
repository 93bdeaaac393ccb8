//! `cargo xtask data`: check and fetch datasets (being written).
use anyhow::Result;
use clap::Subcommand;

/// Dataset subcommands.
#[derive(Subcommand)]
pub enum DataCommand {
    /// Check every dataset in the manifests.
    Check,
}

pub fn run(cmd: DataCommand) -> Result<()> {
    match cmd {
        DataCommand::Check => Ok(()),
    }
}
