//! Stochastic views: the [`Augment`] trait and its batch driver.

use candle_core::Tensor;
use rand::RngCore;
use rayon::prelude::*;
use ssad_core::{Seed, Stream};

use crate::error::{Error, Result};
use crate::image::{HostBatch, ImageShape};

/// A stochastic image augmentation whose every random choice comes from the RNG
/// it is given.
///
/// Images are `(C, H, W)` in `[0, 1]` and keep their shape. The batch driver
/// [`Augment::apply_batch`] gives sample `indices[i]` the RNG
/// `seed.rng(Stream::Augment, epoch, indices[i])`, so a sample's view depends on
/// `(seed, epoch, index)` only: not on its batch, its position or the number of
/// threads. For several independent views of one sample (a SimCLR pair), call it
/// once per view with `seed.derive(view)`.
pub trait Augment: Send + Sync {
    /// Checks once per batch that images of `shape` can be augmented.
    fn check_shape(&self, shape: ImageShape) -> Result<()>;

    /// Augments one image of `shape` in place, drawing from `rng`; errors if `img`
    /// does not hold `shape.len()` values or [`Augment::check_shape`] fails.
    fn augment_image(
        &self,
        img: &mut [f32],
        shape: ImageShape,
        rng: &mut dyn RngCore,
    ) -> Result<()>;

    /// Augments a `(B, C, H, W)` batch; `indices` are the samples' dataset indices.
    fn apply_batch(&self, x: &Tensor, seed: Seed, epoch: u64, indices: &[u64]) -> Result<Tensor> {
        let mut batch = HostBatch::from_tensor(x)?;
        check_indices(indices, batch.batch)?;
        self.check_shape(batch.shape)?;
        let shape = batch.shape;
        batch
            .data
            .par_chunks_mut(shape.len())
            .zip(indices.par_iter())
            .try_for_each(|(img, &index)| {
                let mut rng = seed.rng(Stream::Augment, epoch, index);
                self.augment_image(img, shape, &mut rng)
            })?;
        batch.into_tensor(x.device())
    }
}

/// Errors unless `img` holds one image of `shape` that `aug` can handle.
pub(crate) fn check_image(
    aug: &(impl Augment + ?Sized),
    img: &[f32],
    shape: ImageShape,
) -> Result<()> {
    if img.len() != shape.len() {
        return Err(Error::Shape {
            reason: format!("{} values for a {:?} image", img.len(), shape),
        });
    }
    aug.check_shape(shape)
}

pub(crate) fn check_indices(indices: &[u64], batch: usize) -> Result<()> {
    if indices.len() != batch {
        return Err(Error::Shape {
            reason: format!("{} sample indices for a batch of {batch}", indices.len()),
        });
    }
    Ok(())
}

pub(crate) fn check_range(
    field: &'static str,
    (lo, hi): (f32, f32),
    min: f32,
    max: f32,
) -> Result<()> {
    if !(lo.is_finite() && hi.is_finite() && min <= lo && lo <= hi && hi <= max) {
        return Err(Error::InvalidConfig {
            field,
            reason: format!("range ({lo}, {hi}) must be ordered and within [{min}, {max}]"),
        });
    }
    Ok(())
}

pub(crate) fn check_probability(field: &'static str, p: f32) -> Result<()> {
    if !(0.0..=1.0).contains(&p) {
        return Err(Error::InvalidConfig {
            field,
            reason: format!("a probability must lie in [0, 1], got {p}"),
        });
    }
    Ok(())
}

pub(crate) fn check_colour_channels(shape: ImageShape) -> Result<()> {
    if shape.channels != 1 && shape.channels != 3 {
        return Err(Error::Shape {
            reason: format!(
                "colour augmentations need 1 or 3 channels, got {}",
                shape.channels
            ),
        });
    }
    Ok(())
}
