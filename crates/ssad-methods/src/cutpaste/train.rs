//! The network CutPaste trains, its objective and its batch source, run by
//! `ssad-train`'s trainer.

use candle_core::{DType, Device, Tensor};
use rand::Rng;
use ssad_augment::CutPasteViews;
use ssad_core::{Seed, Stream};
use ssad_models::{Backbone, BackboneConfig, CutPasteHead, SeededVarMap};
use ssad_train::{BatchSource, Objective, ParamSet, StepContext};

use super::config::CutPasteConfig;
use crate::error::Result;

/// torchvision's ImageNet `Normalize` constants.
const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];
/// Input values per forward pass when embedding, 64 images of 3×256×256: it
/// bounds activation memory, while small windows still go through in large
/// batches (a forward pass has a fixed cost that 64 small windows do not pay off).
const EMBED_BUDGET: usize = 64 * 3 * 256 * 256;
/// Most images (or windows) per forward pass.
const EMBED_MAX: usize = 1024;

/// Images (or windows) of `len` values each per forward pass when embedding.
pub(crate) fn embed_chunk(len: usize) -> usize {
    (EMBED_BUDGET / len.max(1)).clamp(1, EMBED_MAX)
}

/// Encoder plus MLP head, with their variables.
pub(crate) struct Network {
    pub vars: SeededVarMap,
    pub backbone: Box<dyn Backbone>,
    pub head: CutPasteHead,
    /// Input channels, for the normalisation.
    channels: usize,
    normalize: bool,
}

impl Network {
    /// Builds the encoder and a head with `num_classes` outputs for `channels`-channel images.
    pub fn new(
        config: &CutPasteConfig,
        channels: usize,
        num_classes: usize,
        seed: Seed,
    ) -> Result<Self> {
        let vars = SeededVarMap::new(seed);
        let vb = vars.var_builder(DType::F32, &Device::Cpu);
        let backbone = with_channels(&config.backbone, channels).build(vb.pp("encoder"))?;
        let head = CutPasteHead::new(
            &config.head(backbone.embed_dim(), num_classes),
            vb.pp("head"),
        )?;
        Ok(Self {
            vars,
            backbone,
            head,
            channels,
            normalize: config.imagenet_normalize,
        })
    }

    /// `(x - mean) / std` per channel for 3-channel images when enabled; `x` otherwise.
    pub fn normalize(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        if !(self.normalize && self.channels == 3) {
            return Ok(x.clone());
        }
        let mean = Tensor::from_slice(&IMAGENET_MEAN, (1, 3, 1, 1), x.device())?;
        let std = Tensor::from_slice(&IMAGENET_STD, (1, 3, 1, 1), x.device())?;
        x.broadcast_sub(&mean)?.broadcast_div(&std)
    }

    /// Backbone features `(B, D)` of `[0, 1]` images, BatchNorm in inference mode.
    pub fn embed(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.backbone.forward_features(&self.normalize(x)?, false)?)
    }

    /// Embeds `n` images `(C, h, w)` held contiguously in `data`, in chunks,
    /// into one row-major `(n, D)` block.
    pub fn embed_host(&self, data: &[f32], n: usize, chw: [usize; 3]) -> Result<Vec<f32>> {
        let image = chw.iter().product::<usize>();
        let mut out = Vec::with_capacity(n * self.backbone.embed_dim());
        for chunk in data[..n * image].chunks(embed_chunk(image) * image) {
            let rows = chunk.len() / image;
            let x = Tensor::from_slice(chunk, (rows, chw[0], chw[1], chw[2]), &Device::Cpu)?;
            out.extend(self.embed(&x)?.flatten_all()?.to_vec1::<f32>()?);
        }
        Ok(out)
    }
}

/// The backbone config for `channels`-channel input (ResNet presets carry it).
fn with_channels(backbone: &BackboneConfig, channels: usize) -> BackboneConfig {
    let mut b = backbone.clone();
    match &mut b {
        BackboneConfig::Resnet18(p) | BackboneConfig::Resnet34(p) | BackboneConfig::Resnet50(p) => {
            p.in_channels = channels
        }
        BackboneConfig::Resnet(c) => c.in_channels = channels,
        _ => {}
    }
    b
}

/// Cross-entropy of the view classifier.
pub(crate) struct CutPasteObjective<'a> {
    pub net: &'a Network,
}

fn to_train_error(e: impl std::fmt::Display) -> ssad_train::Error {
    ssad_train::Error::InvalidConfig {
        field: "batch",
        reason: e.to_string(),
    }
}

impl Objective for CutPasteObjective<'_> {
    type Batch = (Tensor, Tensor);

    fn params(&self) -> ParamSet {
        // Names come from a sorted map and are unique, so this cannot fail.
        ParamSet::new(self.net.vars.named_trainable_vars()).unwrap_or_default()
    }

    fn state(&self) -> ParamSet {
        ParamSet::new(self.net.vars.named_vars()).unwrap_or_default()
    }

    fn loss(
        &mut self,
        (x, labels): &(Tensor, Tensor),
        _ctx: &StepContext,
    ) -> ssad_train::Result<Tensor> {
        let x = self.net.normalize(x)?;
        let features = self
            .net
            .backbone
            .forward_features(&x, true)
            .map_err(to_train_error)?;
        let (_, logits) = self
            .net
            .head
            .forward_t(&features, true)
            .map_err(to_train_error)?;
        ssad_losses::cross_entropy(&logits, labels).map_err(to_train_error)
    }
}

/// Training batches: `steps * batch` draws from the training images repeated
/// (Runinho's `Repeat` dataset), each optionally cropped to a random square
/// window, then expanded into the labelled CutPaste views.
pub(crate) struct ViewSource<'a> {
    /// `(n, C, H, W)` images in `[0, 1]`.
    pub images: &'a [f32],
    pub n: usize,
    pub chw: [usize; 3],
    /// Side of the random crop (the patch-level model), or `None`.
    pub crop: Option<usize>,
    pub views: &'a CutPasteViews,
    pub draws: usize,
    pub seed: Seed,
}

impl ViewSource<'_> {
    fn gather(&self, indices: &[usize], epoch: u64) -> Vec<f32> {
        let [c, h, w] = self.chw;
        let image = c * h * w;
        // Exactly the batch: the Vec becomes the tensor's storage, capacity included.
        let (oh, ow) = self.crop.map_or((h, w), |p| (p, p));
        let mut out = Vec::with_capacity(indices.len() * c * oh * ow);
        for &draw in indices {
            let src = &self.images[(draw % self.n) * image..][..image];
            match self.crop {
                None => out.extend_from_slice(src),
                Some(p) => {
                    // The crop corner is drawn per draw, on its own stream.
                    let mut rng =
                        self.seed
                            .derive(0x43524f50)
                            .rng(Stream::Augment, epoch, draw as u64);
                    let top = rng.random_range(0..=h - p);
                    let left = rng.random_range(0..=w - p);
                    for plane in src.chunks_exact(h * w) {
                        for row in top..top + p {
                            out.extend_from_slice(&plane[row * w + left..][..p]);
                        }
                    }
                }
            }
        }
        out
    }
}

impl BatchSource for ViewSource<'_> {
    type Batch = (Tensor, Tensor);

    fn len(&self) -> usize {
        self.draws
    }

    fn batch(&self, indices: &[usize], epoch: u64) -> ssad_train::Result<(Tensor, Tensor)> {
        let [c, h, w] = self.chw;
        let (h, w) = self.crop.map_or((h, w), |p| (p, p));
        let data = self.gather(indices, epoch);
        let x = Tensor::from_vec(data, (indices.len(), c, h, w), &Device::Cpu)?;
        let draws: Vec<u64> = indices.iter().map(|&i| i as u64).collect();
        self.views
            .views(&x, self.seed, epoch, &draws)
            .map_err(to_train_error)
    }
}
