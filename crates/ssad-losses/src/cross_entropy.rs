//! Softmax cross-entropy with optional label smoothing.

use crate::check;
use crate::Result;
use candle_core::{Tensor, D};
use serde::{Deserialize, Serialize};

/// Mean softmax cross-entropy of `logits` against class `targets`.
///
/// # Shapes
/// `logits`: `(B, K)` float; `targets`: `(B,)` u32 in `0..K`; result: scalar.
pub fn cross_entropy(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    cross_entropy_smoothed(logits, targets, 0.0)
}

/// Cross-entropy with PyTorch's label smoothing `eps`: the target distribution is
/// `(1 - eps)` on the true class plus `eps / K` on every class, so the loss is
/// `(1 - eps) * nll + eps * mean_k(-log p_k)`, averaged over the batch.
///
/// # Shapes
/// `logits`: `(B, K)` float; `targets`: `(B,)` u32 in `0..K`; result: scalar.
pub fn cross_entropy_smoothed(logits: &Tensor, targets: &Tensor, eps: f64) -> Result<Tensor> {
    check::rank(logits, "logits", 2, "(B, K) logits")?;
    check::float(logits, "logits")?;
    if !(0.0..=1.0).contains(&eps) {
        return Err(crate::Error::InvalidConfig {
            field: "label_smoothing",
            reason: format!("must lie in [0, 1], got {eps}"),
        });
    }
    let (batch, classes) = logits.dims2()?;
    check::class_targets(targets, batch, classes)?;
    let log_p = candle_nn::ops::log_softmax(logits, D::Minus1)?;
    let nll = log_p.gather(&targets.unsqueeze(1)?, 1)?.neg()?.mean_all()?;
    if eps == 0.0 {
        return Ok(nll);
    }
    let uniform = log_p.mean(D::Minus1)?.neg()?.mean_all()?;
    Ok(((nll * (1.0 - eps))? + (uniform * eps)?)?)
}

/// Cross-entropy as a configured loss.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CrossEntropy {
    /// Label smoothing in `[0, 1]`; PyTorch's default, 0, means none.
    pub label_smoothing: f64,
}

impl Default for CrossEntropy {
    fn default() -> Self {
        Self {
            label_smoothing: 0.0,
        }
    }
}

impl CrossEntropy {
    /// See [`cross_entropy_smoothed`].
    pub fn forward(&self, logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
        cross_entropy_smoothed(logits, targets, self.label_smoothing)
    }
}
