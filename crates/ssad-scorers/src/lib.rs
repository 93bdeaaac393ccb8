//! Downstream scorers and classic anomaly detectors.
//!
//! Everything that turns a feature matrix into anomaly scores, **higher = more
//! anomalous**: the downstream scorers that end every self-supervised method and
//! the classic detectors that serve as baselines.
//!
//! An unfitted configuration ([`Scorer`]) and a fitted scorer ([`FittedScorer`])
//! are different types, so a scorer cannot be used before it is fitted.
#![warn(missing_docs)]

mod error;
mod traits;

pub use error::{Error, Result};
pub use traits::{FittedScorer, Scorer};
