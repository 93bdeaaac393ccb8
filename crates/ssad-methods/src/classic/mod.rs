//! `classic`: any classic detector of `ssad-scorers` as a method, so that result
//! tables compare the self-supervised methods with them under one protocol.

mod config;

use std::path::Path;

use ssad_core::Seed;
use ssad_scorers::FittedScorer;

pub use config::ClassicConfig;

use crate::detector::{Detector, Method};
use crate::error::Result;
use crate::input::Input;
use crate::persist;

/// Registry name.
pub(crate) const NAME: &str = "classic";
const SCORER_DIR: &str = "scorer";

impl Method for ClassicConfig {
    fn name(&self) -> &'static str {
        NAME
    }

    fn config_json(&self) -> Result<serde_json::Value> {
        persist::to_json(self)
    }

    fn fit(&self, train: Input<'_>, seed: Seed) -> Result<Box<dyn Detector>> {
        let train = train.tabular(NAME)?;
        let fitted = self.seeded(seed).fit(train)?;
        Ok(Box::new(ClassicDetector {
            config: self.clone(),
            fitted,
        }))
    }
}

/// A fitted classic detector.
pub struct ClassicDetector {
    config: ClassicConfig,
    fitted: Box<dyn FittedScorer>,
}

impl std::fmt::Debug for ClassicDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClassicDetector")
            .field("config", &self.config)
            .field("n_features", &self.fitted.n_features())
            .finish()
    }
}

impl Detector for ClassicDetector {
    fn method(&self) -> &'static str {
        NAME
    }

    fn score(&self, x: Input<'_>) -> Result<Vec<f64>> {
        let x = x.tabular(NAME)?;
        // An empty set is a caller error for every method, whatever the scorer allows.
        x.check_non_empty()?;
        Ok(self.fitted.score(x)?)
    }

    fn save(&self, dir: &Path) -> Result<()> {
        persist::write_header(
            dir,
            NAME,
            persist::to_json(&self.config)?,
            serde_json::json!({ "n_features": self.fitted.n_features() }),
        )?;
        Ok(ssad_scorers::save(
            self.fitted.as_ref(),
            &dir.join(SCORER_DIR),
        )?)
    }
}

/// Loads a detector saved by [`ClassicDetector`]'s `save`.
pub(crate) fn load(dir: &Path) -> Result<Box<dyn Detector>> {
    let header = persist::read_header_of(dir, NAME)?;
    let config: ClassicConfig = persist::parse(header.config, Some(dir))?;
    let fitted = ssad_scorers::load(&dir.join(SCORER_DIR))?;
    Ok(Box::new(ClassicDetector { config, fitted }))
}

impl crate::registry::MethodConfig for ClassicConfig {}
