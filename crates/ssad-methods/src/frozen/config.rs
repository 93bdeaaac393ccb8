//! Configuration of the `frozen` baseline.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use ssad_core::Seed;
use ssad_models::BackboneConfig;
use ssad_scorers::{KnnConfig, ScorerConfig};

/// Frozen-features baseline: an untrained (or pre-trained, loaded) backbone of
/// `ssad-models` embeds the images; a scorer of `ssad-scorers` is fitted on the
/// training embeddings. Nothing is trained.
///
/// JSON: `{"backbone": {"kind": "resnet18", "stem": "imagenet"}, "weights":
/// "resnet18.safetensors", "scorer": {"kind": "gde"}}`.
///
/// `Default`: ResNet-18 (CIFAR stem) initialised from the seed, PyOD's kNN
/// (`k = 5`, largest distance) on the pooled features, as the frozen-feature
/// kNN baselines (DN2, PANDA's starting point) do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FrozenConfig {
    /// The feature extractor. Without `weights`, its input channels follow the
    /// training images; with `weights` they must match the file.
    pub backbone: BackboneConfig,
    /// A safetensors file of the backbone's weights (torchvision names, e.g.
    /// ImageNet ResNet-18); tensors the backbone lacks, such as `fc`, are
    /// skipped. `None`: weights drawn from the fit seed. The fitted detector
    /// stores its own copy, so the file is read only at fit time.
    pub weights: Option<PathBuf>,
    /// The scorer fitted on the training embeddings.
    pub scorer: ScorerConfig,
}

impl Default for FrozenConfig {
    fn default() -> Self {
        Self {
            backbone: BackboneConfig::default(),
            weights: None,
            scorer: KnnConfig::default().into(),
        }
    }
}

impl FrozenConfig {
    /// The backbone for images with `channels` channels: the configured one
    /// with its input channels replaced, unless weights fix them.
    pub(crate) fn backbone_for(&self, channels: usize) -> BackboneConfig {
        if self.weights.is_some() {
            return self.backbone.clone();
        }
        match (&self.backbone, self.backbone.resnet_config()) {
            (BackboneConfig::Wrn(c), _) => BackboneConfig::Wrn(ssad_models::WideResNetConfig {
                in_channels: channels,
                ..c.clone()
            }),
            (_, Some(mut c)) => {
                c.in_channels = channels;
                BackboneConfig::Resnet(c)
            }
            (other, None) => other.clone(),
        }
    }

    /// The scorer with its random choices keyed by `seed` (isolation forest).
    pub(crate) fn seeded_scorer(&self, seed: Seed) -> ScorerConfig {
        crate::classic::ClassicConfig::new(self.scorer.clone()).seeded(seed)
    }
}
