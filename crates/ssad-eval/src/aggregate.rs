//! Aggregating one metric over several runs (seeds, classes).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::input::finite_scores;

/// Mean and sample standard deviation of a metric over `n` runs, printed as `mean ± std`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MeanStd {
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation with Bessel's correction (ddof = 1, `numpy.std(x, ddof=1)`);
    /// 0 when `n == 1`.
    pub std: f64,
    /// Number of values aggregated.
    pub n: usize,
}

impl MeanStd {
    /// Aggregates `values` (e.g. one AUROC per seed).
    ///
    /// ```
    /// let agg = ssad_eval::MeanStd::from_values(&[0.90, 0.92, 0.94])?;
    /// assert!((agg.mean - 0.92).abs() < 1e-12 && (agg.std - 0.02).abs() < 1e-12);
    /// assert_eq!(agg.to_string(), "0.9200 ± 0.0200 (n = 3)");
    /// # Ok::<(), ssad_eval::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Empty`] for no values, [`Error::NonFinite`] for NaN/Inf.
    pub fn from_values<S: Copy + Into<f64>>(values: &[S]) -> Result<Self> {
        let values = finite_scores(values)?;
        let n = values.len();
        let mean = values.iter().sum::<f64>() / n as f64;
        let std = if n == 1 {
            0.0
        } else {
            // Two passes: summing squared deviations from the mean avoids the cancellation
            // of E[x²] − E[x]², which matters for AUROCs that agree to many digits.
            let squares: f64 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
            (squares / (n - 1) as f64).sqrt()
        };
        if !(mean.is_finite() && std.is_finite()) {
            return Err(Error::InvalidParameter {
                name: "values",
                reason: "mean or standard deviation overflows f64".to_owned(),
            });
        }
        Ok(Self { mean, std, n })
    }
}

impl fmt::Display for MeanStd {
    /// `mean ± std (n = N)`; the precision defaults to 4 decimals and follows `{:.P}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let precision = f.precision().unwrap_or(4);
        write!(
            f,
            "{:.*} ± {:.*} (n = {})",
            precision, self.mean, precision, self.std, self.n
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_value_has_zero_std() {
        let agg = MeanStd::from_values(&[0.7f32]).unwrap();
        assert_eq!(agg.n, 1);
        assert_eq!(agg.std, 0.0);
        assert_eq!(agg.mean, f64::from(0.7f32));
    }

    #[test]
    fn rejects_empty_and_non_finite() {
        assert_eq!(MeanStd::from_values::<f64>(&[]), Err(Error::Empty));
        assert!(matches!(
            MeanStd::from_values(&[1.0, f64::NAN]),
            Err(Error::NonFinite { index: 1, .. })
        ));
        assert!(MeanStd::from_values(&[f64::MAX, f64::MAX]).is_err());
    }

    #[test]
    fn display_honours_precision() {
        let agg = MeanStd::from_values(&[1.0, 2.0]).unwrap();
        assert_eq!(format!("{agg:.2}"), "1.50 ± 0.71 (n = 2)");
    }
}
