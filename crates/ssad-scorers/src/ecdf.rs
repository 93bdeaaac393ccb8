//! ECOD and COPOD: tail probabilities from per-feature empirical CDFs (PyOD).
//!
//! For each feature, `U_l = −ln F(x)` and `U_r = −ln F̄(x)` with `F` the ECDF
//! (`#{x_i ≤ x} / n`) and `F̄` the ECDF of `−x`; the feature's skewness sign picks
//! `U_skew` (left tail for negative skew, right for positive, their sum for
//! zero). ECOD sums `max(U_l, U_r, U_skew)`, COPOD `max(U_skew, (U_l + U_r)/2)`.
//!
//! As PyOD, scoring new rows recomputes the ECDFs over the training rows *and*
//! the new rows together, so the training rows are part of the fitted state.
//! A constant feature has undefined skewness (PyOD's scores become NaN); here
//! it contributes 0, since both of its tails have probability 1.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use ssad_core::{Matrix, MatrixView};

use crate::persist::State;
use crate::{check, Error, FittedScorer, Result, Scorer};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Combine {
    Ecod,
    Copod,
}

/// ECOD config (PyOD `ECOD`; it has no parameters).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EcodConfig {}

/// COPOD config (PyOD `COPOD`; it has no parameters).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CopodConfig {}

/// A fitted ECOD: the training rows.
#[derive(Debug, Clone)]
pub struct FittedEcod {
    train: Matrix,
}

/// A fitted COPOD: the training rows.
#[derive(Debug, Clone)]
pub struct FittedCopod {
    train: Matrix,
}

/// Sign of scipy's biased skewness of `v`, or `None` where scipy returns NaN
/// (a numerically constant column).
fn skew_sign(v: &[f64]) -> Option<f64> {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let (m2, m3) = v.iter().fold((0.0, 0.0), |(a, b), &x| {
        let t = x - mean;
        (a + t * t, b + t * t * t)
    });
    let (m2, m3) = (m2 / n, m3 / n);
    // scipy.stats.skew: variance below (resolution · mean)² counts as zero.
    if m2 <= (1e-15 * mean).powi(2) {
        return None;
    }
    let s = m3 / m2.powf(1.5);
    Some(if s > 0.0 {
        1.0
    } else if s < 0.0 {
        -1.0
    } else {
        0.0
    })
}

/// Per-row sums of the combined tail scores over the columns of `rows`
/// (`n × d` row-major), for the last `keep` rows.
fn tail_scores(rows: &[f32], d: usize, keep: usize, combine: Combine) -> Vec<f64> {
    let n = rows.len() / d;
    let per_column: Vec<Vec<f64>> = (0..d)
        .into_par_iter()
        .map(|j| {
            let col: Vec<f64> = rows.chunks_exact(d).map(|r| f64::from(r[j])).collect();
            let Some(sign) = skew_sign(&col) else {
                return vec![0.0; keep];
            };
            let mut order: Vec<u32> = (0..n as u32).collect();
            order.sort_unstable_by(|&a, &b| col[a as usize].total_cmp(&col[b as usize]));
            // Rank counts: below[i] = #{x ≤ col[i]}, above[i] = #{x ≥ col[i]}.
            let mut below = vec![0usize; n];
            let mut above = vec![0usize; n];
            let mut start = 0;
            while start < n {
                let v = col[order[start] as usize];
                let mut end = start + 1;
                while end < n && col[order[end] as usize] == v {
                    end += 1;
                }
                for &i in &order[start..end] {
                    below[i as usize] = end;
                    above[i as usize] = n - start;
                }
                start = end;
            }
            (n - keep..n)
                .map(|i| {
                    let ul = -(below[i] as f64 / n as f64).ln();
                    let ur = -(above[i] as f64 / n as f64).ln();
                    // PyOD: U_l·(−sign(s−1)) + U_r·sign(s+1).
                    let uskew =
                        ul * -(sign - 1.0).signum_or_zero() + ur * (sign + 1.0).signum_or_zero();
                    match combine {
                        Combine::Ecod => ul.max(ur).max(uskew),
                        Combine::Copod => uskew.max((ul + ur) / 2.0),
                    }
                })
                .collect()
        })
        .collect();
    (0..keep)
        .map(|i| per_column.iter().map(|c| c[i]).sum())
        .collect()
}

trait SignumOrZero {
    fn signum_or_zero(self) -> f64;
}

impl SignumOrZero for f64 {
    /// numpy's `sign`: 0 at 0, unlike `f64::signum`.
    fn signum_or_zero(self) -> f64 {
        if self == 0.0 {
            0.0
        } else {
            self.signum()
        }
    }
}

/// Scores `x` against `train` by ECDFs over both together.
fn score_with_train(train: &Matrix, x: MatrixView<'_>, combine: Combine) -> Result<Vec<f64>> {
    check::score_input(x, train.cols())?;
    if x.rows() == 0 {
        return Ok(Vec::new());
    }
    let mut all = Vec::with_capacity((train.rows() + x.rows()) * train.cols());
    all.extend_from_slice(train.as_slice());
    all.extend_from_slice(x.as_slice());
    Ok(tail_scores(&all, train.cols(), x.rows(), combine))
}

fn restore_train(state: &mut State) -> Result<Matrix> {
    let train = state.take_matrix("train")?;
    check::fit_input(train.view()).map_err(|e| Error::Corrupt(e.to_string()))?;
    Ok(train)
}

macro_rules! ecdf_scorer {
    ($config:ty, $fitted:ident, $combine:expr) => {
        impl Scorer for $config {
            type Fitted = $fitted;

            fn fit(&self, train: MatrixView<'_>) -> Result<$fitted> {
                check::fit_input(train)?;
                Ok($fitted {
                    train: train.to_matrix(),
                })
            }

            /// Training rows are scored by the ECDFs of the training rows alone.
            fn fit_score(&self, train: MatrixView<'_>) -> Result<($fitted, Vec<f64>)> {
                let fitted = self.fit(train)?;
                let scores = tail_scores(train.as_slice(), train.cols(), train.rows(), $combine);
                Ok((fitted, scores))
            }
        }

        impl FittedScorer for $fitted {
            fn n_features(&self) -> usize {
                self.train.cols()
            }

            fn score(&self, x: MatrixView<'_>) -> Result<Vec<f64>> {
                score_with_train(&self.train, x, $combine)
            }

            fn state(&self) -> Result<State> {
                let mut s = State::new(<$config>::default());
                s.put_matrix("train", &self.train)?;
                Ok(s)
            }
        }

        impl $fitted {
            /// Rebuilds the fitted scorer from a [`State`] made by [`FittedScorer::state`].
            pub fn from_state(_config: $config, state: &mut State) -> Result<Self> {
                Ok(Self {
                    train: restore_train(state)?,
                })
            }
        }
    };
}

ecdf_scorer!(EcodConfig, FittedEcod, Combine::Ecod);
ecdf_scorer!(CopodConfig, FittedCopod, Combine::Copod);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecdf_counts_ties_like_pyod() {
        // One column [1, 2, 2, 3]: F = [.25, .75, .75, 1], F̄ = [1, .75, .75, .25].
        // Skewness 0 -> U_skew = U_l + U_r.
        let s = tail_scores(&[1.0, 2.0, 2.0, 3.0], 1, 4, Combine::Ecod);
        let l = |p: f64| -p.ln();
        let want = [l(0.25), l(0.75) + l(0.75), l(0.75) + l(0.75), l(0.25)];
        for (a, b) in s.iter().zip(want) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
    }

    #[test]
    fn constant_column_contributes_nothing() {
        let s = tail_scores(&[2.0, 2.0, 2.0], 1, 3, Combine::Copod);
        assert_eq!(s, vec![0.0; 3]);
    }

    #[test]
    fn extreme_rows_score_highest() {
        let x = Matrix::from_rows(&[[0.0f32], [1.0], [1.5], [2.0], [2.2], [40.0]]).unwrap();
        for combine in [Combine::Ecod, Combine::Copod] {
            let s = tail_scores(x.as_slice(), 1, 6, combine);
            let best = s
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .unwrap()
                .0;
            assert_eq!(best, 5);
        }
    }
}
