//! CSI's batches and objective: every image flipped, rotated 4 ways and
//! augmented, twice; con-SI on the projections plus cross-entropy of the shift head.

use candle_core::{DType, Device, Tensor, D};
use ssad_augment::{expand, Augment, Rotations, SimClr, TransformFamily};
use ssad_core::Seed;
use ssad_train::{BatchSource, Objective, ParamSet, StepContext};

use crate::simclr::pretrain::{params, random_hflip, train_error, Encoder, Images};

/// The shifted views of `x` (images `indices` of a set): flip with
/// probability `augment.flip_p` keyed by `(flip_seed, epoch, index)`, the 4
/// rotations (shift-major, `(K * B, C, H, W)`), then `augment` without its
/// flip, keyed by `(aug_seed, epoch, index * K + k)` so every shifted copy
/// gets its own view.
pub(crate) fn shifted_view(
    images: &Images<'_>,
    indices: &[usize],
    augment: &SimClr,
    (flip_seed, aug_seed): (Seed, Seed),
    epoch: u64,
) -> ssad_augment::Result<Tensor> {
    let one = images.len_one();
    let mut data = Vec::with_capacity(indices.len() * one);
    for &i in indices {
        data.extend_from_slice(&images.data[i * one..(i + 1) * one]);
    }
    if augment.flip_p > 0.0 {
        random_hflip(
            &mut data,
            images.shape,
            flip_seed,
            epoch,
            indices,
            augment.flip_p,
        );
    }
    let [c, h, w] = images.shape;
    let x = Tensor::from_vec(data, (indices.len(), c, h, w), &Device::Cpu)?;
    let shifted = expand(&Rotations, &x)?.images;
    let k = Rotations.len();
    let idx: Vec<u64> = (0..k)
        .flat_map(|s| indices.iter().map(move |&i| (i * k + s) as u64))
        .collect();
    let after = SimClr {
        flip_p: 0.0,
        ..*augment
    };
    after.apply_batch(&shifted, aug_seed, epoch, &idx)
}

/// Two shifted views of each image of a batch, stacked: `(2 * K * B, C, H, W)`.
pub(crate) struct ShiftedPairSource<'a> {
    pub images: Images<'a>,
    pub augment: SimClr,
    pub seed: Seed,
}

impl BatchSource for ShiftedPairSource<'_> {
    type Batch = Tensor;

    fn len(&self) -> usize {
        self.images.n
    }

    fn batch(&self, indices: &[usize], epoch: u64) -> ssad_train::Result<Tensor> {
        let view = |v: u64| {
            shifted_view(
                &self.images,
                indices,
                &self.augment,
                (self.seed.derive(10 + v), self.seed.derive(20 + v)),
                epoch,
            )
            .map_err(train_error)
        };
        Ok(Tensor::cat(&[view(0)?, view(1)?], 0)?)
    }
}

/// con-SI + shift cross-entropy, 1:1 as `simclr_CSI.py`.
pub(crate) struct CsiObjective {
    pub encoder: Encoder,
    pub temperature: f64,
    pub eps: f64,
    /// When set, every training step appends its con-SI loss, shift
    /// cross-entropy and shift accuracy (`simclr_CSI.py`'s `LossSim` and
    /// `LossShift` monitors), for diagnostics.
    pub monitor: Option<Vec<StepLosses>>,
}

/// The two parts of one step's CSI loss, and the shift head's accuracy on the batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct StepLosses {
    pub con_si: f64,
    pub shift: f64,
    pub shift_accuracy: f64,
}

impl Objective for CsiObjective {
    type Batch = Tensor;

    fn params(&self) -> ParamSet {
        params(self.encoder.vars.named_trainable_vars())
    }

    fn state(&self) -> ParamSet {
        params(self.encoder.vars.named_vars())
    }

    fn loss(&mut self, x: &Tensor, ctx: &StepContext) -> ssad_train::Result<Tensor> {
        let k = Rotations.len();
        let rows = x.dim(0)?;
        let b = rows / (2 * k);
        let (_, z, logits) = self.encoder.forward(x, ctx.train).map_err(train_error)?;
        let logits = logits.ok_or_else(|| train_error("the CSI encoder has no shift head"))?;
        let d = z.dim(1)?;
        let z1 = z.narrow(0, 0, k * b)?.reshape((k, b, d))?;
        let z2 = z.narrow(0, k * b, k * b)?.reshape((k, b, d))?;
        let sim = ssad_losses::con_si(&z1, &z2, self.temperature, self.eps).map_err(train_error)?;
        let labels: Vec<u32> = (0..rows).map(|r| ((r / b) % k) as u32).collect();
        let labels = Tensor::from_vec(labels, rows, &Device::Cpu)?;
        let shift = ssad_losses::cross_entropy(&logits, &labels).map_err(train_error)?;
        if let Some(monitor) = &mut self.monitor {
            let hits = logits
                .argmax(D::Minus1)?
                .eq(&labels)?
                .to_dtype(DType::F32)?
                .sum_all()?
                .to_scalar::<f32>()?;
            monitor.push(StepLosses {
                con_si: f64::from(sim.to_scalar::<f32>()?),
                shift: f64::from(shift.to_scalar::<f32>()?),
                shift_accuracy: f64::from(hits) / rows as f64,
            });
        }
        Ok((sim + shift)?)
    }
}
