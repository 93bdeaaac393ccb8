//! Turning scores into decisions: PyOD's contamination threshold and GOAD's F1 protocol.
//!
//! The threshold lives here, outside every detector, so a detector only has to produce scores
//! (PyOD instead makes each of its models call `_process_decision_scores`).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::input::{finite_scores, labelled, ClassCounts};
use crate::percentile::percentile_of_finite;

/// A decision threshold fitted on training scores: scores strictly above it are anomalies.
///
/// ```
/// use ssad_eval::Threshold;
/// let train = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0];
/// let threshold = Threshold::from_contamination(&train, 0.1)?;
/// assert!((threshold.value() - 0.91).abs() < 1e-12);
/// assert_eq!(threshold.predict(&[0.5, 0.95])?, vec![false, true]);
/// # Ok::<(), ssad_eval::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Threshold {
    value: f64,
}

impl Threshold {
    /// PyOD's `threshold_`: the `100 * (1 - contamination)` percentile of the training scores
    /// (`numpy.percentile`, linear interpolation; see [`percentile`](crate::percentile)).
    ///
    /// # Errors
    /// [`Error::ContaminationOutOfRange`] unless `0 < contamination <= 0.5` (PyOD's range);
    /// [`Error::Empty`] or [`Error::NonFinite`] for bad training scores.
    pub fn from_contamination<S: Copy + Into<f64>>(
        train_scores: &[S],
        contamination: f64,
    ) -> Result<Self> {
        if !(contamination > 0.0 && contamination <= 0.5) {
            return Err(Error::ContaminationOutOfRange(contamination));
        }
        let mut values = finite_scores(train_scores)?;
        let value = percentile_of_finite(&mut values, 100.0 * (1.0 - contamination));
        Ok(Self { value })
    }

    /// The threshold itself.
    pub fn value(&self) -> f64 {
        self.value
    }

    /// `score > threshold` for every score (true = anomaly), as PyOD's `predict`.
    ///
    /// # Errors
    /// [`Error::NonFinite`] for a NaN or infinite score: it has no meaningful side of the
    /// threshold. Empty input gives an empty vector.
    pub fn predict<S: Copy + Into<f64>>(&self, scores: &[S]) -> Result<Vec<bool>> {
        scores
            .iter()
            .enumerate()
            .map(|(index, &s)| {
                let value: f64 = s.into();
                if value.is_finite() {
                    Ok(value > self.value)
                } else {
                    Err(Error::NonFinite { index, value })
                }
            })
            .collect()
    }
}

/// Precision, recall and F1 of one thresholded prediction, anomaly = positive.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct F1Report {
    /// Scores `>=` this value were predicted anomalous.
    pub threshold: f64,
    /// True positives / predicted positives (0 when nothing is predicted positive).
    pub precision: f64,
    /// True positives / actual anomalies.
    pub recall: f64,
    /// Harmonic mean of precision and recall, `2 TP / (2 TP + FP + FN)` (0 when TP = 0).
    pub f1: f64,
}

/// F1 at the test contamination ratio, the protocol of GOAD (Bergman & Hoshen, 2020) and of
/// Zong et al.'s DAGMM tabular benchmarks.
///
/// The threshold is the `100 * n_normal / n` percentile of the *test* scores (`numpy.percentile`,
/// linear interpolation), so about as many samples are flagged as there are anomalies; a sample
/// is predicted anomalous when its score is `>=` the threshold (note: `>=`, unlike
/// [`Threshold::predict`]). Precision, recall and F1 then equal
/// `sklearn.metrics.precision_recall_fscore_support(labels, predicted, average='binary')`.
///
/// Note this uses the test labels to pick the threshold (only through the class ratio), as
/// GOAD does; use [`Threshold`] for a threshold fitted on training data.
///
/// # Errors
/// As [`auroc`](crate::auroc).
pub fn f1_at_contamination<S: Copy + Into<f64>>(scores: &[S], labels: &[bool]) -> Result<F1Report> {
    let (values, counts) = labelled(scores, labels)?;
    Ok(f1_of_validated(&values, labels, counts))
}

/// [`f1_at_contamination`] of already validated input.
pub(crate) fn f1_of_validated(values: &[f64], labels: &[bool], counts: ClassCounts) -> F1Report {
    let normal_percent = 100.0 * counts.normals as f64 / values.len() as f64;
    let mut scratch = values.to_vec();
    let threshold = percentile_of_finite(&mut scratch, normal_percent);
    f1_at_threshold(values, labels, threshold)
}

fn f1_at_threshold(values: &[f64], labels: &[bool], threshold: f64) -> F1Report {
    let (mut true_pos, mut false_pos, mut false_neg) = (0usize, 0usize, 0usize);
    for (&score, &is_anomaly) in values.iter().zip(labels) {
        match (score >= threshold, is_anomaly) {
            (true, true) => true_pos += 1,
            (true, false) => false_pos += 1,
            (false, true) => false_neg += 1,
            (false, false) => {}
        }
    }
    let ratio = |num: usize, den: usize| {
        if den == 0 {
            0.0
        } else {
            num as f64 / den as f64
        }
    };
    F1Report {
        threshold,
        precision: ratio(true_pos, true_pos + false_pos),
        recall: ratio(true_pos, true_pos + false_neg),
        f1: ratio(2 * true_pos, 2 * true_pos + false_pos + false_neg),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contamination_range_is_enforced() {
        let train = [1.0, 2.0, 3.0];
        for c in [0.0, -0.1, 0.5000001, 1.0, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                Threshold::from_contamination(&train, c),
                Err(Error::ContaminationOutOfRange(_))
            ));
        }
        assert!(Threshold::from_contamination(&train, 0.5).is_ok());
        assert!(Threshold::from_contamination(&train, 1e-9).is_ok());
    }

    #[test]
    fn threshold_rejects_bad_scores() {
        assert_eq!(
            Threshold::from_contamination::<f32>(&[], 0.1),
            Err(Error::Empty)
        );
        let threshold = Threshold::from_contamination(&[1.0f32, 2.0], 0.1).unwrap();
        assert!(matches!(
            threshold.predict(&[0.0, f64::NAN]),
            Err(Error::NonFinite { index: 1, .. })
        ));
        assert_eq!(threshold.predict::<f64>(&[]), Ok(vec![]));
    }

    #[test]
    fn predict_is_strictly_above() {
        let threshold = Threshold::from_contamination(&[1.0, 1.0, 1.0], 0.5).unwrap();
        assert_eq!(threshold.value(), 1.0);
        assert_eq!(
            threshold.predict(&[1.0, 1.0 + 1e-12]).unwrap(),
            vec![false, true]
        );
    }

    #[test]
    fn f1_flags_ties_at_the_threshold() {
        // 2 of 4 normal => 50th percentile of [1, 2, 2, 3] = 2; scores >= 2 are flagged.
        let report = f1_at_contamination(&[1.0, 2.0, 2.0, 3.0], &[false, false, true, true]);
        let report = report.unwrap();
        assert_eq!(report.threshold, 2.0);
        assert_eq!(report.precision, 2.0 / 3.0);
        assert_eq!(report.recall, 1.0);
        assert_eq!(report.f1, 0.8);
    }
}
