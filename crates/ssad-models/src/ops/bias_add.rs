//! Adding a bias over the last axis, as one CPU op with its own backward pass.
//!
//! candle's `broadcast_add` is fast forward, but its backward sums the
//! gradient over every broadcast (leading) axis with a strided scalar
//! reduction: for GOAD's head, `(B * M, M)` logits (16,384 x 256 for KDDRev),
//! that reduction took 12% of a KDD step (`perf record`). Here the bias
//! gradient is a row-wise accumulation over fixed row blocks (vectorised,
//! parallel, and summed in block order so it is the same on any thread count),
//! and the input gradient is the incoming gradient itself.

use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Storage, Tensor};
use rayon::prelude::*;

use super::contiguous_f32;

/// Rows per block of the bias gradient.
const ROWS_PER_BLOCK: usize = 256;

/// `x + b` with `b` broadcast over every axis but the last.
///
/// f32 on the CPU runs one fused op; other dtypes and devices, or custom ops
/// switched off, run candle's `broadcast_add`, equal in value.
///
/// # Shapes
/// `x`: `(..., K)`; `b`: `(K,)`; result: like `x`.
pub fn bias_add(x: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    let k = x.dims().last().copied().unwrap_or(0);
    if b.dims() != [k] {
        return Err(candle_core::Error::Msg(format!(
            "bias-add: bias of shape {:?} for input {:?}",
            b.dims(),
            x.dims()
        )));
    }
    if x.dtype() != candle_core::DType::F32
        || b.dtype() != candle_core::DType::F32
        || !x.device().is_cpu()
        || !super::custom_cpu_ops()
        || k == 0
    {
        return x.broadcast_add(b);
    }
    x.contiguous()?.apply_op2(&b.contiguous()?, BiasAdd { k })
}

struct BiasAdd {
    k: usize,
}

impl CustomOp2 for BiasAdd {
    fn name(&self) -> &'static str {
        "bias-add"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = contiguous_f32(s1, l1, "bias-add")?;
        let b = contiguous_f32(s2, l2, "bias-add")?;
        let k = self.k;
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(k * ROWS_PER_BLOCK)
            .zip(x.par_chunks(k * ROWS_PER_BLOCK))
            .for_each(|(o, x)| {
                for (o, x) in o.chunks_exact_mut(k).zip(x.chunks_exact(k)) {
                    for ((o, &v), &bv) in o.iter_mut().zip(x).zip(b) {
                        *o = v + bv;
                    }
                }
            });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let k = self.k;
        let grad_res = grad_res.contiguous()?;
        let (storage, layout) = grad_res.storage_and_layout();
        let Storage::Cpu(cpu) = &*storage else {
            return Err(candle_core::Error::Msg("bias-add: CPU only".into()));
        };
        let g = contiguous_f32(cpu, layout, "bias-add")?;
        let partials: Vec<Vec<f32>> = g
            .par_chunks(k * ROWS_PER_BLOCK)
            .map(|block| {
                let mut acc = vec![0f32; k];
                for row in block.chunks_exact(k) {
                    for (a, &v) in acc.iter_mut().zip(row) {
                        *a += v;
                    }
                }
                acc
            })
            .collect();
        let mut db = vec![0f32; k];
        for p in &partials {
            for (d, &v) in db.iter_mut().zip(p) {
                *d += v;
            }
        }
        drop(storage);
        let db = Tensor::from_vec(db, k, b.device())?;
        Ok((Some(grad_res.clone()), Some(db)))
    }
}

#[cfg(test)]
mod tests {
    use super::bias_add;
    use candle_core::{Device, Tensor, Var};

    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut state = seed | 1;
        (0..n)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    /// Value and both gradients against candle's `broadcast_add`, on a 3-D
    /// input with more rows than one block.
    #[test]
    fn matches_broadcast_add() {
        let dev = Device::Cpu;
        let dims = (7, 61, 13);
        let n = dims.0 * dims.1 * dims.2;
        let x = Var::from_vec(values(n, 1), dims, &dev).unwrap();
        let b = Var::from_vec(values(dims.2, 2), dims.2, &dev).unwrap();
        let w = Tensor::from_vec(values(n, 3), dims, &dev).unwrap();
        let run = |fused: bool| {
            let y = if fused {
                bias_add(x.as_tensor(), b.as_tensor()).unwrap()
            } else {
                x.broadcast_add(b.as_tensor()).unwrap()
            };
            let grads = (&y * &w).unwrap().sum_all().unwrap().backward().unwrap();
            let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            (
                flat(&y),
                flat(grads.get(&x).unwrap()),
                flat(grads.get(&b).unwrap()),
            )
        };
        let (yf, gxf, gbf) = run(true);
        let (yc, gxc, gbc) = run(false);
        assert_eq!(yf, yc);
        assert_eq!(gxf, gxc);
        for (a, c) in gbf.iter().zip(&gbc) {
            assert!((a - c).abs() <= 1e-4, "bias grad {a} vs {c}");
        }
    }

    /// Central differences of `sum(w * (x + b))` in the bias.
    #[test]
    fn bias_gradient_matches_finite_differences() {
        let dev = Device::Cpu;
        let (rows, k) = (300, 5);
        let xs = values(rows * k, 4);
        let ws = values(rows * k, 5);
        let bs = values(k, 6);
        let b = Var::from_vec(bs.clone(), k, &dev).unwrap();
        let x = Tensor::from_vec(xs.clone(), (rows, k), &dev).unwrap();
        let w = Tensor::from_vec(ws.clone(), (rows, k), &dev).unwrap();
        let loss = (bias_add(&x, b.as_tensor()).unwrap() * &w)
            .unwrap()
            .sum_all()
            .unwrap();
        let grad = loss
            .backward()
            .unwrap()
            .get(&b)
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let value = |bs: &[f32]| -> f64 {
            let bt = Tensor::from_vec(bs.to_vec(), k, &dev).unwrap();
            let y = bias_add(&x, &bt)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            y.iter()
                .zip(&ws)
                .map(|(&a, &c)| f64::from(a) * f64::from(c))
                .sum()
        };
        let h = 1e-2f32;
        for j in 0..k {
            let (mut up, mut down) = (bs.clone(), bs.clone());
            up[j] += h;
            down[j] -= h;
            let numeric = (value(&up) - value(&down)) / (2.0 * f64::from(h));
            assert!(
                (numeric - f64::from(grad[j])).abs() < 1e-2,
                "{j}: {numeric} vs {}",
                grad[j]
            );
        }
    }

    #[test]
    fn wrong_bias_shape_is_an_error() {
        let dev = Device::Cpu;
        let x = Tensor::zeros((2, 3), candle_core::DType::F32, &dev).unwrap();
        let b = Tensor::zeros(4, candle_core::DType::F32, &dev).unwrap();
        assert!(bias_add(&x, &b).is_err());
    }
}
