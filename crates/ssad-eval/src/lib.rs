//! Anomaly-detection metrics (pure Rust, no tensor library).
#![warn(missing_docs)]
