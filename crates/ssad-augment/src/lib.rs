//! Pretext transformations and stochastic augmentations for self-supervised
//! anomaly detection.
//!
//! Two kinds of transformation, two traits:
//!
//! * [`TransformFamily`]: a finite, ordered, deterministic family whose index is
//!   the pretext label, with `T_0` the identity: RotNet/CSI's [`Rotations`],
//!   GEOM's 72 [`Geom`] transforms, Hendrycks' three-headed [`RotTrans`], CSI's
//!   [`CutPerm`]. [`expand`] applies all members to a batch at once. GOAD's tabular
//!   random affine maps are [`GoadAffine`].
//! * [`Augment`]: a stochastic view whose randomness comes from
//!   `Seed::rng(Stream::Augment, epoch, index)`, so a sample's view never depends
//!   on thread count or batch composition: [`CutPaste`], [`CutPasteScar`],
//!   [`CutPasteUnion`] (and the labelled batches of [`CutPasteViews`]), [`SimClr`]
//!   and [`RandomResizedCrop`].
//!
//! Images are `(B, C, H, W)` f32 tensors; colour augmentations expect values in
//! `[0, 1]` and 1 or 3 channels. Batch operations copy the batch to the host once,
//! work on it in parallel over images with rayon, and copy it back once.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use ssad_augment::{expand, Augment, Geom, Rotations, SimClr, TransformFamily};
//! use ssad_core::Seed;
//!
//! let x = Tensor::arange(0f32, 2.0 * 16.0, &Device::Cpu)?.reshape((2, 1, 4, 4))?;
//! // Four quarter turns give the image back.
//! let mut y = x.clone();
//! for _ in 0..4 {
//!     y = Rotations.apply(&y, 1)?;
//! }
//! assert_eq!(y.flatten_all()?.to_vec1::<f32>()?, x.flatten_all()?.to_vec1::<f32>()?);
//!
//! // All 72 GEOM transforms of the batch, with their labels.
//! let all = expand(&Geom::new(), &x)?;
//! assert_eq!(all.images.dims(), &[144, 1, 4, 4]);
//! assert_eq!(all.labels.to_vec1::<u32>()?[2], 1); // member-major order
//!
//! // A SimCLR view of each sample, reproducible from (seed, epoch, index).
//! let imgs = (x / 32.0)?;
//! let a = SimClr::default().apply_batch(&imgs, Seed(7), 0, &[10, 11])?;
//! let b = SimClr::default().apply_batch(&imgs, Seed(7), 0, &[10, 11])?;
//! assert_eq!(a.flatten_all()?.to_vec1::<f32>()?, b.flatten_all()?.to_vec1::<f32>()?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

mod augment;
mod color;
mod cutpaste;
mod error;
mod family;
mod goad;
mod image;
mod simclr;
#[cfg(test)]
mod torchvision_parity;

pub use augment::Augment;
pub use color::ColorJitter;
pub use cutpaste::{
    CutPaste, CutPasteConfig, CutPasteScar, CutPasteTask, CutPasteUnion, CutPasteViews, ScarConfig,
};
pub use error::{Error, Result};
pub use family::{expand, CutPerm, Expansion, Geom, RotTrans, Rotations, TransformFamily};
pub use goad::{GoadAffine, GOAD_AFFINE_KEY};
pub use image::ImageShape;
pub use simclr::{RandomResizedCrop, SimClr};
