//! Configuration of the `autoencoder` baseline.

use serde::{Deserialize, Serialize};
use ssad_core::Seed;
use ssad_models::{ConvAutoencoderConfig, DenseAutoencoderConfig};
use ssad_train::{AdamConfig, OptimizerConfig, TrainConfig};

use crate::error::{Error, Result};

/// Reconstruction-error baseline: an autoencoder of `ssad-models` (dense for
/// tabular data, convolutional for images) trained with MSE; the score is the
/// Euclidean distance between a sample and its reconstruction.
///
/// `Default` is PyOD's `AutoEncoder` (pyod 2.x): hidden layers `[64, 32]` with
/// BatchNorm and ReLU, Adam with lr `1e-3` and weight decay `1e-5`, 10 epochs
/// of batch 32, inputs z-scored with the training statistics. PyOD's dropout
/// (0.2) is left out: candle's dropout masks cannot be seeded. Images use the
/// same optimiser settings; the Deep SVDD paper's DCAE schedule is
/// `{"epochs": 150, "lr": 1e-4, "batch_size": 200, "weight_decay": 5e-4}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AutoencoderConfig {
    /// Layout of the dense autoencoder (tabular input).
    pub dense: DenseAutoencoderConfig,
    /// Channels of the stride-2 encoder blocks of the convolutional autoencoder
    /// (image input). `None`: `ssad-models`' layouts, `[32, 64, 128]` when the
    /// image side is a multiple of 8 (32×32), else `[32, 64]` (28×28).
    pub conv_channels: Option<Vec<usize>>,
    /// Code size of the convolutional autoencoder; `None`: the last of `conv_channels`.
    pub latent_dim: Option<usize>,
    /// Passes over the training set.
    pub epochs: usize,
    /// Samples per batch.
    pub batch_size: usize,
    /// Adam learning rate (betas `(0.9, 0.999)`, PyTorch's).
    pub lr: f64,
    /// Adam's L2 weight decay.
    pub weight_decay: f64,
    /// Z-score tabular columns with the training mean and standard deviation
    /// (PyOD's `preprocessing`); images are used as given.
    pub standardize: bool,
}

impl Default for AutoencoderConfig {
    fn default() -> Self {
        Self {
            dense: DenseAutoencoderConfig::default(),
            conv_channels: None,
            latent_dim: None,
            epochs: 10,
            batch_size: 32,
            lr: 1e-3,
            weight_decay: 1e-5,
            standardize: true,
        }
    }
}

impl AutoencoderConfig {
    /// Checks every field that does not depend on the data.
    pub fn validate(&self) -> Result<()> {
        if self.dense.hidden.is_empty() || self.dense.hidden.contains(&0) {
            return Err(Error::InvalidConfig {
                field: "dense",
                reason: "hidden widths must be non-empty and positive".into(),
            });
        }
        if self
            .conv_channels
            .as_ref()
            .is_some_and(|c| c.is_empty() || c.contains(&0))
        {
            return Err(Error::InvalidConfig {
                field: "conv_channels",
                reason: "must be non-empty and positive".into(),
            });
        }
        if self.latent_dim == Some(0) {
            return Err(Error::InvalidConfig {
                field: "latent_dim",
                reason: "must be >= 1".into(),
            });
        }
        self.train_config(Seed(0)).validate()?;
        Ok(())
    }

    /// The convolutional layout for `[C, H, W]` images.
    pub(crate) fn conv(&self, shape: [usize; 3]) -> Result<ConvAutoencoderConfig> {
        let [c, h, w] = shape;
        if h != w {
            return Err(Error::InvalidConfig {
                field: "images",
                reason: format!("the convolutional autoencoder takes square images, got {h}x{w}"),
            });
        }
        let channels = match &self.conv_channels {
            Some(c) => c.clone(),
            None if h % 8 == 0 => ConvAutoencoderConfig::default().channels,
            None => ConvAutoencoderConfig::fmnist().channels,
        };
        let latent_dim = self
            .latent_dim
            .unwrap_or_else(|| channels.last().copied().unwrap_or(1));
        let conv = ConvAutoencoderConfig {
            in_channels: c,
            image_size: h,
            channels,
            latent_dim,
        };
        conv.validate()?;
        Ok(conv)
    }

    pub(crate) fn train_config(&self, seed: Seed) -> TrainConfig {
        TrainConfig {
            epochs: self.epochs,
            batch_size: self.batch_size,
            drop_last: false,
            optimizer: OptimizerConfig::Adam(AdamConfig {
                lr: self.lr,
                betas: (0.9, 0.999),
                weight_decay: self.weight_decay,
                ..AdamConfig::default()
            }),
            seed,
            progress: crate::progress::progress(),
            ..TrainConfig::default()
        }
    }
}
