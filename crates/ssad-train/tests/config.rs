//! Pinned defaults, config validation, optimizer state round trips and the
//! seeded epoch order.

use candle_core::{DType, Device, Tensor, Var};
use proptest::prelude::*;
use ssad_core::Seed;
use ssad_train::*;
use std::collections::HashMap;

#[test]
fn defaults_match_papers() {
    assert_eq!(
        SgdConfig::default(),
        SgdConfig {
            lr: 0.1,
            momentum: 0.9,
            nesterov: true,
            weight_decay: 5e-4
        }
    );
    assert_eq!(
        AdamConfig::default(),
        AdamConfig {
            lr: 1e-3,
            betas: (0.5, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled: false
        }
    );
    assert_eq!(
        LarsConfig::default(),
        LarsConfig {
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 1e-6,
            trust_coef: 1e-3,
            eps: 1e-8,
            exclude_1d: false
        }
    );
    let t = TrainConfig::default();
    assert_eq!((t.epochs, t.batch_size, t.drop_last), (100, 128, false));
    assert_eq!(t.optimizer, OptimizerConfig::Sgd(SgdConfig::default()));
    assert_eq!(t.schedule, ScheduleConfig::Constant);
    assert_eq!(
        (t.clip_grad_norm, t.checkpoint_every, t.seed),
        (None, None, Seed(0))
    );
}

#[test]
fn configs_parse_and_reject_typos() {
    let t: TrainConfig = serde_json::from_str(
        r#"{"epochs": 3, "optimizer": {"kind": "lars", "lr": 0.4},
            "schedule": {"kind": "warmup_cosine", "multiplier": 10.0, "warmup_epochs": 10,
                         "t_max": null, "eta_min": 0.0}}"#,
    )
    .unwrap();
    assert_eq!(t.epochs, 3);
    assert_eq!(
        t.optimizer,
        OptimizerConfig::Lars(LarsConfig {
            lr: 0.4,
            ..LarsConfig::default()
        })
    );
    t.validate().unwrap();
    assert!(serde_json::from_str::<TrainConfig>(r#"{"epoch": 3}"#).is_err());
    assert!(
        serde_json::from_str::<OptimizerConfig>(r#"{"kind": "sgd", "momentun": 0.9}"#).is_err()
    );
    assert!(serde_json::from_str::<OptimizerConfig>(r#"{"kind": "rmsprop"}"#).is_err());
}

#[test]
fn invalid_settings_are_errors() {
    let bad = [
        TrainConfig {
            epochs: 0,
            ..TrainConfig::default()
        },
        TrainConfig {
            batch_size: 0,
            ..TrainConfig::default()
        },
        TrainConfig {
            clip_grad_norm: Some(f64::NAN),
            ..TrainConfig::default()
        },
        TrainConfig {
            checkpoint_every: Some(0),
            ..TrainConfig::default()
        },
        TrainConfig {
            optimizer: OptimizerConfig::Sgd(SgdConfig {
                momentum: 0.0,
                nesterov: true,
                ..SgdConfig::default()
            }),
            ..TrainConfig::default()
        },
        TrainConfig {
            optimizer: OptimizerConfig::Adam(AdamConfig {
                betas: (1.0, 0.9),
                ..AdamConfig::default()
            }),
            ..TrainConfig::default()
        },
        TrainConfig {
            optimizer: OptimizerConfig::Lars(LarsConfig {
                lr: -1.0,
                ..LarsConfig::default()
            }),
            ..TrainConfig::default()
        },
        TrainConfig {
            schedule: ScheduleConfig::Step {
                step_size: 0,
                gamma: 0.1,
            },
            ..TrainConfig::default()
        },
        TrainConfig {
            schedule: ScheduleConfig::MultiStep {
                milestones: vec![5, 3],
                gamma: 0.1,
            },
            ..TrainConfig::default()
        },
        TrainConfig {
            schedule: ScheduleConfig::CosineWarmRestarts {
                t_0: 0,
                t_mult: 1,
                eta_min: 0.0,
            },
            ..TrainConfig::default()
        },
    ];
    for cfg in bad {
        assert!(
            matches!(Trainer::new(cfg.clone()), Err(Error::InvalidConfig { .. })),
            "{cfg:?} was accepted"
        );
    }
}

#[test]
fn optimizer_state_round_trips_and_rejects_mismatches() {
    let dev = Device::Cpu;
    let w = Var::from_tensor(&Tensor::new(&[1.0f32, -2.0, 3.0], &dev).unwrap()).unwrap();
    let params = ParamSet::new(vec![("w".into(), w.clone())]).unwrap();
    let mut opt =
        Optimizer::new(OptimizerConfig::Adam(AdamConfig::default()), params.clone()).unwrap();
    let loss = w.as_tensor().sqr().unwrap().sum_all().unwrap();
    opt.step(&loss.backward().unwrap()).unwrap();
    let state: HashMap<String, Tensor> = opt.state_tensors().into_iter().collect();
    let mut keys: Vec<&String> = state.keys().collect();
    keys.sort();
    assert_eq!(keys, ["w/exp_avg", "w/exp_avg_sq"]);

    let mut fresh =
        Optimizer::new(OptimizerConfig::Adam(AdamConfig::default()), params.clone()).unwrap();
    fresh.load_state(&state, opt.steps()).unwrap();
    assert_eq!(fresh.steps(), 1);

    let mut wrong_shape = state.clone();
    wrong_shape.insert(
        "w/exp_avg".into(),
        Tensor::zeros(2, DType::F32, &dev).unwrap(),
    );
    assert!(fresh.load_state(&wrong_shape, 1).is_err());
    let mut stranger = state.clone();
    stranger.insert(
        "v/exp_avg".into(),
        Tensor::zeros(3, DType::F32, &dev).unwrap(),
    );
    assert!(fresh.load_state(&stranger, 1).is_err());

    assert!(ParamSet::new(vec![("w".into(), w.clone()), ("w".into(), w)]).is_err());
}

#[test]
fn clipping_bounds_the_global_norm() {
    let dev = Device::Cpu;
    let a = Var::from_tensor(&Tensor::new(&[3.0f32], &dev).unwrap()).unwrap();
    let b = Var::from_tensor(&Tensor::new(&[4.0f32], &dev).unwrap()).unwrap();
    let params = ParamSet::new(vec![("a".into(), a.clone()), ("b".into(), b.clone())]).unwrap();
    // d/da (a^2 + b^2) / 2 = a, so the gradient norm is 5.
    let loss = ((a.as_tensor().sqr().unwrap() + b.as_tensor().sqr().unwrap()).unwrap() * 0.5)
        .unwrap()
        .sum_all()
        .unwrap();
    let mut grads = loss.backward().unwrap();
    assert!((params.clip_grad_norm(&mut grads, 1.0).unwrap() - 5.0).abs() < 1e-6);
    assert!((params.grad_norm(&grads).unwrap() - 1.0).abs() < 1e-5);
}

proptest! {
    #[test]
    fn epoch_batches_partition_a_permutation(len in 1usize..200, bs in 1usize..40, drop_last: bool, epoch in 0u64..4) {
        prop_assume!(!drop_last || len >= bs);
        let batches = epoch_batches(len, bs, drop_last, Seed(1), epoch).unwrap();
        prop_assert!(batches.iter().all(|b| b.len() == bs || (!drop_last && b.len() < bs)));
        let mut all: Vec<usize> = batches.concat();
        let expected = if drop_last { len - len % bs } else { len };
        prop_assert_eq!(all.len(), expected);
        all.sort_unstable();
        all.dedup();
        prop_assert_eq!(all.len(), expected);
        prop_assert!(all.iter().all(|&i| i < len));
        prop_assert_eq!(&batches, &epoch_batches(len, bs, drop_last, Seed(1), epoch).unwrap());
    }
}

#[test]
fn epochs_are_shuffled_differently() {
    let a = epoch_batches(100, 10, false, Seed(1), 0).unwrap();
    let b = epoch_batches(100, 10, false, Seed(1), 1).unwrap();
    assert_ne!(a, b);
    assert!(matches!(
        epoch_batches(0, 10, false, Seed(1), 0),
        Err(Error::NoBatches { .. })
    ));
}
