//! Whether methods draw training progress bars.
//!
//! Off by default so that libraries and tests stay quiet; the `ssad` binary
//! turns it on for `fit` (unless `--quiet`). Bars are still only drawn when
//! stderr is a terminal (`ssad_train::TrainConfig::progress`).

use std::sync::atomic::{AtomicBool, Ordering};

static PROGRESS: AtomicBool = AtomicBool::new(false);

/// Turns training progress bars on or off for every method fitted afterwards
/// in this process.
pub fn set_progress(on: bool) {
    PROGRESS.store(on, Ordering::Relaxed);
}

/// The value methods put into `TrainConfig::progress`.
pub fn progress() -> bool {
    PROGRESS.load(Ordering::Relaxed)
}
