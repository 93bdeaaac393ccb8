//! The scorer traits: configuration in, fitted scorer out (linfa style), scores
//! out of the fitted scorer (PyOD's `decision_function`).
//!
//! Changes since the skeleton (backwards-compatible):
//! - `FittedScorer::state` (default: `Error::Unsupported`) exports the fitted
//!   state for [`crate::save`]; see [`crate::persist`] for the three steps that
//!   make a scorer saveable.

use ssad_core::MatrixView;

use crate::persist::State;
use crate::{Error, Result};

/// An unfitted scorer: its configuration. Fitting consumes nothing and returns
/// a separate fitted type, so "not fitted" is not a runtime state.
pub trait Scorer {
    /// The fitted scorer.
    type Fitted: FittedScorer;

    /// Fits on `train` (rows = samples, normal or unlabelled).
    fn fit(&self, train: MatrixView<'_>) -> Result<Self::Fitted>;

    /// Fits on `train` and scores the same rows the way PyOD's
    /// `decision_scores_` does. The default scores the rows as given;
    /// neighbour-based detectors override it so a row is not its own neighbour.
    fn fit_score(&self, train: MatrixView<'_>) -> Result<(Self::Fitted, Vec<f64>)> {
        let fitted = self.fit(train)?;
        let scores = fitted.score(train)?;
        Ok((fitted, scores))
    }
}

/// A fitted scorer: scores rows, higher = more anomalous.
pub trait FittedScorer: Send + Sync {
    /// Number of features (columns) the scorer was fitted on.
    fn n_features(&self) -> usize;

    /// One anomaly score per row of `x`; errors on a width mismatch or NaN/Inf.
    fn score(&self, x: MatrixView<'_>) -> Result<Vec<f64>>;

    /// Exports the config and fitted arrays, for [`crate::save`]. The default
    /// says the scorer cannot be saved.
    fn state(&self) -> Result<State> {
        Err(Error::Unsupported("this scorer cannot be saved".into()))
    }
}
