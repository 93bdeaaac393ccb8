//! Moving image batches between candle and one host buffer.
//!
//! Every batch operation in this crate copies the batch to the host once, works on
//! the flat `(B, C, H, W)` buffer in parallel over images, and copies it back once.

use candle_core::{DType, Device, Tensor};

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
        let (batch, shape) = batch_shape(x)?;
        let data = x.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        check_finite(&data)?;
        Ok(Self { data, batch, shape })
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
    match data.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(position) => Err(Error::NonFinite {
            position,
            value: data[position],
        }),
    }
}
