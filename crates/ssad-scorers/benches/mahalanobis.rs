//! Mahalanobis / SSD fit and score at deep-feature sizes:
//! `cargo bench -p ssad-scorers --bench mahalanobis`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use ssad_core::Matrix;
use ssad_scorers::{Covariance, FittedScorer, MahalanobisConfig, Scorer};

fn features(rows: usize, cols: usize, seed: u64) -> Matrix {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // Correlated columns, as embeddings are: a shared factor plus noise.
    let data = (0..rows)
        .flat_map(|_| {
            let common: f32 = rng.random::<f32>() - 0.5;
            (0..cols)
                .map(|_| common + rng.random::<f32>() - 0.5)
                .collect::<Vec<_>>()
        })
        .collect();
    Matrix::new(data, rows, cols).unwrap()
}

fn bench(c: &mut Criterion) {
    let (n, d) = (10_000, 128);
    let train = features(n, d, 1);
    let test = features(n, d, 2);
    let mut group = c.benchmark_group("mahalanobis_10k_x_128");
    group.sample_size(10);
    for (name, cfg) in [
        ("plain", MahalanobisConfig::plain()),
        ("ssd", MahalanobisConfig::default()),
        (
            "ledoit_wolf",
            MahalanobisConfig {
                covariance: Covariance::LedoitWolf,
                ..MahalanobisConfig::plain()
            },
        ),
    ] {
        group.bench_with_input(BenchmarkId::new("fit", name), &cfg, |b, cfg| {
            b.iter(|| cfg.fit(train.view()).unwrap())
        });
    }
    let fitted = MahalanobisConfig::default().fit(train.view()).unwrap();
    group.bench_function("score_ssd", |b| {
        b.iter(|| fitted.score(test.view()).unwrap())
    });
    group.finish();

    // Wide features (ResNet-50 penultimate layer is 2048; 512 keeps this short).
    let wide = features(4_000, 512, 3);
    let mut group = c.benchmark_group("mahalanobis_4k_x_512");
    group.sample_size(10);
    group.bench_function("fit_plain", |b| {
        b.iter(|| MahalanobisConfig::plain().fit(wide.view()).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
