//! Forward (inference) and forward+backward throughput of the backbones on the CPU.
//! Report img/s = batch / time.

use candle_core::{DType, Device, Tensor};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ssad_core::Seed;
use ssad_models::{Backbone, BackboneConfig, SeededVarMap, WideResNetConfig};

const BATCH: usize = 32;

fn images(c: usize, s: usize) -> Tensor {
    let n = BATCH * c * s * s;
    let v: Vec<f32> = (0..n)
        .map(|i| ((i * 7919) % 1009) as f32 / 1009.0 - 0.5)
        .collect();
    Tensor::from_vec(v, (BATCH, c, s, s), &Device::Cpu).expect("images")
}

fn bench(c: &mut Criterion) {
    let nets = [
        ("small28", BackboneConfig::Small28, 1, 28),
        ("small32", BackboneConfig::Small32, 3, 32),
        (
            "wrn10_4",
            BackboneConfig::Wrn(WideResNetConfig::default()),
            3,
            32,
        ),
        ("resnet18_cifar", BackboneConfig::default(), 3, 32),
    ];
    let mut g = c.benchmark_group("cpu_backbone_bs32");
    g.sample_size(10);
    g.throughput(Throughput::Elements(BATCH as u64));
    for (name, cfg, ch, size) in nets {
        let vars = SeededVarMap::new(Seed(0));
        let net: Box<dyn Backbone> = cfg
            .build(vars.var_builder(DType::F32, &Device::Cpu))
            .expect("build");
        let x = images(ch, size);
        g.bench_function(format!("{name}_eval_fwd"), |b| {
            b.iter(|| net.forward_features(&x, false).expect("fwd"))
        });
        g.bench_function(format!("{name}_train_fwd_bwd"), |b| {
            b.iter(|| {
                let f = net.forward_features(&x, true).expect("fwd");
                f.sqr()
                    .expect("sqr")
                    .sum_all()
                    .expect("sum")
                    .backward()
                    .expect("bwd")
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
