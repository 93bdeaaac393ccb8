//! Evaluation protocols as code: which rows train, which test, and how features are scaled.
//!
//! Each protocol documents the reference implementation it follows. Random
//! choices draw from [`ssad_core::Seed`] on the [`ssad_core::Stream::Subsample`]
//! stream, so a split is a pure function of its inputs and seed.

use ssad_core::Matrix;

mod goad;
mod one_class;
mod scale;
mod stratified;

pub use goad::{goad_kdd, goad_kddrev, goad_tabular, KDDREV_ANOMALIES};
pub use one_class::{one_class_split, ImageSplit};
pub use scale::{MinMaxScaler, Standardizer};
pub use stratified::{stratified_split, LabeledSplit, StratifiedConfig};

/// A one-class split: train on normal rows only, score the test rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// Training rows (all normal).
    pub train: Matrix,
    /// Test rows.
    pub test: Matrix,
    /// Per test row, `true` for the anomalies.
    pub test_labels: Vec<bool>,
}

impl Split {
    /// Fraction of test rows that are anomalies (the contamination GOAD thresholds F1 at).
    pub fn test_contamination(&self) -> f64 {
        let n = self.test_labels.len().max(1);
        self.test_labels.iter().filter(|&&a| a).count() as f64 / n as f64
    }
}
