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
//!
//! A row needs all `M x M` distances (KDDRev: 256 x 256 in 128 dimensions),
//! so they come from one f64 GEMM per row, `|z_m|^2 + |c_m'|^2 - 2 z_m . c_m'`,
//! not from `M^2` difference loops; f64 keeps the cancellation error of that
//! form far below the score's scale (tested against the direct sum).

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use ssad_core::{Matrix, MatrixView};

use crate::distance::dot_block;
use crate::linalg::{column_means, dot};
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
    /// `|c_m|^2`, one per center.
    center_sq: Vec<f64>,
    dim: usize,
}

/// Per-thread scratch of [`FittedCenter::score_row`].
struct RowBuffers {
    /// The row's `M x D` features in f64.
    z: Vec<f64>,
    /// `M x M`: `z_m . c_m'`, then the distances.
    dist: Vec<f64>,
}

impl Scorer for CenterConfig {
    type Fitted = FittedCenter;

    /// Centers are the per-block means of the training rows.
    fn fit(&self, train: MatrixView<'_>) -> Result<FittedCenter> {
        self.validate()?;
        check::fit_input(train)?;
        let dim = block_width(self.n_transforms, train.cols())?;
        Ok(FittedCenter::with_centers(
            self.clone(),
            column_means(train),
            dim,
        ))
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
        let values = centers.as_slice().iter().map(|&v| f64::from(v)).collect();
        Ok(Self::with_centers(config, values, centers.cols()))
    }

    fn with_centers(config: CenterConfig, centers: Vec<f64>, dim: usize) -> Self {
        let center_sq = centers.chunks_exact(dim).map(|c| dot(c, c)).collect();
        Self {
            config,
            centers,
            center_sq,
            dim,
        }
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
            [m, dim] if m == config.n_transforms && dim > 0 && centers.len() == m * dim => {
                Ok(Self::with_centers(config, centers, dim))
            }
            _ => Err(Error::Corrupt(format!("`centers` has shape {shape:?}"))),
        }
    }

    fn score_row(&self, row: &[f32], buf: &mut RowBuffers) -> f64 {
        let m = self.config.n_transforms;
        for (a, &b) in buf.z.iter_mut().zip(row) {
            *a = f64::from(b);
        }
        // dist[t, m'] = z_t . c_m' for every pair at once.
        dot_block(&buf.z, &self.centers, self.dim, &mut buf.dist, 0.0, 1.0);
        let mut total = 0.0;
        for (t, (z, dist)) in buf
            .z
            .chunks_exact(self.dim)
            .zip(buf.dist.chunks_exact_mut(m))
            .enumerate()
        {
            let z_sq = dot(z, z);
            for (d, c_sq) in dist.iter_mut().zip(&self.center_sq) {
                // eps >= 0, so the max also clears a rounding-negative distance.
                *d = (z_sq + c_sq - 2.0 * *d).max(self.config.eps);
            }
            // -log softmax(-d)[t] = d_t + log sum exp(-d), shifted by min d.
            let min = dist.iter().fold(f64::INFINITY, |a, &b| a.min(b));
            let lse: f64 = dist.iter().map(|&d| (min - d).exp()).sum::<f64>().ln() - min;
            total += dist[t] + lse;
        }
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
            .map_init(
                || RowBuffers {
                    z: vec![0.0; m * self.dim],
                    dist: vec![0.0; m * m],
                },
                |buf, row| self.score_row(row, buf),
            )
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

    /// The GEMM form against the direct `sum (z - c)^2` loops, on features far
    /// from the origin (where `|z|^2 + |c|^2 - 2 z.c` cancels most).
    #[test]
    fn gemm_distances_match_the_direct_sum() {
        let (m, dim, rows) = (5, 7, 4);
        let wave = |i: usize, f: f64| (i as f64 * f).sin() as f32;
        let centers: Vec<f32> = (0..m * dim).map(|i| 40.0 + wave(i, 0.7)).collect();
        let x: Vec<f32> = (0..rows * m * dim)
            .map(|i| 40.0 + 1.5 * wave(i, 1.3))
            .collect();
        for eps in [0.0, 2.0] {
            let cfg = CenterConfig {
                n_transforms: m,
                eps,
            };
            let c = Matrix::new(centers.clone(), m, dim).unwrap();
            let got = FittedCenter::from_centers(cfg, &c)
                .unwrap()
                .score(MatrixView::new(&x, rows, m * dim).unwrap())
                .unwrap();
            for (r, g) in got.iter().enumerate() {
                let row = &x[r * m * dim..(r + 1) * m * dim];
                let mut want = 0.0;
                for (t, z) in row.chunks_exact(dim).enumerate() {
                    let d: Vec<f64> = centers
                        .chunks_exact(dim)
                        .map(|c| {
                            let sq: f64 = z
                                .iter()
                                .zip(c)
                                .map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2))
                                .sum();
                            sq.max(eps)
                        })
                        .collect();
                    let lse = d.iter().map(|&v| (-v).exp()).sum::<f64>().ln();
                    want += d[t] + lse;
                }
                assert!(
                    (g - want).abs() < 1e-9 * want.abs().max(1.0),
                    "{g} vs {want}"
                );
            }
        }
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
