//! Configuration of the `csi` method: alinlab/CSI's `simclr_CSI` training and
//! `ood_pre.py` CSI score.

use serde::{Deserialize, Serialize};
use ssad_augment::SimClr;
use ssad_losses::NtXent;
use ssad_models::BackboneConfig;
use ssad_train::{OptimizerConfig, ScheduleConfig};

use crate::error::{Error, Result};
use crate::simclr::pretrain::{ContrastiveLoss, Pretrain};
use crate::simclr::{check_proj_dim, csi_lars, csi_schedule};

/// CSI (Tack et al., NeurIPS 2020): contrastive learning with the 4 rotations
/// of every image as extra negatives (con-SI) plus a 4-way shift classifier,
/// scored by feature similarity and shift confidence averaged over shifts and
/// an ensemble of test-time views.
///
/// `Default` is CSI's code for one-class CIFAR-10: ResNet-18 (CIFAR stem),
/// 128-d projection, rotations as shifts; SimCLR views without blur; NT-Xent
/// temperature 0.5 and shift cross-entropy weighted 1:1; LARS lr 0.1 with a
/// ×10 warm-up over 10 epochs then cosine, per step; 128 images per step (4
/// GPUs × 32, each giving 2 views × 4 shifts); 1000 epochs (the code's
/// default; the paper's one-class count is not stated); score with 10
/// test-time views of crop area 0.54 (`--ood_samples 10 --resize_factor 0.54
/// --resize_fix`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CsiConfig {
    /// The encoder; its input channels follow the images.
    pub backbone: BackboneConfig,
    /// Output size of the projection head (`simclr_dim`).
    pub proj_dim: usize,
    /// The training views. Its `flip_p` is the probability of the horizontal
    /// flip CSI applies *before* rotating; the rest runs after the rotation.
    pub augment: SimClr,
    /// Temperature and `eps` of con-SI.
    pub loss: NtXent,
    /// Passes over the training set.
    pub epochs: usize,
    /// Images per batch (each gives 2 views × 4 rotations).
    pub batch_size: usize,
    /// Optimizer and base learning rate.
    pub optimizer: OptimizerConfig,
    /// Learning-rate schedule.
    pub schedule: ScheduleConfig,
    /// Evaluate the schedule at every step (CSI) rather than once per epoch.
    pub schedule_per_step: bool,
    /// Test-time views per image (`--ood_samples`), for the training
    /// statistics and for every scored image.
    pub test_samples: usize,
    /// The test-time view; `flip_p` as in `augment`.
    pub test_augment: SimClr,
}

impl Default for CsiConfig {
    fn default() -> Self {
        Self {
            backbone: BackboneConfig::default(),
            proj_dim: 128,
            augment: SimClr::csi(),
            loss: NtXent {
                temperature: 0.5,
                eps: 1e-8,
            },
            epochs: 1000,
            batch_size: 128,
            optimizer: csi_lars(),
            schedule: csi_schedule(),
            schedule_per_step: true,
            test_samples: 10,
            test_augment: SimClr::csi_test_time(),
        }
    }
}

impl CsiConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        check_proj_dim(self.proj_dim)?;
        if self.test_samples == 0 {
            return Err(Error::InvalidConfig {
                field: "test_samples",
                reason: "must be >= 1".into(),
            });
        }
        self.test_augment.validate()?;
        self.pretrain().validate()
    }

    pub(crate) fn pretrain(&self) -> Pretrain {
        Pretrain {
            augment: self.augment,
            loss: ContrastiveLoss::NtXent(self.loss),
            epochs: self.epochs,
            batch_size: self.batch_size,
            optimizer: self.optimizer.clone(),
            schedule: self.schedule.clone(),
            schedule_per_step: self.schedule_per_step,
        }
    }
}
