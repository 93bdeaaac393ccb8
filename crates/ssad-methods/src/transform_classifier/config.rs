//! Configuration of the transformation classifiers: one struct, one paper
//! default per registered method (the type parameter picks it).

use std::fmt::Debug;
use std::marker::PhantomData;

use serde::{Deserialize, Serialize};
use ssad_models::{BackboneConfig, ResNetConfig, WideResNetConfig, WrnInit};
use ssad_train::{AdamConfig, OptimizerConfig, TrainConfig};

use crate::error::{Error, Result};

/// Which transformation family labels the pretext task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transforms {
    /// The 4 quarter turns (RotNet): `ssad_augment::Rotations`.
    Rotations,
    /// GEOM's 72 flip x translation x rotation transforms: `ssad_augment::Geom`
    /// (translation a quarter of the side, 8 px at 32 px).
    Geom,
}

impl Transforms {
    /// The family.
    pub(crate) fn family(self) -> Box<dyn ssad_augment::TransformFamily> {
        match self {
            Transforms::Rotations => Box::new(ssad_augment::Rotations),
            Transforms::Geom => Box::new(ssad_augment::Geom::new()),
        }
    }

    /// Number of members `K`.
    pub fn len(self) -> usize {
        match self {
            Transforms::Rotations => 4,
            Transforms::Geom => 72,
        }
    }

    /// Never true: every family has members.
    pub fn is_empty(self) -> bool {
        false
    }
}

/// The anomaly score read off the trained classifier.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransformScore {
    /// `-(1/K) sum_k softmax(f(T_k x))[k]` (RotNet; GEOM's simplified score).
    Softmax,
    /// GEOM's score: per transformation a Dirichlet fitted by maximum likelihood
    /// to the training images' softmax outputs; `-(1/K) sum_k sum_i (alpha_ki - 1) log p_ki`.
    Dirichlet,
    /// GOAD's score on the pooled features: `sum_k -log softmax_k'(-|f(T_k x) - c_k'|^2)[k]`,
    /// with `c_k` the mean training feature of transformation `k` over the last epoch.
    Center,
}

/// GOAD's center triplet term, `lambda * max(0, |z - c_k|^2 + margin - min_{k' != k} |z - c_k'|^2)`
/// with batch-mean centers, plus `feature_penalty * mean(z^2)` (`opt_tc.py`'s `--reg`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CenterLoss {
    /// Weight of the triplet term (`--lmbda`).
    pub lambda: f64,
    /// Triplet margin (`--m`; the CIFAR README uses 0.1).
    pub margin: f64,
    /// Weight of `mean(z^2)` (GOAD's `--reg`, on by default, weight 10).
    pub feature_penalty: f64,
}

impl Default for CenterLoss {
    fn default() -> Self {
        Self {
            lambda: 0.1,
            margin: 0.1,
            feature_penalty: 10.0,
        }
    }
}

/// A registered transformation-classifier method: its name and paper defaults.
pub trait Variant: Debug + Clone + Default + PartialEq + Send + Sync + 'static {
    /// Registry name.
    const NAME: &'static str;
    /// The paper's setting.
    fn defaults() -> TransformClassifierConfig<Self>;
}

/// RotNet: 4 rotations, softmax score.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RotNetMethod;

/// GEOM (Golan & El-Yaniv, NeurIPS 2018): 72 transforms, Dirichlet score.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GeomMethod;

/// GOAD on images (Bergman & Hoshen, ICLR 2020): 72 transforms, CE + center triplet, center score.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GoadImagesMethod;

/// RotNet (rotation prediction) as a one-class detector.
pub type RotNetConfig = TransformClassifierConfig<RotNetMethod>;
/// GEOM.
pub type GeomConfig = TransformClassifierConfig<GeomMethod>;
/// GOAD on images.
pub type GoadImagesConfig = TransformClassifierConfig<GoadImagesMethod>;

/// A classifier (backbone + linear head) trained to tell which member of a
/// transformation family was applied to a normal image; a test image is
/// anomalous when the classifier fails on its transformed copies.
///
/// The three registered methods share this struct and differ in their
/// defaults (`V`): [`RotNetConfig`], [`GeomConfig`], [`GoadImagesConfig`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TransformClassifierConfig<V: Variant> {
    /// The transformation family (its size `K` is the number of classes).
    pub transforms: Transforms,
    /// The feature extractor; its input channels follow the training images
    /// (`small28` and `small32` are the same network on 1 or 3 channels).
    pub backbone: BackboneConfig,
    /// Passes over the training set (expanded: every image under every transform).
    pub epochs: usize,
    /// Samples per step: `(image, transformation)` pairs drawn at random from
    /// the expanded set, or with `group_transforms` whole images, each under all `K`.
    pub batch_size: usize,
    /// Batches of whole images under all transformations (GOAD: 4 images x 72),
    /// which the center triplet loss needs.
    pub group_transforms: bool,
    /// Adam settings (weight decay as an L2 gradient term, as keras' L2 regulariser).
    pub optimizer: AdamConfig,
    /// GOAD's center triplet term; `None` trains with cross-entropy only.
    pub center_loss: Option<CenterLoss>,
    /// The score.
    pub score: TransformScore,
    /// `(image, transformation)` pairs per forward pass when scoring and when
    /// fitting the Dirichlet (rounded down to whole images, at least one).
    pub eval_batch_size: usize,
    /// The registered method whose defaults this is: a zero-sized marker, never
    /// serialised (public so that `..GeomConfig::default()` works).
    #[serde(skip)]
    pub method: PhantomData<V>,
}

impl<V: Variant> Default for TransformClassifierConfig<V> {
    fn default() -> Self {
        V::defaults()
    }
}

/// GEOM's keras training recipe (`experiments.py`): Adam with keras' defaults
/// (lr 1e-3, betas (0.9, 0.999), epsilon 1e-7) and the WRN's L2 regulariser
/// `0.5 * 5e-4 * |w|^2`, whose gradient is `5e-4 * w`.
fn keras_adam() -> AdamConfig {
    AdamConfig {
        lr: 1e-3,
        betas: (0.9, 0.999),
        eps: 1e-7,
        weight_decay: 5e-4,
        decoupled: false,
    }
}

/// Base of every variant: GEOM's WRN-10-4 and training recipe.
fn geom_base<V: Variant>(transforms: Transforms, epochs: usize) -> TransformClassifierConfig<V> {
    TransformClassifierConfig {
        transforms,
        backbone: BackboneConfig::Wrn(WideResNetConfig::default()),
        epochs,
        batch_size: 128,
        group_transforms: false,
        optimizer: keras_adam(),
        center_loss: None,
        score: TransformScore::Dirichlet,
        eval_batch_size: 288,
        method: PhantomData,
    }
}

/// GEOM trains `ceil(200 / K)` epochs over the expanded set.
fn geom_epochs(k: usize) -> usize {
    200usize.div_ceil(k)
}

impl Variant for GeomMethod {
    const NAME: &'static str = "geom";
    /// `experiments.py`: 72 transforms, WRN-10-4, Adam, batch 128, 3 epochs, Dirichlet score.
    fn defaults() -> GeomConfig {
        geom_base(Transforms::Geom, geom_epochs(72))
    }
}

impl Variant for RotNetMethod {
    const NAME: &'static str = "rotnet";
    /// GEOM's experiment with the 4 rotations instead of its 72 transforms
    /// (`ceil(200 / 4) = 50` epochs) and the softmax score of RotNet.
    fn defaults() -> RotNetConfig {
        RotNetConfig {
            score: TransformScore::Softmax,
            ..geom_base(Transforms::Rotations, geom_epochs(4))
        }
    }
}

impl Variant for GoadImagesMethod {
    const NAME: &'static str = "goad-images";
    /// `train_ad.py` / `opt_tc.py`: WRN-10-4 (PyTorch init), Adam with torch's
    /// defaults, 16 epochs of 4 images x 72 transforms, CE + 0.1 x center
    /// triplet (margin 0.1) + 10 mean(z^2), center score.
    fn defaults() -> GoadImagesConfig {
        GoadImagesConfig {
            backbone: BackboneConfig::Wrn(WideResNetConfig {
                init: WrnInit::KaimingFanOut,
                ..WideResNetConfig::default()
            }),
            epochs: 16,
            batch_size: 4,
            group_transforms: true,
            optimizer: AdamConfig {
                lr: 1e-3,
                betas: (0.9, 0.999),
                eps: 1e-8,
                weight_decay: 0.0,
                decoupled: false,
            },
            center_loss: Some(CenterLoss::default()),
            score: TransformScore::Center,
            ..geom_base(Transforms::Geom, 16)
        }
    }
}

impl<V: Variant> TransformClassifierConfig<V> {
    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        let bad = |field, reason: &str| {
            Err(Error::InvalidConfig {
                field,
                reason: reason.to_string(),
            })
        };
        if self.eval_batch_size == 0 {
            return bad("eval_batch_size", "must be >= 1");
        }
        if let Some(c) = &self.center_loss {
            for (field, v) in [
                ("center_loss.lambda", c.lambda),
                ("center_loss.margin", c.margin),
                ("center_loss.feature_penalty", c.feature_penalty),
            ] {
                if !(v.is_finite() && v >= 0.0) {
                    return bad(field, "must be finite and >= 0");
                }
            }
        }
        let needs_groups = self.center_loss.is_some() || self.score == TransformScore::Center;
        if needs_groups && !self.group_transforms {
            return bad(
                "group_transforms",
                "the center loss and the center score need batches of whole images under all transformations",
            );
        }
        self.train_config(ssad_core::Seed(0)).validate()?;
        Ok(())
    }

    /// The backbone for images with `channels` channels and no classifier of its own.
    pub(crate) fn backbone_for(&self, channels: usize) -> BackboneConfig {
        match self.backbone.clone() {
            BackboneConfig::Small28 | BackboneConfig::Small32 => {
                BackboneConfig::Resnet(ResNetConfig {
                    in_channels: channels,
                    ..ResNetConfig::small32()
                })
            }
            BackboneConfig::Resnet18(p) => BackboneConfig::Resnet18(with_channels(p, channels)),
            BackboneConfig::Resnet34(p) => BackboneConfig::Resnet34(with_channels(p, channels)),
            BackboneConfig::Resnet50(p) => BackboneConfig::Resnet50(with_channels(p, channels)),
            BackboneConfig::Resnet(c) => BackboneConfig::Resnet(ResNetConfig {
                in_channels: channels,
                num_classes: None,
                ..c
            }),
            BackboneConfig::Wrn(c) => BackboneConfig::Wrn(WideResNetConfig {
                in_channels: channels,
                num_classes: None,
                ..c
            }),
        }
    }

    pub(crate) fn train_config(&self, seed: ssad_core::Seed) -> TrainConfig {
        TrainConfig {
            epochs: self.epochs,
            batch_size: self.batch_size,
            drop_last: false,
            optimizer: OptimizerConfig::Adam(self.optimizer.clone()),
            seed,
            progress: crate::progress(),
            ..TrainConfig::default()
        }
    }
}

fn with_channels(p: ssad_models::ResNetPreset, channels: usize) -> ssad_models::ResNetPreset {
    ssad_models::ResNetPreset {
        in_channels: channels,
        num_classes: None,
        ..p
    }
}
