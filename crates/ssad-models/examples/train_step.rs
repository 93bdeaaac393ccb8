// Training throughput of one backbone + linear head on the rotation task:
// images per second, median forward / backward / optimizer-step time and peak
// RSS (VmHWM), as one JSON line. Run through `cargo xtask perf train`, or directly:
//
// `cargo run --release -p ssad-models --example train_step -- --net small28 --batch 128`
//
// `--ops stock` runs candle's own convolution and BatchNorm instead of the
// custom CPU ops. This binary uses glibc malloc; `train_step_mimalloc` is the
// same with mimalloc as the global allocator.
//
// `--net conv64` times one layer instead: the 64→64 3×3 convolution at 32×32
// (pad 1), forward and backward (input and weight gradients) of `sum(conv(x, w))`,
// with its FLOP rate per wall second and per CPU second (2·B·64·64·9·32·32 FLOP
// per pass, three passes).
//
// `--net bn64` times BatchNorm + ReLU in training mode on the same
// `(B, 64, 32, 32)` tensor, forward and backward (input, weight and bias gradients).
//
// Inputs are seeded uniform noise: the cost of a step does not depend on pixel values.

use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use rand::Rng;
use ssad_core::{Seed, Stream};
use ssad_models::{BackboneConfig, LinearHead, SeededVarMap, WideResNetConfig};
use ssad_train::{Optimizer, OptimizerConfig, ParamSet, SgdConfig};
use std::time::Instant;

struct Args {
    net: String,
    batch: usize,
    steps: usize,
    warmup: usize,
    custom_ops: bool,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        net: "small28".into(),
        batch: 128,
        steps: 5,
        warmup: 1,
        custom_ops: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--net" => args.net = value,
            "--batch" => args.batch = value.parse()?,
            "--steps" => args.steps = value.parse()?,
            "--warmup" => args.warmup = value.parse()?,
            "--ops" => {
                args.custom_ops = match value.as_str() {
                    "custom" => true,
                    "stock" => false,
                    other => bail!("--ops custom|stock, got {other}"),
                }
            }
            other => bail!("unknown flag {other}"),
        }
    }
    if args.batch == 0 || args.steps == 0 {
        bail!("--batch and --steps must be >= 1");
    }
    Ok(args)
}

/// The backbone config and input `(C, H, W)` of a network name.
fn network(name: &str) -> Result<(BackboneConfig, (usize, usize, usize))> {
    Ok(match name {
        "small28" => (BackboneConfig::Small28, (1, 28, 28)),
        "small32" => (BackboneConfig::Small32, (3, 32, 32)),
        "resnet18" => (BackboneConfig::default(), (3, 32, 32)),
        "wrn-10-4" => (
            BackboneConfig::Wrn(WideResNetConfig {
                depth: 10,
                widen_factor: 4,
                ..WideResNetConfig::default()
            }),
            (3, 32, 32),
        ),
        other => bail!("unknown net {other}: small28, small32, resnet18 or wrn-10-4"),
    })
}

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// User + system CPU seconds of the whole process so far (all threads), from
/// `/proc/self/stat` in clock ticks (100 per second on Linux).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The command name may contain spaces: fields are counted after its ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let field = |i: usize| -> f64 {
        rest.split_whitespace()
            .nth(i)
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    };
    // utime and stime are fields 14 and 15 of stat(5), i.e. 11 and 12 after the name.
    (field(11) + field(12)) / 100.0
}

/// One layer on a random `(B, 64, 32, 32)` variable: the 3×3 convolution
/// (`conv64`) or BatchNorm + ReLU (`bn64`).
fn single_layer(args: &Args) -> Result<()> {
    let dev = Device::Cpu;
    let mut rng = Seed(1).rng(Stream::Other(0), 0, 0);
    let mut uniform = |n: usize, scale: f32, offset: f32| -> Vec<f32> {
        (0..n)
            .map(|_| (rng.random::<f32>() - 0.5) * scale + offset)
            .collect()
    };
    let x = candle_core::Var::from_vec(
        uniform(args.batch * 64 * 32 * 32, 2.0, 0.0),
        (args.batch, 64, 32, 32),
        &dev,
    )?;
    let conv = args.net == "conv64";
    let w = if conv {
        candle_core::Var::from_vec(uniform(64 * 64 * 9, 0.1, 0.0), (64, 64, 3, 3), &dev)?
    } else {
        candle_core::Var::from_vec(uniform(64, 0.2, 1.0), 64, &dev)?
    };
    let b = candle_core::Var::from_vec(uniform(64, 0.2, 0.0), 64, &dev)?;
    let running_mean = candle_core::Var::zeros(64, DType::F32, &dev)?;
    let running_var = candle_core::Var::ones(64, DType::F32, &dev)?;
    let layer = |x: &Tensor| -> candle_core::Result<Tensor> {
        if conv {
            ssad_models::ops::conv2d(x, w.as_tensor(), 1, 1)
        } else {
            let opts = ssad_models::ops::BatchNormOptions {
                relu: true,
                ..Default::default()
            };
            ssad_models::ops::batch_norm(
                x,
                w.as_tensor(),
                b.as_tensor(),
                &running_mean,
                &running_var,
                true,
                opts,
            )
        }
    };
    let (mut fwd, mut bwd) = (Vec::new(), Vec::new());
    let mut cpu_start = 0.0;
    for step in 0..args.warmup + args.steps {
        if step == args.warmup {
            cpu_start = cpu_seconds();
        }
        let t0 = Instant::now();
        let y = layer(x.as_tensor())?;
        let t1 = Instant::now();
        let grads = y.sum_all()?.backward()?;
        let t2 = Instant::now();
        drop(grads);
        if step >= args.warmup {
            fwd.push((t1 - t0).as_secs_f64());
            bwd.push((t2 - t1).as_secs_f64());
        }
    }
    let cpu_per_step = (cpu_seconds() - cpu_start) / args.steps as f64;
    let (fwd, bwd) = (median(fwd), median(bwd));
    // Three GEMM-sized passes for the convolution; nothing meaningful for BatchNorm.
    let gflop = if conv {
        3.0 * 2.0 * (args.batch * 64 * 64 * 9 * 32 * 32) as f64 / 1e9
    } else {
        f64::NAN
    };
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "default".into());
    println!(
        "{{\"net\":\"{}\",\"batch\":{},\"steps\":{},\"threads\":\"{threads}\",\"params\":{},\"ops\":\"{}\",\
         \"images_per_s\":{:.2},\"forward_s\":{fwd:.4},\"backward_s\":{bwd:.4},\"optimizer_s\":0,\
         \"cpu_s_per_step\":{cpu_per_step:.3},\"gflop_per_s\":{},\"gflop_per_cpu_s\":{},\
         \"peak_rss_mib\":{:.1}}}",
        args.net,
        args.batch,
        args.steps,
        w.elem_count() + if conv { 0 } else { 64 },
        if args.custom_ops { "custom" } else { "stock" },
        args.batch as f64 / (fwd + bwd),
        json_number(gflop / (fwd + bwd)),
        json_number(gflop / cpu_per_step),
        peak_rss_mib().unwrap_or(f64::NAN),
    );
    Ok(())
}

/// `v` with one decimal, or `null` when it is not finite (JSON has no NaN).
fn json_number(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.1}")
    } else {
        "null".into()
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<()> {
    let args = parse_args()?;
    ssad_models::ops::set_custom_cpu_ops(args.custom_ops);
    if args.net == "conv64" || args.net == "bn64" {
        return single_layer(&args);
    }
    let (config, (c, h, w)) = network(&args.net)?;
    let dev = Device::Cpu;
    let store = SeededVarMap::new(Seed(0));
    let vb = store.var_builder(DType::F32, &dev);
    let backbone = config.build(vb.pp("backbone"))?;
    let head = LinearHead::new(backbone.embed_dim(), 4, vb.pp("head"))?;
    let params = ParamSet::new(store.named_trainable_vars())?;
    let mut optimizer = Optimizer::new(OptimizerConfig::Sgd(SgdConfig::default()), params.clone())?;

    let mut rng = Seed(1).rng(Stream::Other(0), 0, 0);
    let pixels: Vec<f32> = (0..args.batch * c * h * w).map(|_| rng.random()).collect();
    let x = Tensor::from_vec(pixels, (args.batch, c, h, w), &dev)?;
    let labels: Vec<u32> = (0..args.batch).map(|i| (i % 4) as u32).collect();
    let y = Tensor::new(labels, &dev)?;

    let (mut fwd, mut bwd, mut opt) = (Vec::new(), Vec::new(), Vec::new());
    let mut cpu_start = 0.0;
    for step in 0..args.warmup + args.steps {
        if step == args.warmup {
            cpu_start = cpu_seconds();
        }
        let t0 = Instant::now();
        let logits = head.forward(&backbone.forward_features(&x, true)?)?;
        let loss = ssad_losses::cross_entropy(&logits, &y)?;
        loss.to_scalar::<f32>()?; // forces the forward to finish
        let t1 = Instant::now();
        let grads = loss.backward()?;
        let t2 = Instant::now();
        optimizer.step(&grads)?;
        let t3 = Instant::now();
        if step >= args.warmup {
            fwd.push((t1 - t0).as_secs_f64());
            bwd.push((t2 - t1).as_secs_f64());
            opt.push((t3 - t2).as_secs_f64());
        }
    }
    // CPU time per step says less than wall time about speed but is far less
    // disturbed by other processes on a loaded machine.
    let cpu_per_step = (cpu_seconds() - cpu_start) / args.steps as f64;
    let (fwd, bwd, opt) = (median(fwd), median(bwd), median(opt));
    let images_per_s = args.batch as f64 / (fwd + bwd + opt);
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "default".into());
    let rss = peak_rss_mib().unwrap_or(f64::NAN);
    println!(
        "{{\"net\":\"{}\",\"batch\":{},\"steps\":{},\"threads\":\"{threads}\",\"params\":{},\"ops\":\"{}\",\
         \"images_per_s\":{images_per_s:.2},\"forward_s\":{fwd:.4},\"backward_s\":{bwd:.4},\
         \"optimizer_s\":{opt:.4},\"cpu_s_per_step\":{cpu_per_step:.3},\"peak_rss_mib\":{rss:.1}}}",
        args.net,
        args.batch,
        args.steps,
        params.num_elements(),
        if args.custom_ops { "custom" } else { "stock" },
    );
    Ok(())
}
