//! The one training loop.

use crate::batches::{epoch_batches, BatchSource};
use crate::checkpoint::{self, CheckpointState};
use crate::optim::{Optimizer, OptimizerConfig};
use crate::params::ParamSet;
use crate::schedule::ScheduleConfig;
use crate::{Error, Result};
use candle_core::{DType, Tensor};
use serde::{Deserialize, Serialize};
use ssad_core::Seed;
use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

/// Everything that defines a training run.
///
/// Thread count is not here: candle and rayon read `RAYON_NUM_THREADS` once per
/// process. Same config, seed and thread count give bit-identical runs on the CPU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Number of passes over the data.
    pub epochs: usize,
    /// Samples per batch.
    pub batch_size: usize,
    /// Drop an incomplete final batch (keeps BatchNorm statistics well defined).
    pub drop_last: bool,
    /// Optimizer and its base learning rate.
    pub optimizer: OptimizerConfig,
    /// Learning-rate schedule.
    pub schedule: ScheduleConfig,
    /// Evaluate the schedule at every step at the fractional epoch
    /// `epoch + step / steps_per_epoch` (CSI) instead of once per epoch.
    pub schedule_per_step: bool,
    /// Seed of the shuffle (and of whatever the source and objective derive from it).
    pub seed: Seed,
    /// Clip the global gradient norm to this value.
    pub clip_grad_norm: Option<f64>,
    /// Write a checkpoint after every this many epochs (and after the last), when a run directory is set.
    pub checkpoint_every: Option<usize>,
    /// Also write one metrics line per step.
    pub log_steps: bool,
    /// Show a progress bar (only ever drawn when stderr is a terminal).
    pub progress: bool,
}

/// 100 epochs of batch 128 with the default optimizer (RotNet's SGD) and a constant rate.
impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 100,
            batch_size: 128,
            drop_last: false,
            optimizer: OptimizerConfig::default(),
            schedule: ScheduleConfig::default(),
            schedule_per_step: false,
            seed: Seed(0),
            clip_grad_norm: None,
            checkpoint_every: None,
            log_steps: false,
            progress: true,
        }
    }
}

impl TrainConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        let bad = |field, reason: &str| {
            Err(Error::InvalidConfig {
                field,
                reason: reason.to_string(),
            })
        };
        if self.epochs == 0 {
            return bad("epochs", "must be >= 1");
        }
        if self.batch_size == 0 {
            return bad("batch_size", "must be >= 1");
        }
        if self.checkpoint_every == Some(0) {
            return bad("checkpoint_every", "must be >= 1");
        }
        if let Some(c) = self.clip_grad_norm {
            if !(c.is_finite() && c > 0.0) {
                return bad("clip_grad_norm", "must be finite and > 0");
            }
        }
        self.optimizer.validate()?;
        self.schedule.validate()
    }

    /// The fields that determine the trajectory; a checkpoint only resumes a run that agrees on them.
    fn trajectory(&self) -> serde_json::Value {
        serde_json::json!({
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "drop_last": self.drop_last,
            "optimizer": self.optimizer,
            "schedule": self.schedule,
            "schedule_per_step": self.schedule_per_step,
            "seed": self.seed,
            "clip_grad_norm": self.clip_grad_norm,
        })
    }
}

/// Where in training a loss is being computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepContext {
    /// Epoch, from 0.
    pub epoch: usize,
    /// Step within the epoch, from 0.
    pub step: usize,
    /// Optimizer steps taken before this one.
    pub global_step: u64,
    /// Whether the model is training (BatchNorm in batch mode).
    pub train: bool,
    /// The run's seed, for objective-side randomness keyed by `(epoch, step)`.
    pub seed: Seed,
}

/// What a method contributes to training: its loss and its variables.
///
/// The trainer owns everything else (order, batching, optimizer, schedule,
/// clipping, metrics, checkpoints). State that must survive a resume, such as
/// GOAD's transformation centers, goes through [`Objective::extra_state`].
pub trait Objective {
    /// The batch type, built by the matching [`BatchSource`].
    type Batch: Send;

    /// The trainable variables, sorted by name; only these reach the optimizer.
    fn params(&self) -> ParamSet;

    /// Every variable a checkpoint must hold: the trainable ones plus buffers
    /// such as BatchNorm running statistics.
    fn state(&self) -> ParamSet;

    /// The scalar loss of one batch.
    fn loss(&mut self, batch: &Self::Batch, ctx: &StepContext) -> Result<Tensor>;

    /// Called after each epoch's last step (e.g. to turn accumulated batch
    /// means into centers).
    fn on_epoch_end(&mut self, _epoch: usize) -> Result<()> {
        Ok(())
    }

    /// Extra named tensors to checkpoint.
    fn extra_state(&self) -> Result<Vec<(String, Tensor)>> {
        Ok(Vec::new())
    }

    /// Restores what [`Objective::extra_state`] wrote.
    fn load_extra_state(&mut self, tensors: HashMap<String, Tensor>) -> Result<()> {
        if tensors.is_empty() {
            Ok(())
        } else {
            Err(Error::InvalidConfig {
                field: "extra_state",
                reason: format!(
                    "the checkpoint has {} objective tensors but the objective takes none",
                    tensors.len()
                ),
            })
        }
    }
}

/// One epoch's summary: also the line written to `metrics.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Epoch, from 0.
    pub epoch: usize,
    /// Optimizer steps taken by the end of the epoch.
    pub step: u64,
    /// Mean loss over the epoch's batches.
    pub loss: f64,
    /// Learning rate of the epoch's last step.
    pub lr: f64,
    /// Wall-clock seconds of the epoch.
    pub seconds: f64,
}

/// What [`Trainer::train`] and [`Trainer::resume`] return.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TrainReport {
    /// The epoch training started from (non-zero after a resume).
    pub start_epoch: usize,
    /// One record per epoch run by this call.
    pub epochs: Vec<EpochRecord>,
    /// Every step's loss, in order, for this call.
    pub step_losses: Vec<f32>,
    /// The last checkpoint written, if any.
    pub last_checkpoint: Option<PathBuf>,
}

/// Runs training for any [`Objective`] over any [`BatchSource`].
#[derive(Debug, Clone)]
pub struct Trainer {
    config: TrainConfig,
    run_dir: Option<PathBuf>,
}

impl Trainer {
    /// A trainer for a validated `config`, writing nothing to disk.
    pub fn new(config: TrainConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            config,
            run_dir: None,
        })
    }

    /// Writes `metrics.jsonl` and `checkpoints/` under `dir`.
    pub fn with_run_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.run_dir = Some(dir.into());
        self
    }

    /// The configuration.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// Trains from the objective's current weights for `config.epochs` epochs.
    pub fn train<O, S>(&self, objective: &mut O, source: &S) -> Result<TrainReport>
    where
        O: Objective,
        S: BatchSource<Batch = O::Batch>,
    {
        let optimizer = Optimizer::new(self.config.optimizer.clone(), objective.params())?;
        if let Some(dir) = &self.run_dir {
            std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
            let metrics = dir.join(METRICS_FILE);
            std::fs::write(&metrics, "").map_err(Error::io(&metrics))?;
        }
        self.run(objective, source, optimizer, 0)
    }

    /// Continues from the latest checkpoint in the run directory, bit-identical
    /// to a run that was never interrupted; without a checkpoint, starts afresh.
    pub fn resume<O, S>(&self, objective: &mut O, source: &S) -> Result<TrainReport>
    where
        O: Objective,
        S: BatchSource<Batch = O::Batch>,
    {
        let dir = self.run_dir.as_ref().ok_or(Error::InvalidConfig {
            field: "run_dir",
            reason: "resume needs a run directory".to_string(),
        })?;
        let Some(ckpt) = checkpoint::latest(dir)? else {
            return self.train(objective, source);
        };
        let loaded = checkpoint::load(&ckpt)?;
        if loaded.state.trajectory != self.config.trajectory() {
            return Err(Error::Checkpoint {
                path: ckpt,
                reason: "it was written by a run with other settings".to_string(),
            });
        }
        checkpoint::restore_vars(&ckpt, &objective.state(), &loaded.model)?;
        let mut optimizer = Optimizer::new(self.config.optimizer.clone(), objective.params())?;
        optimizer.load_state(&loaded.optimizer, loaded.state.optimizer_steps)?;
        objective.load_extra_state(loaded.objective)?;
        tracing::info!(checkpoint = %ckpt.display(), epoch = loaded.state.epochs_done, "resuming");
        truncate_metrics(&dir.join(METRICS_FILE), loaded.state.epochs_done)?;
        self.run(objective, source, optimizer, loaded.state.epochs_done)
    }

    fn run<O, S>(
        &self,
        objective: &mut O,
        source: &S,
        mut optimizer: Optimizer,
        start_epoch: usize,
    ) -> Result<TrainReport>
    where
        O: Objective,
        S: BatchSource<Batch = O::Batch>,
    {
        let cfg = &self.config;
        let base_lr = cfg.optimizer.lr();
        let steps_per_epoch =
            epoch_batches(source.len(), cfg.batch_size, cfg.drop_last, cfg.seed, 0)?.len();
        let mut report = TrainReport {
            start_epoch,
            ..TrainReport::default()
        };
        let progress = progress_bar(
            cfg,
            (cfg.epochs - start_epoch.min(cfg.epochs)) * steps_per_epoch,
        );
        for epoch in start_epoch..cfg.epochs {
            let started = Instant::now();
            let batches = epoch_batches(
                source.len(),
                cfg.batch_size,
                cfg.drop_last,
                cfg.seed,
                epoch as u64,
            )?;
            let mut loss_sum = 0.0f64;
            let mut lr = base_lr;
            std::thread::scope(|scope| -> Result<()> {
                let build = |i: usize| {
                    let indices = &batches[i];
                    scope.spawn(move || source.batch(indices, epoch as u64))
                };
                let mut pending = Some(build(0));
                for step in 0..batches.len() {
                    let batch = join_batch(pending.take())?;
                    // Prefetch: the next batch is built while this one trains.
                    if step + 1 < batches.len() {
                        pending = Some(build(step + 1));
                    }
                    let t = if cfg.schedule_per_step {
                        epoch as f64 + step as f64 / batches.len() as f64
                    } else {
                        epoch as f64
                    };
                    lr = cfg.schedule.lr_at(base_lr, t, cfg.epochs);
                    optimizer.set_learning_rate(lr);
                    let ctx = StepContext {
                        epoch,
                        step,
                        global_step: optimizer.steps(),
                        train: true,
                        seed: cfg.seed,
                    };
                    let loss = objective.loss(&batch, &ctx)?;
                    let value = scalar(&loss)?;
                    if !value.is_finite() {
                        return Err(Error::NonFiniteLoss {
                            loss: value,
                            epoch,
                            step,
                        });
                    }
                    let mut grads = loss.backward()?;
                    if let Some(max_norm) = cfg.clip_grad_norm {
                        optimizer.params().clip_grad_norm(&mut grads, max_norm)?;
                    }
                    optimizer.step(&grads)?;
                    loss_sum += value;
                    report.step_losses.push(value as f32);
                    tracing::debug!(epoch, step, loss = value, lr, "step");
                    if cfg.log_steps {
                        self.append_metrics(&serde_json::json!({
                            "kind": "step", "epoch": epoch, "step": optimizer.steps(),
                            "loss": value, "lr": lr,
                        }))?;
                    }
                    progress.inc(1);
                    progress.set_message(format!("epoch {epoch} loss {value:.4}"));
                }
                Ok(())
            })?;
            objective.on_epoch_end(epoch)?;
            let record = EpochRecord {
                epoch,
                step: optimizer.steps(),
                loss: loss_sum / batches.len() as f64,
                lr,
                seconds: started.elapsed().as_secs_f64(),
            };
            tracing::info!(
                epoch,
                loss = record.loss,
                lr,
                seconds = record.seconds,
                "epoch done"
            );
            self.append_metrics(&serde_json::json!({
                "kind": "epoch", "epoch": record.epoch, "step": record.step,
                "loss": record.loss, "lr": record.lr, "seconds": record.seconds,
            }))?;
            report.epochs.push(record);
            let done = epoch + 1;
            if let (Some(dir), Some(every)) = (&self.run_dir, cfg.checkpoint_every) {
                if done % every == 0 || done == cfg.epochs {
                    let state = CheckpointState {
                        epochs_done: done,
                        optimizer_steps: optimizer.steps(),
                        trajectory: cfg.trajectory(),
                    };
                    let path = checkpoint::save(
                        dir,
                        &state,
                        &objective.state(),
                        optimizer.state_tensors(),
                        objective.extra_state()?,
                    )?;
                    tracing::info!(checkpoint = %path.display(), "checkpoint written");
                    report.last_checkpoint = Some(path);
                }
            }
        }
        progress.finish_and_clear();
        Ok(report)
    }

    fn append_metrics(&self, line: &serde_json::Value) -> Result<()> {
        let Some(dir) = &self.run_dir else {
            return Ok(());
        };
        let path = dir.join(METRICS_FILE);
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(Error::io(&path))?;
        writeln!(file, "{line}").map_err(Error::io(&path))
    }
}

/// Name of the JSON-lines metrics file in a run directory.
pub const METRICS_FILE: &str = "metrics.jsonl";

/// Drops metrics lines of epochs at or after `start` (written after the
/// checkpoint a resume starts from), so the file reads as one uninterrupted run.
fn truncate_metrics(path: &std::path::Path, start: usize) -> Result<()> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(()); // no metrics yet
    };
    let kept: String = text
        .lines()
        .filter(|line| {
            serde_json::from_str::<serde_json::Value>(line)
                .ok()
                .and_then(|v| v["epoch"].as_u64())
                .is_some_and(|e| (e as usize) < start)
        })
        .map(|line| format!("{line}\n"))
        .collect();
    std::fs::write(path, kept).map_err(Error::io(path))
}

fn join_batch<T>(handle: Option<std::thread::ScopedJoinHandle<'_, Result<T>>>) -> Result<T> {
    let handle = handle.ok_or_else(|| Error::InvalidConfig {
        field: "batches",
        reason: "no batch was scheduled".to_string(),
    })?;
    handle
        .join()
        .map_err(|_| Error::External("the batch-building thread panicked".to_string().into()))?
}

fn scalar(loss: &Tensor) -> Result<f64> {
    if loss.rank() != 0 {
        return Err(Error::NonScalarLoss(loss.dims().to_vec()));
    }
    Ok(loss.to_dtype(DType::F64)?.to_scalar::<f64>()?)
}

fn progress_bar(cfg: &TrainConfig, steps: usize) -> indicatif::ProgressBar {
    if !cfg.progress || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(steps as u64);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{bar:30} {pos}/{len} steps, {elapsed} elapsed, eta {eta} {msg}",
    ) {
        bar.set_style(style);
    }
    bar
}
