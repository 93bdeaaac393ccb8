//! What a detector fits on and scores: a feature matrix or a batch of images.

use ssad_core::MatrixView;

use crate::error::{Error, Result};

/// A borrowed batch of `N` images as `(N, C, H, W)` row-major `f32`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImageBatch<'a> {
    data: &'a [f32],
    shape: [usize; 4],
}

impl<'a> ImageBatch<'a> {
    /// Wraps `data`, which must hold exactly `n * c * h * w` values.
    pub fn new(data: &'a [f32], shape: [usize; 4]) -> Result<Self> {
        let expected = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
        if expected != Some(data.len()) {
            return Err(Error::InvalidConfig {
                field: "shape",
                reason: format!(
                    "(N, C, H, W) = {shape:?} does not match {} values",
                    data.len()
                ),
            });
        }
        Ok(Self { data, shape })
    }

    /// The values, image after image.
    pub fn data(&self) -> &'a [f32] {
        self.data
    }

    /// `[N, C, H, W]`.
    pub fn shape(&self) -> [usize; 4] {
        self.shape
    }

    /// Number of images `N`.
    pub fn len(&self) -> usize {
        self.shape[0]
    }

    /// Whether the batch holds no image.
    pub fn is_empty(&self) -> bool {
        self.shape[0] == 0
    }
}

/// The input of [`crate::Method::fit`] and [`crate::Detector::score`].
///
/// Tabular methods take [`Input::Tabular`] (rows = samples); image methods take
/// [`Input::Images`]. A method given the other kind fails with [`Error::InputKind`].
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Input<'a> {
    /// A feature matrix, one row per sample.
    Tabular(MatrixView<'a>),
    /// A batch of images.
    Images(ImageBatch<'a>),
}

impl<'a> Input<'a> {
    /// `"tabular"` or `"images"`.
    pub fn kind(&self) -> &'static str {
        match self {
            Input::Tabular(_) => "tabular",
            Input::Images(_) => "images",
        }
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        match self {
            Input::Tabular(x) => x.rows(),
            Input::Images(b) => b.len(),
        }
    }

    /// Whether there is no sample.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The images of an image input, checked non-empty and finite; `method`
    /// names the caller in the error for tabular input.
    pub fn images(self, method: &'static str) -> Result<ImageBatch<'a>> {
        let batch = match self {
            Input::Images(b) => b,
            other => {
                return Err(Error::InputKind {
                    method,
                    expected: "images",
                    got: other.kind(),
                })
            }
        };
        let [n, c, h, w] = batch.shape();
        let rows = MatrixView::new(batch.data(), n, c * h * w)?;
        rows.check_non_empty()?;
        rows.check_finite()?;
        Ok(batch)
    }

    /// The matrix of a tabular input; `method` names the caller in the error otherwise.
    pub fn tabular(self, method: &'static str) -> Result<MatrixView<'a>> {
        match self {
            Input::Tabular(x) => Ok(x),
            other => Err(Error::InputKind {
                method,
                expected: "tabular",
                got: other.kind(),
            }),
        }
    }
}

impl<'a> From<MatrixView<'a>> for Input<'a> {
    fn from(x: MatrixView<'a>) -> Self {
        Input::Tabular(x)
    }
}

impl<'a> From<&'a ssad_core::Matrix> for Input<'a> {
    fn from(x: &'a ssad_core::Matrix) -> Self {
        Input::Tabular(x.view())
    }
}

impl<'a> From<ImageBatch<'a>> for Input<'a> {
    fn from(b: ImageBatch<'a>) -> Self {
        Input::Images(b)
    }
}
