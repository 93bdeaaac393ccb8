//! Moving image batches between candle and one host buffer.
//!
//! Every batch operation in this crate copies the batch to the host once, works on
//! the flat `(B, C, H, W)` buffer in parallel over images, and copies it back once.

use candle_core::{DType, Device, Storage, Tensor};
use rayon::prelude::*;

use crate::error::{Error, Result};

/// The shape of one image: channels, height, width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ImageShape {
    /// Number of channels (1 for grey, 3 for RGB).
    pub channels: usize,
    /// Height in pixels.
    pub height: usize,
    /// Width in pixels.
    pub width: usize,
}

impl ImageShape {
    /// Pixels per channel.
    pub fn plane(&self) -> usize {
        self.height * self.width
    }

    /// Values per image.
    pub fn len(&self) -> usize {
        self.channels * self.plane()
    }

    /// True when the image holds no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A `(B, C, H, W)` batch copied to the host as one row-major buffer.
pub(crate) struct HostBatch {
    pub data: Vec<f32>,
    pub batch: usize,
    pub shape: ImageShape,
}

impl HostBatch {
    /// Copies `x` to the host, checking rank, emptiness and finiteness.
    pub fn from_tensor(x: &Tensor) -> Result<Self> {
        with_host(x, |data, batch, shape| {
            // A parallel copy into a fresh buffer spreads the page faults of the new
            // allocation over all threads.
            let mut copy = vec![0.0f32; data.len()];
            copy.par_chunks_mut(COPY_CHUNK)
                .zip(data.par_chunks(COPY_CHUNK))
                .for_each(|(d, s)| d.copy_from_slice(s));
            Ok(Self {
                data: copy,
                batch,
                shape,
            })
        })
    }

    /// Puts the buffer back into a tensor on `device`.
    pub fn into_tensor(self, device: &Device) -> Result<Tensor> {
        let s = self.shape;
        Ok(Tensor::from_vec(
            self.data,
            (self.batch, s.channels, s.height, s.width),
            device,
        )?)
    }
}

const COPY_CHUNK: usize = 1 << 16;

/// Runs `f` on the values of the `(B, C, H, W)` batch `x` after checking rank,
/// emptiness and finiteness. A contiguous f32 CPU tensor is read in place;
/// anything else is copied to the host first.
pub(crate) fn with_host<R>(
    x: &Tensor,
    f: impl FnOnce(&[f32], usize, ImageShape) -> Result<R>,
) -> Result<R> {
    let (batch, shape) = batch_shape(x)?;
    if x.dtype() == DType::F32 {
        let (storage, layout) = x.storage_and_layout();
        if let (Storage::Cpu(cpu), Some((start, end))) = (&*storage, layout.contiguous_offsets()) {
            let data = &cpu.as_slice::<f32>()?[start..end];
            check_finite(data)?;
            return f(data, batch, shape);
        }
    }
    let data = x.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
    check_finite(&data)?;
    f(&data, batch, shape)
}

/// Reads `(B, C, H, W)` from `x`, rejecting other ranks and empty dimensions.
pub(crate) fn batch_shape(x: &Tensor) -> Result<(usize, ImageShape)> {
    let dims = x.dims();
    if dims.len() != 4 {
        return Err(Error::Rank {
            expected: 4,
            what: "(B, C, H, W)",
            got: dims.to_vec(),
        });
    }
    if dims[0] == 0 {
        return Err(Error::Empty { what: "batch" });
    }
    if dims[1] == 0 || dims[2] == 0 || dims[3] == 0 {
        return Err(Error::Empty { what: "image" });
    }
    Ok((
        dims[0],
        ImageShape {
            channels: dims[1],
            height: dims[2],
            width: dims[3],
        },
    ))
}

pub(crate) fn check_finite(data: &[f32]) -> Result<()> {
    // A branch-free fold per chunk vectorises; the position is only searched for
    // once a chunk is known to hold a bad value.
    for (c, chunk) in data.chunks(4096).enumerate() {
        if !chunk.iter().fold(true, |ok, v| ok & v.is_finite()) {
            let offset = chunk.iter().position(|v| !v.is_finite()).unwrap_or(0);
            let position = c * 4096 + offset;
            return Err(Error::NonFinite {
                position,
                value: data[position],
            });
        }
    }
    Ok(())
}
