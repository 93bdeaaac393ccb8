//! Gaussian kernel density (PyOD `KDE`, i.e. scikit-learn's `KernelDensity`).
//!
//! The score is the negative log density, `-score_samples(x)`, summed exactly
//! over all training rows (scikit-learn with `atol = rtol = 0`). Squared
//! distances come from `f64` GEMM blocks and each row keeps a running
//! log-sum-exp, so memory is O(block²).

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use ssad_core::{Matrix, MatrixView};

use crate::distance::{dot_block, SERIAL_WORK};
use crate::persist::State;
use crate::{check, Error, FittedScorer, Result, Scorer};

const QUERY_BLOCK: usize = 64;
const REF_BLOCK: usize = 1024;
/// Terms more than this below a row's largest log-kernel add less than one
/// f64 rounding step (e^-37 < 2^-53), so their approximate values suffice.
const EXACT_WINDOW: f64 = 37.0;

/// `‖a − b‖²` with independent accumulators so the loop vectorises.
fn sq_dist(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0f64; 4];
    let split = a.len() / 4 * 4;
    for (x, y) in a[..split].chunks_exact(4).zip(b[..split].chunks_exact(4)) {
        for l in 0..4 {
            let t = x[l] - y[l];
            acc[l] += t * t;
        }
    }
    let tail: f64 = a[split..]
        .iter()
        .zip(&b[split..])
        .map(|(x, y)| (x - y) * (x - y))
        .sum();
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// KDE config; the default bandwidth is PyOD's 1.0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KdeConfig {
    /// Gaussian kernel bandwidth `h`.
    pub bandwidth: f64,
}

impl Default for KdeConfig {
    fn default() -> Self {
        Self { bandwidth: 1.0 }
    }
}

/// A fitted KDE: the training rows.
#[derive(Debug, Clone)]
pub struct FittedKde {
    config: KdeConfig,
    train: Matrix,
    /// Training rows in `f64`, for the GEMM.
    train64: Vec<f64>,
    sq_norms: Vec<f64>,
}

fn to_f64(x: &[f32]) -> Vec<f64> {
    x.iter().map(|&v| f64::from(v)).collect()
}

fn row_sq_norms(x: &[f64], d: usize) -> Vec<f64> {
    x.chunks_exact(d)
        .map(|r| r.iter().map(|v| v * v).sum())
        .collect()
}

impl FittedKde {
    fn new(config: KdeConfig, train: Matrix) -> Self {
        let train64 = to_f64(train.as_slice());
        let sq_norms = row_sq_norms(&train64, train.cols());
        Self {
            config,
            train,
            train64,
            sq_norms,
        }
    }

    /// Rebuilds a fitted KDE from a [`State`] made by [`FittedScorer::state`].
    pub fn from_state(config: KdeConfig, state: &mut State) -> Result<Self> {
        let train = state.take_matrix("train")?;
        check::positive_real("bandwidth", config.bandwidth)?;
        check::fit_input(train.view()).map_err(|e| Error::Corrupt(e.to_string()))?;
        Ok(Self::new(config, train))
    }
}

impl Scorer for KdeConfig {
    type Fitted = FittedKde;

    fn fit(&self, train: MatrixView<'_>) -> Result<FittedKde> {
        check::positive_real("bandwidth", self.bandwidth)?;
        check::fit_input(train)?;
        Ok(FittedKde::new(self.clone(), train.to_matrix()))
    }
}

impl FittedScorer for FittedKde {
    fn n_features(&self) -> usize {
        self.train.cols()
    }

    fn score(&self, x: MatrixView<'_>) -> Result<Vec<f64>> {
        check::score_input(x, self.n_features())?;
        let d = self.n_features();
        let n = self.train.rows();
        let h = self.config.bandwidth;
        let scale = -0.5 / (h * h);
        // log of the Gaussian normalisation and of 1/n, as scikit-learn's `_log_kernel_norm`.
        let log_norm = -0.5 * d as f64 * (2.0 * std::f64::consts::PI).ln()
            - d as f64 * h.ln()
            - (n as f64).ln();
        let mut out = vec![0.0f64; x.rows()];
        let score_block = |(block, out): (usize, &mut [f64])| {
            let first = block * QUERY_BLOCK;
            let rows = out.len();
            let q = to_f64(&x.as_slice()[first * d..(first + rows) * d]);
            let q_norms = row_sq_norms(&q, d);
            let mut max = vec![f64::NEG_INFINITY; rows];
            let mut sum = vec![0.0f64; rows];
            let mut dots = vec![0.0f64; rows * REF_BLOCK.min(n)];
            for ref_first in (0..n).step_by(REF_BLOCK) {
                let ref_rows = REF_BLOCK.min(n - ref_first);
                let r = &self.train64[ref_first * d..(ref_first + ref_rows) * d];
                dot_block(&q, r, d, &mut dots, 0.0, 1.0);
                let r_norms = &self.sq_norms[ref_first..ref_first + ref_rows];
                for i in 0..rows {
                    let row = &mut dots[i * ref_rows..(i + 1) * ref_rows];
                    let mut block_max = f64::NEG_INFINITY;
                    for (v, &rn) in row.iter_mut().zip(r_norms) {
                        *v = scale * (q_norms[i] + rn - 2.0 * *v).max(0.0);
                        block_max = block_max.max(*v);
                    }
                    // The terms near the maximum decide the sum; recompute them
                    // from differences, so a row's distance to itself is exactly 0
                    // (the expansion leaves ~1e-13·|x|² of noise, which decides
                    // the ranking when every other term underflows next to it).
                    let cut = block_max.max(max[i]) - EXACT_WINDOW;
                    let qrow = &q[i * d..(i + 1) * d];
                    block_max = f64::NEG_INFINITY;
                    for (jj, v) in row.iter_mut().enumerate() {
                        if *v > cut {
                            *v = scale * sq_dist(qrow, &r[jj * d..(jj + 1) * d]);
                        }
                        block_max = block_max.max(*v);
                    }
                    if block_max > max[i] {
                        sum[i] *= (max[i] - block_max).exp();
                        max[i] = block_max;
                    }
                    let m = max[i];
                    sum[i] += row.iter().map(|&v| (v - m).exp()).sum::<f64>();
                }
            }
            for i in 0..rows {
                out[i] = -(max[i] + sum[i].ln() + log_norm);
            }
        };
        if x.rows().saturating_mul(n).saturating_mul(d) <= SERIAL_WORK {
            out.chunks_mut(QUERY_BLOCK)
                .enumerate()
                .for_each(score_block);
        } else {
            out.par_chunks_mut(QUERY_BLOCK)
                .enumerate()
                .for_each(score_block);
        }
        Ok(out)
    }

    fn state(&self) -> Result<State> {
        let mut s = State::new(self.config.clone());
        s.put_matrix("train", &self.train)?;
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_pyods() {
        assert_eq!(KdeConfig::default().bandwidth, 1.0);
        assert_eq!(
            serde_json::from_str::<KdeConfig>("{}").unwrap(),
            KdeConfig::default()
        );
    }

    #[test]
    fn one_point_gives_the_gaussian_log_density() {
        let train = Matrix::new(vec![0.0, 0.0], 1, 2).unwrap();
        let f = KdeConfig { bandwidth: 2.0 }.fit(train.view()).unwrap();
        let x = Matrix::new(vec![1.0, 2.0], 1, 2).unwrap();
        // -log N(x; 0, 4 I) in 2-D = log(2π·4) + |x|²/8.
        let want = (2.0 * std::f64::consts::PI * 4.0).ln() + 5.0 / 8.0;
        assert!((f.score(x.view()).unwrap()[0] - want).abs() < 1e-12);
    }

    #[test]
    fn self_distance_is_exact_in_high_dimension() {
        // Two far-apart rows with large norms: each row's density is its own
        // kernel term (exactly 1) plus ~0, so both scores must be identical.
        let mut data = vec![30.0f32; 1000];
        data.extend((0..1000).map(|i| 30.0 + (i % 7) as f32));
        let x = Matrix::new(data, 2, 1000).unwrap();
        let s = KdeConfig::default()
            .fit(x.view())
            .unwrap()
            .score(x.view())
            .unwrap();
        assert_eq!(s[0], s[1]);
    }

    #[test]
    fn far_points_do_not_underflow_to_infinity() {
        let train = Matrix::new(vec![0.0], 1, 1).unwrap();
        let f = KdeConfig::default().fit(train.view()).unwrap();
        let x = Matrix::new(vec![1000.0], 1, 1).unwrap();
        let s = f.score(x.view()).unwrap()[0];
        assert!(s.is_finite() && s > 4.9e5);
        assert!(KdeConfig { bandwidth: 0.0 }.fit(train.view()).is_err());
    }
}
