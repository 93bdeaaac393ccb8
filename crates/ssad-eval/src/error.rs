//! The crate's error type.

/// Why a metric could not be computed from the given input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No scores were given.
    #[error("empty input: at least one score is required")]
    Empty,
    /// `scores` and `labels` have different lengths.
    #[error("length mismatch: {scores} scores but {labels} labels")]
    LengthMismatch {
        /// Number of scores.
        scores: usize,
        /// Number of labels.
        labels: usize,
    },
    /// A score is NaN or infinite.
    #[error("score at index {index} is not finite ({value})")]
    NonFinite {
        /// Position of the first offending score.
        index: usize,
        /// The offending value, widened to f64.
        value: f64,
    },
    /// The metric needs both anomalies and normals, but only one class is present.
    #[error("need both classes, got {anomalies} anomalies and {normals} normals")]
    SingleClass {
        /// Number of samples labelled anomalous.
        anomalies: usize,
        /// Number of samples labelled normal.
        normals: usize,
    },
    /// The contamination is outside (0, 0.5].
    #[error("contamination must lie in (0, 0.5], got {0}")]
    ContaminationOutOfRange(f64),
    /// Some other parameter is outside its valid range.
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParameter {
        /// The parameter's name.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, Error>;
