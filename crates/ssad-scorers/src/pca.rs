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
//!
//! Both the covariance and the scores' dot products are `f64` GEMMs: the
//! per-row loops they replace ran at a fraction of the speed (a 19,020 x 10
//! fit and score took 2.6 ms, scikit-learn 6.8 ms). `‖z − v‖² = ‖z‖² + 1 −
//! 2 z·v` for a unit `v` loses about `1e-16 ‖z‖²` to cancellation, far below
//! the agreement with PyOD the tests ask for.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use ssad_core::MatrixView;

use crate::distance::{dot_block, multiversion, SERIAL_WORK};
use crate::numpy_sum::numpy_sum;

/// PCA's passes run on the calling thread up to this many `rows × d × d`
/// (`rows × d × k` when scoring). Besides the GEMM each row costs a
/// standardisation and a square root per component, so two threads pay off
/// sooner than for the distance search: idle, one vs two threads, letter
/// (1,600 × 32) 0.62 / 0.53 ms, Waveform (3,443 × 21) 0.76 / 0.59 ms, but
/// PageBlocks (5,393 × 10, 0.54 M) 0.52 / 0.55 ms.
const PCA_SERIAL_WORK: usize = SERIAL_WORK / 8;
use crate::linalg::symmetric_eigen;
use crate::persist::State;
use crate::{check, Error, FittedScorer, Result, Scorer};

/// Rows per block of scoring: a block's `rows × components` dot products
/// stay small whatever the data's size.
const SCORE_BLOCK: usize = 512;

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
        // Covariance of z around its own mean (PCA centres even standardised data).
        let mut centred = Vec::with_capacity(n * d);
        standardize_into(train, &mean, &scale, &mut centred);
        let mut zmean = vec![0.0f64; d];
        for row in centred.chunks_exact(d) {
            zmean.iter_mut().zip(row).for_each(|(m, &z)| *m += z);
        }
        zmean.iter_mut().for_each(|m| *m /= n as f64);
        for row in centred.chunks_exact_mut(d) {
            row.iter_mut().zip(&zmean).for_each(|(v, m)| *v -= m);
        }
        let cov = covariance(&centred, d);
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

multiversion! {
    /// `terms[j] = ‖z − v_j‖ / w_j` from `z·v_j`, `‖v_j‖²` and `‖z‖²`. A
    /// division and a square root per term, one after the other in the sum,
    /// took a third of PCA's time on letter; here they run as vector ops.
    fn component_terms(terms: &mut [f64], dots: &[f64], norms: &[f64], inverse_weights: &[f64], z2: f64) {
        for (((t, &dot), &v2), &iw) in terms.iter_mut().zip(dots).zip(norms).zip(inverse_weights) {
            *t = (z2 + v2 - 2.0 * dot).max(0.0).sqrt() * iw;
        }
    }
}

/// Appends the standardised rows of `x` to `z` (cleared first).
fn standardize_into(x: MatrixView<'_>, mean: &[f64], scale: &[f64], z: &mut Vec<f64>) {
    z.clear();
    for row in x.iter_rows() {
        z.extend(
            row.iter()
                .zip(mean)
                .zip(scale)
                .map(|((&v, m), s)| (f64::from(v) - m) / s),
        );
    }
}

/// The sample covariance of the already centred row-major rows `centred`.
fn covariance(centred: &[f64], d: usize) -> Vec<f64> {
    let n = centred.len() / d;
    let mut cov = vec![0.0f64; d * d];
    let parallelism = if n.saturating_mul(d).saturating_mul(d) <= PCA_SERIAL_WORK {
        gemm::Parallelism::None
    } else {
        gemm::Parallelism::Rayon(0)
    };
    // `cov = Cᵀ C` for the row-major `n × d` matrix `C` (`centred`).
    // SAFETY: `cov` holds `d × d` values and `centred` `n × d`; the strides
    // below address exactly those (lhs `Cᵀ`: element (i, l) at `l d + i`; rhs
    // `C`: element (l, j) at `l d + j`; dst row-major). `read_dst` is false, so
    // `cov`'s contents are never read.
    unsafe {
        gemm::gemm(
            d,
            d,
            n,
            cov.as_mut_ptr(),
            1,
            d as isize,
            false,
            centred.as_ptr(),
            d as isize,
            1,
            centred.as_ptr(),
            1,
            d as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
    // The GEMM's two triangles may round differently: keep one, as eigh reads one.
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
        // Only the components that count; their squared norms are ~1 but are
        // taken as computed, so the distance is exact up to the cancellation.
        let (mut kept, mut weights, mut norms) = (Vec::new(), Vec::new(), Vec::new());
        for (v, &w) in self.components.chunks_exact(d).zip(&self.weights) {
            if w > 0.0 {
                kept.extend_from_slice(v);
                weights.push(w);
                norms.push(v.iter().map(|a| a * a).sum::<f64>());
            }
        }
        let k = weights.len();
        let inverse_weights: Vec<f64> = weights.iter().map(|w| 1.0 / w).collect();
        let mut scores = vec![0.0f64; x.rows()];
        if k == 0 {
            return Ok(scores);
        }
        // Rows are standardised a block at a time: a whole standardised copy
        // of a large input cost more in page faults than in arithmetic.
        let score_block = |(block, out): (usize, &mut [f64])| {
            let first = block * SCORE_BLOCK;
            let raw = &x.as_slice()[first * d..(first + out.len()) * d];
            let mut rows = Vec::with_capacity(raw.len());
            if let Ok(view) = MatrixView::new(raw, out.len(), d) {
                standardize_into(view, &self.mean, &self.scale, &mut rows);
            }
            let mut dots = vec![0.0f64; out.len() * k];
            dot_block(&rows, &kept, d, &mut dots, 0.0, 1.0);
            let mut terms = vec![0.0f64; k];
            for ((row, dot_row), score) in rows.chunks_exact(d).zip(dots.chunks_exact(k)).zip(out) {
                let z2: f64 = row.iter().map(|a| a * a).sum();
                component_terms(&mut terms, dot_row, &norms, &inverse_weights, z2);
                *score = numpy_sum(&terms);
            }
        };
        if x.rows().saturating_mul(d).saturating_mul(k) <= PCA_SERIAL_WORK {
            scores
                .chunks_mut(SCORE_BLOCK)
                .enumerate()
                .for_each(score_block);
        } else {
            scores
                .par_chunks_mut(SCORE_BLOCK)
                .enumerate()
                .for_each(score_block);
        }
        Ok(scores)
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
