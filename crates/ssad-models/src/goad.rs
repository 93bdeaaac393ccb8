//! GOAD's tabular classifier (Bergman & Hoshen 2020, `fcnet.py` of lironber/GOAD).
//!
//! The same layers are applied to each of the `M` transformed copies of a sample
//! (GOAD writes them as 1×1 `Conv1d`s over the transformation axis; here they are
//! linear layers over the last axis of `(B, M, r)`, with the same weights).

use crate::error::{invalid, Error, Result};
use crate::init::{torch_default_uniform, xavier_normal};
use crate::layers::{linear_with, Linear};
use candle_core::{Module, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

/// Architecture of a [`GoadNet`]. `Default` is GOAD's KDDCUP99 setting (`netC5`, r = 64, ndf = 32, M = 64).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GoadNetConfig {
    /// Dimension `r` of each transformed copy (GOAD's `d_out`).
    pub input_dim: usize,
    /// Width of the trunk (GOAD's `ndf`), the feature dimension the centers live in.
    pub ndf: usize,
    /// Number of transformations `M` (GOAD's `n_rots`), also the number of classes.
    pub num_transforms: usize,
    /// Bias-free linear layers in the trunk: 5 (`netC5`, KDD/KDDRev) or 1 (`netC1`, Thyroid/Arrhythmia).
    pub trunk_layers: usize,
}

impl Default for GoadNetConfig {
    fn default() -> Self {
        Self::kdd()
    }
}

impl GoadNetConfig {
    /// KDDCUP99: `netC5`, r = 64, ndf = 32, M = 64.
    pub fn kdd() -> Self {
        Self {
            input_dim: 64,
            ndf: 32,
            num_transforms: 64,
            trunk_layers: 5,
        }
    }

    /// KDDCUP99-Rev: `netC5`, r = 128, ndf = 128, M = 256.
    pub fn kddrev() -> Self {
        Self {
            input_dim: 128,
            ndf: 128,
            num_transforms: 256,
            trunk_layers: 5,
        }
    }

    /// Thyroid and Arrhythmia: `netC1`, r = 32, ndf = 8, M = 256.
    pub fn thyroid() -> Self {
        Self {
            input_dim: 32,
            ndf: 8,
            num_transforms: 256,
            trunk_layers: 1,
        }
    }

    /// Checks the configuration; [`GoadNet::new`] calls it.
    pub fn validate(&self) -> Result<()> {
        if self.input_dim == 0
            || self.ndf == 0
            || self.num_transforms == 0
            || self.trunk_layers == 0
        {
            return Err(invalid("goad", "all sizes must be positive"));
        }
        Ok(())
    }
}

/// GOAD's activation, `LeakyReLU(0.2)`, as one fused CPU op.
fn leaky_relu(xs: &Tensor) -> candle_core::Result<Tensor> {
    crate::ops::leaky_relu(xs, LEAKY_SLOPE)
}

/// Negative slope of every LeakyReLU in `fcnet.py`.
const LEAKY_SLOPE: f64 = 0.2;

/// GOAD's network: a bias-free trunk with LeakyReLU(0.2) between layers (no BatchNorm),
/// and a head `LeakyReLU → Linear(ndf → M)`. Parameters are named as in `fcnet.py`
/// (`trunk.0.weight`, `trunk.2.weight`, …, `head.1.weight`, `head.1.bias`) and start
/// Xavier-normal with gain √2 (biases at PyTorch's default), what `weights_init` of
/// the reference code means to do. The reference actually calls it on the container
/// (`weights_init(self.netC)`), which matches no layer, so its runs start at PyTorch's
/// default `U(±1/√fan_in)`: `ssad-methods`' `goad` re-draws the weights that way to
/// reproduce the published numbers.
///
/// # Shapes
/// Input `(B, M, r)`; trunk features `(B, M, ndf)`; logits `(B, M, M)`.
#[derive(Debug, Clone)]
pub struct GoadNet {
    cfg: GoadNetConfig,
    trunk: Vec<Linear>,
    head: Linear,
}

impl GoadNet {
    /// Builds the network, creating (or fetching) its parameters through `vb`.
    pub fn new(cfg: &GoadNetConfig, vb: VarBuilder) -> Result<Self> {
        cfg.validate()?;
        let gain = 2f64.sqrt();
        let trunk = (0..cfg.trunk_layers)
            .map(|i| {
                let d_in = if i == 0 { cfg.input_dim } else { cfg.ndf };
                let w = xavier_normal(d_in, cfg.ndf, gain);
                linear_with(d_in, cfg.ndf, w, None, vb.pp("trunk").pp(2 * i))
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        let head = linear_with(
            cfg.ndf,
            cfg.num_transforms,
            xavier_normal(cfg.ndf, cfg.num_transforms, gain),
            Some(torch_default_uniform(cfg.ndf)),
            vb.pp("head").pp(1),
        )?;
        Ok(Self {
            cfg: *cfg,
            trunk,
            head,
        })
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &GoadNetConfig {
        &self.cfg
    }

    fn check(&self, xs: &Tensor) -> Result<()> {
        match *xs.dims() {
            [b, m, r] if b > 0 && m == self.cfg.num_transforms && r == self.cfg.input_dim => Ok(()),
            _ => Err(Error::InputShape {
                what: "GoadNet input",
                expected: format!("(B, {}, {})", self.cfg.num_transforms, self.cfg.input_dim),
                got: xs.dims().to_vec(),
            }),
        }
    }

    /// Trunk features, `(B, M, ndf)`: what GOAD's centers and triplet loss use.
    pub fn features(&self, xs: &Tensor) -> Result<Tensor> {
        self.check(xs)?;
        let mut x = xs.clone();
        for (i, layer) in self.trunk.iter().enumerate() {
            if i > 0 {
                x = leaky_relu(&x)?;
            }
            x = layer.forward(&x)?;
        }
        Ok(x)
    }

    /// Trunk features `(B, M, ndf)` and transformation logits `(B, M, M)`.
    pub fn forward(&self, xs: &Tensor) -> Result<(Tensor, Tensor)> {
        let feats = self.features(xs)?;
        let logits = self.head_logits(&leaky_relu(&feats)?)?;
        Ok((feats, logits))
    }

    /// The head's linear layer on activated features `(B, M, ndf)`: one GEMM
    /// over all `B * M` rows plus the fused bias add, whose backward sums the
    /// bias gradient without candle's strided reduction.
    fn head_logits(&self, act: &Tensor) -> Result<Tensor> {
        let (b, m, ndf) = act.dims3()?;
        let flat = act.contiguous()?.reshape((b * m, ndf))?;
        let mut logits = flat.matmul(&self.head.weight().t()?)?;
        if let Some(bias) = self.head.bias() {
            logits = crate::ops::bias_add(&logits, bias)?;
        }
        Ok(logits.reshape((b, m, ()))?)
    }

    /// `LeakyReLU(0.2)` of the trunk features `(B, M, ndf)` and the logits
    /// `(B, M, M)` computed from that same tensor: what GOAD's reference code
    /// trains on (its head activates the trunk output in place), with the
    /// activation computed once for both.
    pub fn forward_activated(&self, xs: &Tensor) -> Result<(Tensor, Tensor)> {
        let act = leaky_relu(&self.features(xs)?)?;
        let logits = self.head_logits(&act)?;
        Ok((act, logits))
    }

    /// `LeakyReLU(0.2)` of the trunk features, `(B, M, ndf)`: what GOAD scores with.
    pub fn activated_features(&self, xs: &Tensor) -> Result<Tensor> {
        Ok(leaky_relu(&self.features(xs)?)?)
    }
}
