//! The crate's error type: the leaf crates' errors plus what the detector API adds.

use std::path::PathBuf;

/// Everything that can go wrong while building, fitting, scoring, saving or loading a method.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A matrix had the wrong shape, was empty or held NaN/Inf.
    #[error(transparent)]
    Shape(#[from] ssad_core::ShapeError),
    /// A candle tensor operation failed.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// From the transformation families.
    #[error(transparent)]
    Augment(#[from] ssad_augment::Error),
    /// From the networks and their weight files.
    #[error(transparent)]
    Models(#[from] ssad_models::Error),
    /// From the losses.
    #[error(transparent)]
    Losses(#[from] ssad_losses::Error),
    /// From the training loop.
    #[error(transparent)]
    Train(#[from] ssad_train::Error),
    /// From the scorers (classic detectors and downstream scores).
    #[error(transparent)]
    Scorers(#[from] ssad_scorers::Error),
    /// A configuration value is out of range, or a JSON config does not parse.
    #[error("invalid config `{field}`: {reason}")]
    InvalidConfig {
        /// The offending field (or `config` for a parse error).
        field: &'static str,
        /// Why it is rejected.
        reason: String,
    },
    /// The method does not take this kind of input (e.g. images given to a tabular method).
    #[error("{method} takes {expected} input, got {got}")]
    InputKind {
        /// The method.
        method: &'static str,
        /// The kind it takes.
        expected: &'static str,
        /// The kind it was given.
        got: &'static str,
    },
    /// Images of another size or channel count than the detector was fitted on.
    #[error("{method} was fitted on (C, H, W) = {expected:?} images, got {got:?}")]
    ImageShape {
        /// The method.
        method: &'static str,
        /// `[C, H, W]` of the training images.
        expected: [usize; 3],
        /// `[C, H, W]` of the given images.
        got: [usize; 3],
    },
    /// No registered method has this name.
    #[error("unknown method `{name}`; registered: {known}")]
    UnknownMethod {
        /// The name asked for.
        name: String,
        /// The registered names, comma-separated.
        known: String,
    },
    /// A model folder was written by another method than the loader's.
    #[error("model folder {path:?} holds a `{found}` model, not `{expected}`")]
    WrongMethod {
        /// The folder.
        path: PathBuf,
        /// The method whose loader was called.
        expected: &'static str,
        /// The method recorded in the folder.
        found: String,
    },
    /// A model folder is incomplete, from another format version, or inconsistent.
    #[error("corrupt model folder {path:?}: {reason}")]
    CorruptModel {
        /// The folder.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A file or folder could not be read or written.
    #[error("i/o error on {path:?}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }
}
