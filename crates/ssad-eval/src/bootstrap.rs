//! Seeded, stratified bootstrap confidence intervals for AUROC.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::input::labelled;
use crate::percentile::percentile_of_finite;
use crate::ranking::{auroc_of_groups, rank_ties, Ranking, TieGroup};

/// Settings of [`bootstrap_auroc`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BootstrapConfig {
    /// Number of bootstrap resamples (default 1000, the customary choice, e.g. Efron &
    /// Tibshirani 1993 §13 for percentile intervals).
    pub n_resamples: usize,
    /// Coverage of the two-sided interval, in (0, 1) (default 0.95).
    pub confidence: f64,
}

impl Default for BootstrapConfig {
    fn default() -> Self {
        Self {
            n_resamples: 1000,
            confidence: 0.95,
        }
    }
}

impl BootstrapConfig {
    fn validate(&self) -> Result<()> {
        if self.n_resamples < 2 {
            return Err(Error::InvalidParameter {
                name: "n_resamples",
                reason: format!("need at least 2 resamples, got {}", self.n_resamples),
            });
        }
        if !(self.confidence > 0.0 && self.confidence < 1.0) {
            return Err(Error::InvalidParameter {
                name: "confidence",
                reason: format!("must lie in (0, 1), got {}", self.confidence),
            });
        }
        Ok(())
    }
}

/// A point estimate with a two-sided confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ConfidenceInterval {
    /// The metric on the full sample.
    pub estimate: f64,
    /// Lower end of the interval.
    pub lower: f64,
    /// Upper end of the interval.
    pub upper: f64,
    /// The interval's nominal coverage, e.g. 0.95.
    pub confidence: f64,
}

/// Percentile-bootstrap confidence interval for [`auroc`](crate::auroc).
///
/// Resampling is stratified: each resample draws #anomalies anomalies and #normals normals with
/// replacement from their own class, so class sizes are fixed and AUROC is always defined. The
/// interval is the `100 (1 − confidence) / 2` and `100 (1 + confidence) / 2` percentiles
/// (`numpy.percentile`, linear) of the resampled AUROCs.
///
/// Resample `b` draws from `ChaCha8Rng::seed_from_u64(seed)` on stream `b`, so the result
/// depends only on the inputs and `seed`, not on the number of rayon threads. Each resample
/// costs O(n) (the scores are sorted once and resamples only reweight the tie groups).
///
/// # Errors
/// As [`auroc`](crate::auroc), plus [`Error::InvalidParameter`] for a bad `config`.
pub fn bootstrap_auroc<S: Copy + Into<f64>>(
    scores: &[S],
    labels: &[bool],
    config: &BootstrapConfig,
    seed: u64,
) -> Result<ConfidenceInterval> {
    config.validate()?;
    let (values, _) = labelled(scores, labels)?;
    let mut anomaly_groups: Vec<usize> = Vec::new();
    let mut normal_groups: Vec<usize> = Vec::new();
    let groups = rank_ties(&values, labels, |group, is_anomaly| {
        if is_anomaly {
            anomaly_groups.push(group);
        } else {
            normal_groups.push(group);
        }
    });
    let template: Vec<TieGroup> = groups
        .iter()
        .map(|g| TieGroup {
            score: g.score,
            anomalies: 0,
            normals: 0,
        })
        .collect();
    let estimate = Ranking::from_groups(groups).auroc();
    let (n_anomalies, n_normals) = (anomaly_groups.len() as u64, normal_groups.len() as u64);

    let mut resampled: Vec<f64> = (0..config.n_resamples as u64)
        .into_par_iter()
        .map_init(
            || template.clone(),
            |counts, stream| {
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                rng.set_stream(stream);
                counts.iter_mut().for_each(|g| {
                    g.anomalies = 0;
                    g.normals = 0;
                });
                for _ in 0..anomaly_groups.len() {
                    counts[anomaly_groups[rng.random_range(0..anomaly_groups.len())]].anomalies +=
                        1;
                }
                for _ in 0..normal_groups.len() {
                    counts[normal_groups[rng.random_range(0..normal_groups.len())]].normals += 1;
                }
                auroc_of_groups(counts, n_anomalies, n_normals)
            },
        )
        .collect();

    let tail = 100.0 * (1.0 - config.confidence) / 2.0;
    let lower = percentile_of_finite(&mut resampled, tail);
    let upper = percentile_of_finite(&mut resampled, 100.0 - tail);
    Ok(ConfidenceInterval {
        estimate,
        lower,
        upper,
        confidence: config.confidence,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_pinned() {
        let config = BootstrapConfig::default();
        assert_eq!(config.n_resamples, 1000);
        assert_eq!(config.confidence, 0.95);
    }
}
