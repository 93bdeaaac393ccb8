//! Configuration of the `ssd` method: inspire-group/SSD's `train.py` and `eval_ssd.py`.

use serde::{Deserialize, Serialize};
use ssad_augment::{RandomResizedCrop, SimClr};
use ssad_models::{BackboneConfig, ResNetPreset};
use ssad_scorers::MahalanobisConfig;
use ssad_train::{OptimizerConfig, ScheduleConfig, SgdConfig};

use crate::error::Result;
use crate::simclr::pretrain::{ContrastiveLoss, Pretrain};

/// SSD (Sehwag et al., ICLR 2021): SimCLR pre-training, then the Mahalanobis
/// distance of L2-normalised, z-scored encoder features to the nearest of `k`
/// k-means clusters of the training features.
///
/// `Default` is SSD's code: ResNet-50 with the CIFAR stem, 128-d projection
/// (hidden = 2048), views `RandomResizedCrop(scale=(0.2, 1))`, flip, jitter
/// (p 0.8), greyscale (p 0.2), no blur; `SupConLoss(temperature=0.5)` without
/// labels (base temperature 0.07); SGD lr 0.5, momentum 0.9, weight decay 1e-4
/// (no Nesterov), cosine to 1e-4 per step, no warm-up (`--warmup` is off by
/// default); batch 512, 500 epochs; one cluster (`eval_ssd.py --clusters 1`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SsdConfig {
    /// The encoder; its input channels follow the images.
    pub backbone: BackboneConfig,
    /// Output size of the projection head (hidden size = feature size).
    pub proj_dim: usize,
    /// The view augmentation, applied twice per image.
    pub augment: SimClr,
    /// The contrastive loss.
    pub loss: ContrastiveLoss,
    /// Passes over the training set.
    pub epochs: usize,
    /// Images per batch (each gives two views).
    pub batch_size: usize,
    /// Optimizer and base learning rate.
    pub optimizer: OptimizerConfig,
    /// Learning-rate schedule.
    pub schedule: ScheduleConfig,
    /// Evaluate the schedule at every step rather than once per epoch.
    pub schedule_per_step: bool,
    /// SSD's scorer; its k-means seed is replaced by one derived from the fit seed.
    pub scorer: MahalanobisConfig,
}

impl Default for SsdConfig {
    fn default() -> Self {
        Self {
            backbone: BackboneConfig::Resnet50(ResNetPreset::default()),
            proj_dim: 128,
            augment: SimClr {
                crop: RandomResizedCrop {
                    scale: (0.2, 1.0),
                    ..RandomResizedCrop::default()
                },
                ..SimClr::csi()
            },
            loss: ContrastiveLoss::ssd(),
            epochs: 500,
            batch_size: 512,
            optimizer: OptimizerConfig::Sgd(SgdConfig {
                lr: 0.5,
                momentum: 0.9,
                nesterov: false,
                weight_decay: 1e-4,
            }),
            schedule: ScheduleConfig::Cosine {
                t_max: None,
                eta_min: 1e-4,
            },
            schedule_per_step: true,
            scorer: MahalanobisConfig::default(),
        }
    }
}

impl SsdConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        crate::simclr::check_proj_dim(self.proj_dim)?;
        if self.scorer.clusters.n_clusters == 0 {
            return Err(crate::error::Error::InvalidConfig {
                field: "scorer.clusters.n_clusters",
                reason: "must be >= 1".into(),
            });
        }
        self.pretrain().validate()
    }

    pub(crate) fn pretrain(&self) -> Pretrain {
        Pretrain {
            augment: self.augment,
            loss: self.loss,
            epochs: self.epochs,
            batch_size: self.batch_size,
            optimizer: self.optimizer.clone(),
            schedule: self.schedule.clone(),
            schedule_per_step: self.schedule_per_step,
        }
    }
}
