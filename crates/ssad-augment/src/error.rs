//! The crate's one error type.

/// Everything that can go wrong in `ssad-augment`, reported instead of a panic.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A tensor operation failed inside candle.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// A tensor has the wrong number of dimensions.
    #[error("expected a rank-{expected} tensor {what}, got shape {got:?}")]
    Rank {
        /// The rank required.
        expected: usize,
        /// What the tensor should hold, e.g. "(B, C, H, W)".
        what: &'static str,
        /// The shape given.
        got: Vec<usize>,
    },
    /// A dimension does not have the size required.
    #[error("dimension mismatch: {reason}")]
    Shape {
        /// What was expected and what was found.
        reason: String,
    },
    /// A 90-degree rotation was asked of a non-square image.
    #[error("a 90-degree rotation needs a square image, got {height} x {width}")]
    NotSquare {
        /// Image height.
        height: usize,
        /// Image width.
        width: usize,
    },
    /// A batch, image or feature dimension is empty.
    #[error("empty input: {what}")]
    Empty {
        /// Which part is empty.
        what: &'static str,
    },
    /// The input holds a NaN or an infinity.
    #[error("non-finite value {value} at flat position {position}")]
    NonFinite {
        /// Row-major position of the first bad value.
        position: usize,
        /// The value itself.
        value: f32,
    },
    /// A patch or crop cannot fit inside the image.
    #[error(
        "patch of up to {patch_height} x {patch_width} does not fit a {height} x {width} image"
    )]
    PatchTooLarge {
        /// Largest patch height the configuration can draw.
        patch_height: usize,
        /// Largest patch width the configuration can draw.
        patch_width: usize,
        /// Image height.
        height: usize,
        /// Image width.
        width: usize,
    },
    /// A transformation index is outside the family.
    #[error("transformation index {index} out of range for a family of {len}")]
    Index {
        /// The index asked for.
        index: usize,
        /// Size of the family.
        len: usize,
    },
    /// A configuration value is out of its valid range.
    #[error("invalid configuration `{field}`: {reason}")]
    InvalidConfig {
        /// The offending field.
        field: &'static str,
        /// Why it is invalid.
        reason: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
