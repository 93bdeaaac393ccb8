//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong while training.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A tensor operation failed inside candle.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// A configuration value is outside its valid range.
    #[error("invalid {field}: {reason}")]
    InvalidConfig {
        /// The offending field.
        field: &'static str,
        /// Why it is invalid.
        reason: String,
    },
    /// The data source holds no samples, or too few for one batch.
    #[error(
        "no batches: {samples} samples with batch size {batch_size} and drop_last = {drop_last}"
    )]
    NoBatches {
        /// Samples in the source.
        samples: usize,
        /// Configured batch size.
        batch_size: usize,
        /// Whether an incomplete last batch is dropped.
        drop_last: bool,
    },
    /// The loss became NaN or infinite.
    #[error("non-finite loss {loss} at epoch {epoch}, step {step}")]
    NonFiniteLoss {
        /// The loss value.
        loss: f64,
        /// Epoch (0-based).
        epoch: usize,
        /// Step within the epoch (0-based).
        step: usize,
    },
    /// The objective's loss is not a scalar.
    #[error("the objective returned a loss of shape {0:?}, expected a scalar")]
    NonScalarLoss(Vec<usize>),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A checkpoint is missing, corrupt or does not match the model or config.
    #[error("checkpoint {path}: {reason}")]
    Checkpoint {
        /// The checkpoint directory.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// An error raised by a [`crate::BatchSource`] or [`crate::Objective`] implementation.
    #[error(transparent)]
    External(Box<dyn std::error::Error + Send + Sync>),
}

impl Error {
    /// Wraps an error of another crate (a data reader, an augmentation) so that
    /// a [`crate::BatchSource`] or [`crate::Objective`] can return it.
    pub fn external(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error::External(Box::new(e))
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Error::Io { path, source }
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;
