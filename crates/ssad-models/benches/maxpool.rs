//! Max pooling 3×3/2 (ImageNet ResNet stem): custom CPU op vs composition of candle ops.

use candle_core::{Device, Tensor, Var};
use criterion::{criterion_group, criterion_main, Criterion};
use ssad_models::pool::{max_pool2d, max_pool2d_composed};

fn input() -> Tensor {
    // ResNet-18 stem output for a batch of 8 images of 224×224.
    let (n, c, h, w) = (8usize, 64usize, 112usize, 112usize);
    let v: Vec<f32> = (0..n * c * h * w)
        .map(|i| ((i * 2_654_435_761) % 10_007) as f32 / 10_007.0)
        .collect();
    Tensor::from_vec(v, (n, c, h, w), &Device::Cpu).expect("input")
}

fn bench(c: &mut Criterion) {
    let x = input();
    let mut g = c.benchmark_group("cpu_maxpool3x3s2_8x64x112x112");
    g.sample_size(10);
    g.bench_function("custom_op_fwd", |b| {
        b.iter(|| max_pool2d(&x, 3, 2, 1).expect("pool"))
    });
    g.bench_function("composed_fwd", |b| {
        b.iter(|| max_pool2d_composed(&x, 3, 2, 1).expect("pool"))
    });
    let v = Var::from_tensor(&x).expect("var");
    g.bench_function("custom_op_fwd_bwd", |b| {
        b.iter(|| {
            let y = max_pool2d(v.as_tensor(), 3, 2, 1).expect("pool");
            y.sum_all().expect("sum").backward().expect("backward")
        })
    });
    g.bench_function("composed_fwd_bwd", |b| {
        b.iter(|| {
            let y = max_pool2d_composed(v.as_tensor(), 3, 2, 1).expect("pool");
            y.sum_all().expect("sum").backward().expect("backward")
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
