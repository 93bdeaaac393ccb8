//! Finite, indexed transformation families: the member index is the pretext label.

use candle_core::{Device, Tensor};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::image::{with_host, HostBatch, ImageShape};

/// A finite ordered family `T_0 .. T_{K-1}` of deterministic image transformations.
///
/// `T_0` is the identity and the index `k` is the pretext label. Every member here
/// moves pixels without changing their values (rotations, flips, translations
/// with reflected borders, cut-permutations), so a member is described by a
/// *source map*: for every output pixel, the input pixel it copies. The same map
/// serves all channels and all images of a batch, which makes applying a member a
/// plain gather.
pub trait TransformFamily: Send + Sync {
    /// Number of members `K`.
    fn len(&self) -> usize;

    /// True for a family without members (none of this crate's).
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// For member `k` on `height x width` images, the row-major input pixel that
    /// each row-major output pixel copies.
    fn source_map(&self, k: usize, height: usize, width: usize) -> Result<Vec<u32>>;

    /// Sizes of the label heads: one head of `len()` classes unless the family's
    /// index factorises (Rot+Trans: 3 x-shifts, 3 y-shifts, 4 rotations).
    fn head_sizes(&self) -> Vec<usize> {
        vec![self.len()]
    }

    /// Label of member `k` on each head.
    fn head_labels(&self, k: usize) -> Vec<u32> {
        vec![k as u32]
    }

    /// Applies member `k` to a `(B, C, H, W)` batch.
    fn apply(&self, x: &Tensor, k: usize) -> Result<Tensor> {
        let out = with_host(x, |data, batch, shape| {
            let map = self.source_map(k, shape.height, shape.width)?;
            let mut out = vec![0.0f32; data.len()];
            let image = shape.len();
            out.par_chunks_mut(image)
                .zip(data.par_chunks(image))
                .for_each(|(dst, src)| gather(src, dst, &map, shape));
            Ok(HostBatch {
                data: out,
                batch,
                shape,
            })
        })?;
        out.into_tensor(x.device())
    }
}

/// A batch with every member of a family applied.
#[derive(Debug, Clone)]
pub struct Expansion {
    /// `(K * B, C, H, W)`: all `B` images under `T_0`, then all under `T_1`, and so on
    /// (row `k * B + i` is image `i` under member `k`).
    pub images: Tensor,
    /// `(K * B,)` u32: the member index `k` of each row.
    pub labels: Tensor,
    /// `(K * B, heads)` u32: the per-head labels of each row (see
    /// [`TransformFamily::head_labels`]).
    pub head_labels: Tensor,
}

/// Applies every member of `family` to the `(B, C, H, W)` batch `x` in one pass.
///
/// The output is member-major (see [`Expansion::images`]), matching CSI's
/// `torch.cat([shift(x, k) for k in range(K)])`.
pub fn expand(family: &dyn TransformFamily, x: &Tensor) -> Result<Expansion> {
    let k_count = family.len();
    let (out, batch, shape) = with_host(x, |data, batch, shape| {
        let maps = (0..k_count)
            .map(|k| family.source_map(k, shape.height, shape.width))
            .collect::<Result<Vec<_>>>()?;
        let image = shape.len();
        let mut out = vec![0.0f32; k_count * data.len()];
        out.par_chunks_mut(image)
            .enumerate()
            .for_each(|(row, dst)| {
                let (k, i) = (row / batch, row % batch);
                gather(&data[i * image..(i + 1) * image], dst, &maps[k], shape);
            });
        Ok((out, batch, shape))
    })?;
    let rows = k_count * batch;
    let labels: Vec<u32> = (0..rows).map(|row| (row / batch) as u32).collect();
    let heads = family.head_sizes().len();
    let mut head_labels = Vec::with_capacity(rows * heads);
    for k in 0..k_count {
        let per = family.head_labels(k);
        for _ in 0..batch {
            head_labels.extend_from_slice(&per);
        }
    }
    let device: &Device = x.device();
    Ok(Expansion {
        images: HostBatch {
            data: out,
            batch: rows,
            shape,
        }
        .into_tensor(device)?,
        labels: Tensor::from_vec(labels, rows, device)?,
        head_labels: Tensor::from_vec(head_labels, (rows, heads), device)?,
    })
}

fn gather(src: &[f32], dst: &mut [f32], map: &[u32], shape: ImageShape) {
    let plane = shape.plane();
    for (d, s) in dst.chunks_exact_mut(plane).zip(src.chunks_exact(plane)) {
        for (o, &m) in d.iter_mut().zip(map) {
            *o = s[m as usize];
        }
    }
}

/// How a translation fills the pixels it uncovers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Border {
    /// `d c b a | a b c d | d c b a`: scipy.ndimage `mode='reflect'`, which keras'
    /// `fill_mode='reflect'` passes through (numpy `np.pad` calls it `symmetric`).
    Symmetric,
    /// `d c b | a b c d | c b a`: OpenCV `BORDER_REFLECT_101` (numpy `reflect`).
    Reflect101,
}

impl Border {
    fn index(self, i: isize, n: usize) -> usize {
        let n = n as isize;
        let folded = match self {
            Border::Symmetric => {
                let m = i.rem_euclid(2 * n);
                if m < n {
                    m
                } else {
                    2 * n - 1 - m
                }
            }
            Border::Reflect101 if n == 1 => 0,
            Border::Reflect101 => {
                let m = i.rem_euclid(2 * n - 2);
                if m < n {
                    m
                } else {
                    2 * n - 2 - m
                }
            }
        };
        folded as usize
    }
}

/// Where output pixel `(i, j)` of `np.rot90(img, k)` (counter-clockwise, the
/// direction of `torch.rot90(x, k, (2, 3))`) comes from.
fn rot90_source(i: usize, j: usize, h: usize, w: usize, k: usize) -> (usize, usize) {
    match k % 4 {
        0 => (i, j),
        1 => (j, w - 1 - i),
        2 => (h - 1 - i, w - 1 - j),
        _ => (h - 1 - j, i),
    }
}

fn check_rotation(k_rot: usize, height: usize, width: usize) -> Result<()> {
    if k_rot % 2 == 1 && height != width {
        return Err(Error::NotSquare { height, width });
    }
    Ok(())
}

fn check_index(k: usize, len: usize) -> Result<()> {
    if k >= len {
        return Err(Error::Index { index: k, len });
    }
    Ok(())
}

fn build_map(height: usize, width: usize, f: impl Fn(usize, usize) -> (usize, usize)) -> Vec<u32> {
    let mut map = Vec::with_capacity(height * width);
    for i in 0..height {
        for j in 0..width {
            let (a, b) = f(i, j);
            map.push((a * width + b) as u32);
        }
    }
    map
}

/// The default translation: a quarter of the side, rounded half up (8 px at 32).
fn quarter(side: usize) -> isize {
    ((side + 2) / 4) as isize
}

/// The four counter-clockwise 90-degree rotations of RotNet and CSI; `k` quarter turns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rotations;

impl TransformFamily for Rotations {
    fn len(&self) -> usize {
        4
    }

    fn source_map(&self, k: usize, height: usize, width: usize) -> Result<Vec<u32>> {
        check_index(k, 4)?;
        check_rotation(k, height, width)?;
        Ok(build_map(height, width, |i, j| {
            rot90_source(i, j, height, width, k)
        }))
    }
}

/// GEOM's 72 transformations (Golan & El-Yaniv 2018): horizontal flip x row shift
/// x column shift x rotation.
///
/// Member `k = ((flip * 3 + ix) * 3 + iy) * 4 + rot`, the order of
/// `itertools.product((False, True), (0, -t, t), (0, -t, t), range(4))` in
/// `transformations.py`. Shift values are indexed `[0, -t, +t]`.
///
/// Applied as in GEOM: `np.fliplr`, then keras `apply_affine_transform(tx, ty,
/// fill_mode='reflect')`, then `np.rot90(k)`. Keras' `tx` moves along the *row*
/// axis: output `[i, j]` = input `[i + tx, j + ty]`, so `tx = -t` moves the content
/// down. Uncovered pixels are filled by scipy's `reflect` (half-sample symmetric).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Geom {
    shift: Option<usize>,
}

impl Geom {
    /// The family with GEOM's shift of a quarter of the image side (8 px at 32 px,
    /// 16 px at 64 px), computed per image size.
    pub fn new() -> Self {
        Self { shift: None }
    }

    /// The family with a fixed shift `t` in pixels, whatever the image size.
    pub fn with_shift(t: usize) -> Self {
        Self { shift: Some(t) }
    }

    /// The `(flip, row shift, column shift, quarter turns)` of member `k`.
    pub fn params(
        &self,
        k: usize,
        height: usize,
        width: usize,
    ) -> Result<(bool, isize, isize, usize)> {
        check_index(k, 72)?;
        let (tr, tc) = match self.shift {
            Some(t) => (t as isize, t as isize),
            None => (quarter(height), quarter(width)),
        };
        let signed = |idx: usize, t: isize| [0, -t, t][idx];
        let rot = k % 4;
        let iy = (k / 4) % 3;
        let ix = (k / 12) % 3;
        let flip = k >= 36;
        Ok((flip, signed(ix, tr), signed(iy, tc), rot))
    }
}

impl TransformFamily for Geom {
    fn len(&self) -> usize {
        72
    }

    fn source_map(&self, k: usize, height: usize, width: usize) -> Result<Vec<u32>> {
        let (flip, tx, ty, rot) = self.params(k, height, width)?;
        check_rotation(rot, height, width)?;
        let border = Border::Symmetric;
        Ok(build_map(height, width, |i, j| {
            let (a, b) = rot90_source(i, j, height, width, rot);
            let a = border.index(a as isize + tx, height);
            let b = border.index(b as isize + ty, width);
            (a, if flip { width - 1 - b } else { b })
        }))
    }
}

/// Hendrycks et al.'s Rot+Trans (2019): x-translation x y-translation x rotation,
/// learnt with three separate heads of 3, 3 and 4 classes.
///
/// Member `k = (ix * 3 + iy) * 4 + rot`, shift values indexed `[0, -t, +t]` as in
/// `ss-ood/train.py`. A positive x-shift moves the content right and a positive
/// y-shift moves it down (OpenCV `warpAffine` convention), with `BORDER_REFLECT_101`
/// filling; the translated image is then rotated by `np.rot90(k)`. The random
/// horizontal flip of the paper is a stochastic augmentation, not a member.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RotTrans {
    shift: Option<usize>,
}

impl RotTrans {
    /// The family with a shift of a quarter of the image side (56 px at 224 px).
    pub fn new() -> Self {
        Self { shift: None }
    }

    /// The family with a fixed shift `t` in pixels.
    pub fn with_shift(t: usize) -> Self {
        Self { shift: Some(t) }
    }
}

impl TransformFamily for RotTrans {
    fn len(&self) -> usize {
        36
    }

    fn source_map(&self, k: usize, height: usize, width: usize) -> Result<Vec<u32>> {
        check_index(k, 36)?;
        let [ix, iy, rot] = self.head_labels(k)[..] else {
            return Err(Error::Index { index: k, len: 36 });
        };
        let rot = rot as usize;
        check_rotation(rot, height, width)?;
        let (tx, ty) = match self.shift {
            Some(t) => (t as isize, t as isize),
            None => (quarter(width), quarter(height)),
        };
        let dx = [0, -tx, tx][ix as usize];
        let dy = [0, -ty, ty][iy as usize];
        let border = Border::Reflect101;
        Ok(build_map(height, width, |i, j| {
            let (a, b) = rot90_source(i, j, height, width, rot);
            (
                border.index(a as isize - dy, height),
                border.index(b as isize - dx, width),
            )
        }))
    }

    fn head_sizes(&self) -> Vec<usize> {
        vec![3, 3, 4]
    }

    fn head_labels(&self, k: usize) -> Vec<u32> {
        vec![(k / 12) as u32, ((k / 4) % 3) as u32, (k % 4) as u32]
    }
}

/// CSI's cut-permutation shift (`CutPerm` in `transform_layers.py`): member `k`
/// swaps the top and bottom halves when `k / 2 == 1` and the left and right halves
/// when `k % 2 == 1`, splitting at `H / 2` and `W / 2` (rounded down).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CutPerm;

impl TransformFamily for CutPerm {
    fn len(&self) -> usize {
        4
    }

    fn source_map(&self, k: usize, height: usize, width: usize) -> Result<Vec<u32>> {
        check_index(k, 4)?;
        let (swap_rows, swap_cols) = (k / 2 == 1, k % 2 == 1);
        let (h_mid, w_mid) = (height / 2, width / 2);
        Ok(build_map(height, width, |i, j| {
            (
                if swap_rows { (i + h_mid) % height } else { i },
                if swap_cols { (j + w_mid) % width } else { j },
            )
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borders_fold_like_scipy_and_opencv() {
        let sym: Vec<usize> = (-3..7).map(|i| Border::Symmetric.index(i, 4)).collect();
        assert_eq!(sym, vec![2, 1, 0, 0, 1, 2, 3, 3, 2, 1]);
        let r101: Vec<usize> = (-3..7).map(|i| Border::Reflect101.index(i, 4)).collect();
        assert_eq!(r101, vec![3, 2, 1, 0, 1, 2, 3, 2, 1, 0]);
        assert_eq!(Border::Reflect101.index(-5, 1), 0);
    }

    #[test]
    fn quarter_rounds_half_up() {
        assert_eq!(quarter(32), 8);
        assert_eq!(quarter(28), 7);
        assert_eq!(quarter(64), 16);
        assert_eq!(quarter(224), 56);
        assert_eq!(quarter(6), 2);
        assert_eq!(quarter(10), 3);
        assert_eq!(quarter(8), 2);
    }
}
