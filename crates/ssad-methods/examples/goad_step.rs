//! Times the phases of one GOAD training step at a preset's sizes:
//! `cargo run -p ssad-methods --example goad_step -- kddrev [steps]`
//! (presets: arrhythmia, thyroid, kdd, kddrev; batch 64, the dataset's width).
//!
//! Prints milliseconds per step for the batch (affine maps), the forward pass,
//! cross-entropy (fused op and candle's `log_softmax` + `gather`), the center
//! triplet (fused op), the backward pass and the Adam update, then the whole
//! step; then the center scorer on 256 rows of features (one GEMM per row)
//! against the direct `M x M` difference loops it replaced.

use std::time::Instant;

use candle_core::{DType, Device, Tensor, Var, D};
use ssad_augment::GoadAffine;
use ssad_core::Seed;
use ssad_methods::{GoadConfig, GoadPreset};
use ssad_models::{GoadNet, GoadNetConfig, SeededVarMap};
use ssad_train::{AdamConfig, Optimizer, OptimizerConfig, ParamSet};

/// Mean milliseconds of `reps` calls of `f` (after one warm-up call).
fn time<T>(label: &str, reps: usize, mut f: impl FnMut() -> T) -> T {
    let mut out = f();
    let start = Instant::now();
    for _ in 0..reps {
        out = f();
    }
    println!(
        "{label:<28} {:8.2} ms",
        start.elapsed().as_secs_f64() * 1e3 / reps as f64
    );
    out
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let preset = GoadPreset::from_name(args.get(1).map_or("kddrev", String::as_str))?;
    let reps: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(10);
    let cfg = GoadConfig::preset(preset);
    // Input widths after the loaders' encoding.
    let d_in = match preset {
        GoadPreset::Arrhythmia => 274,
        GoadPreset::Thyroid => 6,
        GoadPreset::Kdd | GoadPreset::Kddrev => 121,
    };
    let (b, m) = (cfg.batch_size, cfg.num_transforms);
    println!(
        "{}: B={b} M={m} r={} ndf={} layers={} d={d_in}, {} threads",
        preset.name(),
        cfg.transform_dim,
        cfg.ndf,
        cfg.trunk_layers,
        rayon::current_num_threads()
    );
    let dev = Device::Cpu;
    let affine = GoadAffine::new(d_in, m, cfg.transform_dim, Seed(1), &dev)?;
    let x: Vec<f32> = (0..b * d_in)
        .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
        .collect();
    let x = Tensor::from_vec(x, (b, d_in), &dev)?;
    let batch = time("batch (affine maps)", reps, || affine.apply(&x).unwrap());

    let vars = SeededVarMap::new(Seed(0));
    let net_cfg = GoadNetConfig {
        input_dim: cfg.transform_dim,
        ndf: cfg.ndf,
        num_transforms: m,
        trunk_layers: cfg.trunk_layers,
    };
    let net = GoadNet::new(&net_cfg, vars.var_builder(DType::F32, &dev))?;
    // The training path: activated features and the logits computed from them.
    let (feats, logits) = time("forward", reps, || net.forward_activated(&batch).unwrap());
    let labels = Tensor::arange(0u32, m as u32, &dev)?
        .unsqueeze(0)?
        .broadcast_as((b, m))?
        .flatten_all()?;
    let flat = logits.reshape((b * m, m))?;
    time("ce forward (fused)", reps, || {
        ssad_losses::cross_entropy(&flat, &labels).unwrap()
    });
    // candle's composition, for comparison, on a fresh leaf.
    let leaf = Var::from_tensor(&flat.detach())?;
    let unfused = || {
        candle_nn::ops::log_softmax(leaf.as_tensor(), D::Minus1)
            .unwrap()
            .gather(&labels.unsqueeze(1).unwrap(), 1)
            .unwrap()
            .neg()
            .unwrap()
            .mean_all()
            .unwrap()
    };
    let ce_unfused = time("ce forward (unfused)", reps, unfused);
    time("ce backward (unfused)", reps, || {
        ce_unfused.backward().unwrap()
    });
    let ce_fused = ssad_losses::cross_entropy(&leaf.as_tensor().clone(), &labels)?;
    time("ce backward (fused)", reps, || ce_fused.backward().unwrap());
    time("triplet forward", reps, || {
        ssad_losses::center_triplet(&feats, cfg.margin).unwrap()
    });
    let loss = (ssad_losses::cross_entropy(&flat, &labels)?
        + (ssad_losses::center_triplet(&feats, cfg.margin)? * cfg.lambda)?)?;
    let grads = time("backward (whole loss)", reps, || loss.backward().unwrap());
    let params = ParamSet::new(vars.named_trainable_vars())?;
    let mut opt = Optimizer::new(
        OptimizerConfig::Adam(AdamConfig {
            lr: cfg.lr,
            betas: cfg.betas,
            ..AdamConfig::default()
        }),
        params,
    )?;
    time("adam step", reps, || opt.step(&grads).unwrap());
    time("whole step", reps, || {
        let batch = affine.apply(&x).unwrap();
        let (feats, logits) = net.forward_activated(&batch).unwrap();
        let ce = ssad_losses::cross_entropy(&logits.reshape((b * m, m)).unwrap(), &labels).unwrap();
        let tc = ssad_losses::center_triplet(&feats, cfg.margin).unwrap();
        let loss = (ce + (tc * cfg.lambda).unwrap()).unwrap();
        let grads = loss.backward().unwrap();
        opt.step(&grads).unwrap();
    });
    score_timing(m, cfg.ndf, cfg.eps)?;
    Ok(())
}

/// The center scorer on 256 rows of `(M, ndf)` features against direct loops.
fn score_timing(m: usize, ndf: usize, eps: f64) -> Result<(), Box<dyn std::error::Error>> {
    use ssad_scorers::{CenterConfig, FittedCenter, FittedScorer};
    let rows = 256;
    let wave = |i: usize| ((i * 7919 % 1000) as f32 / 500.0) - 1.0;
    let centers = ssad_core::Matrix::new((0..m * ndf).map(wave).collect(), m, ndf)?;
    let x = ssad_core::Matrix::new(
        (0..rows * m * ndf).map(|i| wave(i + 13)).collect(),
        rows,
        m * ndf,
    )?;
    let scorer = FittedCenter::from_centers(
        CenterConfig {
            n_transforms: m,
            eps,
        },
        &centers,
    )?;
    let fast = time("center score, 256 rows (GEMM)", 3, || {
        scorer.score(x.view()).unwrap()
    });
    let c = centers.as_slice();
    let direct = time("center score, 256 rows (loops)", 1, || {
        use rayon::prelude::*;
        x.as_slice()
            .par_chunks(m * ndf)
            .map(|row| {
                let mut dist = vec![0.0f64; m];
                let mut total = 0.0;
                for (t, z) in row.chunks_exact(ndf).enumerate() {
                    for (d, cm) in dist.iter_mut().zip(c.chunks_exact(ndf)) {
                        let sq: f64 = z
                            .iter()
                            .zip(cm)
                            .map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2))
                            .sum();
                        *d = sq.max(eps);
                    }
                    let min = dist.iter().fold(f64::INFINITY, |a, &b| a.min(b));
                    let lse = dist.iter().map(|&d| (min - d).exp()).sum::<f64>().ln() - min;
                    total += dist[t] + lse;
                }
                total
            })
            .collect::<Vec<f64>>()
    });
    let worst = fast
        .iter()
        .zip(&direct)
        .map(|(a, b)| (a - b).abs() / b.abs().max(1.0))
        .fold(0.0f64, f64::max);
    println!("largest relative score difference: {worst:.2e}");
    Ok(())
}
