//! Heads put on top of a backbone's features.

use crate::backbone::to_candle;
use crate::error::{invalid, Result};
use crate::layers::{batch_norm, check_vectors, linear, BatchNorm, Linear};
use candle_core::{Module, ModuleT, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

/// A linear classifier `(B, in_dim)` → `(B, out_dim)` with PyTorch's default initialisation.
#[derive(Debug, Clone)]
pub struct LinearHead {
    in_dim: usize,
    layer: Linear,
}

impl LinearHead {
    /// Parameters `weight` `(out_dim, in_dim)` and `bias` under `vb`.
    pub fn new(in_dim: usize, out_dim: usize, vb: VarBuilder) -> Result<Self> {
        if in_dim == 0 || out_dim == 0 {
            return Err(invalid("in_dim/out_dim", "must be positive"));
        }
        Ok(Self {
            in_dim,
            layer: linear(in_dim, out_dim, true, vb)?,
        })
    }

    /// Logits for a batch of feature vectors.
    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        check_vectors(xs, self.in_dim, "LinearHead input")?;
        Ok(self.layer.forward(xs)?)
    }
}

impl Module for LinearHead {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        LinearHead::forward(self, xs).map_err(to_candle)
    }
}

/// The SimCLR projection head. `Default` is CSI's `simclr_layer`: Linear(512, 512) → ReLU →
/// Linear(512, 128), no BatchNorm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProjectionHeadConfig {
    /// Input (backbone feature) dimension.
    pub in_dim: usize,
    /// Hidden dimension.
    pub hidden_dim: usize,
    /// Output (projection) dimension; CSI's `simclr_dim`.
    pub out_dim: usize,
    /// BatchNorm after the hidden linear layer (SimCLR's TensorFlow code has it; CSI does not).
    pub batch_norm: bool,
}

impl Default for ProjectionHeadConfig {
    fn default() -> Self {
        Self {
            in_dim: 512,
            hidden_dim: 512,
            out_dim: 128,
            batch_norm: false,
        }
    }
}

/// `Linear → [BatchNorm] → ReLU → Linear`, named like a PyTorch `nn.Sequential`
/// (`0`, `2` without BatchNorm; `0`, `1`, `3` with it).
#[derive(Debug, Clone)]
pub struct ProjectionHead {
    in_dim: usize,
    fc1: Linear,
    bn: Option<BatchNorm>,
    fc2: Linear,
}

impl ProjectionHead {
    /// Builds the head under `vb`.
    pub fn new(cfg: &ProjectionHeadConfig, vb: VarBuilder) -> Result<Self> {
        if cfg.in_dim == 0 || cfg.hidden_dim == 0 || cfg.out_dim == 0 {
            return Err(invalid("projection head", "all sizes must be positive"));
        }
        let fc1 = linear(cfg.in_dim, cfg.hidden_dim, true, vb.pp(0))?;
        let (bn, last) = if cfg.batch_norm {
            (Some(batch_norm(cfg.hidden_dim, vb.pp(1))?), 3)
        } else {
            (None, 2)
        };
        let fc2 = linear(cfg.hidden_dim, cfg.out_dim, true, vb.pp(last))?;
        Ok(Self {
            in_dim: cfg.in_dim,
            fc1,
            bn,
            fc2,
        })
    }

    /// Projections `(B, out_dim)` of features `(B, in_dim)`.
    pub fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        check_vectors(xs, self.in_dim, "ProjectionHead input")?;
        let mut h = self.fc1.forward(xs)?;
        if let Some(bn) = &self.bn {
            h = bn.forward_t(&h, train)?;
        }
        Ok(self.fc2.forward(&h.relu()?)?)
    }
}

impl ModuleT for ProjectionHead {
    fn forward_t(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        ProjectionHead::forward_t(self, xs, train).map_err(to_candle)
    }
}

/// CSI's two heads on the same features. `Default`: 512-d features, 128-d projection, 4 shifts (rotations).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CsiHeadsConfig {
    /// Backbone feature dimension (`last_dim`).
    pub in_dim: usize,
    /// Projection dimension (`simclr_dim`).
    pub simclr_dim: usize,
    /// Number of shifting transformations (`K_shift`).
    pub num_shifts: usize,
}

impl Default for CsiHeadsConfig {
    fn default() -> Self {
        Self {
            in_dim: 512,
            simclr_dim: 128,
            num_shifts: 4,
        }
    }
}

/// CSI's multi-head: `simclr_layer` (projection head, no BatchNorm) and `shift_cls_layer`
/// (linear shift classifier), both on the penultimate features, named as in CSI's `BaseModel`.
#[derive(Debug, Clone)]
pub struct CsiHeads {
    simclr: ProjectionHead,
    shift: LinearHead,
}

impl CsiHeads {
    /// Builds both heads under `vb`.
    pub fn new(cfg: &CsiHeadsConfig, vb: VarBuilder) -> Result<Self> {
        let proj = ProjectionHeadConfig {
            in_dim: cfg.in_dim,
            hidden_dim: cfg.in_dim,
            out_dim: cfg.simclr_dim,
            batch_norm: false,
        };
        Ok(Self {
            simclr: ProjectionHead::new(&proj, vb.pp("simclr_layer"))?,
            shift: LinearHead::new(cfg.in_dim, cfg.num_shifts, vb.pp("shift_cls_layer"))?,
        })
    }

    /// Projections `(B, simclr_dim)` and shift logits `(B, num_shifts)` of features `(B, in_dim)`.
    pub fn forward_t(&self, xs: &Tensor, train: bool) -> Result<(Tensor, Tensor)> {
        Ok((self.simclr.forward_t(xs, train)?, self.shift.forward(xs)?))
    }
}

/// CutPaste's MLP head. `Default` follows Runinho/pytorch-cutpaste: 8 hidden layers of
/// 512 then 128, each Linear + BatchNorm + ReLU, then a 2-way linear classifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CutPasteHeadConfig {
    /// Backbone feature dimension.
    pub in_dim: usize,
    /// Number of hidden layers before the embedding layer.
    pub hidden_layers: usize,
    /// Width of the hidden layers.
    pub hidden_dim: usize,
    /// Width of the last (embedding) layer.
    pub embed_dim: usize,
    /// Classes of the classifier: 2 (binary) or 3 (3-way).
    pub num_classes: usize,
}

impl Default for CutPasteHeadConfig {
    fn default() -> Self {
        Self {
            in_dim: 512,
            hidden_layers: 8,
            hidden_dim: 512,
            embed_dim: 128,
            num_classes: 2,
        }
    }
}

/// `head` = (Linear + BatchNorm1d + ReLU) × (hidden_layers + 1), then `out` = Linear,
/// named as Runinho's `ProjectionNet` (`head.0`, `head.1`, `head.3`, …, `out`).
#[derive(Debug, Clone)]
pub struct CutPasteHead {
    in_dim: usize,
    layers: Vec<(Linear, BatchNorm)>,
    out: Linear,
}

impl CutPasteHead {
    /// Builds the head under `vb`.
    pub fn new(cfg: &CutPasteHeadConfig, vb: VarBuilder) -> Result<Self> {
        if cfg.in_dim == 0 || cfg.hidden_dim == 0 || cfg.embed_dim == 0 || cfg.num_classes == 0 {
            return Err(invalid("cutpaste head", "all sizes must be positive"));
        }
        let widths: Vec<usize> = std::iter::repeat_n(cfg.hidden_dim, cfg.hidden_layers)
            .chain([cfg.embed_dim])
            .collect();
        let head = vb.pp("head");
        let mut last = cfg.in_dim;
        let mut layers = Vec::with_capacity(widths.len());
        for (i, &w) in widths.iter().enumerate() {
            layers.push((
                linear(last, w, true, head.pp(3 * i))?,
                batch_norm(w, head.pp(3 * i + 1))?,
            ));
            last = w;
        }
        Ok(Self {
            in_dim: cfg.in_dim,
            layers,
            out: linear(last, cfg.num_classes, true, vb.pp("out"))?,
        })
    }

    /// The head's output `(B, embed_dim)` and the classifier logits `(B, num_classes)`.
    pub fn forward_t(&self, xs: &Tensor, train: bool) -> Result<(Tensor, Tensor)> {
        check_vectors(xs, self.in_dim, "CutPasteHead input")?;
        let mut h = xs.clone();
        for (lin, bn) in &self.layers {
            h = bn.forward_relu_t(&lin.forward(&h)?, train)?;
        }
        let logits = self.out.forward(&h)?;
        Ok((h, logits))
    }
}
