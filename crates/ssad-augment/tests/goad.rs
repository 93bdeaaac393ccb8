//! GOAD's random affine maps: shapes, values, reproducibility, persistence.

use candle_core::{DType, Device, Tensor};
use ssad_augment::{Error, GoadAffine, GOAD_AFFINE_KEY};
use ssad_core::Seed;

#[test]
fn apply_gives_one_product_per_map() {
    let dev = Device::Cpu;
    let goad = GoadAffine::new(5, 3, 4, Seed(1), &dev).unwrap();
    assert_eq!((goad.dim_in(), goad.count(), goad.dim_out()), (5, 3, 4));
    let x = Tensor::arange(0f32, 10.0, &dev)
        .unwrap()
        .reshape((2, 5))
        .unwrap();
    let y = goad.apply(&x).unwrap();
    assert_eq!(y.dims(), &[2, 3, 4]);
    let w = goad.matrices().unwrap().to_vec3::<f32>().unwrap();
    let x = x.to_vec2::<f32>().unwrap();
    let y = y.to_vec3::<f32>().unwrap();
    for b in 0..2 {
        for m in 0..3 {
            for c in 0..4 {
                let expected: f32 = (0..5).map(|a| x[b][a] * w[m][a][c]).sum();
                assert!((y[b][m][c] - expected).abs() < 1e-4, "({b}, {m}, {c})");
            }
        }
    }
}

#[test]
fn maps_are_reproducible_and_standard_normal() {
    let dev = Device::Cpu;
    let a = GoadAffine::new(64, 16, 32, Seed(3), &dev)
        .unwrap()
        .matrices()
        .unwrap();
    let b = GoadAffine::new(64, 16, 32, Seed(3), &dev)
        .unwrap()
        .matrices()
        .unwrap();
    let c = GoadAffine::new(64, 16, 32, Seed(4), &dev)
        .unwrap()
        .matrices()
        .unwrap();
    let (a, b, c) = (
        a.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        b.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        c.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
    );
    assert_eq!(a, b);
    assert_ne!(a, c);
    let n = a.len() as f64;
    let mean = a.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = a
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / n;
    // 32768 draws: the standard error of the mean is 0.0055.
    assert!(mean.abs() < 0.03, "mean {mean}");
    assert!((var - 1.0).abs() < 0.05, "variance {var}");
}

#[test]
fn maps_survive_a_safetensors_round_trip() {
    let dev = Device::Cpu;
    let goad = GoadAffine::new(7, 4, 3, Seed(5), &dev).unwrap();
    let path = std::env::temp_dir().join(format!(
        "ssad-augment-goad-{}.safetensors",
        std::process::id()
    ));
    candle_core::safetensors::save(&goad.to_tensors().unwrap(), &path).unwrap();
    let loaded = candle_core::safetensors::load(&path, &dev).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(loaded[GOAD_AFFINE_KEY].dims(), &[4, 7, 3]);
    let back = GoadAffine::from_tensors(&loaded).unwrap();
    let x = Tensor::ones((2, 7), DType::F32, &dev).unwrap();
    let (y0, y1) = (goad.apply(&x).unwrap(), back.apply(&x).unwrap());
    assert_eq!(
        y0.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        y1.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    );
}

#[test]
fn bad_input_gives_typed_errors() {
    let dev = Device::Cpu;
    for (d, m, r, field) in [
        (0, 2, 2, "dim_in"),
        (2, 0, 2, "count"),
        (2, 2, 0, "dim_out"),
    ] {
        assert!(matches!(
            GoadAffine::new(d, m, r, Seed(0), &dev),
            Err(Error::InvalidConfig { field: f, .. }) if f == field
        ));
    }
    let goad = GoadAffine::new(3, 2, 2, Seed(0), &dev).unwrap();
    let wrong_width = Tensor::ones((2, 4), DType::F32, &dev).unwrap();
    assert!(matches!(goad.apply(&wrong_width), Err(Error::Shape { .. })));
    let rank3 = Tensor::ones((2, 3, 1), DType::F32, &dev).unwrap();
    assert!(matches!(
        goad.apply(&rank3),
        Err(Error::Rank { expected: 2, .. })
    ));
    let empty = Tensor::ones((0, 3), DType::F32, &dev).unwrap();
    assert!(matches!(goad.apply(&empty), Err(Error::Empty { .. })));
    let nan = Tensor::new(&[[1.0f32, f32::NAN, 0.0]], &dev).unwrap();
    assert!(matches!(
        goad.apply(&nan),
        Err(Error::NonFinite { position: 1, .. })
    ));
    let missing = std::collections::HashMap::new();
    assert!(matches!(
        GoadAffine::from_tensors(&missing),
        Err(Error::Shape { .. })
    ));
}
