//! `cargo xtask perf goad [--preset kdd|kddrev] [--rows N] [--score-rows N]`:
//! GOAD's training step and scoring at the paper's KDD / KDDRev shapes, on
//! synthetic z-scored data of KDD's width (121 columns), through the same
//! `GoadConfig::fit_goad` / `score` a reproduction runs.
//!
//! Prints milliseconds per training step (one epoch over `--rows` rows, batch
//! 64), milliseconds per 1000 scored rows, and the GEMM floor of a step: the
//! step's matrix-multiply FLOPs divided by candle's measured sgemm rate at
//! the step's own shapes (forward, and the two backward products of each;
//! each shape's time and rate go to stderr).
//! The load average is printed too: figures mean little on a loaded machine.

use std::time::Instant;

use anyhow::{bail, Result};
use candle_core::{Device, Tensor};
use clap::Args;
use rand::Rng;
use ssad_core::{Matrix, Seed, Stream};
use ssad_methods::{Detector, GoadConfig, GoadPreset, Input};

/// KDDCUP99's width after one-hot encoding its three categorical columns.
const KDD_COLS: usize = 121;

/// `perf goad` options.
#[derive(Args)]
pub struct GoadArgs {
    /// kdd or kddrev; both when absent.
    #[arg(long)]
    preset: Option<String>,
    /// Training rows (one epoch is timed; its step count is rows / 64).
    #[arg(long, default_value_t = 2048)]
    rows: usize,
    /// Rows scored after training.
    #[arg(long, default_value_t = 2048)]
    score_rows: usize,
    /// Skip the GEMM-floor measurement.
    #[arg(long)]
    no_floor: bool,
}

/// Runs the measurement for each preset.
pub fn run(args: &GoadArgs) -> Result<()> {
    let presets = match args.preset.as_deref() {
        None => vec![GoadPreset::Kdd, GoadPreset::Kddrev],
        Some(name) => vec![GoadPreset::from_name(name)?],
    };
    if args.rows == 0 || args.score_rows == 0 {
        bail!("--rows and --score-rows must be >= 1");
    }
    println!("load average: {}", loadavg());
    for preset in presets {
        let mut cfg = GoadConfig::preset(preset);
        cfg.epochs = 1;
        let train = synthetic(args.rows, Seed(1))?;
        let test = synthetic(args.score_rows, Seed(2))?;
        let steps = args.rows.div_ceil(cfg.batch_size);
        let (started, cpu0) = (Instant::now(), cpu_seconds());
        let det = cfg.fit_goad(train.view(), Seed(0))?;
        let (fit_s, fit_cpu) = (started.elapsed().as_secs_f64(), cpu_seconds() - cpu0);
        let (started, cpu0) = (Instant::now(), cpu_seconds());
        let scores = det.score(Input::Tabular(test.view()))?;
        let (score_s, score_cpu) = (started.elapsed().as_secs_f64(), cpu_seconds() - cpu0);
        if scores.iter().any(|s| !s.is_finite()) {
            bail!("{}: non-finite scores", preset.name());
        }
        println!(
            "{:<7} M={} r={} ndf={} layers={}: {} steps, {:.1} ms/step ({:.1} CPU ms; fit {:.2} s incl. setup); score {:.1} ms per 1000 rows ({:.1} CPU ms)",
            preset.name(),
            cfg.num_transforms,
            cfg.transform_dim,
            cfg.ndf,
            cfg.trunk_layers,
            steps,
            1e3 * fit_s / steps as f64,
            1e3 * fit_cpu / steps as f64,
            fit_s,
            1e6 * score_s / args.score_rows as f64,
            1e6 * score_cpu / args.score_rows as f64,
        );
        if !args.no_floor {
            let (flops, secs, cpu) = gemm_floor(&cfg)?;
            println!(
                "{:<7} GEMM floor: {:.2} GFLOP per step at {:.0} GFLOP/s measured = {:.1} ms/step ({:.1} CPU ms)",
                preset.name(),
                flops / 1e9,
                flops / secs / 1e9,
                1e3 * secs,
                1e3 * cpu
            );
        }
    }
    Ok(())
}

/// Standard-normal rows: what z-scored data looks like to the network's GEMMs.
fn synthetic(rows: usize, seed: Seed) -> Result<Matrix> {
    let mut rng = seed.rng(Stream::Other(0x90ad), 0, 0);
    let data = (0..rows * KDD_COLS)
        .map(|_| {
            // Sum of uniforms: near-normal without another dependency.
            (0..4).map(|_| rng.random::<f32>()).sum::<f32>() - 2.0
        })
        .collect();
    Ok(Matrix::new(data, rows, KDD_COLS)?)
}

/// FLOPs of one training step's matrix products and candle's time for them.
///
/// Per step (`n = B * M` rows): the affine maps `(B, d) x (d, M r)` (no
/// gradient), each trunk layer and the head forward plus the backward
/// products (`dW = dY^T X`, and `dX = dY W` except for the first layer), and
/// the triplet's `emb x centers^T` (forward only: its backward is not a GEMM).
fn gemm_floor(cfg: &GoadConfig) -> Result<(f64, f64, f64)> {
    let (b, m, r, ndf) = (
        cfg.batch_size,
        cfg.num_transforms,
        cfg.transform_dim,
        cfg.ndf,
    );
    let n = b * m;
    // (rows, inner, cols) of each product.
    let mut shapes = vec![(b, KDD_COLS, m * r)];
    for layer in 0..cfg.trunk_layers {
        let d_in = if layer == 0 { r } else { ndf };
        shapes.extend([(n, d_in, ndf), (d_in, n, ndf)]);
        if layer > 0 {
            shapes.push((n, ndf, d_in)); // the input's gradient is never needed
        }
    }
    shapes.extend([(n, ndf, m), (n, m, ndf), (m, n, ndf)]); // head
                                                            // The fused triplet loss's backward is O(n d); only its forward is a GEMM.
    shapes.push((n, ndf, m));
    let dev = Device::Cpu;
    let (mut flops, mut secs, mut cpu) = (0.0, 0.0, 0.0);
    for (rows, inner, cols) in shapes {
        let a = Tensor::ones((rows, inner), candle_core::DType::F32, &dev)?;
        let w = Tensor::ones((inner, cols), candle_core::DType::F32, &dev)?;
        a.matmul(&w)?; // warm-up
        let reps = 5;
        let (started, cpu0) = (Instant::now(), cpu_seconds());
        for _ in 0..reps {
            a.matmul(&w)?;
        }
        let shape_secs = started.elapsed().as_secs_f64() / reps as f64;
        let shape_flops = 2.0 * (rows * inner * cols) as f64;
        eprintln!(
            "  ({rows} x {inner}) x ({inner} x {cols}): {:.2} ms, {:.0} GFLOP/s",
            1e3 * shape_secs,
            shape_flops / shape_secs / 1e9
        );
        secs += shape_secs;
        cpu += (cpu_seconds() - cpu0) / reps as f64;
        flops += shape_flops;
    }
    Ok((flops, secs, cpu))
}

/// User + system CPU seconds of this process so far (all threads), or 0:
/// on a shared machine it moves less with the load than wall time does.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields 14 and 15 (utime, stime) in clock ticks, counted after the
    // parenthesised command name, which may contain spaces.
    let Some(rest) = stat.rsplit(')').next() else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|v| v.parse::<f64>().ok()))
        .sum();
    ticks / 100.0
}

/// The 1-minute load average, or `?`.
pub(crate) fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".to_string())
}
