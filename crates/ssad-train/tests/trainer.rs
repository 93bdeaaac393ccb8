//! The training loop on a small local model: loss falls, only trainable
//! variables are optimised, runs are bit-identical across processes, and a
//! resumed run equals an uninterrupted one bit for bit.

use candle_core::{DType, Device, ModuleT, Tensor};
use candle_nn::{VarBuilder, VarMap};
use rand::Rng;
use ssad_core::{Seed, Stream};
use ssad_train::*;
use std::collections::HashMap;

const DIM: usize = 4;
const CLASSES: usize = 3;

/// Three Gaussian blobs; every access adds per-(epoch, sample) jitter, the way
/// an augmentation would.
struct Blobs {
    x: Vec<[f32; DIM]>,
    y: Vec<u32>,
    seed: Seed,
}

impl Blobs {
    fn new(n: usize) -> Self {
        let mut rng = Seed(11).rng(Stream::Init, 0, 0);
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for i in 0..n {
            let class = (i % CLASSES) as u32;
            let mut row = [0f32; DIM];
            for (d, v) in row.iter_mut().enumerate() {
                let center = if d == class as usize { 2.0 } else { 0.0 };
                *v = center + rng.random_range(-1.0..1.0);
            }
            x.push(row);
            y.push(class);
        }
        Self {
            x,
            y,
            seed: Seed(5),
        }
    }
}

impl BatchSource for Blobs {
    type Batch = (Tensor, Tensor);
    fn len(&self) -> usize {
        self.x.len()
    }
    fn batch(&self, indices: &[usize], epoch: u64) -> Result<(Tensor, Tensor)> {
        let mut data = Vec::with_capacity(indices.len() * DIM);
        for &i in indices {
            let mut rng = self.seed.rng(Stream::Augment, epoch, i as u64);
            data.extend(self.x[i].iter().map(|v| v + rng.random_range(-0.1f32..0.1)));
        }
        let labels: Vec<u32> = indices.iter().map(|&i| self.y[i]).collect();
        Ok((
            Tensor::from_vec(data, (indices.len(), DIM), &Device::Cpu)?,
            Tensor::new(labels, &Device::Cpu)?,
        ))
    }
}

/// linear -> batch norm -> relu -> linear, initialised from a seed.
struct Mlp {
    varmap: VarMap,
    fc1: candle_nn::Linear,
    bn: candle_nn::BatchNorm,
    fc2: candle_nn::Linear,
    /// Sum of per-epoch mean losses: stands in for objective state such as GOAD centers.
    epoch_sum: Tensor,
    fail_at_epoch: Option<usize>,
}

impl Mlp {
    fn new(seed: u64) -> Self {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let fc1 = candle_nn::linear(DIM, 16, vb.pp("fc1")).unwrap();
        let bn =
            candle_nn::batch_norm(16, candle_nn::BatchNormConfig::default(), vb.pp("bn")).unwrap();
        let fc2 = candle_nn::linear(16, CLASSES, vb.pp("fc2")).unwrap();
        // candle's CPU init cannot be seeded: overwrite every trainable variable.
        let params = ParamSet::trainable(&varmap).unwrap();
        for (i, (_, var)) in params.named().iter().enumerate() {
            let mut rng = Seed(seed).rng(Stream::Init, 0, i as u64);
            let values: Vec<f32> = (0..var.elem_count())
                .map(|_| rng.random_range(-0.5..0.5))
                .collect();
            var.set(&Tensor::from_vec(values, var.dims(), &Device::Cpu).unwrap())
                .unwrap();
        }
        Self {
            varmap,
            fc1,
            bn,
            fc2,
            epoch_sum: Tensor::zeros((), DType::F32, &Device::Cpu).unwrap(),
            fail_at_epoch: None,
        }
    }
}

impl Objective for Mlp {
    type Batch = (Tensor, Tensor);
    fn params(&self) -> ParamSet {
        ParamSet::trainable(&self.varmap).unwrap()
    }
    fn state(&self) -> ParamSet {
        ParamSet::all(&self.varmap).unwrap()
    }
    fn loss(&mut self, (x, y): &(Tensor, Tensor), ctx: &StepContext) -> Result<Tensor> {
        if self.fail_at_epoch == Some(ctx.epoch) {
            return Err(Error::external(std::io::Error::other("simulated crash")));
        }
        let h = self.fc1.forward_t(x, ctx.train)?;
        let h = self.bn.forward_t(&h, ctx.train)?.relu()?;
        let logits = self.fc2.forward_t(&h, ctx.train)?;
        ssad_losses::cross_entropy(&logits, y).map_err(Error::external)
    }
    fn on_epoch_end(&mut self, _epoch: usize) -> Result<()> {
        self.epoch_sum = (&self.epoch_sum + 1.0)?;
        Ok(())
    }
    fn extra_state(&self) -> Result<Vec<(String, Tensor)>> {
        Ok(vec![("epoch_sum".into(), self.epoch_sum.clone())])
    }
    fn load_extra_state(&mut self, mut tensors: HashMap<String, Tensor>) -> Result<()> {
        self.epoch_sum = tensors.remove("epoch_sum").ok_or(Error::InvalidConfig {
            field: "extra_state",
            reason: "epoch_sum missing".into(),
        })?;
        Ok(())
    }
}

fn config(epochs: usize) -> TrainConfig {
    TrainConfig {
        epochs,
        batch_size: 16,
        drop_last: true,
        optimizer: OptimizerConfig::Adam(AdamConfig {
            lr: 0.01,
            weight_decay: 1e-3,
            ..AdamConfig::default()
        }),
        schedule: ScheduleConfig::WarmupCosine {
            multiplier: 2.0,
            warmup_epochs: 1,
            t_max: None,
            eta_min: 0.0,
        },
        schedule_per_step: true,
        seed: Seed(3),
        clip_grad_norm: Some(1.0),
        checkpoint_every: Some(2),
        log_steps: false,
        progress: false,
    }
}

/// Loss curve bits and a checksum over every variable, BatchNorm buffers included.
fn fingerprint(report: &TrainReport, model: &Mlp) -> (Vec<u32>, u64) {
    (
        report.step_losses.iter().map(|l| l.to_bits()).collect(),
        model.state().checksum().unwrap(),
    )
}

#[test]
fn loss_falls_and_buffers_stay_out_of_the_optimizer() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = Mlp::new(1);
    let names: Vec<String> = model
        .params()
        .named()
        .iter()
        .map(|(n, _)| n.clone())
        .collect();
    assert_eq!(
        names,
        [
            "bn.bias",
            "bn.weight",
            "fc1.bias",
            "fc1.weight",
            "fc2.bias",
            "fc2.weight"
        ]
    );
    assert_eq!(model.state().len(), 8);
    let running_mean = model.varmap.data().lock().unwrap()["bn.running_mean"].clone();
    let before = running_mean.to_vec1::<f32>().unwrap();

    let report = Trainer::new(config(6))
        .unwrap()
        .with_run_dir(dir.path())
        .train(&mut model, &Blobs::new(96))
        .unwrap();
    assert_eq!(report.epochs.len(), 6);
    assert_eq!(report.step_losses.len(), 6 * 6);
    let first = report.epochs[0].loss;
    let last = report.epochs[5].loss;
    assert!(last < 0.5 * first, "loss {first} -> {last}");
    // Running statistics moved (forward in train mode) but were not optimised.
    assert_ne!(running_mean.to_vec1::<f32>().unwrap(), before);
    // Warm-up doubles the rate over the first epoch, then cosine decays it.
    assert!((report.epochs[0].lr - 0.01 * (1.0 + 5.0 / 6.0)).abs() < 1e-12);

    let metrics = std::fs::read_to_string(dir.path().join(METRICS_FILE)).unwrap();
    let lines: Vec<serde_json::Value> = metrics
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 6);
    assert_eq!(lines[5]["epoch"], 5);
    assert_eq!(lines[5]["step"], 36);
    assert_eq!(lines[5]["loss"].as_f64().unwrap(), last);
    let ckpt = latest_checkpoint(dir.path()).unwrap().unwrap();
    assert!(ckpt.ends_with("checkpoints/epoch-000006"));
    assert_eq!(report.last_checkpoint.as_deref(), Some(ckpt.as_path()));
}

const CHILD_ENV: &str = "SSAD_TRAIN_DETERMINISM_OUT";

fn determinism_run() -> (Vec<u32>, u64) {
    let mut model = Mlp::new(2);
    let report = Trainer::new(TrainConfig {
        checkpoint_every: None,
        ..config(3)
    })
    .unwrap()
    .train(&mut model, &Blobs::new(64))
    .unwrap();
    fingerprint(&report, &model)
}

#[test]
fn bit_identical_across_processes() {
    if let Ok(out) = std::env::var(CHILD_ENV) {
        // Child: write the run's fingerprint and stop.
        let (losses, checksum) = determinism_run();
        std::fs::write(out, serde_json::to_string(&(losses, checksum)).unwrap()).unwrap();
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("child.json");
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "bit_identical_across_processes",
            "--test-threads",
            "1",
        ])
        .env(CHILD_ENV, &out)
        .status()
        .unwrap();
    assert!(status.success());
    let child: (Vec<u32>, u64) =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let here = determinism_run();
    assert_eq!(child.0.len(), 12);
    assert_eq!(child, here);
    // A different seed really changes the run (the comparison above is not vacuous).
    let mut other = Mlp::new(2);
    let report = Trainer::new(TrainConfig {
        seed: Seed(4),
        checkpoint_every: None,
        ..config(3)
    })
    .unwrap()
    .train(&mut other, &Blobs::new(64))
    .unwrap();
    assert_ne!(fingerprint(&report, &other).0, here.0);
}

#[test]
fn resume_after_a_crash_equals_an_uninterrupted_run() {
    let data = Blobs::new(64);
    let straight_dir = tempfile::tempdir().unwrap();
    let mut straight = Mlp::new(9);
    let full = Trainer::new(config(4))
        .unwrap()
        .with_run_dir(straight_dir.path())
        .train(&mut straight, &data)
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let trainer = Trainer::new(config(4)).unwrap().with_run_dir(dir.path());
    let mut crashed = Mlp::new(9);
    crashed.fail_at_epoch = Some(3); // after the epoch-2 checkpoint and epoch 2's metrics line
    let err = trainer.train(&mut crashed, &data).unwrap_err();
    assert!(matches!(err, Error::External(_)), "{err}");
    assert!(latest_checkpoint(dir.path())
        .unwrap()
        .unwrap()
        .ends_with("epoch-000002"));

    // A fresh process would rebuild the model from scratch, with other weights.
    let mut resumed = Mlp::new(1234);
    let rest = trainer.resume(&mut resumed, &data).unwrap();
    assert_eq!(rest.start_epoch, 2);
    assert_eq!(rest.epochs.len(), 2);
    let tail: Vec<u32> = full.step_losses[full.step_losses.len() / 2..]
        .iter()
        .map(|l| l.to_bits())
        .collect();
    assert_eq!(fingerprint(&rest, &resumed).0, tail);
    assert_eq!(
        resumed.state().checksum().unwrap(),
        straight.state().checksum().unwrap()
    );
    assert_eq!(
        resumed.epoch_sum.to_scalar::<f32>().unwrap(),
        straight.epoch_sum.to_scalar::<f32>().unwrap()
    );
    assert_eq!(
        full.epochs[3],
        EpochRecord {
            seconds: full.epochs[3].seconds,
            ..rest.epochs[1].clone()
        }
    );
    // The resumed run's metrics read like the uninterrupted run's.
    let epochs_logged = |dir: &std::path::Path| -> Vec<(u64, f64)> {
        std::fs::read_to_string(dir.join(METRICS_FILE))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .map(|v| (v["epoch"].as_u64().unwrap(), v["loss"].as_f64().unwrap()))
            .collect()
    };
    assert_eq!(
        epochs_logged(dir.path()),
        epochs_logged(straight_dir.path())
    );
}

#[test]
fn resume_refuses_other_settings_and_corrupt_checkpoints() {
    let data = Blobs::new(32);
    let dir = tempfile::tempdir().unwrap();
    let mut model = Mlp::new(1);
    Trainer::new(config(2))
        .unwrap()
        .with_run_dir(dir.path())
        .train(&mut model, &data)
        .unwrap();

    let other = TrainConfig {
        seed: Seed(99),
        ..config(2)
    };
    let err = Trainer::new(other)
        .unwrap()
        .with_run_dir(dir.path())
        .resume(&mut model, &data)
        .unwrap_err();
    assert!(matches!(err, Error::Checkpoint { .. }), "{err}");

    let ckpt = latest_checkpoint(dir.path()).unwrap().unwrap();
    std::fs::write(ckpt.join("model.safetensors"), b"not a safetensors file").unwrap();
    let err = Trainer::new(config(2))
        .unwrap()
        .with_run_dir(dir.path())
        .resume(&mut model, &data)
        .unwrap_err();
    assert!(matches!(err, Error::Checkpoint { .. }), "{err}");

    assert!(matches!(
        Trainer::new(config(2)).unwrap().resume(&mut model, &data),
        Err(Error::InvalidConfig {
            field: "run_dir",
            ..
        })
    ));
}

#[test]
fn too_little_data_is_an_error() {
    let mut model = Mlp::new(1);
    let err = Trainer::new(config(1))
        .unwrap()
        .train(&mut model, &Blobs::new(8))
        .unwrap_err();
    assert!(matches!(
        err,
        Error::NoBatches {
            samples: 8,
            batch_size: 16,
            drop_last: true
        }
    ));
}

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn public_types_are_send_and_sync() {
    assert_send_sync::<TrainConfig>();
    assert_send_sync::<Trainer>();
    assert_send_sync::<Error>();
    assert_send_sync::<Optimizer>();
}

/// Returns `loss` as-is: NaN, a vector, or a failing source exercise the error paths.
struct Fixed {
    w: candle_core::Var,
    make: fn(&Tensor) -> Tensor,
}

impl Objective for Fixed {
    type Batch = (Tensor, Tensor);
    fn params(&self) -> ParamSet {
        ParamSet::new(vec![("w".into(), self.w.clone())]).unwrap()
    }
    fn state(&self) -> ParamSet {
        self.params()
    }
    fn loss(&mut self, _batch: &(Tensor, Tensor), _ctx: &StepContext) -> Result<Tensor> {
        Ok((self.make)(self.w.as_tensor()))
    }
}

struct Failing;

impl BatchSource for Failing {
    type Batch = (Tensor, Tensor);
    fn len(&self) -> usize {
        32
    }
    fn batch(&self, indices: &[usize], _epoch: u64) -> Result<(Tensor, Tensor)> {
        Err(Error::external(std::io::Error::other(format!(
            "cannot read {} samples",
            indices.len()
        ))))
    }
}

#[test]
fn bad_losses_and_failing_sources_are_errors() {
    let w = candle_core::Var::new(&[1.0f32, 2.0], &Device::Cpu).unwrap();
    let trainer = Trainer::new(TrainConfig {
        checkpoint_every: None,
        ..config(1)
    })
    .unwrap();
    let data = Blobs::new(32);
    let mut nan = Fixed {
        w: w.clone(),
        make: |w| (w.sum_all().unwrap() * f64::NAN).unwrap(),
    };
    assert!(matches!(
        trainer.train(&mut nan, &data),
        Err(Error::NonFiniteLoss {
            epoch: 0,
            step: 0,
            ..
        })
    ));
    let mut vector = Fixed {
        w: w.clone(),
        make: |w| w.clone(),
    };
    assert!(matches!(trainer.train(&mut vector, &data), Err(Error::NonScalarLoss(d)) if d == [2]));
    let mut fine = Fixed {
        w,
        make: |w| w.sqr().unwrap().sum_all().unwrap(),
    };
    let err = trainer.train(&mut fine, &Failing).unwrap_err();
    assert!(err.to_string().contains("cannot read 16 samples"), "{err}");
}
