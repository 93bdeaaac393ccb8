//! BatchNorm (optionally followed by ReLU) as one CPU op with its own backward.
//!
//! candle composes a training-mode BatchNorm from about fifteen tensor ops
//! (transpose, copy, mean, subtract, square, mean, divide, multiply, add, ...),
//! each allocating a full-size output, and differentiates every one of them.
//! Here the forward is three passes over each channel (sum, centred sum of
//! squares, write), run channel by channel so that the second and third passes
//! find the channel in cache, and the backward is two (two sums, write).

use std::sync::{Arc, OnceLock};

use candle_core::backend::BackendStorage;
use candle_core::{bail, CpuStorage, CustomOp3, DType, Layout, Shape, Storage, Tensor, Var};
use candle_core::{ModuleT, WithDType};
use rayon::prelude::*;

use super::contiguous;

/// Settings of [`batch_norm`]; the default is PyTorch's (`eps` 1e-5,
/// `momentum` 0.1) without ReLU.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchNormOptions {
    /// Added to the variance under the square root.
    pub eps: f64,
    /// Weight of the batch statistics in the running-stat update (PyTorch's
    /// `momentum`: `running = (1 - momentum) * running + momentum * batch`).
    pub momentum: f64,
    /// Apply ReLU to the output inside the same op (gradient 0 where the
    /// output is 0, as in PyTorch).
    pub relu: bool,
}

impl Default for BatchNormOptions {
    fn default() -> Self {
        Self {
            eps: 1e-5,
            momentum: 0.1,
            relu: false,
        }
    }
}

/// BatchNorm over dimension 1 of `xs` `(N, C, ...)`, as PyTorch's
/// `BatchNorm{1,2}d` followed by an optional ReLU.
///
/// In training mode (`train`) it normalises with the batch statistics of each
/// channel (over N and every dimension after C) and updates `running_mean` and
/// `running_var` in place with the *unbiased* batch variance; otherwise it
/// normalises with the running statistics. `weight` and `bias` are `(C,)`.
///
/// On the CPU in f32/f64 this is one fused custom op; elsewhere (CUDA), or
/// after [`super::set_custom_cpu_ops`]`(false)`, it is candle's
/// `candle_nn::BatchNorm` (+ `relu`).
///
/// ```
/// use candle_core::{Device, Tensor, Var};
/// use ssad_models::ops::{batch_norm, BatchNormOptions};
/// let dev = Device::Cpu;
/// let xs = Tensor::new(&[[1f32, 5.], [3., 5.]], &dev)?; // (N = 2, C = 2)
/// let (w, b) = (Tensor::ones(2, candle_core::DType::F32, &dev)?, Tensor::zeros(2, candle_core::DType::F32, &dev)?);
/// let mean = Var::zeros(2, candle_core::DType::F32, &dev)?;
/// let var = Var::ones(2, candle_core::DType::F32, &dev)?;
/// let ys = batch_norm(&xs, &w, &b, &mean, &var, true, BatchNormOptions::default())?;
/// let col0: Vec<f32> = ys.narrow(1, 0, 1)?.flatten_all()?.to_vec1()?;
/// assert!((col0[0] + 1.0).abs() < 1e-4 && (col0[1] - 1.0).abs() < 1e-4);
/// // running mean 0.9·0 + 0.1·2; running variance 0.9·1 + 0.1·2 (unbiased).
/// let rm: Vec<f32> = mean.as_tensor().to_vec1()?;
/// let rv: Vec<f32> = var.as_tensor().to_vec1()?;
/// assert!((rm[0] - 0.2).abs() < 1e-6 && (rv[0] - 1.1).abs() < 1e-6);
/// # Ok::<(), candle_core::Error>(())
/// ```
pub fn batch_norm(
    xs: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    running_mean: &Var,
    running_var: &Var,
    train: bool,
    opts: BatchNormOptions,
) -> candle_core::Result<Tensor> {
    let dims = xs.dims();
    let (n, c) = match dims {
        [n, c, ..] => (*n, *c),
        _ => bail!("batch_norm: input must be (N, C, ...), got {dims:?}"),
    };
    let spatial: usize = dims[2..].iter().product();
    for (what, t) in [
        ("weight", weight),
        ("bias", bias),
        ("running mean", running_mean.as_tensor()),
        ("running variance", running_var.as_tensor()),
    ] {
        if t.dims() != [c] {
            bail!("batch_norm: {what} must be ({c},), got {:?}", t.dims())
        }
    }
    if !(0.0..=1.0).contains(&opts.momentum) || opts.eps.is_nan() || opts.eps < 0.0 {
        bail!(
            "batch_norm: momentum {} must lie in [0, 1] and eps {} be >= 0",
            opts.momentum,
            opts.eps
        )
    }
    let count = n * spatial;
    if train && count < 2 {
        bail!("batch_norm: training mode needs more than one value per channel, got {dims:?}")
    }
    let dtype = xs.dtype();
    let supported = super::custom_cpu_ops()
        && xs.device().is_cpu()
        && matches!(dtype, DType::F32 | DType::F64)
        && [
            weight,
            bias,
            running_mean.as_tensor(),
            running_var.as_tensor(),
        ]
        .iter()
        .all(|t| t.dtype() == dtype && t.device().is_cpu());
    if !supported {
        return stock(xs, weight, bias, running_mean, running_var, train, opts);
    }
    let geometry = Geometry {
        batch: n,
        channels: c,
        spatial,
    };
    let xs = xs.contiguous()?;
    let (weight, bias) = (weight.contiguous()?, bias.contiguous()?);
    let to_f64 = |t: &Tensor| t.to_dtype(DType::F64)?.to_vec1::<f64>();
    if train {
        let saved = Arc::new(OnceLock::new());
        let op = BatchNormOp {
            g: geometry,
            eps: opts.eps,
            relu: opts.relu,
            stats: Stats::Batch(saved.clone()),
        };
        let ys = xs.apply_op3(&weight, &bias, op)?;
        let Some(batch) = saved.get() else {
            bail!("batch_norm: the forward pass left no batch statistics")
        };
        // PyTorch's update: the biased variance normalises, the unbiased one is tracked.
        let m = opts.momentum;
        let unbias = count as f64 / (count - 1) as f64;
        let update = |running: &Var, batch: &[f64], scale: f64| -> candle_core::Result<()> {
            let old = to_f64(running.as_tensor())?;
            let new: Vec<f64> = old
                .iter()
                .zip(batch)
                .map(|(&r, &b)| (1.0 - m) * r + m * scale * b)
                .collect();
            running.set(&Tensor::from_vec(new, c, xs.device())?.to_dtype(dtype)?)
        };
        update(running_mean, &batch.mean, 1.0)?;
        update(running_var, &batch.var, unbias)?;
        Ok(ys)
    } else {
        let mean = to_f64(running_mean.as_tensor())?;
        let var = to_f64(running_var.as_tensor())?;
        let op = BatchNormOp {
            g: geometry,
            eps: opts.eps,
            relu: opts.relu,
            stats: Stats::Running(ChannelStats { mean, var }),
        };
        xs.apply_op3(&weight, &bias, op)
    }
}

/// candle's own composition, for devices and dtypes the fused op does not cover.
fn stock(
    xs: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    running_mean: &Var,
    running_var: &Var,
    train: bool,
    opts: BatchNormOptions,
) -> candle_core::Result<Tensor> {
    // The running-stat tensors are variables, so candle's BatchNorm shares
    // (and updates) their storage.
    let bn = candle_nn::BatchNorm::new_with_momentum(
        weight.dim(0)?,
        running_mean.as_tensor().clone(),
        running_var.as_tensor().clone(),
        weight.clone(),
        bias.clone(),
        opts.eps,
        opts.momentum,
    )?;
    let ys = bn.forward_t(xs, train)?;
    if opts.relu {
        ys.relu()
    } else {
        Ok(ys)
    }
}

/// `(N, C, S)`: batch, channels, values per channel and image.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    batch: usize,
    channels: usize,
    spatial: usize,
}

impl Geometry {
    fn len(&self) -> usize {
        self.batch * self.channels * self.spatial
    }

    /// Values per channel over the batch.
    fn count(&self) -> usize {
        self.batch * self.spatial
    }
}

/// Per-channel mean and biased variance, in f64.
#[derive(Debug, Clone)]
struct ChannelStats {
    mean: Vec<f64>,
    var: Vec<f64>,
}

#[derive(Debug)]
enum Stats {
    /// Training: computed by the forward pass, read by the backward pass and
    /// by the running-stat update.
    Batch(Arc<OnceLock<ChannelStats>>),
    /// Evaluation: the running statistics.
    Running(ChannelStats),
}

/// `(x, weight, bias) -> y`.
struct BatchNormOp {
    g: Geometry,
    eps: f64,
    relu: bool,
    stats: Stats,
}

/// Splits `data` `(N, C, S)` into the `N` slices of length `S` of each channel.
fn by_channel<'a, T>(data: &'a [T], g: &Geometry) -> Vec<Vec<&'a [T]>> {
    let mut groups: Vec<Vec<&[T]>> = (0..g.channels)
        .map(|_| Vec::with_capacity(g.batch))
        .collect();
    if g.spatial > 0 {
        for (i, chunk) in data.chunks_exact(g.spatial).enumerate() {
            groups[i % g.channels].push(chunk);
        }
    }
    groups
}

/// The mutable counterpart of [`by_channel`].
fn by_channel_mut<'a, T>(data: &'a mut [T], g: &Geometry) -> Vec<Vec<&'a mut [T]>> {
    let mut groups: Vec<Vec<&mut [T]>> = (0..g.channels)
        .map(|_| Vec::with_capacity(g.batch))
        .collect();
    if g.spatial > 0 {
        for (i, chunk) in data.chunks_exact_mut(g.spatial).enumerate() {
            groups[i % g.channels].push(chunk);
        }
    }
    groups
}

/// Lanes of the partial sums: independent accumulators the compiler can
/// vectorise, added up in f64 at the end of each slice.
const LANES: usize = 8;

/// `Σ f(v)` over `data`, accumulated in `T` per slice and in f64 across slices.
#[inline]
fn sum_by<T: WithDType>(data: &[T], f: impl Fn(T) -> T) -> f64 {
    let mut acc = [T::from_f64(0.0); LANES];
    let mut chunks = data.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (a, &v) in acc.iter_mut().zip(chunk) {
            *a += f(v);
        }
    }
    let tail: f64 = chunks.remainder().iter().map(|&v| f(v).to_f64()).sum();
    acc.iter().map(|a| a.to_f64()).sum::<f64>() + tail
}

/// `(Σ g', Σ g'·(x - mean))` with `g' = g`, or `g' = g·[y > 0]` after a ReLU.
#[inline]
fn grad_sums<T: WithDType>(g: &[T], x: &[T], y: &[T], mean: T, relu: bool) -> (f64, f64) {
    let zero = T::from_f64(0.0);
    let (mut sg, mut sgx) = ([zero; LANES], [zero; LANES]);
    let (mut tail_g, mut tail_gx) = (0.0, 0.0);
    let masked = |g: T, y: T| if relu && y <= zero { zero } else { g };
    let (gc, xc, yc) = (
        g.chunks_exact(LANES),
        x.chunks_exact(LANES),
        y.chunks_exact(LANES),
    );
    let tail_start = g.len() - gc.remainder().len();
    for ((gk, xk), yk) in gc.zip(xc).zip(yc) {
        for l in 0..LANES {
            let gv = masked(gk[l], yk[l]);
            sg[l] += gv;
            sgx[l] += gv * (xk[l] - mean);
        }
    }
    for i in tail_start..g.len() {
        let gv = masked(g[i], y[i]);
        tail_g += gv.to_f64();
        tail_gx += (gv * (x[i] - mean)).to_f64();
    }
    let total = |a: [T; LANES]| a.iter().map(|v| v.to_f64()).sum::<f64>();
    (total(sg) + tail_g, total(sgx) + tail_gx)
}

impl BatchNormOp {
    fn forward<T: WithDType>(&self, x: &[T], w: &[T], b: &[T]) -> Vec<T> {
        let g = &self.g;
        let zero = T::from_f64(0.0);
        let mut y = vec![zero; g.len()];
        let count = g.count() as f64;
        let xs = by_channel(x, g);
        let ys = by_channel_mut(&mut y, g);
        let stats: Vec<(f64, f64)> = xs
            .into_par_iter()
            .zip(ys)
            .enumerate()
            .map(|(c, (xs, mut ys))| {
                let (mean, var) = match &self.stats {
                    Stats::Running(s) => (s.mean[c], s.var[c]),
                    Stats::Batch(_) => {
                        let sum: f64 = xs.iter().map(|s| sum_by::<T>(s, |v| v)).sum();
                        let mean = sum / count;
                        let m = T::from_f64(mean);
                        let ss: f64 = xs
                            .iter()
                            .map(|s| {
                                sum_by::<T>(s, |v| {
                                    let d = v - m;
                                    d * d
                                })
                            })
                            .sum();
                        (mean, ss / count)
                    }
                };
                let scale = w[c].to_f64() / (var + self.eps).sqrt();
                let shift = b[c].to_f64() - mean * scale;
                let (scale, shift) = (T::from_f64(scale), T::from_f64(shift));
                for (src, dst) in xs.iter().zip(ys.iter_mut()) {
                    for (d, &v) in dst.iter_mut().zip(src.iter()) {
                        let o = v * scale + shift;
                        *d = if self.relu && o < zero { zero } else { o };
                    }
                }
                (mean, var)
            })
            .collect();
        if let Stats::Batch(saved) = &self.stats {
            let (mean, var) = stats.into_iter().unzip();
            // Each call builds its own op and runs its forward once, so this
            // first value is the only one.
            let _ = saved.set(ChannelStats { mean, var });
        }
        y
    }

    /// `(dx, dw, db)`; `dx` only when `need_dx`.
    fn backward<T: WithDType>(
        &self,
        (x, y, grad, w): (&[T], &[T], &[T], &[T]),
        stats: &ChannelStats,
        need_dx: bool,
    ) -> (Option<Vec<T>>, Vec<T>, Vec<T>) {
        let g = &self.g;
        let count = g.count() as f64;
        let zero = T::from_f64(0.0);
        let train = matches!(self.stats, Stats::Batch(_));
        let mut dx = if need_dx {
            vec![zero; g.len()]
        } else {
            Vec::new()
        };
        let mut dx_groups = if need_dx {
            by_channel_mut(&mut dx, g)
        } else {
            (0..g.channels).map(|_| Vec::new()).collect()
        };
        let (xs, ys, gs) = (by_channel(x, g), by_channel(y, g), by_channel(grad, g));
        let sums: Vec<(T, T)> = dx_groups
            .par_iter_mut()
            .enumerate()
            .map(|(c, dxs)| {
                let mean = T::from_f64(stats.mean[c]);
                let invstd = 1.0 / (stats.var[c] + self.eps).sqrt();
                let (mut sg, mut sgx) = (0.0, 0.0);
                for ((gk, xk), yk) in gs[c].iter().zip(&xs[c]).zip(&ys[c]) {
                    let (a, b) = grad_sums(gk, xk, yk, mean, self.relu);
                    sg += a;
                    sgx += b;
                }
                let (db, dw) = (sg, sgx * invstd);
                if need_dx {
                    let a = w[c].to_f64() * invstd;
                    // Training: dx = a·(g' - Σg'/M) - a·invstd·(Σg'x̂/M)·(x - mean);
                    // evaluation: the statistics are constants, dx = a·g'.
                    let (shift, slope) = if train {
                        (db / count, a * invstd * dw / count)
                    } else {
                        (0.0, 0.0)
                    };
                    let (a, shift, slope) =
                        (T::from_f64(a), T::from_f64(shift), T::from_f64(slope));
                    for (((dst, gk), xk), yk) in dxs.iter_mut().zip(&gs[c]).zip(&xs[c]).zip(&ys[c])
                    {
                        for (((d, &gv), &xv), &yv) in dst.iter_mut().zip(*gk).zip(*xk).zip(*yk) {
                            let gv = if self.relu && yv <= zero { zero } else { gv };
                            *d = a * (gv - shift) - slope * (xv - mean);
                        }
                    }
                }
                (T::from_f64(dw), T::from_f64(db))
            })
            .collect();
        let (dw, db) = sums.into_iter().unzip();
        (need_dx.then_some(dx), dw, db)
    }
}

/// The CPU data of `t` as `T`, or an error for another dtype or device.
fn with_cpu_slice<T: WithDType, R>(
    t: &Tensor,
    f: impl FnOnce(&[T]) -> candle_core::Result<R>,
) -> candle_core::Result<R> {
    let (storage, layout) = t.storage_and_layout();
    let Storage::Cpu(cpu) = &*storage else {
        bail!("batch_norm: backward expects CPU tensors")
    };
    f(contiguous(cpu.as_slice::<T>()?, layout, "batch_norm")?)
}

impl BatchNormOp {
    fn bwd_typed<T: WithDType>(
        &self,
        (x, w, y, grad): (&Tensor, &Tensor, &Tensor, &Tensor),
        stats: &ChannelStats,
        need_dx: bool,
    ) -> candle_core::Result<(Option<Tensor>, Tensor, Tensor)> {
        let (dx, dw, db) = with_cpu_slice::<T, _>(x, |xd| {
            with_cpu_slice::<T, _>(y, |yd| {
                with_cpu_slice::<T, _>(grad, |gd| {
                    with_cpu_slice::<T, _>(w, |wd| {
                        Ok(self.backward((xd, yd, gd, wd), stats, need_dx))
                    })
                })
            })
        })?;
        let dev = x.device();
        let dx = match dx {
            Some(v) => Some(Tensor::from_vec(v, x.shape(), dev)?),
            None => None,
        };
        let c = self.g.channels;
        Ok((
            dx,
            Tensor::from_vec(dw, c, dev)?,
            Tensor::from_vec(db, c, dev)?,
        ))
    }
}

impl CustomOp3 for BatchNormOp {
    fn name(&self) -> &'static str {
        if self.relu {
            "ssad-batch-norm-relu"
        } else {
            "ssad-batch-norm"
        }
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
        let g = &self.g;
        if l1.shape().elem_count() != g.len()
            || l2.dims() != [g.channels]
            || l3.dims() != [g.channels]
        {
            bail!(
                "batch_norm: shapes {:?}, {:?}, {:?} do not match {g:?}",
                l1.dims(),
                l2.dims(),
                l3.dims()
            )
        }
        let out = match (s1, s2, s3) {
            (CpuStorage::F32(x), CpuStorage::F32(w), CpuStorage::F32(b)) => {
                CpuStorage::F32(self.forward(
                    contiguous(x, l1, "batch_norm")?,
                    contiguous(w, l2, "batch_norm")?,
                    contiguous(b, l3, "batch_norm")?,
                ))
            }
            (CpuStorage::F64(x), CpuStorage::F64(w), CpuStorage::F64(b)) => {
                CpuStorage::F64(self.forward(
                    contiguous(x, l1, "batch_norm")?,
                    contiguous(w, l2, "batch_norm")?,
                    contiguous(b, l3, "batch_norm")?,
                ))
            }
            _ => bail!(
                "batch_norm: unsupported dtypes {:?}, {:?}, {:?} (f32 or f64, all the same)",
                s1.dtype(),
                s2.dtype(),
                s3.dtype()
            ),
        };
        Ok((out, l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        y: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let stats = match &self.stats {
            Stats::Running(s) => s,
            Stats::Batch(saved) => match saved.get() {
                Some(s) => s,
                None => bail!("batch_norm: backward before forward"),
            },
        };
        let grad = grad.contiguous()?;
        // The input's gradient is the costly one; skip it when nothing uses it.
        let need_dx = x.track_op();
        let args = (x, w, y, &grad);
        let (dx, dw, db) = match x.dtype() {
            DType::F32 => self.bwd_typed::<f32>(args, stats, need_dx)?,
            DType::F64 => self.bwd_typed::<f64>(args, stats, need_dx)?,
            other => bail!("batch_norm: unsupported dtype {other:?}"),
        };
        Ok((dx, w.track_op().then_some(dw), b.track_op().then_some(db)))
    }
}
