//! A dense row-major `f32` matrix: the one feature-matrix type of the workspace.
//!
//! Rows are samples and columns are features. We use a plain slice rather than a
//! candle `Tensor` so that classic detectors, metrics and data readers need no
//! tensor library and hot loops index memory directly; deep methods convert at
//! their boundary with `Tensor::from_slice(x.as_slice(), (x.rows(), x.cols()), dev)`.

use serde::{Deserialize, Serialize};

/// A shape or value problem with a matrix, reported instead of a panic.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ShapeError {
    /// `data.len()` does not equal `rows * cols`.
    #[error("matrix data has {len} values but {rows} x {cols} needs {}", rows * cols)]
    Length {
        /// Number of values supplied.
        len: usize,
        /// Declared rows.
        rows: usize,
        /// Declared columns.
        cols: usize,
    },
    /// Rows of different widths were given to [`Matrix::from_rows`].
    #[error("row {row} has {got} values, expected {expected}")]
    Ragged {
        /// Index of the offending row.
        row: usize,
        /// Width of the first row.
        expected: usize,
        /// Width of the offending row.
        got: usize,
    },
    /// A row index is out of range.
    #[error("row index {index} out of range for {rows} rows")]
    RowIndex {
        /// The index asked for.
        index: usize,
        /// Number of rows.
        rows: usize,
    },
    /// Two matrices that must share a width do not.
    #[error("width mismatch: expected {expected} columns, got {got}")]
    Width {
        /// The width required.
        expected: usize,
        /// The width given.
        got: usize,
    },
    /// A value is NaN or infinite.
    #[error("non-finite value {value} at row {row}, column {col}")]
    NonFinite {
        /// Row of the value.
        row: usize,
        /// Column of the value.
        col: usize,
        /// The value itself.
        value: f32,
    },
    /// The matrix has no rows or no columns where some are required.
    #[error("matrix is empty ({rows} x {cols})")]
    Empty {
        /// Number of rows.
        rows: usize,
        /// Number of columns.
        cols: usize,
    },
}

/// An owned, row-major `rows x cols` matrix of `f32`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Matrix {
    data: Vec<f32>,
    rows: usize,
    cols: usize,
}

/// A borrowed, row-major `rows x cols` view: what scorers and metrics take.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MatrixView<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
}

impl Matrix {
    /// Wraps `data` (row-major) as a `rows x cols` matrix without copying.
    pub fn new(data: Vec<f32>, rows: usize, cols: usize) -> Result<Self, ShapeError> {
        check_len(data.len(), rows, cols)?;
        Ok(Self { data, rows, cols })
    }

    /// A matrix of zeros.
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Self {
            data: vec![0.0; rows * cols],
            rows,
            cols,
        }
    }

    /// Stacks equally long rows.
    pub fn from_rows<R: AsRef<[f32]>>(rows: &[R]) -> Result<Self, ShapeError> {
        let cols = rows.first().map_or(0, |r| r.as_ref().len());
        let mut data = Vec::with_capacity(rows.len() * cols);
        for (i, r) in rows.iter().enumerate() {
            let r = r.as_ref();
            if r.len() != cols {
                return Err(ShapeError::Ragged {
                    row: i,
                    expected: cols,
                    got: r.len(),
                });
            }
            data.extend_from_slice(r);
        }
        Ok(Self {
            data,
            rows: rows.len(),
            cols,
        })
    }

    /// Borrows the matrix as a view.
    pub fn view(&self) -> MatrixView<'_> {
        MatrixView {
            data: &self.data,
            rows: self.rows,
            cols: self.cols,
        }
    }

    /// Number of rows (samples).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns (features).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// `(rows, cols)`.
    pub fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    /// The row-major values.
    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }

    /// The row-major values, mutably.
    pub fn as_mut_slice(&mut self) -> &mut [f32] {
        &mut self.data
    }

    /// Row `i`. Panics if `i >= rows` like slice indexing; use [`MatrixView::get_row`] for a checked access.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    /// Row `i`, mutably.
    pub fn row_mut(&mut self, i: usize) -> &mut [f32] {
        &mut self.data[i * self.cols..(i + 1) * self.cols]
    }

    /// Iterates over rows.
    pub fn iter_rows(&self) -> std::slice::ChunksExact<'_, f32> {
        self.view().iter_rows()
    }

    /// Gives back the row-major values.
    pub fn into_vec(self) -> Vec<f32> {
        self.data
    }
}

impl<'a> From<&'a Matrix> for MatrixView<'a> {
    fn from(m: &'a Matrix) -> Self {
        m.view()
    }
}

impl<'a> MatrixView<'a> {
    /// Views `data` (row-major) as a `rows x cols` matrix.
    pub fn new(data: &'a [f32], rows: usize, cols: usize) -> Result<Self, ShapeError> {
        check_len(data.len(), rows, cols)?;
        Ok(Self { data, rows, cols })
    }

    /// Number of rows (samples).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns (features).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// `(rows, cols)`.
    pub fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    /// The row-major values.
    pub fn as_slice(&self) -> &'a [f32] {
        self.data
    }

    /// Row `i`. Panics if out of range, like slice indexing.
    pub fn row(&self, i: usize) -> &'a [f32] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    /// Row `i`, or an error if out of range.
    pub fn get_row(&self, i: usize) -> Result<&'a [f32], ShapeError> {
        if i >= self.rows {
            return Err(ShapeError::RowIndex {
                index: i,
                rows: self.rows,
            });
        }
        Ok(self.row(i))
    }

    /// Iterates over rows. A zero-width matrix yields no rows.
    pub fn iter_rows(&self) -> std::slice::ChunksExact<'a, f32> {
        // chunks_exact(0) panics; a zero-width matrix has nothing to iterate.
        self.data.chunks_exact(self.cols.max(1))
    }

    /// Copies the listed rows, in order, into a new matrix.
    pub fn select_rows(&self, indices: &[usize]) -> Result<Matrix, ShapeError> {
        let mut data = Vec::with_capacity(indices.len() * self.cols);
        for &i in indices {
            data.extend_from_slice(self.get_row(i)?);
        }
        Ok(Matrix {
            data,
            rows: indices.len(),
            cols: self.cols,
        })
    }

    /// Copies the view into an owned matrix.
    pub fn to_matrix(&self) -> Matrix {
        Matrix {
            data: self.data.to_vec(),
            rows: self.rows,
            cols: self.cols,
        }
    }

    /// Errors on the first NaN or infinite value.
    pub fn check_finite(&self) -> Result<(), ShapeError> {
        match self.data.iter().position(|v| !v.is_finite()) {
            None => Ok(()),
            Some(p) => Err(ShapeError::NonFinite {
                row: p / self.cols.max(1),
                col: p % self.cols.max(1),
                value: self.data[p],
            }),
        }
    }

    /// Errors unless the view has at least one row and one column.
    pub fn check_non_empty(&self) -> Result<(), ShapeError> {
        if self.rows == 0 || self.cols == 0 {
            return Err(ShapeError::Empty {
                rows: self.rows,
                cols: self.cols,
            });
        }
        Ok(())
    }

    /// Errors unless the view has `expected` columns.
    pub fn check_width(&self, expected: usize) -> Result<(), ShapeError> {
        if self.cols != expected {
            return Err(ShapeError::Width {
                expected,
                got: self.cols,
            });
        }
        Ok(())
    }
}

fn check_len(len: usize, rows: usize, cols: usize) -> Result<(), ShapeError> {
    if rows.checked_mul(cols) != Some(len) {
        return Err(ShapeError::Length { len, rows, cols });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_wrong_length() {
        assert!(matches!(
            Matrix::new(vec![0.0; 5], 2, 3),
            Err(ShapeError::Length { len: 5, .. })
        ));
    }

    #[test]
    fn ragged_rows_are_an_error() {
        let err = Matrix::from_rows(&[vec![1.0, 2.0], vec![3.0]]).unwrap_err();
        assert_eq!(
            err,
            ShapeError::Ragged {
                row: 1,
                expected: 2,
                got: 1
            }
        );
    }

    #[test]
    fn finds_the_first_non_finite_value() {
        let m = Matrix::new(vec![0.0, 1.0, 2.0, f32::NAN], 2, 2).unwrap();
        assert!(matches!(
            m.view().check_finite(),
            Err(ShapeError::NonFinite { row: 1, col: 1, .. })
        ));
    }

    #[test]
    fn select_rows_checks_bounds() {
        let m = Matrix::zeros(2, 3);
        assert!(m.view().select_rows(&[0, 2]).is_err());
        assert_eq!(m.view().select_rows(&[1, 1, 0]).unwrap().rows(), 3);
    }

    #[test]
    fn zero_width_matrix_iterates_nothing() {
        let m = Matrix::new(vec![], 3, 0).unwrap();
        assert_eq!(m.iter_rows().count(), 0);
        assert!(m.view().check_non_empty().is_err());
    }
}
