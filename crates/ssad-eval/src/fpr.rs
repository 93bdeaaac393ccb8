//! False-positive rate at a fixed detection rate (FPR95 and friends).

use crate::error::{Error, Result};
use crate::input::labelled;
use crate::percentile::percentile_of_finite;
use crate::ranking::Ranking;

/// FPR at the first ROC operating point whose TPR reaches `target_tpr`, anomaly = positive.
///
/// Definition: let t be the largest score such that the fraction of anomalies scoring `>= t`
/// is at least `target_tpr`; the result is the fraction of normals scoring `>= t`. This is the
/// smallest FPR among thresholds that detect at least `target_tpr` of the anomalies, i.e.
/// `fpr[np.searchsorted(tpr, target_tpr)]` on
/// `sklearn.metrics.roc_curve(labels, scores, drop_intermediate=False)` (no interpolation
/// between ROC points). `fpr_at_tpr(scores, labels, 0.95)` is the usual FPR95 with anomalies
/// as positives.
///
/// SSD (Sehwag et al., 2021) reports a different FPR95, with *normals* as positives; see
/// [`ssd_fpr95`].
///
/// # Errors
/// As [`auroc`](crate::auroc), plus [`Error::InvalidParameter`] unless `0 < target_tpr <= 1`.
pub fn fpr_at_tpr<S: Copy + Into<f64>>(
    scores: &[S],
    labels: &[bool],
    target_tpr: f64,
) -> Result<f64> {
    check_target_tpr(target_tpr)?;
    let (values, _) = labelled(scores, labels)?;
    Ok(Ranking::new(&values, labels).fpr_at_tpr(target_tpr))
}

pub(crate) fn check_target_tpr(target_tpr: f64) -> Result<()> {
    if target_tpr > 0.0 && target_tpr <= 1.0 {
        Ok(())
    } else {
        Err(Error::InvalidParameter {
            name: "target_tpr",
            reason: format!("must lie in (0, 1], got {target_tpr}"),
        })
    }
}

impl Ranking {
    pub(crate) fn fpr_at_tpr(&self, target_tpr: f64) -> f64 {
        let (mut true_pos, mut false_pos) = (0u64, 0u64);
        for g in &self.groups {
            true_pos += g.anomalies;
            false_pos += g.normals;
            // Same division and comparison as numpy on sklearn's tpr array.
            if true_pos as f64 / self.anomalies as f64 >= target_tpr {
                break;
            }
        }
        false_pos as f64 / self.normals as f64
    }
}

/// SSD's "FPR at TPR 95%" (`get_fpr` in inspire-group/SSD `eval_ssd.py`): the fraction of
/// anomalies scoring strictly below the 95th percentile (`numpy.percentile`, linear) of the
/// normal scores.
///
/// Here the *normals* are the positives: the threshold accepts 95% of normals as normal and
/// the result is the fraction of anomalies that are accepted as well. It generally differs from
/// [`fpr_at_tpr`]`(.., 0.95)`; use it only to compare with numbers reported by SSD.
///
/// # Errors
/// As [`auroc`](crate::auroc).
pub fn ssd_fpr95<S: Copy + Into<f64>>(scores: &[S], labels: &[bool]) -> Result<f64> {
    let (values, counts) = labelled(scores, labels)?;
    let mut normal_scores: Vec<f64> = values
        .iter()
        .zip(labels)
        .filter(|(_, &is_anomaly)| !is_anomaly)
        .map(|(&s, _)| s)
        .collect();
    let threshold = percentile_of_finite(&mut normal_scores, 95.0);
    let accepted_anomalies = values
        .iter()
        .zip(labels)
        .filter(|(&s, &is_anomaly)| is_anomaly && s < threshold)
        .count();
    Ok(accepted_anomalies as f64 / counts.anomalies as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fpr95_on_a_hand_example() {
        // 20 anomalies at 1..=20, normals at 0.5, 10.5, 15.5, 30. TPR >= 0.95 needs 19
        // anomalies, i.e. threshold 2, which also passes normals 10.5, 15.5 and 30.
        let mut scores: Vec<f64> = (1..=20).map(f64::from).collect();
        scores.extend([0.5, 10.5, 15.5, 30.0]);
        let labels: Vec<bool> = (0..24).map(|i| i < 20).collect();
        assert_eq!(fpr_at_tpr(&scores, &labels, 0.95).unwrap(), 0.75);
        assert_eq!(fpr_at_tpr(&scores, &labels, 1.0).unwrap(), 0.75);
        assert_eq!(fpr_at_tpr(&scores, &labels, 0.05).unwrap(), 0.25);
    }

    #[test]
    fn target_tpr_is_validated() {
        for t in [0.0, -1.0, 1.5, f64::NAN] {
            assert!(matches!(
                fpr_at_tpr(&[1.0, 2.0], &[true, false], t),
                Err(Error::InvalidParameter {
                    name: "target_tpr",
                    ..
                })
            ));
        }
    }

    #[test]
    fn ssd_fpr95_counts_anomalies_below_normal_percentile() {
        // Normals 0..=19 => 95th percentile 18.05; anomalies 5 and 18 are below it, 19 is not.
        let mut scores: Vec<f64> = (0..20).map(f64::from).collect();
        scores.extend([5.0, 18.0, 19.0, 25.0]);
        let labels: Vec<bool> = (0..24).map(|i| i >= 20).collect();
        assert_eq!(ssd_fpr95(&scores, &labels).unwrap(), 0.5);
    }
}
