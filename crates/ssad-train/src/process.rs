//! Process settings for a binary that trains on the CPU (`ssad`, `cargo xtask`).
//!
//! Two measured defaults, each applied only when the user has not set the
//! variable, so either can be overridden from the shell:
//! - `CANDLE_NUM_THREADS=1`: candle 0.11 runs large elementwise ops on its own
//!   pool of spin-waiting threads beside rayon's. On the 2-core project VM under
//!   load the spinning took 56% of a GOAD KDD step (`perf record`), and one
//!   candle thread made the step 5x faster; `ssad fit --method goad` (netC5) on
//!   Thyroid (dev build) went from 5.3 s to 2.1 s at load 5. Matrix products and the fused
//!   training ops still use every rayon thread.
//! - `MIMALLOC_PURGE_DELAY=-1`, for binaries whose global allocator is
//!   mimalloc: it otherwise hands freed pages back to the kernel after 10 ms,
//!   so candle's per-op buffers (up to 16 MiB in a GOAD KDDRev step) were
//!   faulted in and zeroed again at every op: 17% of the step, 19,169 page
//!   faults in 10 steps against 603 without purging. The price: the process
//!   keeps its peak memory until it exits (about 1 GB for a KDDRev fit and
//!   score). mimalloc reads its options when the process loads, so this one
//!   takes a restart (`exec`).

/// Applies both defaults; call it first thing in `main`, before any thread
/// or tensor exists. `mimalloc`: whether the binary's global allocator is
/// mimalloc (only then is the process restarted).
pub fn configure_cpu_process(mimalloc: bool) {
    if mimalloc {
        reexec_with_allocator_settings();
    }
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        // Sound: no other thread exists yet (the caller's contract), and
        // candle reads the variable once, when its pool starts.
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
}

/// Restarts this process once with `MIMALLOC_PURGE_DELAY=-1` unless it is set.
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
