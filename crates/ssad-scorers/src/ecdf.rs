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
/// A `u32` that orders finite `f32`s as `total_cmp` does, so a column sorts as
/// plain integers (no indirect comparisons through an index array).
fn sort_key(v: f32) -> u32 {
    let b = v.to_bits();
    if b >> 31 == 1 {
        !b
    } else {
        b | 0x8000_0000
    }
}

/// For each of the last `keep` entries `v` of `col`: `#{x ≤ v}` and `#{x ≥ v}`.
fn rank_counts(col: &[f32], keep: usize) -> (Vec<u32>, Vec<u32>) {
    let n = col.len();
    let key = |v: f32| sort_key(v + 0.0); // −0 == +0, as the ECDF compares them
                                          // Columns with few distinct values (ADBench has many binary or coarse
                                          // features; a sample of 256 entries tells): sort bare keys, which skips
                                          // runs of equal values, and find each entry's counts by a short binary
                                          // search among the distinct values.
    let mut sample: Vec<u32> = col[..n.min(256)].iter().map(|&v| key(v)).collect();
    sample.sort_unstable();
    sample.dedup();
    if sample.len() * 8 <= n.min(256) {
        let mut keys: Vec<u32> = col.iter().map(|&v| key(v)).collect();
        keys.sort_unstable();
        let mut distinct: Vec<u32> = Vec::new();
        // Entries up to and including each distinct value.
        let mut upto: Vec<u32> = Vec::new();
        for (p, &k) in keys.iter().enumerate() {
            if distinct.last() != Some(&k) {
                distinct.push(k);
                upto.push(0);
            }
            if let Some(u) = upto.last_mut() {
                *u = p as u32 + 1;
            }
        }
        return col[n - keep..]
            .iter()
            .map(|&v| {
                let u = distinct.partition_point(|&k| k < key(v));
                let before = if u == 0 { 0 } else { upto[u - 1] };
                (upto[u], n as u32 - before)
            })
            .unzip();
    }
    // Otherwise sort (key, row) pairs and hand each run of
    // equal keys its counts, with no search per entry.
    let mut order: Vec<u64> = col
        .iter()
        .enumerate()
        .map(|(i, &v)| (u64::from(key(v)) << 32) | i as u64)
        .collect();
    order.sort_unstable();
    let (mut below, mut above) = (vec![0u32; n], vec![0u32; n]);
    let mut start = 0;
    while start < n {
        let k = order[start] >> 32;
        let mut end = start + 1;
        while end < n && order[end] >> 32 == k {
            end += 1;
        }
        for &o in &order[start..end] {
            let row = (o & 0xFFFF_FFFF) as usize;
            below[row] = end as u32;
            above[row] = (n - start) as u32;
        }
        start = end;
    }
    (below.split_off(n - keep), above.split_off(n - keep))
}

fn tail_scores(rows: &[f32], d: usize, keep: usize, combine: Combine) -> Vec<f64> {
    let n = rows.len() / d;
    // −ln(c / n) for every count c: one logarithm per count instead of two per
    // entry, shared by all columns (the same expression, so the same values).
    let neg_log: Vec<f64> = (0..=n).map(|c| -(c as f64 / n as f64).ln()).collect();
    // Column-major copy, 16 columns (one cache line of each row) at a time, so
    // the per-column passes below read contiguous memory even for wide data.
    const COLS: usize = 16;
    let mut columns = vec![0.0f32; n * d];
    columns
        .par_chunks_mut(n * COLS)
        .enumerate()
        .for_each(|(b, block)| {
            let j0 = b * COLS;
            let width = block.len() / n;
            for (i, r) in rows.chunks_exact(d).enumerate() {
                for (jj, &v) in r[j0..j0 + width].iter().enumerate() {
                    block[jj * n + i] = v;
                }
            }
        });
    let per_column: Vec<Vec<f64>> = columns
        .par_chunks(n)
        .map(|col32| {
            let col: Vec<f64> = col32.iter().map(|&v| f64::from(v)).collect();
            let Some(sign) = skew_sign(&col) else {
                return vec![0.0; keep];
            };
            let (below, above) = rank_counts(col32, keep);
            // PyOD: U_l·(−sign(s−1)) + U_r·sign(s+1).
            let (wl, wr) = (
                -(sign - 1.0).signum_or_zero(),
                (sign + 1.0).signum_or_zero(),
            );
            below
                .iter()
                .zip(&above)
                .map(|(&b, &a)| {
                    let ul = neg_log[b as usize];
                    let ur = neg_log[a as usize];
                    let uskew = ul * wl + ur * wr;
                    match combine {
                        Combine::Ecod => ul.max(ur).max(uskew),
                        Combine::Copod => uskew.max((ul + ur) / 2.0),
                    }
                })
                .collect()
        })
        .collect();
    // Column by column, in column order: each row's sum adds its terms in the
    // same order as a per-row sum would.
    let mut total = vec![0.0f64; keep];
    for c in &per_column {
        total.iter_mut().zip(c).for_each(|(t, v)| *t += v);
    }
    total
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
    fn both_rank_count_paths_count_like_brute_force() {
        // Coarse (5 values, −0 and +0 among them: the binary-search path) and
        // mostly distinct (the sorted-pairs path) columns, keeping a tail.
        let coarse: Vec<f32> = (0..300)
            .map(|i| [0.0, -0.0, 1.5, -2.0, 7.0][(i * 7) % 5])
            .collect();
        let fine: Vec<f32> = (0..300).map(|i| ((i * 37) % 101) as f32 * 0.25).collect();
        for col in [coarse, fine] {
            let keep = 120;
            let (below, above) = rank_counts(&col, keep);
            for (t, &v) in col[col.len() - keep..].iter().enumerate() {
                assert_eq!(below[t] as usize, col.iter().filter(|&&x| x <= v).count());
                assert_eq!(above[t] as usize, col.iter().filter(|&&x| x >= v).count());
            }
        }
    }

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
