//! Configuration of GOAD for tabular data, with the reference's per-dataset presets.

use serde::{Deserialize, Serialize};
use ssad_models::GoadNetConfig;
use ssad_train::{AdamConfig, OptimizerConfig, TrainConfig};

use crate::error::{Error, Result};

/// The datasets GOAD's README gives a command line for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GoadPreset {
    /// ODDS Arrhythmia: `netC1`, M = 256, r = 32, ndf = 8, 1 epoch.
    Arrhythmia,
    /// ODDS Thyroid: `netC1`, M = 256, r = 32, ndf = 8, 1 epoch.
    Thyroid,
    /// KDDCUP99 (10%): `netC5`, M = 64, r = 64, ndf = 32, 25 epochs.
    Kdd,
    /// KDDCUP99-Rev: `netC5`, M = 256, r = 128, ndf = 128, 25 epochs.
    Kddrev,
}

impl GoadPreset {
    /// Every preset, in the order of GOAD's Table 3.
    pub const ALL: [GoadPreset; 4] = [
        GoadPreset::Arrhythmia,
        GoadPreset::Thyroid,
        GoadPreset::Kdd,
        GoadPreset::Kddrev,
    ];

    /// The preset's lower-case name (`"kddrev"`).
    pub fn name(self) -> &'static str {
        match self {
            GoadPreset::Arrhythmia => "arrhythmia",
            GoadPreset::Thyroid => "thyroid",
            GoadPreset::Kdd => "kdd",
            GoadPreset::Kddrev => "kddrev",
        }
    }

    /// The preset called `name`.
    pub fn from_name(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| Error::InvalidConfig {
                field: "preset",
                reason: format!("unknown GOAD preset `{name}` (arrhythmia, thyroid, kdd, kddrev)"),
            })
    }
}

/// GOAD (Bergman & Hoshen, ICLR 2020) for tabular data, as `train_ad_tabular.py`
/// and `opt_tc_tabular.py` of lironber/GOAD.
///
/// `Default` is the Thyroid/Arrhythmia setting; [`GoadConfig::preset`] gives the others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GoadConfig {
    /// Number of random affine maps `M` (`--n_rots`), also the number of classes.
    pub num_transforms: usize,
    /// Output dimension `r` of each map (`--d_out`).
    pub transform_dim: usize,
    /// Trunk width (`--ndf`): the feature dimension the centers live in.
    pub ndf: usize,
    /// Bias-free trunk layers: 1 (`netC1`, Thyroid/Arrhythmia) or 5 (`netC5`, KDD).
    pub trunk_layers: usize,
    /// Passes over the training set (`--n_epoch`).
    pub epochs: usize,
    /// Samples per batch; the last batch of an epoch is smaller, as in the reference.
    pub batch_size: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Adam `(beta1, beta2)`; GOAD uses `(0.5, 0.999)`.
    pub betas: (f64, f64),
    /// Center-triplet margin (`--m`).
    pub margin: f64,
    /// Weight of the center-triplet term (`--lmbda`).
    pub lambda: f64,
    /// Floor on squared distances in the score (`--eps`; 0 disables it).
    pub eps: f64,
    /// Checkpoint training here after every epoch, and resume from the latest
    /// checkpoint found here (bit-identical to an uninterrupted run): a KDDRev
    /// fit at the paper's setting takes hours. Not part of the model: the
    /// fitted detector's config has it unset, and unset it is not serialised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_dir: Option<std::path::PathBuf>,
}

impl Default for GoadConfig {
    fn default() -> Self {
        Self::preset(GoadPreset::Thyroid)
    }
}

impl GoadConfig {
    /// The reference README's setting for `preset`.
    pub fn preset(preset: GoadPreset) -> Self {
        let (num_transforms, transform_dim, ndf, trunk_layers, epochs) = match preset {
            GoadPreset::Arrhythmia | GoadPreset::Thyroid => (256, 32, 8, 1, 1),
            GoadPreset::Kdd => (64, 64, 32, 5, 25),
            GoadPreset::Kddrev => (256, 128, 128, 5, 25),
        };
        Self {
            num_transforms,
            transform_dim,
            ndf,
            trunk_layers,
            epochs,
            batch_size: 64,
            lr: 1e-3,
            betas: (0.5, 0.999),
            margin: 1.0,
            lambda: 0.1,
            eps: 0.0,
            checkpoint_dir: None,
        }
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        let bad = |field, reason: &str| {
            Err(Error::InvalidConfig {
                field,
                reason: reason.to_string(),
            })
        };
        if self.num_transforms < 2 {
            return bad(
                "num_transforms",
                "must be >= 2 (the triplet needs other centers)",
            );
        }
        for (field, v) in [
            ("transform_dim", self.transform_dim),
            ("ndf", self.ndf),
            ("trunk_layers", self.trunk_layers),
        ] {
            if v == 0 {
                return bad(field, "must be >= 1");
            }
        }
        for (field, v) in [
            ("margin", self.margin),
            ("lambda", self.lambda),
            ("eps", self.eps),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return bad(field, "must be finite and >= 0");
            }
        }
        self.train_config(ssad_core::Seed(0)).validate()?;
        Ok(())
    }

    pub(crate) fn net(&self) -> GoadNetConfig {
        GoadNetConfig {
            input_dim: self.transform_dim,
            ndf: self.ndf,
            num_transforms: self.num_transforms,
            trunk_layers: self.trunk_layers,
        }
    }

    pub(crate) fn train_config(&self, seed: ssad_core::Seed) -> TrainConfig {
        TrainConfig {
            epochs: self.epochs,
            batch_size: self.batch_size,
            drop_last: false,
            optimizer: OptimizerConfig::Adam(AdamConfig {
                lr: self.lr,
                betas: self.betas,
                ..AdamConfig::default()
            }),
            seed,
            progress: crate::progress(),
            checkpoint_every: self.checkpoint_dir.as_ref().map(|_| 1),
            ..TrainConfig::default()
        }
    }
}
