//! Shared vocabulary of the ssad workspace: the feature-matrix type every tabular
//! crate exchanges, and the seed from which every random choice flows.
//!
//! This crate is deliberately tiny and has no tensor dependency, so that the
//! classic scorers and the data readers can be used without candle.
//!
//! ```
//! use ssad_core::{Matrix, Seed, Stream};
//! use rand::Rng;
//!
//! let x = Matrix::new(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 3, 2)?;
//! assert_eq!(x.row(1), &[3.0, 4.0]);
//! assert_eq!(x.view().select_rows(&[2, 0])?.as_slice(), &[5.0, 6.0, 1.0, 2.0]);
//!
//! // The same (seed, stream, epoch, index) always gives the same numbers,
//! // whatever thread asks for them.
//! let a: u64 = Seed(7).rng(Stream::Augment, 0, 42).random();
//! let b: u64 = Seed(7).rng(Stream::Augment, 0, 42).random();
//! assert_eq!(a, b);
//! # Ok::<(), ssad_core::ShapeError>(())
//! ```
#![warn(missing_docs)]

mod matrix;
mod seed;

pub use matrix::{Matrix, MatrixView, ShapeError};
pub use seed::{Seed, Stream};
