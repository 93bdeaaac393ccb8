//! Local outlier factor (PyOD `LOF`, i.e. scikit-learn's `LocalOutlierFactor`).
//!
//! The score is scikit-learn's outlier factor, `-negative_outlier_factor_` for
//! training rows and `-score_samples(x)` for new rows: the mean ratio of the
//! neighbours' local reachability density to the row's own.

use serde::{Deserialize, Serialize};
use ssad_core::MatrixView;

use crate::distance::{Index, Metric, Neighbours, Reads};
use crate::numpy_sum::numpy_sum;
use crate::persist::State;
use crate::{check, Error, FittedScorer, Result, Scorer};

/// Added to the mean reachability distance, as scikit-learn, so that
/// duplicates give a large finite density rather than a division by zero.
const DENSITY_EPS: f64 = 1e-10;

/// LOF config; defaults are PyOD's (`n_neighbors=20`, Euclidean).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LofConfig {
    /// Number of neighbours; clipped to `n - 1` on small training sets, as scikit-learn.
    pub n_neighbors: usize,
    /// Distance between feature vectors.
    pub metric: Metric,
}

impl Default for LofConfig {
    fn default() -> Self {
        Self {
            n_neighbors: 20,
            metric: Metric::Euclidean,
        }
    }
}

/// A fitted LOF: the training rows with their k-distances and densities.
#[derive(Debug, Clone)]
pub struct FittedLof {
    config: LofConfig,
    /// The effective `k = min(n_neighbors, n - 1)`.
    k: usize,
    index: Index,
    /// Distance of each training row to its k-th neighbour (itself excluded).
    k_distance: Vec<f64>,
    /// Local reachability density of each training row.
    lrd: Vec<f64>,
}

/// Local reachability density of each query row from its neighbours.
fn local_reachability(nb: &Neighbours, k_distance: &[f64]) -> Vec<f64> {
    let mut reach = vec![0.0f64; nb.k];
    (0..nb.rows())
        .map(|i| {
            for ((r, &d), &j) in reach.iter_mut().zip(nb.dist_row(i)).zip(nb.idx_row(i)) {
                *r = d.max(k_distance[j as usize]);
            }
            1.0 / (numpy_sum(&reach) / nb.k as f64 + DENSITY_EPS)
        })
        .collect()
}

impl FittedLof {
    fn outlier_factor(&self, nb: &Neighbours, own_lrd: &[f64]) -> Vec<f64> {
        let mut ratios = vec![0.0f64; nb.k];
        (0..nb.rows())
            .map(|i| {
                for (r, &j) in ratios.iter_mut().zip(nb.idx_row(i)) {
                    *r = self.lrd[j as usize] / own_lrd[i];
                }
                numpy_sum(&ratios) / nb.k as f64
            })
            .collect()
    }

    /// Rebuilds a fitted LOF from a [`State`] made by [`FittedScorer::state`].
    pub fn from_state(config: LofConfig, state: &mut State) -> Result<Self> {
        let train = state.take_matrix("train")?;
        check::fit_input(train.view()).map_err(|e| Error::Corrupt(e.to_string()))?;
        let k = check::saved_count("k", state.take_scalar("k")?)?;
        let (_, k_distance) = state.take_f64("k_distance")?;
        let (_, lrd) = state.take_f64("lrd")?;
        if k == 0
            || k >= train.rows()
            || k_distance.len() != train.rows()
            || lrd.len() != train.rows()
        {
            return Err(Error::Corrupt(
                "LOF arrays do not match the training rows".into(),
            ));
        }
        Ok(Self {
            index: Index::new(train, config.metric, Reads::Neighbours),
            config,
            k,
            k_distance,
            lrd,
        })
    }
}

impl LofConfig {
    fn fit_with_training_scores(&self, train: MatrixView<'_>) -> Result<(FittedLof, Vec<f64>)> {
        check::positive("n_neighbors", self.n_neighbors)?;
        check::fit_input(train)?;
        if train.rows() < 2 {
            return Err(Error::Fit("LOF needs at least 2 training rows".into()));
        }
        let k = self.n_neighbors.min(train.rows() - 1);
        let index = Index::new(train.to_matrix(), self.metric, Reads::Neighbours);
        let nb = index.search(None, k);
        let k_distance: Vec<f64> = (0..nb.rows()).map(|i| nb.dist_row(i)[k - 1]).collect();
        let lrd = local_reachability(&nb, &k_distance);
        let fitted = FittedLof {
            config: self.clone(),
            k,
            index,
            k_distance,
            lrd,
        };
        let scores = fitted.outlier_factor(&nb, &fitted.lrd);
        Ok((fitted, scores))
    }
}

impl Scorer for LofConfig {
    type Fitted = FittedLof;

    fn fit(&self, train: MatrixView<'_>) -> Result<FittedLof> {
        Ok(self.fit_with_training_scores(train)?.0)
    }

    /// A training row is not its own neighbour (scikit-learn's `negative_outlier_factor_`).
    fn fit_score(&self, train: MatrixView<'_>) -> Result<(FittedLof, Vec<f64>)> {
        self.fit_with_training_scores(train)
    }
}

impl FittedScorer for FittedLof {
    fn n_features(&self) -> usize {
        self.index.data().cols()
    }

    fn score(&self, x: MatrixView<'_>) -> Result<Vec<f64>> {
        check::score_input(x, self.n_features())?;
        let nb = self.index.search(Some(x), self.k);
        let own = local_reachability(&nb, &self.k_distance);
        Ok(self.outlier_factor(&nb, &own))
    }

    fn state(&self) -> Result<State> {
        let mut s = State::new(self.config.clone());
        s.put_matrix("train", self.index.data())?
            .put_scalar("k", self.k as f64)?
            .put_f64(
                "k_distance",
                &[self.k_distance.len()],
                self.k_distance.clone(),
            )?
            .put_f64("lrd", &[self.lrd.len()], self.lrd.clone())?;
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ssad_core::Matrix;

    #[test]
    fn defaults_are_pyods() {
        let c = LofConfig::default();
        assert_eq!(c.n_neighbors, 20);
        assert_eq!(c.metric, Metric::Euclidean);
        assert_eq!(serde_json::from_str::<LofConfig>("{}").unwrap(), c);
    }

    #[test]
    fn evenly_spaced_points_have_factor_one_inside() {
        // On an evenly spaced line with k = 2 the interior points all look alike.
        let x = Matrix::new((0..10).map(|v| v as f32).collect(), 10, 1).unwrap();
        let c = LofConfig {
            n_neighbors: 2,
            ..LofConfig::default()
        };
        let (fitted, s) = c.fit_score(x.view()).unwrap();
        for &v in &s[3..7] {
            assert!((v - 1.0).abs() < 1e-9, "{v}");
        }
        let far = Matrix::new(vec![30.0], 1, 1).unwrap();
        assert!(fitted.score(far.view()).unwrap()[0] > 5.0);
    }

    #[test]
    fn small_sets_clip_k_and_one_row_is_an_error() {
        let x = Matrix::new(vec![0.0, 1.0, 3.0], 3, 1).unwrap();
        let (f, s) = LofConfig::default().fit_score(x.view()).unwrap();
        assert_eq!(f.k, 2);
        assert!(s.iter().all(|v| v.is_finite()));
        let one = Matrix::new(vec![0.0], 1, 1).unwrap();
        assert!(matches!(
            LofConfig::default().fit(one.view()),
            Err(Error::Fit(_))
        ));
    }
}
