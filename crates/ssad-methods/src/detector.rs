//! The detector API: a [`Method`] (a configuration) fits into a [`Detector`].

use std::fmt::Debug;
use std::path::Path;

use ssad_core::Seed;

use crate::error::Result;
use crate::input::Input;

/// An unfitted method: its configuration, chosen at run time through the
/// [`crate::registry`] or built directly from a config struct.
pub trait Method: Send + Sync + Debug {
    /// The registry name, e.g. `"goad"`.
    fn name(&self) -> &'static str;

    /// The configuration as JSON, as the registry's `from_json` reads it back.
    fn config_json(&self) -> Result<serde_json::Value>;

    /// Fits on normal (or unlabelled) training data. Every random choice
    /// (weights, transformations, batch order) flows from `seed`: the same seed,
    /// data and thread count give bit-identical detectors.
    fn fit(&self, train: Input<'_>, seed: Seed) -> Result<Box<dyn Detector>>;
}

/// A fitted detector, PyOD's `decision_function`: higher = more anomalous.
pub trait Detector: Send + Sync + Debug {
    /// The registry name of the method that made it.
    fn method(&self) -> &'static str;

    /// One score per sample of `x`. Inputs of another kind or width, empty
    /// inputs and NaN/Inf give a typed error.
    fn score(&self, x: Input<'_>) -> Result<Vec<f64>>;

    /// Writes the detector into folder `dir` (created if missing), for
    /// [`crate::load`]; loading gives bit-identical scores.
    fn save(&self, dir: &Path) -> Result<()>;

    /// Pixel-level anomaly maps of images, for methods that localize anomalies
    /// (CutPaste); `Ok(None)` for the others.
    fn anomaly_maps(&self, _x: Input<'_>) -> Result<Option<AnomalyMaps>> {
        Ok(None)
    }
}

/// Per-pixel anomaly scores of a batch of images, with the display scale
/// fitted on the training images (never on the maps themselves).
#[derive(Debug, Clone, PartialEq)]
pub struct AnomalyMaps {
    /// `(N, H, W)` row-major scores, higher = more anomalous.
    pub maps: Vec<f32>,
    /// `[N, H, W]`.
    pub shape: [usize; 3],
    /// Scores mapped to the two ends of a colour scale: low and high
    /// percentiles of the training images' pixel scores.
    pub scale: (f32, f32),
}
