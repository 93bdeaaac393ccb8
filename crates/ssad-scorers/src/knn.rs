//! k-nearest-neighbour distance (PyOD `KNN`; also the kNN scorer of CSI, PANDA,
//! and of most self-supervised methods with `metric = cosine`).

use serde::{Deserialize, Serialize};
use ssad_core::MatrixView;

use crate::distance::{Index, Metric, Neighbours, Reads};
use crate::persist::State;
use crate::{check, Error, FittedScorer, Result, Scorer};

/// How the `k` neighbour distances become one score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KnnMethod {
    /// Distance to the k-th neighbour.
    #[default]
    Largest,
    /// Mean distance to the `k` neighbours.
    Mean,
    /// Median distance to the `k` neighbours (mean of the middle two for even `k`).
    Median,
}

/// kNN detector config; defaults are PyOD's (`n_neighbors=5`, `largest`, Euclidean).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KnnConfig {
    /// Number of neighbours `k`.
    pub n_neighbors: usize,
    /// How neighbour distances are combined.
    pub method: KnnMethod,
    /// Distance between feature vectors.
    pub metric: Metric,
}

impl Default for KnnConfig {
    fn default() -> Self {
        Self {
            n_neighbors: 5,
            method: KnnMethod::Largest,
            metric: Metric::Euclidean,
        }
    }
}

/// A fitted kNN detector: the training rows, indexed.
#[derive(Debug, Clone)]
pub struct FittedKnn {
    config: KnnConfig,
    index: Index,
}

impl KnnConfig {
    fn validate(&self) -> Result<()> {
        check::positive("n_neighbors", self.n_neighbors)
    }
}

fn aggregate(method: KnnMethod, nb: &Neighbours) -> Vec<f64> {
    (0..nb.rows())
        .map(|i| {
            let d = nb.dist_row(i);
            let k = d.len();
            match method {
                KnnMethod::Largest => d[k - 1],
                KnnMethod::Mean => d.iter().sum::<f64>() / k as f64,
                KnnMethod::Median if k % 2 == 1 => d[k / 2],
                KnnMethod::Median => 0.5 * (d[k / 2 - 1] + d[k / 2]),
            }
        })
        .collect()
}

impl Scorer for KnnConfig {
    type Fitted = FittedKnn;

    /// Errors unless there are more training rows than `n_neighbors`, as
    /// PyOD, whose fit scores every training row against the others.
    fn fit(&self, train: MatrixView<'_>) -> Result<FittedKnn> {
        self.validate()?;
        check::fit_input(train)?;
        if train.rows() <= self.n_neighbors {
            return Err(Error::Fit(format!(
                "n_neighbors = {} needs more than {} training rows",
                self.n_neighbors,
                train.rows()
            )));
        }
        Ok(FittedKnn {
            config: self.clone(),
            index: Index::new(train.to_matrix(), self.metric, Reads::Distances),
        })
    }

    /// A training row is not its own neighbour (PyOD's `decision_scores_`).
    fn fit_score(&self, train: MatrixView<'_>) -> Result<(FittedKnn, Vec<f64>)> {
        let fitted = self.fit(train)?;
        let nb = fitted.index.search(None, self.n_neighbors);
        let scores = aggregate(self.method, &nb);
        Ok((fitted, scores))
    }
}

impl FittedScorer for FittedKnn {
    fn n_features(&self) -> usize {
        self.index.data().cols()
    }

    /// Distances to the `k` nearest training rows; a row identical to a
    /// training row counts it as a neighbour at distance 0 (PyOD's `decision_function`).
    fn score(&self, x: MatrixView<'_>) -> Result<Vec<f64>> {
        check::score_input(x, self.n_features())?;
        let nb = self.index.search(Some(x), self.config.n_neighbors);
        Ok(aggregate(self.config.method, &nb))
    }

    fn state(&self) -> Result<State> {
        let mut s = State::new(self.config.clone());
        s.put_matrix("train", self.index.data())?;
        Ok(s)
    }
}

impl FittedKnn {
    /// Rebuilds a fitted kNN from a [`State`] made by [`FittedScorer::state`].
    pub fn from_state(config: KnnConfig, state: &mut State) -> Result<Self> {
        let train = state.take_matrix("train")?;
        config.validate()?;
        check::fit_input(train.view()).map_err(|e| Error::Corrupt(e.to_string()))?;
        if train.rows() < config.n_neighbors {
            return Err(Error::Corrupt(
                "fewer training rows than n_neighbors".into(),
            ));
        }
        Ok(Self {
            index: Index::new(train, config.metric, Reads::Distances),
            config,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ssad_core::Matrix;

    #[test]
    fn defaults_are_pyods() {
        let c = KnnConfig::default();
        assert_eq!(c.n_neighbors, 5);
        assert_eq!(c.method, KnnMethod::Largest);
        assert_eq!(c.metric, Metric::Euclidean);
        let parsed: KnnConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(parsed, c);
        assert!(serde_json::from_str::<KnnConfig>(r#"{"k": 3}"#).is_err());
    }

    #[test]
    fn methods_on_a_line() {
        // Points 0, 1, 2, 3, 10: the k=2 neighbours of 10 (excluding itself) are 3 and 2.
        let x = Matrix::new(vec![0.0, 1.0, 2.0, 3.0, 10.0], 5, 1).unwrap();
        for (method, want) in [
            (KnnMethod::Largest, 8.0),
            (KnnMethod::Mean, 7.5),
            (KnnMethod::Median, 7.5),
        ] {
            let c = KnnConfig {
                n_neighbors: 2,
                method,
                ..KnnConfig::default()
            };
            let (_, s) = c.fit_score(x.view()).unwrap();
            assert_eq!(s[4], want);
            let nearest_to_zero = if method == KnnMethod::Largest {
                2.0
            } else {
                1.5
            };
            assert_eq!(s[0], nearest_to_zero);
        }
    }

    #[test]
    fn k_not_below_n_is_an_error() {
        let x = Matrix::new(vec![0.0, 1.0, 2.0], 3, 1).unwrap();
        let c = KnnConfig {
            n_neighbors: 3,
            ..KnnConfig::default()
        };
        assert!(matches!(c.fit(x.view()), Err(Error::Fit(_))));
        let zero = KnnConfig {
            n_neighbors: 0,
            ..KnnConfig::default()
        };
        assert!(matches!(
            zero.fit(x.view()),
            Err(Error::InvalidConfig { .. })
        ));
    }
}
