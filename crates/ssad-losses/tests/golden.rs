//! Loss values and input gradients against PyTorch (fixtures/make_fixtures.py),
//! in f32 and f64, plus finite-difference gradient checks in f64.

use candle_core::{DType, Device, Tensor, Var};
use serde_json::Value;
use std::collections::BTreeMap;

fn fixture() -> Value {
    let text = include_str!("fixtures/golden.json");
    serde_json::from_str(text).unwrap()
}

fn tensor_of(v: &Value, dtype: DType) -> Tensor {
    let shape: Vec<usize> = v["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect();
    let data: Vec<f64> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    Tensor::from_vec(data, shape, &Device::Cpu)
        .unwrap()
        .to_dtype(dtype)
        .unwrap()
}

fn u32s(v: &Value) -> Tensor {
    let data: Vec<u32> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect();
    Tensor::new(data, &Device::Cpu).unwrap()
}

/// Evaluates the named case's loss on `inputs`.
fn eval(case: &Value, inputs: &BTreeMap<String, Tensor>) -> Tensor {
    let p = &case["params"];
    let f = |k: &str| p[k].as_f64().unwrap();
    let name = case["name"].as_str().unwrap();
    let input = |k: &str| &inputs[k];
    match name {
        n if n.starts_with("cross_entropy") => ssad_losses::cross_entropy_smoothed(
            input("logits"),
            &u32s(&case["targets"]),
            f("label_smoothing"),
        ),
        "center_triplet" => ssad_losses::center_triplet(input("emb"), f("margin")),
        "goad" => ssad_losses::goad_loss(input("logits"), input("emb"), f("margin"), f("lambda")),
        n if n.starts_with("nt_xent") => {
            ssad_losses::nt_xent(input("z1"), input("z2"), f("temperature"), f("eps"))
        }
        "con_si" => ssad_losses::con_si(input("z1"), input("z2"), f("temperature"), f("eps")),
        "supcon_labels" => ssad_losses::supcon(
            input("features"),
            Some(&u32s(&case["labels"])),
            f("temperature"),
            f("base_temperature"),
        ),
        "supcon_unsupervised" => ssad_losses::supcon(
            input("features"),
            None,
            f("temperature"),
            f("base_temperature"),
        ),
        "svdd" => {
            let dtype = input("emb").dtype();
            let c: Vec<f64> = case["center"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect();
            let c = Tensor::new(c, &Device::Cpu)
                .unwrap()
                .to_dtype(dtype)
                .unwrap();
            ssad_losses::svdd_loss(input("emb"), &c)
        }
        other => panic!("unknown case {other}"),
    }
    .unwrap()
}

fn check_against_torch(dtype: DType, tol: f64) {
    let fx = fixture();
    let cases = fx["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 11);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let vars: BTreeMap<String, Var> = case["inputs"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), Var::from_tensor(&tensor_of(v, dtype)).unwrap()))
            .collect();
        let inputs = vars
            .iter()
            .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
            .collect();
        let loss = eval(case, &inputs);
        let got = loss
            .to_dtype(DType::F64)
            .unwrap()
            .to_scalar::<f64>()
            .unwrap();
        let want = case["loss"].as_f64().unwrap();
        assert!(
            (got - want).abs() <= tol * want.abs().max(1.0),
            "{name}: loss {got} vs torch {want}"
        );
        let grads = loss.backward().unwrap();
        for (k, var) in &vars {
            let got: Vec<f64> = grads
                .get(var)
                .unwrap()
                .to_dtype(DType::F64)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            let want: Vec<f64> = tensor_of(&case["grads"][k], DType::F64)
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            let scale = want.iter().fold(1.0f64, |m, w| m.max(w.abs()));
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (g - w).abs() <= tol * scale,
                    "{name}: d/d{k}[{i}] = {g} vs torch {w}"
                );
            }
        }
    }
}

#[test]
fn f32_matches_torch() {
    check_against_torch(DType::F32, 1e-5);
}

#[test]
fn f64_matches_torch() {
    check_against_torch(DType::F64, 1e-10);
}

/// Central differences on every input element, in f64.
#[test]
fn gradients_match_finite_differences() {
    let fx = fixture();
    for case in fx["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let base: BTreeMap<String, Tensor> = case["inputs"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), tensor_of(v, DType::F64)))
            .collect();
        let vars: BTreeMap<String, Var> = base
            .iter()
            .map(|(k, t)| (k.clone(), Var::from_tensor(t).unwrap()))
            .collect();
        let inputs = vars
            .iter()
            .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
            .collect();
        let grads = eval(case, &inputs).backward().unwrap();
        let h = 1e-6;
        for (k, t) in &base {
            let analytic: Vec<f64> = grads
                .get(&vars[k])
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            let flat: Vec<f64> = t.flatten_all().unwrap().to_vec1().unwrap();
            for i in 0..flat.len() {
                let at = |delta: f64| {
                    let mut moved = flat.clone();
                    moved[i] += delta;
                    let mut inputs = base.clone();
                    inputs.insert(
                        k.clone(),
                        Tensor::from_vec(moved, t.dims(), &Device::Cpu).unwrap(),
                    );
                    eval(case, &inputs).to_scalar::<f64>().unwrap()
                };
                let numeric = (at(h) - at(-h)) / (2.0 * h);
                assert!(
                    (numeric - analytic[i]).abs() <= 1e-5 * numeric.abs().max(1.0),
                    "{name}: d/d{k}[{i}] analytic {} vs numeric {numeric}",
                    analytic[i]
                );
            }
        }
    }
}
