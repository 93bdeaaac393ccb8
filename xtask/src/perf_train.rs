//! `cargo xtask perf train [--net NET] [--batch 128] [--vs-torch [--pairs P]]`:
//! training images per second, median forward / backward / optimizer-step
//! seconds and peak RSS (VmHWM) of a backbone + 4-way linear head (the rotation
//! task) with SGD, for small28, small32, resnet18 and wrn-10-4. Each run is its
//! own release process (ssad-models' `train_step_mimalloc` example, or
//! `train_step` with `--alloc system`), so peak RSS is per network.
//!
//! With `--vs-torch` the same step also runs in PyTorch CPU
//! (`xtask/py/train_torch.py`, same architectures, parameter counts checked
//! equal, same thread count), alternating ssad and PyTorch processes `--pairs`
//! times; each net ends with `ratio NET ssad/pytorch = X.XX`, the median of the
//! paired images/s ratios (wall time), after the same ratio in CPU seconds per
//! step, which other processes disturb less. The load average is printed with
//! every run: the figures mean little on a loaded machine.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::{json, Value};

use crate::project_root;

/// The networks measured when `--net` is not given.
const NETS: [&str; 4] = ["small28", "small32", "resnet18", "wrn-10-4"];

/// `perf train` options.
#[derive(Args)]
pub struct TrainArgs {
    /// One network (small28, small32, resnet18, wrn-10-4); all four when absent.
    /// `conv64` times the 64→64 3×3 convolution at 32×32 alone (forward + backward),
    /// `bn64` BatchNorm + ReLU on the same tensor.
    #[arg(long)]
    net: Option<String>,
    /// Images per batch.
    #[arg(long, default_value_t = 128)]
    batch: usize,
    /// Timed steps per run (the median is reported), after one warm-up step.
    #[arg(long, default_value_t = 3)]
    steps: usize,
    /// Threads for both sides (RAYON_NUM_THREADS; torch.set_num_threads).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// candle's stock convolution and BatchNorm instead of ssad's custom CPU ops.
    #[arg(long)]
    stock_ops: bool,
    /// Global allocator of the ssad process: mimalloc or system (glibc malloc).
    #[arg(long, default_value = "mimalloc")]
    alloc: String,
    /// Also run the same step in PyTorch CPU (a virtualenv under `target/torch-venv`).
    #[arg(long)]
    vs_torch: bool,
    /// ssad/PyTorch process pairs per network with `--vs-torch`.
    #[arg(long, default_value_t = 3)]
    pairs: usize,
    /// A Python that already has torch (skips the virtualenv).
    #[arg(long, value_name = "PATH")]
    python: Option<PathBuf>,
}

/// Builds the example once, runs it per network (against PyTorch with
/// `--vs-torch`), prints a table and writes `target/perf/train.json`.
pub fn run(args: &TrainArgs) -> Result<()> {
    if args.batch < 2 || args.steps == 0 || args.threads == 0 || args.pairs == 0 {
        bail!("--batch must be >= 2 and --steps, --threads, --pairs >= 1");
    }
    let example = match args.alloc.as_str() {
        "mimalloc" => "train_step_mimalloc",
        "system" => "train_step",
        other => bail!("--alloc mimalloc|system, got {other}"),
    };
    let nets: Vec<&str> = match &args.net {
        Some(n) if NETS.contains(&n.as_str()) || n == "conv64" || n == "bn64" => vec![n.as_str()],
        Some(n) => bail!("unknown net {n}: {}, conv64 or bn64", NETS.join(", ")),
        None => NETS.to_vec(),
    };
    let root = project_root();
    let python = match (&args.python, args.vs_torch) {
        (Some(p), true) => Some(p.clone()),
        (None, true) => Some(torch_python(&root)?),
        (_, false) => None,
    };
    let exe = build_example(&root, example)?;
    println!(
        "\ntraining step, batch {}, {} threads, SGD, {} ops, {} allocator (median of {} steps)",
        args.batch,
        args.threads,
        if args.stock_ops { "stock" } else { "custom" },
        args.alloc,
        args.steps
    );
    println!(
        "{:<10} {:<8} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9}  loadavg",
        "net", "side", "images/s", "fwd s", "bwd s", "opt s", "cpu s", "peak MiB"
    );
    let mut rows = Vec::new();
    for net in nets {
        let (mut ratios, mut cpu_ratios) = (Vec::new(), Vec::new());
        let pairs = if python.is_some() { args.pairs } else { 1 };
        for pair in 0..pairs {
            // Alternate which side goes first, so a drift in the machine's
            // load does not always favour the same one.
            let ssad_first = pair % 2 == 0;
            let mut ours = None;
            let mut theirs = None;
            for turn in 0..2 {
                if (turn == 0) == ssad_first {
                    ours = Some(run_ssad(&exe, net, args)?);
                } else if let Some(py) = &python {
                    theirs = Some(run_torch(&root, py, net, args)?);
                }
            }
            let Some(ours) = ours else {
                bail!("no ssad run for {net}")
            };
            print_row(net, "ssad", &ours);
            rows.push(ours.clone());
            if let Some(theirs) = theirs {
                print_row(net, "pytorch", &theirs);
                if ours["params"] != theirs["params"] {
                    bail!(
                        "{net}: parameter counts differ (ssad {}, PyTorch {}): not the same network",
                        ours["params"],
                        theirs["params"]
                    );
                }
                ratios.push(field(&ours, "images_per_s") / field(&theirs, "images_per_s"));
                cpu_ratios.push(field(&theirs, "cpu_s_per_step") / field(&ours, "cpu_s_per_step"));
                rows.push(theirs);
            }
        }
        if !ratios.is_empty() {
            let ratio = median(&ratios);
            println!(
                "params {net} = {} (ssad and PyTorch)",
                rows.last().map(|r| r["params"].clone()).unwrap_or_default()
            );
            let cpu_ratio = median(&cpu_ratios);
            println!("(per CPU-second: ssad/pytorch = {cpu_ratio:.2})");
            println!("ratio {net} ssad/pytorch = {ratio:.2}");
            rows.push(json!({
                "net": net,
                "ratio_ssad_over_pytorch": ratio,
                "pair_ratios": ratios,
                "cpu_ratio_ssad_over_pytorch": cpu_ratio,
            }));
        }
    }
    let dir = root.join("target").join("perf");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("train.json");
    std::fs::write(&path, serde_json::to_string_pretty(&rows)?)?;
    println!("wrote {}", path.display());
    Ok(())
}

fn build_example(root: &Path, example: &str) -> Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(&cargo)
        .current_dir(root)
        .args([
            "build",
            "--release",
            "-p",
            "ssad-models",
            "--example",
            example,
        ])
        .status()
        .context("building the train_step example")?;
    if !status.success() {
        bail!("cargo build --release -p ssad-models --example {example} failed");
    }
    Ok(root
        .join("target")
        .join("release")
        .join("examples")
        .join(example))
}

/// Runs a command that prints one JSON line and adds the load average to it.
fn json_of(mut cmd: Command, what: &str) -> Result<Value> {
    let out = cmd.output().with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!("{what} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    }
    let mut row: Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("parsing the output of {what}"))?;
    row["loadavg"] = json!(loadavg());
    Ok(row)
}

fn run_ssad(exe: &Path, net: &str, args: &TrainArgs) -> Result<Value> {
    let mut cmd = Command::new(exe);
    cmd.env("RAYON_NUM_THREADS", args.threads.to_string())
        .args(["--net", net, "--batch", &args.batch.to_string()])
        .args(["--steps", &args.steps.to_string()])
        .args(["--ops", if args.stock_ops { "stock" } else { "custom" }]);
    let mut row = json_of(cmd, &format!("{} --net {net}", exe.display()))?;
    row["side"] = json!("ssad");
    Ok(row)
}

fn run_torch(root: &Path, python: &Path, net: &str, args: &TrainArgs) -> Result<Value> {
    let mut cmd = Command::new(python);
    cmd.arg(root.join("xtask").join("py").join("train_torch.py"))
        .env("OMP_NUM_THREADS", args.threads.to_string())
        .args(["--net", net, "--batch", &args.batch.to_string()])
        .args(["--steps", &args.steps.to_string()])
        .args(["--threads", &args.threads.to_string()]);
    let mut row = json_of(cmd, &format!("train_torch.py --net {net}"))?;
    row["side"] = json!("pytorch");
    Ok(row)
}

fn field(row: &Value, key: &str) -> f64 {
    row[key].as_f64().unwrap_or(f64::NAN)
}

fn print_row(net: &str, side: &str, row: &Value) {
    println!(
        "{:<10} {:<8} {:>10.1} {:>9.3} {:>9.3} {:>9.4} {:>9.3} {:>9.0}  {}",
        net,
        side,
        field(row, "images_per_s"),
        field(row, "forward_s"),
        field(row, "backward_s"),
        field(row, "optimizer_s"),
        field(row, "cpu_s_per_step"),
        field(row, "peak_rss_mib"),
        row["loadavg"].as_str().unwrap_or("?")
    );
    if let Some(g) = row["gflop_per_s"].as_f64() {
        println!(
            "{:<10} {:<8} {g:.1} GFLOP/s per wall second, {:.1} per CPU second",
            "",
            "",
            field(row, "gflop_per_cpu_s")
        );
    }
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The 1, 5 and 15 minute load averages, as `/proc/loadavg` writes them.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// A Python with torch: the virtualenv under `target/torch-venv` (created on
/// first use from PyTorch's CPU wheel index, else PyPI), or the one of
/// `perf augment --vs-torch` when that already has torch.
fn torch_python(root: &Path) -> Result<PathBuf> {
    let has_torch = |venv: &Path| {
        let python = venv.join("bin").join("python");
        let ok = Command::new(&python)
            .args(["-c", "import torch"])
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(python)
    };
    let target = root.join("target");
    let venv = target.join("torch-venv");
    for dir in [&venv, &target.join("augment-venv")] {
        if let Some(python) = has_torch(dir) {
            return Ok(python);
        }
    }
    crate::venv::create(&venv)?;
    let python = venv.join("bin").join("python");
    let pip = |extra: &[&str]| -> Result<bool> {
        Ok(Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "torch", "numpy"])
            .args(extra)
            .status()?
            .success())
    };
    if !pip(&["--index-url", "https://download.pytorch.org/whl/cpu"])? && !pip(&[])? {
        bail!("pip install torch failed (both the CPU index and PyPI)");
    }
    has_torch(&venv).with_context(|| format!("{} cannot import torch", venv.display()))
}
