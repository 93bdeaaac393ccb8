//! Per-column feature scaling fitted on training rows only.

use ssad_core::{Matrix, MatrixView};

use crate::error::Result;

/// Per-column z-scoring `(x - mean) / std` with the population std (numpy's
/// default `ddof=0`, as GOAD uses). A constant column gets std 1, like GOAD's
/// `sds[sds == 0] = 1`; "constant" is tested as min == max because a mean
/// computed in floating point need not equal the repeated value exactly.
#[derive(Debug, Clone, PartialEq)]
pub struct Standardizer {
    mean: Vec<f64>,
    std: Vec<f64>,
}

impl Standardizer {
    /// Fits every column of `x`.
    pub fn fit(x: MatrixView<'_>) -> Result<Self> {
        Self::fit_columns(x, &vec![true; x.cols()])
    }

    /// Fits the columns where `selected` is true; the others pass through unchanged
    /// (GOAD's KDD protocol scales only the continuous columns).
    pub fn fit_columns(x: MatrixView<'_>, selected: &[bool]) -> Result<Self> {
        x.check_non_empty()?;
        x.check_width(selected.len())?;
        x.check_finite()?;
        let d = x.cols();
        let n = x.rows() as f64;
        let mut mean = vec![0.0f64; d];
        let mut min = vec![f32::INFINITY; d];
        let mut max = vec![f32::NEG_INFINITY; d];
        for row in x.iter_rows() {
            for (((m, lo), hi), &v) in mean.iter_mut().zip(&mut min).zip(&mut max).zip(row) {
                *m += f64::from(v);
                *lo = lo.min(v);
                *hi = hi.max(v);
            }
        }
        mean.iter_mut().for_each(|m| *m /= n);
        let mut var = vec![0.0f64; d];
        for row in x.iter_rows() {
            for ((acc, &m), &v) in var.iter_mut().zip(&mean).zip(row) {
                let e = f64::from(v) - m;
                *acc += e * e;
            }
        }
        let mut std = Vec::with_capacity(d);
        for j in 0..d {
            if !selected[j] {
                mean[j] = 0.0;
                std.push(1.0);
            } else if min[j] == max[j] {
                std.push(1.0);
            } else {
                std.push((var[j] / n).sqrt());
            }
        }
        Ok(Self { mean, std })
    }

    /// The fitted means (0 for pass-through columns).
    pub fn mean(&self) -> &[f64] {
        &self.mean
    }

    /// The fitted standard deviations (1 for constant and pass-through columns).
    pub fn std(&self) -> &[f64] {
        &self.std
    }

    /// Scales `x` in place.
    pub fn transform_in_place(&self, x: &mut Matrix) -> Result<()> {
        x.view().check_width(self.mean.len())?;
        let (mean, inv): (Vec<f32>, Vec<f32>) = self
            .mean
            .iter()
            .zip(&self.std)
            .map(|(&m, &s)| (m as f32, (1.0 / s) as f32))
            .unzip();
        let d = mean.len();
        for row in x.as_mut_slice().chunks_exact_mut(d.max(1)) {
            for ((v, &m), &k) in row.iter_mut().zip(&mean).zip(&inv) {
                *v = (*v - m) * k;
            }
        }
        Ok(())
    }

    /// A scaled copy of `x`.
    pub fn transform(&self, x: MatrixView<'_>) -> Result<Matrix> {
        let mut out = x.to_matrix();
        self.transform_in_place(&mut out)?;
        Ok(out)
    }
}

/// Per-column min-max scaling to `[0, 1]` on the training range (scikit-learn's
/// `MinMaxScaler`, which ADBench applies after its split). A constant column maps to 0.
#[derive(Debug, Clone, PartialEq)]
pub struct MinMaxScaler {
    min: Vec<f32>,
    scale: Vec<f32>,
}

impl MinMaxScaler {
    /// Fits the per-column range of `x`.
    pub fn fit(x: MatrixView<'_>) -> Result<Self> {
        x.check_non_empty()?;
        x.check_finite()?;
        let d = x.cols();
        let mut min = vec![f32::INFINITY; d];
        let mut max = vec![f32::NEG_INFINITY; d];
        for row in x.iter_rows() {
            for ((lo, hi), &v) in min.iter_mut().zip(&mut max).zip(row) {
                *lo = lo.min(v);
                *hi = hi.max(v);
            }
        }
        // sklearn replaces a zero range by 1, so constant columns become 0.
        let scale = min
            .iter()
            .zip(&max)
            .map(|(&lo, &hi)| if hi > lo { 1.0 / (hi - lo) } else { 1.0 })
            .collect();
        Ok(Self { min, scale })
    }

    /// A scaled copy of `x` (test rows may fall outside `[0, 1]`).
    pub fn transform(&self, x: MatrixView<'_>) -> Result<Matrix> {
        x.check_width(self.min.len())?;
        let mut out = x.to_matrix();
        let d = self.min.len();
        for row in out.as_mut_slice().chunks_exact_mut(d.max(1)) {
            for ((v, &lo), &k) in row.iter_mut().zip(&self.min).zip(&self.scale) {
                *v = (*v - lo) * k;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standardizer_matches_hand_computation() {
        // Column 0: [1, 2, 3] → mean 2, population std sqrt(2/3). Column 1 constant.
        let x = Matrix::new(vec![1.0, 5.0, 2.0, 5.0, 3.0, 5.0], 3, 2).unwrap();
        let s = Standardizer::fit(x.view()).unwrap();
        assert_eq!(s.mean(), &[2.0, 5.0]);
        assert!((s.std()[0] - (2.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert_eq!(s.std()[1], 1.0);
        let z = s.transform(x.view()).unwrap();
        assert!((z.row(2)[0] - 1.224_744_9).abs() < 1e-6);
        assert_eq!(z.row(0)[1], 0.0);
    }

    #[test]
    fn unselected_columns_pass_through() {
        let x = Matrix::new(vec![1.0, 10.0, 3.0, 20.0], 2, 2).unwrap();
        let s = Standardizer::fit_columns(x.view(), &[false, true]).unwrap();
        let z = s.transform(x.view()).unwrap();
        assert_eq!(z.as_slice(), &[1.0, -1.0, 3.0, 1.0]);
    }

    #[test]
    fn empty_and_mismatched_inputs_are_errors() {
        let empty = Matrix::new(vec![], 0, 3).unwrap();
        assert!(Standardizer::fit(empty.view()).is_err());
        assert!(MinMaxScaler::fit(empty.view()).is_err());
        let x = Matrix::zeros(2, 2);
        let s = Standardizer::fit(x.view()).unwrap();
        assert!(s.transform(Matrix::zeros(1, 3).view()).is_err());
    }

    #[test]
    fn min_max_maps_train_range_to_unit_interval() {
        let x = Matrix::new(vec![0.0, 7.0, 10.0, 7.0, 5.0, 7.0], 3, 2).unwrap();
        let m = MinMaxScaler::fit(x.view()).unwrap();
        let z = m.transform(x.view()).unwrap();
        assert_eq!(z.as_slice(), &[0.0, 0.0, 1.0, 0.0, 0.5, 0.0]);
    }
}
