//! Fast CPU kernels for candle, as custom ops with their own backward.
//!
//! candle's CPU convolution gathers its im2col with scalar loops and computes
//! the input gradient with a direct `conv_transpose2d` loop; these ops lower
//! every convolution pass to the `gemm` crate instead (see
//! `docs/performance.md`). BatchNorm (with an optional ReLU) is one fused op
//! instead of candle's chain of about fifteen. On other devices they fall back
//! to candle's ops.

use std::sync::atomic::{AtomicBool, Ordering};

use candle_core::{CpuStorage, Layout};

mod batch_norm;
mod bias_add;
mod conv;
mod leaky_relu;

pub use batch_norm::{batch_norm, BatchNormOptions};
pub use bias_add::bias_add;
pub use conv::conv2d;
pub use leaky_relu::leaky_relu;

static CUSTOM_CPU_OPS: AtomicBool = AtomicBool::new(true);

/// Switches the custom CPU ops on (the default) or off for the whole process,
/// so benchmarks can run the same network on candle's stock ops.
pub fn set_custom_cpu_ops(enabled: bool) {
    CUSTOM_CPU_OPS.store(enabled, Ordering::Relaxed);
}

/// Whether the custom CPU ops are on (see [`set_custom_cpu_ops`]).
pub fn custom_cpu_ops() -> bool {
    CUSTOM_CPU_OPS.load(Ordering::Relaxed)
}

/// Borrows the contiguous data of a storage, or fails naming the op.
fn contiguous<'a, T>(data: &'a [T], layout: &Layout, op: &str) -> candle_core::Result<&'a [T]> {
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => candle_core::bail!("{op}: operand must be contiguous"),
    }
}

/// The contiguous `f32` data of a CPU storage, or fails naming the op.
fn contiguous_f32<'a>(
    storage: &'a CpuStorage,
    layout: &Layout,
    op: &str,
) -> candle_core::Result<&'a [f32]> {
    contiguous(storage.as_slice::<f32>()?, layout, op)
}
