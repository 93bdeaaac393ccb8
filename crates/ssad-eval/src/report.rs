//! All headline metrics of one scored test set in one struct.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::input::labelled;
use crate::ranking::Ranking;
use crate::threshold::{f1_of_validated, F1Report};

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
    /// See [`f1_at_contamination`](crate::f1_at_contamination).
    pub f1_at_contamination: F1Report,
    /// [`fpr_at_tpr`](crate::fpr_at_tpr) at 95% TPR.
    pub fpr_at_95_tpr: f64,
}

impl fmt::Display for Report {
    /// One line, metrics with 4 decimals (or the `{:.P}` precision), e.g.
    /// `AUROC 0.9550  AP 0.8123  F1 0.7000 (P 0.7000 R 0.7000)  FPR@95%TPR 0.1200  n 1000 (100 anomalies)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = f.precision().unwrap_or(4);
        let f1 = &self.f1_at_contamination;
        write!(
            f,
            "AUROC {:.p$}  AP {:.p$}  F1 {:.p$} (P {:.p$} R {:.p$})  FPR@95%TPR {:.p$}  n {} ({} anomalies)",
            self.auroc,
            self.average_precision,
            f1.f1,
            f1.precision,
            f1.recall,
            self.fpr_at_95_tpr,
            self.n,
            self.n_anomalies,
        )
    }
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
        f1_at_contamination: f1_of_validated(&values, labels, counts),
        fpr_at_95_tpr: ranking.fpr_at_tpr(0.95),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_one_line() {
        let report = summary(&[0.1, 0.9, 0.2, 0.8], &[false, true, false, true]).unwrap();
        assert_eq!(
            format!("{report:.2}"),
            "AUROC 1.00  AP 1.00  F1 1.00 (P 1.00 R 1.00)  FPR@95%TPR 0.00  n 4 (2 anomalies)"
        );
    }
}
