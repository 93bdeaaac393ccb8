//! Downstream scorers against values computed by numpy / scipy / scikit-learn
//! and numpy transcriptions of the reference code
//! (`tests/fixtures/make_downstream_fixtures.py`).

use serde_json::Value;
use ssad_core::Matrix;
use ssad_scorers::{
    CenterConfig, ClassifierOutput, Covariance, DirichletConfig, FittedCenter, FittedScorer,
    GdeConfig, KMeansConfig, MahalanobisConfig, Preprocess, Scorer, SoftmaxConfig,
};

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/downstream_scorers.json")).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn matrix(v: &Value) -> Matrix {
    let data: Vec<f32> = floats(&v["data"]).into_iter().map(|x| x as f32).collect();
    let rows = v["rows"].as_u64().unwrap() as usize;
    let cols = v["cols"].as_u64().unwrap() as usize;
    Matrix::new(data, rows, cols).unwrap()
}

#[track_caller]
fn assert_close(got: &[f64], want: &[f64], rtol: f64) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= rtol * (1.0 + w.abs()),
            "element {i}: got {g}, want {w}"
        );
    }
}

fn plain(covariance: Covariance) -> MahalanobisConfig {
    MahalanobisConfig {
        covariance,
        ..MahalanobisConfig::plain()
    }
}

#[test]
fn mahalanobis_matches_numpy_pinv() {
    let f = fixture();
    let (train, test) = (matrix(&f["train"]), matrix(&f["test"]));
    let fitted = plain(Covariance::Empirical).fit(train.view()).unwrap();
    let scores = fitted.score(test.view()).unwrap();
    assert_close(&scores, &floats(&f["mahalanobis_pinv"]), 1e-9);
}

#[test]
fn shrunk_mahalanobis_matches_sklearn_ledoit_wolf() {
    let f = fixture();
    let (train, test) = (matrix(&f["train"]), matrix(&f["test"]));
    let fitted = plain(Covariance::LedoitWolf).fit(train.view()).unwrap();
    let scores = fitted.score(test.view()).unwrap();
    assert_close(&scores, &floats(&f["mahalanobis_ledoit_wolf"]), 1e-9);
}

#[test]
fn ssd_preprocessing_matches_eval_ssd() {
    let f = fixture();
    let (train, test) = (matrix(&f["train"]), matrix(&f["test"]));
    let fitted = MahalanobisConfig::default().fit(train.view()).unwrap();
    // Preprocessed training rows are stored as f32, as SSD's float32 features.
    assert_close(
        &fitted.score(test.view()).unwrap(),
        &floats(&f["ssd_one_cluster"]),
        1e-5,
    );
}

#[test]
fn ssd_two_clusters_take_the_nearest_cluster() {
    let f = fixture();
    let (train, test) = (matrix(&f["blobs_train"]), matrix(&f["blobs_test"]));
    let cfg = MahalanobisConfig {
        preprocess: Preprocess::None,
        clusters: KMeansConfig {
            n_clusters: 2,
            ..KMeansConfig::default()
        },
        ..MahalanobisConfig::default()
    };
    let fitted = cfg.fit(train.view()).unwrap();
    assert_eq!(fitted.n_clusters(), 2);
    assert_close(
        &fitted.score(test.view()).unwrap(),
        &floats(&f["ssd_two_clusters"]),
        1e-9,
    );
}

#[test]
fn gde_matches_runinho_and_droc() {
    let f = fixture();
    let (train, test) = (matrix(&f["train"]), matrix(&f["test"]));
    let runinho = GdeConfig::default().fit(train.view()).unwrap();
    assert_close(
        &runinho.score(test.view()).unwrap(),
        &floats(&f["gde_runinho"]),
        1e-5,
    );
    let droc = GdeConfig::droc().fit(train.view()).unwrap();
    assert_close(
        &droc.score(test.view()).unwrap(),
        &floats(&f["gde_droc"]),
        1e-5,
    );
}

#[test]
fn center_score_matches_goad() {
    let f = &fixture()["center"];
    let m = f["n_transforms"].as_u64().unwrap() as usize;
    let (train, test) = (matrix(&f["train"]), matrix(&f["test"]));
    let cfg = CenterConfig {
        n_transforms: m,
        eps: 0.0,
    };
    let fitted = cfg.fit(train.view()).unwrap();
    assert_close(fitted.centers(), &floats(&f["fitted_centers"]), 1e-12);
    assert_close(
        &fitted.score(test.view()).unwrap(),
        &floats(&f["fitted_scores"]),
        1e-10,
    );
    let given = matrix(&f["given_centers"]);
    let from_given = FittedCenter::from_centers(cfg.clone(), &given).unwrap();
    assert_close(
        &from_given.score(test.view()).unwrap(),
        &floats(&f["given_scores"]),
        1e-10,
    );
    let eps = CenterConfig {
        eps: f["eps"].as_f64().unwrap(),
        ..cfg
    };
    let with_eps = FittedCenter::from_centers(eps, &given).unwrap();
    assert_close(
        &with_eps.score(test.view()).unwrap(),
        &floats(&f["given_scores_eps"]),
        1e-10,
    );
}

#[test]
fn max_softmax_matches_geom_simplified_score() {
    let f = &fixture()["classifier"];
    let m = f["n_transforms"].as_u64().unwrap() as usize;
    for (output, train, test, key) in [
        (
            ClassifierOutput::Logits,
            "train_logits",
            "test_logits",
            "softmax_logits",
        ),
        (
            ClassifierOutput::Probabilities,
            "train_probs",
            "test_probs",
            "softmax_probs",
        ),
    ] {
        let cfg = SoftmaxConfig {
            n_transforms: m,
            output,
        };
        let fitted = cfg.fit(matrix(&f[train]).view()).unwrap();
        let scores = fitted.score(matrix(&f[test]).view()).unwrap();
        // The fixture's logits path applies softmax in f64, as we do.
        assert_close(&scores, &floats(&f[key]), 1e-7);
    }
}

#[test]
fn dirichlet_matches_geom() {
    let f = &fixture()["classifier"];
    let m = f["n_transforms"].as_u64().unwrap() as usize;
    for (output, train, test, alphas, scores) in [
        (
            ClassifierOutput::Logits,
            "train_logits",
            "test_logits",
            "dirichlet_alphas_logits",
            "dirichlet_logits",
        ),
        (
            ClassifierOutput::Probabilities,
            "train_probs",
            "test_probs",
            "dirichlet_alphas_probs",
            "dirichlet_probs",
        ),
    ] {
        let cfg = DirichletConfig {
            n_transforms: m,
            output,
            ..DirichletConfig::default()
        };
        let fitted = cfg.fit(matrix(&f[train]).view()).unwrap();
        assert_close(fitted.alphas(), &floats(&f[alphas]), 1e-7);
        let got = fitted.score(matrix(&f[test]).view()).unwrap();
        assert_close(&got, &floats(&f[scores]), 1e-7);
    }
}
