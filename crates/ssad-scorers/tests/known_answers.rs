//! Scores of the classic detectors against PyOD / scikit-learn on a small
//! seeded data set. The expected values come from `fixtures/make_fixtures.py`
//! (versions recorded in the JSON).

use serde_json::Value;
use ssad_core::Matrix;
use ssad_scorers::{
    CopodConfig, EcodConfig, HbosConfig, IForestConfig, KdeConfig, KnnConfig, KnnMethod, LofConfig,
    Metric, OcsvmConfig, PcaConfig, ScorerConfig,
};

struct Fixture {
    json: Value,
    train: Matrix,
    test: Matrix,
}

fn matrix(v: &Value) -> Matrix {
    let rows: Vec<Vec<f32>> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect()
        })
        .collect();
    Matrix::from_rows(&rows).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn fixture() -> Fixture {
    let text = include_str!("fixtures/pyod_scores.json");
    let json: Value = serde_json::from_str(text).unwrap();
    let train = matrix(&json["x_train"]);
    let test = matrix(&json["x_test"]);
    Fixture { json, train, test }
}

/// Fits on the fixture's training rows and returns (training scores, test scores).
fn run(config: ScorerConfig, f: &Fixture) -> (Vec<f64>, Vec<f64>) {
    let (fitted, train) = config.fit_score(f.train.view()).unwrap();
    let test = fitted.score(f.test.view()).unwrap();
    (train, test)
}

fn assert_close(name: &str, got: &[f64], want: &[f64], rtol: f64) {
    assert_eq!(got.len(), want.len(), "{name}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let tol = rtol * w.abs().max(1.0);
        assert!(
            (g - w).abs() <= tol,
            "{name}[{i}]: got {g}, PyOD {w}, tolerance {tol}"
        );
    }
}

fn check(name: &str, config: impl Into<ScorerConfig>, rtol: f64) {
    let f = fixture();
    let (train, test) = run(config.into(), &f);
    let expected = &f.json["scores"][name];
    assert_close(
        &format!("{name} train"),
        &train,
        &floats(&expected["train"]),
        rtol,
    );
    assert_close(
        &format!("{name} test"),
        &test,
        &floats(&expected["test"]),
        rtol,
    );
}

/// Mann-Whitney AUROC with ties counted half.
fn auroc(scores: &[f64], labels: &[f64]) -> f64 {
    let (mut wins, mut pairs) = (0.0, 0.0);
    for (s1, _) in scores.iter().zip(labels).filter(|(_, &l)| l == 1.0) {
        for (s0, _) in scores.iter().zip(labels).filter(|(_, &l)| l == 0.0) {
            pairs += 1.0;
            wins += if s1 > s0 {
                1.0
            } else if s1 == s0 {
                0.5
            } else {
                0.0
            };
        }
    }
    wins / pairs
}

#[test]
fn knn_largest() {
    check("knn_largest", KnnConfig::default(), 1e-6);
}

#[test]
fn knn_mean() {
    let c = KnnConfig {
        method: KnnMethod::Mean,
        ..KnnConfig::default()
    };
    check("knn_mean", c, 1e-6);
}

#[test]
fn knn_median_even_k() {
    let c = KnnConfig {
        n_neighbors: 4,
        method: KnnMethod::Median,
        ..KnnConfig::default()
    };
    check("knn_median", c, 1e-6);
}

#[test]
fn knn_cosine() {
    let c = KnnConfig {
        metric: Metric::Cosine,
        ..KnnConfig::default()
    };
    check("knn_cosine", c, 1e-6);
}

#[test]
fn lof() {
    check("lof", LofConfig::default(), 1e-6);
}

#[test]
fn pca() {
    check("pca", PcaConfig::default(), 1e-6);
}

#[test]
fn kde() {
    check("kde", KdeConfig::default(), 1e-6);
}

#[test]
fn ecod() {
    check("ecod", EcodConfig::default(), 1e-6);
}

#[test]
fn copod() {
    check("copod", CopodConfig::default(), 1e-6);
}

#[test]
fn hbos() {
    check("hbos", HbosConfig::default(), 1e-6);
}

#[test]
fn ocsvm() {
    check("ocsvm", OcsvmConfig::default(), 1e-4);
}

/// The forest's expected score, estimated with 20,000 trees on both sides,
/// is scikit-learn's: same split rule (a uniformly drawn non-constant feature,
/// re-drawn while constant; threshold uniform in the node's range; `<=` goes
/// left), depth limit, leaf correction `c(size)` and normalisation `c(256 ∧ n)`.
/// The random streams differ, so only the averages can agree: the Monte-Carlo
/// error of each score is ~1e-3 (ours are within 0.0026), while a one-edge
/// depth offset moves them by ~0.07 and a midpoint threshold by 0.019
/// (tolerance 0.006). This pins that
/// the wine/Hepatitis 5-seed gaps of the ADBench comparison were seed noise:
/// over 100 seeds they are −0.006 ± 0.005 and −0.001 ± 0.003.
#[test]
fn iforest_expected_scores_match_sklearn() {
    let f = fixture();
    let e = &f.json["iforest_expectation"];
    let c = IForestConfig {
        n_estimators: e["n_estimators"].as_u64().unwrap() as usize,
        seed: 11,
        ..IForestConfig::default()
    };
    let x = matrix(&e["x_train"]);
    let (fitted, train) = ScorerConfig::from(c).fit_score(x.view()).unwrap();
    let test = fitted.score(matrix(&e["x_test"]).view()).unwrap();
    for (name, got, want) in [
        ("train", train, floats(&e["train"])),
        ("test", test, floats(&e["test"])),
    ] {
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!((g - w).abs() < 6e-3, "{name}[{i}]: ours {g}, sklearn {w}");
        }
    }
}

#[test]
fn iforest_ranks_like_sklearn() {
    // Different random streams give different forests, so compare rankings.
    let f = fixture();
    let expected = &f.json["scores"]["iforest"];
    for seed in 0..3 {
        let c = IForestConfig {
            seed,
            ..IForestConfig::default()
        };
        let (train, test) = run(c.into(), &f);
        let y_train = floats(&f.json["y_train"]);
        let y_test = floats(&f.json["y_test"]);
        let a_train = auroc(&train, &y_train);
        let a_test = auroc(&test, &y_test);
        let want_train = expected["train_auroc"].as_f64().unwrap();
        let want_test = expected["test_auroc"].as_f64().unwrap();
        assert!(
            (a_train - want_train).abs() < 0.03,
            "seed {seed}: train AUROC {a_train} vs {want_train}"
        );
        assert!(
            (a_test - want_test).abs() < 0.05,
            "seed {seed}: test AUROC {a_test} vs {want_test}"
        );
    }
}
