//! Reading speed of the larger dataset files.
//!
//! `cargo bench -p ssad-data --bench readers`; needs the data root
//! (`SSAD_DATA_DIR`, else `../shared/datasets` beside the workspace) and skips
//! files that are absent.

use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use ssad_core::Seed;
use ssad_data::formats::{read_fashion_mnist, read_kdd, read_mat_xy, read_npz_xy};
use ssad_data::protocols::goad_kdd;

fn data_root() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    match std::env::var_os("SSAD_DATA_DIR").filter(|v| !v.is_empty()) {
        Some(v) if Path::new(&v).is_absolute() => PathBuf::from(v),
        Some(v) => workspace.join(v),
        None => workspace.join("../shared/datasets"),
    }
}

fn readers(c: &mut Criterion) {
    let root = data_root();
    let mut g = c.benchmark_group("read");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    let kdd = root.join("kddcup99/kddcup.data_10_percent.gz");
    if kdd.exists() {
        g.bench_function("kdd_10_percent_gz", |b| b.iter(|| read_kdd(&kdd).unwrap()));
        let data = read_kdd(&kdd).unwrap();
        g.bench_function("goad_kdd_split", |b| {
            b.iter(|| goad_kdd(&data, Seed(0)).unwrap())
        });
    }
    let donors = root.join("adbench/classical/11_donors.npz");
    if donors.exists() {
        g.bench_function("npz_donors_619k_x_10_f8_fortran", |b| {
            b.iter(|| read_npz_xy(&donors).unwrap())
        });
    }
    let thyroid = root.join("odds/thyroid.mat");
    if thyroid.exists() {
        g.bench_function("mat_thyroid", |b| b.iter(|| read_mat_xy(&thyroid).unwrap()));
    }
    let fashion = Path::new("/usr/share/datasets/fashion-mnist");
    if fashion.exists() {
        g.bench_function("fashion_mnist_idx_gz", |b| {
            b.iter(|| read_fashion_mnist(fashion).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, readers);
criterion_main!(benches);
