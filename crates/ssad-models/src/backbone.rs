//! The [`Backbone`] trait and the serde-tagged [`BackboneConfig`] that builds one by name.

use crate::error::{Error, Result};
use crate::resnet::{ResNet, ResNetConfig, Stem};
use crate::wide_resnet::{WideResNet, WideResNetConfig};
use candle_core::{ModuleT, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

/// An image feature extractor: `(B, C, H, W)` → `(B, embed_dim)`.
///
/// `ModuleT::forward_t` is [`Backbone::forward_features`]; the `train` flag reaches
/// BatchNorm (batch statistics and running-stat updates when `true`).
pub trait Backbone: ModuleT + Send + Sync {
    /// Length of the pooled feature vector.
    fn embed_dim(&self) -> usize;

    /// Globally average-pooled features of the last stage, `(B, embed_dim)`.
    fn forward_features(&self, xs: &Tensor, train: bool) -> Result<Tensor>;

    /// The feature map after each stage, `(name, (B, C_i, H_i, W_i))`, in order
    /// (`layer1`..`layer4` for ResNets, `block1`..`block3` for Wide ResNets): for localization.
    fn forward_stages(&self, xs: &Tensor, train: bool) -> Result<Vec<(&'static str, Tensor)>>;
}

/// Converts this crate's error into candle's, for `ModuleT` implementations.
pub(crate) fn to_candle(e: Error) -> candle_core::Error {
    match e {
        Error::Candle(e) => e,
        other => candle_core::Error::wrap(other),
    }
}

/// Stem, input channels and classifier of a ResNet preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResNetPreset {
    /// Stem variant (CIFAR by default).
    pub stem: Stem,
    /// Input image channels.
    pub in_channels: usize,
    /// Optional classifier size (`fc`).
    pub num_classes: Option<usize>,
}

impl Default for ResNetPreset {
    fn default() -> Self {
        Self {
            stem: Stem::Cifar,
            in_channels: 3,
            num_classes: None,
        }
    }
}

impl ResNetPreset {
    fn apply(self, base: ResNetConfig) -> ResNetConfig {
        ResNetConfig {
            stem: self.stem,
            in_channels: self.in_channels,
            num_classes: self.num_classes,
            ..base
        }
    }
}

/// A backbone chosen by name, e.g. `{"kind": "resnet18", "stem": "imagenet"}` or
/// `{"kind": "wrn", "depth": 10, "widen_factor": 4}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BackboneConfig {
    /// ResNet-18.
    Resnet18(ResNetPreset),
    /// ResNet-34.
    Resnet34(ResNetPreset),
    /// ResNet-50.
    Resnet50(ResNetPreset),
    /// Wide ResNet WRN-depth-k.
    Wrn(WideResNetConfig),
    /// The small ResNet for 1×28×28 inputs.
    Small28,
    /// The small ResNet for 3×32×32 inputs.
    Small32,
    /// Any other ResNet layout.
    Resnet(ResNetConfig),
}

impl Default for BackboneConfig {
    fn default() -> Self {
        BackboneConfig::Resnet18(ResNetPreset::default())
    }
}

impl BackboneConfig {
    /// The ResNet layout this names, or `None` for a Wide ResNet.
    pub fn resnet_config(&self) -> Option<ResNetConfig> {
        match self {
            BackboneConfig::Resnet18(p) => Some(p.apply(ResNetConfig::resnet18(p.stem))),
            BackboneConfig::Resnet34(p) => Some(p.apply(ResNetConfig::resnet34(p.stem))),
            BackboneConfig::Resnet50(p) => Some(p.apply(ResNetConfig::resnet50(p.stem))),
            BackboneConfig::Small28 => Some(ResNetConfig::small28()),
            BackboneConfig::Small32 => Some(ResNetConfig::small32()),
            BackboneConfig::Resnet(c) => Some(c.clone()),
            BackboneConfig::Wrn(_) => None,
        }
    }

    /// Builds the backbone, creating its parameters through `vb`.
    pub fn build(&self, vb: VarBuilder) -> Result<Box<dyn Backbone>> {
        match self {
            BackboneConfig::Wrn(c) => Ok(Box::new(WideResNet::new(c, vb)?)),
            other => match other.resnet_config() {
                Some(c) => Ok(Box::new(ResNet::new(&c, vb)?)),
                None => Err(crate::error::invalid("kind", "unknown backbone")),
            },
        }
    }
}
