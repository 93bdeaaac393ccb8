//! GOAD's center triplet loss as one CPU op with its own backward pass.
//!
//! Written with candle ops, the loss is about twenty ops forward on `(B, M, D)`
//! and `(B, M, M)` tensors (16 MiB each for KDDRev) and more backward, `min`'s
//! mask among them; those passes and their allocations cost several times the
//! step's GEMMs. Here the two GEMM-shaped parts stay in candle (the centers, a
//! mean over the batch, and the cross term `z . c_k`, one matmul), both without
//! gradient, and everything else is one parallel pass over the `B * M` rows
//! forward and one backward, where the gradient through the batch centers is
//! added analytically.
//!
//! Forward, per row `i = (b, m)` with `z = emb[b, m]`:
//! `own = |z - c_m|^2`, `d_k = |z|^2 + |c_k|^2 - 2 z.c_k` (plus `1e6` for
//! `k = m`), `k* = argmin_k d_k`, `h_i = max(0, own + margin - d_k*)`; the loss is
//! `mean_i h_i`. Backward, with `s = 2 g / (B M)` and `A` the rows with `h > 0`:
//! `dz_i = s (c_k* - c_m) [i in A] + dc_m / B`, where
//! `dc_j = s (sum_{i in A, k*_i = j} (z_i - c_j) - sum_{i in A, m_i = j} (z_i - c_j))`.

use std::sync::Mutex;

use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Storage, Tensor};
use rayon::prelude::*;

/// Rows handed to one rayon task.
const MIN_ROWS_PER_TASK: usize = 64;
/// Marks a row whose hinge is inactive (zero loss, zero direct gradient).
const INACTIVE: u32 = u32::MAX;

/// What the backward pass reuses from the forward pass.
struct Cache {
    /// `k*` of each row, or [`INACTIVE`].
    nearest: Vec<u32>,
    /// The `(M, D)` centers.
    centers: Vec<f32>,
}

/// The op on contiguous f32 `emb (B, M, D)`, `centers (M, D)` and `cross (B*M, M)`.
pub(crate) struct CenterTripletOp {
    pub batch: usize,
    pub transforms: usize,
    pub dim: usize,
    pub margin: f32,
    pub self_offset: f32,
    cache: Mutex<Option<Cache>>,
}

impl CenterTripletOp {
    pub(crate) fn new(
        (batch, transforms, dim): (usize, usize, usize),
        margin: f64,
        self_offset: f64,
    ) -> Self {
        Self {
            batch,
            transforms,
            dim,
            margin: margin as f32,
            self_offset: self_offset as f32,
            cache: Mutex::new(None),
        }
    }
}

fn contiguous<'a>(
    storage: &'a CpuStorage,
    layout: &Layout,
    len: usize,
    what: &str,
) -> candle_core::Result<&'a [f32]> {
    let data = storage.as_slice::<f32>()?;
    let (start, end) = layout.contiguous_offsets().ok_or_else(|| {
        candle_core::Error::Msg(format!("center-triplet: {what} must be contiguous"))
    })?;
    if end - start != len {
        return Err(candle_core::Error::Msg(format!(
            "center-triplet: {what} holds {} values, expected {len}",
            end - start
        )));
    }
    Ok(&data[start..end])
}

fn sq_dist(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(&x, &y)| (x - y) * (x - y)).sum()
}

impl CustomOp3 for CenterTripletOp {
    fn name(&self) -> &'static str {
        "center-triplet"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (b, m, d) = (self.batch, self.transforms, self.dim);
        let emb = contiguous(s1, l1, b * m * d, "emb")?;
        let centers = contiguous(s2, l2, m * d, "centers")?;
        let cross = contiguous(s3, l3, b * m * m, "cross")?;
        let centers_sq: Vec<f32> = centers
            .chunks_exact(d)
            .map(|c| c.iter().map(|v| v * v).sum())
            .collect();
        let mut hinge = vec![0f32; b * m];
        let mut nearest = vec![INACTIVE; b * m];
        hinge
            .par_iter_mut()
            .zip(nearest.par_iter_mut())
            .zip(emb.par_chunks_exact(d).zip(cross.par_chunks_exact(m)))
            .enumerate()
            .with_min_len(MIN_ROWS_PER_TASK)
            .for_each(|(i, ((h, k_out), (z, zc)))| {
                let own_k = i % m;
                let own = sq_dist(z, &centers[own_k * d..(own_k + 1) * d]);
                let z_sq: f32 = z.iter().map(|v| v * v).sum();
                let (mut best, mut best_k) = (f32::INFINITY, 0usize);
                for (k, (&c_sq, &dot)) in centers_sq.iter().zip(zc).enumerate() {
                    let mut dist = (z_sq + c_sq) - dot * 2.0;
                    if k == own_k {
                        dist += self.self_offset;
                    }
                    if dist < best {
                        best = dist;
                        best_k = k;
                    }
                }
                let value = (own + self.margin) - best;
                if value > 0.0 {
                    *h = value;
                    *k_out = best_k as u32;
                }
            });
        let total: f64 = hinge.iter().map(|&v| f64::from(v)).sum();
        let loss = (total / (b * m) as f64) as f32;
        let cache = Cache {
            nearest,
            centers: centers.to_vec(),
        };
        *self
            .cache
            .lock()
            .map_err(|_| candle_core::Error::Msg("center-triplet: poisoned cache".into()))? =
            Some(cache);
        Ok((CpuStorage::F32(vec![loss]), Shape::from(())))
    }

    fn bwd(
        &self,
        arg1: &Tensor,
        _arg2: &Tensor,
        _arg3: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (b, m, d) = (self.batch, self.transforms, self.dim);
        let g = grad_res
            .to_dtype(candle_core::DType::F32)?
            .to_scalar::<f32>()?;
        let guard = self
            .cache
            .lock()
            .map_err(|_| candle_core::Error::Msg("center-triplet: poisoned cache".into()))?;
        let cache = guard.as_ref().ok_or_else(|| {
            candle_core::Error::Msg("center-triplet: backward before forward".into())
        })?;
        let (storage, layout) = arg1.storage_and_layout();
        let Storage::Cpu(cpu) = &*storage else {
            return Err(candle_core::Error::Msg("center-triplet: CPU only".into()));
        };
        let emb = contiguous(cpu, layout, b * m * d, "emb")?;
        let centers = &cache.centers;
        let nearest = &cache.nearest;
        let s = 2.0 * g / (b * m) as f32;
        // Rows grouped by the center they were pushed away from, in row order,
        // so every sum below runs in a fixed order (bit-identical across thread counts).
        let mut pushed: Vec<Vec<u32>> = vec![Vec::new(); m];
        for (i, &k) in nearest.iter().enumerate() {
            if k != INACTIVE {
                pushed[k as usize].push(i as u32);
            }
        }
        // dc_j / B for every center j.
        let mut dc = vec![0f32; m * d];
        dc.par_chunks_exact_mut(d)
            .enumerate()
            .for_each(|(j, dc_j)| {
                let c_j = &centers[j * d..(j + 1) * d];
                let mut acc = vec![0f32; d];
                for &i in &pushed[j] {
                    let z = &emb[i as usize * d..(i as usize + 1) * d];
                    for ((a, &zv), &cv) in acc.iter_mut().zip(z).zip(c_j) {
                        *a += zv - cv;
                    }
                }
                for bi in 0..b {
                    let i = bi * m + j;
                    if nearest[i] != INACTIVE {
                        let z = &emb[i * d..(i + 1) * d];
                        for ((a, &zv), &cv) in acc.iter_mut().zip(z).zip(c_j) {
                            *a -= zv - cv;
                        }
                    }
                }
                let scale = s / b as f32;
                for (o, a) in dc_j.iter_mut().zip(acc) {
                    *o = scale * a;
                }
            });
        let mut grad = vec![0f32; b * m * d];
        grad.par_chunks_exact_mut(d)
            .enumerate()
            .with_min_len(MIN_ROWS_PER_TASK)
            .for_each(|(i, dz)| {
                let own = i % m;
                let dc_m = &dc[own * d..(own + 1) * d];
                dz.copy_from_slice(dc_m);
                let k = nearest[i];
                if k != INACTIVE {
                    let c_k = &centers[k as usize * d..(k as usize + 1) * d];
                    let c_m = &centers[own * d..(own + 1) * d];
                    for ((o, &ck), &cm) in dz.iter_mut().zip(c_k).zip(c_m) {
                        *o += s * (ck - cm);
                    }
                }
            });
        drop(storage);
        let grad = Tensor::from_vec(grad, arg1.dims(), arg1.device())?;
        Ok((Some(grad), None, None))
    }
}

#[cfg(test)]
mod tests {
    use crate::triplet::{center_triplet, unfused_center_triplet};
    use candle_core::{Device, Tensor, Var};

    /// Deterministic values in `(-scale, scale)` (a 64-bit LCG).
    fn values(n: usize, scale: f32, seed: u64) -> Vec<f32> {
        let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..n)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                scale * (((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0)
            })
            .collect()
    }

    type LossFn = fn(&Tensor, f64) -> crate::Result<Tensor>;

    fn loss_and_grad(
        f: LossFn,
        x: &[f32],
        dims: (usize, usize, usize),
        margin: f64,
    ) -> (f32, Vec<f32>) {
        let var = Var::from_vec(x.to_vec(), dims, &Device::Cpu).unwrap();
        let loss = f(var.as_tensor(), margin).unwrap();
        let grad = loss
            .backward()
            .unwrap()
            .get(&var)
            .unwrap()
            .flatten_all()
            .unwrap();
        (loss.to_scalar().unwrap(), grad.to_vec1().unwrap())
    }

    /// The fused op against the candle composition, value and gradient, from
    /// a few rows to GOAD-like shapes, with margins that leave some, most and
    /// all hinges active.
    #[test]
    fn fused_matches_unfused() {
        for (dims, scale, margin) in [
            ((3, 2, 1), 1.0, 1.0),
            ((7, 5, 4), 1.0, 0.1),
            ((16, 9, 6), 0.5, 1.0),
            ((32, 64, 16), 2.0, 1.0),
            ((8, 16, 8), 3.0, 0.0),
        ] {
            let (b, m, d) = dims;
            let x = values(b * m * d, scale, (b * m * d) as u64);
            let (lf, gf) = loss_and_grad(center_triplet, &x, dims, margin);
            let (lu, gu) = loss_and_grad(unfused_center_triplet, &x, dims, margin);
            assert!(
                (lf - lu).abs() <= 1e-4 * lu.abs().max(1.0),
                "{dims:?}: {lf} vs {lu}"
            );
            for (i, (a, b)) in gf.iter().zip(&gu).enumerate() {
                assert!((a - b).abs() <= 1e-4, "{dims:?} grad[{i}]: {a} vs {b}");
            }
        }
    }

    /// Central differences of the fused forward pass.
    #[test]
    fn gradient_matches_finite_differences() {
        let dims = (4, 3, 2);
        let (b, m, d) = dims;
        let x = values(b * m * d, 1.0, 11);
        let margin = 1.0;
        let (_, grad) = loss_and_grad(center_triplet, &x, dims, margin);
        let value = |x: &[f32]| -> f64 {
            let t = Tensor::from_vec(x.to_vec(), dims, &Device::Cpu).unwrap();
            f64::from(
                center_triplet(&t, margin)
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap(),
            )
        };
        let h = 1e-3f32;
        for i in 0..x.len() {
            let (mut up, mut down) = (x.clone(), x.clone());
            up[i] += h;
            down[i] -= h;
            let numeric = (value(&up) - value(&down)) / (2.0 * f64::from(h));
            assert!(
                (numeric - f64::from(grad[i])).abs() < 2e-3,
                "d/dx[{i}]: analytic {} vs numeric {numeric}",
                grad[i]
            );
        }
    }

    /// A non-contiguous input gives the value of its contiguous copy.
    #[test]
    fn non_contiguous_input() {
        let x = Tensor::from_vec(values(60, 1.0, 3), (5, 4, 3), &Device::Cpu).unwrap();
        let perm = x.transpose(0, 1).unwrap(); // (4, 5, 3), not contiguous
        let a: f32 = center_triplet(&perm, 1.0).unwrap().to_scalar().unwrap();
        let b: f32 = unfused_center_triplet(&perm.contiguous().unwrap(), 1.0)
            .unwrap()
            .to_scalar()
            .unwrap();
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }
}
