//! LeakyReLU as one CPU op with its own backward pass.
//!
//! candle has no LeakyReLU: `max(x, slope * x)` is two ops forward, and the
//! backward of `maximum` builds two equality masks and five more tensors. GOAD's
//! trunk applies it to `(B * M, ndf)` activations (16,384 x 128 for KDDRev)
//! six times per step, where those passes cost as much as the layers' GEMMs.
//! This op reads its input once forward and once backward, in parallel.

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Storage, Tensor};
use rayon::prelude::*;

use super::contiguous_f32;

/// Elements per rayon task (one chunk).
const MIN_PER_TASK: usize = 1 << 14;

/// `y = x` where `x > 0`, else `slope * x`: PyTorch's `LeakyReLU(slope)`.
///
/// f32 on the CPU runs one fused op whose gradient is PyTorch's
/// (`slope` where `x <= 0`); other dtypes and devices, or custom ops switched
/// off, run candle's `maximum(x, slope * x)`, equal in value.
pub fn leaky_relu(x: &Tensor, slope: f64) -> candle_core::Result<Tensor> {
    if x.dtype() != candle_core::DType::F32 || !x.device().is_cpu() || !super::custom_cpu_ops() {
        return x.maximum(&(x * slope)?);
    }
    x.contiguous()?.apply_op1(LeakyRelu {
        slope: slope as f32,
    })
}

struct LeakyRelu {
    slope: f32,
}

impl CustomOp1 for LeakyRelu {
    fn name(&self) -> &'static str {
        "leaky-relu"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = contiguous_f32(storage, layout, "leaky-relu")?;
        let slope = self.slope;
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(MIN_PER_TASK)
            .zip(x.par_chunks(MIN_PER_TASK))
            .for_each(|(o, x)| {
                // `max(v, slope v)` as candle's composition computes it, so the
                // two paths agree bit for bit; a plain slice loop vectorises.
                for (o, &v) in o.iter_mut().zip(x) {
                    *o = v.max(slope * v);
                }
            });
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }

    fn bwd(
        &self,
        arg: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let grad_res = grad_res.contiguous()?;
        let (g_storage, g_layout) = grad_res.storage_and_layout();
        let (x_storage, x_layout) = arg.storage_and_layout();
        let (Storage::Cpu(g_cpu), Storage::Cpu(x_cpu)) = (&*g_storage, &*x_storage) else {
            return Err(candle_core::Error::Msg("leaky-relu: CPU only".into()));
        };
        let g = contiguous_f32(g_cpu, g_layout, "leaky-relu")?;
        let x = contiguous_f32(x_cpu, x_layout, "leaky-relu")?;
        let (one, slope) = (1f32.to_bits(), self.slope.to_bits());
        let mut grad = vec![0f32; x.len()];
        grad.par_chunks_mut(MIN_PER_TASK)
            .zip(x.par_chunks(MIN_PER_TASK).zip(g.par_chunks(MIN_PER_TASK)))
            .for_each(|(d, (x, g))| {
                // The factor (1 or slope) picked with an integer mask: no
                // branch for random signs to mispredict (`perf` showed the
                // compiled `if` as a scalar branchy loop), and it vectorises.
                for ((d, &v), &g) in d.iter_mut().zip(x).zip(g) {
                    let mask = u32::from(v > 0.0).wrapping_neg();
                    let factor = f32::from_bits((one & mask) | (slope & !mask));
                    *d = g * factor;
                }
            });
        drop((g_storage, x_storage));
        Ok(Some(Tensor::from_vec(grad, arg.dims(), arg.device())?))
    }
}

#[cfg(test)]
mod tests {
    use super::leaky_relu;
    use candle_core::{Device, Tensor, Var};

    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut state = seed;
        (0..n)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                ((state >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
            })
            .collect()
    }

    /// Value and gradient (through a weighted sum, so every element's
    /// gradient differs) against candle's `maximum(x, 0.2 x)`.
    #[test]
    fn matches_candle_composition() {
        let dev = Device::Cpu;
        let (rows, cols) = (300, 37);
        let x = Var::from_vec(values(rows * cols, 1), (rows, cols), &dev).unwrap();
        let w = Tensor::from_vec(values(rows * cols, 2), (rows, cols), &dev).unwrap();
        let run = |fused: bool| {
            let y = if fused {
                leaky_relu(x.as_tensor(), 0.2).unwrap()
            } else {
                x.maximum(&(x.as_tensor() * 0.2).unwrap()).unwrap()
            };
            let loss = (&y * &w).unwrap().sum_all().unwrap();
            let grad = loss.backward().unwrap().get(&x).unwrap().clone();
            (
                y.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                grad.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            )
        };
        let (yf, gf) = run(true);
        let (yc, gc) = run(false);
        assert_eq!(yf, yc, "forward must be bit-identical");
        for (a, b) in gf.iter().zip(&gc) {
            assert!((a - b).abs() <= 1e-6, "grad {a} vs {b}");
        }
    }

    /// Central differences away from the kink.
    #[test]
    fn gradient_matches_finite_differences() {
        let dev = Device::Cpu;
        let xs: Vec<f32> = values(64, 3)
            .into_iter()
            .map(|v| if v.abs() < 0.05 { v + 0.1 } else { v })
            .collect();
        let w = values(64, 4);
        let x = Var::from_vec(xs.clone(), 64, &dev).unwrap();
        let wt = Tensor::from_vec(w.clone(), 64, &dev).unwrap();
        let loss = (leaky_relu(x.as_tensor(), 0.2).unwrap() * &wt)
            .unwrap()
            .sum_all()
            .unwrap();
        let grad = loss
            .backward()
            .unwrap()
            .get(&x)
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        // The op's own forward pass, summed in f64.
        let value = |xs: &[f32]| -> f64 {
            let t = Tensor::from_vec(xs.to_vec(), 64, &dev).unwrap();
            let y = leaky_relu(&t, 0.2).unwrap().to_vec1::<f32>().unwrap();
            y.iter()
                .zip(&w)
                .map(|(&a, &b)| f64::from(a) * f64::from(b))
                .sum()
        };
        let h = 1e-2f32;
        for i in 0..xs.len() {
            let (mut up, mut down) = (xs.clone(), xs.clone());
            up[i] += h;
            down[i] -= h;
            let numeric = (value(&up) - value(&down)) / (2.0 * f64::from(h));
            assert!(
                (numeric - f64::from(grad[i])).abs() < 1e-4,
                "{i}: {numeric} vs {}",
                grad[i]
            );
        }
    }

    /// A transposed (non-contiguous) input gives the transposed result.
    #[test]
    fn non_contiguous_input() {
        let dev = Device::Cpu;
        let x = Tensor::from_vec(values(12, 5), (3, 4), &dev).unwrap();
        let a = leaky_relu(&x.t().unwrap(), 0.2).unwrap();
        let b = leaky_relu(&x, 0.2).unwrap().t().unwrap();
        assert_eq!(
            a.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            b.contiguous()
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        );
    }
}
