//! Softmax cross-entropy with optional label smoothing.

use crate::check;
use crate::fused::SoftmaxNll;
use crate::Result;
use candle_core::{DType, Tensor, D};
use serde::{Deserialize, Serialize};

/// Mean softmax cross-entropy of `logits` against class `targets`.
///
/// f32 logits on the CPU go through one fused op (per-row log-sum-exp forward,
/// `softmax - onehot` backward, parallel over rows); other dtypes and devices
/// through candle's `log_softmax` + `gather`. Both give the same values.
///
/// # Shapes
/// `logits`: `(B, K)` float; `targets`: `(B,)` u32 in `0..K`; result: scalar.
pub fn cross_entropy(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    check::rank(logits, "logits", 2, "(B, K) logits")?;
    check::float(logits, "logits")?;
    let (batch, classes) = logits.dims2()?;
    let target_values = check::class_targets(targets, batch, classes)?;
    if logits.dtype() != DType::F32 || !logits.device().is_cpu() {
        return unfused(logits, targets, 0.0);
    }
    let per_row = logits.contiguous()?.apply_op1(SoftmaxNll {
        targets: target_values,
        classes,
    })?;
    Ok(per_row.mean_all()?)
}

/// Cross-entropy with PyTorch's label smoothing `eps`: the target distribution is
/// `(1 - eps)` on the true class plus `eps / K` on every class, so the loss is
/// `(1 - eps) * nll + eps * mean_k(-log p_k)`, averaged over the batch.
///
/// # Shapes
/// `logits`: `(B, K)` float; `targets`: `(B,)` u32 in `0..K`; result: scalar.
pub fn cross_entropy_smoothed(logits: &Tensor, targets: &Tensor, eps: f64) -> Result<Tensor> {
    if !(0.0..=1.0).contains(&eps) {
        return Err(crate::Error::InvalidConfig {
            field: "label_smoothing",
            reason: format!("must lie in [0, 1], got {eps}"),
        });
    }
    if eps == 0.0 {
        return cross_entropy(logits, targets);
    }
    check::rank(logits, "logits", 2, "(B, K) logits")?;
    check::float(logits, "logits")?;
    let (batch, classes) = logits.dims2()?;
    check::class_targets(targets, batch, classes)?;
    unfused(logits, targets, eps)
}

/// Smoothed cross-entropy from candle's ops, on checked input.
pub(crate) fn unfused(logits: &Tensor, targets: &Tensor, eps: f64) -> Result<Tensor> {
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
