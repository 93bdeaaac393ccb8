//! Readers for the native file formats of the anomaly-detection datasets.
//!
//! Every reader takes a path, returns features as [`ssad_core::Matrix`] (`f32`,
//! rows = samples) and reports problems as [`crate::Error`] naming the file.

use std::path::Path;

use ssad_core::Matrix;

use crate::error::{Error, Result};

pub mod images;
pub mod kdd;
pub mod mat;
pub mod mvtec;
pub mod npy;

pub use images::{
    read_cifar10, read_cifar10_batch, read_fashion_mnist, read_idx, ImageSet, FASHION_MNIST_FILES,
};
pub use kdd::{parse_kdd, read_kdd, Kdd};
pub use mat::{parse_mat, read_mat, read_mat_xy, MatArray, MatFile};
pub use mvtec::{load_image_chw, load_mask, Chw, MvtecCategory, MvtecSample};
pub use npy::{parse_npy, read_npy, read_npz, read_npz_array, read_npz_xy, NpyArray, NpyData};

/// A feature matrix with one anomaly label per row (`true` = anomaly).
#[derive(Debug, Clone, PartialEq)]
pub struct Labeled {
    /// Features, one row per sample.
    pub x: Matrix,
    /// `true` where the sample is an anomaly.
    pub y: Vec<bool>,
}

impl Labeled {
    /// Pairs features and labels, checking there is one label per row; `origin`
    /// names the source in the error.
    pub fn new(x: Matrix, y: Vec<bool>, origin: &Path) -> Result<Self> {
        if x.rows() != y.len() {
            return Err(Error::format(
                origin,
                format!("{} feature rows but {} labels", x.rows(), y.len()),
            ));
        }
        Ok(Self { x, y })
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.y.len()
    }

    /// True when there are no samples.
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    /// Number of anomalies.
    pub fn n_anomalies(&self) -> usize {
        self.y.iter().filter(|&&a| a).count()
    }
}

/// Reads a whole file, naming it in the error.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(path, e))
}
