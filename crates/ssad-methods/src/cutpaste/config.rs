//! Configuration of CutPaste, with the paper's settings as defaults.

use serde::{Deserialize, Serialize};
use ssad_augment::{CutPasteConfig as CutConfig, CutPasteTask, CutPasteViews, ScarConfig};
use ssad_models::{BackboneConfig, CutPasteHeadConfig, ResNetPreset, Stem};
use ssad_scorers::GdeConfig;
use ssad_train::{OptimizerConfig, ScheduleConfig, SgdConfig, TrainConfig};

use crate::error::{Error, Result};

/// The patch-level model of CutPaste's localization (paper Sec. 4.3): trained on
/// random `patch_size` crops, it embeds every `patch_size` window of a test
/// image at `stride`, scores each with a GDE fitted on the training images'
/// windows, and spreads the window scores to pixels (mean over the windows that
/// cover a pixel, then a Gaussian of `sigma`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LocalizationConfig {
    /// Train the patch model and produce pixel maps.
    pub enabled: bool,
    /// Side of the training crops and of the scored windows, in pixels: 64.
    pub patch_size: usize,
    /// Step between scored windows, in pixels: 4.
    pub stride: usize,
    /// Step between the training images' windows the patch GDE is fitted on:
    /// 4, the test stride.
    pub fit_stride: usize,
    /// Standard deviation of the Gaussian smoothing of the pixel map: 4.
    pub sigma: f64,
    /// Parameter updates of the patch model: 65,536, as the image model (the
    /// paper gives no separate figure).
    pub steps: usize,
    /// Crops per batch, each giving one view per class; `None`: 32, i.e. 64
    /// views (96 for the 3-way task).
    pub batch_size: Option<usize>,
    /// Percentiles of the training pixel scores mapped to the ends of the
    /// heatmap colour scale: `(1, 99)`. The scores are held out: 2-fold
    /// cross-fitting of the window GDE over the training images, maps at the
    /// test `stride`, so that the scale matches what unseen normal images get.
    pub heatmap_percentiles: (f64, f64),
}

impl Default for LocalizationConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            patch_size: 64,
            stride: 4,
            fit_stride: 4,
            sigma: 4.0,
            steps: PAPER_STEPS,
            batch_size: None,
            heatmap_percentiles: (1.0, 99.0),
        }
    }
}

/// CutPaste (Li et al., CVPR 2021), trained as Runinho/pytorch-cutpaste does.
///
/// A ResNet-18 (ImageNet stem, from scratch) with the MLP head of
/// `ssad_models::CutPasteHead` learns to tell normal images from their CutPaste
/// (and/or scar) versions with cross-entropy: SGD lr 0.03, momentum 0.9, weight
/// decay 3e-5, one cosine cycle over `steps` updates of `batch_size` images
/// drawn with replacement-free shuffling from the repeated training set. The
/// image score is the Mahalanobis distance of the L2-normalised backbone
/// features under a Ledoit-Wolf Gaussian of the training features (GDE).
///
/// Images are `(N, C, H, W)` in `[0, 1]` at the size the model is to work at
/// (the paper's is 256×256); with 3 channels they are normalised with the
/// ImageNet mean and std after augmentation, as torchvision's `Normalize`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CutPasteConfig {
    /// Binary (CutPaste), scar, union or 3-way: the paper's best is 3-way.
    pub task: CutPasteTask,
    /// The CutPaste patch distribution.
    pub cutpaste: CutConfig,
    /// The scar distribution.
    pub scar: ScarConfig,
    /// The encoder: ResNet-18 with the ImageNet stem.
    pub backbone: BackboneConfig,
    /// Hidden layers of the MLP head before its embedding layer: 8.
    pub head_layers: usize,
    /// Width of the head's hidden layers: 512.
    pub head_dim: usize,
    /// Width of the head's last layer: 128.
    pub embed_dim: usize,
    /// Parameter updates: 65,536 (Li et al. 2021, Appendix A.1: "updated for
    /// 65k steps", 256 of its epochs of 256 steps).
    pub steps: usize,
    /// Images per batch, each giving one view per class; `None`: 32, i.e. the
    /// paper's batch of 64 views (96 for 3-way).
    pub batch_size: Option<usize>,
    /// SGD learning rate: 0.03.
    pub lr: f64,
    /// SGD momentum: 0.9.
    pub momentum: f64,
    /// L2 weight decay: 3e-5.
    pub weight_decay: f64,
    /// Normalise 3-channel images with the ImageNet mean and std.
    pub imagenet_normalize: bool,
    /// The density estimator on the features.
    pub gde: GdeConfig,
    /// The patch-level localization model.
    pub localization: LocalizationConfig,
}

impl Default for CutPasteConfig {
    fn default() -> Self {
        Self {
            task: CutPasteTask::ThreeWay,
            cutpaste: CutConfig::default(),
            scar: ScarConfig::default(),
            backbone: BackboneConfig::Resnet18(ResNetPreset {
                stem: Stem::Imagenet,
                in_channels: 3,
                num_classes: None,
            }),
            head_layers: 8,
            head_dim: 512,
            embed_dim: 128,
            steps: PAPER_STEPS,
            batch_size: None,
            lr: 0.03,
            momentum: 0.9,
            weight_decay: 3e-5,
            imagenet_normalize: true,
            gde: GdeConfig::default(),
            localization: LocalizationConfig::default(),
        }
    }
}

/// The paper's training length: "65k steps" (Appendix A.1), 256 of its
/// "epochs" of 256 parameter updates.
const PAPER_STEPS: usize = 256 * 256;

/// Images per batch: `chosen`, or 32. The paper's "batch size of 64 (or 96 for
/// 3-way)" counts views, one per class of each image (Runinho/pytorch-cutpaste
/// reads it the same way): 32 images give 64 views, or 96 with 3 classes.
pub(crate) fn paper_batch(chosen: Option<usize>) -> usize {
    chosen.unwrap_or(32)
}

impl CutPasteConfig {
    /// Checks every field (the augmentations' ranges included).
    pub fn validate(&self) -> Result<()> {
        let bad = |field, reason: &str| {
            Err(Error::InvalidConfig {
                field,
                reason: reason.to_string(),
            })
        };
        self.views()?;
        for (field, v) in [
            ("head_dim", self.head_dim),
            ("embed_dim", self.embed_dim),
            ("steps", self.steps),
            ("localization.patch_size", self.localization.patch_size),
            ("localization.stride", self.localization.stride),
            ("localization.fit_stride", self.localization.fit_stride),
            ("localization.steps", self.localization.steps),
        ] {
            if v == 0 {
                return bad(field, "must be >= 1");
            }
        }
        for (field, b) in [
            ("batch_size", self.batch_size),
            ("localization.batch_size", self.localization.batch_size),
        ] {
            // BatchNorm needs more than one value per channel.
            if b.is_some_and(|b| b < 2) {
                return bad(field, "must be >= 2");
            }
        }
        // Wider steps than windows would leave pixels no window covers.
        if self.localization.stride > self.localization.patch_size
            || self.localization.fit_stride > self.localization.patch_size
        {
            return bad("localization.stride", "strides must be <= patch_size");
        }
        if !(self.localization.sigma.is_finite() && self.localization.sigma >= 0.0) {
            return bad("localization.sigma", "must be finite and >= 0");
        }
        let (lo, hi) = self.localization.heatmap_percentiles;
        if !(0.0..=100.0).contains(&lo) || !(0.0..=100.0).contains(&hi) || lo >= hi {
            return bad(
                "localization.heatmap_percentiles",
                "need 0 <= low < high <= 100",
            );
        }
        self.train_config(ssad_core::Seed(0), self.batch())
            .validate()?;
        Ok(())
    }

    pub(crate) fn views(&self) -> Result<CutPasteViews> {
        Ok(CutPasteViews::new(self.task, self.cutpaste, self.scar)?)
    }

    /// Images per batch of the image-level model.
    pub(crate) fn batch(&self) -> usize {
        paper_batch(self.batch_size)
    }

    /// Crops per batch of the patch-level model.
    pub(crate) fn local_batch(&self) -> usize {
        paper_batch(self.localization.batch_size)
    }

    pub(crate) fn head(&self, in_dim: usize, num_classes: usize) -> CutPasteHeadConfig {
        CutPasteHeadConfig {
            in_dim,
            hidden_layers: self.head_layers,
            hidden_dim: self.head_dim,
            embed_dim: self.embed_dim,
            num_classes,
        }
    }

    /// One epoch over `steps * batch` draws of the repeated training set, the
    /// cosine evaluated per step: Runinho's `CosineAnnealingWarmRestarts(T_0 =
    /// steps)` stepped once per update, which never reaches its restart.
    pub(crate) fn train_config(&self, seed: ssad_core::Seed, batch: usize) -> TrainConfig {
        TrainConfig {
            epochs: 1,
            batch_size: batch,
            drop_last: true,
            optimizer: OptimizerConfig::Sgd(SgdConfig {
                lr: self.lr,
                momentum: self.momentum,
                nesterov: false,
                weight_decay: self.weight_decay,
            }),
            schedule: ScheduleConfig::Cosine {
                t_max: None,
                eta_min: 0.0,
            },
            schedule_per_step: true,
            seed,
            progress: false,
            log_steps: true,
            ..TrainConfig::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The paper's batch of 64 views, 96 for 3-way: 32 images, one view per class.
    #[test]
    fn default_batch_is_the_papers_views() {
        for (task, views) in [
            (CutPasteTask::Binary, 64),
            (CutPasteTask::Scar, 64),
            (CutPasteTask::Union, 64),
            (CutPasteTask::ThreeWay, 96),
        ] {
            let c = CutPasteConfig {
                task,
                ..CutPasteConfig::default()
            };
            let n = c.views().unwrap().n_views();
            assert_eq!(c.batch() * n, views, "{task:?}");
            assert_eq!(c.local_batch() * n, views, "{task:?}");
        }
        let chosen = CutPasteConfig {
            batch_size: Some(5),
            ..CutPasteConfig::default()
        };
        assert_eq!((chosen.batch(), chosen.local_batch()), (5, 32));
    }
}
