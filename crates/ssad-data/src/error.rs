//! The one error type of `ssad-data`.
//!
//! Every reader names the file it was reading, so that a message such as
//! "truncated" is actionable without a debugger.

use std::path::PathBuf;

/// Everything that can go wrong while reading a dataset or applying a protocol.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The operating system failed to open or read a file.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file or folder being read.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The file's bytes do not follow the format it claims (truncated, bad magic, corrupt stream...).
    #[error("{}: malformed file: {reason}", path.display())]
    Format {
        /// The file being parsed.
        path: PathBuf,
        /// What is wrong, in words.
        reason: String,
    },
    /// The file is well formed but uses a feature this crate deliberately does not read
    /// (pickled objects, big-endian data, MATLAB v7.3/HDF5...).
    #[error("{}: unsupported: {reason}", path.display())]
    Unsupported {
        /// The file being parsed.
        path: PathBuf,
        /// What is unsupported and, where possible, how to convert the file.
        reason: String,
    },
    /// A matrix could not be built or has the wrong shape.
    #[error(transparent)]
    Shape(#[from] ssad_core::ShapeError),
    /// A protocol was asked for something its data cannot give (too few rows, bad fraction...).
    #[error("invalid protocol input: {0}")]
    Protocol(String),
    /// A dataset manifest is not valid TOML, has an unknown or missing key, or is inconsistent.
    #[error("manifest {}: {reason}", path.display())]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong, including the offending key where there is one.
        reason: String,
    },
    /// No manifest has the requested dataset name.
    #[error("no dataset named `{name}` in the manifests; known: {known}")]
    UnknownDataset {
        /// The requested name.
        name: String,
        /// The known names, comma-separated.
        known: String,
    },
    /// A file of a dataset is not where its manifest says it should be.
    #[error(
        "dataset `{dataset}`: file {} not found (searched: {}); to get it: {obtain}",
        file,
        searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    MissingFile {
        /// The dataset's name.
        dataset: String,
        /// The file's path relative to the data root.
        file: String,
        /// Every full path that was tried, in order.
        searched: Vec<PathBuf>,
        /// How to obtain the file.
        obtain: String,
    },
    /// A file's size differs from its manifest's (checked before hashing: it is free).
    #[error("{}: size is {actual} bytes, the manifest says {expected}", path.display())]
    SizeMismatch {
        /// The file.
        path: PathBuf,
        /// The size in the manifest.
        expected: u64,
        /// The size on disk.
        actual: u64,
    },
    /// A file's sha256 differs from its manifest's.
    #[error("{}: sha256 mismatch: expected {expected}, got {actual}", path.display())]
    ChecksumMismatch {
        /// The file.
        path: PathBuf,
        /// The sha256 in the manifest.
        expected: String,
        /// The sha256 of the bytes read.
        actual: String,
    },
    /// A dataset's files verify, but what they hold differs from the manifest (shape, counts).
    #[error("dataset `{dataset}`: {what}")]
    ContentMismatch {
        /// The dataset's name.
        dataset: String,
        /// What differs, with both values.
        what: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// A [`Error::Format`] for `path`.
    pub(crate) fn format(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::Format {
            path: path.into(),
            reason: reason.into(),
        }
    }

    /// An [`Error::Unsupported`] for `path`.
    pub(crate) fn unsupported(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::Unsupported {
            path: path.into(),
            reason: reason.into(),
        }
    }

    /// An [`Error::Io`] for `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
