//! `cargo xtask perf <what>`: throughput measurements, each optionally against the
//! Python reference stack in the same run.

use anyhow::Result;
use clap::Subcommand;

use crate::perf_augment;

/// What to measure.
#[derive(Subcommand)]
pub enum PerfCommand {
    /// The ssad-augment criterion benches, optionally vs torchvision (`--vs-torch`).
    Augment(perf_augment::AugmentArgs),
}

/// Runs a perf subcommand.
pub fn run(cmd: PerfCommand) -> Result<()> {
    match cmd {
        PerfCommand::Augment(args) => perf_augment::run(&args),
    }
}
