//! PCA reconstruction-style detector, exactly as PyOD's `PCA.decision_function`.
//!
//! PyOD standardises the data, fits scikit-learn's PCA, and scores a row `z` as
//! `Σ_j ‖z − v_j‖ / w_j` over the selected components `v_j` (unit vectors, the
//! *last* `n_selected_components` in decreasing-variance order) with `w_j` their
//! explained-variance ratio (or 1 when not weighted). Note that this is the
//! Euclidean distance from `z` to each unit component vector, not a projection
//! residual: we follow PyOD, since matching its scores is the point.
//!
//! Components come from the eigendecomposition of the covariance in `f64`,
//! with scikit-learn's sign convention (the largest-magnitude entry of each
//! component is positive), because the distance to `v_j` depends on its sign.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use ssad_core::MatrixView;

use crate::linalg::symmetric_eigen;
use crate::persist::State;
use crate::{check, Error, FittedScorer, Result, Scorer};

/// Variance ratio below which a component counts as zero (rounding noise of
/// the eigensolver is ~1e-16).
const NEGLIGIBLE_VARIANCE: f64 = 1e-12;

/// PCA config; defaults are PyOD's: all components selected, weighted by
/// explained-variance ratio, on standardised features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PcaConfig {
    /// How many of the lowest-variance components to score with; `None` = all
    /// `min(n, d)`.
    pub n_selected_components: Option<usize>,
    /// Divide each component's distance by its explained-variance ratio.
    pub weighted: bool,
    /// Standardise features with the training mean and (population) standard deviation.
    pub standardization: bool,
}

impl Default for PcaConfig {
    fn default() -> Self {
        Self {
            n_selected_components: None,
            weighted: true,
            standardization: true,
        }
    }
}

/// A fitted PCA detector.
#[derive(Debug, Clone)]
pub struct FittedPca {
    config: PcaConfig,
    n_features: usize,
    /// Standardisation mean and scale (0 and 1 when not standardising).
    mean: Vec<f64>,
    scale: Vec<f64>,
    /// Selected components as rows, `n_selected × d`.
    components: Vec<f64>,
    /// Divisor of each selected component's distance.
    weights: Vec<f64>,
}

/// `‖a − b‖²` with independent accumulators so the loop vectorises.
fn sq_dist(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0f64; 4];
    let (a4, a_rest) = a.split_at(a.len() / 4 * 4);
    let (b4, b_rest) = b.split_at(a4.len());
    for (x, y) in a4.chunks_exact(4).zip(b4.chunks_exact(4)) {
        for l in 0..4 {
            let t = x[l] - y[l];
            acc[l] += t * t;
        }
    }
    let tail: f64 = a_rest
        .iter()
        .zip(b_rest)
        .map(|(x, y)| (x - y) * (x - y))
        .sum();
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

impl Scorer for PcaConfig {
    type Fitted = FittedPca;

    fn fit(&self, train: MatrixView<'_>) -> Result<FittedPca> {
        check::fit_input(train)?;
        let (n, d) = train.shape();
        if n < 2 {
            return Err(Error::Fit("PCA needs at least 2 training rows".into()));
        }
        let n_components = n.min(d);
        let n_selected = self.n_selected_components.unwrap_or(n_components);
        if n_selected == 0 || n_selected > n_components {
            return Err(Error::InvalidConfig {
                field: "n_selected_components",
                reason: format!("must be in 1..={n_components}, got {n_selected}"),
            });
        }
        let mut mean = vec![0.0f64; d];
        let mut scale = vec![1.0f64; d];
        if self.standardization {
            for row in train.iter_rows() {
                for (m, &v) in mean.iter_mut().zip(row) {
                    *m += f64::from(v);
                }
            }
            mean.iter_mut().for_each(|m| *m /= n as f64);
            let mut var = vec![0.0f64; d];
            for row in train.iter_rows() {
                for ((s, &v), m) in var.iter_mut().zip(row).zip(&mean) {
                    let t = f64::from(v) - m;
                    *s += t * t;
                }
            }
            for (s, v) in scale.iter_mut().zip(var) {
                let sd = (v / n as f64).sqrt();
                // scikit-learn's StandardScaler leaves constant features unscaled.
                *s = if sd < 10.0 * f64::EPSILON { 1.0 } else { sd };
            }
        }
        let z = standardize(train, &mean, &scale);
        // Covariance of z around its own mean (PCA centres even standardised data).
        let mut zmean = vec![0.0f64; d];
        for row in z.chunks_exact(d) {
            zmean.iter_mut().zip(row).for_each(|(m, v)| *m += v);
        }
        zmean.iter_mut().for_each(|m| *m /= n as f64);
        let cov = covariance(&z, &zmean, d);
        let eig = symmetric_eigen(&cov, d)?;
        // Descending variance, clipped at 0 like scikit-learn's covariance_eigh solver.
        let order: Vec<usize> = (0..d).rev().take(n_components).collect();
        let variances: Vec<f64> = order.iter().map(|&i| eig.values[i].max(0.0)).collect();
        let total: f64 = (0..d).map(|i| eig.values[i].max(0.0)).sum();
        let mut components = Vec::with_capacity(n_selected * d);
        let mut weights = Vec::with_capacity(n_selected);
        for (&i, &var) in order.iter().zip(&variances).skip(n_components - n_selected) {
            let v = eig.vector(i);
            let pivot = v
                .iter()
                .enumerate()
                .fold((0, 0.0f64), |best, (j, &x)| {
                    if x.abs() > best.1 {
                        (j, x.abs())
                    } else {
                        best
                    }
                })
                .0;
            let sign = if v[pivot] < 0.0 { -1.0 } else { 1.0 };
            components.extend(v.iter().map(|x| x * sign));
            // A numerically zero variance (collinear or constant features) has
            // an arbitrary direction; its term would swamp the score with noise.
            let negligible = var <= total * NEGLIGIBLE_VARIANCE;
            weights.push(match (negligible, self.weighted) {
                (true, _) => 0.0,
                (false, true) => var / total,
                (false, false) => 1.0,
            });
        }
        Ok(FittedPca {
            config: self.clone(),
            n_features: d,
            mean,
            scale,
            components,
            weights,
        })
    }
}

fn standardize(x: MatrixView<'_>, mean: &[f64], scale: &[f64]) -> Vec<f64> {
    let mut z = Vec::with_capacity(x.rows() * x.cols());
    for row in x.iter_rows() {
        z.extend(
            row.iter()
                .zip(mean)
                .zip(scale)
                .map(|((&v, m), s)| (f64::from(v) - m) / s),
        );
    }
    z
}

fn covariance(z: &[f64], mean: &[f64], d: usize) -> Vec<f64> {
    let n = z.len() / d;
    let mut cov = z
        .par_chunks(d * 256)
        .map(|block| {
            let mut acc = vec![0.0f64; d * d];
            for row in block.chunks_exact(d) {
                let c: Vec<f64> = row.iter().zip(mean).map(|(v, m)| v - m).collect();
                for (a, &ca) in c.iter().enumerate() {
                    for (t, &cb) in acc[a * d..a * d + a + 1].iter_mut().zip(&c[..=a]) {
                        *t += ca * cb;
                    }
                }
            }
            acc
        })
        .reduce(
            || vec![0.0f64; d * d],
            |mut a, b| {
                a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                a
            },
        );
    for a in 0..d {
        for b in 0..=a {
            let v = cov[a * d + b] / (n as f64 - 1.0);
            cov[a * d + b] = v;
            cov[b * d + a] = v;
        }
    }
    cov
}

impl FittedScorer for FittedPca {
    fn n_features(&self) -> usize {
        self.n_features
    }

    /// Components with (numerically) zero explained variance, from constant or
    /// collinear features, are left out: PyOD divides by their ~1e-30 variance
    /// ratio, so its scores there are rounding noise or infinite.
    fn score(&self, x: MatrixView<'_>) -> Result<Vec<f64>> {
        check::score_input(x, self.n_features)?;
        let d = self.n_features;
        let z = standardize(x, &self.mean, &self.scale);
        Ok(z.par_chunks(d.max(1))
            .map(|row| {
                self.components
                    .chunks_exact(d)
                    .zip(&self.weights)
                    .filter(|(_, &w)| w > 0.0)
                    .map(|(v, w)| sq_dist(row, v).sqrt() / w)
                    .sum()
            })
            .collect())
    }

    fn state(&self) -> Result<State> {
        let d = self.n_features;
        let mut s = State::new(self.config.clone());
        s.put_f64("mean", &[d], self.mean.clone())?
            .put_f64("scale", &[d], self.scale.clone())?
            .put_f64(
                "components",
                &[self.weights.len(), d],
                self.components.clone(),
            )?
            .put_f64("weights", &[self.weights.len()], self.weights.clone())?;
        Ok(s)
    }
}

impl FittedPca {
    /// Rebuilds a fitted PCA from a [`State`] made by [`FittedScorer::state`].
    pub fn from_state(config: PcaConfig, state: &mut State) -> Result<Self> {
        let (_, mean) = state.take_f64("mean")?;
        let (_, scale) = state.take_f64("scale")?;
        let (shape, components) = state.take_f64("components")?;
        let (_, weights) = state.take_f64("weights")?;
        let d = mean.len();
        if d == 0 || scale.len() != d || shape != [weights.len(), d] {
            return Err(Error::Corrupt("PCA arrays have inconsistent shapes".into()));
        }
        Ok(Self {
            config,
            n_features: d,
            mean,
            scale,
            components,
            weights,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ssad_core::Matrix;

    #[test]
    fn defaults_are_pyods() {
        let c = PcaConfig::default();
        assert_eq!(c.n_selected_components, None);
        assert!(c.weighted && c.standardization);
        assert_eq!(serde_json::from_str::<PcaConfig>("{}").unwrap(), c);
    }

    #[test]
    fn components_follow_sklearns_conventions() {
        let rows: Vec<[f32; 3]> = (0..40)
            .map(|i| [i as f32, (i * i % 7) as f32, -(i as f32) + (i % 3) as f32])
            .collect();
        let x = Matrix::from_rows(&rows).unwrap();
        let f = PcaConfig::default().fit(x.view()).unwrap();
        assert!((f.weights.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(f.weights.windows(2).all(|w| w[0] >= w[1]));
        for v in f.components.chunks_exact(3) {
            assert!((v.iter().map(|a| a * a).sum::<f64>() - 1.0).abs() < 1e-12);
            let max = v
                .iter()
                .fold(0.0f64, |m, a| if a.abs() > m.abs() { *a } else { m });
            assert!(max > 0.0);
        }
    }

    #[test]
    fn constant_columns_keep_scores_finite() {
        let x = Matrix::from_rows(&[[1.0f32, 5.0], [2.0, 5.0], [4.0, 5.0]]).unwrap();
        let f = PcaConfig::default().fit(x.view()).unwrap();
        assert!(f.score(x.view()).unwrap().iter().all(|v| v.is_finite()));
    }
}
