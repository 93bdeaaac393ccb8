//! AUROC and the full summary on 10^6 seeded random scores.
//!
//! `cargo bench -p ssad-eval --bench auroc`

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const N: usize = 1_000_000;

/// Uniform scores, 10% anomalies shifted up by 0.7: AUROC = 1 - 0.3² / 2 = 0.955.
fn scores_and_labels() -> (Vec<f32>, Vec<bool>) {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let labels: Vec<bool> = (0..N).map(|_| rng.random_bool(0.1)).collect();
    let scores = labels
        .iter()
        .map(|&a| rng.random::<f32>() + if a { 0.7 } else { 0.0 })
        .collect();
    (scores, labels)
}

fn bench(c: &mut Criterion) {
    let (scores, labels) = scores_and_labels();
    let mut group = c.benchmark_group("cpu_eval_1e6");
    group.sample_size(10);
    group.bench_function("auroc_f32", |b| {
        b.iter(|| ssad_eval::auroc(black_box(&scores), black_box(&labels)))
    });
    group.bench_function("summary_f32", |b| {
        b.iter(|| ssad_eval::summary(black_box(&scores), black_box(&labels)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
