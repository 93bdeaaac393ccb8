//! `cargo xtask perf train [--net NET] [--batch 128]`: training images per second,
//! median forward / backward / optimizer-step seconds and peak RSS (VmHWM) of a
//! backbone + 4-way linear head (the rotation task) with SGD, for small28,
//! small32, resnet18 and wrn-10-4. Each network runs in its own release process
//! (`ssad-train`'s `perf_train` example), so peak RSS is per network.

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::Value;
use std::process::Command;

use crate::project_root;

/// The networks measured when `--net` is not given.
const NETS: [&str; 4] = ["small28", "small32", "resnet18", "wrn-10-4"];

/// `perf train` options.
#[derive(Args)]
pub struct TrainArgs {
    /// One network (small28, small32, resnet18, wrn-10-4); all four when absent.
    #[arg(long)]
    net: Option<String>,
    /// Images per batch.
    #[arg(long, default_value_t = 128)]
    batch: usize,
    /// Timed steps per network (the median is reported), after one warm-up step.
    #[arg(long, default_value_t = 3)]
    steps: usize,
    /// RAYON_NUM_THREADS for the measured process.
    #[arg(long, default_value_t = 2)]
    threads: usize,
}

/// Builds the example once, runs it per network, prints a table and writes `target/perf/train.json`.
pub fn run(args: &TrainArgs) -> Result<()> {
    let root = project_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(&cargo)
        .current_dir(&root)
        .args([
            "build",
            "--release",
            "-p",
            "ssad-train",
            "--example",
            "perf_train",
        ])
        .status()
        .context("building the perf_train example")?;
    if !status.success() {
        bail!("cargo build --example perf_train failed");
    }
    let exe = root
        .join("target")
        .join("release")
        .join("examples")
        .join("perf_train");
    let nets: Vec<&str> = match &args.net {
        Some(n) => vec![n.as_str()],
        None => NETS.to_vec(),
    };
    println!(
        "\nssad-train step time, batch {}, {} threads, SGD (median of {} steps)",
        args.batch, args.threads, args.steps
    );
    println!(
        "{:<10} {:>10} {:>9} {:>10} {:>9} {:>11}",
        "net", "images/s", "fwd s", "bwd s", "opt s", "peak MiB"
    );
    let mut rows = Vec::new();
    for net in nets {
        let out = Command::new(&exe)
            .env("RAYON_NUM_THREADS", args.threads.to_string())
            .args(["--net", net, "--batch", &args.batch.to_string()])
            .args(["--steps", &args.steps.to_string()])
            .output()
            .with_context(|| format!("running {}", exe.display()))?;
        if !out.status.success() {
            bail!(
                "perf_train --net {net} failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let row: Value = serde_json::from_slice(&out.stdout)
            .with_context(|| format!("parsing perf_train output for {net}"))?;
        let f = |k: &str| row[k].as_f64().unwrap_or(f64::NAN);
        println!(
            "{:<10} {:>10.1} {:>9.3} {:>10.3} {:>9.4} {:>11.0}",
            net,
            f("images_per_s"),
            f("forward_s"),
            f("backward_s"),
            f("optimizer_s"),
            f("peak_rss_mib")
        );
        rows.push(row);
    }
    let dir = root.join("target").join("perf");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("train.json");
    std::fs::write(&path, serde_json::to_string_pretty(&rows)?)?;
    println!("wrote {}", path.display());
    Ok(())
}
