//! Contrastive objectives on cosine similarities: SimCLR's NT-Xent, CSI's
//! con-SI and supervised contrastive (SupCon) loss.
//!
//! All three L2-normalise the embeddings themselves, so callers pass raw
//! projection-head outputs.

use crate::check;
use crate::{Error, Result};
use candle_core::{DType, Tensor, D};
use serde::{Deserialize, Serialize};

fn check_temperature(temperature: f64) -> Result<()> {
    check::positive("temperature", temperature)
}

/// SimCLR's NT-Xent over two views of `N` instances, exactly as CSI's `NT_xent`.
///
/// The `2N` normalised embeddings are compared by cosine similarity divided by
/// `temperature`; each anchor's positive is the other view of the same instance,
/// its negatives are the other `2N - 2` embeddings, itself excluded. With
/// `p = exp(s_pos) / (sum_{j != i} exp(s_ij) + eps)`, the loss is the mean over all
/// `2N` anchors of `-log(p + eps)`. `eps = 0` gives the textbook SimCLR loss;
/// CSI uses `eps = 1e-8`, which also caps an anchor's loss at `-ln(eps)`.
/// Evaluated in log space, so small temperatures do not overflow.
///
/// # Shapes
/// `z1`, `z2`: `(N, D)` float, `N >= 1`; result: scalar.
pub fn nt_xent(z1: &Tensor, z2: &Tensor, temperature: f64, eps: f64) -> Result<Tensor> {
    check::rank(z1, "z1", 2, "(N, D) embeddings")?;
    check::float(z1, "z1")?;
    check_temperature(temperature)?;
    check::non_negative("eps", eps)?;
    if z2.dims() != z1.dims() {
        return Err(Error::Shape {
            what: "z2",
            expected: format!("{:?}, the shape of z1", z1.dims()),
            got: z2.dims().to_vec(),
        });
    }
    let n = z1.dim(0)?;
    let z = check::l2_normalize_rows(&Tensor::cat(&[z1, z2], 0)?)?;
    let rows = 2 * n;
    let sim = (z.matmul(&z.t()?)? / temperature)?;
    // Pushing the diagonal far down makes exp() of it underflow to exactly 0.
    let masked = (sim - (check::eye_like(rows, &z)? * SELF_MASK)?)?;
    let lse = masked.log_sum_exp(D::Minus1)?.unsqueeze(1)?;
    let partner: Vec<u32> = (0..rows).map(|i| ((i + n) % rows) as u32).collect();
    let partner = Tensor::from_vec(partner, (rows, 1), z.device())?;
    let log_p = (masked.gather(&partner, 1)? - &lse)?;
    let per_anchor = if eps == 0.0 {
        log_p.neg()?
    } else {
        let log_eps = eps.ln();
        // log(e^pos / (S + eps)) = log_p - log(1 + eps / S) = log_p - softplus(log eps - lse)
        let log_p = (log_p - softplus(&(lse.neg()? + log_eps)?)?)?;
        // -log(p + eps) = -(log_eps + softplus(log_p - log_eps))
        (softplus(&(log_p - log_eps)?)? + log_eps)?.neg()?
    };
    Ok(per_anchor.mean_all()?)
}

/// `log(1 + e^x)` without overflow.
fn softplus(x: &Tensor) -> Result<Tensor> {
    Ok((x.relu()? + (x.abs()?.neg()?.exp()? + 1.0)?.log()?)?)
}

/// Subtracted from self-similarities so that `exp` of them underflows to 0.
const SELF_MASK: f64 = 1e9;

/// CSI's con-SI: NT-Xent in which every shifted copy of an image is its own
/// instance.
///
/// `z1[k, b]` and `z2[k, b]` are the two views of image `b` under shift `k`;
/// they are each other's positive, while the other shifts of the same image
/// are negatives like any other image; `eps` as in [`nt_xent`]. Equivalent to CSI's
/// `NT_xent(get_similarity_matrix(cat([cat_k z1_k, cat_k z2_k])))`.
///
/// # Shapes
/// `z1`, `z2`: `(K, B, D)` float; result: scalar.
pub fn con_si(z1: &Tensor, z2: &Tensor, temperature: f64, eps: f64) -> Result<Tensor> {
    check::rank(z1, "z1", 3, "(K, B, D) embeddings")?;
    if z2.dims() != z1.dims() {
        return Err(Error::Shape {
            what: "z2",
            expected: format!("{:?}, the shape of z1", z1.dims()),
            got: z2.dims().to_vec(),
        });
    }
    let (shifts, batch, dim) = z1.dims3()?;
    let flat = |z: &Tensor| z.reshape((shifts * batch, dim));
    nt_xent(&flat(z1)?, &flat(z2)?, temperature, eps)
}

/// Supervised contrastive loss (Khosla et al., NeurIPS 2020), `contrast_mode =
/// "all"`, as in HobbitLong/SupContrast `SupConLoss`.
///
/// The `V` views of all `B` samples form `V * B` anchors; an anchor's positives
/// are the other embeddings with the same label (without `labels`, only the
/// other views of the same sample, which is SimCLR's loss). The loss is
/// `-(temperature / base_temperature)` times the mean over anchors of the mean
/// log-probability of their positives. An anchor without positives contributes 0.
///
/// # Shapes
/// `features`: `(B, V, D)` float; `labels`: `(B,)` u32 or `None`; result: scalar.
pub fn supcon(
    features: &Tensor,
    labels: Option<&Tensor>,
    temperature: f64,
    base_temperature: f64,
) -> Result<Tensor> {
    check::rank(features, "features", 3, "(B, V, D) features")?;
    check::float(features, "features")?;
    check_temperature(temperature)?;
    check::positive("base_temperature", base_temperature)?;
    let (batch, views, dim) = features.dims3()?;
    let device = features.device();
    let labels = match labels {
        Some(l) => {
            if l.dtype() != DType::U32 || l.dims() != [batch] {
                return Err(Error::Shape {
                    what: "labels",
                    expected: format!("a u32 tensor of shape ({batch},)"),
                    got: l.dims().to_vec(),
                });
            }
            l.clone()
        }
        None => Tensor::arange(0u32, batch as u32, device)?,
    };
    // View-major order, like torch.cat(torch.unbind(features, 1)).
    let contrast = features
        .transpose(0, 1)?
        .contiguous()?
        .reshape((views * batch, dim))?;
    let contrast = check::l2_normalize_rows(&contrast)?;
    let anchors = views * batch;
    let sim = (contrast.matmul(&contrast.t()?)? / temperature)?;
    // SupConLoss shifts by the row maximum (self included) and adds 1e-9 inside
    // the log; both are kept so values match the reference exactly.
    let logits = sim.broadcast_sub(&sim.max_keepdim(1)?.detach())?;
    let others = (1.0 - check::eye_like(anchors, features)?)?;
    let denominator = (logits.exp()? * &others)?.sum_keepdim(1)?;
    let log_p = logits.broadcast_sub(&(denominator + 1e-9)?.log()?)?;

    let labels = labels.repeat(views)?;
    let same = labels
        .unsqueeze(1)?
        .broadcast_eq(&labels.unsqueeze(0)?)?
        .to_dtype(features.dtype())?;
    let positives = (same * others)?;
    let counts = positives.sum(1)?.clamp(1.0, f64::MAX)?;
    let mean_log_p = (positives * log_p)?.sum(1)?.div(&counts)?;
    Ok((mean_log_p.mean_all()? * (-temperature / base_temperature))?)
}

/// NT-Xent as a configured loss; defaults are CSI's `NT_xent` (temperature
/// 0.5, SimCLR's CIFAR-10 setting, and `eps = 1e-8`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NtXent {
    /// Softmax temperature.
    pub temperature: f64,
    /// CSI's stabiliser; 0 gives the textbook loss.
    pub eps: f64,
}

impl Default for NtXent {
    fn default() -> Self {
        Self {
            temperature: 0.5,
            eps: 1e-8,
        }
    }
}

impl NtXent {
    /// NT-Xent of two views, see [`nt_xent`].
    pub fn forward(&self, z1: &Tensor, z2: &Tensor) -> Result<Tensor> {
        nt_xent(z1, z2, self.temperature, self.eps)
    }

    /// CSI's con-SI of two views of `K` shifted copies, see [`con_si`].
    pub fn forward_shifted(&self, z1: &Tensor, z2: &Tensor) -> Result<Tensor> {
        con_si(z1, z2, self.temperature, self.eps)
    }
}

/// SupCon as a configured loss; defaults are `SupConLoss`'s (0.07 and 0.07).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SupCon {
    /// Softmax temperature.
    pub temperature: f64,
    /// Reference temperature that rescales the loss.
    pub base_temperature: f64,
}

impl Default for SupCon {
    fn default() -> Self {
        Self {
            temperature: 0.07,
            base_temperature: 0.07,
        }
    }
}

impl SupCon {
    /// See [`supcon`].
    pub fn forward(&self, features: &Tensor, labels: Option<&Tensor>) -> Result<Tensor> {
        supcon(features, labels, self.temperature, self.base_temperature)
    }
}
