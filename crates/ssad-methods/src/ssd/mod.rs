//! `ssd`: SSD (Sehwag et al., ICLR 2021), the SimCLR encoder of `simclr`
//! trained with SSD's settings and scored by `ssad-scorers`' Mahalanobis
//! scorer with SSD's preprocessing (L2 normalisation, z-scoring with the
//! training statistics, seeded k-means, pseudo-inverse covariance, minimum
//! over clusters).

mod config;

use std::path::Path;

use ssad_core::Seed;
use ssad_scorers::{MahalanobisConfig, Scorer};

pub use config::SsdConfig;

use crate::detector::{Detector, Method};
use crate::error::Result;
use crate::input::Input;
use crate::persist;
use crate::simclr::pretrain::Images;
use crate::simclr::{load_encoder_detector, train_encoder, EncoderDetector};

/// Registry name.
pub(crate) const NAME: &str = "ssd";

impl SsdConfig {
    /// The scorer with its k-means seed taken from the fit seed.
    fn seeded_scorer(&self, seed: Seed) -> MahalanobisConfig {
        let mut scorer = self.scorer.clone();
        scorer.clusters.seed = seed.derive(3);
        scorer
    }
}

impl Method for SsdConfig {
    fn name(&self) -> &'static str {
        NAME
    }

    fn config_json(&self) -> Result<serde_json::Value> {
        persist::to_json(self)
    }

    fn fit(&self, train: Input<'_>, seed: Seed) -> Result<Box<dyn Detector>> {
        self.validate()?;
        let images = Images::check(train, NAME, None)?;
        let encoder = train_encoder(
            &self.backbone,
            self.proj_dim,
            &self.pretrain(),
            images,
            seed,
        )?;
        let features = encoder.features(&images)?;
        let scorer = Box::new(self.seeded_scorer(seed).fit(features.view())?);
        Ok(Box::new(EncoderDetector {
            method: NAME,
            config: self.config_json()?,
            shape: images.shape,
            encoder,
            scorer,
        }))
    }
}

/// Loads a detector saved by a fitted [`SsdConfig`].
pub(crate) fn load(dir: &Path) -> Result<Box<dyn Detector>> {
    load_encoder_detector::<SsdConfig>(dir, NAME, |c| (&c.backbone, c.proj_dim))
}

impl crate::registry::MethodConfig for SsdConfig {
    fn check(&self) -> Result<()> {
        self.validate()
    }
}
