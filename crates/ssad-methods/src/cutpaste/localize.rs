//! Dense windows, window scores to pixels, Gaussian smoothing: the host-side
//! half of CutPaste's localization.

use rayon::prelude::*;

/// Number of window positions along a side of length `len`: `(len - p) / s + 1`.
pub(crate) fn positions(len: usize, patch: usize, stride: usize) -> usize {
    (len - patch) / stride + 1
}

/// Every `patch × patch` window of one `(C, H, W)` image at `stride`, row-major
/// over positions, as `(gh * gw, C, patch, patch)`.
pub(crate) fn windows(image: &[f32], chw: [usize; 3], patch: usize, stride: usize) -> Vec<f32> {
    let [c, h, w] = chw;
    let (gh, gw) = (positions(h, patch, stride), positions(w, patch, stride));
    let mut out = vec![0.0f32; gh * gw * c * patch * patch];
    out.par_chunks_mut(c * patch * patch)
        .enumerate()
        .for_each(|(k, dst)| {
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

    #[test]
    fn percentiles_are_numpy_linear() {
        let c = &fixture()["percentile"];
        let mut values = floats(&c["values"]);
        for (q, want) in floats(&c["q"]).into_iter().zip(floats(&c["output"])) {
            assert!((percentile(&mut values, q) - want).abs() < 1e-12, "q = {q}");
        }
    }
}
