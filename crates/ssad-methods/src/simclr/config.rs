//! Configuration of the `simclr` method: CSI's SimCLR baseline settings.

use serde::{Deserialize, Serialize};
use ssad_augment::SimClr;
use ssad_models::BackboneConfig;
use ssad_scorers::{KnnConfig, KnnMethod, Metric, ScorerConfig};
use ssad_train::{LarsConfig, OptimizerConfig, ScheduleConfig};

use super::pretrain::{ContrastiveLoss, Pretrain};
use crate::error::{Error, Result};

/// SimCLR (Chen et al., ICML 2020) as the one-class baseline of CSI (Tack et
/// al., NeurIPS 2020, `--mode simclr`): contrastive pre-training of a
/// ResNet-18, then a detector on the encoder features.
///
/// `Default` is CSI's code: ResNet-18 with the CIFAR stem, 128-d projection,
/// SimCLR augmentation without blur, NT-Xent at temperature 0.5, LARS (lr 0.1,
/// momentum 0.9, weight decay 1e-6) with a ×10 warm-up over 10 epochs then
/// cosine, per step, 128 images per batch, 1000 epochs (the code's default;
/// the paper's one-class epoch count is not stated). The score is the cosine
/// distance to the nearest training feature (1-NN), which is CSI's `simclr`
/// score (maximum cosine similarity) on the encoder features instead of the
/// projection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimclrConfig {
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
    /// Evaluate the schedule at every step (CSI) rather than once per epoch.
    pub schedule_per_step: bool,
    /// The detector fitted on the training images' encoder features.
    pub scorer: ScorerConfig,
}

impl Default for SimclrConfig {
    fn default() -> Self {
        Self {
            backbone: BackboneConfig::default(),
            proj_dim: 128,
            augment: SimClr::csi(),
            loss: ContrastiveLoss::simclr(),
            epochs: 1000,
            batch_size: 128,
            optimizer: csi_lars(),
            schedule: csi_schedule(),
            schedule_per_step: true,
            scorer: ScorerConfig::Knn(KnnConfig {
                n_neighbors: 1,
                method: KnnMethod::Largest,
                metric: Metric::Cosine,
            }),
        }
    }
}

/// CSI's optimizer: LARS around SGD (lr 0.1, momentum 0.9, weight decay 1e-6).
pub(crate) fn csi_lars() -> OptimizerConfig {
    OptimizerConfig::Lars(LarsConfig::default())
}

/// CSI's schedule: ×10 linear warm-up over 10 epochs, then cosine to 0.
pub(crate) fn csi_schedule() -> ScheduleConfig {
    ScheduleConfig::WarmupCosine {
        multiplier: 10.0,
        warmup_epochs: 10,
        t_max: None,
        eta_min: 0.0,
    }
}

pub(crate) fn check_proj_dim(proj_dim: usize) -> Result<()> {
    if proj_dim == 0 {
        return Err(Error::InvalidConfig {
            field: "proj_dim",
            reason: "must be >= 1".into(),
        });
    }
    Ok(())
}

impl SimclrConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        check_proj_dim(self.proj_dim)?;
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
