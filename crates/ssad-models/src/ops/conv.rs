//! 2-D convolution as im2col + GEMM, with input and weight gradients as
//! GEMM + col2im, parallel over images.

use candle_core::backend::BackendStorage;
use candle_core::{bail, CpuStorage, CustomOp2, DType, Layout, Shape, Tensor};
use gemm::Parallelism;
use rayon::prelude::*;

use super::contiguous;

/// Convolves `xs` `(B, C, H, W)` with `weight` `(O, C, KH, KW)` (no bias,
/// no dilation, no groups), zero-padding every side by `padding`.
///
/// On the CPU in f32 or f64 this runs the GEMM-based custom op, whose backward
/// skips the input gradient when `xs` is not part of a gradient graph (the
/// image batch); elsewhere, or after [`super::set_custom_cpu_ops`]`(false)`,
/// it is candle's `conv2d`.
///
/// ```
/// use candle_core::{Device, Tensor};
/// let xs = Tensor::ones((2, 3, 8, 8), candle_core::DType::F32, &Device::Cpu)?;
/// let w = Tensor::ones((4, 3, 3, 3), candle_core::DType::F32, &Device::Cpu)?;
/// let ys = ssad_models::ops::conv2d(&xs, &w, 2, 1)?;
/// assert_eq!(ys.dims(), &[2, 4, 4, 4]);
/// // The centre taps see all 27 inputs.
/// assert_eq!(ys.get(0)?.get(0)?.get(1)?.get(1)?.to_scalar::<f32>()?, 27.0);
/// # Ok::<(), candle_core::Error>(())
/// ```
pub fn conv2d(
    xs: &Tensor,
    weight: &Tensor,
    stride: usize,
    padding: usize,
) -> candle_core::Result<Tensor> {
    let supported = super::custom_cpu_ops()
        && xs.device().is_cpu()
        && matches!(xs.dtype(), DType::F32 | DType::F64);
    if !supported {
        return xs.conv2d(weight, padding, stride, 1, 1);
    }
    let geometry = Geometry::new(xs.dims(), weight.dims(), stride, padding)?;
    let xs = xs.contiguous()?;
    let weight = weight.contiguous()?;
    xs.apply_op2(&weight, Conv2dFwd(geometry))
}

/// Every size of one convolution, checked once.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    batch: usize,
    in_c: usize,
    in_h: usize,
    in_w: usize,
    out_c: usize,
    k_h: usize,
    k_w: usize,
    out_h: usize,
    out_w: usize,
    stride: usize,
    padding: usize,
}

impl Geometry {
    fn new(x: &[usize], w: &[usize], stride: usize, padding: usize) -> candle_core::Result<Self> {
        let (&[batch, in_c, in_h, in_w], &[out_c, w_c, k_h, k_w]) = (x, w) else {
            bail!("conv2d: expected (B, C, H, W) input and (O, C, KH, KW) weight, got {x:?} and {w:?}")
        };
        if w_c != in_c || stride == 0 || k_h == 0 || k_w == 0 {
            bail!(
                "conv2d: input {x:?}, weight {w:?}, stride {stride}: channel mismatch or zero size"
            )
        }
        if in_h + 2 * padding < k_h || in_w + 2 * padding < k_w {
            bail!("conv2d: kernel {k_h}x{k_w} larger than padded input {in_h}x{in_w} (padding {padding})")
        }
        Ok(Self {
            batch,
            in_c,
            in_h,
            in_w,
            out_c,
            k_h,
            k_w,
            out_h: (in_h + 2 * padding - k_h) / stride + 1,
            out_w: (in_w + 2 * padding - k_w) / stride + 1,
            stride,
            padding,
        })
    }

    /// Rows of the im2col matrix (the GEMM reduction length).
    fn col_rows(&self) -> usize {
        self.in_c * self.k_h * self.k_w
    }

    fn out_pixels(&self) -> usize {
        self.out_h * self.out_w
    }

    fn in_image(&self) -> usize {
        self.in_c * self.in_h * self.in_w
    }

    fn out_image(&self) -> usize {
        self.out_c * self.out_pixels()
    }

    /// A 1×1, stride-1, unpadded convolution is a plain matmul on the image itself.
    fn is_pointwise(&self) -> bool {
        self.k_h == 1 && self.k_w == 1 && self.stride == 1 && self.padding == 0
    }

    /// Half-open range of output columns whose input column `ox * stride + kj - padding`
    /// lies inside the image.
    fn valid_cols(&self, kj: usize) -> (usize, usize) {
        let offset = kj as isize - self.padding as isize;
        let s = self.stride as isize;
        // Smallest ox with ox*s + offset >= 0.
        let lo = if offset >= 0 {
            0
        } else {
            (-offset + s - 1) / s
        };
        // Smallest ox with ox*s + offset >= in_w.
        let hi = (self.in_w as isize - offset + s - 1).div_euclid(s);
        let lo = (lo.max(0) as usize).min(self.out_w);
        let hi = (hi.max(0) as usize).min(self.out_w);
        (lo, hi.max(lo))
    }

    /// Input row for output row `oy` and kernel row `ki`, if inside the image.
    fn input_row(&self, oy: usize, ki: usize) -> Option<usize> {
        let iy = (oy * self.stride + ki).checked_sub(self.padding)?;
        (iy < self.in_h).then_some(iy)
    }
}

/// The float types the kernels run in.
trait Float: Copy + Send + Sync + 'static + std::ops::AddAssign + std::ops::Add<Output = Self> {
    const ZERO: Self;
    const ONE: Self;

    /// Runs `f` on this thread's scratch buffer of `len` elements (contents
    /// unspecified), grown as needed and kept for the next call.
    fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [Self]) -> R) -> R;
}

/// One scratch buffer per thread and type: the im2col matrix of a 64-channel
/// 32×32 layer is 2.4 MB, which glibc serves with `mmap` and returns at once,
/// so a fresh one per call costs a page fault per 4 KiB on every call.
macro_rules! thread_scratch {
    ($t:ty, $name:ident) => {
        thread_local! {
            static $name: std::cell::RefCell<Vec<$t>> = const { std::cell::RefCell::new(Vec::new()) };
        }

        impl Float for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;

            fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [Self]) -> R) -> R {
                $name.with(|cell| match cell.try_borrow_mut() {
                    Ok(mut buf) => {
                        if buf.len() < len {
                            buf.resize(len, 0.0);
                        }
                        f(&mut buf[..len])
                    }
                    // Re-entered on this thread (rayon ran another convolution
                    // while this one waited in a parallel GEMM): use a fresh buffer.
                    Err(_) => f(&mut vec![0.0; len]),
                })
            }
        }
    };
}

thread_scratch!(f32, SCRATCH_F32);
thread_scratch!(f64, SCRATCH_F64);

/// A row-major or transposed operand: pointer with row and column strides.
#[derive(Clone, Copy)]
struct Operand<T> {
    ptr: *const T,
    rs: isize,
    cs: isize,
}

impl<T> Operand<T> {
    /// `rows × cols` stored row-major.
    fn row_major(data: &[T], cols: usize) -> Self {
        Self {
            ptr: data.as_ptr(),
            rs: cols as isize,
            cs: 1,
        }
    }

    /// The transpose of a `cols × rows` row-major matrix.
    fn transposed(data: &[T], rows: usize) -> Self {
        Self {
            ptr: data.as_ptr(),
            rs: 1,
            cs: rows as isize,
        }
    }
}

/// `dst (m × n, row-major) (+)= lhs (m × k) · rhs (k × n)`.
///
/// Callers build `lhs`/`rhs` from slices holding at least `m × k` and `k × n`
/// elements under their strides, which keeps every access of `gemm` in bounds.
fn matmul<T: Float>(
    dst: &mut [T],
    (m, n, k): (usize, usize, usize),
    accumulate: bool,
    lhs: Operand<T>,
    rhs: Operand<T>,
    parallelism: Parallelism,
) {
    debug_assert!(dst.len() >= m * n);
    // SAFETY: `dst` holds m*n elements with row stride n; the operands point into
    // live slices sized for their shapes and strides (see `Operand`'s callers).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.ptr,
            lhs.cs,
            lhs.rs,
            rhs.ptr,
            rhs.cs,
            rhs.rs,
            T::ONE,
            T::ONE,
            false,
            false,
            false,
            parallelism,
        )
    }
}

/// Gathers one image `(C, H, W)` into its im2col matrix `(C·KH·KW, OH·OW)`.
fn im2col<T: Float>(g: &Geometry, image: &[T], col: &mut [T]) {
    let n = g.out_pixels();
    for (row, col_row) in col.chunks_exact_mut(n).enumerate() {
        let c = row / (g.k_h * g.k_w);
        let ki = (row / g.k_w) % g.k_h;
        let kj = row % g.k_w;
        let channel = &image[c * g.in_h * g.in_w..(c + 1) * g.in_h * g.in_w];
        let (lo, hi) = g.valid_cols(kj);
        for (oy, out) in col_row.chunks_exact_mut(g.out_w).enumerate() {
            let Some(iy) = g.input_row(oy, ki) else {
                out.fill(T::ZERO);
                continue;
            };
            out[..lo].fill(T::ZERO);
            out[hi..].fill(T::ZERO);
            if lo == hi {
                continue;
            }
            let first = iy * g.in_w + lo * g.stride + kj - g.padding;
            if g.stride == 1 {
                out[lo..hi].copy_from_slice(&channel[first..first + hi - lo]);
            } else {
                let src = channel[first..].iter().step_by(g.stride);
                for (d, &s) in out[lo..hi].iter_mut().zip(src) {
                    *d = s;
                }
            }
        }
    }
}

/// Scatters an im2col-shaped gradient back onto one image (the adjoint of [`im2col`]).
fn col2im<T: Float>(g: &Geometry, col: &[T], image: &mut [T]) {
    image.fill(T::ZERO);
    let n = g.out_pixels();
    for (row, col_row) in col.chunks_exact(n).enumerate() {
        let c = row / (g.k_h * g.k_w);
        let ki = (row / g.k_w) % g.k_h;
        let kj = row % g.k_w;
        let channel = &mut image[c * g.in_h * g.in_w..(c + 1) * g.in_h * g.in_w];
        let (lo, hi) = g.valid_cols(kj);
        if lo == hi {
            continue;
        }
        for (oy, src) in col_row.chunks_exact(g.out_w).enumerate() {
            let Some(iy) = g.input_row(oy, ki) else {
                continue;
            };
            let first = iy * g.in_w + lo * g.stride + kj - g.padding;
            if g.stride == 1 {
                for (d, &s) in channel[first..first + hi - lo].iter_mut().zip(&src[lo..hi]) {
                    *d += s;
                }
            } else {
                let dst = channel[first..].iter_mut().step_by(g.stride);
                for (d, &s) in dst.zip(&src[lo..hi]) {
                    *d += s;
                }
            }
        }
    }
}

/// How a batch is spread over threads: whole images per thread when there are
/// enough of them, otherwise one image at a time with a multi-threaded GEMM.
fn split(batch: usize) -> Parallelism {
    if batch >= rayon::current_num_threads() {
        Parallelism::None
    } else {
        Parallelism::Rayon(0)
    }
}

/// Runs `per_image(image_index, out_chunk, scratch)` for each image, in parallel
/// when the batch is large enough; `scratch` is the thread's reused buffer.
fn for_each_image<T: Float>(
    out: &mut [T],
    out_image: usize,
    scratch_len: usize,
    per_image: impl Fn(usize, &mut [T], &mut [T], Parallelism) + Send + Sync,
) {
    let batch = out.len() / out_image.max(1);
    match split(batch) {
        Parallelism::None => out
            .par_chunks_mut(out_image)
            .enumerate()
            .for_each(|(b, chunk)| {
                T::with_scratch(scratch_len, |scratch| {
                    per_image(b, chunk, scratch, Parallelism::None)
                })
            }),
        inner => T::with_scratch(scratch_len, |scratch| {
            for (b, chunk) in out.chunks_mut(out_image).enumerate() {
                per_image(b, chunk, scratch, inner);
            }
        }),
    }
}

fn forward<T: Float>(g: &Geometry, x: &[T], w: &[T]) -> Vec<T> {
    let (k, n) = (g.col_rows(), g.out_pixels());
    let mut out = vec![T::ZERO; g.batch * g.out_image()];
    if out.is_empty() {
        return out;
    }
    let scratch = if g.is_pointwise() { 0 } else { k * n };
    for_each_image(&mut out, g.out_image(), scratch, |b, out_b, col, par| {
        let image = &x[b * g.in_image()..(b + 1) * g.in_image()];
        let rhs = if g.is_pointwise() {
            Operand::row_major(image, n)
        } else {
            im2col(g, image, col);
            Operand::row_major(col, n)
        };
        let lhs = Operand::row_major(w, k);
        matmul(out_b, (g.out_c, n, k), false, lhs, rhs, par);
    });
    out
}

fn input_grad<T: Float>(g: &Geometry, grad: &[T], w: &[T]) -> Vec<T> {
    let (k, n) = (g.col_rows(), g.out_pixels());
    let mut dx = vec![T::ZERO; g.batch * g.in_image()];
    if dx.is_empty() {
        return dx;
    }
    let scratch = if g.is_pointwise() { 0 } else { k * n };
    for_each_image(&mut dx, g.in_image(), scratch, |b, dx_b, dcol, par| {
        let lhs = Operand::transposed(w, k);
        let grad_b = Operand::row_major(&grad[b * g.out_image()..(b + 1) * g.out_image()], n);
        if g.is_pointwise() {
            matmul(dx_b, (k, n, g.out_c), false, lhs, grad_b, par);
        } else {
            matmul(dcol, (k, n, g.out_c), false, lhs, grad_b, par);
            col2im(g, dcol, dx_b);
        }
    });
    dx
}

fn weight_grad<T: Float>(g: &Geometry, x: &[T], grad: &[T]) -> Vec<T> {
    let (k, n) = (g.col_rows(), g.out_pixels());
    let scratch = if g.is_pointwise() { 0 } else { k * n };
    // Accumulates `grad_b · col_bᵀ` over the images `range` into `dw`.
    let accumulate = |range: std::ops::Range<usize>, dw: &mut [T], col: &mut [T], par| {
        for b in range {
            let image = &x[b * g.in_image()..(b + 1) * g.in_image()];
            let rhs = if g.is_pointwise() {
                Operand::transposed(image, n)
            } else {
                im2col(g, image, col);
                Operand::transposed(col, n)
            };
            let lhs = Operand::row_major(&grad[b * g.out_image()..(b + 1) * g.out_image()], n);
            matmul(dw, (g.out_c, k, n), true, lhs, rhs, par);
        }
    };
    let mut dw = vec![T::ZERO; g.out_c * k];
    if dw.is_empty() || g.batch == 0 {
        return dw;
    }
    match split(g.batch) {
        Parallelism::None => {
            let threads = rayon::current_num_threads().min(g.batch);
            let per = g.batch.div_ceil(threads);
            let partials: Vec<Vec<T>> = (0..threads)
                .into_par_iter()
                .map(|t| {
                    let mut part = vec![T::ZERO; g.out_c * k];
                    let range = t * per..((t + 1) * per).min(g.batch);
                    T::with_scratch(scratch, |col| {
                        accumulate(range, &mut part, col, Parallelism::None)
                    });
                    part
                })
                .collect();
            for part in &partials {
                for (d, &p) in dw.iter_mut().zip(part) {
                    *d += p;
                }
            }
        }
        inner => T::with_scratch(scratch, |col| accumulate(0..g.batch, &mut dw, col, inner)),
    }
    dw
}

/// Runs `kernel` on two storages of the same float type.
fn dispatch2(
    what: &'static str,
    (s1, l1): (&CpuStorage, &Layout),
    (s2, l2): (&CpuStorage, &Layout),
    kernel32: impl Fn(&[f32], &[f32]) -> Vec<f32>,
    kernel64: impl Fn(&[f64], &[f64]) -> Vec<f64>,
) -> candle_core::Result<CpuStorage> {
    Ok(match (s1, s2) {
        (CpuStorage::F32(a), CpuStorage::F32(b)) => {
            CpuStorage::F32(kernel32(contiguous(a, l1, what)?, contiguous(b, l2, what)?))
        }
        (CpuStorage::F64(a), CpuStorage::F64(b)) => {
            CpuStorage::F64(kernel64(contiguous(a, l1, what)?, contiguous(b, l2, what)?))
        }
        _ => bail!(
            "{what}: unsupported dtypes {:?} and {:?} (f32 or f64, both the same)",
            s1.dtype(),
            s2.dtype()
        ),
    })
}

fn check_dims(what: &str, got: &[usize], expected: [usize; 4]) -> candle_core::Result<()> {
    if got != expected {
        bail!("{what}: expected shape {expected:?}, got {got:?}")
    }
    Ok(())
}

/// Forward convolution `(x, w) -> y`.
struct Conv2dFwd(Geometry);

impl CustomOp2 for Conv2dFwd {
    fn name(&self) -> &'static str {
        "ssad-conv2d"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = &self.0;
        check_dims("conv2d input", l1.dims(), [g.batch, g.in_c, g.in_h, g.in_w])?;
        check_dims("conv2d weight", l2.dims(), [g.out_c, g.in_c, g.k_h, g.k_w])?;
        let out = dispatch2(
            "conv2d",
            (s1, l1),
            (s2, l2),
            |x, w| forward(g, x, w),
            |x, w| forward(g, x, w),
        )?;
        Ok((out, Shape::from((g.batch, g.out_c, g.out_h, g.out_w))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _y: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        // The image batch has no history and is no variable: its gradient
        // would be thrown away, and it costs as much as the weight gradient.
        let dx = if x.track_op() {
            Some(grad.apply_op2_no_bwd(w, &Conv2dInputGrad(self.0))?)
        } else {
            None
        };
        let dw = if w.track_op() {
            Some(x.apply_op2_no_bwd(&grad, &Conv2dWeightGrad(self.0))?)
        } else {
            None
        };
        Ok((dx, dw))
    }
}

/// Input gradient `(dy, w) -> dx`.
struct Conv2dInputGrad(Geometry);

impl CustomOp2 for Conv2dInputGrad {
    fn name(&self) -> &'static str {
        "ssad-conv2d-input-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = &self.0;
        check_dims(
            "conv2d output gradient",
            l1.dims(),
            [g.batch, g.out_c, g.out_h, g.out_w],
        )?;
        check_dims("conv2d weight", l2.dims(), [g.out_c, g.in_c, g.k_h, g.k_w])?;
        let dx = dispatch2(
            "conv2d input gradient",
            (s1, l1),
            (s2, l2),
            |dy, w| input_grad(g, dy, w),
            |dy, w| input_grad(g, dy, w),
        )?;
        Ok((dx, Shape::from((g.batch, g.in_c, g.in_h, g.in_w))))
    }
}

/// Weight gradient `(x, dy) -> dw`.
struct Conv2dWeightGrad(Geometry);

impl CustomOp2 for Conv2dWeightGrad {
    fn name(&self) -> &'static str {
        "ssad-conv2d-weight-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = &self.0;
        check_dims("conv2d input", l1.dims(), [g.batch, g.in_c, g.in_h, g.in_w])?;
        check_dims(
            "conv2d output gradient",
            l2.dims(),
            [g.batch, g.out_c, g.out_h, g.out_w],
        )?;
        let dw = dispatch2(
            "conv2d weight gradient",
            (s1, l1),
            (s2, l2),
            |x, dy| weight_grad(g, x, dy),
            |x, dy| weight_grad(g, x, dy),
        )?;
        Ok((dw, Shape::from((g.out_c, g.in_c, g.k_h, g.k_w))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_cols_matches_a_direct_scan() {
        for (in_w, k, stride, padding) in [
            (5, 3, 1, 1),
            (5, 3, 2, 1),
            (4, 1, 2, 0),
            (1, 3, 1, 1),
            (2, 3, 2, 2),
        ] {
            let g = Geometry::new(&[1, 1, in_w, in_w], &[1, 1, k, k], stride, padding).unwrap();
            for kj in 0..k {
                let inside: Vec<usize> = (0..g.out_w)
                    .filter(|&ox| {
                        let ix = (ox * stride + kj) as isize - padding as isize;
                        ix >= 0 && (ix as usize) < in_w
                    })
                    .collect();
                let (lo, hi) = g.valid_cols(kj);
                assert_eq!(
                    inside,
                    (lo..hi).collect::<Vec<_>>(),
                    "{in_w} {k} {stride} {padding} {kj}"
                );
            }
        }
    }
}
