//! Deep SVDD's one-class objective (Ruff et al., ICML 2018).

use crate::check;
use crate::Result;
use candle_core::{Tensor, D};

/// Mean squared Euclidean distance of the embeddings to a fixed `center`:
/// `mean_b sum_d (z_bd - c_d)^2`. The center receives no gradient.
///
/// # Shapes
/// `emb`: `(B, D)` float; `center`: `(D,)`; result: scalar.
pub fn svdd_loss(emb: &Tensor, center: &Tensor) -> Result<Tensor> {
    check::rank(emb, "emb", 2, "(B, D) embeddings")?;
    check::float(emb, "emb")?;
    let (_, dim) = emb.dims2()?;
    if center.dims() != [dim] {
        return Err(crate::Error::Shape {
            what: "center",
            expected: format!("({dim},) to match the embedding width"),
            got: center.dims().to_vec(),
        });
    }
    let center = center.detach().to_dtype(emb.dtype())?.unsqueeze(0)?;
    Ok(emb
        .broadcast_sub(&center)?
        .sqr()?
        .sum(D::Minus1)?
        .mean_all()?)
}
