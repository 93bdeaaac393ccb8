//! Dataset readers, manifests and evaluation protocols.
//!
//! * [`formats`]: readers for the datasets' native files (`.npy`/`.npz`,
//!   MATLAB v5 `.mat`, KDD Cup 99 CSV, IDX, CIFAR-10 binary batches, the MVTec AD
//!   folder layout). Features come back as [`ssad_core::Matrix`]; errors name the file.
//! * [`protocols`]: the published train/test splits as code (GOAD tabular,
//!   KDD and KDDRev, one-class images, ADBench's stratified split) and the
//!   scalers fitted on training rows.
//! * [`manifest`] and [`registry`]: what each dataset should contain, where it
//!   lives (`SSAD_DATA_DIR`) and checksum verification.
//!
//! ```
//! use std::path::Path;
//! use ssad_data::formats::parse_npy;
//! use ssad_data::protocols::Standardizer;
//!
//! // A 3x2 float64 array stored column-major, as ADBench's `X` arrays are.
//! let header = "{'descr': '<f8', 'fortran_order': True, 'shape': (3, 2), }\n";
//! let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
//! bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
//! bytes.extend_from_slice(header.as_bytes());
//! for v in [1.0f64, 2.0, 3.0, 10.0, 10.0, 10.0] {
//!     bytes.extend_from_slice(&v.to_le_bytes());
//! }
//! let x = parse_npy(&bytes, Path::new("x.npy"))?.to_matrix(Path::new("x.npy"))?;
//! assert_eq!(x.row(0), &[1.0, 10.0]);
//!
//! // z-score with training statistics; a constant column keeps std 1 (GOAD's rule).
//! let z = Standardizer::fit(x.view())?.transform(x.view())?;
//! assert_eq!(z.row(1), &[0.0, 0.0]);
//! # Ok::<(), ssad_data::Error>(())
//! ```
#![warn(missing_docs)]

pub mod error;
pub mod formats;
pub mod manifest;
pub mod protocols;
pub mod registry;

pub use error::{Error, Result};
pub use formats::Labeled;
