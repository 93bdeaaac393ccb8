//! Dataset readers, manifests and protocols.
#![warn(missing_docs)]
