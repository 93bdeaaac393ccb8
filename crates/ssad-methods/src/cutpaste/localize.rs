//! Dense windows, window scores to pixels, Gaussian smoothing, the heatmap
//! scale: the host-side half of CutPaste's localization.

use rand::seq::SliceRandom;
use rayon::prelude::*;
use ssad_core::{MatrixView, Seed, Stream};
use ssad_scorers::{FittedScorer, GdeConfig, Scorer};

use super::config::LocalizationConfig;
use crate::error::Result;

/// Number of window positions along a side of length `len`: `(len - p) / s + 1`.
pub(crate) fn positions(len: usize, patch: usize, stride: usize) -> usize {
    (len - patch) / stride + 1
}

/// Every `patch × patch` window of each `(C, H, W)` image held contiguously in
/// `images` at `stride`, image by image and row-major over positions within an
/// image, as `(n * gh * gw, C, patch, patch)`.
pub(crate) fn windows(images: &[f32], chw: [usize; 3], patch: usize, stride: usize) -> Vec<f32> {
    let [c, h, w] = chw;
    let (gh, gw) = (positions(h, patch, stride), positions(w, patch, stride));
    let n = images.len() / (c * h * w);
    let mut out = vec![0.0f32; n * gh * gw * c * patch * patch];
    out.par_chunks_mut(c * patch * patch)
        .enumerate()
        .for_each(|(k, dst)| {
            let (image, k) = (k / (gh * gw), k % (gh * gw));
            let image = &images[image * c * h * w..][..c * h * w];
            let (top, left) = ((k / gw) * stride, (k % gw) * stride);
            for (ch, plane) in image.chunks_exact(h * w).enumerate() {
                for i in 0..patch {
                    dst[(ch * patch + i) * patch..][..patch]
                        .copy_from_slice(&plane[(top + i) * w + left..][..patch]);
                }
            }
        });
    out
}

/// The windows (grid rows or columns) covering pixel `y`: `i` with
/// `i * s <= y < i * s + p`, clamped to the grid so that border pixels no
/// window reaches take the nearest windows' scores.
fn covering(y: usize, patch: usize, stride: usize, grid: usize) -> (usize, usize) {
    let lo = (y + 1).saturating_sub(patch).div_ceil(stride);
    let hi = y / stride;
    (lo.min(grid - 1), hi.min(grid - 1))
}

/// Pixel scores `(H, W)` from window scores `(gh, gw)`: each pixel gets the mean
/// score of the windows that contain it (the receptive-field upsampling of the
/// paper), from a summed-area table.
pub(crate) fn upsample(
    scores: &[f64],
    (gh, gw): (usize, usize),
    (h, w): (usize, usize),
    patch: usize,
    stride: usize,
) -> Vec<f64> {
    // sat[(i + 1) * (gw + 1) + j + 1] = sum of scores[..=i][..=j].
    let mut sat = vec![0.0f64; (gh + 1) * (gw + 1)];
    for i in 0..gh {
        for j in 0..gw {
            sat[(i + 1) * (gw + 1) + j + 1] =
                scores[i * gw + j] + sat[i * (gw + 1) + j + 1] + sat[(i + 1) * (gw + 1) + j]
                    - sat[i * (gw + 1) + j];
        }
    }
    let rows: Vec<(usize, usize)> = (0..h).map(|y| covering(y, patch, stride, gh)).collect();
    let cols: Vec<(usize, usize)> = (0..w).map(|x| covering(x, patch, stride, gw)).collect();
    let mut out = vec![0.0f64; h * w];
    out.par_chunks_mut(w)
        .zip(&rows)
        .for_each(|(row, &(i0, i1))| {
            for (v, &(j0, j1)) in row.iter_mut().zip(&cols) {
                let sum = sat[(i1 + 1) * (gw + 1) + j1 + 1]
                    - sat[i0 * (gw + 1) + j1 + 1]
                    - sat[(i1 + 1) * (gw + 1) + j0]
                    + sat[i0 * (gw + 1) + j0];
                *v = sum / ((i1 - i0 + 1) * (j1 - j0 + 1)) as f64;
            }
        });
    out
}

/// The normalised 1-d Gaussian of `sigma`, truncated at `4 sigma` (scipy's
/// `gaussian_filter` default `truncate = 4.0`).
fn kernel(sigma: f64) -> Vec<f64> {
    let radius = (4.0 * sigma + 0.5) as usize;
    let k: Vec<f64> = (0..=2 * radius)
        .map(|i| {
            let x = i as f64 - radius as f64;
            (-0.5 * x * x / (sigma * sigma)).exp()
        })
        .collect();
    let total: f64 = k.iter().sum();
    k.into_iter().map(|v| v / total).collect()
}

/// scipy's `mode='reflect'` index (`d c b a | a b c d | d c b a`).
fn reflect(i: isize, n: usize) -> usize {
    let n = n as isize;
    let period = 2 * n;
    let m = i.rem_euclid(period);
    (if m < n { m } else { period - 1 - m }) as usize
}

/// `scipy.ndimage.gaussian_filter(map, sigma)` of one `(H, W)` map, in place.
pub(crate) fn gaussian_smooth(map: &mut [f64], (h, w): (usize, usize), sigma: f64) {
    if sigma == 0.0 {
        return;
    }
    let k = kernel(sigma);
    let r = (k.len() / 2) as isize;
    // Rows first (axis 0 in scipy runs first, but the separable result is the same).
    let mut tmp = vec![0.0f64; h * w];
    tmp.par_chunks_mut(w)
        .zip(map.par_chunks(w))
        .for_each(|(dst, src)| {
            for (x, d) in dst.iter_mut().enumerate() {
                *d = k
                    .iter()
                    .enumerate()
                    .map(|(t, kv)| kv * src[reflect(x as isize + t as isize - r, w)])
                    .sum();
            }
        });
    map.par_chunks_mut(w).enumerate().for_each(|(y, dst)| {
        for (x, d) in dst.iter_mut().enumerate() {
            *d = k
                .iter()
                .enumerate()
                .map(|(t, kv)| kv * tmp[reflect(y as isize + t as isize - r, h) * w + x])
                .sum();
        }
    });
}

/// Smoothed pixel maps `(n, H, W)`, flattened, of `n` images from their window
/// scores `(n, gh * gw)` at `stride`.
pub(crate) fn pixel_maps(
    scores: &[f64],
    (gh, gw): (usize, usize),
    (h, w): (usize, usize),
    stride: usize,
    loc: &LocalizationConfig,
) -> Vec<f64> {
    let mut out = Vec::with_capacity(scores.len() / (gh * gw) * h * w);
    for image in scores.chunks_exact(gh * gw) {
        let mut map = upsample(image, (gh, gw), (h, w), loc.patch_size, stride);
        gaussian_smooth(&mut map, (h, w), loc.sigma);
        out.extend(map);
    }
    out
}

/// A seeded order of `n` training images: its first `n / 2` images are the
/// first fold of [`held_out_scale`], the rest the second.
pub(crate) fn fold_order(n: usize, seed: Seed) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut seed.rng(Stream::Subsample, 0, 0));
    order
}

/// `n` images' window features, image by image: `per` rows each.
pub(crate) struct ImageWindows<'a> {
    /// `(n * per, D)` features.
    pub feats: MatrixView<'a>,
    /// Windows per image.
    pub per: usize,
}

impl<'a> ImageWindows<'a> {
    /// The rows of the first `n / 2` images and those of the rest.
    fn halves(&self) -> Result<[MatrixView<'a>; 2]> {
        let d = self.feats.cols();
        let rows = self.feats.rows() / self.per / 2 * self.per;
        let (first, second) = self.feats.as_slice().split_at(rows * d);
        Ok([
            MatrixView::new(first, rows, d)?,
            MatrixView::new(second, self.feats.rows() - rows, d)?,
        ])
    }
}

/// The heatmap colour scale `(low, high)`: the configured percentiles of
/// held-out pixel scores, by 2-fold cross-fitting over the training images.
///
/// `fit` holds the training images' windows at `loc.fit_stride` (what the
/// window GDE is fitted on), `score` the same images' windows at `loc.stride`
/// on a `grid` (what a test image's map is made of; the same windows when the
/// strides agree), both in [`fold_order`]: a GDE fitted on one half of the
/// images' `fit` windows scores the other half's `score` windows, and the
/// other way round; the pooled pixel maps give the percentiles. The scale must
/// not come from the GDE's own training windows: their in-sample distances are
/// smaller than any unseen normal image's, so every test map would saturate
/// the colour scale.
pub(crate) fn held_out_scale(
    gde: &GdeConfig,
    fit: ImageWindows<'_>,
    score: ImageWindows<'_>,
    grid: (usize, usize),
    hw: (usize, usize),
    loc: &LocalizationConfig,
) -> Result<(f64, f64)> {
    let [fit_a, fit_b] = fit.halves()?;
    let [score_a, score_b] = score.halves()?;
    let mut pixels = Vec::with_capacity(score.feats.rows() / score.per * hw.0 * hw.1);
    for (train, held_out) in [(fit_b, score_a), (fit_a, score_b)] {
        let scores = gde.fit(train)?.score(held_out)?;
        pixels.extend(pixel_maps(&scores, grid, hw, loc.stride, loc));
    }
    let (lo, hi) = loc.heatmap_percentiles;
    Ok((percentile(&mut pixels, lo), percentile(&mut pixels, hi)))
}

/// numpy's default (linear) percentile `q` in `[0, 100]` of non-empty `values`.
pub(crate) fn percentile(values: &mut [f64], q: f64) -> f64 {
    values.sort_unstable_by(f64::total_cmp);
    let pos = q / 100.0 * (values.len() - 1) as f64;
    let (i, frac) = (pos.floor() as usize, pos - pos.floor());
    let j = (i + 1).min(values.len() - 1);
    values[i] + frac * (values[j] - values[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cut_the_right_pixels() {
        // One 2-channel 5x6 image whose value is 100 c + 10 y + x.
        let img: Vec<f32> = (0..2 * 5 * 6)
            .map(|i| (100 * (i / 30) + 10 * ((i % 30) / 6) + i % 6) as f32)
            .collect();
        let w = windows(&img, [2, 5, 6], 3, 2);
        assert_eq!((positions(5, 3, 2), positions(6, 3, 2)), (2, 2));
        assert_eq!(w.len(), 4 * 2 * 9);
        // Window (1, 1) starts at (2, 2); its channel 1 row 2 is (4, 2..5).
        let win = &w[3 * 18..4 * 18];
        assert_eq!(&win[9 + 6..9 + 9], &[142.0, 143.0, 144.0]);
        // Two images at once: the second image's windows follow the first's.
        let two: Vec<f32> = img.iter().chain(&img).map(|v| v + 1.0).collect();
        let both = windows(&two, [2, 5, 6], 3, 2);
        assert_eq!(both.len(), 2 * w.len());
        assert_eq!(&both[w.len() + 3 * 18 + 15..][..3], &[143.0, 144.0, 145.0]);
    }

    #[test]
    fn upsampling_averages_the_covering_windows() {
        // Image 6 wide, windows of 4 at stride 2: positions 0 and 2 per axis.
        let scores = [1.0, 2.0, 3.0, 4.0];
        let map = upsample(&scores, (2, 2), (6, 6), 4, 2);
        // Pixel (0, 0): window (0, 0) only. Pixel (3, 3): all four. Pixel (5, 5): (1, 1).
        assert_eq!(map[0], 1.0);
        assert_eq!(map[3 * 6 + 3], 2.5);
        assert_eq!(map[5 * 6 + 5], 4.0);
        // Pixel (0, 3): windows (0, 0) and (0, 1).
        assert_eq!(map[3], 1.5);
        // A constant grid gives a constant map, wherever pixels are.
        let flat = upsample(&[7.0; 6], (2, 3), (9, 11), 4, 3);
        assert!(flat.iter().all(|&v| (v - 7.0).abs() < 1e-12));
    }

    fn fixture() -> serde_json::Value {
        serde_json::from_str(include_str!("../../tests/fixtures/cutpaste_localize.json")).unwrap()
    }

    fn floats(v: &serde_json::Value) -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    }

    fn dims(v: &serde_json::Value) -> (usize, usize) {
        (
            v[0].as_u64().unwrap() as usize,
            v[1].as_u64().unwrap() as usize,
        )
    }

    #[test]
    fn gaussian_matches_scipy() {
        let fx = fixture();
        for case in ["smooth", "smooth_impulse"] {
            let c = &fx[case];
            let mut map = floats(&c["input"]);
            gaussian_smooth(&mut map, dims(&c["shape"]), c["sigma"].as_f64().unwrap());
            for (g, w) in map.iter().zip(floats(&c["output"])) {
                assert!((g - w).abs() < 1e-12, "{case}: {g} vs {w}");
            }
        }
        // Smoothing keeps a constant map.
        let mut flat = vec![3.0; 7 * 9];
        gaussian_smooth(&mut flat, (7, 9), 4.0);
        assert!(flat.iter().all(|&v| (v - 3.0).abs() < 1e-12));
    }

    #[test]
    fn upsampling_matches_brute_force() {
        let c = &fixture()["upsample"];
        let map = upsample(
            &floats(&c["scores"]),
            dims(&c["grid"]),
            dims(&c["image"]),
            c["patch"].as_u64().unwrap() as usize,
            c["stride"].as_u64().unwrap() as usize,
        );
        for (g, w) in map.iter().zip(floats(&c["output"])) {
            assert!((g - w).abs() < 1e-12, "{g} vs {w}");
        }
    }

    /// `n` images' window features: `per` rows of `d` uniform values each, of
    /// decaying spread along the columns (as network features: a few strong
    /// directions, many weak ones).
    fn features(n: usize, per: usize, d: usize, seed: u64) -> Vec<f32> {
        use rand::Rng;
        let mut rng = Seed(seed).rng(Stream::Other(8), 0, 0);
        (0..n * per * d)
            .map(|i| rng.random_range(-1.0f32..1.0) / (1 + i % d) as f32)
            .collect()
    }

    /// The fraction of `values` inside `[lo, hi]`, and the fraction above `hi`.
    fn coverage(values: &[f64], (lo, hi): (f64, f64)) -> (f64, f64) {
        let n = values.len() as f64;
        let inside = values.iter().filter(|&&v| lo <= v && v <= hi).count() as f64;
        let above = values.iter().filter(|&&v| v > hi).count() as f64;
        (inside / n, above / n)
    }

    /// Unseen normal images must stay inside the colour scale (issue #8): the
    /// held-out scale covers their pixel maps under the GDE of every training
    /// window, where the scale read from that GDE's own training windows
    /// (in-sample distances) leaves most of them above its top, all red.
    #[test]
    fn held_out_scale_covers_unseen_normal_images() {
        let loc = LocalizationConfig {
            patch_size: 6,
            stride: 2,
            fit_stride: 2,
            sigma: 1.0,
            ..LocalizationConfig::default()
        };
        // 8x8 images, 6-px windows at stride 2: 2x2 windows per image.
        let (grid, hw, d) = ((2, 2), (8, 8), 32);
        let (n, per) = (12, 4);
        let train = features(n, per, d, 1);
        let train = MatrixView::new(&train, n * per, d).unwrap();
        let gde = GdeConfig::default();
        let fitted = gde.fit(train).unwrap();
        let test = features(40, per, d, 2);
        let test = MatrixView::new(&test, 40 * per, d).unwrap();
        let test_maps = pixel_maps(&fitted.score(test).unwrap(), grid, hw, 2, &loc);

        let windows = || ImageWindows { feats: train, per };
        let scale = held_out_scale(&gde, windows(), windows(), grid, hw, &loc).unwrap();
        assert!(scale.0 < scale.1, "{scale:?}");
        let (inside, above) = coverage(&test_maps, scale);
        assert!(
            inside > 0.8 && above < 0.15,
            "held out: {inside} inside, {above} above"
        );

        // What the scale was before: percentiles of in-sample pixel maps.
        let mut own = pixel_maps(&fitted.score(train).unwrap(), grid, hw, 2, &loc);
        let in_sample = (percentile(&mut own, 1.0), percentile(&mut own, 99.0));
        let (_, saturated) = coverage(&test_maps, in_sample);
        assert!(saturated > 0.4, "in-sample scale: {saturated} above");

        // The fold split follows the seed, and is a permutation.
        let order = fold_order(10, Seed(4));
        assert_eq!(order, fold_order(10, Seed(4)));
        assert_ne!(order, fold_order(10, Seed(5)));
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn percentiles_are_numpy_linear() {
        let c = &fixture()["percentile"];
        let mut values = floats(&c["values"]);
        for (q, want) in floats(&c["q"]).into_iter().zip(floats(&c["output"])) {
            assert!((percentile(&mut values, q) - want).abs() < 1e-12, "q = {q}");
        }
    }
}
