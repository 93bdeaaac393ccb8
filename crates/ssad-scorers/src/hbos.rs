//! Histogram-based outlier score (PyOD `HBOS` with static bins).
//!
//! Each feature gets `n_bins` equal-width bins over its training range
//! (`numpy.histogram(density=True)`); a row scores `−Σ log2(density + alpha)`
//! over features. Values left or right of the range use the edge bin when they
//! lie within `tol` bin widths of it, else the lowest density. Bin membership
//! follows PyOD exactly, including its mix of half-open `[a, b)` bins for
//! counting and `(a, b]` bins (`numpy.digitize(right=True)`) for scoring.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use ssad_core::MatrixView;

use crate::persist::State;
use crate::{check, Error, FittedScorer, Result, Scorer};

/// HBOS config; defaults are PyOD's (`n_bins=10`, `alpha=0.1`, `tol=0.5`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HbosConfig {
    /// Bins per feature (at least 2).
    pub n_bins: usize,
    /// Added to every density before the log, so empty bins stay finite.
    pub alpha: f64,
    /// How far outside the range, in bin widths, a value still uses the edge bin.
    pub tol: f64,
}

impl Default for HbosConfig {
    fn default() -> Self {
        Self {
            n_bins: 10,
            alpha: 0.1,
            tol: 0.5,
        }
    }
}

/// A fitted HBOS: per-feature bin edges and densities.
#[derive(Debug, Clone)]
pub struct FittedHbos {
    config: HbosConfig,
    n_features: usize,
    /// `d × (n_bins + 1)` edges.
    edges: Vec<f64>,
    /// `d × n_bins` values of `log2(density + alpha)`.
    log_density: Vec<f64>,
}

/// `numpy.histogram(x, bins, density=True)` for one column: (edges, densities).
fn histogram(values: &[f64], bins: usize) -> (Vec<f64>, Vec<f64>) {
    let (mut lo, mut hi) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    if lo == hi {
        lo -= 0.5;
        hi += 0.5;
    }
    // numpy.linspace: start + i * step, with the last edge set to stop exactly.
    let step = (hi - lo) / bins as f64;
    let mut edges: Vec<f64> = (0..=bins).map(|i| i as f64 * step + lo).collect();
    edges[bins] = hi;
    let mut counts = vec![0u64; bins];
    for &v in values {
        // Bins are [e_i, e_{i+1}), the last one closed: count the interior edges <= v.
        let b = edges[1..bins].partition_point(|&e| e <= v);
        counts[b] += 1;
    }
    let n = values.len() as f64;
    let density = counts
        .iter()
        .zip(edges.windows(2))
        .map(|(&c, w)| c as f64 / (w[1] - w[0]) / n)
        .collect();
    (edges, density)
}

impl Scorer for HbosConfig {
    type Fitted = FittedHbos;

    fn fit(&self, train: MatrixView<'_>) -> Result<FittedHbos> {
        if self.n_bins < 2 {
            return Err(Error::InvalidConfig {
                field: "n_bins",
                reason: format!("must be at least 2, got {}", self.n_bins),
            });
        }
        check::positive_real("alpha", self.alpha)?;
        if !(self.tol.is_finite() && self.tol >= 0.0) {
            return Err(Error::InvalidConfig {
                field: "tol",
                reason: format!("must be finite and >= 0, got {}", self.tol),
            });
        }
        check::fit_input(train)?;
        let d = train.cols();
        let per_feature: Vec<(Vec<f64>, Vec<f64>)> = (0..d)
            .into_par_iter()
            .map(|j| {
                let column: Vec<f64> = train.iter_rows().map(|r| f64::from(r[j])).collect();
                let (edges, density) = histogram(&column, self.n_bins);
                let log_density = density.iter().map(|p| (p + self.alpha).log2()).collect();
                (edges, log_density)
            })
            .collect();
        let (edges, log_density): (Vec<_>, Vec<_>) = per_feature.into_iter().unzip();
        Ok(FittedHbos {
            config: self.clone(),
            n_features: d,
            edges: edges.concat(),
            log_density: log_density.concat(),
        })
    }
}

impl FittedHbos {
    fn feature_score(&self, j: usize, v: f64) -> f64 {
        let bins = self.config.n_bins;
        let edges = &self.edges[j * (bins + 1)..(j + 1) * (bins + 1)];
        let logp = &self.log_density[j * bins..(j + 1) * bins];
        let lowest = || logp.iter().copied().fold(f64::INFINITY, f64::min);
        // numpy.digitize(right=True): 0 if v <= e_0, bins + 1 if v > e_bins.
        let pos = edges.partition_point(|&e| e < v);
        if pos == 0 {
            if edges[0] - v <= (edges[1] - edges[0]) * self.config.tol {
                logp[0]
            } else {
                lowest()
            }
        } else if pos == bins + 1 {
            if v - edges[bins] <= (edges[bins] - edges[bins - 1]) * self.config.tol {
                logp[bins - 1]
            } else {
                lowest()
            }
        } else {
            logp[pos - 1]
        }
    }

    /// Rebuilds a fitted HBOS from a [`State`] made by [`FittedScorer::state`].
    pub fn from_state(config: HbosConfig, state: &mut State) -> Result<Self> {
        let (shape, edges) = state.take_f64("edges")?;
        let (lshape, log_density) = state.take_f64("log_density")?;
        let bins = config.n_bins;
        match (&shape[..], &lshape[..]) {
            (&[d, e], &[d2, b]) if d == d2 && e == bins + 1 && b == bins && d > 0 && bins >= 2 => {
                Ok(Self {
                    config,
                    n_features: d,
                    edges,
                    log_density,
                })
            }
            _ => Err(Error::Corrupt("HBOS arrays do not match n_bins".into())),
        }
    }
}

impl FittedScorer for FittedHbos {
    fn n_features(&self) -> usize {
        self.n_features
    }

    fn score(&self, x: MatrixView<'_>) -> Result<Vec<f64>> {
        check::score_input(x, self.n_features)?;
        Ok(x.as_slice()
            .par_chunks(self.n_features)
            .map(|row| {
                -row.iter()
                    .enumerate()
                    .map(|(j, &v)| self.feature_score(j, f64::from(v)))
                    .sum::<f64>()
            })
            .collect())
    }

    fn state(&self) -> Result<State> {
        let (d, b) = (self.n_features, self.config.n_bins);
        let mut s = State::new(self.config.clone());
        s.put_f64("edges", &[d, b + 1], self.edges.clone())?
            .put_f64("log_density", &[d, b], self.log_density.clone())?;
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ssad_core::Matrix;

    #[test]
    fn defaults_are_pyods() {
        let c = HbosConfig::default();
        assert_eq!((c.n_bins, c.alpha, c.tol), (10, 0.1, 0.5));
        assert_eq!(serde_json::from_str::<HbosConfig>("{}").unwrap(), c);
    }

    #[test]
    fn histogram_matches_numpy() {
        // numpy.histogram([0, 1, 1, 2, 10], bins=5, density=True)
        // -> edges [0, 2, 4, 6, 8, 10], densities [0.3, 0.1, 0, 0, 0.1].
        let (e, p) = histogram(&[0.0, 1.0, 1.0, 2.0, 10.0], 5);
        assert_eq!(e, vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        let want = [0.3, 0.1, 0.0, 0.0, 0.1];
        for (a, b) in p.iter().zip(want) {
            assert!((a - b).abs() < 1e-15);
        }
    }

    #[test]
    fn rare_values_score_higher_and_constant_columns_work() {
        let x = Matrix::from_rows(&[[0.0f32, 3.0], [0.1, 3.0], [0.2, 3.0], [5.0, 3.0]]).unwrap();
        let (_, s) = HbosConfig::default().fit_score(x.view()).unwrap();
        assert!(s.iter().all(|v| v.is_finite()));
        let f = HbosConfig::default().fit(x.view()).unwrap();
        let far = f
            .score(Matrix::from_rows(&[[100.0f32, 3.0]]).unwrap().view())
            .unwrap();
        assert!(far[0] >= s[0]);
        assert!(HbosConfig {
            n_bins: 1,
            ..HbosConfig::default()
        }
        .fit(x.view())
        .is_err());
    }
}
