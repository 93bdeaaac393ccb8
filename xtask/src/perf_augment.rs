//! `cargo xtask perf augment [--vs-torch]`: images per second of the
//! `ssad-augment` batch pipelines (criterion, release build) and, with
//! `--vs-torch`, of their torchvision/numpy counterparts (`xtask/py/augment_torch.py`)
//! at the same thread count, with the ratio.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::{json, Value};

use crate::project_root;

/// `perf augment` options.
#[derive(Args)]
pub struct AugmentArgs {
    /// Threads for both sides (RAYON_NUM_THREADS; DataLoader workers and torch threads).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Also run torchvision in a throwaway virtualenv under `target/augment-venv`.
    #[arg(long)]
    vs_torch: bool,
    /// A Python that already has torch, torchvision and scipy (skips the virtualenv).
    #[arg(long, value_name = "PATH")]
    python: Option<PathBuf>,
    /// Seconds each torchvision workload runs for.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
}

/// Criterion bench id, the key the Python side reports under, output images per
/// iteration, and a description.
const WORKLOADS: [(&str, &str, f64, &str); 3] = [
    (
        "geom72_expand_128x1x28x28",
        "geom72",
        128.0 * 72.0,
        "GEOM 72-way expansion, 128 x 1x28x28 (output images)",
    ),
    (
        "cutpaste_binary_64x3x256x256",
        "cutpaste",
        64.0,
        "CutPaste (original + cut-paste), 64 x 3x256x256",
    ),
    (
        "simclr_256x3x32x32",
        "simclr",
        256.0,
        "SimCLR view, 256 x 3x32x32",
    ),
];

/// Runs the comparison and writes `target/perf/augment.json`.
pub fn run(args: &AugmentArgs) -> Result<()> {
    let root = project_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(&root)
        .env("RAYON_NUM_THREADS", args.threads.to_string())
        .args(["bench", "-p", "ssad-augment", "--bench", "augment"])
        .status()
        .context("running cargo bench")?;
    if !status.success() {
        bail!("cargo bench -p ssad-augment failed");
    }
    let ours: Vec<f64> = WORKLOADS
        .iter()
        .map(|(id, _, images, _)| Ok(images / mean_seconds(&root, id)?))
        .collect::<Result<_>>()?;

    let torch = if args.vs_torch {
        let python = match &args.python {
            Some(p) => p.clone(),
            None => torch_python(&root)?,
        };
        let out = Command::new(&python)
            .arg(root.join("xtask").join("py").join("augment_torch.py"))
            .args(["--threads", &args.threads.to_string()])
            .args(["--seconds", &args.seconds.to_string()])
            .env("OMP_NUM_THREADS", args.threads.to_string())
            .output()
            .with_context(|| format!("running {}", python.display()))?;
        if !out.status.success() {
            bail!(
                "augment_torch.py failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Some(
            serde_json::from_slice::<Value>(&out.stdout)
                .context("parsing augment_torch.py output")?,
        )
    } else {
        None
    };

    println!(
        "\nssad-augment throughput, {} threads (images/s)",
        args.threads
    );
    println!(
        "{:<58} {:>12} {:>12} {:>7}",
        "workload", "ssad", "torchvision", "ratio"
    );
    let mut rows = Vec::new();
    for ((_, key, _, what), ours) in WORKLOADS.iter().zip(&ours) {
        let theirs = torch.as_ref().and_then(|t| t[key].as_f64());
        let ratio = theirs.map(|t| ours / t);
        println!(
            "{:<58} {:>12.0} {:>12} {:>7}",
            what,
            ours,
            theirs.map_or("-".into(), |t| format!("{t:.0}")),
            ratio.map_or("-".into(), |r| format!("{r:.1}x")),
        );
        rows.push(
            json!({ "workload": key, "what": what, "ssad": ours, "torch": theirs, "ratio": ratio }),
        );
    }
    let record = json!({
        "threads": args.threads,
        "torch_version": torch.as_ref().and_then(|t| t["torch"].as_str().map(str::to_owned)),
        "git": git_head(&root),
        "results": rows,
    });
    let dir = root.join("target").join("perf");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("augment.json");
    std::fs::write(&path, serde_json::to_string_pretty(&record)?)?;
    println!("wrote {}", path.display());
    Ok(())
}

/// Mean seconds per iteration of a criterion bench of group `cpu_augment`.
fn mean_seconds(root: &Path, id: &str) -> Result<f64> {
    let path = root
        .join("target")
        .join("criterion")
        .join("cpu_augment")
        .join(id)
        .join("new")
        .join("estimates.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let v: Value = serde_json::from_str(&text)?;
    let ns = v["mean"]["point_estimate"]
        .as_f64()
        .with_context(|| format!("no mean estimate in {}", path.display()))?;
    Ok(ns * 1e-9)
}

fn git_head(root: &Path) -> Option<String> {
    let out = Command::new("git")
        .current_dir(root)
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// A Python with torch, torchvision and scipy: a virtualenv under
/// `target/augment-venv`, created on first use from PyTorch's CPU wheel index
/// (plain PyPI if that index cannot be reached).
fn torch_python(root: &Path) -> Result<PathBuf> {
    let venv = root.join("target").join("augment-venv");
    let python = venv.join("bin").join("python");
    let ready = |p: &Path| {
        Command::new(p)
            .args(["-c", "import torch, torchvision, scipy"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if python.exists() && ready(&python) {
        return Ok(python);
    }
    crate::venv::create(&venv)?;
    let pip = |extra: &[&str]| -> Result<bool> {
        Ok(Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "torch", "torchvision"])
            .args(extra)
            .status()?
            .success())
    };
    if !pip(&["--index-url", "https://download.pytorch.org/whl/cpu"])? && !pip(&[])? {
        bail!("pip install torch torchvision failed (both the CPU index and PyPI)");
    }
    let ok = Command::new(&python)
        .args([
            "-m", "pip", "install", "--quiet", "scipy", "numpy", "pillow",
        ])
        .status()?
        .success();
    if !ok || !ready(&python) {
        bail!(
            "the virtualenv at {} lacks torch, torchvision or scipy",
            venv.display()
        );
    }
    Ok(python)
}
