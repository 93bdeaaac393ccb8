//! `ssad score --heatmaps DIR`: one PNG per image, the image beside the same
//! image under a colour map of its pixel anomaly scores.
//!
//! Colours use the detector's scale fitted on training images (low/high
//! percentiles of held-out training pixel scores), never the image's own
//! range, so that a normal image stays blue and colours compare across images.

use std::path::Path;

use anyhow::{bail, Context, Result};
use ssad_methods::AnomalyMaps;

/// Weight of the colour map over the image.
const ALPHA: f32 = 0.5;
/// Pixels between the two panels.
const GAP: usize = 4;

/// The "jet" colour map at `t` in `[0, 1]`: blue, cyan, yellow, red.
pub fn jet(t: f32) -> [f32; 3] {
    let t = t.clamp(0.0, 1.0);
    let ramp = |x: f32| (1.5 - (4.0 * t - x).abs()).clamp(0.0, 1.0);
    [ramp(3.0), ramp(2.0), ramp(1.0)]
}

/// Writes `<dir>/<name>.png` for each image: the image, a gap, the overlay.
///
/// `images` is `(N, C, H, W)` in `[0, 1]` with 1 or 3 channels; `names` has one
/// file stem per image.
pub fn write(
    dir: &Path,
    images: &[f32],
    shape: [usize; 4],
    names: &[String],
    maps: &AnomalyMaps,
) -> Result<()> {
    let [n, c, h, w] = shape;
    if maps.shape != [n, h, w] || names.len() != n {
        bail!(
            "{} pixel maps of {}x{} for {n} images of {h}x{w}",
            maps.shape[0],
            maps.shape[1],
            maps.shape[2]
        );
    }
    if c != 1 && c != 3 {
        bail!("heatmaps need 1- or 3-channel images, these have {c}");
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let (lo, hi) = maps.scale;
    let span = if hi > lo { hi - lo } else { 1.0 };
    let width = 2 * w + GAP;
    for (i, name) in names.iter().enumerate() {
        let image = &images[i * c * h * w..(i + 1) * c * h * w];
        let map = &maps.maps[i * h * w..(i + 1) * h * w];
        let mut pixels = vec![255u8; width * h * 3];
        for y in 0..h {
            for x in 0..w {
                let p = y * w + x;
                let rgb: [f32; 3] = std::array::from_fn(|k| image[(k % c) * h * w + p]);
                let colour = jet((map[p] - lo) / span);
                for k in 0..3 {
                    let left = (y * width + x) * 3 + k;
                    let right = (y * width + w + GAP + x) * 3 + k;
                    pixels[left] = to_u8(rgb[k]);
                    pixels[right] = to_u8((1.0 - ALPHA) * rgb[k] + ALPHA * colour[k]);
                }
            }
        }
        let path = dir.join(format!("{name}.png"));
        image::save_buffer(
            &path,
            &pixels,
            width as u32,
            h as u32,
            image::ExtendedColorType::Rgb8,
        )
        .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

fn to_u8(v: f32) -> u8 {
    (v.clamp(0.0, 1.0) * 255.0).round() as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jet_runs_blue_to_red() {
        assert_eq!(jet(0.0), [0.0, 0.0, 0.5]);
        assert_eq!(jet(0.5), [0.5, 1.0, 0.5]);
        assert_eq!(jet(1.0), [0.5, 0.0, 0.0]);
        assert_eq!(jet(-3.0), jet(0.0));
    }

    #[test]
    fn overlays_use_the_fitted_scale_not_the_image_range() {
        let dir = tempfile::tempdir().unwrap();
        // Two gray 1x2x3 images; the second map is ten times the first.
        let images = vec![0.5f32; 2 * 6];
        let maps = AnomalyMaps {
            maps: vec![0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0],
            shape: [2, 2, 3],
            scale: (0.0, 5.0),
        };
        let names = vec!["a".to_string(), "b".to_string()];
        write(dir.path(), &images, [2, 1, 2, 3], &names, &maps).unwrap();
        let a = image::open(dir.path().join("a.png")).unwrap().to_rgb8();
        let b = image::open(dir.path().join("b.png")).unwrap().to_rgb8();
        assert_eq!(a.dimensions(), (2 * 3 + GAP as u32, 2));
        // Left panel: the image itself.
        assert_eq!(a.get_pixel(0, 0).0, [128, 128, 128]);
        // Right panel, last pixel: 0.5 stays blue-ish in `a`, 5.0 is the top of the scale in `b`.
        let (x, y) = (2 * 3 + GAP as u32 - 1, 1);
        let blend = |c: [f32; 3]| c.map(|v| to_u8(0.5 * 0.5 + 0.5 * v));
        assert_eq!(a.get_pixel(x, y).0, blend(jet(0.1)));
        assert_eq!(b.get_pixel(x, y).0, blend(jet(1.0)));
        // A map that does not match the images is an error, not a panic.
        let bad = AnomalyMaps {
            shape: [1, 2, 3],
            ..maps
        };
        assert!(write(dir.path(), &images, [2, 1, 2, 3], &names, &bad).is_err());
    }
}
