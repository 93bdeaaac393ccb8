//! Anomaly-detection methods composed from the other ssad crates, behind one
//! detector API and an explicit registry.
//!
//! A [`Method`] is a configuration (serde, `Default` = the paper's setting); it
//! is fitted on normal training data with a [`ssad_core::Seed`] and gives a
//! [`Detector`], which scores data (higher = more anomalous) and saves to a
//! folder that [`load`] reads back to bit-identical scores. Inputs are an
//! [`Input`]: a feature matrix or a batch of images.
//!
//! Methods, listed in [`REGISTRY`]:
//! * `goad` — GOAD for tabular data ([`GoadConfig`], presets [`GoadPreset`]);
//! * `simclr` — SimCLR pre-training, 1-NN cosine on the encoder features ([`SimclrConfig`]);
//! * `ssd` — SSD: SimCLR encoder, Mahalanobis to k-means clusters ([`SsdConfig`]);
//! * `csi` — CSI: rotations as shifted instances, ensemble score ([`CsiConfig`]);
//! * `cutpaste` — CutPaste for images, with pixel maps ([`CutPasteConfig`]);
//! * `classic` — any classic detector of `ssad-scorers` ([`ClassicConfig`]);
//! * `frozen` — a fixed (seeded or pre-trained) backbone plus a scorer, images ([`FrozenConfig`]);
//! * `autoencoder` — reconstruction error of a dense/conv autoencoder ([`AutoencoderConfig`]);
//! * `deep_svdd` — one-class Deep SVDD ([`DeepSvddConfig`]);
//! * `rotnet`, `geom`, `goad-images` — transformation classifiers on images:
//!   4 rotations / GEOM's 72 transforms, softmax / Dirichlet / center score
//!   ([`RotNetConfig`], [`GeomConfig`], [`GoadImagesConfig`]).
//!
//! Training progress bars are off unless [`set_progress`] turns them on.
//!
//! ```
//! use ssad_core::{Matrix, Seed};
//! use ssad_methods::{GoadConfig, Input, Method};
//!
//! // 64 normal points near a line in 3-d, and one far off it.
//! let rows: Vec<[f32; 3]> = (0..64).map(|i| { let t = i as f32 / 64.0; [t, 2.0 * t, -t] }).collect();
//! let train = Matrix::from_rows(&rows)?;
//! let test = Matrix::from_rows(&[[0.5f32, 1.0, -0.5], [3.0, -4.0, 5.0]])?;
//!
//! let goad = GoadConfig { num_transforms: 8, transform_dim: 4, ndf: 4, ..GoadConfig::default() };
//! let detector = goad.fit(Input::from(&train), Seed(0))?;
//! let scores = detector.score(Input::from(&test))?;
//! assert_eq!(scores.len(), 2);
//!
//! // The same method chosen at run time.
//! let same = ssad_methods::method("goad", Some(serde_json::json!({
//!     "num_transforms": 8, "transform_dim": 4, "ndf": 4
//! })))?;
//! assert_eq!(same.fit(Input::from(&train), Seed(0))?.score(Input::from(&test))?, scores);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

mod autoencoder;
mod classic;
mod csi;
mod cutpaste;
mod deep_svdd;
mod detector;
mod error;
mod frozen;
mod goad;
mod input;
mod persist;
mod progress;
pub mod registry;
mod simclr;
mod ssd;
mod transform_classifier;

pub use autoencoder::{AutoencoderConfig, AutoencoderDetector};
pub use classic::{ClassicConfig, ClassicDetector};
pub use csi::CsiConfig;
pub use cutpaste::{CutPasteConfig, CutPasteDetector, CutPasteTask, LocalizationConfig};
pub use deep_svdd::{DeepSvddConfig, DeepSvddDetector};
pub use detector::{AnomalyMaps, Detector, Method};
pub use error::{Error, Result};
pub use frozen::{FrozenConfig, FrozenDetector};
pub use goad::{GoadConfig, GoadDetector, GoadPreset};
pub use input::{ImageBatch, Input};
pub use persist::HEADER_FILE;
pub use progress::{progress, set_progress};
pub use registry::{entry, load, method, Entry, REGISTRY};
pub use simclr::{ContrastiveLoss, SimclrConfig};
pub use ssd::SsdConfig;
pub use transform_classifier::{
    CenterLoss, GeomConfig, GeomMethod, GoadImagesConfig, GoadImagesMethod, RotNetConfig,
    RotNetMethod, TransformClassifierConfig, TransformDetector, TransformScore, Transforms,
    Variant,
};
