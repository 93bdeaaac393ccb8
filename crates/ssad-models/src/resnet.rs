//! ResNets (He et al. 2016) with torchvision parameter names, CIFAR or ImageNet stem,
//! and the small 16/32/64-channel ResNet used for fast experiments.

use crate::backbone::{to_candle, Backbone};
use crate::error::{invalid, Result};
use crate::init::KAIMING_FAN_OUT;
use crate::layers::{self, batch_norm, conv2d, linear, BatchNorm, Conv2d, ConvSpec, Linear};
use crate::pool::max_pool2d;
use candle_core::{Module, ModuleT, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

/// The residual block type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockKind {
    /// Two 3×3 convolutions (ResNet-18/34); expansion 1.
    Basic,
    /// 1×1, 3×3 (strided, torchvision "v1.5"), 1×1 convolutions (ResNet-50); expansion 4.
    Bottleneck,
}

impl BlockKind {
    fn expansion(self) -> usize {
        match self {
            BlockKind::Basic => 1,
            BlockKind::Bottleneck => 4,
        }
    }
}

/// The first layers, before `layer1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stem {
    /// 3×3 convolution, stride 1, no max-pool: for 32×32 inputs (CSI, DROC, GEOM-style CIFAR nets).
    Cifar,
    /// 7×7 convolution, stride 2, then 3×3 max-pool with stride 2: torchvision's ImageNet stem.
    Imagenet,
}

/// Architecture of a [`ResNet`]. `Default` is ResNet-18 with the CIFAR stem and no classifier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResNetConfig {
    /// Residual block type.
    pub block: BlockKind,
    /// Blocks per stage (1 to 4 stages); ResNet-18 is `[2, 2, 2, 2]`.
    pub layers: Vec<usize>,
    /// Base width of each stage (and of the stem, `widths[0]`); torchvision uses `[64, 128, 256, 512]`.
    pub widths: Vec<usize>,
    /// Input image channels.
    pub in_channels: usize,
    /// Stem variant.
    pub stem: Stem,
    /// Adds a linear classifier `fc` with this many outputs (torchvision's is 1000).
    pub num_classes: Option<usize>,
}

impl Default for ResNetConfig {
    fn default() -> Self {
        Self::resnet18(Stem::Cifar)
    }
}

impl ResNetConfig {
    /// ResNet-18: basic blocks `[2, 2, 2, 2]`, widths 64–512, 512-d features.
    pub fn resnet18(stem: Stem) -> Self {
        Self {
            block: BlockKind::Basic,
            layers: vec![2, 2, 2, 2],
            widths: vec![64, 128, 256, 512],
            in_channels: 3,
            stem,
            num_classes: None,
        }
    }

    /// ResNet-34: basic blocks `[3, 4, 6, 3]`, 512-d features.
    pub fn resnet34(stem: Stem) -> Self {
        Self {
            layers: vec![3, 4, 6, 3],
            ..Self::resnet18(stem)
        }
    }

    /// ResNet-50: bottleneck blocks `[3, 4, 6, 3]`, 2048-d features.
    pub fn resnet50(stem: Stem) -> Self {
        Self {
            block: BlockKind::Bottleneck,
            layers: vec![3, 4, 6, 3],
            ..Self::resnet18(stem)
        }
    }

    /// The small ResNet for 1×28×28 images (Fashion-MNIST): widths 16/32/64, one basic block per stage.
    pub fn small28() -> Self {
        Self {
            in_channels: 1,
            ..Self::small32()
        }
    }

    /// The small ResNet for 3×32×32 images (CIFAR): widths 16/32/64, one basic block per stage.
    pub fn small32() -> Self {
        Self {
            block: BlockKind::Basic,
            layers: vec![1, 1, 1],
            widths: vec![16, 32, 64],
            in_channels: 3,
            stem: Stem::Cifar,
            num_classes: None,
        }
    }

    /// Sets the classifier size (builder style).
    pub fn with_classes(mut self, num_classes: usize) -> Self {
        self.num_classes = Some(num_classes);
        self
    }

    /// Checks the configuration; [`ResNet::new`] calls it.
    pub fn validate(&self) -> Result<()> {
        if self.layers.is_empty() || self.layers.len() > STAGES.len() {
            return Err(invalid(
                "layers",
                format!("need 1 to 4 stages, got {}", self.layers.len()),
            ));
        }
        if self.widths.len() != self.layers.len() {
            return Err(invalid("widths", "must have one entry per stage"));
        }
        if self.layers.contains(&0) || self.widths.contains(&0) {
            return Err(invalid("layers/widths", "entries must be positive"));
        }
        if self.in_channels == 0 {
            return Err(invalid("in_channels", "must be positive"));
        }
        if self.num_classes == Some(0) {
            return Err(invalid("num_classes", "must be positive"));
        }
        Ok(())
    }
}

const STAGES: [&str; 4] = ["layer1", "layer2", "layer3", "layer4"];

#[derive(Debug, Clone)]
struct ConvBn {
    conv: Conv2d,
    bn: BatchNorm,
}

impl ConvBn {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        self.bn.forward_t(&self.conv.forward(xs)?, train)
    }

    /// `relu(bn(conv(xs)))`, BatchNorm and ReLU fused on the CPU.
    fn forward_relu_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        self.bn.forward_relu_t(&self.conv.forward(xs)?, train)
    }
}

fn conv(
    in_c: usize,
    out_c: usize,
    kernel: usize,
    stride: usize,
    vb: VarBuilder,
) -> candle_core::Result<Conv2d> {
    let spec = ConvSpec {
        in_c,
        out_c,
        kernel,
        stride,
        padding: kernel / 2,
        bias: false,
    };
    conv2d(spec, KAIMING_FAN_OUT, vb)
}

#[derive(Debug, Clone)]
struct Block {
    convs: Vec<ConvBn>,
    downsample: Option<ConvBn>,
}

impl Block {
    fn new(
        kind: BlockKind,
        in_c: usize,
        planes: usize,
        stride: usize,
        vb: VarBuilder,
    ) -> Result<Self> {
        let out_c = planes * kind.expansion();
        // (in, out, kernel, stride) of conv1, conv2[, conv3].
        let shapes: Vec<(usize, usize, usize, usize)> = match kind {
            BlockKind::Basic => vec![(in_c, planes, 3, stride), (planes, planes, 3, 1)],
            BlockKind::Bottleneck => vec![
                (in_c, planes, 1, 1),
                (planes, planes, 3, stride),
                (planes, out_c, 1, 1),
            ],
        };
        let convs = shapes
            .into_iter()
            .enumerate()
            .map(|(i, (ci, co, k, s))| {
                Ok(ConvBn {
                    conv: conv(ci, co, k, s, vb.pp(format!("conv{}", i + 1)))?,
                    bn: batch_norm(co, vb.pp(format!("bn{}", i + 1)))?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let downsample = if stride != 1 || in_c != out_c {
            let vb = vb.pp("downsample");
            Some(ConvBn {
                conv: conv(in_c, out_c, 1, stride, vb.pp("0"))?,
                bn: batch_norm(out_c, vb.pp("1"))?,
            })
        } else {
            None
        };
        Ok(Self { convs, downsample })
    }

    fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        let mut out = xs.clone();
        let last = self.convs.len() - 1;
        for (i, cb) in self.convs.iter().enumerate() {
            out = if i < last {
                cb.forward_relu_t(&out, train)?
            } else {
                cb.forward_t(&out, train)?
            };
        }
        let shortcut = match &self.downsample {
            Some(ds) => ds.forward_t(xs, train)?,
            None => xs.clone(),
        };
        Ok((out + shortcut)?.relu()?)
    }
}

/// A ResNet backbone with torchvision parameter names (`conv1.weight`, `bn1.running_mean`,
/// `layer1.0.conv1.weight`, `layer2.0.downsample.0.weight`, `fc.weight`, …), so ImageNet
/// weights from torchvision load into it (see [`crate::SeededVarMap::load`]).
///
/// Convolutions start Kaiming-normal (fan-out, ReLU gain), BatchNorm at weight 1 and bias 0,
/// `fc` at PyTorch's linear default — torchvision's initialisation.
///
/// # Shapes
/// Input `(B, in_channels, H, W)`; features `(B, widths.last() × expansion)`.
#[derive(Debug, Clone)]
pub struct ResNet {
    cfg: ResNetConfig,
    stem: ConvBn,
    stages: Vec<Vec<Block>>,
    fc: Option<Linear>,
    embed_dim: usize,
}

impl ResNet {
    /// Builds the network, creating (or fetching) its parameters through `vb`.
    pub fn new(cfg: &ResNetConfig, vb: VarBuilder) -> Result<Self> {
        cfg.validate()?;
        let (k, s) = match cfg.stem {
            Stem::Cifar => (3, 1),
            Stem::Imagenet => (7, 2),
        };
        let stem = ConvBn {
            conv: conv(cfg.in_channels, cfg.widths[0], k, s, vb.pp("conv1"))?,
            bn: batch_norm(cfg.widths[0], vb.pp("bn1"))?,
        };
        let expansion = cfg.block.expansion();
        let mut in_c = cfg.widths[0];
        let mut stages = Vec::with_capacity(cfg.layers.len());
        for (i, (&n, &planes)) in cfg.layers.iter().zip(&cfg.widths).enumerate() {
            let vb = vb.pp(STAGES[i]);
            let mut blocks = Vec::with_capacity(n);
            for j in 0..n {
                let stride = if i > 0 && j == 0 { 2 } else { 1 };
                blocks.push(Block::new(cfg.block, in_c, planes, stride, vb.pp(j))?);
                in_c = planes * expansion;
            }
            stages.push(blocks);
        }
        let fc = match cfg.num_classes {
            Some(n) => Some(linear(in_c, n, true, vb.pp("fc"))?),
            None => None,
        };
        Ok(Self {
            cfg: cfg.clone(),
            stem,
            stages,
            fc,
            embed_dim: in_c,
        })
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &ResNetConfig {
        &self.cfg
    }

    fn forward_stem(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        layers::check_images(xs, self.cfg.in_channels, "ResNet input")?;
        let x = self.stem.forward_relu_t(xs, train)?;
        match self.cfg.stem {
            Stem::Cifar => Ok(x),
            Stem::Imagenet => max_pool2d(&x, 3, 2, 1),
        }
    }

    /// Classifier logits `fc(features)`, `(B, num_classes)`; an error when built without `fc`.
    pub fn logits(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        let fc = self
            .fc
            .as_ref()
            .ok_or_else(|| invalid("num_classes", "this ResNet was built without a classifier"))?;
        Ok(fc.forward(&self.forward_features(xs, train)?)?)
    }
}

impl Backbone for ResNet {
    fn embed_dim(&self) -> usize {
        self.embed_dim
    }

    fn forward_features(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        let mut x = self.forward_stem(xs, train)?;
        for stage in &self.stages {
            for block in stage {
                x = block.forward_t(&x, train)?;
            }
        }
        Ok(x.mean((2, 3))?)
    }

    fn forward_stages(&self, xs: &Tensor, train: bool) -> Result<Vec<(&'static str, Tensor)>> {
        let mut x = self.forward_stem(xs, train)?;
        let mut out = Vec::with_capacity(self.stages.len());
        for (name, stage) in STAGES.iter().zip(&self.stages) {
            for block in stage {
                x = block.forward_t(&x, train)?;
            }
            out.push((*name, x.clone()));
        }
        Ok(out)
    }
}

impl ModuleT for ResNet {
    fn forward_t(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        self.forward_features(xs, train).map_err(to_candle)
    }
}
