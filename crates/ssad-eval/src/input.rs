//! Validation shared by every metric: one pass turns user input into finite f64 values.

use crate::error::{Error, Result};

/// Widens scores to f64, rejecting empty input and NaN/Inf.
pub(crate) fn finite_scores<S: Copy + Into<f64>>(scores: &[S]) -> Result<Vec<f64>> {
    if scores.is_empty() {
        return Err(Error::Empty);
    }
    let widened: Vec<f64> = scores.iter().map(|&s| s.into()).collect();
    if let Some(index) = widened.iter().position(|v| !v.is_finite()) {
        return Err(Error::NonFinite {
            index,
            value: widened[index],
        });
    }
    Ok(widened)
}

/// Class counts of a validated labelled sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClassCounts {
    pub(crate) anomalies: usize,
    pub(crate) normals: usize,
}

/// Validates a labelled sample: finite scores, matching lengths, both classes present.
pub(crate) fn labelled<S: Copy + Into<f64>>(
    scores: &[S],
    labels: &[bool],
) -> Result<(Vec<f64>, ClassCounts)> {
    // Length first: a mismatch is the more fundamental mistake than a bad value.
    if scores.len() != labels.len() {
        return Err(Error::LengthMismatch {
            scores: scores.len(),
            labels: labels.len(),
        });
    }
    let values = finite_scores(scores)?;
    let anomalies = labels.iter().filter(|&&l| l).count();
    let normals = labels.len() - anomalies;
    if anomalies == 0 || normals == 0 {
        return Err(Error::SingleClass { anomalies, normals });
    }
    Ok((values, ClassCounts { anomalies, normals }))
}
