//! Downstream scorers and classic anomaly detectors.
//!
//! Everything that turns a feature matrix into anomaly scores, **higher = more
//! anomalous**: the downstream scorers that end every self-supervised method and
//! the classic detectors that serve as baselines.
//!
//! An unfitted configuration ([`Scorer`]) and a fitted scorer ([`FittedScorer`])
//! are different types, so a scorer cannot be used before it is fitted.
//! [`ScorerConfig`] puts every scorer behind one serde enum for run-time choice,
//! and [`save`]/[`load`] persist any fitted scorer.
//!
//! ```
//! use ssad_core::Matrix;
//! use ssad_scorers::{FittedScorer, KnnConfig, Scorer, ScorerConfig};
//!
//! let train = Matrix::from_rows(&[[0.0f32, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])?;
//! let test = Matrix::from_rows(&[[0.5f32, 0.5], [5.0, 5.0]])?;
//!
//! let knn = KnnConfig { n_neighbors: 2, ..KnnConfig::default() }.fit(train.view())?;
//! let scores = knn.score(test.view())?;
//! assert!(scores[1] > scores[0]);
//!
//! // The same, chosen at run time from JSON.
//! let config: ScorerConfig = serde_json::from_str(r#"{"kind": "knn", "n_neighbors": 2}"#)?;
//! assert_eq!(config.fit(train.view())?.score(test.view())?, scores);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

mod center;
mod check;
mod config;
mod dirichlet;
mod distance;
mod ecdf;
mod error;
mod gde;
mod hbos;
mod iforest;
mod kde;
mod kdtree;
mod kmeans;
mod knn;
mod linalg;
mod lof;
mod mahalanobis;
mod numpy_sum;
mod ocsvm;
mod pca;
pub mod persist;
mod softmax;
mod special;
mod traits;

pub use center::{CenterConfig, FittedCenter};
pub use config::ScorerConfig;
pub use dirichlet::{DirichletConfig, FittedDirichlet};
pub use distance::Metric;
pub use ecdf::{CopodConfig, EcodConfig, FittedCopod, FittedEcod};
pub use error::{Error, Result};
pub use gde::{FittedGde, GdeConfig, GdeScore};
pub use hbos::{FittedHbos, HbosConfig};
pub use iforest::{FittedIForest, IForestConfig};
pub use kde::{FittedKde, KdeConfig};
pub use kmeans::{KMeans, KMeansConfig};
pub use knn::{FittedKnn, KnnConfig, KnnMethod};
pub use lof::{FittedLof, LofConfig};
pub use mahalanobis::{Covariance, FittedMahalanobis, MahalanobisConfig, Preprocess};
pub use ocsvm::{FittedOcsvm, Gamma, OcsvmConfig};
pub use pca::{FittedPca, PcaConfig};
pub use persist::{load, save};
pub use softmax::{ClassifierOutput, FittedSoftmax, SoftmaxConfig};
pub use traits::{FittedScorer, Scorer};
