//! GOAD's random affine family for tabular data (Bergman & Hoshen 2020).

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use rand_distr::{Distribution, StandardNormal};
use ssad_core::{Seed, Stream};

use crate::error::{Error, Result};

/// The safetensors key under which [`GoadAffine::to_tensors`] stores the matrices.
pub const GOAD_AFFINE_KEY: &str = "goad.affine";

/// `M` fixed random linear maps `W_m` in `R^{d x r}`, applied to a batch as
/// `x -> (x W_1, ..., x W_M)`.
///
/// Entries are standard normal and there is no bias, as in GOAD's code
/// (`np.random.randn(n_rots, n_dims, d_out)`; the paper writes `Wx + b`). The maps
/// are drawn once from `seed.rng(Stream::Init, 0, 0)`, in the order `m`, then row,
/// then column, and must be saved with the detector: use [`GoadAffine::to_tensors`]
/// and [`GoadAffine::from_tensors`].
#[derive(Debug, Clone)]
pub struct GoadAffine {
    /// `(d, M * r)`: column block `m` is `W_m`, so one matmul applies all maps.
    joined: Tensor,
    dim_in: usize,
    count: usize,
    dim_out: usize,
}

impl GoadAffine {
    /// Draws `count` (`M`) maps from `dim_in` (`d`) to `dim_out` (`r`) features.
    pub fn new(
        dim_in: usize,
        count: usize,
        dim_out: usize,
        seed: Seed,
        device: &Device,
    ) -> Result<Self> {
        check_sizes(dim_in, count, dim_out)?;
        let mut rng = seed.rng(Stream::Init, 0, 0);
        let mut joined = vec![0.0f32; dim_in * count * dim_out];
        let width = count * dim_out;
        for m in 0..count {
            for a in 0..dim_in {
                for c in 0..dim_out {
                    joined[a * width + m * dim_out + c] = StandardNormal.sample(&mut rng);
                }
            }
        }
        Ok(Self {
            joined: Tensor::from_vec(joined, (dim_in, width), device)?,
            dim_in,
            count,
            dim_out,
        })
    }

    /// Input dimension `d`.
    pub fn dim_in(&self) -> usize {
        self.dim_in
    }

    /// Number of maps `M`.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Output dimension `r` of each map.
    pub fn dim_out(&self) -> usize {
        self.dim_out
    }

    /// The maps as one `(M, d, r)` tensor.
    pub fn matrices(&self) -> Result<Tensor> {
        Ok(self
            .joined
            .reshape((self.dim_in, self.count, self.dim_out))?
            .transpose(0, 1)?
            .contiguous()?)
    }

    /// Applies every map to a `(B, d)` batch, giving `(B, M, r)` (GOAD's own code
    /// keeps the transpose, `(B, r, M)`).
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        let dims = x.dims();
        if dims.len() != 2 {
            return Err(Error::Rank {
                expected: 2,
                what: "(B, d)",
                got: dims.to_vec(),
            });
        }
        if dims[0] == 0 {
            return Err(Error::Empty { what: "batch" });
        }
        if dims[1] != self.dim_in {
            return Err(Error::Shape {
                reason: format!("GOAD maps take {} features, got {}", self.dim_in, dims[1]),
            });
        }
        let x = x.to_dtype(DType::F32)?;
        // A NaN would silently poison every map's output; reject it here.
        crate::image::check_finite(&x.flatten_all()?.to_vec1::<f32>()?)?;
        let joined = self.joined.to_device(x.device())?;
        Ok(x.matmul(&joined)?
            .reshape((dims[0], self.count, self.dim_out))?)
    }

    /// The maps as named tensors for `candle_core::safetensors::save`.
    pub fn to_tensors(&self) -> Result<HashMap<String, Tensor>> {
        Ok(HashMap::from([(
            GOAD_AFFINE_KEY.to_string(),
            self.matrices()?,
        )]))
    }

    /// Rebuilds the family from tensors written by [`GoadAffine::to_tensors`].
    pub fn from_tensors(tensors: &HashMap<String, Tensor>) -> Result<Self> {
        let stacked = tensors.get(GOAD_AFFINE_KEY).ok_or_else(|| Error::Shape {
            reason: format!("no tensor named `{GOAD_AFFINE_KEY}`"),
        })?;
        let dims = stacked.dims();
        if dims.len() != 3 {
            return Err(Error::Rank {
                expected: 3,
                what: "(M, d, r)",
                got: dims.to_vec(),
            });
        }
        let (count, dim_in, dim_out) = (dims[0], dims[1], dims[2]);
        check_sizes(dim_in, count, dim_out)?;
        let stacked = stacked.to_dtype(DType::F32)?;
        crate::image::check_finite(&stacked.flatten_all()?.to_vec1::<f32>()?)?;
        let joined = stacked
            .transpose(0, 1)?
            .contiguous()?
            .reshape((dim_in, count * dim_out))?;
        Ok(Self {
            joined,
            dim_in,
            count,
            dim_out,
        })
    }
}

fn check_sizes(dim_in: usize, count: usize, dim_out: usize) -> Result<()> {
    for (field, v) in [("dim_in", dim_in), ("count", count), ("dim_out", dim_out)] {
        if v == 0 {
            return Err(Error::InvalidConfig {
                field,
                reason: "must be at least 1".into(),
            });
        }
    }
    Ok(())
}
