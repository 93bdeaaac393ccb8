//! `numpy.percentile` with its default linear interpolation, reproduced operation for operation.
//!
//! The thresholds of GOAD (F1 at contamination), PyOD (`threshold_`) and SSD (FPR95) are all
//! `numpy.percentile` calls, and predictions compare scores against them with `>=` or `>`. A
//! threshold that differs from numpy's by one ulp can flip a prediction when it lands on a tied
//! score, so the arithmetic below follows numpy's `_quantile` and `_lerp` exactly.

use crate::error::{Error, Result};
use crate::input::finite_scores;

/// The `q`-th percentile (`q` in `[0, 100]`) of `values`, as `numpy.percentile(values, q)`.
///
/// Method "linear" (Hyndman & Fan type 7): with the values sorted ascending as `x`, the virtual
/// index is `h = (n - 1) * (q / 100)` and the result interpolates between `x[floor(h)]` and
/// `x[floor(h) + 1]`. Computed in f64 in O(n) by selection.
///
/// # Errors
/// [`Error::Empty`], [`Error::NonFinite`], or [`Error::InvalidParameter`] when `q` is not in
/// `[0, 100]`.
pub fn percentile<S: Copy + Into<f64>>(values: &[S], q: f64) -> Result<f64> {
    check_percentile(q)?;
    let mut values = finite_scores(values)?;
    Ok(percentile_of_finite(&mut values, q))
}

pub(crate) fn check_percentile(q: f64) -> Result<()> {
    if (0.0..=100.0).contains(&q) {
        Ok(())
    } else {
        Err(Error::InvalidParameter {
            name: "q",
            reason: format!("percentile must lie in [0, 100], got {q}"),
        })
    }
}

/// Percentile of non-empty, finite values with a valid `q`; reorders `values`.
pub(crate) fn percentile_of_finite(values: &mut [f64], q: f64) -> f64 {
    let n = values.len();
    let last = n - 1;
    let virtual_index = last as f64 * (q / 100.0);
    if virtual_index >= last as f64 {
        return values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    }
    let below = virtual_index.floor();
    let gamma = virtual_index - below;
    // `below < last` here, so both neighbours exist and the cast cannot truncate.
    let below = below as usize;
    let (_, &mut lower, above) = values.select_nth_unstable_by(below, f64::total_cmp);
    let upper = above.iter().copied().fold(f64::INFINITY, f64::min);
    numpy_lerp(lower, upper, gamma)
}

/// numpy's `_lerp`: interpolates from whichever end is nearer, so `t = 1` returns `b` exactly.
fn numpy_lerp(a: f64, b: f64, t: f64) -> f64 {
    let diff = b - a;
    if t >= 0.5 {
        b - diff * (1.0 - t)
    } else {
        a + diff * t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_min_and_max() {
        let v = [3.0, -1.0, 7.5, 2.0];
        assert_eq!(percentile(&v, 0.0).unwrap(), -1.0);
        assert_eq!(percentile(&v, 100.0).unwrap(), 7.5);
    }

    #[test]
    fn single_value_is_every_percentile() {
        for q in [0.0, 12.5, 50.0, 100.0] {
            assert_eq!(percentile(&[4.0f32], q).unwrap(), 4.0);
        }
    }

    #[test]
    fn median_of_even_count_interpolates() {
        // numpy.percentile([1, 2, 3, 4], 50) == 2.5
        assert_eq!(percentile(&[4.0, 1.0, 3.0, 2.0], 50.0).unwrap(), 2.5);
    }

    #[test]
    fn rejects_bad_q_and_bad_values() {
        assert!(matches!(
            percentile(&[1.0], 100.5),
            Err(Error::InvalidParameter { name: "q", .. })
        ));
        assert!(matches!(
            percentile(&[1.0], f64::NAN),
            Err(Error::InvalidParameter { .. })
        ));
        assert_eq!(percentile::<f64>(&[], 50.0), Err(Error::Empty));
        assert!(matches!(
            percentile(&[1.0, f64::INFINITY], 50.0),
            Err(Error::NonFinite { index: 1, .. })
        ));
    }
}
