//! Fit + score times of the classic detectors on seeded Gaussian data.
//!
//! `cargo bench -p ssad-scorers --bench classic`. The kNN case is the issue's
//! 10^5 × 32 exact search (every row's 5 nearest neighbours among all rows).
//! The `cpu_small` group covers the shapes of the ADBench classical sets that
//! decide the median speed-up over PyOD: a few hundred to a few thousand rows,
//! where the k-d tree (≤ 15 features), the brute-force tiles and the fixed
//! costs of a call each take their turn.

use criterion::{criterion_group, criterion_main, Criterion};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use ssad_core::Matrix;
use ssad_scorers::{IForestConfig, KnnConfig, LofConfig, Scorer};

fn gaussian(rows: usize, cols: usize, seed: u64) -> Matrix {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let data = (0..rows * cols)
        .map(|_| StandardNormal.sample(&mut rng))
        .collect();
    Matrix::new(data, rows, cols).expect("shape")
}

fn knn(c: &mut Criterion) {
    let x = gaussian(100_000, 32, 1);
    let mut g = c.benchmark_group("cpu_knn");
    g.sample_size(10);
    g.bench_function("fit_score_100000x32_k5", |b| {
        b.iter(|| KnnConfig::default().fit_score(x.view()).expect("knn"))
    });
    g.finish();
}

fn lof(c: &mut Criterion) {
    let x = gaussian(20_000, 32, 2);
    let mut g = c.benchmark_group("cpu_lof");
    g.sample_size(10);
    g.bench_function("fit_score_20000x32_k20", |b| {
        b.iter(|| LofConfig::default().fit_score(x.view()).expect("lof"))
    });
    g.finish();
}

fn iforest(c: &mut Criterion) {
    let x = gaussian(100_000, 32, 3);
    let mut g = c.benchmark_group("cpu_iforest");
    g.sample_size(10);
    g.bench_function("fit_score_100000x32_100trees", |b| {
        b.iter(|| {
            IForestConfig::default()
                .fit_score(x.view())
                .expect("iforest")
        })
    });
    g.finish();
}

/// kNN and LOF at the sizes of the small classical sets: a tiny brute-force
/// search (WPBC: 198 × 33), a small tree (Pima: 768 × 8), a low-dimensional
/// tree with thousands of rows (Wilt: 4,819 × 5) and a mid-width brute-force
/// search (letter: 1,600 × 32).
fn small(c: &mut Criterion) {
    let mut g = c.benchmark_group("cpu_small");
    g.sample_size(20);
    for (seed, (rows, cols)) in [(198, 33), (768, 8), (4_819, 5), (1_600, 32)]
        .into_iter()
        .enumerate()
    {
        let x = gaussian(rows, cols, 10 + seed as u64);
        g.bench_function(format!("knn_{rows}x{cols}_k5"), |b| {
            b.iter(|| KnnConfig::default().fit_score(x.view()).expect("knn"))
        });
        g.bench_function(format!("lof_{rows}x{cols}_k20"), |b| {
            b.iter(|| LofConfig::default().fit_score(x.view()).expect("lof"))
        });
    }
    g.finish();
}

criterion_group!(benches, knn, lof, iforest, small);
criterion_main!(benches);
