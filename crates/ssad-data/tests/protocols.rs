//! Protocols on the real datasets (GOAD known answers from `fixtures/make_fixtures.py`)
//! and their invariants on generated data.

mod common;

use common::{assert_close, data_file, fixtures, floats};
use proptest::prelude::*;
use ssad_core::{Matrix, Seed};
use ssad_data::formats::{read_kdd, read_mat_xy};
use ssad_data::protocols::{
    goad_kdd, goad_kddrev, goad_tabular, stratified_split, Split, Standardizer, StratifiedConfig,
    KDDREV_ANOMALIES,
};
use ssad_data::Labeled;

fn column_stats(x: &Matrix, j: usize) -> (f64, f64) {
    let n = x.rows() as f64;
    let mean = x.iter_rows().map(|r| f64::from(r[j])).sum::<f64>() / n;
    let var = x
        .iter_rows()
        .map(|r| (f64::from(r[j]) - mean).powi(2))
        .sum::<f64>()
        / n;
    (mean, var.sqrt())
}

#[test]
fn goad_tabular_matches_goad_data_loader() {
    let fx = fixtures();
    for name in ["arrhythmia", "thyroid"] {
        let Some(path) = data_file(&format!("odds/{name}.mat")) else {
            return;
        };
        let f = &fx["goad"][name];
        let split = goad_tabular(&read_mat_xy(path).unwrap()).unwrap();
        let shape = |v: &serde_json::Value| {
            let s = floats(v);
            (s[0] as usize, s[1] as usize)
        };
        assert_eq!(split.train.shape(), shape(&f["train_shape"]), "{name}");
        assert_eq!(split.test.shape(), shape(&f["test_shape"]), "{name}");
        let n_anom = f["n_test_anomalies"].as_u64().unwrap() as usize;
        assert_eq!(split.test_labels.iter().filter(|&&a| a).count(), n_anom);
        // Normals first, then anomalies, as GOAD concatenates them.
        let n_norm = split.test.rows() - n_anom;
        assert!(split.test_labels[..n_norm].iter().all(|&a| !a));
        let check = |m: &Matrix, rows: &[usize], key: &str| {
            for (k, want) in f[key].as_array().unwrap().iter().enumerate() {
                for (j, v) in floats(want).into_iter().enumerate() {
                    let got = f64::from(m.row(rows[k])[j]);
                    assert_close(got, v, 1e-4, &format!("{name} {key}[{k},{j}]"));
                }
            }
        };
        check(&split.train, &[0, 1], "train_head");
        check(&split.test, &[0, 1], "test_head");
        let last = split.test.rows() - 1;
        check(&split.test, &[last - 1, last], "test_tail");
        for (j, want) in floats(&f["test_col_sums"]).into_iter().enumerate() {
            let got: f64 = split.test.iter_rows().map(|r| f64::from(r[j])).sum();
            // Sums of ~2000 z-scores: compare with an absolute allowance for f32 storage.
            assert!(
                (got - want).abs() <= 1e-3 * want.abs().max(10.0),
                "{name} col {j}: {got} vs {want}"
            );
        }
        // Training columns are z-scored: mean 0 and std 1, or constant (std 0).
        for j in 0..split.train.cols() {
            let (m, s) = column_stats(&split.train, j);
            assert!(m.abs() < 1e-4, "{name} col {j} mean {m}");
            assert!((s - 1.0).abs() < 1e-4 || s < 1e-6, "{name} col {j} std {s}");
        }
    }
}

#[test]
fn arrhythmia_split_sizes() {
    let Some(path) = data_file("odds/arrhythmia.mat") else {
        return;
    };
    let split = goad_tabular(&read_mat_xy(path).unwrap()).unwrap();
    // 386 normals → 193 train; test = 193 normals + 66 anomalies.
    assert_eq!(split.train.rows(), 193);
    assert_eq!(split.test.rows(), 193 + 66);
    assert!((split.test_contamination() - 66.0 / 259.0).abs() < 1e-12);
}

fn check_kdd_split(split: &Split, n_train: usize, n_test_normal: usize, n_anom: usize) {
    assert_eq!(split.train.shape(), (n_train, 121));
    assert_eq!(split.test.rows(), n_test_normal + n_anom);
    assert_eq!(split.test_labels.iter().filter(|&&a| a).count(), n_anom);
    // GOAD's layout: 87 one-hot columns, then 34 z-scored continuous ones.
    for j in 0..87 {
        assert!(
            split.train.iter_rows().all(|r| r[j] == 0.0 || r[j] == 1.0),
            "col {j}"
        );
    }
    for j in 87..121 {
        let (m, s) = column_stats(&split.train, j);
        assert!(m.abs() < 1e-3, "col {j} mean {m}");
        assert!((s - 1.0).abs() < 1e-3 || s < 1e-6, "col {j} std {s}");
    }
}

#[test]
fn goad_kdd_and_kddrev_counts_and_reproducibility() {
    let Some(path) = data_file("kddcup99/kddcup.data_10_percent.gz") else {
        return;
    };
    let kdd = read_kdd(path).unwrap();
    let split = goad_kdd(&kdd, Seed(0)).unwrap();
    // 396,743 attacks: 198,371 train, 198,372 test; all 97,278 normal. rows are anomalies.
    check_kdd_split(&split, 198_371, 198_372, 97_278);

    let rev = goad_kddrev(&kdd, Seed(0)).unwrap();
    // 97,278 normal rows: 48,639 train and 48,639 test; 24,319 attacks as anomalies.
    check_kdd_split(&rev, 48_639, 48_639, KDDREV_ANOMALIES);
    // Reproducible per seed (checked on the smaller KDDRev to keep debug tests fast).
    assert_eq!(rev, goad_kddrev(&kdd, Seed(0)).unwrap());
    let other = goad_kddrev(&kdd, Seed(1)).unwrap();
    assert_ne!(rev.train.row(0), other.train.row(0));
    assert_ne!(rev.test.as_slice(), other.test.as_slice());
}

fn labeled(rows: usize, anomalies: usize) -> Labeled {
    let x: Vec<f32> = (0..rows * 2).map(|v| v as f32).collect();
    let y = (0..rows).map(|i| i < anomalies).collect();
    Labeled {
        x: Matrix::new(x, rows, 2).unwrap(),
        y,
    }
}

#[test]
fn stratified_split_on_thyroid_has_sklearn_sizes() {
    let Some(path) = data_file("odds/thyroid.mat") else {
        return;
    };
    let data = read_mat_xy(path).unwrap();
    let s = stratified_split(&data, &StratifiedConfig::default(), Seed(3)).unwrap();
    // sklearn train_test_split(test_size=0.3, stratify=y) on 3679 + 93 rows:
    // 1132 test (ceil(0.3 * 3772)), 2640 train of which 65 anomalies.
    assert_eq!((s.train.len(), s.test.len()), (2640, 1132));
    assert_eq!((s.train.n_anomalies(), s.test.n_anomalies()), (65, 28));
}

#[test]
fn goad_tabular_needs_two_normals() {
    let data = labeled(3, 2);
    assert!(goad_tabular(&data).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn stratified_split_partitions_rows(
        n in 10usize..300,
        frac in 0.05f64..0.5,
        test_fraction in 0.1f64..0.9,
        seed in any::<u64>(),
    ) {
        let anomalies = ((n as f64 * frac) as usize).max(2);
        let data = labeled(n, anomalies);
        let cfg = StratifiedConfig { test_fraction };
        let s = stratified_split(&data, &cfg, Seed(seed)).unwrap();
        prop_assert_eq!(s.train.len() + s.test.len(), n);
        prop_assert_eq!(s.test.len(), (test_fraction * n as f64).ceil() as usize);
        prop_assert_eq!(s.train.n_anomalies() + s.test.n_anomalies(), anomalies);
        // Stratified: the train share of anomalies is within one row of proportional.
        let expected = anomalies as f64 * s.train.len() as f64 / n as f64;
        prop_assert!((s.train.n_anomalies() as f64 - expected).abs() <= 1.0);
        // Every row lands exactly once (first feature is 2 * row index).
        let mut seen: Vec<usize> = s.train.x.iter_rows().chain(s.test.x.iter_rows())
            .map(|r| r[0] as usize / 2).collect();
        seen.sort_unstable();
        prop_assert_eq!(seen, (0..n).collect::<Vec<_>>());
        // Labels travel with their rows.
        for (r, &a) in s.train.x.iter_rows().zip(&s.train.y) {
            prop_assert_eq!(a, (r[0] as usize / 2) < anomalies);
        }
        let again = stratified_split(&data, &cfg, Seed(seed)).unwrap();
        prop_assert_eq!(s, again);
    }

    #[test]
    fn standardizer_zero_mean_unit_std(
        rows in 2usize..50,
        cols in 1usize..6,
        values in proptest::collection::vec(-1e3f32..1e3, 300),
    ) {
        let x = Matrix::new(values[..rows * cols].to_vec(), rows, cols).unwrap();
        let z = Standardizer::fit(x.view()).unwrap().transform(x.view()).unwrap();
        for j in 0..cols {
            let (m, s) = column_stats(&z, j);
            prop_assert!(m.abs() < 1e-3);
            prop_assert!((s - 1.0).abs() < 1e-3 || s == 0.0);
        }
    }
}
