//! Configuration of Deep SVDD.

use serde::{Deserialize, Serialize};
use ssad_core::Seed;
use ssad_train::{AdamConfig, OptimizerConfig, ScheduleConfig, TrainConfig};

use crate::error::{Error, Result};

/// One-class Deep SVDD (Ruff et al., ICML 2018), as lukasruff/Deep-SVDD-PyTorch.
///
/// `Default`: the reference README's command (`--objective one-class --lr
/// 0.0001 --n_epochs 150 --lr_milestone 50 --batch_size 200 --pretrain True
/// --ae_lr 0.0001 --ae_n_epochs 150 --ae_lr_milestone 50 --ae_batch_size 200
/// --ae_weight_decay 0.5e-3`) with the paper's weight decay `λ = 1e-6`
/// (`main.py`'s default), Adam with PyTorch's betas, and the center's
/// `eps = 0.1` of `init_center_c`. Images use the reference LeNet for their
/// size (28×28: `MNIST_LeNet`, 32×32: `CIFAR10_LeNet`); tabular data a
/// bias-free MLP with PyOD's `DeepSVDD` widths `[64, 32]`, z-scored inputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeepSvddConfig {
    /// Widths of the tabular MLP after the input; the last is the code size.
    pub hidden: Vec<usize>,
    /// Passes over the training set.
    pub epochs: usize,
    /// Samples per batch.
    pub batch_size: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Epochs at which the learning rate is multiplied by 0.1.
    pub lr_milestones: Vec<usize>,
    /// Adam's L2 weight decay (the paper's `λ`).
    pub weight_decay: f64,
    /// Center coordinates closer to 0 than this are moved to `±eps`: a zero
    /// coordinate is trivially matched by zero weights.
    pub eps: f64,
    /// Initialise the network from an autoencoder trained first (its encoder).
    pub pretrain: bool,
    /// Autoencoder passes over the training set.
    pub ae_epochs: usize,
    /// Autoencoder samples per batch.
    pub ae_batch_size: usize,
    /// Autoencoder Adam learning rate.
    pub ae_lr: f64,
    /// Autoencoder milestones (rate × 0.1).
    pub ae_lr_milestones: Vec<usize>,
    /// Autoencoder weight decay.
    pub ae_weight_decay: f64,
    /// Z-score tabular columns with the training statistics (images are used as given).
    pub standardize: bool,
}

impl Default for DeepSvddConfig {
    fn default() -> Self {
        Self {
            hidden: vec![64, 32],
            epochs: 150,
            batch_size: 200,
            lr: 1e-4,
            lr_milestones: vec![50],
            weight_decay: 1e-6,
            eps: 0.1,
            pretrain: true,
            ae_epochs: 150,
            ae_batch_size: 200,
            ae_lr: 1e-4,
            ae_lr_milestones: vec![50],
            ae_weight_decay: 0.5e-3,
            standardize: true,
        }
    }
}

impl DeepSvddConfig {
    /// Checks every field that does not depend on the data.
    pub fn validate(&self) -> Result<()> {
        if self.hidden.is_empty() || self.hidden.contains(&0) {
            return Err(Error::InvalidConfig {
                field: "hidden",
                reason: "widths must be non-empty and positive".into(),
            });
        }
        if !(self.eps.is_finite() && self.eps >= 0.0) {
            return Err(Error::InvalidConfig {
                field: "eps",
                reason: "must be finite and >= 0".into(),
            });
        }
        self.train_config(Seed(0)).validate()?;
        self.ae_train_config(Seed(0)).validate()?;
        Ok(())
    }

    pub(crate) fn train_config(&self, seed: Seed) -> TrainConfig {
        adam(
            self.epochs,
            self.batch_size,
            self.lr,
            &self.lr_milestones,
            self.weight_decay,
            seed,
        )
    }

    pub(crate) fn ae_train_config(&self, seed: Seed) -> TrainConfig {
        adam(
            self.ae_epochs,
            self.ae_batch_size,
            self.ae_lr,
            &self.ae_lr_milestones,
            self.ae_weight_decay,
            seed,
        )
    }
}

fn adam(
    epochs: usize,
    batch_size: usize,
    lr: f64,
    milestones: &[usize],
    weight_decay: f64,
    seed: Seed,
) -> TrainConfig {
    TrainConfig {
        epochs,
        batch_size,
        drop_last: false,
        optimizer: OptimizerConfig::Adam(AdamConfig {
            lr,
            betas: (0.9, 0.999),
            weight_decay,
            ..AdamConfig::default()
        }),
        schedule: if milestones.is_empty() {
            ScheduleConfig::Constant
        } else {
            ScheduleConfig::MultiStep {
                milestones: milestones.to_vec(),
                gamma: 0.1,
            }
        },
        seed,
        progress: crate::progress::progress(),
        ..TrainConfig::default()
    }
}
