//! Parity with PyTorch/torchvision: parameter names, shapes, counts and forward values.
//! Fixtures come from tests/fixtures/make_fixtures.py.

mod common;

use candle_core::{DType, Device, Tensor};
use common::*;
use ssad_core::Seed;
use ssad_models::{
    Backbone, ExtraTensors, GoadNet, GoadNetConfig, ResNet, ResNetConfig, SeededVarMap, Stem,
    WideResNet, WideResNetConfig,
};
use std::collections::BTreeMap;

fn torch_shapes(key: &str) -> (u64, BTreeMap<String, Vec<usize>>) {
    let j = read_json("torchvision_resnets.json");
    let entry = &j[key];
    let shapes = entry["state_dict"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let name = e[0].as_str().unwrap().to_string();
            let dims = e[1]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap() as usize)
                .collect();
            (name, dims)
        })
        .filter(|(n, _): &(String, Vec<usize>)| !n.ends_with("num_batches_tracked"))
        .collect();
    (entry["num_params"].as_u64().unwrap(), shapes)
}

fn trainable_count(shapes: &BTreeMap<String, Vec<usize>>) -> u64 {
    shapes
        .iter()
        .filter(|(n, _)| !ssad_models::is_buffer_name(n))
        .map(|(_, d)| d.iter().product::<usize>() as u64)
        .sum()
}

#[test]
fn resnets_have_torchvision_names_shapes_and_param_counts() {
    for (key, cfg) in [
        ("resnet18", ResNetConfig::resnet18(Stem::Imagenet)),
        ("resnet34", ResNetConfig::resnet34(Stem::Imagenet)),
        ("resnet50", ResNetConfig::resnet50(Stem::Imagenet)),
    ] {
        let rec = ShapeRecorder::default();
        ResNet::new(&cfg.with_classes(1000), rec.vb()).unwrap();
        let (count, want) = torch_shapes(key);
        let got = rec.shapes();
        assert_eq!(got, want, "{key}: state_dict keys/shapes differ");
        assert_eq!(trainable_count(&got), count, "{key}");
    }
}

#[test]
fn wrn_10_4_matches_the_pytorch_layout() {
    let rec = ShapeRecorder::default();
    let cfg = WideResNetConfig {
        num_classes: Some(72),
        ..Default::default()
    };
    WideResNet::new(&cfg, rec.vb()).unwrap();
    let (count, want) = torch_shapes("wrn_10_4_72");
    assert_eq!(rec.shapes(), want);
    assert_eq!(trainable_count(&rec.shapes()), count);
    assert_eq!(count, 1_214_744);
}

#[test]
fn resnet18_imagenet_stem_matches_torchvision_eval() {
    let g = read_json("golden.json");
    let vars = SeededVarMap::new(Seed(0));
    let cfg = ResNetConfig::resnet18(Stem::Imagenet).with_classes(10);
    let net = ResNet::new(&cfg, vars.var_builder(DType::F32, &Device::Cpu)).unwrap();
    apply_formula(&vars);
    let x = formula_input(&[1, 3, 32, 32]);
    let logits = net.logits(&x, false).unwrap();
    assert_close(
        &to_vec(&logits),
        &floats(&g["resnet18_imagenet_eval"]["logits"]),
        1e-4,
        "logits",
    );
}

#[test]
fn resnet_train_mode_and_running_stats_match_torchvision() {
    let g = &read_json("golden.json")["resnet_1111_imagenet_train"];
    let vars = SeededVarMap::new(Seed(0));
    let cfg = ResNetConfig {
        layers: vec![1, 1, 1, 1],
        num_classes: Some(5),
        ..ResNetConfig::resnet18(Stem::Imagenet)
    };
    let net = ResNet::new(&cfg, vars.var_builder(DType::F32, &Device::Cpu)).unwrap();
    apply_formula(&vars);
    let x = formula_input(&[2, 3, 64, 64]);
    let logits = net.logits(&x, true).unwrap();
    assert_close(
        &to_vec(&logits),
        &floats(&g["logits"]),
        1e-4,
        "train logits",
    );
    let rm = vars.get("bn1.running_mean").unwrap();
    let rv = vars.get("bn1.running_var").unwrap();
    assert_close(
        &to_vec(rm.as_tensor()),
        &floats(&g["bn1_running_mean"]),
        1e-5,
        "running_mean",
    );
    assert_close(
        &to_vec(rv.as_tensor()),
        &floats(&g["bn1_running_var"]),
        1e-5,
        "running_var",
    );
}

#[test]
fn wrn_features_match_pytorch_in_both_modes() {
    let g = &read_json("golden.json")["wrn_10_2"];
    let vars = SeededVarMap::new(Seed(0));
    let cfg = WideResNetConfig {
        widen_factor: 2,
        num_classes: Some(7),
        ..Default::default()
    };
    let net = WideResNet::new(&cfg, vars.var_builder(DType::F32, &Device::Cpu)).unwrap();
    apply_formula(&vars);
    let x = formula_input(&[2, 3, 16, 16]);
    let ev = net.forward_features(&x, false).unwrap();
    assert_close(&to_vec(&ev), &floats(&g["features_eval"]), 1e-4, "eval");
    let tr = net.forward_features(&x, true).unwrap();
    assert_close(&to_vec(&tr), &floats(&g["features_train"]), 1e-4, "train");
}

#[test]
fn goad_net_matches_pytorch_conv1d_layout() {
    let g = &read_json("golden.json")["goad_c5"];
    let vars = SeededVarMap::new(Seed(0));
    let cfg = GoadNetConfig {
        input_dim: 6,
        ndf: 4,
        num_transforms: 3,
        trunk_layers: 5,
    };
    let net = GoadNet::new(&cfg, vars.var_builder(DType::F32, &Device::Cpu)).unwrap();
    let names: Vec<String> = vars.named_vars().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "head.1.bias",
            "head.1.weight",
            "trunk.0.weight",
            "trunk.2.weight",
            "trunk.4.weight",
            "trunk.6.weight",
            "trunk.8.weight"
        ]
    );
    apply_formula(&vars);
    // torch takes (B, d, M); ours takes (B, M, d).
    let x = formula_input(&[2, 6, 3])
        .transpose(1, 2)
        .unwrap()
        .contiguous()
        .unwrap();
    let (feats, logits) = net.forward(&x).unwrap();
    let feats = feats.transpose(1, 2).unwrap();
    let logits = logits.transpose(1, 2).unwrap();
    assert_close(
        &to_vec(&feats),
        &floats(&g["features_bnm"]),
        1e-5,
        "features",
    );
    assert_close(&to_vec(&logits), &floats(&g["logits_bnm"]), 1e-5, "logits");
}

#[test]
fn torch_written_safetensors_load_and_reproduce_outputs() {
    let want = read_json("tiny_resnet.json");
    let cfg = ResNetConfig {
        layers: vec![1, 1],
        widths: vec![8, 16],
        in_channels: 1,
        num_classes: Some(3),
        ..ResNetConfig::small28()
    };
    let vars = SeededVarMap::new(Seed(5));
    let net = ResNet::new(&cfg, vars.var_builder(DType::F32, &Device::Cpu)).unwrap();
    // The file carries num_batches_tracked entries, which are skipped even when rejecting extras.
    vars.load(fixture("tiny_resnet.safetensors"), ExtraTensors::Reject)
        .unwrap();
    let x = formula_input(&[2, 1, 12, 12]);
    let ev = net.logits(&x, false).unwrap();
    assert_close(&to_vec(&ev), &floats(&want["logits_eval"]), 1e-5, "eval");
    let tr = net.logits(&x, true).unwrap();
    assert_close(&to_vec(&tr), &floats(&want["logits_train"]), 1e-5, "train");
}

#[test]
fn formula_helpers_agree_with_python_on_a_known_value() {
    // u = (0 * 7919 + 1 * 104729) % 2003 / 2003 = 573 / 2003 for element 0 of tensor 1.
    let v = formula_value("x.running_var", 1, 0, &[4]);
    assert_eq!(v, (0.5 + 573.0 / 2003.0) as f32);
    let t: Tensor = formula_input(&[3]);
    assert_eq!(to_vec(&t)[1], (31.0f64 / 97.0 - 0.5) as f32);
}
