//! `csi`: CSI (Tack et al., NeurIPS 2020), contrastive learning with
//! distributionally shifted instances.
//!
//! Training (`simclr_CSI.py`): each image is flipped, rotated by the 4
//! quarter turns (`ssad-augment`'s `Rotations`) and augmented, twice; the
//! `2 × 4 × B` views go through the backbone and CSI's two heads
//! (`ssad-models`' `CsiHeads`) in one pass; the loss is con-SI (NT-Xent in
//! which every rotated copy is its own instance, `ssad-losses`) plus the
//! cross-entropy of the 4-way shift head, through `ssad-train`'s trainer.
//!
//! Score (`ood_pre.py`): every image is viewed `test_samples` times with the
//! fixed-area crop (`SimClr::csi_test_time`), per shift the projections and
//! the true-shift logit are averaged over the views, and
//! `s(x) = mean_k [max_m <z_k(x), z_k(x_m)/|z_k(x_m)|> w_sim_k + logit_k(x)[k] w_shi_k]`
//! with `w_sim_k = 1 / mean_m |z_k(x_m)|`, `w_shi_k = 1 / mean_m |logit_k(x_m)[k]|`
//! over the training images `x_m` (`ood_pre.py` divides by the plain mean
//! logit, the same for a trained shift head; its sign is arbitrary for a weak
//! one, see `score.rs`). The detector returns `-s(x)` (higher =
//! more anomalous). The views are keyed by a seed fixed at fit time and the
//! image's position in the scored batch, so scoring is deterministic.

mod config;
#[cfg(test)]
mod diagnose;
mod score;
mod train;

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use ssad_augment::{Rotations, SimClr, TransformFamily};
use ssad_core::Seed;
use ssad_train::Trainer;

pub use config::CsiConfig;

use crate::detector::{Detector, Method};
use crate::error::{Error, Result};
use crate::input::Input;
use crate::persist;
use crate::simclr::load_encoder;
use crate::simclr::pretrain::{Encoder, HeadKind, Images, SCORE_CHUNK, WEIGHTS_FILE};
use score::{CsiScore, ShiftFeatures};
use train::{shifted_view, CsiObjective, ShiftedPairSource, StepLosses};

/// Registry name.
pub(crate) const NAME: &str = "csi";
const SCORE_FILE: &str = "csi_score.safetensors";

/// Per-shift projections and true-shift logits of `images`, averaged over
/// `samples` views of `augment` keyed by `seed` and the image's position.
fn shift_features(
    encoder: &Encoder,
    images: &Images<'_>,
    augment: &SimClr,
    samples: usize,
    seed: Seed,
    dim: usize,
) -> Result<ShiftFeatures> {
    let k = Rotations.len();
    let mut feats = ShiftFeatures::new(images.n, k, dim);
    let chunk = (SCORE_CHUNK / k).max(1);
    for t in 0..samples as u64 {
        for start in (0..images.n).step_by(chunk) {
            let len = chunk.min(images.n - start);
            let idx: Vec<usize> = (start..start + len).collect();
            let x = shifted_view(
                images,
                &idx,
                augment,
                (seed.derive(2 * t), seed.derive(2 * t + 1)),
                0,
            )?;
            let (_, z, logits) = encoder.forward(&x, false)?;
            let logits = logits.ok_or_else(|| Error::InvalidConfig {
                field: "backbone",
                reason: "the CSI encoder has no shift head".into(),
            })?;
            feats.add(
                start,
                len,
                &z.flatten_all()?.to_vec1::<f32>()?,
                &logits.flatten_all()?.to_vec1::<f32>()?,
            );
        }
        feats.end_view();
    }
    Ok(feats.into_means())
}

impl CsiConfig {
    /// The encoder trained on `images` (con-SI + shift cross-entropy), and
    /// with `monitor` every step's loss parts.
    pub(crate) fn train_encoder(
        &self,
        images: &Images<'_>,
        seed: Seed,
        monitor: bool,
    ) -> Result<(Encoder, Vec<StepLosses>)> {
        let encoder = Encoder::new(
            &self.backbone,
            images.shape[0],
            self.proj_dim,
            HeadKind::Csi(Rotations.len()),
            seed.derive(1),
        )?;
        let mut objective = CsiObjective {
            encoder,
            temperature: self.loss.temperature,
            eps: self.loss.eps,
            monitor: monitor.then(Vec::new),
        };
        let source = ShiftedPairSource {
            images: *images,
            augment: self.augment,
            seed: seed.derive(2),
        };
        Trainer::new(self.pretrain().train_config(seed, images.n))?
            .train(&mut objective, &source)?;
        Ok((objective.encoder, objective.monitor.unwrap_or_default()))
    }
}

impl Method for CsiConfig {
    fn name(&self) -> &'static str {
        NAME
    }

    fn config_json(&self) -> Result<serde_json::Value> {
        persist::to_json(self)
    }

    fn fit(&self, train: Input<'_>, seed: Seed) -> Result<Box<dyn Detector>> {
        self.validate()?;
        let images = Images::check(train, NAME, None)?;
        let (encoder, _) = self.train_encoder(&images, seed, false)?;
        let test_seed = seed.derive(4);
        let train_feats = shift_features(
            &encoder,
            &images,
            &self.test_augment,
            self.test_samples,
            test_seed,
            self.proj_dim,
        )?;
        let score = CsiScore::fit(&train_feats)?;
        Ok(Box::new(CsiDetector {
            config: self.clone(),
            shape: images.shape,
            test_seed,
            encoder,
            score,
        }))
    }
}

/// A fitted CSI detector: the encoder with both heads and the training statistics.
struct CsiDetector {
    config: CsiConfig,
    shape: [usize; 3],
    test_seed: Seed,
    encoder: Encoder,
    score: CsiScore,
}

impl std::fmt::Debug for CsiDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CsiDetector")
            .field("config", &self.config)
            .field("shape", &self.shape)
            .field("encoder", &self.encoder)
            .finish()
    }
}

impl Detector for CsiDetector {
    fn method(&self) -> &'static str {
        NAME
    }

    fn score(&self, x: Input<'_>) -> Result<Vec<f64>> {
        let images = Images::check(x, NAME, Some(self.shape))?;
        let feats = shift_features(
            &self.encoder,
            &images,
            &self.config.test_augment,
            self.config.test_samples,
            self.test_seed,
            self.config.proj_dim,
        )?;
        Ok(self
            .score
            .normality(&feats)?
            .into_iter()
            .map(|s| -s)
            .collect())
    }

    fn save(&self, dir: &Path) -> Result<()> {
        persist::write_header(
            dir,
            NAME,
            persist::to_json(&self.config)?,
            serde_json::json!({ "shape": self.shape, "test_seed": self.test_seed.0 }),
        )?;
        self.encoder.vars.save(dir.join(WEIGHTS_FILE))?;
        let path = dir.join(SCORE_FILE);
        candle_core::safetensors::save(&self.score.to_tensors()?, &path)?;
        Ok(())
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CsiFitted {
    shape: [usize; 3],
    test_seed: u64,
}

/// Loads a detector saved by a fitted [`CsiConfig`].
pub(crate) fn load(dir: &Path) -> Result<Box<dyn Detector>> {
    let header = persist::read_header_of(dir, NAME)?;
    let config: CsiConfig = persist::parse(header.config, Some(dir))?;
    let fitted: CsiFitted = persist::parse(header.fitted, Some(dir))?;
    config.validate()?;
    let k = Rotations.len();
    let encoder = load_encoder(
        dir,
        &config.backbone,
        fitted.shape,
        config.proj_dim,
        HeadKind::Csi(k),
    )?;
    let corrupt = |reason: String| Error::CorruptModel {
        path: dir.to_path_buf(),
        reason,
    };
    let path = dir.join(SCORE_FILE);
    let bytes = std::fs::read(&path).map_err(Error::io(&path))?;
    let tensors: HashMap<String, Tensor> =
        candle_core::safetensors::load_buffer(&bytes, &Device::Cpu)
            .map_err(|e| corrupt(format!("{SCORE_FILE}: {e}")))?;
    let score = CsiScore::from_tensors(tensors, k, config.proj_dim).ok_or_else(|| {
        corrupt(format!(
            "{SCORE_FILE} does not hold {k} shifts of {}-d features",
            config.proj_dim
        ))
    })?;
    Ok(Box::new(CsiDetector {
        config,
        shape: fitted.shape,
        test_seed: Seed(fitted.test_seed),
        encoder,
        score,
    }))
}

impl crate::registry::MethodConfig for CsiConfig {
    fn check(&self) -> Result<()> {
        self.validate()
    }
}
