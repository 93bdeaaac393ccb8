//! Helpers shared by the integration tests.
#![allow(dead_code)]

use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::{Init, VarBuilder};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// A backend that hands out zeros and records every requested name and shape.
#[derive(Clone, Default)]
pub struct ShapeRecorder(pub Arc<Mutex<BTreeMap<String, Vec<usize>>>>);

impl candle_nn::var_builder::SimpleBackend for ShapeRecorder {
    fn get(
        &self,
        s: Shape,
        name: &str,
        _h: Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        self.0
            .lock()
            .unwrap()
            .insert(name.to_string(), s.dims().to_vec());
        Tensor::zeros(s, dtype, dev)
    }
    fn get_unchecked(&self, name: &str, _: DType, _: &Device) -> candle_core::Result<Tensor> {
        candle_core::bail!("no {name}")
    }
    fn contains_tensor(&self, name: &str) -> bool {
        self.0.lock().unwrap().contains_key(name)
    }
}

impl ShapeRecorder {
    pub fn vb(&self) -> VarBuilder<'static> {
        VarBuilder::from_backend(Box::new(self.clone()), DType::F32, Device::Cpu)
    }
    pub fn shapes(&self) -> BTreeMap<String, Vec<usize>> {
        self.0.lock().unwrap().clone()
    }
}

/// `formula_value` of make_fixtures.py, element `i` of the `j`-th name-sorted tensor.
pub fn formula_value(name: &str, j: u64, i: u64, shape: &[usize]) -> f32 {
    let u = ((i * 7919 + j * 104_729) % 2003) as f64 / 2003.0;
    let v = if name.ends_with("running_var") {
        0.5 + u
    } else if shape.len() == 1 {
        if name.ends_with("weight") {
            0.8 + 0.4 * u
        } else {
            0.2 * (u - 0.5)
        }
    } else {
        let fan_in: usize = shape[1..].iter().product();
        (u - 0.5) * 2.0 * (6.0 / fan_in as f64).sqrt()
    };
    v as f32
}

/// Sets every variable of `vars` to the formula values (names sorted, as in Python).
pub fn apply_formula(vars: &ssad_models::SeededVarMap) {
    for (j, (name, var)) in vars.named_vars().into_iter().enumerate() {
        let dims = var.dims().to_vec();
        let n: usize = dims.iter().product();
        let v: Vec<f32> = (0..n as u64)
            .map(|i| formula_value(&name, j as u64, i, &dims))
            .collect();
        var.set(&Tensor::from_vec(v, dims, &Device::Cpu).unwrap())
            .unwrap();
    }
}

/// `formula_input` of make_fixtures.py.
pub fn formula_input(dims: &[usize]) -> Tensor {
    let n: usize = dims.iter().product();
    let v: Vec<f32> = (0..n)
        .map(|i| (((i * 31) % 97) as f64 / 97.0 - 0.5) as f32)
        .collect();
    Tensor::from_vec(v, dims, &Device::Cpu).unwrap()
}

pub fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

pub fn read_json(name: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixture(name)).unwrap()).unwrap()
}

pub fn floats(v: &serde_json::Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

pub fn to_vec(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1().unwrap()
}

pub fn assert_close(got: &[f32], want: &[f32], tol: f32, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "{what}[{i}]: got {g}, want {w}"
        );
    }
}
