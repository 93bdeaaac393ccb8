//! GOAD's center triplet loss (Bergman & Hoshen, ICLR 2020), as in
//! `tc_loss` of the authors' `opt_tc_tabular.py`.

use crate::check;
use crate::cross_entropy::cross_entropy;
use crate::fused_triplet::CenterTripletOp;
use crate::Result;
use candle_core::{DType, Tensor, D};
use serde::{Deserialize, Serialize};

/// Added to the own-center distance before taking the minimum over the other
/// centers; the same offset GOAD uses.
const SELF_OFFSET: f64 = 1e6;

/// Center triplet loss with centers taken from the batch itself.
///
/// With `c_m` the mean of `emb[:, m, :]` over the batch (gradients flow through
/// it, as in GOAD), the loss is the mean over `(b, m)` of
/// `max(0, |z_bm - c_m|^2 + margin - min_{m' != m} |z_bm - c_m'|^2)` with squared
/// Euclidean distances.
///
/// # Shapes
/// `emb`: `(B, M, D)` float with `M >= 2` transformations; result: scalar.
pub fn center_triplet(emb: &Tensor, margin: f64) -> Result<Tensor> {
    check::rank(emb, "emb", 3, "(B, M, D) embeddings")?;
    check::float(emb, "emb")?;
    check::non_negative("margin", margin)?;
    let (_, transforms, _) = emb.dims3()?;
    if transforms < 2 {
        return Err(crate::Error::Shape {
            what: "emb",
            expected: "at least 2 transformations (M >= 2)".to_string(),
            got: emb.dims().to_vec(),
        });
    }
    if emb.dtype() != DType::F32 || !emb.device().is_cpu() {
        return unfused_center_triplet(emb, margin);
    }
    let emb = emb.contiguous()?;
    let (batch, _, dim) = emb.dims3()?;
    // The two GEMM-shaped parts run in candle without gradient; the fused op
    // adds the gradient through the batch centers itself.
    let detached = emb.detach();
    let centers = detached.mean(0)?; // (M, D)
    let cross = detached
        .reshape((batch * transforms, dim))?
        .matmul(&centers.t()?)?; // (B * M, M)
    let op = CenterTripletOp::new((batch, transforms, dim), margin, SELF_OFFSET);
    Ok(emb.apply_op3(&centers, &cross, op)?)
}

/// [`center_triplet`] as a composition of candle ops, on checked input: the
/// path for other dtypes and devices, and the fused op's reference in tests.
pub(crate) fn unfused_center_triplet(emb: &Tensor, margin: f64) -> Result<Tensor> {
    let (batch, transforms, dim) = emb.dims3()?;
    let centers = emb.mean(0)?; // (M, D)

    // The own-center distance directly, the others from one matmul
    // (|z|^2 - 2 z.c + |c|^2): GOAD's (B, M, M, D) difference tensor is 2 GiB
    // per KDDRev step, the (B, M, M) distances are D times smaller.
    let own = emb
        .broadcast_sub(&centers.unsqueeze(0)?)?
        .sqr()?
        .sum(D::Minus1)?; // (B, M)
    let emb_sq = emb.sqr()?.sum_keepdim(D::Minus1)?; // (B, M, 1)
    let centers_sq = centers.sqr()?.sum(D::Minus1)?.reshape((1, 1, transforms))?;
    let cross = emb
        .reshape((batch * transforms, dim))?
        .matmul(&centers.t()?)?
        .reshape((batch, transforms, transforms))?;
    let dist = (emb_sq.broadcast_add(&centers_sq)? - (cross * 2.0)?)?; // (B, M, M)
    let offset = (check::eye_like(transforms, emb)? * SELF_OFFSET)?.unsqueeze(0)?;
    let nearest_other = dist.broadcast_add(&offset)?.min(D::Minus1)?;
    let hinge = ((own + margin)? - nearest_other)?.relu()?;
    Ok(hinge.mean_all()?)
}

/// GOAD's training objective: cross-entropy on the transformation label plus
/// `lambda` times the [`center_triplet`] loss.
///
/// `logits[b, m, :]` classifies sample `b` under transformation `m`, whose
/// label is `m`. (GOAD's own tensor is `(B, K, M)`, PyTorch's class-second
/// layout; permute it.)
///
/// # Shapes
/// `logits`: `(B, M, M)`; `emb`: `(B, M, D)`; result: scalar.
pub fn goad_loss(logits: &Tensor, emb: &Tensor, margin: f64, lambda: f64) -> Result<Tensor> {
    check::rank(logits, "logits", 3, "(B, M, M) logits")?;
    check::non_negative("lambda", lambda)?;
    let (batch, transforms, classes) = logits.dims3()?;
    let (emb_batch, emb_transforms, _) = emb.dims3().map_err(|_| crate::Error::Shape {
        what: "emb",
        expected: "(B, M, D) embeddings".to_string(),
        got: emb.dims().to_vec(),
    })?;
    if classes != transforms || emb_batch != batch || emb_transforms != transforms {
        return Err(crate::Error::Shape {
            what: "logits",
            expected: format!("({emb_batch}, {emb_transforms}, {emb_transforms}) to match emb"),
            got: logits.dims().to_vec(),
        });
    }
    let labels = Tensor::arange(0u32, transforms as u32, logits.device())?
        .unsqueeze(0)?
        .broadcast_as((batch, transforms))?
        .flatten_all()?
        .to_dtype(DType::U32)?;
    let ce = cross_entropy(&logits.reshape((batch * transforms, classes))?, &labels)?;
    let tc = center_triplet(emb, margin)?;
    Ok((ce + (tc * lambda)?)?)
}

/// GOAD's loss as a configured struct; defaults are the authors' command-line
/// defaults (`--m 1`, `--lmbda 0.1`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GoadLoss {
    /// Triplet margin `m`.
    pub margin: f64,
    /// Weight `lambda` of the triplet term.
    pub lambda: f64,
}

impl Default for GoadLoss {
    fn default() -> Self {
        Self {
            margin: 1.0,
            lambda: 0.1,
        }
    }
}

impl GoadLoss {
    /// See [`goad_loss`].
    pub fn forward(&self, logits: &Tensor, emb: &Tensor) -> Result<Tensor> {
        goad_loss(logits, emb, self.margin, self.lambda)
    }
}
