//! Properties of the downstream scorers and k-means that hold for any input.

use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use ssad_core::{Matrix, Seed};
use ssad_scorers::{
    load, save, CenterConfig, ClassifierOutput, Covariance, DirichletConfig, Error, FittedCenter,
    FittedScorer, GdeConfig, KMeansConfig, MahalanobisConfig, Preprocess, Scorer, ScorerConfig,
    SoftmaxConfig,
};

fn gaussian_rows(rng: &mut ChaCha8Rng, n: usize, d: usize, scale: f32, shift: f32) -> Vec<f32> {
    (0..n * d)
        .map(|_| {
            // Sum of uniforms: a cheap, seeded, bell-shaped variable.
            let s: f32 = (0..4).map(|_| rng.random::<f32>() - 0.5).sum();
            s * scale + shift
        })
        .collect()
}

fn random_matrix(seed: u64, n: usize, d: usize) -> Matrix {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Matrix::new(gaussian_rows(&mut rng, n, d, 1.0, 0.0), n, d).unwrap()
}

/// `k` blobs of `per` rows, centred 100 apart on the first axis.
fn blobs(seed: u64, k: usize, per: usize, d: usize) -> (Matrix, Vec<usize>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut data = Vec::new();
    let mut truth = Vec::new();
    for c in 0..k {
        for _ in 0..per {
            let mut row = gaussian_rows(&mut rng, 1, d, 1.0, 0.0);
            row[0] += 100.0 * c as f32;
            data.extend(row);
            truth.push(c);
        }
    }
    (Matrix::new(data, k * per, d).unwrap(), truth)
}

fn kmeans(k: usize, seed: u64) -> KMeansConfig {
    KMeansConfig {
        n_clusters: k,
        seed: Seed(seed),
        ..KMeansConfig::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn kmeans_is_seeded_and_inertia_never_rises(seed in 0u64..1000, k in 1usize..6, n in 12usize..80) {
        let x = random_matrix(seed, n, 3);
        let a = kmeans(k, seed).fit(x.view()).unwrap();
        let b = kmeans(k, seed).fit(x.view()).unwrap();
        prop_assert_eq!(&a, &b);
        for w in a.inertia_history.windows(2) {
            prop_assert!(w[1] <= w[0] * (1.0 + 1e-12), "inertia rose: {:?}", a.inertia_history);
        }
        prop_assert_eq!(a.labels.len(), n);
        prop_assert!(a.labels.iter().all(|&l| l < k));
    }

    #[test]
    fn kmeans_recovers_separated_blobs(seed in 0u64..1000, k in 2usize..5) {
        let (x, truth) = blobs(seed, k, 30, 4);
        let fit = kmeans(k, seed).fit(x.view()).unwrap();
        // Same partition up to relabelling: rows share a cluster iff they share a blob.
        for i in 0..truth.len() {
            for j in 0..truth.len() {
                prop_assert_eq!(fit.labels[i] == fit.labels[j], truth[i] == truth[j]);
            }
        }
    }

    #[test]
    fn mahalanobis_is_affine_invariant(seed in 0u64..1000) {
        let (n, d) = (40, 3);
        let train = random_matrix(seed, n, d);
        let test = random_matrix(seed + 1, 7, d);
        // x -> A x + b with a well-conditioned A.
        let a = [[2.0f32, 0.5, 0.0], [0.0, 1.0, -0.3], [0.2, 0.0, 0.5]];
        let b = [3.0f32, -1.0, 0.5];
        let map = |m: &Matrix| {
            let rows: Vec<Vec<f32>> = m
                .iter_rows()
                .map(|r| (0..d).map(|i| (0..d).map(|j| a[i][j] * r[j]).sum::<f32>() + b[i]).collect())
                .collect();
            Matrix::from_rows(&rows).unwrap()
        };
        let cfg = MahalanobisConfig::plain();
        let s1 = cfg.fit(train.view()).unwrap().score(test.view()).unwrap();
        let s2 = cfg.fit(map(&train).view()).unwrap().score(map(&test).view()).unwrap();
        for (x, y) in s1.iter().zip(&s2) {
            prop_assert!((x - y).abs() <= 1e-4 * (1.0 + x.abs()), "{} vs {}", x, y);
        }
    }

    #[test]
    fn mean_training_distance_is_the_dimension(seed in 0u64..1000, d in 1usize..6) {
        // mean_i (x_i - mu)^T S^-1 (x_i - mu) = tr(S^-1 S) = d for a full-rank S.
        let train = random_matrix(seed, 30, d);
        let (_, scores) = MahalanobisConfig::plain().fit_score(train.view()).unwrap();
        let mean = scores.iter().sum::<f64>() / scores.len() as f64;
        prop_assert!((mean - d as f64).abs() < 1e-6, "mean {} for d = {}", mean, d);
        prop_assert!(scores.iter().all(|&s| s >= -1e-9));
    }

    #[test]
    fn gde_ignores_row_scale(seed in 0u64..1000, factor in 0.01f32..100.0) {
        let train = random_matrix(seed, 40, 4);
        let test = random_matrix(seed + 7, 5, 4);
        let scaled = Matrix::new(test.as_slice().iter().map(|v| v * factor).collect(), 5, 4).unwrap();
        for cfg in [GdeConfig::default(), GdeConfig::droc()] {
            let f = cfg.fit(train.view()).unwrap();
            let (a, b) = (f.score(test.view()).unwrap(), f.score(scaled.view()).unwrap());
            for (x, y) in a.iter().zip(&b) {
                prop_assert!((x - y).abs() <= 1e-4 * (1.0 + x.abs()), "{} vs {}", x, y);
            }
        }
    }

    #[test]
    fn center_scores_are_bounded(seed in 0u64..1000, m in 1usize..6, dim in 1usize..4) {
        let train = random_matrix(seed, 20, m * dim);
        let test = random_matrix(seed + 3, 6, m * dim);
        let cfg = CenterConfig { n_transforms: m, eps: 0.0 };
        let scores = cfg.fit(train.view()).unwrap().score(test.view()).unwrap();
        // Each term is -log of a probability: non-negative.
        prop_assert!(scores.iter().all(|&s| s >= 0.0));
        // A floor above every distance makes all M centers equally likely: M log M.
        let flat = CenterConfig { n_transforms: m, eps: 1e6 }.fit(train.view()).unwrap();
        let want = m as f64 * (m as f64).ln();
        for s in flat.score(test.view()).unwrap() {
            prop_assert!((s - want).abs() < 1e-9, "{} vs {}", s, want);
        }
    }

    #[test]
    fn classifier_scores_ignore_logit_shifts(seed in 0u64..1000, shift in -50.0f32..50.0) {
        let m = 3;
        let train = random_matrix(seed, 40, m * m);
        let test = random_matrix(seed + 11, 5, m * m);
        let shifted = Matrix::new(test.as_slice().iter().map(|v| v + shift).collect(), 5, m * m).unwrap();
        let softmax = SoftmaxConfig { n_transforms: m, output: ClassifierOutput::Logits }
            .fit(train.view())
            .unwrap();
        let dirichlet = DirichletConfig { n_transforms: m, ..DirichletConfig::default() }
            .fit(train.view())
            .unwrap();
        for f in [&softmax as &dyn FittedScorer, &dirichlet] {
            let (a, b) = (f.score(test.view()).unwrap(), f.score(shifted.view()).unwrap());
            for (x, y) in a.iter().zip(&b) {
                prop_assert!((x - y).abs() <= 1e-4 * (1.0 + x.abs()), "{} vs {}", x, y);
            }
        }
        let s = softmax.score(test.view()).unwrap();
        prop_assert!(s.iter().all(|&v| (-1.0..=0.0).contains(&v)));
    }
}

#[test]
fn dirichlet_alpha_solves_the_likelihood_equations() {
    // At the MLE, psi(alpha_k) - psi(sum alpha) = mean_i ln p_ik. Check it with
    // finite differences of the log-likelihood instead of re-using our digamma.
    let (m, k) = (2, 4);
    let train = random_matrix(5, 300, m * k);
    let fitted = DirichletConfig {
        n_transforms: m,
        ..DirichletConfig::default()
    }
    .fit(train.view())
    .unwrap();
    let alphas = fitted.alphas();
    for t in 0..m {
        let logp: Vec<Vec<f64>> = train
            .iter_rows()
            .map(|r| {
                let b: Vec<f64> = r[t * k..(t + 1) * k]
                    .iter()
                    .map(|&v| f64::from(v))
                    .collect();
                let max = b.iter().fold(f64::MIN, |a, &v| a.max(v));
                let lse = max + b.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
                b.iter().map(|v| v - lse).collect()
            })
            .collect();
        let loglik = |a: &[f64]| -> f64 {
            let lgamma = |x: f64| -> f64 {
                // Stirling series after shifting x >= 10; enough for a derivative check.
                let mut x = x;
                let mut acc = 0.0;
                while x < 10.0 {
                    acc -= x.ln();
                    x += 1.0;
                }
                acc + (x - 0.5) * x.ln() - x
                    + 0.5 * (2.0 * std::f64::consts::PI).ln()
                    + 1.0 / (12.0 * x)
                    - 1.0 / (360.0 * x.powi(3))
                    + 1.0 / (1260.0 * x.powi(5))
            };
            let n = logp.len() as f64;
            let mean: Vec<f64> = (0..k)
                .map(|c| logp.iter().map(|r| r[c]).sum::<f64>() / n)
                .collect();
            lgamma(a.iter().sum()) - a.iter().map(|&v| lgamma(v)).sum::<f64>()
                + a.iter().zip(&mean).map(|(v, l)| (v - 1.0) * l).sum::<f64>()
        };
        let alpha = &alphas[t * k..(t + 1) * k];
        assert!(alpha.iter().all(|&a| a > 0.0));
        for c in 0..k {
            let h = 1e-5 * alpha[c];
            let (mut up, mut down) = (alpha.to_vec(), alpha.to_vec());
            up[c] += h;
            down[c] -= h;
            let grad = (loglik(&up) - loglik(&down)) / (2.0 * h);
            assert!(
                grad.abs() < 1e-5,
                "transform {t}, class {c}: gradient {grad}"
            );
        }
    }
}

#[test]
fn every_downstream_scorer_rejects_bad_input() {
    let train = random_matrix(1, 30, 4);
    let fitted: Vec<Box<dyn FittedScorer>> = vec![
        Box::new(MahalanobisConfig::default().fit(train.view()).unwrap()),
        Box::new(GdeConfig::default().fit(train.view()).unwrap()),
        Box::new(
            CenterConfig {
                n_transforms: 2,
                eps: 0.0,
            }
            .fit(train.view())
            .unwrap(),
        ),
        Box::new(
            SoftmaxConfig {
                n_transforms: 2,
                ..SoftmaxConfig::default()
            }
            .fit(train.view())
            .unwrap(),
        ),
        Box::new(
            DirichletConfig {
                n_transforms: 2,
                ..DirichletConfig::default()
            }
            .fit(train.view())
            .unwrap(),
        ),
    ];
    let narrow = Matrix::zeros(2, 3);
    let mut nan = Matrix::zeros(2, 4);
    nan.as_mut_slice()[5] = f32::NAN;
    let mut inf = Matrix::zeros(2, 4);
    inf.as_mut_slice()[0] = f32::INFINITY;
    for f in &fitted {
        assert_eq!(f.n_features(), 4);
        assert!(matches!(f.score(narrow.view()), Err(Error::Shape(_))));
        assert!(matches!(f.score(nan.view()), Err(Error::Shape(_))));
        assert!(matches!(f.score(inf.view()), Err(Error::Shape(_))));
        assert_eq!(
            f.score(Matrix::zeros(0, 4).view()).unwrap(),
            Vec::<f64>::new()
        );
    }
    let empty = Matrix::zeros(0, 4);
    for cfg in downstream_configs(2) {
        assert!(
            cfg.fit(empty.view()).is_err(),
            "{} fitted on nothing",
            cfg.name()
        );
        assert!(cfg.fit(nan.view()).is_err(), "{} fitted on NaN", cfg.name());
    }
    // Width not a multiple of M.
    let odd = random_matrix(2, 10, 5);
    for cfg in downstream_configs(2).into_iter().skip(2) {
        assert!(
            matches!(cfg.fit(odd.view()), Err(Error::InvalidInput(_))),
            "{}",
            cfg.name()
        );
    }
    // More clusters than rows.
    let few = random_matrix(3, 3, 2);
    assert!(matches!(kmeans(4, 0).fit(few.view()), Err(Error::Fit(_))));
    let ssd4 = MahalanobisConfig {
        clusters: kmeans(4, 0),
        ..MahalanobisConfig::default()
    };
    assert!(ssd4.fit(few.view()).is_err());
}

/// Mahalanobis, GDE, then the three block-layout scorers with `M = m`.
fn downstream_configs(m: usize) -> Vec<ScorerConfig> {
    vec![
        MahalanobisConfig::default().into(),
        GdeConfig::default().into(),
        CenterConfig {
            n_transforms: m,
            eps: 0.0,
        }
        .into(),
        SoftmaxConfig {
            n_transforms: m,
            ..SoftmaxConfig::default()
        }
        .into(),
        DirichletConfig {
            n_transforms: m,
            ..DirichletConfig::default()
        }
        .into(),
    ]
}

#[test]
fn saved_downstream_scorers_give_identical_scores() {
    let (train, _) = blobs(9, 2, 25, 4);
    let test = random_matrix(10, 6, 4);
    let mut configs = downstream_configs(2);
    configs.push(
        MahalanobisConfig {
            covariance: Covariance::LedoitWolf,
            preprocess: Preprocess::None,
            clusters: kmeans(2, 3),
            ..MahalanobisConfig::default()
        }
        .into(),
    );
    configs.push(GdeConfig::droc().into());
    for cfg in configs {
        let fitted = cfg.fit(train.view()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        save(fitted.as_ref(), dir.path()).unwrap();
        let back = load(dir.path()).unwrap();
        assert_eq!(
            back.score(test.view()).unwrap(),
            fitted.score(test.view()).unwrap(),
            "{}",
            cfg.name()
        );
    }
    // Given centers survive too.
    let centers = Matrix::new(vec![0.0, 1.0, 2.0, 3.0], 2, 2).unwrap();
    let given = FittedCenter::from_centers(
        CenterConfig {
            n_transforms: 2,
            eps: 0.5,
        },
        &centers,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    save(&given, dir.path()).unwrap();
    assert_eq!(
        load(dir.path()).unwrap().score(test.view()).unwrap(),
        given.score(test.view()).unwrap()
    );
}

#[test]
fn configs_parse_from_json_with_paper_defaults() {
    let c: ScorerConfig = serde_json::from_str(r#"{"kind": "mahalanobis"}"#).unwrap();
    assert_eq!(c, MahalanobisConfig::default().into());
    let c: ScorerConfig =
        serde_json::from_str(r#"{"kind": "mahalanobis", "clusters": {"n_clusters": 3}}"#).unwrap();
    let ScorerConfig::Mahalanobis(m) = c else {
        panic!("wrong variant")
    };
    assert_eq!((m.clusters.n_clusters, m.clusters.n_iter), (3, 100));
    for kind in ["gde", "center", "softmax", "dirichlet"] {
        let c: ScorerConfig = serde_json::from_str(&format!(r#"{{"kind": "{kind}"}}"#)).unwrap();
        assert_eq!(c.name(), kind);
    }
    assert!(serde_json::from_str::<ScorerConfig>(r#"{"kind": "gde", "shrink": true}"#).is_err());
}

#[test]
fn kmeans_on_a_subsample_still_labels_every_row() {
    // 3 blobs of 60 rows; train on at most 10 rows per cluster, as faiss caps it.
    let (x, truth) = blobs(4, 3, 60, 2);
    let cfg = KMeansConfig {
        max_points_per_centroid: 10,
        ..kmeans(3, 8)
    };
    let fit = cfg.fit(x.view()).unwrap();
    assert_eq!(fit.labels.len(), 180);
    assert_eq!(fit, cfg.fit(x.view()).unwrap());
    for i in 0..truth.len() {
        for j in 0..truth.len() {
            assert_eq!(fit.labels[i] == fit.labels[j], truth[i] == truth[j]);
        }
    }
    // A different seed draws a different subsample, hence other centroids.
    let other = KMeansConfig {
        seed: Seed(9),
        ..cfg
    };
    assert_ne!(fit.centroids, other.fit(x.view()).unwrap().centroids);
}
