//! What the `frozen`, `autoencoder` and `deep_svdd` baselines share: the layout
//! of the input a detector was fitted on, checked inputs as flat samples, the
//! training-set z-scoring of tabular data, and chunked inference.

use std::borrow::Cow;

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};
use ssad_core::MatrixView;
use ssad_train::BatchSource;

use crate::error::{Error, Result};
use crate::input::Input;

/// Samples per forward pass at inference: bounds the activations held at once.
pub(crate) const INFER_CHUNK: usize = 256;

/// The kind and per-sample shape of the data a detector was fitted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum Layout {
    /// Rows of `n_features` values.
    Tabular {
        /// Row width.
        n_features: usize,
    },
    /// `(C, H, W)` images.
    Images {
        /// `[C, H, W]`.
        shape: [usize; 3],
    },
}

impl Layout {
    /// The shape of one sample.
    pub fn sample_dims(&self) -> Vec<usize> {
        match self {
            Layout::Tabular { n_features } => vec![*n_features],
            Layout::Images { shape } => shape.to_vec(),
        }
    }
}

/// A checked input: non-empty, finite, and (when `expected` is given) of the
/// fitted layout. Rows of the view are samples, flattened.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Checked<'a> {
    pub layout: Layout,
    pub view: MatrixView<'a>,
}

/// Checks `x` for `method`: the accepted kinds (`images_only`), the layout
/// it was fitted on (`expected`), emptiness and NaN/Inf.
pub(crate) fn check<'a>(
    x: Input<'a>,
    method: &'static str,
    images_only: bool,
    expected: Option<Layout>,
) -> Result<Checked<'a>> {
    let (layout, view) = match x {
        Input::Tabular(v) if !images_only => (
            Layout::Tabular {
                n_features: v.cols(),
            },
            v,
        ),
        Input::Images(b) => {
            let [n, c, h, w] = b.shape();
            let view = MatrixView::new(b.data(), n, c * h * w)?;
            (Layout::Images { shape: [c, h, w] }, view)
        }
        other => {
            return Err(Error::InputKind {
                method,
                expected: "images",
                got: other.kind(),
            })
        }
    };
    match (expected, layout) {
        (None, _) => {}
        (Some(Layout::Tabular { n_features }), Layout::Tabular { .. }) => {
            view.check_width(n_features)?
        }
        (Some(Layout::Images { shape: e }), Layout::Images { shape: got }) => {
            if e != got {
                return Err(Error::ImageShape {
                    method,
                    expected: e,
                    got,
                });
            }
        }
        (Some(e), got) => {
            return Err(Error::InputKind {
                method,
                expected: kind_name(e),
                got: kind_name(got),
            })
        }
    }
    view.check_non_empty()?;
    view.check_finite()?;
    Ok(Checked { layout, view })
}

fn kind_name(layout: Layout) -> &'static str {
    match layout {
        Layout::Tabular { .. } => "tabular",
        Layout::Images { .. } => "images",
    }
}

/// Per-column z-scoring with training statistics, as PyOD's deep detectors
/// (`preprocessing=True`): `(x - mean) / (std + 1e-8)`, population `std`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Standardizer {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

/// PyOD's `TorchDataset` epsilon.
const STD_EPS: f64 = 1e-8;

impl Standardizer {
    /// Column means and population standard deviations of `x`, accumulated in `f64`.
    pub fn fit(x: MatrixView<'_>) -> Self {
        let (n, d) = x.shape();
        let mut mean = vec![0.0f64; d];
        for row in x.iter_rows() {
            for (m, &v) in mean.iter_mut().zip(row) {
                *m += f64::from(v);
            }
        }
        mean.iter_mut().for_each(|m| *m /= n as f64);
        let mut var = vec![0.0f64; d];
        for row in x.iter_rows() {
            for ((s, &v), m) in var.iter_mut().zip(row).zip(&mean) {
                let dv = f64::from(v) - m;
                *s += dv * dv;
            }
        }
        Self {
            mean: mean.iter().map(|&m| m as f32).collect(),
            std: var.iter().map(|&s| (s / n as f64).sqrt() as f32).collect(),
        }
    }

    /// `x` z-scored, row-major.
    pub fn apply(&self, x: MatrixView<'_>) -> Vec<f32> {
        let mut out = Vec::with_capacity(x.as_slice().len());
        for row in x.iter_rows() {
            out.extend(
                row.iter()
                    .zip(self.mean.iter().zip(&self.std))
                    .map(|(&v, (&m, &s))| {
                        ((f64::from(v) - f64::from(m)) / (f64::from(s) + STD_EPS)) as f32
                    }),
            );
        }
        out
    }

    /// Checks that the statistics are for `n_features` columns and finite.
    pub fn check(&self, n_features: usize) -> std::result::Result<(), String> {
        if self.mean.len() != n_features || self.std.len() != n_features {
            return Err(format!(
                "standardizer has {} means and {} deviations for {n_features} features",
                self.mean.len(),
                self.std.len()
            ));
        }
        if !self.mean.iter().chain(&self.std).all(|v| v.is_finite()) {
            return Err("standardizer holds a non-finite value".into());
        }
        Ok(())
    }
}

/// Samples of one layout as a flat buffer, borrowed or (after z-scoring) owned:
/// the trainer's [`BatchSource`] and the input of chunked inference.
#[derive(Debug, Clone)]
pub(crate) struct Samples<'a> {
    data: Cow<'a, [f32]>,
    dims: Vec<usize>,
    n: usize,
}

impl<'a> Samples<'a> {
    /// The checked input, z-scored when `standardizer` is given (tabular only).
    pub fn new(checked: &Checked<'a>, standardizer: Option<&Standardizer>) -> Self {
        let data = match standardizer {
            Some(s) => Cow::Owned(s.apply(checked.view)),
            None => Cow::Borrowed(checked.view.as_slice()),
        };
        Self {
            data,
            dims: checked.layout.sample_dims(),
            n: checked.view.rows(),
        }
    }

    fn sample_len(&self) -> usize {
        self.dims.iter().product()
    }

    fn shape(&self, n: usize) -> Vec<usize> {
        let mut shape = Vec::with_capacity(self.dims.len() + 1);
        shape.push(n);
        shape.extend(&self.dims);
        shape
    }

    /// The samples `start..start + len` as one `(len, ...)` tensor.
    pub fn range(&self, start: usize, len: usize) -> candle_core::Result<Tensor> {
        let d = self.sample_len();
        let values = &self.data[start * d..(start + len) * d];
        Tensor::from_slice(values, self.shape(len), &Device::Cpu)
    }

    /// The samples `indices` (all `< len()`) as one tensor.
    pub fn gather(&self, indices: &[usize]) -> candle_core::Result<Tensor> {
        let d = self.sample_len();
        let mut values = Vec::with_capacity(indices.len() * d);
        for &i in indices {
            values.extend_from_slice(&self.data[i * d..(i + 1) * d]);
        }
        Tensor::from_vec(values, self.shape(indices.len()), &Device::Cpu)
    }

    /// `f` over consecutive chunks of at most [`INFER_CHUNK`] samples, results concatenated.
    pub fn map_chunks<T>(&self, mut f: impl FnMut(&Tensor) -> Result<Vec<T>>) -> Result<Vec<T>> {
        let mut out = Vec::with_capacity(self.n);
        let mut start = 0;
        while start < self.n {
            let len = INFER_CHUNK.min(self.n - start);
            out.extend(f(&self.range(start, len)?)?);
            start += len;
        }
        Ok(out)
    }
}

impl BatchSource for Samples<'_> {
    type Batch = Tensor;

    fn len(&self) -> usize {
        self.n
    }

    fn batch(&self, indices: &[usize], _epoch: u64) -> ssad_train::Result<Tensor> {
        Ok(self.gather(indices)?)
    }
}

/// Wraps any error as the trainer's, for objectives and sources.
pub(crate) fn train_error(e: impl std::fmt::Display) -> ssad_train::Error {
    ssad_train::Error::InvalidConfig {
        field: "batch",
        reason: e.to_string(),
    }
}

/// A training set of `n` samples in batches of `batch_size` leaves a last batch
/// of one sample, which training-mode BatchNorm rejects (PyTorch too): drop it then.
pub(crate) fn drop_single_last(n: usize, batch_size: usize) -> bool {
    n > batch_size && n % batch_size == 1
}

/// Per-sample sum of squares over every dimension but the first, `(B,)` as `f64`.
pub(crate) fn per_sample_sq_sum(t: &Tensor) -> Result<Vec<f64>> {
    let b = t.dim(0)?;
    let sums = t.reshape((b, ()))?.sqr()?.sum(1)?;
    Ok(sums.to_vec1::<f32>()?.into_iter().map(f64::from).collect())
}

/// Checks a loaded standardizer against the layout: only tabular layouts have
/// one, of their width.
pub(crate) fn check_standardizer(
    standardizer: Option<&Standardizer>,
    layout: Layout,
) -> std::result::Result<(), String> {
    match (standardizer, layout) {
        (None, _) => Ok(()),
        (Some(s), Layout::Tabular { n_features }) => s.check(n_features),
        (Some(_), Layout::Images { .. }) => Err("an image model holds a standardizer".into()),
    }
}
