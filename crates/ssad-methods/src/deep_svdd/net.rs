//! Deep SVDD's bias-free networks (lukasruff/Deep-SVDD-PyTorch `networks/`)
//! and the decoders of their autoencoder pretraining.
//!
//! Bias terms and affine BatchNorm are left out on purpose: with them the
//! network could map every input onto the center and collapse the
//! hypersphere (Ruff et al., Proposition 2).

use candle_core::{DType, Device, Tensor};
use candle_nn::{BatchNorm, BatchNormConfig, Init, ModuleT, VarBuilder};
use ssad_models::SeededVarMap;

use crate::error::{Error, Result};
use crate::frozen::samples::Layout;

/// `F.leaky_relu`'s default slope.
const LEAKY_SLOPE: f64 = 0.01;
/// The reference networks' BatchNorm epsilon.
const BN_EPS: f64 = 1e-4;
/// Convolution kernel side and padding of the LeNet-type networks.
const KERNEL: usize = 5;

fn leaky_relu(x: &Tensor) -> candle_core::Result<Tensor> {
    x.maximum(&(x * LEAKY_SLOPE)?)
}

/// PyTorch's default initialisation of convolution and linear weights, `U(±1/sqrt(fan_in))`.
fn torch_uniform(fan_in: usize) -> Init {
    let bound = 1.0 / (fan_in.max(1) as f64).sqrt();
    Init::Uniform {
        lo: -bound,
        up: bound,
    }
}

/// A bias-free linear map `x Wᵀ`.
#[derive(Debug)]
pub(crate) struct Dense(Tensor);

impl Dense {
    fn new(d_in: usize, d_out: usize, vb: VarBuilder) -> candle_core::Result<Self> {
        Ok(Self(vb.get_with_hints(
            (d_out, d_in),
            "weight",
            torch_uniform(d_in),
        )?))
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        x.matmul(&self.0.t()?)
    }
}

/// A bias-free `k×k` convolution, stride 1.
#[derive(Debug)]
pub(crate) struct Conv {
    weight: Tensor,
    padding: usize,
}

impl Conv {
    fn new(c_in: usize, c_out: usize, padding: usize, vb: VarBuilder) -> candle_core::Result<Self> {
        let fan_in = c_in * KERNEL * KERNEL;
        let weight = vb.get_with_hints(
            (c_out, c_in, KERNEL, KERNEL),
            "weight",
            torch_uniform(fan_in),
        )?;
        Ok(Self { weight, padding })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        ssad_models::ops::conv2d(x, &self.weight, 1, self.padding)
    }
}

/// BatchNorm without scale and shift, eps `1e-4`, momentum 0.1.
fn batch_norm(n: usize, vb: VarBuilder) -> candle_core::Result<BatchNorm> {
    let cfg = BatchNormConfig {
        eps: BN_EPS,
        remove_mean: true,
        affine: false,
        momentum: 0.1,
    };
    candle_nn::batch_norm(n, cfg, vb)
}

/// The LeNet-type layout for an image side: encoder channels and code size.
fn lenet_layout(side: usize) -> Option<(&'static [usize], usize)> {
    match side {
        // `MNIST_LeNet`: 28 → 14 → 7.
        28 => Some((&[8, 4], 32)),
        // `CIFAR10_LeNet`: 32 → 16 → 8 → 4.
        32 => Some((&[32, 64, 128], 128)),
        _ => None,
    }
}

/// `(B, D)` inputs: `Linear → LeakyReLU` per hidden width, the last layer linear.
#[derive(Debug)]
pub(crate) struct Mlp {
    layers: Vec<Dense>,
}

impl Mlp {
    fn new(widths: &[usize], vb: VarBuilder) -> candle_core::Result<Self> {
        let layers = widths
            .windows(2)
            .enumerate()
            .map(|(i, w)| Dense::new(w[0], w[1], vb.pp(i)))
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self { layers })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mut h = x.clone();
        for (i, l) in self.layers.iter().enumerate() {
            h = l.forward(&h)?;
            if i + 1 < self.layers.len() {
                h = leaky_relu(&h)?;
            }
        }
        Ok(h)
    }
}

/// `(B, C, S, S)` images: `Conv5×5 → BN → LeakyReLU → MaxPool2` per stage, then a linear map to the code.
#[derive(Debug)]
pub(crate) struct LeNet {
    stages: Vec<(Conv, BatchNorm)>,
    fc: Dense,
}

impl LeNet {
    fn new(channels: usize, side: usize, vb: VarBuilder) -> Result<(Self, usize)> {
        let (widths, rep_dim) = lenet_layout(side).ok_or_else(|| Error::InvalidConfig {
            field: "images",
            reason: format!(
                "Deep SVDD's LeNet networks take 28x28 or 32x32 images, not {side}x{side}"
            ),
        })?;
        let mut stages = Vec::with_capacity(widths.len());
        let mut last = channels;
        for (i, &w) in widths.iter().enumerate() {
            let conv = Conv::new(last, w, KERNEL / 2, vb.pp(format!("conv{}", i + 1)))?;
            stages.push((conv, batch_norm(w, vb.pp(format!("bn{}", i + 1)))?));
            last = w;
        }
        let flat_side = side >> widths.len();
        let fc = Dense::new(last * flat_side * flat_side, rep_dim, vb.pp("fc1"))?;
        Ok((Self { stages, fc }, rep_dim))
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        let mut h = x.clone();
        for (conv, bn) in &self.stages {
            let a = leaky_relu(&bn.forward_t(&conv.forward(&h)?, train)?)?;
            h = ssad_models::max_pool2d(&a, 2, 2, 0).map_err(candle_core::Error::wrap)?;
        }
        self.fc.forward(&h.flatten_from(1)?)
    }
}

/// The network φ of Deep SVDD for a layout.
#[derive(Debug)]
pub(crate) struct SvddNet {
    body: Body,
    rep_dim: usize,
}

#[derive(Debug)]
enum Body {
    Mlp(Mlp),
    LeNet(LeNet),
}

impl SvddNet {
    /// The bias-free MLP `n_features → hidden…` for tabular data, or the
    /// reference LeNet for 28×28 / 32×32 images (any channel count).
    pub fn new(layout: Layout, hidden: &[usize], vars: &SeededVarMap) -> Result<Self> {
        let vb = vars.var_builder(DType::F32, &Device::Cpu).pp("encoder");
        Ok(match layout {
            Layout::Tabular { n_features } => {
                let mut widths = vec![n_features];
                widths.extend_from_slice(hidden);
                Self {
                    body: Body::Mlp(Mlp::new(&widths, vb)?),
                    rep_dim: *hidden.last().unwrap_or(&n_features),
                }
            }
            Layout::Images { shape: [c, h, w] } => {
                if h != w {
                    return Err(Error::InvalidConfig {
                        field: "images",
                        reason: format!(
                            "Deep SVDD's LeNet networks take square images, got {h}x{w}"
                        ),
                    });
                }
                let (net, rep_dim) = LeNet::new(c, h, vb)?;
                Self {
                    body: Body::LeNet(net),
                    rep_dim,
                }
            }
        })
    }

    /// The code size.
    pub fn rep_dim(&self) -> usize {
        self.rep_dim
    }

    /// `(B, rep_dim)` codes; `train` puts BatchNorm in batch mode.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        Ok(match &self.body {
            Body::Mlp(m) => m.forward(x)?,
            Body::LeNet(n) => n.forward_t(x, train)?,
        })
    }
}

/// The decoder of the pretraining autoencoder, mirroring [`SvddNet`]: after
/// pretraining only the encoder (the [`SvddNet`]) is kept, as the reference
/// copies the autoencoder's encoder weights into the Deep SVDD network.
///
/// The reference decoders end with a sigmoid for inputs scaled to `[0, 1]`;
/// this one ends linearly, since inputs here may have any scale.
#[derive(Debug)]
pub(crate) enum Decoder {
    /// Mirrored bias-free MLP.
    Mlp(Mlp),
    /// `MNIST_LeNet_Autoencoder`'s decoder: code as `(rep/16, 4, 4)`,
    /// upsample → conv stages to 28×28.
    Lenet28 {
        stages: Vec<(Conv, Option<BatchNorm>)>,
    },
    /// `CIFAR10_LeNet_Autoencoder`'s decoder: BatchNorm on the code, then
    /// conv → upsample stages from 4×4 to 32×32 (its stride-1 transposed
    /// convolutions are plain 5×5 convolutions, padding 2).
    Lenet32 {
        code_bn: BatchNorm,
        stages: Vec<(Conv, Option<BatchNorm>)>,
    },
}

impl Decoder {
    /// The decoder matching `SvddNet::new(layout, hidden, ..)`, its variables in `vars`.
    pub fn new(layout: Layout, hidden: &[usize], vars: &SeededVarMap) -> Result<Self> {
        let vb = vars.var_builder(DType::F32, &Device::Cpu).pp("decoder");
        let stage = |c_in: usize,
                     c_out: usize,
                     pad: usize,
                     bn: bool,
                     i: usize|
         -> candle_core::Result<(Conv, Option<BatchNorm>)> {
            let conv = Conv::new(c_in, c_out, pad, vb.pp(format!("conv{i}")))?;
            let bn = if bn {
                Some(batch_norm(c_out, vb.pp(format!("bn{i}")))?)
            } else {
                None
            };
            Ok((conv, bn))
        };
        Ok(match layout {
            Layout::Tabular { n_features } => {
                let mut widths: Vec<usize> = hidden.iter().rev().copied().collect();
                widths.push(n_features);
                Decoder::Mlp(Mlp::new(&widths, vb)?)
            }
            Layout::Images {
                shape: [c, side, _],
            } => {
                let (_, rep_dim) = lenet_layout(side).ok_or_else(|| Error::InvalidConfig {
                    field: "images",
                    reason: format!("no Deep SVDD autoencoder for {side}x{side} images"),
                })?;
                let code_c = rep_dim / 16;
                if side == 28 {
                    Decoder::Lenet28 {
                        stages: vec![
                            stage(code_c, 4, 2, true, 1)?,
                            stage(4, 8, 1, true, 2)?,
                            stage(8, c, 2, false, 3)?,
                        ],
                    }
                } else {
                    Decoder::Lenet32 {
                        code_bn: batch_norm(rep_dim, vb.pp("bn_code"))?,
                        stages: vec![
                            stage(code_c, 128, 2, true, 1)?,
                            stage(128, 64, 2, true, 2)?,
                            stage(64, 32, 2, true, 3)?,
                            stage(32, c, 2, false, 4)?,
                        ],
                    }
                }
            }
        })
    }

    /// Reconstructs inputs from `(B, rep_dim)` codes.
    pub fn forward_t(&self, code: &Tensor, train: bool) -> Result<Tensor> {
        let up = |x: &Tensor| -> candle_core::Result<Tensor> {
            let (_, _, h, w) = x.dims4()?;
            x.upsample_nearest2d(2 * h, 2 * w)
        };
        let apply =
            |(conv, bn): &(Conv, Option<BatchNorm>), x: &Tensor| -> candle_core::Result<Tensor> {
                let y = conv.forward(x)?;
                match bn {
                    Some(bn) => leaky_relu(&bn.forward_t(&y, train)?),
                    None => Ok(y),
                }
            };
        let as_map = |code: &Tensor| -> candle_core::Result<Tensor> {
            let (b, d) = code.dims2()?;
            leaky_relu(&code.reshape((b, d / 16, 4, 4))?)
        };
        Ok(match self {
            Decoder::Mlp(m) => m.forward(code)?,
            Decoder::Lenet28 { stages } => {
                // 4 → 8 → conv → 16 → conv (pad 1) 14 → 28 → conv.
                let mut h = as_map(code)?;
                for s in stages {
                    h = apply(s, &up(&h)?)?;
                }
                h
            }
            Decoder::Lenet32 { code_bn, stages } => {
                // 4 → conv → 8 → conv → 16 → conv → 32 → conv.
                let mut h = as_map(&code_bn.forward_t(code, train)?)?;
                let last = stages.len() - 1;
                for (i, s) in stages.iter().enumerate() {
                    h = apply(s, &h)?;
                    if i < last {
                        h = up(&h)?;
                    }
                }
                h
            }
        })
    }
}
