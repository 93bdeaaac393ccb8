//! Contract tests that every scorer in [`ScorerConfig::catalogue`] must pass,
//! so a scorer added to the enum is checked without writing anything here.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use ssad_core::{Matrix, ShapeError};
use ssad_scorers::{load, save, Error, ScorerConfig};

const COLS: usize = 4;

/// Scorers that read the width as blocks (one classifier output per
/// transformation) see `BLOCKS` blocks of `COLS / BLOCKS` classes.
const BLOCKS: usize = 2;

/// Positive rows whose blocks of `COLS / BLOCKS` values each sum to 1: valid
/// features, logits and probabilities alike. Values are multiples of 2^-12, so
/// adding a small constant is exact in f32.
fn data(rows: usize, seed: u64) -> Matrix {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(rows * COLS);
    for _ in 0..rows * BLOCKS {
        let p = rng.random_range(100..4000) as f32 / 4096.0;
        out.extend([p, 1.0 - p]);
    }
    Matrix::new(out, rows, COLS).unwrap()
}

fn shifted(x: &Matrix, by: f32) -> Matrix {
    Matrix::new(
        x.as_slice().iter().map(|v| v + by).collect(),
        x.rows(),
        x.cols(),
    )
    .unwrap()
}

/// Every scorer's default config, with `n_transforms` (where a scorer has it)
/// set to match the test data's blocks.
fn catalogue() -> Vec<ScorerConfig> {
    let all: Vec<ScorerConfig> = ScorerConfig::catalogue()
        .into_iter()
        .map(|c| {
            let mut v = serde_json::to_value(&c).unwrap();
            if let Some(n) = v.get_mut("n_transforms") {
                *n = BLOCKS.into();
            }
            serde_json::from_value(v).unwrap()
        })
        .collect();
    assert!(all.len() >= 8, "the catalogue lost scorers: {}", all.len());
    all
}

#[test]
fn scores_are_finite_and_one_per_row() {
    let (train, test) = (data(80, 1), data(17, 2));
    for config in catalogue() {
        let (fitted, train_scores) = config.fit_score(train.view()).unwrap();
        assert_eq!(fitted.n_features(), COLS, "{}", config.name());
        assert_eq!(train_scores.len(), 80, "{}", config.name());
        let s = fitted.score(test.view()).unwrap();
        assert_eq!(s.len(), 17, "{}", config.name());
        assert!(
            train_scores.iter().chain(&s).all(|v| v.is_finite()),
            "{}: non-finite score",
            config.name()
        );
        let none = fitted.score(Matrix::zeros(0, COLS).view()).unwrap();
        assert!(none.is_empty(), "{}", config.name());
    }
}

#[test]
fn same_config_same_scores() {
    let (train, test) = (data(60, 3), data(9, 4));
    for config in catalogue() {
        let a = config
            .fit(train.view())
            .unwrap()
            .score(test.view())
            .unwrap();
        let b = config
            .fit(train.view())
            .unwrap()
            .score(test.view())
            .unwrap();
        assert_eq!(a, b, "{}", config.name());
    }
}

#[test]
fn bad_input_is_a_typed_error() {
    let train = data(40, 5);
    for config in catalogue() {
        let name = config.name();
        let empty = Matrix::zeros(0, COLS);
        assert!(config.fit(empty.view()).is_err(), "{name}: empty fit");
        let mut nan = train.clone();
        nan.as_mut_slice()[7] = f32::NAN;
        assert!(
            matches!(
                config.fit(nan.view()),
                Err(Error::Shape(ShapeError::NonFinite { .. }))
            ),
            "{name}: NaN fit"
        );
        let fitted = config.fit(train.view()).unwrap();
        let narrow = Matrix::zeros(3, COLS - 1);
        assert!(
            matches!(
                fitted.score(narrow.view()),
                Err(Error::Shape(ShapeError::Width { .. }))
            ),
            "{name}: width"
        );
        let mut inf = data(2, 6);
        inf.as_mut_slice()[1] = f32::INFINITY;
        assert!(fitted.score(inf.view()).is_err(), "{name}: Inf score");
        // One training row: an error or finite scores, never a panic.
        let one = data(1, 7);
        if let Ok(f) = config.fit(one.view()) {
            assert!(
                f.score(train.view()).unwrap().iter().all(|v| v.is_finite()),
                "{name}"
            );
        }
    }
}

#[test]
fn translation_leaves_invariant_scores_unchanged() {
    let (train, test) = (data(70, 8), data(11, 9));
    let (train2, test2) = (shifted(&train, 2.0), shifted(&test, 2.0));
    for config in catalogue()
        .into_iter()
        .filter(ScorerConfig::translation_invariant)
    {
        let a = config
            .fit(train.view())
            .unwrap()
            .score(test.view())
            .unwrap();
        let b = config
            .fit(train2.view())
            .unwrap()
            .score(test2.view())
            .unwrap();
        for (x, y) in a.iter().zip(&b) {
            assert!(
                (x - y).abs() <= 1e-6 * x.abs().max(1.0),
                "{}: {x} vs {y}",
                config.name()
            );
        }
    }
}

#[test]
fn save_load_round_trip_is_bit_identical() {
    let (train, test) = (data(50, 10), data(13, 11));
    for config in catalogue() {
        let fitted = config.fit(train.view()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        save(fitted.as_ref(), dir.path()).unwrap_or_else(|e| panic!("{}: {e}", config.name()));
        let loaded = load(dir.path()).unwrap();
        let a = fitted.score(test.view()).unwrap();
        let b = loaded.score(test.view()).unwrap();
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&a), bits(&b), "{}", config.name());
        assert_eq!(loaded.n_features(), COLS);
    }
}

#[test]
fn configs_round_trip_through_json() {
    for config in catalogue() {
        let json = serde_json::to_string(&config).unwrap();
        assert!(
            json.contains(&format!("\"kind\":\"{}\"", config.name())),
            "{json}"
        );
        let back: ScorerConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back, config);
    }
    assert!(serde_json::from_str::<ScorerConfig>(r#"{"kind": "knn", "bogus": 1}"#).is_err());
    assert!(serde_json::from_str::<ScorerConfig>(r#"{"kind": "nope"}"#).is_err());
}
