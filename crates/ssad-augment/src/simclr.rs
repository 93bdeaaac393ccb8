//! The SimCLR view (Chen et al. 2020) and its random resized crop, as torchvision's
//! transforms compute them.

use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};

use crate::augment::{check_colour_channels, check_image, check_probability, check_range, Augment};
use crate::color::{gaussian_blur, to_grayscale, ColorJitter};
use crate::error::{Error, Result};
use crate::image::ImageShape;

/// torchvision's `RandomResizedCrop` back to the input size, bilinear
/// (`align_corners=False`).
///
/// Up to 10 tries draw an area fraction `U[scale]` and a log-uniform aspect ratio
/// in `ratio`; when none fits, the largest central crop within `ratio` is used.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RandomResizedCrop {
    /// Range of the crop's area fraction: SimCLR's `(0.08, 1)`.
    pub scale: (f32, f32),
    /// Range of the crop's aspect ratio: `(3/4, 4/3)`.
    pub ratio: (f32, f32),
}

impl Default for RandomResizedCrop {
    fn default() -> Self {
        Self {
            scale: (0.08, 1.0),
            ratio: (3.0 / 4.0, 4.0 / 3.0),
        }
    }
}

impl RandomResizedCrop {
    /// CSI's test-time crop (`--resize_factor 0.54 --resize_fix`): a fixed area
    /// fraction of 0.54.
    pub fn csi_fixed() -> Self {
        Self {
            scale: (0.54, 0.54),
            ..Self::default()
        }
    }

    /// Errors on empty, unordered or out-of-range intervals.
    pub fn validate(&self) -> Result<()> {
        check_range("scale", self.scale, f32::MIN_POSITIVE, 1.0)?;
        check_range("ratio", self.ratio, f32::MIN_POSITIVE, f32::MAX)
    }

    /// `(top, left, height, width)` of the crop, as torchvision's `get_params`.
    fn sample(&self, h: usize, w: usize, rng: &mut dyn RngCore) -> (usize, usize, usize, usize) {
        let area = (h * w) as f32;
        let (lr0, lr1) = (self.ratio.0.ln(), self.ratio.1.ln());
        for _ in 0..10 {
            let target = area * rng.random_range(self.scale.0..=self.scale.1);
            let aspect = rng.random_range(lr0..=lr1).exp();
            let cw = (target * aspect).sqrt().round() as usize;
            let ch = (target / aspect).sqrt().round() as usize;
            if 0 < cw && cw <= w && 0 < ch && ch <= h {
                let top = rng.random_range(0..=h - ch);
                let left = rng.random_range(0..=w - cw);
                return (top, left, ch, cw);
            }
        }
        let in_ratio = w as f32 / h as f32;
        let (ch, cw) = if in_ratio < self.ratio.0 {
            (((w as f32 / self.ratio.0).round() as usize).clamp(1, h), w)
        } else if in_ratio > self.ratio.1 {
            (h, ((h as f32 * self.ratio.1).round() as usize).clamp(1, w))
        } else {
            (h, w)
        };
        ((h - ch) / 2, (w - cw) / 2, ch, cw)
    }
}

impl Augment for RandomResizedCrop {
    fn check_shape(&self, _shape: ImageShape) -> Result<()> {
        self.validate()
    }

    fn augment_image(
        &self,
        img: &mut [f32],
        shape: ImageShape,
        rng: &mut dyn RngCore,
    ) -> Result<()> {
        check_image(self, img, shape)?;
        let crop = self.sample(shape.height, shape.width, rng);
        resize_crop(img, shape, crop, &mut Vec::new());
        Ok(())
    }
}

/// Resizes the `(top, left, height, width)` crop of `img` to the full image,
/// bilinearly with PyTorch's `align_corners=False` source coordinates.
pub(crate) fn resize_crop(
    img: &mut [f32],
    shape: ImageShape,
    crop: (usize, usize, usize, usize),
    scratch: &mut Vec<f32>,
) {
    let (top, left, ch, cw) = crop;
    let (h, w) = (shape.height, shape.width);
    if (top, left, ch, cw) == (0, 0, h, w) {
        return;
    }
    let axis = |out: usize, inp: usize, start: usize| -> Vec<(usize, usize, f32)> {
        let scale = inp as f32 / out as f32;
        (0..out)
            .map(|o| {
                let src = ((o as f32 + 0.5) * scale - 0.5).max(0.0);
                let i0 = (src as usize).min(inp - 1);
                let i1 = (i0 + 1).min(inp - 1);
                (start + i0, start + i1, src - i0 as f32)
            })
            .collect()
    };
    let rows = axis(h, ch, top);
    let cols = axis(w, cw, left);
    scratch.clear();
    scratch.extend_from_slice(img);
    for (dst, src) in img
        .chunks_exact_mut(shape.plane())
        .zip(scratch.chunks_exact(shape.plane()))
    {
        for (i, &(r0, r1, fy)) in rows.iter().enumerate() {
            let (row0, row1) = (&src[r0 * w..][..w], &src[r1 * w..][..w]);
            let out = &mut dst[i * w..][..w];
            for (o, &(c0, c1, fx)) in out.iter_mut().zip(&cols) {
                let top = row0[c0] + (row0[c1] - row0[c0]) * fx;
                let bottom = row1[c0] + (row1[c1] - row1[c0]) * fx;
                *o = top + (bottom - top) * fy;
            }
        }
    }
}

/// The SimCLR augmentation: random resized crop, horizontal flip, colour jitter,
/// random greyscale, Gaussian blur, in that order. The defaults are SimCLR's.
///
/// Draw order per image: crop, flip, jitter (apply?, order, factors), greyscale,
/// blur (apply?, sigma). CSI applies the same operations with the crop last;
/// only the contrast's mean grey level can differ between the two orders.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimClr {
    /// The crop: scale `(0.08, 1)`, ratio `(3/4, 4/3)`.
    pub crop: RandomResizedCrop,
    /// Probability of a horizontal flip: 0.5.
    pub flip_p: f32,
    /// Jitter strengths: `(0.4, 0.4, 0.4, 0.1)`.
    pub jitter: ColorJitter,
    /// Probability of jittering: 0.8.
    pub jitter_p: f32,
    /// Probability of greyscale: 0.2.
    pub grayscale_p: f32,
    /// Probability of blurring: 0.5 (SimCLR's ImageNet setting; SimCLR skips blur
    /// on CIFAR, so set 0 there).
    pub blur_p: f32,
    /// Range of the blur's sigma in pixels: `(0.1, 2.0)`.
    pub blur_sigma: (f32, f32),
    /// Blur kernel size as a fraction of the image height, made odd: 0.1.
    pub blur_kernel_frac: f32,
}

impl Default for SimClr {
    fn default() -> Self {
        Self {
            crop: RandomResizedCrop::default(),
            flip_p: 0.5,
            jitter: ColorJitter::default(),
            jitter_p: 0.8,
            grayscale_p: 0.2,
            blur_p: 0.5,
            blur_sigma: (0.1, 2.0),
            blur_kernel_frac: 0.1,
        }
    }
}

impl SimClr {
    /// CSI's augmentation for CIFAR-sized images: no blur.
    pub fn csi() -> Self {
        Self {
            blur_p: 0.0,
            ..Self::default()
        }
    }

    /// CSI's test-time ensemble view (`--resize_factor 0.54 --resize_fix`): the
    /// CSI augmentation with the crop's area fixed at 0.54.
    pub fn csi_test_time() -> Self {
        Self {
            crop: RandomResizedCrop::csi_fixed(),
            ..Self::csi()
        }
    }

    /// Errors on out-of-range settings.
    pub fn validate(&self) -> Result<()> {
        self.crop.validate()?;
        self.jitter.validate()?;
        check_probability("flip_p", self.flip_p)?;
        check_probability("jitter_p", self.jitter_p)?;
        check_probability("grayscale_p", self.grayscale_p)?;
        check_probability("blur_p", self.blur_p)?;
        check_range("blur_sigma", self.blur_sigma, f32::MIN_POSITIVE, f32::MAX)?;
        if !(0.0..=1.0).contains(&self.blur_kernel_frac) {
            return Err(Error::InvalidConfig {
                field: "blur_kernel_frac",
                reason: format!("must lie in [0, 1], got {}", self.blur_kernel_frac),
            });
        }
        Ok(())
    }

    /// SimCLR's odd kernel size: `2 * floor(frac * H / 2) + 1`.
    fn kernel(&self, height: usize) -> usize {
        let k = (self.blur_kernel_frac * height as f32) as usize;
        (k / 2) * 2 + 1
    }
}

impl Augment for SimClr {
    fn check_shape(&self, shape: ImageShape) -> Result<()> {
        self.validate()?;
        check_colour_channels(shape)
    }

    fn augment_image(
        &self,
        img: &mut [f32],
        shape: ImageShape,
        rng: &mut dyn RngCore,
    ) -> Result<()> {
        check_image(self, img, shape)?;
        let mut scratch = Vec::new();
        let crop = self.crop.sample(shape.height, shape.width, rng);
        resize_crop(img, shape, crop, &mut scratch);
        if rng.random::<f32>() < self.flip_p {
            for row in img.chunks_exact_mut(shape.width) {
                row.reverse();
            }
        }
        if rng.random::<f32>() < self.jitter_p {
            self.jitter.apply(img, shape, rng);
        }
        if rng.random::<f32>() < self.grayscale_p {
            to_grayscale(img, shape);
        }
        if rng.random::<f32>() < self.blur_p {
            let sigma = rng.random_range(self.blur_sigma.0..=self.blur_sigma.1);
            gaussian_blur(img, shape, self.kernel(shape.height), sigma, &mut scratch);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ssad_core::{Seed, Stream};

    #[test]
    fn bilinear_upsampling_matches_pytorch() {
        // F.interpolate([[1, 2], [3, 4]], size=4, mode="bilinear", align_corners=False)
        let mut img = vec![0.0; 16];
        img[5] = 1.0;
        img[6] = 2.0;
        img[9] = 3.0;
        img[10] = 4.0;
        let shape = ImageShape {
            channels: 1,
            height: 4,
            width: 4,
        };
        resize_crop(&mut img, shape, (1, 1, 2, 2), &mut Vec::new());
        let expected = [
            1.0, 1.25, 1.75, 2.0, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3.0, 3.25, 3.75, 4.0,
        ];
        assert_eq!(img, expected);
    }

    #[test]
    fn csi_fixed_crop_covers_54_percent() {
        let crop = RandomResizedCrop::csi_fixed();
        for index in 0..50 {
            let mut rng = Seed(1).rng(Stream::Augment, 0, index);
            let (top, left, h, w) = crop.sample(64, 64, &mut rng);
            let fraction = (h * w) as f32 / 4096.0;
            assert!((fraction - 0.54).abs() < 0.02, "fraction {fraction}");
            assert!(top + h <= 64 && left + w <= 64);
            let ratio = w as f32 / h as f32;
            assert!((0.70..=1.40).contains(&ratio), "ratio {ratio}");
        }
    }

    #[test]
    fn impossible_crops_fall_back_to_the_centre() {
        // A 1 x 40 strip cannot hold a crop of aspect ratio within [3/4, 4/3]
        // and area >= 0.5: the fallback is a central crop of ratio 4/3.
        let crop = RandomResizedCrop {
            scale: (0.5, 1.0),
            ..RandomResizedCrop::default()
        };
        let mut rng = Seed(0).rng(Stream::Augment, 0, 0);
        assert_eq!(crop.sample(1, 40, &mut rng), (0, 19, 1, 1));
    }

    #[test]
    fn blur_kernel_is_a_tenth_of_the_size_made_odd() {
        let s = SimClr::default();
        assert_eq!(
            (s.kernel(32), s.kernel(28), s.kernel(256), s.kernel(8)),
            (3, 3, 25, 1)
        );
    }
}
