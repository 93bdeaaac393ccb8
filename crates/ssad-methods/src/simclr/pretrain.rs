//! The contrastive pre-training shared by `simclr`, `ssd` and `csi`: image
//! checks, the encoder (backbone + heads in one [`SeededVarMap`]), the two-view
//! batch source and the SimCLR objective, run by `ssad-train`'s trainer.

use candle_core::{DType, Device, Tensor};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use ssad_augment::{Augment, SimClr};
use ssad_core::{Matrix, MatrixView, Seed, Stream};
use ssad_losses::{NtXent, SupCon};
use ssad_models::{
    Backbone, BackboneConfig, CsiHeads, CsiHeadsConfig, ProjectionHead, ProjectionHeadConfig,
    SeededVarMap,
};
use ssad_train::{
    BatchSource, Objective, OptimizerConfig, ParamSet, ScheduleConfig, StepContext, TrainConfig,
};

use crate::error::{Error, Result};
use crate::input::Input;

/// Images scored per forward pass: bounds the activations held at once.
pub(crate) const SCORE_CHUNK: usize = 256;
/// Name of the weight file in a model folder.
pub(crate) const WEIGHTS_FILE: &str = "weights.safetensors";

/// The contrastive loss of the pre-training.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ContrastiveLoss {
    /// SimCLR's NT-Xent (CSI's `NT_xent`, `eps` 1e-8).
    NtXent(NtXent),
    /// SupCon without labels on two views, as SSD trains SimCLR: NT-Xent
    /// scaled by `temperature / base_temperature` (0.5 / 0.07 in SSD).
    SupCon(SupCon),
}

impl ContrastiveLoss {
    /// SimCLR's (and CSI's) NT-Xent with temperature 0.5.
    pub fn simclr() -> Self {
        ContrastiveLoss::NtXent(NtXent {
            temperature: 0.5,
            eps: 1e-8,
        })
    }

    /// SSD's `SupConLoss(temperature=0.5)` (base temperature 0.07).
    pub fn ssd() -> Self {
        ContrastiveLoss::SupCon(SupCon {
            temperature: 0.5,
            base_temperature: 0.07,
        })
    }

    /// The loss of two views' projections `(B, D)` each.
    fn pair(&self, z1: &Tensor, z2: &Tensor) -> Result<Tensor> {
        Ok(match self {
            ContrastiveLoss::NtXent(l) => l.forward(z1, z2)?,
            ContrastiveLoss::SupCon(l) => l.forward(&Tensor::stack(&[z1, z2], 1)?, None)?,
        })
    }
}

/// A borrowed, checked batch of `n` images of shape `(C, H, W)`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Images<'a> {
    pub data: &'a [f32],
    pub n: usize,
    pub shape: [usize; 3],
}

impl<'a> Images<'a> {
    /// The images of `x`: errors on tabular input, no image, NaN/Inf or (when
    /// `expected` is given) another image shape.
    pub fn check(x: Input<'a>, method: &'static str, expected: Option<[usize; 3]>) -> Result<Self> {
        let batch = x.images(method)?;
        let [n, c, h, w] = batch.shape();
        let shape = [c, h, w];
        if let Some(e) = expected {
            MatrixView::new(batch.data(), n, c * h * w)?.check_width(e.iter().product())?;
            if e != shape {
                return Err(Error::InvalidConfig {
                    field: "images",
                    reason: format!("images of shape {shape:?}, the detector was fitted on {e:?}"),
                });
            }
        }
        Ok(Self {
            data: batch.data(),
            n,
            shape,
        })
    }

    /// Values of one image.
    pub fn len_one(&self) -> usize {
        self.shape.iter().product()
    }

    /// Images `indices` as a `(B, C, H, W)` tensor.
    pub fn gather(&self, indices: &[usize]) -> candle_core::Result<Tensor> {
        let one = self.len_one();
        let mut out = Vec::with_capacity(indices.len() * one);
        for &i in indices {
            out.extend_from_slice(&self.data[i * one..(i + 1) * one]);
        }
        let [c, h, w] = self.shape;
        Tensor::from_vec(out, (indices.len(), c, h, w), &Device::Cpu)
    }

    /// Consecutive images `start..start + len` as a tensor, without a gather.
    pub fn range(&self, start: usize, len: usize) -> candle_core::Result<Tensor> {
        let one = self.len_one();
        let [c, h, w] = self.shape;
        Tensor::from_slice(
            &self.data[start * one..(start + len) * one],
            (len, c, h, w),
            &Device::Cpu,
        )
    }
}

/// Which heads sit on the backbone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeadKind {
    /// SimCLR's projection head.
    Projection,
    /// CSI's projection head plus a shift classifier over this many shifts.
    Csi(usize),
}

#[derive(Debug, Clone)]
enum Heads {
    Projection(ProjectionHead),
    Csi(CsiHeads),
}

/// Backbone and heads, with every variable in one seeded store.
pub(crate) struct Encoder {
    pub vars: SeededVarMap,
    backbone: Box<dyn Backbone>,
    heads: Heads,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("embed_dim", &self.backbone.embed_dim())
            .field("heads", &self.heads)
            .finish()
    }
}

/// `config` with its input channels set to `channels` (ResNets; a Wide ResNet
/// is used as configured).
fn with_channels(config: &BackboneConfig, channels: usize) -> BackboneConfig {
    match config.resnet_config() {
        Some(mut c) => {
            c.in_channels = channels;
            BackboneConfig::Resnet(c)
        }
        None => config.clone(),
    }
}

impl Encoder {
    /// A freshly initialised encoder for images with `channels` channels.
    pub fn new(
        backbone: &BackboneConfig,
        channels: usize,
        proj_dim: usize,
        heads: HeadKind,
        seed: Seed,
    ) -> Result<Self> {
        let vars = SeededVarMap::new(seed);
        let vb = vars.var_builder(DType::F32, &Device::Cpu);
        let backbone = with_channels(backbone, channels).build(vb.pp("backbone"))?;
        let in_dim = backbone.embed_dim();
        let heads = match heads {
            HeadKind::Projection => Heads::Projection(ProjectionHead::new(
                &ProjectionHeadConfig {
                    in_dim,
                    hidden_dim: in_dim,
                    out_dim: proj_dim,
                    batch_norm: false,
                },
                vb.pp("head"),
            )?),
            HeadKind::Csi(num_shifts) => Heads::Csi(CsiHeads::new(
                &CsiHeadsConfig {
                    in_dim,
                    simclr_dim: proj_dim,
                    num_shifts,
                },
                vb.pp("head"),
            )?),
        };
        Ok(Self {
            vars,
            backbone,
            heads,
        })
    }

    /// Length of the encoder features.
    pub fn embed_dim(&self) -> usize {
        self.backbone.embed_dim()
    }

    /// Penultimate features, projections and (CSI) shift logits of a batch.
    pub fn forward(&self, x: &Tensor, train: bool) -> Result<(Tensor, Tensor, Option<Tensor>)> {
        let h = self.backbone.forward_features(x, train)?;
        Ok(match &self.heads {
            Heads::Projection(p) => {
                let z = p.forward_t(&h, train)?;
                (h, z, None)
            }
            Heads::Csi(c) => {
                let (z, s) = c.forward_t(&h, train)?;
                (h, z, Some(s))
            }
        })
    }

    /// Encoder features `(n, embed_dim)` of `images`, in eval mode.
    pub fn features(&self, images: &Images<'_>) -> Result<Matrix> {
        let dim = self.embed_dim();
        let mut out = Vec::with_capacity(images.n * dim);
        for start in (0..images.n).step_by(SCORE_CHUNK) {
            let len = SCORE_CHUNK.min(images.n - start);
            let h = self
                .backbone
                .forward_features(&images.range(start, len)?, false)?;
            out.extend(h.flatten_all()?.to_vec1::<f32>()?);
        }
        Ok(Matrix::new(out, images.n, dim)?)
    }
}

/// The training settings the three methods share.
#[derive(Debug, Clone)]
pub(crate) struct Pretrain {
    pub augment: SimClr,
    pub loss: ContrastiveLoss,
    pub epochs: usize,
    pub batch_size: usize,
    pub optimizer: OptimizerConfig,
    pub schedule: ScheduleConfig,
    pub schedule_per_step: bool,
}

impl Pretrain {
    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        self.augment.validate()?;
        let (t, e) = match self.loss {
            ContrastiveLoss::NtXent(l) => (l.temperature, l.eps),
            ContrastiveLoss::SupCon(l) => (l.temperature, l.base_temperature),
        };
        if !(t.is_finite() && t > 0.0 && e.is_finite() && e >= 0.0) {
            return Err(Error::InvalidConfig {
                field: "loss",
                reason: "temperatures must be finite and > 0, eps finite and >= 0".into(),
            });
        }
        self.train_config(Seed(0), 1).validate()?;
        Ok(())
    }

    /// The trainer's settings for `n` training images. Incomplete final
    /// batches are dropped (BatchNorm statistics), unless there are fewer
    /// images than one batch.
    pub fn train_config(&self, seed: Seed, n: usize) -> TrainConfig {
        TrainConfig {
            epochs: self.epochs,
            batch_size: self.batch_size,
            drop_last: n >= self.batch_size,
            optimizer: self.optimizer.clone(),
            schedule: self.schedule.clone(),
            schedule_per_step: self.schedule_per_step,
            seed,
            progress: crate::progress(),
            ..TrainConfig::default()
        }
    }
}

/// Horizontal flips with probability `p` drawn from `seed.rng(Augment, epoch,
/// index)`, in place on the host: CSI flips before shifting, because a flip
/// after a quarter turn is a flip before the opposite turn, which would give
/// the shift classifier wrong labels.
pub(crate) fn random_hflip(
    data: &mut [f32],
    shape: [usize; 3],
    seed: Seed,
    epoch: u64,
    indices: &[usize],
    p: f32,
) {
    use rand::Rng;
    let one = shape.iter().product::<usize>();
    let width = shape[2];
    data.par_chunks_mut(one)
        .zip(indices.par_iter())
        .for_each(|(img, &i)| {
            if seed.rng(Stream::Augment, epoch, i as u64).random::<f32>() < p {
                for row in img.chunks_exact_mut(width) {
                    row.reverse();
                }
            }
        });
}

/// Two SimCLR views of each image of a batch.
pub(crate) struct PairSource<'a> {
    pub images: Images<'a>,
    pub augment: SimClr,
    pub seed: Seed,
}

impl BatchSource for PairSource<'_> {
    type Batch = (Tensor, Tensor);

    fn len(&self) -> usize {
        self.images.n
    }

    fn batch(&self, indices: &[usize], epoch: u64) -> ssad_train::Result<(Tensor, Tensor)> {
        let x = self.images.gather(indices)?;
        let idx: Vec<u64> = indices.iter().map(|&i| i as u64).collect();
        let view = |v: u64| {
            self.augment
                .apply_batch(&x, self.seed.derive(v), epoch, &idx)
                .map_err(train_error)
        };
        Ok((view(1)?, view(2)?))
    }
}

pub(crate) fn train_error(e: impl std::fmt::Display) -> ssad_train::Error {
    ssad_train::Error::InvalidConfig {
        field: "batch",
        reason: e.to_string(),
    }
}

pub(crate) fn params(named: Vec<(String, candle_core::Var)>) -> ParamSet {
    // Names come from a sorted map and are unique, so this cannot fail.
    ParamSet::new(named).unwrap_or_default()
}

/// SimCLR: both views through the encoder in one pass (BatchNorm sees both,
/// as in CSI and SSD), the contrastive loss on the projections.
pub(crate) struct SimclrObjective {
    pub encoder: Encoder,
    pub loss: ContrastiveLoss,
}

impl Objective for SimclrObjective {
    type Batch = (Tensor, Tensor);

    fn params(&self) -> ParamSet {
        params(self.encoder.vars.named_trainable_vars())
    }

    fn state(&self) -> ParamSet {
        params(self.encoder.vars.named_vars())
    }

    fn loss(
        &mut self,
        (v1, v2): &(Tensor, Tensor),
        ctx: &StepContext,
    ) -> ssad_train::Result<Tensor> {
        let b = v1.dim(0)?;
        let x = Tensor::cat(&[v1, v2], 0)?;
        let (_, z, _) = self.encoder.forward(&x, ctx.train).map_err(train_error)?;
        self.loss
            .pair(&z.narrow(0, 0, b)?, &z.narrow(0, b, b)?)
            .map_err(train_error)
    }
}
