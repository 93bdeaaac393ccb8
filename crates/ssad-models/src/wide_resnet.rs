//! Wide ResNets (Zagoruyko & Komodakis 2016) as GEOM and GOAD use them: WRN-10-4 by default.
//!
//! Layout of izikgo's keras `create_wide_residual_network` and of the PyTorch
//! WideResNet in GOAD (xternalz naming): a 3×3 convolution to 16 channels, three
//! groups of `n = (depth - 4) / 6` pre-activation basic blocks with widths 16k,
//! 32k, 64k (stride 1, 2, 2), then BN, ReLU and global average pooling. No dropout.
//! Unlike GOAD's `wideresnet.py`, `conv1` is applied once per block (GOAD calls it
//! twice, overwriting the `bn2`/`relu2` output). Strided convolutions pad 1 on each
//! side as in PyTorch (keras "same" pads only bottom/right for even inputs).

use crate::backbone::{to_candle, Backbone};
use crate::error::{invalid, Result};
use crate::init::{HE_NORMAL_FAN_IN, KAIMING_FAN_OUT};
use crate::layers::{self, batch_norm, conv2d, linear_with, BatchNorm, Conv2d, ConvSpec, Linear};
use candle_core::{Module, ModuleT, Tensor};
use candle_nn::{Init, VarBuilder};
use serde::{Deserialize, Serialize};

/// How convolution weights start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WrnInit {
    /// `N(0, 2 / fan_in)`: the keras WRN of GEOM.
    HeNormalFanIn,
    /// `N(0, 2 / (k·k·out))`: GOAD's PyTorch WRN.
    KaimingFanOut,
}

/// Architecture of a [`WideResNet`]. `Default` is GEOM's WRN-10-4 on 3-channel images.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WideResNetConfig {
    /// Depth `6n + 4`; GEOM and GOAD use 10 (one block per group).
    pub depth: usize,
    /// Width multiplier `k`; GEOM and GOAD use 4.
    pub widen_factor: usize,
    /// Input image channels.
    pub in_channels: usize,
    /// Adds a linear classifier `fc` with this many outputs (72 transformations in GEOM).
    pub num_classes: Option<usize>,
    /// Convolution initialisation.
    pub init: WrnInit,
}

impl Default for WideResNetConfig {
    fn default() -> Self {
        Self {
            depth: 10,
            widen_factor: 4,
            in_channels: 3,
            num_classes: None,
            init: WrnInit::HeNormalFanIn,
        }
    }
}

impl WideResNetConfig {
    /// Checks the configuration; [`WideResNet::new`] calls it.
    pub fn validate(&self) -> Result<()> {
        if self.depth < 10 || (self.depth - 4) % 6 != 0 {
            return Err(invalid(
                "depth",
                format!("must be 6n + 4 with n >= 1, got {}", self.depth),
            ));
        }
        if self.widen_factor == 0 || self.in_channels == 0 {
            return Err(invalid("widen_factor/in_channels", "must be positive"));
        }
        if self.num_classes == Some(0) {
            return Err(invalid("num_classes", "must be positive"));
        }
        Ok(())
    }

    fn widths(&self) -> [usize; 4] {
        let k = self.widen_factor;
        [16, 16 * k, 32 * k, 64 * k]
    }
}

const GROUPS: [&str; 3] = ["block1", "block2", "block3"];

#[derive(Debug, Clone)]
struct PreActBlock {
    bn1: BatchNorm,
    conv1: Conv2d,
    bn2: BatchNorm,
    conv2: Conv2d,
    shortcut: Option<Conv2d>,
}

fn conv(
    in_c: usize,
    out_c: usize,
    kernel: usize,
    stride: usize,
    init: Init,
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
    conv2d(spec, init, vb)
}

impl PreActBlock {
    fn new(in_c: usize, out_c: usize, stride: usize, init: Init, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            bn1: batch_norm(in_c, vb.pp("bn1"))?,
            conv1: conv(in_c, out_c, 3, stride, init, vb.pp("conv1"))?,
            bn2: batch_norm(out_c, vb.pp("bn2"))?,
            conv2: conv(out_c, out_c, 3, 1, init, vb.pp("conv2"))?,
            // Both references test channel equality only, not the stride.
            shortcut: if in_c == out_c {
                None
            } else {
                Some(conv(in_c, out_c, 1, stride, init, vb.pp("convShortcut"))?)
            },
        })
    }

    fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        let pre = self.bn1.forward_relu_t(xs, train)?;
        let out = self.conv1.forward(&pre)?;
        let out = self.bn2.forward_relu_t(&out, train)?;
        let out = self.conv2.forward(&out)?;
        // The projection shortcut sees the pre-activated input; the identity sees the raw one.
        let shortcut = match &self.shortcut {
            Some(c) => c.forward(&pre)?,
            None => xs.clone(),
        };
        Ok((out + shortcut)?)
    }
}

/// A pre-activation Wide ResNet, parameters named as in GOAD's PyTorch WideResNet
/// (`conv1`, `block1.layer.0.bn1`, `block2.layer.0.convShortcut`, `bn1`, `fc`).
///
/// # Shapes
/// Input `(B, in_channels, H, W)`; features `(B, 64·k)` (256 for WRN-10-4).
#[derive(Debug, Clone)]
pub struct WideResNet {
    cfg: WideResNetConfig,
    conv1: Conv2d,
    groups: Vec<Vec<PreActBlock>>,
    bn: BatchNorm,
    fc: Option<Linear>,
}

impl WideResNet {
    /// Builds the network, creating (or fetching) its parameters through `vb`.
    pub fn new(cfg: &WideResNetConfig, vb: VarBuilder) -> Result<Self> {
        cfg.validate()?;
        let init = match cfg.init {
            WrnInit::HeNormalFanIn => HE_NORMAL_FAN_IN,
            WrnInit::KaimingFanOut => KAIMING_FAN_OUT,
        };
        let w = cfg.widths();
        let n = (cfg.depth - 4) / 6;
        let conv1 = conv(cfg.in_channels, w[0], 3, 1, init, vb.pp("conv1"))?;
        let mut groups = Vec::with_capacity(3);
        for (g, name) in GROUPS.iter().enumerate() {
            let vb = vb.pp(*name).pp("layer");
            let stride = if g == 0 { 1 } else { 2 };
            let blocks = (0..n)
                .map(|i| {
                    let (in_c, s) = if i == 0 {
                        (w[g], stride)
                    } else {
                        (w[g + 1], 1)
                    };
                    PreActBlock::new(in_c, w[g + 1], s, init, vb.pp(i))
                })
                .collect::<Result<Vec<_>>>()?;
            groups.push(blocks);
        }
        let bn = batch_norm(w[3], vb.pp("bn1"))?;
        // keras: U(±1/sqrt(fan_in)) weight and zero bias; GOAD: the same bound, zero bias.
        let fc = match cfg.num_classes {
            Some(c) => Some(linear_with(
                w[3],
                c,
                crate::init::torch_default_uniform(w[3]),
                Some(Init::Const(0.0)),
                vb.pp("fc"),
            )?),
            None => None,
        };
        Ok(Self {
            cfg: cfg.clone(),
            conv1,
            groups,
            bn,
            fc,
        })
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &WideResNetConfig {
        &self.cfg
    }

    /// Classifier logits `fc(features)`, `(B, num_classes)`; an error when built without `fc`.
    pub fn logits(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        let fc = self.fc.as_ref().ok_or_else(|| {
            invalid(
                "num_classes",
                "this WideResNet was built without a classifier",
            )
        })?;
        Ok(fc.forward(&self.forward_features(xs, train)?)?)
    }

    fn run_groups(
        &self,
        xs: &Tensor,
        train: bool,
        mut tap: impl FnMut(&'static str, &Tensor),
    ) -> Result<Tensor> {
        layers::check_images(xs, self.cfg.in_channels, "WideResNet input")?;
        let mut x = self.conv1.forward(xs)?;
        for (name, group) in GROUPS.iter().zip(&self.groups) {
            for block in group {
                x = block.forward_t(&x, train)?;
            }
            tap(name, &x);
        }
        Ok(x)
    }
}

impl Backbone for WideResNet {
    fn embed_dim(&self) -> usize {
        self.cfg.widths()[3]
    }

    fn forward_features(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        let x = self.run_groups(xs, train, |_, _| {})?;
        Ok(self.bn.forward_relu_t(&x, train)?.mean((2, 3))?)
    }

    fn forward_stages(&self, xs: &Tensor, train: bool) -> Result<Vec<(&'static str, Tensor)>> {
        let mut out = Vec::with_capacity(3);
        self.run_groups(xs, train, |name, x| out.push((name, x.clone())))?;
        Ok(out)
    }
}

impl ModuleT for WideResNet {
    fn forward_t(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        self.forward_features(xs, train).map_err(to_candle)
    }
}
