// Stock candle against the GEMM custom ops (`ssad_models::ops`) on the CPU.
//
// * `conv64_32x32_b128`: the 64→64 3×3 layer at 32×32, batch 128; throughput
//   is in FLOP (criterion's "elem/s" = FLOP/s): 2·B·O·C·9·H·W per pass, so
//   forward + backward (dX and dW) counts three passes.
// * `train_step_b32`: one training step (forward, backward, AdamW) of small32
//   and ResNet-18 (CIFAR stem), batch 32; throughput in images.
//
// `cargo bench -p ssad-models --bench conv`

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ssad_core::Seed;
use ssad_models::ops::{conv2d, set_custom_cpu_ops};
use ssad_models::{Backbone, BackboneConfig, SeededVarMap};

fn filled(dims: &[usize]) -> Tensor {
    let n: usize = dims.iter().product();
    let v: Vec<f32> = (0..n)
        .map(|i| ((i * 7919) % 1009) as f32 / 1009.0 - 0.5)
        .collect();
    Tensor::from_vec(v, dims, &Device::Cpu).expect("tensor")
}

const VARIANTS: [(&str, bool); 2] = [("stock", false), ("custom", true)];

fn conv_layer(c: &mut Criterion) {
    let (b, ch, s) = (128, 64, 32);
    let flop = 2 * b * ch * ch * 9 * s * s;
    // A Var input, as for every layer but the first: backward computes dX and dW.
    let x = Var::from_tensor(&filled(&[b, ch, s, s])).expect("x");
    let w = Var::from_tensor(&(filled(&[ch, ch, 3, 3]) * 0.05).expect("w")).expect("w");
    let mut g = c.benchmark_group("conv64_32x32_b128");
    g.sample_size(10);
    for (name, custom) in VARIANTS {
        set_custom_cpu_ops(custom);
        g.throughput(Throughput::Elements(flop as u64));
        g.bench_function(BenchmarkId::new("forward", name), |bench| {
            bench.iter(|| conv2d(&x, &w, 1, 1).expect("fwd"))
        });
        g.throughput(Throughput::Elements(3 * flop as u64));
        g.bench_function(BenchmarkId::new("forward_backward", name), |bench| {
            bench.iter(|| {
                let y = conv2d(&x, &w, 1, 1).expect("fwd");
                y.sum_all().expect("sum").backward().expect("bwd")
            })
        });
    }
    g.finish();
    set_custom_cpu_ops(true);
}

fn train_step(c: &mut Criterion) {
    const BATCH: usize = 32;
    let mut g = c.benchmark_group("train_step_b32");
    g.sample_size(10);
    g.throughput(Throughput::Elements(BATCH as u64));
    for (net_name, cfg) in [
        ("small32", BackboneConfig::Small32),
        ("resnet18", BackboneConfig::default()),
    ] {
        for (name, custom) in VARIANTS {
            set_custom_cpu_ops(custom);
            let vars = SeededVarMap::new(Seed(0));
            let net: Box<dyn Backbone> = cfg
                .clone()
                .build(vars.var_builder(DType::F32, &Device::Cpu))
                .expect("build");
            let mut opt = AdamW::new(vars.trainable_vars(), ParamsAdamW::default()).expect("opt");
            let x = filled(&[BATCH, 3, 32, 32]);
            g.bench_function(BenchmarkId::new(net_name, name), |bench| {
                bench.iter(|| {
                    let f = net.forward_features(&x, true).expect("fwd");
                    let loss = f.sqr().expect("sqr").mean_all().expect("mean");
                    opt.backward_step(&loss).expect("step")
                })
            });
        }
    }
    g.finish();
    set_custom_cpu_ops(true);
}

criterion_group!(benches, conv_layer, train_step);
criterion_main!(benches);
