//! Autoencoders for reconstruction-error baselines.
//!
//! Dropout is left out on purpose: candle draws dropout masks from its
//! unseedable CPU RNG, which would make training irreproducible.

use crate::error::{invalid, Error, Result};
use crate::init::torch_default_uniform;
use crate::layers::{
    batch_norm, check_images, check_vectors, conv2d, linear, BatchNorm, Conv2d, ConvSpec, Linear,
};
use candle_core::{Module, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

/// A fully connected autoencoder's layout. `Default` is PyOD's `AutoEncoder`
/// (`hidden_neuron_list=[64, 32]`, ReLU, `batch_norm=True`; its dropout is not supported).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DenseAutoencoderConfig {
    /// Widths of the encoder layers; the last is the code size. The decoder mirrors them.
    pub hidden: Vec<usize>,
    /// BatchNorm after each hidden linear layer.
    pub batch_norm: bool,
}

impl Default for DenseAutoencoderConfig {
    fn default() -> Self {
        Self {
            hidden: vec![64, 32],
            batch_norm: true,
        }
    }
}

#[derive(Debug, Clone)]
struct DenseLayer {
    linear: Linear,
    bn: Option<BatchNorm>,
}

impl DenseLayer {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        let mut h = self.linear.forward(xs)?;
        if let Some(bn) = &self.bn {
            h = bn.forward_t(&h, train)?;
        }
        Ok(h.relu()?)
    }
}

/// PyOD's autoencoder: encoder `(Linear → BN → ReLU)` per hidden width, decoder mirroring
/// it, then a final Linear back to the input dimension. Parameters keep PyOD's
/// `nn.Sequential` indices (`encoder.0`, `encoder.1`, `encoder.4`, …, as if its Dropout were there).
///
/// # Shapes
/// `(B, input_dim)` → code `(B, hidden.last())` → reconstruction `(B, input_dim)`.
#[derive(Debug, Clone)]
pub struct DenseAutoencoder {
    input_dim: usize,
    encoder: Vec<DenseLayer>,
    decoder: Vec<DenseLayer>,
    output: Linear,
}

impl DenseAutoencoder {
    /// Builds the autoencoder for `input_dim` features under `vb`.
    pub fn new(input_dim: usize, cfg: &DenseAutoencoderConfig, vb: VarBuilder) -> Result<Self> {
        if input_dim == 0 {
            return Err(invalid("input_dim", "must be positive"));
        }
        if cfg.hidden.is_empty() || cfg.hidden.contains(&0) {
            return Err(invalid("hidden", "need at least one positive width"));
        }
        // PyOD's Sequential holds Linear, [BatchNorm], activation, Dropout per layer.
        let step = if cfg.batch_norm { 4 } else { 3 };
        let layer =
            |d_in: usize, d_out: usize, seq: &VarBuilder, idx: usize| -> Result<DenseLayer> {
                Ok(DenseLayer {
                    linear: linear(d_in, d_out, true, seq.pp(idx))?,
                    bn: if cfg.batch_norm {
                        Some(batch_norm(d_out, seq.pp(idx + 1))?)
                    } else {
                        None
                    },
                })
            };
        let enc_vb = vb.pp("encoder");
        let mut encoder = Vec::with_capacity(cfg.hidden.len());
        let mut last = input_dim;
        for (i, &w) in cfg.hidden.iter().enumerate() {
            encoder.push(layer(last, w, &enc_vb, step * i)?);
            last = w;
        }
        let dec_vb = vb.pp("decoder");
        let mut decoder = Vec::with_capacity(cfg.hidden.len() - 1);
        for (i, &w) in cfg.hidden.iter().rev().skip(1).enumerate() {
            decoder.push(layer(last, w, &dec_vb, step * i)?);
            last = w;
        }
        let output = linear(last, input_dim, true, dec_vb.pp(step * decoder.len()))?;
        Ok(Self {
            input_dim,
            encoder,
            decoder,
            output,
        })
    }

    /// The code of a batch, `(B, hidden.last())`.
    pub fn encode(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        check_vectors(xs, self.input_dim, "DenseAutoencoder input")?;
        let mut h = xs.clone();
        for l in &self.encoder {
            h = l.forward_t(&h, train)?;
        }
        Ok(h)
    }

    /// The reconstruction of a batch, `(B, input_dim)`.
    pub fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        let mut h = self.encode(xs, train)?;
        for l in &self.decoder {
            h = l.forward_t(&h, train)?;
        }
        Ok(self.output.forward(&h)?)
    }
}

/// A convolutional autoencoder's layout. `Default`: 3×32×32 images, channels 32/64/128, 128-d code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConvAutoencoderConfig {
    /// Image channels.
    pub in_channels: usize,
    /// Image height and width; must be divisible by `2^channels.len()`.
    pub image_size: usize,
    /// Channels after each stride-2 encoder convolution.
    pub channels: Vec<usize>,
    /// Code size.
    pub latent_dim: usize,
}

impl Default for ConvAutoencoderConfig {
    fn default() -> Self {
        Self {
            in_channels: 3,
            image_size: 32,
            channels: vec![32, 64, 128],
            latent_dim: 128,
        }
    }
}

impl ConvAutoencoderConfig {
    /// The layout for 1×28×28 images (Fashion-MNIST): channels 32/64, 64-d code.
    pub fn fmnist() -> Self {
        Self {
            in_channels: 1,
            image_size: 28,
            channels: vec![32, 64],
            latent_dim: 64,
        }
    }

    /// Checks the configuration; [`ConvAutoencoder::new`] calls it.
    pub fn validate(&self) -> Result<()> {
        if self.in_channels == 0
            || self.latent_dim == 0
            || self.channels.is_empty()
            || self.channels.contains(&0)
        {
            return Err(invalid(
                "conv autoencoder",
                "sizes must be positive and channels non-empty",
            ));
        }
        let factor = 1usize << self.channels.len().min(16);
        if self.image_size == 0 || self.image_size % factor != 0 {
            return Err(invalid(
                "image_size",
                format!("{} is not a positive multiple of {factor}", self.image_size),
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
struct ConvBnRelu {
    conv: Conv2d,
    bn: BatchNorm,
}

impl ConvBnRelu {
    fn new(in_c: usize, out_c: usize, stride: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            conv: conv3x3(in_c, out_c, stride, false, vb.pp("conv"))?,
            bn: batch_norm(out_c, vb.pp("bn"))?,
        })
    }

    fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        self.bn.forward_relu_t(&self.conv.forward(xs)?, train)
    }
}

fn conv3x3(
    in_c: usize,
    out_c: usize,
    stride: usize,
    bias: bool,
    vb: VarBuilder,
) -> candle_core::Result<Conv2d> {
    let spec = ConvSpec {
        in_c,
        out_c,
        kernel: 3,
        stride,
        padding: 1,
        bias,
    };
    conv2d(spec, torch_default_uniform(in_c * 9), vb)
}

/// A convolutional autoencoder: stride-2 `Conv → BN → ReLU` blocks and a linear layer to the
/// code; the decoder mirrors them with nearest ×2 upsampling (differentiable in candle, unlike
/// bilinear) and ends with a 3×3 convolution to the image channels, no output activation.
///
/// # Shapes
/// `(B, C, S, S)` → code `(B, latent_dim)` → reconstruction `(B, C, S, S)`.
#[derive(Debug, Clone)]
pub struct ConvAutoencoder {
    cfg: ConvAutoencoderConfig,
    encoder: Vec<ConvBnRelu>,
    to_code: Linear,
    from_code: Linear,
    decoder: Vec<ConvBnRelu>,
    output: Conv2d,
}

impl ConvAutoencoder {
    /// Builds the autoencoder under `vb`.
    pub fn new(cfg: &ConvAutoencoderConfig, vb: VarBuilder) -> Result<Self> {
        cfg.validate()?;
        let n = cfg.channels.len();
        let mut encoder = Vec::with_capacity(n);
        let mut last = cfg.in_channels;
        for (i, &c) in cfg.channels.iter().enumerate() {
            encoder.push(ConvBnRelu::new(last, c, 2, vb.pp("encoder").pp(i))?);
            last = c;
        }
        let side = cfg.image_size >> n;
        let flat = last * side * side;
        let to_code = linear(flat, cfg.latent_dim, true, vb.pp("to_code"))?;
        let from_code = linear(cfg.latent_dim, flat, true, vb.pp("from_code"))?;
        let mut decoder = Vec::with_capacity(n);
        for j in (0..n).rev() {
            let out_c = if j == 0 {
                cfg.channels[0]
            } else {
                cfg.channels[j - 1]
            };
            decoder.push(ConvBnRelu::new(
                cfg.channels[j],
                out_c,
                1,
                vb.pp("decoder").pp(n - 1 - j),
            )?);
        }
        let output = conv3x3(cfg.channels[0], cfg.in_channels, 1, true, vb.pp("output"))?;
        Ok(Self {
            cfg: cfg.clone(),
            encoder,
            to_code,
            from_code,
            decoder,
            output,
        })
    }

    fn check(&self, xs: &Tensor) -> Result<()> {
        let (_, _, h, w) = check_images(xs, self.cfg.in_channels, "ConvAutoencoder input")?;
        if h != self.cfg.image_size || w != self.cfg.image_size {
            return Err(Error::InputShape {
                what: "ConvAutoencoder input",
                expected: format!(
                    "(B, {c}, {s}, {s})",
                    c = self.cfg.in_channels,
                    s = self.cfg.image_size
                ),
                got: xs.dims().to_vec(),
            });
        }
        Ok(())
    }

    /// The code of a batch, `(B, latent_dim)`.
    pub fn encode(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        self.check(xs)?;
        let mut h = xs.clone();
        for block in &self.encoder {
            h = block.forward_t(&h, train)?;
        }
        Ok(self.to_code.forward(&h.flatten_from(1)?)?)
    }

    /// Decodes codes `(B, latent_dim)` into images `(B, C, S, S)`.
    pub fn decode(&self, code: &Tensor, train: bool) -> Result<Tensor> {
        check_vectors(code, self.cfg.latent_dim, "ConvAutoencoder code")?;
        let n = self.cfg.channels.len();
        let side = self.cfg.image_size >> n;
        let b = code.dim(0)?;
        let mut h = self.from_code.forward(code)?.relu()?.reshape((
            b,
            self.cfg.channels[n - 1],
            side,
            side,
        ))?;
        for block in &self.decoder {
            let (_, _, hh, ww) = h.dims4()?;
            h = block.forward_t(&h.upsample_nearest2d(2 * hh, 2 * ww)?, train)?;
        }
        Ok(self.output.forward(&h)?)
    }

    /// The reconstruction of a batch.
    pub fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        self.decode(&self.encode(xs, train)?, train)
    }
}
