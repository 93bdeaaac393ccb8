//! The one training loop of ssad, with its optimizers, learning-rate schedules
//! and seeded batching.
//!
//! A method implements [`Objective`] (its loss and variables) and a data side
//! implements [`BatchSource`] (indices to a batch); [`Trainer`] does the rest:
//! per-epoch shuffling from `Seed::rng(Stream::Shuffle, epoch, 0)`, batch
//! prefetch on a helper thread, the [`Optimizer`] (PyTorch-exact SGD, Adam/AdamW,
//! LARS) and [`ScheduleConfig`], gradient clipping, JSON-lines metrics, atomic
//! checkpoints and bit-identical [`Trainer::resume`].
//!
//! ```
//! use candle_core::{DType, Device, Tensor, Var};
//! use ssad_train::*;
//!
//! /// Fits `w` to minimise `mean((x w - 2x)^2)` over scalar samples.
//! struct Fit { w: Var }
//! struct Xs(Vec<f32>);
//!
//! impl BatchSource for Xs {
//!     type Batch = Tensor;
//!     fn len(&self) -> usize { self.0.len() }
//!     fn batch(&self, idx: &[usize], _epoch: u64) -> Result<Tensor> {
//!         let v: Vec<f32> = idx.iter().map(|&i| self.0[i]).collect();
//!         Ok(Tensor::from_vec(v, idx.len(), &Device::Cpu)?)
//!     }
//! }
//!
//! impl Objective for Fit {
//!     type Batch = Tensor;
//!     fn params(&self) -> ParamSet { ParamSet::new(vec![("w".into(), self.w.clone())]).unwrap() }
//!     fn state(&self) -> ParamSet { self.params() }
//!     fn loss(&mut self, x: &Tensor, _ctx: &StepContext) -> Result<Tensor> {
//!         let err = (x.broadcast_mul(self.w.as_tensor())? - (x * 2.0)?)?;
//!         Ok(err.sqr()?.mean_all()?)
//!     }
//! }
//!
//! let mut fit = Fit { w: Var::zeros(1, DType::F32, &Device::Cpu)? };
//! let config = TrainConfig {
//!     epochs: 20,
//!     batch_size: 4,
//!     optimizer: OptimizerConfig::Adam(AdamConfig { lr: 0.1, ..AdamConfig::default() }),
//!     progress: false,
//!     ..TrainConfig::default()
//! };
//! let report = Trainer::new(config)?.train(&mut fit, &Xs((1..=8).map(|i| i as f32 / 8.0).collect()))?;
//! assert!(report.epochs.last().unwrap().loss < report.epochs[0].loss);
//! # Ok::<(), ssad_train::Error>(())
//! ```
#![warn(missing_docs)]

mod batches;
mod checkpoint;
mod error;
mod optim;
mod params;
mod process;
mod schedule;
mod trainer;

pub use batches::{epoch_batches, BatchSource};
pub use checkpoint::latest as latest_checkpoint;
pub use error::{Error, Result};
pub use optim::{AdamConfig, LarsConfig, Optimizer, OptimizerConfig, SgdConfig};
pub use params::{is_buffer_name, ParamSet};
pub use process::configure_cpu_process;
pub use schedule::ScheduleConfig;
pub use trainer::{
    EpochRecord, Objective, StepContext, TrainConfig, TrainReport, Trainer, METRICS_FILE,
};
