//! The error type of this crate.

use ssad_core::ShapeError;

/// Everything that can go wrong while fitting or using a scorer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input matrix has the wrong shape, is empty or holds NaN/Inf.
    #[error(transparent)]
    Shape(#[from] ShapeError),
    /// A configuration value is out of its valid range.
    #[error("invalid config `{field}`: {reason}")]
    InvalidConfig {
        /// The offending field.
        field: &'static str,
        /// Why it is invalid.
        reason: String,
    },
    /// The data cannot support the requested fit (e.g. `k >= n`).
    #[error("cannot fit: {0}")]
    Fit(String),
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;
