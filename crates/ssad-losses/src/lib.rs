//! Training objectives on candle tensors.
//!
//! This crate will hold cross-entropy with label smoothing, GOAD's center triplet
//! loss, SimCLR's NT-Xent, CSI's con-SI, supervised contrastive loss and Deep
//! SVDD's distance to a center, each with documented shapes, golden values and
//! finite-difference gradient checks.
#![warn(missing_docs)]
