//! GOAD's center-distance score (Bergman & Hoshen 2020, `opt_tc_tabular.py`).
//!
//! # Input layout
//!
//! Rows are `(N, M * D)`: for each sample, the feature `f(T_m(x))` of each of
//! the `M` transformations, concatenated (block `m` is columns
//! `m * D..(m + 1) * D`). This is GOAD's `zs` of shape `(N, D, M)` after its
//! `permute(0, 2, 1)`, flattened.
//!
//! With `d_mm' = max(|f_m(x) - c_m'|^2, eps)`, the score is
//! `sum_m -log softmax_m'(-d_mm')[m]` (a numerically stable log-softmax),
//! higher = more anomalous. GOAD's centers `c_m` are the means over the last
//! epoch's batch means; [`FittedCenter::from_centers`] takes them as given,
//! while [`Scorer::fit`] uses the mean over the training rows.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use ssad_core::{Matrix, MatrixView};

use crate::linalg::column_means;
use crate::persist::State;
use crate::softmax::block_width;
use crate::{check, Error, FittedScorer, Result, Scorer};

/// GOAD center-distance config; defaults are GOAD's (tabular `M = 256`, `eps = 0`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CenterConfig {
    /// Number of transformations `M`.
    pub n_transforms: usize,
    /// Floor on squared distances (GOAD's `--eps`; 0 disables it).
    pub eps: f64,
}

impl Default for CenterConfig {
    fn default() -> Self {
        Self {
            n_transforms: 256,
            eps: 0.0,
        }
    }
}

impl CenterConfig {
    fn validate(&self) -> Result<()> {
        check::positive("n_transforms", self.n_transforms)?;
        if !(self.eps.is_finite() && self.eps >= 0.0) {
            return Err(Error::InvalidConfig {
                field: "eps",
                reason: format!("must be finite and >= 0, got {}", self.eps),
            });
        }
        Ok(())
    }
}

/// A fitted center scorer: one center per transformation.
#[derive(Debug, Clone)]
pub struct FittedCenter {
    config: CenterConfig,
    /// `M x D`, row-major.
    centers: Vec<f64>,
    dim: usize,
}

impl Scorer for CenterConfig {
    type Fitted = FittedCenter;

    /// Centers are the per-block means of the training rows.
    fn fit(&self, train: MatrixView<'_>) -> Result<FittedCenter> {
        self.validate()?;
        check::fit_input(train)?;
        let dim = block_width(self.n_transforms, train.cols())?;
        Ok(FittedCenter {
            config: self.clone(),
            centers: column_means(train),
            dim,
        })
    }
}

impl FittedCenter {
    /// A scorer with given centers (`M x D`, row `m` = `c_m`), e.g. GOAD's
    /// last-epoch batch means. `config.n_transforms` must equal `M`.
    pub fn from_centers(config: CenterConfig, centers: &Matrix) -> Result<Self> {
        config.validate()?;
        centers.view().check_non_empty()?;
        centers.view().check_finite()?;
        if centers.rows() != config.n_transforms {
            return Err(Error::InvalidInput(format!(
                "{} centers for n_transforms = {}",
                centers.rows(),
                config.n_transforms
            )));
        }
        Ok(Self {
            config,
            centers: centers.as_slice().iter().map(|&v| f64::from(v)).collect(),
            dim: centers.cols(),
        })
    }

    /// The centers, `M x D` row-major.
    pub fn centers(&self) -> &[f64] {
        &self.centers
    }

    /// Rebuilds the scorer from a [`State`] made by [`FittedScorer::state`].
    pub fn from_state(config: CenterConfig, state: &mut State) -> Result<Self> {
        config.validate()?;
        let (shape, centers) = state.take_f64("centers")?;
        match shape[..] {
            [m, dim] if m == config.n_transforms && dim > 0 => Ok(Self {
                config,
                centers,
                dim,
            }),
            _ => Err(Error::Corrupt(format!("`centers` has shape {shape:?}"))),
        }
    }

    fn score_row(&self, row: &[f32], dist: &mut [f64]) -> f64 {
        let m = self.config.n_transforms;
        let mut total = 0.0;
        for (t, z) in row.chunks_exact(self.dim).enumerate() {
            for (d, c) in dist.iter_mut().zip(self.centers.chunks_exact(self.dim)) {
                let sq: f64 = z
                    .iter()
                    .zip(c)
                    .map(|(&a, b)| (f64::from(a) - b).powi(2))
                    .sum();
                *d = sq.max(self.config.eps);
            }
            // -log softmax(-d)[t] = d_t + log sum exp(-d), shifted by min d.
            let min = dist.iter().fold(f64::INFINITY, |a, &b| a.min(b));
            let lse: f64 = dist.iter().map(|&d| (min - d).exp()).sum::<f64>().ln() - min;
            total += dist[t] + lse;
        }
        debug_assert_eq!(dist.len(), m);
        total
    }
}

impl FittedScorer for FittedCenter {
    fn n_features(&self) -> usize {
        self.config.n_transforms * self.dim
    }

    fn score(&self, x: MatrixView<'_>) -> Result<Vec<f64>> {
        check::score_input(x, self.n_features())?;
        let m = self.config.n_transforms;
        Ok(x.as_slice()
            .par_chunks(self.n_features())
            .map_init(|| vec![0.0f64; m], |dist, row| self.score_row(row, dist))
            .collect())
    }

    fn state(&self) -> Result<State> {
        let mut s = State::new(self.config.clone());
        s.put_f64(
            "centers",
            &[self.config.n_transforms, self.dim],
            self.centers.clone(),
        )?;
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_goads() {
        let c = CenterConfig::default();
        assert_eq!((c.n_transforms, c.eps), (256, 0.0));
        assert_eq!(serde_json::from_str::<CenterConfig>("{}").unwrap(), c);
    }

    #[test]
    fn a_row_at_its_centers_beats_a_swapped_one() {
        let centers = Matrix::new(vec![0.0, 0.0, 5.0, 5.0], 2, 2).unwrap();
        let cfg = CenterConfig {
            n_transforms: 2,
            eps: 0.0,
        };
        let f = FittedCenter::from_centers(cfg, &centers).unwrap();
        let x = Matrix::new(vec![0.0, 0.0, 5.0, 5.0, 5.0, 5.0, 0.0, 0.0], 2, 4).unwrap();
        let s = f.score(x.view()).unwrap();
        // Exact: each block contributes log(1 + exp(-50)) at its own center.
        let want = 2.0 * (-50.0f64).exp().ln_1p();
        assert!((s[0] - want).abs() < 1e-15);
        assert!(s[1] > 99.0);
    }

    #[test]
    fn mismatched_centers_are_rejected() {
        let centers = Matrix::new(vec![0.0; 6], 3, 2).unwrap();
        let cfg = CenterConfig {
            n_transforms: 2,
            eps: 0.0,
        };
        assert!(FittedCenter::from_centers(cfg, &centers).is_err());
    }
}
