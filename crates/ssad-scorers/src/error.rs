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
    /// Reading or writing a saved scorer failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory involved.
        path: std::path::PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A saved scorer is unreadable, inconsistent or incomplete.
    #[error("corrupt saved scorer: {0}")]
    Corrupt(String),
    /// The scorer does not support the requested operation (e.g. saving).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// Finite input that the scorer still cannot use (e.g. a probability
    /// outside `[0, 1]`, or a width that is not `M` equal blocks).
    #[error("invalid input: {0}")]
    InvalidInput(String),
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;
