//! Shape and range checks shared by the losses, so bad input is an error, not a panic.

use crate::{Error, Result};
use candle_core::{DType, Tensor};

pub(crate) fn rank(t: &Tensor, what: &'static str, want: usize, words: &str) -> Result<()> {
    if t.rank() != want || t.dims().contains(&0) {
        return Err(Error::Shape {
            what,
            expected: words.to_string(),
            got: t.dims().to_vec(),
        });
    }
    Ok(())
}

pub(crate) fn float(t: &Tensor, what: &'static str) -> Result<()> {
    if !t.dtype().is_float() {
        return Err(Error::Shape {
            what,
            expected: format!("a float tensor, not {:?}", t.dtype()),
            got: t.dims().to_vec(),
        });
    }
    Ok(())
}

/// Checks `targets` is a `(B,)` u32 tensor with every value below `classes`;
/// returns the values.
pub(crate) fn class_targets(targets: &Tensor, batch: usize, classes: usize) -> Result<Vec<u32>> {
    if targets.dtype() != DType::U32 || targets.dims() != [batch] {
        return Err(Error::Shape {
            what: "targets",
            expected: format!("a u32 tensor of shape ({batch},)"),
            got: targets.dims().to_vec(),
        });
    }
    // One host copy of B integers: negligible next to the forward pass, and it
    // turns candle's out-of-bounds gather into a typed error.
    let values = targets.to_vec1::<u32>()?;
    for (position, &target) in values.iter().enumerate() {
        if target as usize >= classes {
            return Err(Error::TargetOutOfRange {
                position,
                target,
                classes,
            });
        }
    }
    Ok(values)
}

pub(crate) fn positive(field: &'static str, value: f64) -> Result<()> {
    if !(value.is_finite() && value > 0.0) {
        return Err(Error::InvalidConfig {
            field,
            reason: format!("must be finite and > 0, got {value}"),
        });
    }
    Ok(())
}

pub(crate) fn non_negative(field: &'static str, value: f64) -> Result<()> {
    if !(value.is_finite() && value >= 0.0) {
        return Err(Error::InvalidConfig {
            field,
            reason: format!("must be finite and >= 0, got {value}"),
        });
    }
    Ok(())
}

/// Rows divided by their L2 norm (the cosine-similarity convention of SimCLR).
pub(crate) fn l2_normalize_rows(z: &Tensor) -> Result<Tensor> {
    let last = z.rank() - 1;
    // The epsilon keeps an all-zero row finite, like torch.nn.functional.normalize.
    let norm = z.sqr()?.sum_keepdim(last)?.sqrt()?.clamp(1e-12, f64::MAX)?;
    Ok(z.broadcast_div(&norm)?)
}

/// `(n, n)` identity in `t`'s dtype, used to push self-similarities out of a softmax.
pub(crate) fn eye_like(n: usize, t: &Tensor) -> Result<Tensor> {
    Ok(Tensor::eye(n, t.dtype(), t.device())?)
}
