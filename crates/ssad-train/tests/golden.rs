//! Optimizer steps and schedules against PyTorch (fixtures/make_fixtures.py).

use candle_core::{Device, Tensor, Var};
use serde_json::Value;
use ssad_train::{Optimizer, OptimizerConfig, ParamSet, ScheduleConfig};

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/golden.json")).unwrap()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

#[test]
fn optimizers_match_torch() {
    let fx = fixture();
    let m = &fx["model"];
    let dev = Device::Cpu;
    let x = Tensor::from_vec(floats(&m["x"]), (4, 3), &dev).unwrap();
    let y = Tensor::from_vec(floats(&m["y"]), (4, 2), &dev).unwrap();
    let runs = fx["optimizers"].as_array().unwrap();
    assert_eq!(runs.len(), 7);
    for run in runs {
        let name = run["name"].as_str().unwrap();
        let config: OptimizerConfig = serde_json::from_value(run["config"].clone()).unwrap();
        let w =
            Var::from_tensor(&Tensor::from_vec(floats(&m["w0"]), (3, 2), &dev).unwrap()).unwrap();
        let b = Var::from_tensor(&Tensor::from_vec(floats(&m["b0"]), 2, &dev).unwrap()).unwrap();
        let params = ParamSet::new(vec![("w".into(), w.clone()), ("b".into(), b.clone())]).unwrap();
        let mut opt = Optimizer::new(config, params.clone()).unwrap();
        for (step, want) in run["trace"].as_array().unwrap().iter().enumerate() {
            let pred = x
                .matmul(w.as_tensor())
                .unwrap()
                .broadcast_add(b.as_tensor())
                .unwrap();
            let loss = (pred.tanh().unwrap() - &y)
                .unwrap()
                .sqr()
                .unwrap()
                .mean_all()
                .unwrap();
            let got_loss = loss.to_scalar::<f32>().unwrap();
            let want_loss = want["loss"].as_f64().unwrap() as f32;
            assert!(
                (got_loss - want_loss).abs() < 1e-5,
                "{name} step {step}: loss {got_loss} vs {want_loss}"
            );
            let mut grads = loss.backward().unwrap();
            if let Some(clip) = run["clip"].as_f64() {
                params.clip_grad_norm(&mut grads, clip).unwrap();
            }
            opt.step(&grads).unwrap();
            for (var, key) in [(&w, "w"), (&b, "b")] {
                let got: Vec<f32> = var.flatten_all().unwrap().to_vec1().unwrap();
                for (i, (g, t)) in got.iter().zip(floats(&want[key])).enumerate() {
                    assert!(
                        (g - t).abs() <= 2e-6 * t.abs().max(1.0),
                        "{name} step {step}: {key}[{i}] = {g}, torch {t}"
                    );
                }
            }
        }
        assert_eq!(opt.steps(), 5);
        // The state must not hold the autograd graph: a momentum buffer built
        // from the parameter's own (tracked) tensor kept every earlier step's
        // buffers and gradients alive, ~4 model sizes of memory per step.
        for (slot, t) in opt.state_tensors() {
            assert!(!t.track_op(), "{name}: {slot} carries autograd history");
        }
    }
}

#[test]
fn schedules_match_torch() {
    let fx = fixture();
    for s in fx["schedules"].as_array().unwrap() {
        let config: ScheduleConfig = serde_json::from_value(s["config"].clone()).unwrap();
        config.validate().unwrap();
        let epochs = s["epochs"].as_u64().unwrap() as usize;
        let ts = s["ts"].as_array().unwrap();
        let lrs = s["lrs"].as_array().unwrap();
        for (t, want) in ts.iter().zip(lrs) {
            let (t, want) = (t.as_f64().unwrap(), want.as_f64().unwrap());
            let got = config.lr_at(0.1, t, epochs);
            assert!(
                (got - want).abs() < 1e-12,
                "{config:?} at t = {t}: {got} vs torch {want}"
            );
        }
    }
}
