//! Softmax cross-entropy as one CPU op with its own backward pass.
//!
//! `log_softmax` + `gather` in candle is six elementwise/reduction ops, each
//! allocating a `(B, K)` tensor, and as many again in the backward pass. GOAD
//! computes it on `(B * M, M)` logits (16,384 x 256 for KDDRev), where those
//! passes cost more than the network's matmuls. This op reads the logits once
//! forward (per-row loss) and once backward (`softmax - onehot`), in parallel
//! over rows.

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Storage, Tensor};
use rayon::prelude::*;

/// Rows handed to one rayon task: a row is only `K` floats.
const MIN_ROWS_PER_TASK: usize = 64;

/// Per-row `-log softmax(x_i)[t_i]` of contiguous f32 `(B, K)` logits.
pub(crate) struct SoftmaxNll {
    /// `t_i`, already checked to lie in `0..classes`.
    pub targets: Vec<u32>,
    pub classes: usize,
}

fn contiguous<'a>(storage: &'a CpuStorage, layout: &Layout) -> candle_core::Result<&'a [f32]> {
    let data = storage.as_slice::<f32>()?;
    let (start, end) = layout
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg("softmax-nll: logits must be contiguous".into()))?;
    Ok(&data[start..end])
}

/// `max` and `max + log sum exp(x - max)` of one row.
fn log_sum_exp(row: &[f32]) -> f32 {
    let max = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    let sum: f32 = row.iter().map(|&v| (v - max).exp()).sum();
    max + sum.ln()
}

impl CustomOp1 for SoftmaxNll {
    fn name(&self) -> &'static str {
        "softmax-nll"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let logits = contiguous(storage, layout)?;
        let k = self.classes;
        let rows = self.targets.len();
        if logits.len() != rows * k {
            return Err(candle_core::Error::Msg(format!(
                "softmax-nll: {} logits for {rows} rows of {k}",
                logits.len()
            )));
        }
        let mut out = vec![0f32; rows];
        out.par_iter_mut()
            .zip(logits.par_chunks_exact(k))
            .zip(self.targets.par_iter())
            .with_min_len(MIN_ROWS_PER_TASK)
            .for_each(|((o, row), &t)| *o = log_sum_exp(row) - row[t as usize]);
        Ok((CpuStorage::F32(out), Shape::from(rows)))
    }

    /// `d loss_i / d x_ij = g_i (softmax(x_i)_j - [j = t_i])`, with the row's
    /// log-sum-exp recovered from the forward result as `loss_i + x_{i,t_i}`.
    fn bwd(
        &self,
        arg: &Tensor,
        res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let k = self.classes;
        let loss = res.to_vec1::<f32>()?;
        let grad_out = grad_res.to_vec1::<f32>()?;
        let (storage, layout) = arg.storage_and_layout();
        let Storage::Cpu(cpu) = &*storage else {
            return Err(candle_core::Error::Msg("softmax-nll: CPU only".into()));
        };
        let logits = contiguous(cpu, layout)?;
        let mut grad = vec![0f32; logits.len()];
        grad.par_chunks_exact_mut(k)
            .zip(logits.par_chunks_exact(k))
            .zip(
                self.targets
                    .par_iter()
                    .zip(loss.par_iter().zip(grad_out.par_iter())),
            )
            .with_min_len(MIN_ROWS_PER_TASK)
            .for_each(|((g_row, row), (&t, (&l, &g)))| {
                let t = t as usize;
                let lse = l + row[t];
                for (gj, &x) in g_row.iter_mut().zip(row) {
                    *gj = g * (x - lse).exp();
                }
                g_row[t] -= g;
            });
        drop(storage);
        Ok(Some(Tensor::from_vec(grad, arg.dims(), arg.device())?))
    }
}

#[cfg(test)]
mod tests {
    use crate::cross_entropy::{cross_entropy, unfused};
    use candle_core::{DType, Device, Tensor, Var};

    /// Deterministic test logits in `(-scale, scale)` and targets (splitmix64).
    fn logits(rows: usize, k: usize, scale: f32, seed: u64) -> (Vec<f32>, Vec<u32>) {
        let mut state = seed;
        let mut next = move || {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        let mut unit = || (next() >> 40) as f32 / (1u64 << 24) as f32;
        let x = (0..rows * k)
            .map(|_| scale * (2.0 * unit() - 1.0))
            .collect();
        let t = (0..rows)
            .map(|_| (unit() * k as f32) as u32 % k as u32)
            .collect();
        (x, t)
    }

    fn loss_and_grad(
        f: impl Fn(&Tensor, &Tensor) -> crate::Result<Tensor>,
        x: &[f32],
        t: &[u32],
        k: usize,
    ) -> (f32, Vec<f32>) {
        let dev = Device::Cpu;
        let var = Var::from_vec(x.to_vec(), (t.len(), k), &dev).unwrap();
        let targets = Tensor::new(t, &dev).unwrap();
        let loss = f(var.as_tensor(), &targets).unwrap();
        let grad = loss
            .backward()
            .unwrap()
            .get(&var)
            .unwrap()
            .flatten_all()
            .unwrap();
        (loss.to_scalar().unwrap(), grad.to_vec1().unwrap())
    }

    /// The fused op against candle's `log_softmax` + `gather`, in value and
    /// gradient, on GOAD-like sizes including large logits (the max shift).
    #[test]
    fn fused_matches_unfused() {
        for (rows, k, scale) in [(1, 2, 1.0), (300, 7, 3.0), (512, 256, 30.0)] {
            let (x, t) = logits(rows, k, scale, rows as u64);
            let (lf, gf) = loss_and_grad(cross_entropy, &x, &t, k);
            let (lu, gu) = loss_and_grad(|a, b| unfused(a, b, 0.0), &x, &t, k);
            assert!((lf - lu).abs() <= 1e-5 * lu.abs().max(1.0), "{lf} vs {lu}");
            for (a, b) in gf.iter().zip(&gu) {
                assert!((a - b).abs() <= 1e-5, "grad {a} vs {b}");
            }
        }
    }

    /// Central differences of the f32 forward pass (accumulated in f64 to keep
    /// the step's rounding out of the comparison).
    #[test]
    fn gradient_matches_finite_differences() {
        let (rows, k) = (5, 6);
        let (x, t) = logits(rows, k, 2.0, 9);
        let (_, grad) = loss_and_grad(cross_entropy, &x, &t, k);
        let value = |x: &[f32]| -> f64 {
            let dev = Device::Cpu;
            let l = Tensor::from_vec(x.to_vec(), (rows, k), &dev).unwrap();
            let per_row = l
                .apply_op1_no_bwd(&super::SoftmaxNll {
                    targets: t.clone(),
                    classes: k,
                })
                .unwrap()
                .to_dtype(DType::F64)
                .unwrap();
            per_row.mean_all().unwrap().to_scalar().unwrap()
        };
        let h = 1e-2f32;
        for i in 0..x.len() {
            let mut up = x.clone();
            up[i] += h;
            let mut down = x.clone();
            down[i] -= h;
            let numeric = (value(&up) - value(&down)) / (2.0 * f64::from(h));
            assert!(
                (numeric - f64::from(grad[i])).abs() < 2e-4,
                "d/dx[{i}]: analytic {} vs numeric {numeric}",
                grad[i]
            );
        }
    }

    /// A non-contiguous view (a transpose) goes through `contiguous()` first.
    #[test]
    fn transposed_logits_are_accepted() {
        let dev = Device::Cpu;
        let x = Tensor::new(&[[1.0f32, 2.0, 0.5], [0.0, -1.0, 3.0]], &dev).unwrap();
        let t = Tensor::new(&[1u32, 0, 1], &dev).unwrap();
        let a: f32 = cross_entropy(&x.t().unwrap(), &t)
            .unwrap()
            .to_scalar()
            .unwrap();
        let b: f32 = unfused(&x.t().unwrap().contiguous().unwrap(), &t, 0.0)
            .unwrap()
            .to_scalar()
            .unwrap();
        assert!((a - b).abs() < 1e-6);
    }
}
