//! Colour operations on one `(C, H, W)` image in `[0, 1]`, following the tensor
//! path of torchvision's `transforms.functional` (`adjust_*`, `rgb_to_grayscale`,
//! `gaussian_blur`).

use rand::seq::SliceRandom;
use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::image::ImageShape;

/// ITU-R 601 luma weights, as torchvision's `rgb_to_grayscale`.
const LUMA: [f32; 3] = [0.2989, 0.587, 0.114];

/// Strengths of torchvision's `ColorJitter(brightness, contrast, saturation, hue)`.
///
/// Factors are drawn as `U[max(0, 1 - s), 1 + s]` (hue: `U[-h, h]`), and the four
/// adjustments run in a random order, as torchvision does.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ColorJitter {
    /// Brightness strength.
    pub brightness: f32,
    /// Contrast strength.
    pub contrast: f32,
    /// Saturation strength (no effect on one-channel images).
    pub saturation: f32,
    /// Hue strength, at most 0.5 (no effect on one-channel images).
    pub hue: f32,
}

impl Default for ColorJitter {
    /// SimCLR's strength-1 jitter `(0.4, 0.4, 0.4, 0.1)`, also CSI's.
    fn default() -> Self {
        Self::uniform_with_hue(0.4, 0.1)
    }
}

impl ColorJitter {
    /// CutPaste's jitter: 0.1 for all four.
    pub fn cutpaste() -> Self {
        Self::uniform_with_hue(0.1, 0.1)
    }

    fn uniform_with_hue(s: f32, hue: f32) -> Self {
        Self {
            brightness: s,
            contrast: s,
            saturation: s,
            hue,
        }
    }

    /// Errors on negative strengths or a hue strength above 0.5.
    pub fn validate(&self) -> Result<()> {
        for (field, v) in [
            ("brightness", self.brightness),
            ("contrast", self.contrast),
            ("saturation", self.saturation),
            ("hue", self.hue),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::InvalidConfig {
                    field,
                    reason: format!("must be a finite non-negative number, got {v}"),
                });
            }
        }
        if self.hue > 0.5 {
            return Err(Error::InvalidConfig {
                field: "hue",
                reason: format!("must be at most 0.5, got {}", self.hue),
            });
        }
        Ok(())
    }

    /// Jitters one image in place; all draws come from `rng`.
    pub(crate) fn apply(&self, img: &mut [f32], shape: ImageShape, rng: &mut dyn RngCore) {
        let mut order = [0u8, 1, 2, 3];
        order.shuffle(rng);
        let factor = |rng: &mut dyn RngCore, s: f32| {
            let lo = (1.0 - s).max(0.0);
            if s > 0.0 {
                rng.random_range(lo..=1.0 + s)
            } else {
                1.0
            }
        };
        let b = factor(rng, self.brightness);
        let c = factor(rng, self.contrast);
        let s = factor(rng, self.saturation);
        let h = if self.hue > 0.0 {
            rng.random_range(-self.hue..=self.hue)
        } else {
            0.0
        };
        for op in order {
            match op {
                0 if self.brightness > 0.0 => adjust_brightness(img, b),
                1 if self.contrast > 0.0 => adjust_contrast(img, shape, c),
                2 if self.saturation > 0.0 => adjust_saturation(img, shape, s),
                3 if self.hue > 0.0 => adjust_hue(img, shape, h),
                _ => {}
            }
        }
    }
}

/// `clamp(x * f, 0, 1)`.
pub(crate) fn adjust_brightness(img: &mut [f32], f: f32) {
    for v in img {
        *v = (*v * f).clamp(0.0, 1.0);
    }
}

/// Blends with the mean grey level of the whole image.
pub(crate) fn adjust_contrast(img: &mut [f32], shape: ImageShape, f: f32) {
    let plane = shape.plane();
    let mean = if shape.channels == 3 {
        let (r, rest) = img.split_at(plane);
        let (g, b) = rest.split_at(plane);
        let sum: f64 = r
            .iter()
            .zip(g)
            .zip(b)
            .map(|((r, g), b)| f64::from(LUMA[0] * r + LUMA[1] * g + LUMA[2] * b))
            .sum();
        (sum / plane as f64) as f32
    } else {
        (img.iter().map(|&v| f64::from(v)).sum::<f64>() / img.len() as f64) as f32
    };
    let offset = (1.0 - f) * mean;
    for v in img {
        *v = (f * *v + offset).clamp(0.0, 1.0);
    }
}

/// Blends each pixel with its grey level; a no-op unless the image is RGB.
pub(crate) fn adjust_saturation(img: &mut [f32], shape: ImageShape, f: f32) {
    if shape.channels != 3 {
        return;
    }
    let plane = shape.plane();
    let (r, rest) = img.split_at_mut(plane);
    let (g, b) = rest.split_at_mut(plane);
    for ((r, g), b) in r.iter_mut().zip(g.iter_mut()).zip(b.iter_mut()) {
        let grey = (1.0 - f) * (LUMA[0] * *r + LUMA[1] * *g + LUMA[2] * *b);
        *r = (f * *r + grey).clamp(0.0, 1.0);
        *g = (f * *g + grey).clamp(0.0, 1.0);
        *b = (f * *b + grey).clamp(0.0, 1.0);
    }
}

/// Rotates the hue by `shift` turns in HSV space; a no-op unless the image is RGB.
pub(crate) fn adjust_hue(img: &mut [f32], shape: ImageShape, shift: f32) {
    if shape.channels != 3 {
        return;
    }
    let plane = shape.plane();
    let (r, rest) = img.split_at_mut(plane);
    let (g, b) = rest.split_at_mut(plane);
    for ((r, g), b) in r.iter_mut().zip(g.iter_mut()).zip(b.iter_mut()) {
        let (h, s, v) = rgb_to_hsv(*r, *g, *b);
        let h = (h + shift).rem_euclid(1.0);
        (*r, *g, *b) = hsv_to_rgb(h, s, v);
    }
}

/// torchvision's `_rgb2hsv` for one pixel; hue in `[0, 1)`.
pub(crate) fn rgb_to_hsv(r: f32, g: f32, b: f32) -> (f32, f32, f32) {
    let maxc = r.max(g).max(b);
    let minc = r.min(g).min(b);
    let equal = maxc == minc;
    let cr = maxc - minc;
    let s = cr / if equal { 1.0 } else { maxc };
    let div = if equal { 1.0 } else { cr };
    let rc = (maxc - r) / div;
    let gc = (maxc - g) / div;
    let bc = (maxc - b) / div;
    let h = if maxc == r {
        bc - gc
    } else if maxc == g {
        2.0 + rc - bc
    } else {
        4.0 + gc - rc
    };
    let h = (h / 6.0 + 1.0) % 1.0;
    (h, s, maxc)
}

/// torchvision's `_hsv2rgb` for one pixel.
pub(crate) fn hsv_to_rgb(h: f32, s: f32, v: f32) -> (f32, f32, f32) {
    let i = (h * 6.0).floor();
    let f = h * 6.0 - i;
    let i = (i as i32).rem_euclid(6);
    let p = (v * (1.0 - s)).clamp(0.0, 1.0);
    let q = (v * (1.0 - s * f)).clamp(0.0, 1.0);
    let t = (v * (1.0 - s * (1.0 - f))).clamp(0.0, 1.0);
    match i {
        0 => (v, t, p),
        1 => (q, v, p),
        2 => (p, v, t),
        3 => (p, q, v),
        4 => (t, p, v),
        _ => (v, p, q),
    }
}

/// Replaces every channel by the grey level; a no-op unless the image is RGB.
pub(crate) fn to_grayscale(img: &mut [f32], shape: ImageShape) {
    if shape.channels != 3 {
        return;
    }
    let plane = shape.plane();
    let (r, rest) = img.split_at_mut(plane);
    let (g, b) = rest.split_at_mut(plane);
    for ((r, g), b) in r.iter_mut().zip(g.iter_mut()).zip(b.iter_mut()) {
        let grey = LUMA[0] * *r + LUMA[1] * *g + LUMA[2] * *b;
        (*r, *g, *b) = (grey, grey, grey);
    }
}

/// Separable Gaussian blur with an odd `kernel` size and reflect-101 borders
/// (torchvision pads with `reflect`).
pub(crate) fn gaussian_blur(
    img: &mut [f32],
    shape: ImageShape,
    kernel: usize,
    sigma: f32,
    scratch: &mut Vec<f32>,
) {
    if kernel < 2 {
        return;
    }
    let half = (kernel / 2) as isize;
    let mut weights: Vec<f32> = (-half..=half)
        .map(|x| (-0.5 * (x as f32 / sigma).powi(2)).exp())
        .collect();
    let total: f32 = weights.iter().sum();
    weights.iter_mut().for_each(|w| *w /= total);
    let (h, w) = (shape.height, shape.width);
    let fold = |i: isize, n: usize| -> usize {
        if n == 1 {
            return 0;
        }
        let n = n as isize;
        let m = i.rem_euclid(2 * n - 2);
        (if m < n { m } else { 2 * n - 2 - m }) as usize
    };
    scratch.clear();
    scratch.resize(shape.plane(), 0.0);
    for channel in img.chunks_exact_mut(shape.plane()) {
        // Rows first into the scratch plane, then columns back into the image.
        for i in 0..h {
            let row = &channel[i * w..(i + 1) * w];
            for j in 0..w {
                let mut acc = 0.0;
                for (t, wt) in weights.iter().enumerate() {
                    acc += wt * row[fold(j as isize + t as isize - half, w)];
                }
                scratch[i * w + j] = acc;
            }
        }
        for i in 0..h {
            for j in 0..w {
                let mut acc = 0.0;
                for (t, wt) in weights.iter().enumerate() {
                    acc += wt * scratch[fold(i as isize + t as isize - half, h) * w + j];
                }
                channel[i * w + j] = acc;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hsv_round_trips() {
        for &(r, g, b) in &[
            (0.2, 0.5, 0.9),
            (1.0, 0.0, 0.0),
            (0.3, 0.3, 0.3),
            (0.9, 0.8, 0.1),
        ] {
            let (h, s, v) = rgb_to_hsv(r, g, b);
            let (r2, g2, b2) = hsv_to_rgb(h, s, v);
            assert!((r - r2).abs() < 1e-6 && (g - g2).abs() < 1e-6 && (b - b2).abs() < 1e-6);
        }
    }

    #[test]
    fn blur_keeps_a_constant_image() {
        let shape = ImageShape {
            channels: 1,
            height: 5,
            width: 7,
        };
        let mut img = vec![0.25; 35];
        gaussian_blur(&mut img, shape, 3, 1.0, &mut Vec::new());
        assert!(img.iter().all(|v| (v - 0.25).abs() < 1e-6));
    }

    #[test]
    fn hue_shift_matches_colorsys() {
        let f: serde_json::Value =
            serde_json::from_str(include_str!("../tests/fixtures/fixtures.json")).unwrap();
        let case = &f["hue_3x2x5"];
        let floats = |v: &serde_json::Value| -> Vec<f32> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect()
        };
        let image = floats(&case["image"]);
        let shape = ImageShape {
            channels: 3,
            height: 2,
            width: 5,
        };
        for c in case["cases"].as_array().unwrap() {
            let mut img = image.clone();
            adjust_hue(&mut img, shape, c["shift"].as_f64().unwrap() as f32);
            for (a, b) in img.iter().zip(floats(&c["out"])) {
                assert!((a - b).abs() < 1e-5, "shift {}: {a} vs {b}", c["shift"]);
            }
        }
    }

    #[test]
    fn saturation_zero_is_grayscale_and_contrast_zero_is_the_mean() {
        let shape = ImageShape {
            channels: 3,
            height: 1,
            width: 2,
        };
        let img = vec![0.2, 0.8, 0.4, 0.6, 0.9, 0.1];
        let mut sat = img.clone();
        adjust_saturation(&mut sat, shape, 0.0);
        let mut grey = img.clone();
        to_grayscale(&mut grey, shape);
        for (a, b) in sat.iter().zip(&grey) {
            assert!((a - b).abs() < 1e-6);
        }
        let mut flat = img.clone();
        adjust_contrast(&mut flat, shape, 0.0);
        let mean = (grey[0] + grey[1]) / 2.0;
        assert!(flat.iter().all(|v| (v - mean).abs() < 1e-6));
    }
}
