//! Configuration of the `classic` method.

use serde::{Deserialize, Serialize};
use ssad_core::Seed;
use ssad_scorers::{KnnConfig, ScorerConfig};

/// A classic detector of `ssad-scorers` fitted directly on the features.
///
/// JSON: `{"scorer": {"kind": "iforest"}}`; the scorer's own defaults are PyOD's.
/// `Default` is PyOD's kNN (the scorers' first catalogue entry).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClassicConfig {
    /// Which detector, with its settings.
    pub scorer: ScorerConfig,
}

impl Default for ClassicConfig {
    fn default() -> Self {
        Self {
            scorer: KnnConfig::default().into(),
        }
    }
}

impl ClassicConfig {
    /// A classic method running `scorer`.
    pub fn new(scorer: impl Into<ScorerConfig>) -> Self {
        Self {
            scorer: scorer.into(),
        }
    }

    /// The scorer config with its random choices keyed by `seed`, so that the
    /// run's seed, not a constant in the config, drives e.g. the isolation forest.
    pub(crate) fn seeded(&self, seed: Seed) -> ScorerConfig {
        match &self.scorer {
            ScorerConfig::IForest(c) => {
                let mut c = c.clone();
                c.seed = seed.0;
                c.into()
            }
            other => other.clone(),
        }
    }
}
