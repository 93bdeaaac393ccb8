//! Dataset readers, manifests and protocols.
#![warn(missing_docs)]

pub mod error;
pub mod manifest;
pub mod registry;

pub use error::{Error, Result};
