//! Ranking metrics: AUROC, average precision and the ROC curve.
//!
//! All of them are functions of the scores sorted in decreasing order with ties grouped, the
//! same construction as scikit-learn's `_binary_clf_curve`. Sorting is the only O(n log n) step;
//! every metric is then one O(n) pass over the tie groups.

use rayon::slice::ParallelSliceMut;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::input::labelled;

/// Below this many scores a sequential sort beats the cost of spawning rayon tasks.
const PARALLEL_SORT_MIN_LEN: usize = 1 << 15;

/// All samples sharing one score, in a ranking sorted by decreasing score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct TieGroup {
    pub(crate) score: f64,
    pub(crate) anomalies: u64,
    pub(crate) normals: u64,
}

/// Scores sorted decreasingly with ties grouped, plus the class totals.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Ranking {
    pub(crate) groups: Vec<TieGroup>,
    pub(crate) anomalies: u64,
    pub(crate) normals: u64,
}

/// Order-preserving map from finite f64 to u64: integer comparison of keys is numeric
/// comparison of scores, and -0.0 is folded into 0.0 so equal keys are exactly equal scores.
/// Sorting plain integers is about twice as fast as sorting f64 with `total_cmp`.
fn sort_key(score: f64) -> u64 {
    let bits = (score + 0.0).to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

fn score_of_key(key: u64) -> f64 {
    f64::from_bits(if key >> 63 == 1 {
        key & !(1 << 63)
    } else {
        !key
    })
}

fn sorted_keys(values: &[f64], labels: &[bool], class: bool) -> Vec<u64> {
    let mut keys: Vec<u64> = values
        .iter()
        .zip(labels)
        .filter(|(_, &is_anomaly)| is_anomaly == class)
        .map(|(&score, _)| sort_key(score))
        .collect();
    if keys.len() >= PARALLEL_SORT_MIN_LEN {
        keys.par_sort_unstable();
    } else {
        keys.sort_unstable();
    }
    keys
}

/// Groups validated scores by value in decreasing order, calling `visit(group_index,
/// is_anomaly)` once per sample so callers can map samples to groups.
///
/// Each class is sorted on its own and the two sorted lists are merged from the top, which
/// visits every tie group (across both classes) exactly once.
pub(crate) fn rank_ties(
    values: &[f64],
    labels: &[bool],
    mut visit: impl FnMut(usize, bool),
) -> Vec<TieGroup> {
    let anomaly_keys = sorted_keys(values, labels, true);
    let normal_keys = sorted_keys(values, labels, false);
    let (mut anomalies, mut normals) = (anomaly_keys.as_slice(), normal_keys.as_slice());
    let mut groups: Vec<TieGroup> = Vec::new();
    loop {
        let key = match (anomalies.last(), normals.last()) {
            (Some(&a), Some(&n)) => a.max(n),
            (Some(&a), None) => a,
            (None, Some(&n)) => n,
            (None, None) => break,
        };
        let index = groups.len();
        let mut group = TieGroup {
            score: score_of_key(key),
            anomalies: 0,
            normals: 0,
        };
        while let Some((_, rest)) = anomalies.split_last().filter(|(&k, _)| k == key) {
            anomalies = rest;
            group.anomalies += 1;
            visit(index, true);
        }
        while let Some((_, rest)) = normals.split_last().filter(|(&k, _)| k == key) {
            normals = rest;
            group.normals += 1;
            visit(index, false);
        }
        groups.push(group);
    }
    groups
}

/// The chance that a random anomaly outscores a random normal, counting ties as one half,
/// for tie groups in decreasing score order holding `anomalies` and `normals` samples in total.
pub(crate) fn auroc_of_groups(groups: &[TieGroup], anomalies: u64, normals: u64) -> f64 {
    // Twice the U statistic in integers, so the result is rounded once, at the division.
    let mut twice_u: u128 = 0;
    let mut normals_above: u64 = 0;
    for g in groups {
        let normals_below = normals - normals_above - g.normals;
        twice_u += u128::from(g.anomalies) * u128::from(2 * normals_below + g.normals);
        normals_above += g.normals;
    }
    let pairs = 2 * u128::from(anomalies) * u128::from(normals);
    twice_u as f64 / pairs as f64
}

impl Ranking {
    /// Ranks validated scores; `labels` has the same length as `values`.
    pub(crate) fn new(values: &[f64], labels: &[bool]) -> Self {
        Self::from_groups(rank_ties(values, labels, |_, _| {}))
    }

    pub(crate) fn from_groups(groups: Vec<TieGroup>) -> Self {
        let anomalies = groups.iter().map(|g| g.anomalies).sum();
        let normals = groups.iter().map(|g| g.normals).sum();
        Self {
            groups,
            anomalies,
            normals,
        }
    }

    /// Mann-Whitney U / (P N); assumes both classes are present.
    pub(crate) fn auroc(&self) -> f64 {
        auroc_of_groups(&self.groups, self.anomalies, self.normals)
    }

    /// Σ_k (R_k − R_{k−1}) P_k over decreasing thresholds, as scikit-learn (no interpolation).
    pub(crate) fn average_precision(&self) -> f64 {
        let (mut true_pos, mut false_pos) = (0u64, 0u64);
        let mut weighted_precision = 0.0;
        for g in &self.groups {
            true_pos += g.anomalies;
            false_pos += g.normals;
            if g.anomalies > 0 {
                let precision = true_pos as f64 / (true_pos + false_pos) as f64;
                weighted_precision += g.anomalies as f64 * precision;
            }
        }
        weighted_precision / self.anomalies as f64
    }

    pub(crate) fn roc_curve(&self) -> RocCurve {
        let len = self.groups.len() + 1;
        let mut curve = RocCurve {
            fpr: Vec::with_capacity(len),
            tpr: Vec::with_capacity(len),
            thresholds: Vec::with_capacity(len),
        };
        curve.fpr.push(0.0);
        curve.tpr.push(0.0);
        curve.thresholds.push(f64::INFINITY);
        let (mut true_pos, mut false_pos) = (0u64, 0u64);
        for g in &self.groups {
            true_pos += g.anomalies;
            false_pos += g.normals;
            curve.fpr.push(false_pos as f64 / self.normals as f64);
            curve.tpr.push(true_pos as f64 / self.anomalies as f64);
            curve.thresholds.push(g.score);
        }
        curve
    }
}

/// Area under the ROC curve, with anomalies as the positive class.
///
/// Equals `sklearn.metrics.roc_auc_score(labels, scores)`: the Mann-Whitney U statistic divided
/// by (#anomalies × #normals), where tied anomaly/normal pairs count one half (mid-ranks). This is
/// the same number as the trapezoidal area under [`roc_curve`]. O(n log n); a class with 32 768 or
/// more scores is sorted in parallel with rayon.
///
/// Scores may be any type that widens to f64 (f32, f64, integers); all arithmetic is in f64.
///
/// # Errors
/// [`Error::Empty`](crate::Error::Empty), [`Error::LengthMismatch`](crate::Error::LengthMismatch),
/// [`Error::NonFinite`](crate::Error::NonFinite) for NaN/Inf scores, and
/// [`Error::SingleClass`](crate::Error::SingleClass) when all labels are equal.
pub fn auroc<S: Copy + Into<f64>>(scores: &[S], labels: &[bool]) -> Result<f64> {
    let (values, _) = labelled(scores, labels)?;
    Ok(Ranking::new(&values, labels).auroc())
}

/// Average precision with anomalies as the positive class.
///
/// Equals `sklearn.metrics.average_precision_score(labels, scores)`: the step-wise sum
/// Σ_k (R_k − R_{k−1}) · P_k over the distinct score thresholds in decreasing order, where a
/// threshold t predicts "anomaly" for score ≥ t. No trapezoidal interpolation.
///
/// # Errors
/// As [`auroc`].
pub fn average_precision<S: Copy + Into<f64>>(scores: &[S], labels: &[bool]) -> Result<f64> {
    let (values, _) = labelled(scores, labels)?;
    Ok(Ranking::new(&values, labels).average_precision())
}

/// Points of the ROC curve (anomaly = positive), one per distinct score.
///
/// Matches `sklearn.metrics.roc_curve(labels, scores, drop_intermediate=False)` of
/// scikit-learn ≥ 1.3: `thresholds` are the distinct scores in decreasing order preceded by
/// `+inf`, and point `i` gives the rates of the rule `score >= thresholds[i]`, so the curve starts
/// at (0, 0) and ends at (1, 1). Collinear points are kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RocCurve {
    /// False-positive rate: fraction of normals with score ≥ threshold. Non-decreasing.
    pub fpr: Vec<f64>,
    /// True-positive rate: fraction of anomalies with score ≥ threshold. Non-decreasing.
    pub tpr: Vec<f64>,
    /// Decision thresholds, decreasing; the first is `f64::INFINITY`.
    pub thresholds: Vec<f64>,
}

impl RocCurve {
    /// Trapezoidal area under the curve (equal to [`auroc`] up to rounding).
    pub fn area(&self) -> f64 {
        self.fpr
            .windows(2)
            .zip(self.tpr.windows(2))
            .map(|(x, y)| (x[1] - x[0]) * (y[1] + y[0]) / 2.0)
            .sum()
    }
}

/// The ROC curve of `scores` against `labels`; see [`RocCurve`].
///
/// # Errors
/// As [`auroc`].
pub fn roc_curve<S: Copy + Into<f64>>(scores: &[S], labels: &[bool]) -> Result<RocCurve> {
    let (values, _) = labelled(scores, labels)?;
    Ok(Ranking::new(&values, labels).roc_curve())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    #[test]
    fn hand_computed_auroc_with_a_tie() {
        // Pairs (anomaly, normal): (0.8 vs 0.4) win, (0.8 vs 0.8) tie, (0.3 vs 0.4) loss,
        // (0.3 vs 0.8) loss => U = 1.5 of 4.
        let scores = [0.8f32, 0.3, 0.4, 0.8];
        let labels = [true, true, false, false];
        assert_eq!(auroc(&scores, &labels).unwrap(), 0.375);
    }

    #[test]
    fn hand_computed_average_precision() {
        // Ranking: a(0.9) n(0.8) a(0.7) => AP = 1/2 * 1 + 1/2 * 2/3.
        let ap = average_precision(&[0.9, 0.8, 0.7], &[true, false, true]).unwrap();
        assert!((ap - (0.5 + 1.0 / 3.0)).abs() < 1e-15);
    }

    #[test]
    fn curve_starts_at_origin_and_ends_at_one() {
        let curve = roc_curve(&[1, 2, 2, 3], &[false, true, false, true]).unwrap();
        assert_eq!(curve.thresholds, vec![f64::INFINITY, 3.0, 2.0, 1.0]);
        assert_eq!(curve.fpr, vec![0.0, 0.0, 0.5, 1.0]);
        assert_eq!(curve.tpr, vec![0.0, 0.5, 1.0, 1.0]);
        assert_eq!(curve.area(), 0.875);
    }

    #[test]
    fn sort_keys_preserve_order_and_round_trip() {
        let ordered = [
            f64::MIN,
            -1.5,
            -f64::MIN_POSITIVE,
            0.0,
            1e-300,
            2.0,
            f64::MAX,
        ];
        for pair in ordered.windows(2) {
            assert!(sort_key(pair[0]) < sort_key(pair[1]), "{pair:?}");
        }
        for x in ordered {
            assert_eq!(score_of_key(sort_key(x)), x);
        }
        assert_eq!(sort_key(-0.0), sort_key(0.0));
    }

    #[test]
    fn negative_zero_ties_with_zero() {
        assert_eq!(auroc(&[0.0, -0.0], &[true, false]).unwrap(), 0.5);
    }

    #[test]
    fn errors_on_bad_input() {
        assert_eq!(auroc::<f64>(&[], &[]), Err(Error::Empty));
        assert_eq!(
            auroc(&[1.0, 2.0], &[true]),
            Err(Error::LengthMismatch {
                scores: 2,
                labels: 1
            })
        );
        assert!(matches!(
            auroc(&[1.0, f64::NAN], &[true, false]),
            Err(Error::NonFinite { index: 1, .. })
        ));
        assert!(matches!(
            auroc(&[f32::NEG_INFINITY, 1.0], &[true, false]),
            Err(Error::NonFinite { index: 0, .. })
        ));
        assert_eq!(
            average_precision(&[1.0, 2.0], &[false, false]),
            Err(Error::SingleClass {
                anomalies: 0,
                normals: 2
            })
        );
        assert!(matches!(
            roc_curve(&[1.0], &[true]),
            Err(Error::SingleClass { .. })
        ));
    }
}
