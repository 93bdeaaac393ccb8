//! `cargo xtask perf <what>`: throughput measurements, each optionally against the
//! Python reference stack in the same run.

use anyhow::Result;
use clap::Subcommand;

use crate::perf_augment;
use crate::perf_goad;
use crate::perf_train;

/// What to measure.
#[derive(Subcommand)]
pub enum PerfCommand {
    /// The ssad-augment criterion benches, optionally vs torchvision (`--vs-torch`).
    Augment(perf_augment::AugmentArgs),
    /// Training step time and peak memory per backbone (ssad-models' train_step example, release), optionally vs PyTorch (`--vs-torch`).
    Train(perf_train::TrainArgs),
    /// GOAD's training step and scoring at the KDD / KDDRev shapes, with the step's GEMM floor.
    Goad(perf_goad::GoadArgs),
}

/// Runs a perf subcommand.
pub fn run(cmd: PerfCommand) -> Result<()> {
    match cmd {
        PerfCommand::Augment(args) => perf_augment::run(&args),
        PerfCommand::Train(args) => perf_train::run(&args),
        PerfCommand::Goad(args) => perf_goad::run(&args),
    }
}
