//! Throwaway Python virtualenvs for the comparisons against the Python stack
//! (PyOD, torchvision); never a dependency of the library crates.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Result};

/// Creates a virtualenv at `dir` with the system `python3`.
pub fn create(dir: &Path) -> Result<()> {
    eprintln!("creating {} (one-off)", dir.display());
    let ok = Command::new("python3")
        .args(["-m", "venv"])
        .arg(dir)
        .status()?
        .success();
    if !ok {
        bail!("python3 -m venv {} failed", dir.display());
    }
    Ok(())
}
