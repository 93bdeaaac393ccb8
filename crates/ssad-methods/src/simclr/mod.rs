//! `simclr`: SimCLR pre-training (Chen et al. 2020), then a detector on the
//! encoder features; CSI's SimCLR baseline for one-class detection.
//!
//! The pre-training here is shared with `ssd` (same encoder, other defaults
//! and scorer) and `csi` (shifted instances added): two seeded SimCLR views
//! per image (`ssad-augment`), backbone + projection head (`ssad-models`), a
//! contrastive loss (`ssad-losses`), `ssad-train`'s trainer. After training
//! the projection head is kept in the model folder but not used: the scorer
//! (`ssad-scorers`, 1-NN cosine distance by default) reads the penultimate
//! features, as SSD and CSI's `simclr` score do.

mod config;
pub(crate) mod pretrain;

use std::path::Path;

use ssad_core::Seed;
use ssad_models::{BackboneConfig, ExtraTensors};
use ssad_scorers::FittedScorer;
use ssad_train::Trainer;

pub use config::SimclrConfig;
pub(crate) use config::{check_proj_dim, csi_lars, csi_schedule};
pub use pretrain::ContrastiveLoss;

use crate::detector::{Detector, Method};
use crate::error::{Error, Result};
use crate::input::Input;
use crate::persist;
use crate::registry::MethodConfig;
use pretrain::{Encoder, HeadKind, Images, PairSource, Pretrain, SimclrObjective, WEIGHTS_FILE};

/// Registry name.
pub(crate) const NAME: &str = "simclr";
const SCORER_DIR: &str = "scorer";

/// Trains a backbone + projection head with SimCLR on `images`.
pub(crate) fn train_encoder(
    backbone: &BackboneConfig,
    proj_dim: usize,
    pretrain: &Pretrain,
    images: Images<'_>,
    seed: Seed,
) -> Result<Encoder> {
    let encoder = Encoder::new(
        backbone,
        images.shape[0],
        proj_dim,
        HeadKind::Projection,
        seed.derive(1),
    )?;
    let mut objective = SimclrObjective {
        encoder,
        loss: pretrain.loss,
    };
    let source = PairSource {
        images,
        augment: pretrain.augment,
        seed: seed.derive(2),
    };
    Trainer::new(pretrain.train_config(seed, images.n))?.train(&mut objective, &source)?;
    Ok(objective.encoder)
}

impl Method for SimclrConfig {
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
        let scorer = self.scorer.fit(encoder.features(&images)?.view())?;
        Ok(Box::new(EncoderDetector {
            method: NAME,
            config: self.config_json()?,
            shape: images.shape,
            encoder,
            scorer,
        }))
    }
}

/// A trained encoder and a scorer fitted on its features: `simclr` and `ssd`.
pub(crate) struct EncoderDetector {
    pub method: &'static str,
    pub config: serde_json::Value,
    pub shape: [usize; 3],
    pub encoder: Encoder,
    pub scorer: Box<dyn FittedScorer>,
}

impl std::fmt::Debug for EncoderDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncoderDetector")
            .field("method", &self.method)
            .field("config", &self.config)
            .field("shape", &self.shape)
            .field("encoder", &self.encoder)
            .finish()
    }
}

impl Detector for EncoderDetector {
    fn method(&self) -> &'static str {
        self.method
    }

    fn score(&self, x: Input<'_>) -> Result<Vec<f64>> {
        let images = Images::check(x, self.method, Some(self.shape))?;
        Ok(self.scorer.score(self.encoder.features(&images)?.view())?)
    }

    fn save(&self, dir: &Path) -> Result<()> {
        persist::write_header(
            dir,
            self.method,
            self.config.clone(),
            serde_json::json!({ "shape": self.shape }),
        )?;
        self.encoder.vars.save(dir.join(WEIGHTS_FILE))?;
        ssad_scorers::save(self.scorer.as_ref(), &dir.join(SCORER_DIR))?;
        Ok(())
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Fitted {
    pub shape: [usize; 3],
}

/// Rebuilds a saved encoder: the architecture from the config, the values
/// from the weight file.
pub(crate) fn load_encoder(
    dir: &Path,
    backbone: &BackboneConfig,
    shape: [usize; 3],
    proj_dim: usize,
    heads: HeadKind,
) -> Result<Encoder> {
    // The seed only fills values that the weight file then overwrites.
    let encoder = Encoder::new(backbone, shape[0], proj_dim, heads, Seed(0))?;
    encoder
        .vars
        .load(dir.join(WEIGHTS_FILE), ExtraTensors::Reject)?;
    Ok(encoder)
}

/// Loads the scorer of an [`EncoderDetector`] and checks its width.
pub(crate) fn load_scorer(dir: &Path, encoder: &Encoder) -> Result<Box<dyn FittedScorer>> {
    let scorer = ssad_scorers::load(&dir.join(SCORER_DIR))?;
    if scorer.n_features() != encoder.embed_dim() {
        return Err(Error::CorruptModel {
            path: dir.to_path_buf(),
            reason: format!(
                "the saved scorer reads {} features, the encoder gives {}",
                scorer.n_features(),
                encoder.embed_dim()
            ),
        });
    }
    Ok(scorer)
}

/// Loads an [`EncoderDetector`] that method `name` (`simclr` or `ssd`) saved;
/// `encoder_of` reads the backbone and projection width from its config `C`.
pub(crate) fn load_encoder_detector<C: MethodConfig>(
    dir: &Path,
    name: &'static str,
    encoder_of: fn(&C) -> (&BackboneConfig, usize),
) -> Result<Box<dyn Detector>> {
    let header = persist::read_header_of(dir, name)?;
    let config: C = persist::parse(header.config.clone(), Some(dir))?;
    let fitted: Fitted = persist::parse(header.fitted, Some(dir))?;
    config.check()?;
    let (backbone, proj_dim) = encoder_of(&config);
    let encoder = load_encoder(dir, backbone, fitted.shape, proj_dim, HeadKind::Projection)?;
    let scorer = load_scorer(dir, &encoder)?;
    Ok(Box::new(EncoderDetector {
        method: name,
        config: header.config,
        shape: fitted.shape,
        encoder,
        scorer,
    }))
}

/// Loads a detector saved by a fitted [`SimclrConfig`].
pub(crate) fn load(dir: &Path) -> Result<Box<dyn Detector>> {
    load_encoder_detector::<SimclrConfig>(dir, NAME, |c| (&c.backbone, c.proj_dim))
}

impl crate::registry::MethodConfig for SimclrConfig {
    fn check(&self) -> Result<()> {
        self.validate()
    }
}
