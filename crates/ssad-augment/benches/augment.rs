//! Throughput of the batch transformations on the CPU (2 threads on CI).
//!
//! Run with `cargo bench -p ssad-augment`; `cargo xtask perf augment --vs-torch`
//! compares the same workloads with torchvision.

use candle_core::{Device, Tensor};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rand::Rng;
use ssad_augment::{
    expand, Augment, CutPasteConfig, CutPasteTask, CutPasteViews, Geom, ScarConfig, SimClr,
};
use ssad_core::{Seed, Stream};

fn random_batch(b: usize, c: usize, h: usize, w: usize) -> Tensor {
    let mut rng = Seed(0).rng(Stream::Other(0), 0, 0);
    let data: Vec<f32> = (0..b * c * h * w).map(|_| rng.random::<f32>()).collect();
    Tensor::from_vec(data, (b, c, h, w), &Device::Cpu).expect("shape matches data")
}

fn benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("cpu_augment");
    group.sample_size(10);

    let x = random_batch(128, 1, 28, 28);
    group.throughput(Throughput::Elements(128 * 72));
    group.bench_function("geom72_expand_128x1x28x28", |b| {
        b.iter(|| expand(&Geom::new(), &x).expect("valid batch"))
    });

    let x = random_batch(64, 3, 256, 256);
    let indices: Vec<u64> = (0..64).collect();
    let cutpaste = CutPasteViews::new(
        CutPasteTask::Binary,
        CutPasteConfig::default(),
        ScarConfig::default(),
    )
    .expect("default config is valid");
    group.throughput(Throughput::Elements(64));
    group.bench_function("cutpaste_binary_64x3x256x256", |b| {
        b.iter(|| {
            cutpaste
                .views(&x, Seed(1), 0, &indices)
                .expect("valid batch")
        })
    });

    let x = random_batch(256, 3, 32, 32);
    let indices: Vec<u64> = (0..256).collect();
    let simclr = SimClr::default();
    group.throughput(Throughput::Elements(256));
    group.bench_function("simclr_256x3x32x32", |b| {
        b.iter(|| {
            simclr
                .apply_batch(&x, Seed(2), 0, &indices)
                .expect("valid batch")
        })
    });
    group.finish();
}

criterion_group!(augment, benches);
criterion_main!(augment);
