//! Dataset readers, manifests and protocols.
#![warn(missing_docs)]

pub mod error;
pub mod formats;
pub mod manifest;
pub mod protocols;
pub mod registry;

pub use error::{Error, Result};
pub use formats::Labeled;
