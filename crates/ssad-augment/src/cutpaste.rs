//! CutPaste and CutPaste-Scar (Li et al. 2021), following Runinho/pytorch-cutpaste.

use candle_core::Tensor;
use rand::{Rng, RngCore};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use ssad_core::{Seed, Stream};

use crate::augment::{check_colour_channels, check_image, check_indices, check_range, Augment};
use crate::color::ColorJitter;
use crate::error::{Error, Result};
use crate::image::{with_host, HostBatch, ImageShape};

/// Settings of [`CutPaste`]; the defaults are the paper's.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CutPasteConfig {
    /// Patch area as a fraction of the image area, drawn uniformly: `(0.02, 0.15)`.
    pub area_ratio: (f32, f32),
    /// Smallest aspect ratio `a`; the ratio is log-uniform in `[a, 1/a]`: 0.3.
    pub aspect_ratio: f32,
    /// Jitter of the pasted patch: 0.1 for brightness, contrast, saturation, hue.
    pub jitter: ColorJitter,
}

impl Default for CutPasteConfig {
    fn default() -> Self {
        Self {
            area_ratio: (0.02, 0.15),
            aspect_ratio: 0.3,
            jitter: ColorJitter::cutpaste(),
        }
    }
}

/// Settings of [`CutPasteScar`]; the defaults are the paper's (for 256 px images).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScarConfig {
    /// Scar width in pixels, drawn uniformly: `(2, 16)`.
    pub width: (f32, f32),
    /// Scar height in pixels, drawn uniformly: `(10, 25)`.
    pub height: (f32, f32),
    /// Rotation in degrees, counter-clockwise, drawn uniformly: `(-45, 45)`.
    pub rotation: (f32, f32),
    /// Jitter of the scar: 0.1 for brightness, contrast, saturation, hue.
    pub jitter: ColorJitter,
}

impl Default for ScarConfig {
    fn default() -> Self {
        Self {
            width: (2.0, 16.0),
            height: (10.0, 25.0),
            rotation: (-45.0, 45.0),
            jitter: ColorJitter::cutpaste(),
        }
    }
}

/// Cuts a rectangle from the image, jitters its colours and pastes it back at a
/// random place of the same image.
///
/// Draw order, as in `CutPasteNormal.__call__`: area, aspect ratio, source
/// corner, jitter, destination corner. Corners are uniform over all positions
/// that keep the patch inside the image.
#[derive(Debug, Clone, PartialEq)]
pub struct CutPaste {
    cfg: CutPasteConfig,
}

impl CutPaste {
    /// Validates `cfg`.
    pub fn new(cfg: CutPasteConfig) -> Result<Self> {
        check_range("area_ratio", cfg.area_ratio, f32::MIN_POSITIVE, 1.0)?;
        if !(cfg.aspect_ratio > 0.0 && cfg.aspect_ratio <= 1.0) {
            return Err(Error::InvalidConfig {
                field: "aspect_ratio",
                reason: format!("must lie in (0, 1], got {}", cfg.aspect_ratio),
            });
        }
        cfg.jitter.validate()?;
        Ok(Self { cfg })
    }

    /// The configuration.
    pub fn config(&self) -> &CutPasteConfig {
        &self.cfg
    }

    fn patch_size(&self, area: f32, aspect: f32) -> (usize, usize) {
        let w = (area * aspect).sqrt().round().max(1.0) as usize;
        let h = (area / aspect).sqrt().round().max(1.0) as usize;
        (h, w)
    }
}

impl Augment for CutPaste {
    fn check_shape(&self, shape: ImageShape) -> Result<()> {
        check_colour_channels(shape)?;
        let area = self.cfg.area_ratio.1 * shape.plane() as f32;
        let (_, widest) = self.patch_size(area, 1.0 / self.cfg.aspect_ratio);
        let (tallest, _) = self.patch_size(area, self.cfg.aspect_ratio);
        if widest > shape.width || tallest > shape.height {
            return Err(Error::PatchTooLarge {
                patch_height: tallest,
                patch_width: widest,
                height: shape.height,
                width: shape.width,
            });
        }
        Ok(())
    }

    fn augment_image(
        &self,
        img: &mut [f32],
        shape: ImageShape,
        rng: &mut dyn RngCore,
    ) -> Result<()> {
        check_image(self, img, shape)?;
        let (a0, a1) = self.cfg.area_ratio;
        let area = rng.random_range(a0..=a1) * shape.plane() as f32;
        let log_r = self.cfg.aspect_ratio.ln();
        let aspect = rng.random_range(log_r..=-log_r).exp();
        let (h, w) = self.patch_size(area, aspect);
        let (h, w) = (h.min(shape.height), w.min(shape.width));
        let from = (
            rng.random_range(0..=shape.height - h),
            rng.random_range(0..=shape.width - w),
        );
        let mut patch = Patch::cut(img, shape, from, h, w);
        self.cfg.jitter.apply(&mut patch.data, patch.shape, rng);
        let to = (
            rng.random_range(0..=shape.height - h),
            rng.random_range(0..=shape.width - w),
        );
        patch.paste(img, shape, to, None);
        Ok(())
    }
}

/// Cuts a thin rectangle (a "scar"), jitters it, rotates it and pastes it at a
/// random place, masked by the rotated rectangle's footprint.
///
/// Draw order, as in `CutPasteScar.__call__`: width, height, source corner,
/// jitter, angle, destination corner. The rotation maps pixel centres with
/// nearest-neighbour sampling into a box that holds the whole rotated scar, like
/// PIL's `rotate(angle, expand=True)`.
#[derive(Debug, Clone, PartialEq)]
pub struct CutPasteScar {
    cfg: ScarConfig,
    /// The largest rotated box the configuration can draw, `(height, width)`.
    largest: (usize, usize),
}

impl CutPasteScar {
    /// Validates `cfg`.
    pub fn new(cfg: ScarConfig) -> Result<Self> {
        check_range("width", cfg.width, 1.0, f32::MAX)?;
        check_range("height", cfg.height, 1.0, f32::MAX)?;
        check_range("rotation", cfg.rotation, -360.0, 360.0)?;
        cfg.jitter.validate()?;
        let (w, h) = (cfg.width.1.round(), cfg.height.1.round());
        let steps = 720;
        let mut largest = (0usize, 0usize);
        for s in 0..=steps {
            let deg = cfg.rotation.0 + (cfg.rotation.1 - cfg.rotation.0) * s as f32 / steps as f32;
            let (bh, bw) = rotated_box(h as usize, w as usize, deg);
            largest = (largest.0.max(bh), largest.1.max(bw));
        }
        Ok(Self { cfg, largest })
    }

    /// The configuration.
    pub fn config(&self) -> &ScarConfig {
        &self.cfg
    }
}

/// Size `(height, width)` of the box holding an `h x w` rectangle rotated by `deg`.
fn rotated_box(h: usize, w: usize, deg: f32) -> (usize, usize) {
    let (s, c) = deg.to_radians().sin_cos();
    let (s, c) = (s.abs(), c.abs());
    // The small slack keeps 90-degree multiples from rounding up a whole pixel.
    let bw = (w as f32 * c + h as f32 * s - 1e-3).ceil().max(1.0) as usize;
    let bh = (w as f32 * s + h as f32 * c - 1e-3).ceil().max(1.0) as usize;
    (bh, bw)
}

impl Augment for CutPasteScar {
    fn check_shape(&self, shape: ImageShape) -> Result<()> {
        check_colour_channels(shape)?;
        if self.largest.0 > shape.height || self.largest.1 > shape.width {
            return Err(Error::PatchTooLarge {
                patch_height: self.largest.0,
                patch_width: self.largest.1,
                height: shape.height,
                width: shape.width,
            });
        }
        Ok(())
    }

    fn augment_image(
        &self,
        img: &mut [f32],
        shape: ImageShape,
        rng: &mut dyn RngCore,
    ) -> Result<()> {
        check_image(self, img, shape)?;
        let w = rng
            .random_range(self.cfg.width.0..=self.cfg.width.1)
            .round()
            .max(1.0) as usize;
        let h = rng
            .random_range(self.cfg.height.0..=self.cfg.height.1)
            .round()
            .max(1.0) as usize;
        let (h, w) = (h.min(shape.height), w.min(shape.width));
        let from = (
            rng.random_range(0..=shape.height - h),
            rng.random_range(0..=shape.width - w),
        );
        let mut patch = Patch::cut(img, shape, from, h, w);
        self.cfg.jitter.apply(&mut patch.data, patch.shape, rng);
        let deg = rng.random_range(self.cfg.rotation.0..=self.cfg.rotation.1);
        let (rotated, mask) = patch.rotate(deg);
        let to = (
            rng.random_range(0..=shape.height.saturating_sub(rotated.shape.height)),
            rng.random_range(0..=shape.width.saturating_sub(rotated.shape.width)),
        );
        rotated.paste(img, shape, to, Some(&mask));
        Ok(())
    }
}

/// CutPaste or CutPaste-Scar with equal probability: the paper's binary "union".
#[derive(Debug, Clone, PartialEq)]
pub struct CutPasteUnion {
    cut: CutPaste,
    scar: CutPasteScar,
}

impl CutPasteUnion {
    /// Combines the two augmentations.
    pub fn new(cut: CutPaste, scar: CutPasteScar) -> Self {
        Self { cut, scar }
    }
}

impl Augment for CutPasteUnion {
    fn check_shape(&self, shape: ImageShape) -> Result<()> {
        self.cut.check_shape(shape)?;
        self.scar.check_shape(shape)
    }

    fn augment_image(
        &self,
        img: &mut [f32],
        shape: ImageShape,
        rng: &mut dyn RngCore,
    ) -> Result<()> {
        check_image(self, img, shape)?;
        if rng.random::<f32>() < 0.5 {
            self.cut.augment_image(img, shape, rng)
        } else {
            self.scar.augment_image(img, shape, rng)
        }
    }
}

/// Which self-supervised task [`CutPasteViews`] builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CutPasteTask {
    /// Normal (0) vs CutPaste (1).
    #[default]
    Binary,
    /// Normal (0) vs CutPaste-Scar (1).
    Scar,
    /// Normal (0) vs CutPaste-or-Scar (1), 50/50 per sample.
    Union,
    /// Normal (0) vs CutPaste (1) vs CutPaste-Scar (2).
    ThreeWay,
}

/// Builds the labelled batches of CutPaste training.
#[derive(Debug, Clone, PartialEq)]
pub struct CutPasteViews {
    task: CutPasteTask,
    cut: CutPaste,
    scar: CutPasteScar,
}

impl CutPasteViews {
    /// Validates both configurations.
    pub fn new(task: CutPasteTask, cut: CutPasteConfig, scar: ScarConfig) -> Result<Self> {
        Ok(Self {
            task,
            cut: CutPaste::new(cut)?,
            scar: CutPasteScar::new(scar)?,
        })
    }

    /// Number of views (and classes): 2, or 3 for the 3-way task.
    pub fn n_views(&self) -> usize {
        match self.task {
            CutPasteTask::ThreeWay => 3,
            _ => 2,
        }
    }

    /// From a `(B, C, H, W)` batch in `[0, 1]`, the `(V * B, C, H, W)` views and their
    /// `(V * B,)` u32 labels, view-major: the `B` originals (label 0), then the `B`
    /// images of view 1, and so on, as Runinho's `torch.cat(xs)` with
    /// `arange(V).repeat_interleave(B)`.
    ///
    /// View `v > 0` of sample `indices[i]` draws from
    /// `seed.derive(v).rng(Stream::Augment, epoch, indices[i])`.
    pub fn views(
        &self,
        x: &Tensor,
        seed: Seed,
        epoch: u64,
        indices: &[u64],
    ) -> Result<(Tensor, Tensor)> {
        let n_views = self.n_views();
        let (out, b, shape) = with_host(x, |data, b, shape| {
            check_indices(indices, b)?;
            match self.task {
                CutPasteTask::Binary => self.cut.check_shape(shape)?,
                CutPasteTask::Scar => self.scar.check_shape(shape)?,
                CutPasteTask::Union | CutPasteTask::ThreeWay => {
                    self.cut.check_shape(shape)?;
                    self.scar.check_shape(shape)?;
                }
            }
            let union = CutPasteUnion::new(self.cut.clone(), self.scar.clone());
            let image = shape.len();
            let mut out = vec![0.0f32; n_views * data.len()];
            out.par_chunks_mut(image)
                .enumerate()
                .try_for_each(|(row, dst)| {
                    let (v, i) = (row / b, row % b);
                    dst.copy_from_slice(&data[i * image..(i + 1) * image]);
                    if v == 0 {
                        return Ok(());
                    }
                    let mut rng = seed
                        .derive(v as u64)
                        .rng(Stream::Augment, epoch, indices[i]);
                    let aug: &dyn Augment = match (self.task, v) {
                        (CutPasteTask::Binary, _) | (CutPasteTask::ThreeWay, 1) => &self.cut,
                        (CutPasteTask::Union, _) => &union,
                        _ => &self.scar,
                    };
                    aug.augment_image(dst, shape, &mut rng)
                })?;
            Ok((out, b, shape))
        })?;
        let labels: Vec<u32> = (0..n_views * b).map(|row| (row / b) as u32).collect();
        let device = x.device();
        let rows = n_views * b;
        Ok((
            HostBatch {
                data: out,
                batch: rows,
                shape,
            }
            .into_tensor(device)?,
            Tensor::from_vec(labels, rows, device)?,
        ))
    }
}

/// A small `(C, h, w)` image cut out of a bigger one.
struct Patch {
    data: Vec<f32>,
    shape: ImageShape,
}

impl Patch {
    fn cut(
        img: &[f32],
        shape: ImageShape,
        (top, left): (usize, usize),
        h: usize,
        w: usize,
    ) -> Self {
        let mut data = Vec::with_capacity(shape.channels * h * w);
        for channel in img.chunks_exact(shape.plane()) {
            for i in top..top + h {
                let start = i * shape.width + left;
                data.extend_from_slice(&channel[start..start + w]);
            }
        }
        Self {
            data,
            shape: ImageShape {
                channels: shape.channels,
                height: h,
                width: w,
            },
        }
    }

    /// Writes the patch at `(top, left)`, where `mask` (one value per pixel) allows.
    fn paste(
        &self,
        img: &mut [f32],
        shape: ImageShape,
        (top, left): (usize, usize),
        mask: Option<&[bool]>,
    ) {
        let (h, w) = (
            self.shape.height.min(shape.height - top),
            self.shape.width.min(shape.width - left),
        );
        for (dst, src) in img
            .chunks_exact_mut(shape.plane())
            .zip(self.data.chunks_exact(self.shape.plane()))
        {
            for i in 0..h {
                let d = &mut dst[(top + i) * shape.width + left..][..w];
                let s = &src[i * self.shape.width..][..w];
                match mask {
                    None => d.copy_from_slice(s),
                    Some(m) => {
                        let m = &m[i * self.shape.width..][..w];
                        for ((d, s), &keep) in d.iter_mut().zip(s).zip(m) {
                            if keep {
                                *d = *s;
                            }
                        }
                    }
                }
            }
        }
    }

    /// The patch rotated counter-clockwise by `deg` into its bounding box, with the
    /// footprint mask.
    fn rotate(&self, deg: f32) -> (Patch, Vec<bool>) {
        let (h, w) = (self.shape.height, self.shape.width);
        let (bh, bw) = rotated_box(h, w, deg);
        let (s, c) = deg.to_radians().sin_cos();
        let mut map = Vec::with_capacity(bh * bw);
        for oy in 0..bh {
            for ox in 0..bw {
                let px = ox as f32 + 0.5 - bw as f32 / 2.0;
                let py = oy as f32 + 0.5 - bh as f32 / 2.0;
                // Inverse of a counter-clockwise turn in y-down image coordinates.
                let sx = c * px - s * py + w as f32 / 2.0;
                let sy = s * px + c * py + h as f32 / 2.0;
                let inside = sx >= 0.0 && sy >= 0.0 && sx < w as f32 && sy < h as f32;
                map.push(inside.then(|| sy as usize * w + sx as usize));
            }
        }
        let mut data = Vec::with_capacity(self.shape.channels * bh * bw);
        for src in self.data.chunks_exact(self.shape.plane()) {
            data.extend(map.iter().map(|m| m.map_or(0.0, |p| src[p])));
        }
        let mask = map.iter().map(Option::is_some).collect();
        (
            Patch {
                data,
                shape: ImageShape {
                    channels: self.shape.channels,
                    height: bh,
                    width: bw,
                },
            },
            mask,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_by_zero_keeps_the_patch() {
        let p = Patch {
            data: (0..12).map(|v| v as f32).collect(),
            shape: ImageShape {
                channels: 1,
                height: 3,
                width: 4,
            },
        };
        let (r, mask) = p.rotate(0.0);
        assert_eq!(r.shape, p.shape);
        assert_eq!(r.data, p.data);
        assert!(mask.iter().all(|&m| m));
        let (r, _) = p.rotate(90.0);
        assert_eq!((r.shape.height, r.shape.width), (4, 3));
        // A counter-clockwise quarter turn puts the top-right corner at the top left.
        assert_eq!(r.data[0], 3.0);
    }

    #[test]
    fn default_scar_needs_a_30_by_29_box() {
        let s = CutPasteScar::new(ScarConfig::default()).unwrap();
        // Height peaks at atan(16/25) = 32.6 degrees: sqrt(16^2 + 25^2) = 29.7 px.
        assert_eq!(s.largest, (30, 29));
    }
}
