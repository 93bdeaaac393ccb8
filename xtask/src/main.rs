//! `cargo xtask`: the project's automation, one binary with subcommands.
//!
//! The xtask only orchestrates: the algorithms live in the library crates.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

mod classic;
mod data;
mod gallery;
mod perf;
mod perf_augment;
mod perf_goad;
mod perf_train;
mod repro;
mod venv;

// candle allocates a fresh buffer per op; with glibc malloc the large ones are
// mmap'd, page-faulted and unmapped at every op (a quarter of a GOAD KDDRev
// step in `perf record`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "ssad project automation")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check or fetch the datasets named in `datasets/`.
    #[command(subcommand)]
    Data(data::DataCommand),
    /// Classic detectors on the ADBench classical sets, optionally vs PyOD.
    Classic(classic::ClassicArgs),
    /// Write PNG grids of every augmentation on real images.
    Gallery(gallery::GalleryArgs),
    /// Throughput measurements, optionally against the Python reference stack.
    #[command(subcommand)]
    Perf(perf::PerfCommand),
    /// Reproduce a paper's table from a spec in `benches/` into `docs/results/`.
    Repro(repro::ReproArgs),
}

/// The workspace root, whatever directory the xtask is run from.
///
/// `cargo run` sets `CARGO_MANIFEST_DIR` for the process it starts; that comes
/// first, so two checkouts sharing one target directory (whose xtask binary
/// bakes in the path of whichever built it last) each see their own tree.
pub fn project_root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn main() -> std::process::ExitCode {
    ssad_train::configure_cpu_process(true);
    // One readable line per cause, never a backtrace dump, whatever RUST_BACKTRACE says.
    match dispatch(Cli::parse().command) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn dispatch(command: Command) -> Result<()> {
    match command {
        Command::Data(cmd) => data::run(cmd),
        Command::Classic(args) => classic::run(args),
        Command::Gallery(args) => gallery::run(args),
        Command::Repro(args) => repro::run(args),
        Command::Perf(cmd) => perf::run(cmd),
    }
}
