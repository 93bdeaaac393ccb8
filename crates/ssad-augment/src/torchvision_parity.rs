//! Known answers from torchvision's tensor functional ops
//! (`tests/fixtures/make_torch_fixtures.py`).

use serde_json::Value;

use crate::color::{
    adjust_brightness, adjust_contrast, adjust_hue, adjust_saturation, gaussian_blur, to_grayscale,
};
use crate::image::ImageShape;
use crate::simclr::resize_crop;

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn shape(v: &Value) -> ImageShape {
    let d: Vec<usize> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect();
    ImageShape {
        channels: d[0],
        height: d[1],
        width: d[2],
    }
}

#[test]
fn colour_blur_and_crop_match_torchvision() {
    let f: Value =
        serde_json::from_str(include_str!("../tests/fixtures/torchvision.json")).unwrap();
    let mut checked = 0;
    for case in f["cases"].as_array().unwrap() {
        let (src, s) = if case["src"] == "image" {
            (floats(&f["image"]), shape(&f["shape"]))
        } else {
            (floats(&f["grey"]), shape(&f["grey_shape"]))
        };
        let mut img = src.clone();
        let arg = &case["arg"];
        let num = |v: &Value| v.as_f64().unwrap() as f32;
        let op = case["op"].as_str().unwrap();
        match op {
            "brightness" => adjust_brightness(&mut img, num(arg)),
            "contrast" => adjust_contrast(&mut img, s, num(arg)),
            "saturation" => adjust_saturation(&mut img, s, num(arg)),
            "hue" => adjust_hue(&mut img, s, num(arg)),
            "grayscale" => to_grayscale(&mut img, s),
            "blur" => {
                let k = arg[0].as_u64().unwrap() as usize;
                gaussian_blur(&mut img, s, k, num(&arg[1]), &mut Vec::new());
            }
            "resized_crop" => {
                let a: Vec<usize> = (0..4).map(|i| arg[i].as_u64().unwrap() as usize).collect();
                resize_crop(&mut img, s, (a[0], a[1], a[2], a[3]), &mut Vec::new());
            }
            other => panic!("unknown op {other}"),
        }
        let expected = floats(&case["out"]);
        assert_eq!(img.len(), expected.len(), "{op} {arg}");
        for (i, (a, b)) in img.iter().zip(&expected).enumerate() {
            assert!(
                (a - b).abs() < 2e-5,
                "{op} {arg}: value {i}: {a} vs torchvision {b}"
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 22);
}
