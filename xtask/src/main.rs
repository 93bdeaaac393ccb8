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

/// Restarts this process once with `MIMALLOC_PURGE_DELAY=-1` unless it is set.
///
/// mimalloc hands freed memory back to the kernel after a delay (10 ms by
/// default), so candle's per-op buffers of a GOAD KDDRev step (up to 16 MiB
/// each) were faulted in and zeroed again at every op: 17% of the step in
/// `perf record`, 19,169 page faults in 10 steps with a 1 s delay and 603
/// with none. Never purging keeps the process at its peak (about 1 GB for a
/// KDDRev fit and score). mimalloc reads its options when the process loads,
/// hence the exec.
fn reexec_with_allocator_settings() {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        let Ok(exe) = std::env::current_exe() else {
            return;
        };
        let err = std::process::Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env("MIMALLOC_PURGE_DELAY", "-1")
            .exec();
        // `exec` only returns on failure: go on with the default settings.
        eprintln!("note: could not restart with MIMALLOC_PURGE_DELAY set: {err}");
    }
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
    reexec_with_allocator_settings();
    // candle 0.11 runs large elementwise ops on its own pool of spin-waiting
    // threads next to rayon's; on this 2-core machine under load the spinning
    // took 56% of a GOAD KDD step (`perf record`), and one candle thread made
    // that step 5x faster (docs/performance.md). The hot ops of the training
    // paths are custom ops that use rayon. Set before the pool starts.
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
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
