//! All headline metrics of one scored test set in one struct.

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::input::labelled;
use crate::ranking::Ranking;
use crate::threshold::{f1_at_contamination, F1Report};

/// The metrics the CLI prints for one run; anomalies are the positive class throughout.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Number of scored samples.
    pub n: usize,
    /// Number of anomalies among them.
    pub n_anomalies: usize,
    /// See [`auroc`](crate::auroc).
    pub auroc: f64,
    /// See [`average_precision`](crate::average_precision).
    pub average_precision: f64,
    /// See [`f1_at_contamination`].
    pub f1_at_contamination: F1Report,
    /// [`fpr_at_tpr`](crate::fpr_at_tpr) at 95% TPR.
    pub fpr_at_95_tpr: f64,
}

/// Computes every [`Report`] metric, sorting the scores only once.
///
/// # Errors
/// As [`auroc`](crate::auroc).
pub fn summary<S: Copy + Into<f64>>(scores: &[S], labels: &[bool]) -> Result<Report> {
    let (values, counts) = labelled(scores, labels)?;
    let ranking = Ranking::new(&values, labels);
    Ok(Report {
        n: values.len(),
        n_anomalies: counts.anomalies,
        auroc: ranking.auroc(),
        average_precision: ranking.average_precision(),
        f1_at_contamination: f1_at_contamination(&values, labels)?,
        fpr_at_95_tpr: ranking.fpr_at_tpr(0.95),
    })
}
