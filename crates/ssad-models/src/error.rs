//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong when building, running, saving or loading a network.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An error raised inside candle (a tensor op failed).
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// A configuration value is out of its valid range.
    #[error("invalid config field `{field}`: {reason}")]
    InvalidConfig {
        /// The offending field.
        field: &'static str,
        /// Why the value is rejected.
        reason: String,
    },
    /// An input tensor has the wrong shape for this network.
    #[error("{what}: expected shape {expected}, got {got:?}")]
    InputShape {
        /// Which input was checked.
        what: &'static str,
        /// The expected shape, in words (`(B, 3, H, W)`).
        expected: String,
        /// The shape received.
        got: Vec<usize>,
    },
    /// A file could not be read or written.
    #[error("i/o error on {path:?}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A weights file is not valid safetensors.
    #[error("corrupt weights file {path:?}: {reason}")]
    CorruptFile {
        /// The file.
        path: PathBuf,
        /// What the parser reported.
        reason: String,
    },
    /// A weights file lacks tensors the network needs.
    #[error("weights file {path:?} lacks {} tensor(s), first: {}", .names.len(), .names.first().map(String::as_str).unwrap_or(""))]
    MissingTensors {
        /// The file.
        path: PathBuf,
        /// The missing parameter names, sorted.
        names: Vec<String>,
    },
    /// A weights file holds tensors the network does not have.
    #[error("weights file {path:?} has {} unexpected tensor(s), first: {}", .names.len(), .names.first().map(String::as_str).unwrap_or(""))]
    UnexpectedTensors {
        /// The file.
        path: PathBuf,
        /// The unknown tensor names, sorted.
        names: Vec<String>,
    },
    /// A stored tensor's shape differs from the parameter's.
    #[error("tensor `{name}` has shape {got:?} in the file but {expected:?} in the network")]
    TensorShape {
        /// The parameter name.
        name: String,
        /// The parameter's shape.
        expected: Vec<usize>,
        /// The shape found in the file.
        got: Vec<usize>,
    },
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Error {
    Error::InvalidConfig {
        field,
        reason: reason.into(),
    }
}
