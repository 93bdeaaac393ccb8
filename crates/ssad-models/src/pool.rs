//! 2-D max pooling with any kernel, stride and padding, differentiable.
//!
//! candle's `max_pool2d_with_stride` has no backward when kernel != stride, which
//! the ImageNet ResNet stem (3×3, stride 2, padding 1) needs. On the CPU,
//! [`max_pool2d`] runs a custom op whose backward routes each output gradient to
//! the first maximum of its window, exactly as PyTorch does. On other devices it
//! falls back to [`max_pool2d_composed`], built from candle ops that have a backward.

use crate::error::{invalid, Error, Result};
use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Shape, Tensor};
use rayon::prelude::*;

/// Kernel, stride and padding of a square max-pool window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Window {
    kernel: usize,
    stride: usize,
    padding: usize,
}

impl Window {
    fn new(kernel: usize, stride: usize, padding: usize) -> Result<Self> {
        if kernel == 0 || stride == 0 {
            return Err(invalid("kernel/stride", "must be positive"));
        }
        if 2 * padding > kernel {
            return Err(invalid(
                "padding",
                format!("{padding} exceeds half the kernel {kernel}"),
            ));
        }
        Ok(Self {
            kernel,
            stride,
            padding,
        })
    }

    fn out_len(&self, len: usize) -> Option<usize> {
        let padded = len + 2 * self.padding;
        (padded >= self.kernel).then(|| (padded - self.kernel) / self.stride + 1)
    }

    /// Input index range `[lo, hi)` covered by output position `o` (clipped to the input).
    fn span(&self, o: usize, len: usize) -> (usize, usize) {
        let start = (o * self.stride) as isize - self.padding as isize;
        let lo = start.max(0) as usize;
        let hi = ((start + self.kernel as isize).max(0) as usize).min(len);
        (lo, hi)
    }

    /// Flat index (within an `h×w` plane) of the first maximum of output (oy, ox), PyTorch's rule.
    fn argmax(&self, plane: &[f32], w: usize, h: usize, oy: usize, ox: usize) -> usize {
        let (y0, y1) = self.span(oy, h);
        let (x0, x1) = self.span(ox, w);
        let mut best = f32::NEG_INFINITY;
        let mut idx = y0 * w + x0;
        for y in y0..y1 {
            for x in x0..x1 {
                let v = plane[y * w + x];
                if v > best || v.is_nan() {
                    best = v;
                    idx = y * w + x;
                }
            }
        }
        idx
    }
}

fn dims4(shape: &Shape) -> Result<(usize, usize, usize, usize)> {
    match *shape.dims() {
        [n, c, h, w] => Ok((n, c, h, w)),
        _ => Err(Error::InputShape {
            what: "max_pool2d input",
            expected: "(B, C, H, W)".into(),
            got: shape.dims().to_vec(),
        }),
    }
}

struct MaxPool(Window);

impl CustomOp1 for MaxPool {
    fn name(&self) -> &'static str {
        "ssad-max-pool2d"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = dims4(layout.shape()).map_err(candle_core::Error::wrap)?;
        let (Some(oh), Some(ow)) = (self.0.out_len(h), self.0.out_len(w)) else {
            candle_core::bail!("max_pool2d: input {h}x{w} smaller than the kernel");
        };
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("max_pool2d: input must be contiguous");
        };
        let CpuStorage::F32(data) = storage else {
            candle_core::bail!("max_pool2d: only f32 is supported");
        };
        let src = &data[start..end];
        let mut out = vec![0f32; n * c * oh * ow];
        out.par_chunks_mut(oh * ow)
            .zip(src.par_chunks(h * w))
            .for_each(|(dst, plane)| {
                for oy in 0..oh {
                    for ox in 0..ow {
                        dst[oy * ow + ox] = plane[self.0.argmax(plane, w, h, oy, ox)];
                    }
                }
            });
        Ok((CpuStorage::F32(out), Shape::from((n, c, oh, ow))))
    }

    fn bwd(
        &self,
        arg: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let grad = grad_res.contiguous()?;
        let arg = arg.contiguous()?;
        Ok(Some(arg.apply_op2_no_bwd(&grad, &MaxPoolGrad(self.0))?))
    }
}

/// The input gradient: each output gradient added at its window's first maximum.
struct MaxPoolGrad(Window);

impl CustomOp2 for MaxPoolGrad {
    fn name(&self) -> &'static str {
        "ssad-max-pool2d-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = dims4(l1.shape()).map_err(candle_core::Error::wrap)?;
        let (_, _, oh, ow) = dims4(l2.shape()).map_err(candle_core::Error::wrap)?;
        let (Some((a0, a1)), Some((g0, g1))) = (l1.contiguous_offsets(), l2.contiguous_offsets())
        else {
            candle_core::bail!("max_pool2d backward: tensors must be contiguous");
        };
        let (CpuStorage::F32(input), CpuStorage::F32(grad)) = (s1, s2) else {
            candle_core::bail!("max_pool2d backward: only f32 is supported");
        };
        let (input, grad) = (&input[a0..a1], &grad[g0..g1]);
        let mut out = vec![0f32; n * c * h * w];
        out.par_chunks_mut(h * w)
            .zip(input.par_chunks(h * w).zip(grad.par_chunks(oh * ow)))
            .for_each(|(dst, (plane, g))| {
                for oy in 0..oh {
                    for ox in 0..ow {
                        dst[self.0.argmax(plane, w, h, oy, ox)] += g[oy * ow + ox];
                    }
                }
            });
        Ok((CpuStorage::F32(out), Shape::from((n, c, h, w))))
    }
}

fn check_input(xs: &Tensor, win: Window) -> Result<()> {
    let (_, _, h, w) = dims4(xs.shape())?;
    if win.out_len(h).is_none() || win.out_len(w).is_none() {
        return Err(Error::InputShape {
            what: "max_pool2d input",
            expected: format!(
                "spatial size >= kernel - 2*padding = {}",
                win.kernel - 2 * win.padding
            ),
            got: xs.dims().to_vec(),
        });
    }
    Ok(())
}

/// Max pooling over `kernel × kernel` windows with `stride` and implicit `-inf` `padding`,
/// differentiable (PyTorch's `F.max_pool2d(x, kernel, stride, padding)`, `ceil_mode=False`).
///
/// # Shapes
/// `(B, C, H, W)` → `(B, C, (H + 2p - k) / s + 1, (W + 2p - k) / s + 1)`.
pub fn max_pool2d(xs: &Tensor, kernel: usize, stride: usize, padding: usize) -> Result<Tensor> {
    let win = Window::new(kernel, stride, padding)?;
    check_input(xs, win)?;
    if xs.device().is_cpu() && xs.dtype() == candle_core::DType::F32 {
        Ok(xs.contiguous()?.apply_op1(MaxPool(win))?)
    } else {
        composed(xs, win)
    }
}

/// The same pooling built only from candle ops (pad, reshape, narrow, `maximum`), usable
/// on every device. Slower than [`max_pool2d`] on the CPU, and where a window holds
/// tied maxima its backward splits the gradient between them instead of routing it
/// to the first.
pub fn max_pool2d_composed(
    xs: &Tensor,
    kernel: usize,
    stride: usize,
    padding: usize,
) -> Result<Tensor> {
    let win = Window::new(kernel, stride, padding)?;
    check_input(xs, win)?;
    composed(xs, win)
}

fn composed(xs: &Tensor, win: Window) -> Result<Tensor> {
    let rows = pool_axis(xs, 2, win)?;
    pool_axis(&rows, 3, win)
}

/// Max over the windows along one spatial axis. Element `s*i + j` of the padded axis
/// is `[i + j / s, j % s]` after reshaping it to `(m, s)`, so each of the `k` window
/// taps becomes a contiguous `narrow` instead of a strided slice candle lacks.
fn pool_axis(xs: &Tensor, axis: usize, win: Window) -> Result<Tensor> {
    let len = xs.dim(axis)?;
    let out = win.out_len(len).unwrap_or(0);
    let (k, s, p) = (win.kernel, win.stride, win.padding);
    let m = out + (k - 1) / s + 1;
    let tail = m * s - len - p;
    let neg_inf = |n: usize| -> Result<Tensor> {
        let mut dims = xs.dims().to_vec();
        dims[axis] = n;
        Ok(Tensor::full(f32::NEG_INFINITY, dims.as_slice(), xs.device())?.to_dtype(xs.dtype())?)
    };
    let padded = Tensor::cat(&[&neg_inf(p)?, xs, &neg_inf(tail)?], axis)?;
    let mut split = padded.dims().to_vec();
    split[axis] = m;
    split.insert(axis + 1, s);
    let padded = padded.reshape(split)?;
    let mut acc: Option<Tensor> = None;
    for j in 0..k {
        let tap = padded
            .narrow(axis, j / s, out)?
            .narrow(axis + 1, j % s, 1)?
            .squeeze(axis + 1)?;
        acc = Some(match acc {
            None => tap,
            Some(a) => a.maximum(&tap)?,
        });
    }
    acc.ok_or_else(|| invalid("kernel", "must be positive"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn ramp(n: usize, c: usize, h: usize, w: usize) -> Tensor {
        // Distinct values in a scrambled order, so no window has ties.
        let total = n * c * h * w;
        let v: Vec<f32> = (0..total)
            .map(|i| ((i * 7919) % 1009) as f32 / 97.0 - 5.0)
            .collect();
        Tensor::from_vec(v, (n, c, h, w), &Device::Cpu).unwrap()
    }

    #[test]
    fn custom_and_composed_agree_forward() {
        for &(h, w) in &[(7, 7), (8, 6), (5, 9)] {
            let x = ramp(2, 3, h, w);
            let a = max_pool2d(&x, 3, 2, 1).unwrap();
            let b = max_pool2d_composed(&x, 3, 2, 1).unwrap();
            assert_eq!(a.dims(), &[2, 3, h.div_ceil(2), w.div_ceil(2)]);
            let d = (a - b)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert_eq!(d, 0.0);
        }
    }

    #[test]
    fn matches_candle_when_kernel_equals_stride() {
        let x = ramp(1, 2, 6, 6);
        let a = max_pool2d(&x, 2, 2, 0).unwrap();
        let b = x.max_pool2d(2).unwrap();
        let d = (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert_eq!(d, 0.0);
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let x0 = ramp(1, 2, 6, 5);
        let weights = ramp(1, 2, 3, 3).affine(0.3, 0.1).unwrap();
        for composed in [false, true] {
            let x = Var::from_tensor(&x0).unwrap();
            let pool = |t: &Tensor| {
                if composed {
                    max_pool2d_composed(t, 3, 2, 1).unwrap()
                } else {
                    max_pool2d(t, 3, 2, 1).unwrap()
                }
            };
            let loss = (pool(x.as_tensor()) * &weights).unwrap().sum_all().unwrap();
            let grads = loss.backward().unwrap();
            let g: Vec<f32> = grads
                .get(&x)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            let base: Vec<f32> = x0.flatten_all().unwrap().to_vec1().unwrap();
            let eps = 1e-3f32;
            for i in 0..base.len() {
                let f = |delta: f32| -> f32 {
                    let mut v = base.clone();
                    v[i] += delta;
                    let t = Tensor::from_vec(v, x0.shape(), &Device::Cpu).unwrap();
                    (pool(&t) * &weights)
                        .unwrap()
                        .sum_all()
                        .unwrap()
                        .to_scalar::<f32>()
                        .unwrap()
                };
                let fd = (f(eps) - f(-eps)) / (2.0 * eps);
                assert!(
                    (fd - g[i]).abs() < 1e-2,
                    "composed={composed} i={i}: fd {fd} vs grad {}",
                    g[i]
                );
            }
        }
    }

    #[test]
    fn ties_route_to_the_first_maximum_like_pytorch() {
        let x = Var::from_tensor(
            &Tensor::zeros((1, 1, 4, 4), candle_core::DType::F32, &Device::Cpu).unwrap(),
        )
        .unwrap();
        let y = max_pool2d(x.as_tensor(), 3, 2, 1).unwrap();
        let grads = y.sum_all().unwrap().backward().unwrap();
        let g: Vec<f32> = grads
            .get(&x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        // Windows start at (-1,-1), (-1,1), (1,-1), (1,1): first in-bounds elements 0, 1, 4, 5.
        let mut want = vec![0f32; 16];
        for i in [0, 1, 4, 5] {
            want[i] = 1.0;
        }
        assert_eq!(g, want);
    }

    #[test]
    fn bad_inputs_are_errors() {
        let x = ramp(1, 1, 2, 2);
        assert!(matches!(
            max_pool2d(&x, 3, 2, 0),
            Err(Error::InputShape { .. })
        ));
        assert!(matches!(
            max_pool2d(&x, 3, 0, 1),
            Err(Error::InvalidConfig { .. })
        ));
        assert!(matches!(
            max_pool2d(&x, 3, 2, 2),
            Err(Error::InvalidConfig { .. })
        ));
        let x3 = Tensor::zeros((2, 3, 4), candle_core::DType::F32, &Device::Cpu).unwrap();
        assert!(matches!(
            max_pool2d(&x3, 3, 2, 1),
            Err(Error::InputShape { .. })
        ));
    }
}
