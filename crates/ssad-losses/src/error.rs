//! The crate's error type.

/// Everything that can go wrong when evaluating a loss.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A tensor operation failed inside candle.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// An input tensor has the wrong rank, size or dtype.
    #[error("{what}: expected {expected}, got shape {got:?}")]
    Shape {
        /// Which argument is wrong.
        what: &'static str,
        /// What was required, in words.
        expected: String,
        /// The shape that was passed.
        got: Vec<usize>,
    },
    /// A class target is not below the number of classes.
    #[error("target {target} at position {position} is out of range for {classes} classes")]
    TargetOutOfRange {
        /// Position of the target in the batch.
        position: usize,
        /// The target value.
        target: u32,
        /// Number of classes (logit columns).
        classes: usize,
    },
    /// A loss hyper-parameter is outside its valid range.
    #[error("invalid {field}: {reason}")]
    InvalidConfig {
        /// The offending field.
        field: &'static str,
        /// Why it is invalid.
        reason: String,
    },
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;
