//! Every registered method on tiny synthetic data: finite scores of the right
//! length, same seed gives the same scores, save/load gives identical scores,
//! and bad input gives a typed error.

use rand::Rng;
use ssad_core::{Matrix, Seed, Stream};
use ssad_methods::{
    load, method, ClassicConfig, Detector, Error, GoadConfig, ImageBatch, Input, Method, REGISTRY,
};
use ssad_scorers::ScorerConfig;

const WIDTH: usize = 5;

fn data(rows: usize, seed: u64) -> Matrix {
    let mut rng = Seed(seed).rng(Stream::Other(1), 0, 0);
    let v: Vec<f32> = (0..rows * WIDTH)
        .map(|_| rng.random_range(-1.0f32..1.0))
        .collect();
    Matrix::new(v, rows, WIDTH).unwrap()
}

/// Small settings of every registered method (and every classic detector), fast enough for a test.
fn methods() -> Vec<Box<dyn Method>> {
    let mut all: Vec<Box<dyn Method>> = vec![Box::new(GoadConfig {
        num_transforms: 6,
        transform_dim: 4,
        ndf: 3,
        epochs: 2,
        batch_size: 16,
        ..GoadConfig::default()
    })];
    let mut five_layers = GoadConfig::preset(ssad_methods::GoadPreset::Kdd);
    (
        five_layers.num_transforms,
        five_layers.transform_dim,
        five_layers.ndf,
        five_layers.epochs,
    ) = (4, 3, 4, 1);
    all.push(Box::new(five_layers));
    for scorer in ScorerConfig::catalogue() {
        if matches!(
            scorer.name(),
            "knn" | "lof" | "iforest" | "ocsvm" | "pca" | "kde" | "ecod" | "copod" | "hbos"
        ) {
            all.push(Box::new(ClassicConfig::new(scorer)));
        }
    }
    all.extend(tabular_baselines());
    // Every registry entry is covered.
    let baselines = image_baselines();
    let images = contrastive_methods();
    let transforms = transform_methods();
    for entry in REGISTRY {
        assert!(
            all.iter()
                .chain(&images)
                .chain(&cutpaste_methods())
                .chain(&transforms)
                .chain(&baselines)
                .any(|m| m.name() == entry.name),
            "{}",
            entry.name
        );
    }
    all
}

#[test]
fn every_method_conforms() {
    let train = data(48, 0);
    let test = data(9, 1);
    let dir = tempfile::tempdir().unwrap();
    for (i, m) in methods().into_iter().enumerate() {
        let label = format!("{} {}", m.name(), m.config_json().unwrap());
        let fitted = m.fit(Input::from(&train), Seed(3)).unwrap();
        assert_eq!(fitted.method(), m.name());
        let scores = fitted.score(Input::from(&test)).unwrap();
        assert_eq!(scores.len(), test.rows(), "{label}");
        assert!(scores.iter().all(|s| s.is_finite()), "{label}");

        let again = m.fit(Input::from(&train), Seed(3)).unwrap();
        assert_eq!(
            again.score(Input::from(&test)).unwrap(),
            scores,
            "{label}: same seed"
        );

        // Rebuilt from its JSON config through the registry, it is the same method.
        let rebuilt = method(m.name(), Some(m.config_json().unwrap())).unwrap();
        assert_eq!(rebuilt.config_json().unwrap(), m.config_json().unwrap());

        let folder = dir.path().join(format!("model-{i}"));
        fitted.save(&folder).unwrap();
        let loaded = load(&folder).unwrap();
        assert_eq!(loaded.method(), m.name());
        assert_eq!(
            loaded.score(Input::from(&test)).unwrap(),
            scores,
            "{label}: reload"
        );

        let narrow = Matrix::new(vec![0.0; 2 * (WIDTH - 1)], 2, WIDTH - 1).unwrap();
        assert!(
            fitted.score(Input::from(&narrow)).is_err(),
            "{label}: width"
        );
        let mut nan = test.clone();
        nan.as_mut_slice()[3] = f32::NAN;
        assert!(
            fitted.score(Input::from(&nan)).is_err(),
            "{label}: NaN score"
        );
        assert!(
            m.fit(Input::from(&nan), Seed(3)).is_err(),
            "{label}: NaN fit"
        );
        let empty = Matrix::new(Vec::new(), 0, WIDTH).unwrap();
        assert!(
            fitted.score(Input::from(&empty)).is_err(),
            "{label}: empty score"
        );
        assert!(
            m.fit(Input::from(&empty), Seed(3)).is_err(),
            "{label}: empty fit"
        );
        let pixels = vec![0.0f32; 2 * 3 * 4 * 4];
        let images = ImageBatch::new(&pixels, [2, 3, 4, 4]).unwrap();
        let err = fitted.score(Input::Images(images));
        assert!(
            matches!(err, Err(Error::InputKind { .. })),
            "{label}: {err:?}"
        );
    }
}

#[test]
fn a_folder_from_another_method_is_a_typed_error() {
    let train = data(32, 0);
    let dir = tempfile::tempdir().unwrap();
    let classic = dir.path().join("classic");
    ClassicConfig::default()
        .fit(Input::from(&train), Seed(0))
        .unwrap()
        .save(&classic)
        .unwrap();
    let goad = dir.path().join("goad");
    GoadConfig {
        num_transforms: 4,
        transform_dim: 3,
        ndf: 2,
        ..GoadConfig::default()
    }
    .fit(Input::from(&train), Seed(0))
    .unwrap()
    .save(&goad)
    .unwrap();
    for (entry, folder) in [("goad", &classic), ("classic", &goad)] {
        let err = (ssad_methods::entry(entry).unwrap().load)(folder).unwrap_err();
        assert!(matches!(err, Error::WrongMethod { .. }), "{err}");
    }
    let missing = (ssad_methods::entry("goad").unwrap().load)(&dir.path().join("none"));
    assert!(matches!(missing, Err(Error::Io { .. })));
    std::fs::write(goad.join(ssad_methods::HEADER_FILE), b"{ not json").unwrap();
    assert!(matches!(load(&goad), Err(Error::CorruptModel { .. })));
}

#[test]
fn different_seeds_give_different_goad_detectors() {
    let train = data(40, 0);
    let test = data(5, 1);
    let goad = GoadConfig {
        num_transforms: 4,
        transform_dim: 3,
        ndf: 2,
        ..GoadConfig::default()
    };
    let a = goad.fit(Input::from(&train), Seed(0)).unwrap();
    let b = goad.fit(Input::from(&train), Seed(1)).unwrap();
    assert_ne!(
        a.score(Input::from(&test)).unwrap(),
        b.score(Input::from(&test)).unwrap()
    );
}

#[test]
fn goad_ranks_far_points_above_the_training_cloud() {
    // Normal data on a 2-d plane inside 5-d space; anomalies far off it.
    let mut rng = Seed(9).rng(Stream::Other(2), 0, 0);
    let mut point = |scale: f32, off: f32| -> Vec<f32> {
        let (a, b): (f32, f32) = (rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0));
        vec![a * scale, b * scale, (a + b) * scale, off, -off]
    };
    let train: Vec<Vec<f32>> = (0..256).map(|_| point(1.0, 0.0)).collect();
    let mut test: Vec<Vec<f32>> = (0..40).map(|_| point(1.0, 0.0)).collect();
    test.extend((0..10).map(|_| point(1.0, 4.0)));
    let labels: Vec<bool> = (0..50).map(|i| i >= 40).collect();
    let train = Matrix::from_rows(&train).unwrap();
    let test = Matrix::from_rows(&test).unwrap();
    let goad = GoadConfig {
        num_transforms: 16,
        epochs: 3,
        ..GoadConfig::default()
    };
    let scores = goad
        .fit(Input::from(&train), Seed(0))
        .unwrap()
        .score(Input::from(&test))
        .unwrap();
    let auroc = ssad_eval::auroc(&scores, &labels).unwrap();
    assert!(auroc > 0.9, "AUROC {auroc}");
}

#[test]
fn unknown_names_and_bad_configs_are_typed_errors() {
    assert!(matches!(
        method("nope", None),
        Err(Error::UnknownMethod { .. })
    ));
    assert!(matches!(
        method("goad", Some(serde_json::json!({"bogus": 1}))),
        Err(Error::InvalidConfig { .. })
    ));
    assert!(matches!(
        method("goad", Some(serde_json::json!({"num_transforms": 1}))),
        Err(Error::InvalidConfig { .. })
    ));
    assert!(matches!(
        method(
            "classic",
            Some(serde_json::json!({"scorer": {"kind": "nope"}}))
        ),
        Err(Error::InvalidConfig { .. })
    ));
    assert!(ImageBatch::new(&[0.0; 5], [1, 1, 2, 2]).is_err());
}

/// Tiny settings of the contrastive image methods: a one-stage ResNet of
/// width 4 on 1×8×8 images, one epoch.
fn contrastive_methods() -> Vec<Box<dyn Method>> {
    use ssad_methods::{CsiConfig, SimclrConfig, SsdConfig};
    use ssad_models::{BackboneConfig, ResNetConfig};
    let backbone = BackboneConfig::Resnet(ResNetConfig {
        layers: vec![1],
        widths: vec![4],
        ..ResNetConfig::small28()
    });
    vec![
        Box::new(SimclrConfig {
            backbone: backbone.clone(),
            proj_dim: 4,
            epochs: 1,
            batch_size: 8,
            ..SimclrConfig::default()
        }),
        Box::new(SsdConfig {
            backbone: backbone.clone(),
            proj_dim: 4,
            epochs: 2,
            batch_size: 6,
            ..SsdConfig::default()
        }),
        Box::new(CsiConfig {
            backbone,
            proj_dim: 4,
            epochs: 1,
            batch_size: 6,
            test_samples: 2,
            ..CsiConfig::default()
        }),
    ]
}

fn images(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = Seed(seed).rng(Stream::Other(3), 0, 0);
    (0..n * 64).map(|_| rng.random_range(0.0f32..1.0)).collect()
}

/// The checks every image method passes: finite scores of the right length,
/// same seed gives the same scores and another seed other ones, the config
/// rebuilds through the registry, save/load gives the same scores, and NaN,
/// empty and tabular input are typed errors. Returns the fitted detector, saved in `folder`.
fn check_image_method(
    m: &dyn Method,
    train: ImageBatch,
    test: &[f32],
    test_shape: [usize; 4],
    folder: &std::path::Path,
    label: &str,
) -> Box<dyn Detector> {
    let test_batch = ImageBatch::new(test, test_shape).unwrap();
    let fitted = m.fit(Input::Images(train), Seed(3)).unwrap();
    assert_eq!(fitted.method(), m.name());
    let scores = fitted.score(Input::Images(test_batch)).unwrap();
    assert_eq!(scores.len(), test_shape[0], "{label}");
    assert!(scores.iter().all(|s| s.is_finite()), "{label}: {scores:?}");
    let again = m.fit(Input::Images(train), Seed(3)).unwrap();
    assert_eq!(
        again.score(Input::Images(test_batch)).unwrap(),
        scores,
        "{label}: same seed"
    );
    let other = m.fit(Input::Images(train), Seed(4)).unwrap();
    assert_ne!(
        other.score(Input::Images(test_batch)).unwrap(),
        scores,
        "{label}: other seed"
    );

    let rebuilt = method(m.name(), Some(m.config_json().unwrap())).unwrap();
    assert_eq!(rebuilt.config_json().unwrap(), m.config_json().unwrap());
    fitted.save(folder).unwrap();
    let loaded = load(folder).unwrap();
    assert_eq!(loaded.method(), m.name());
    assert_eq!(
        loaded.score(Input::Images(test_batch)).unwrap(),
        scores,
        "{label}: reload"
    );

    let mut nan = test.to_vec();
    nan[5] = f32::NAN;
    let nan = ImageBatch::new(&nan, test_shape).unwrap();
    assert!(fitted.score(Input::Images(nan)).is_err(), "{label}: NaN");
    assert!(
        m.fit(Input::Images(nan), Seed(3)).is_err(),
        "{label}: NaN fit"
    );
    let empty = ImageBatch::new(&[], [0, test_shape[1], test_shape[2], test_shape[3]]).unwrap();
    assert!(
        fitted.score(Input::Images(empty)).is_err(),
        "{label}: empty"
    );
    assert!(
        m.fit(Input::Images(empty), Seed(3)).is_err(),
        "{label}: empty fit"
    );
    let err = fitted.score(Input::from(&data(4, 0)));
    assert!(
        matches!(err, Err(Error::InputKind { .. })),
        "{label}: {err:?}"
    );
    fitted
}

#[test]
fn contrastive_image_methods_conform() {
    let (train, test) = (images(12, 0), images(5, 1));
    let train = ImageBatch::new(&train, [12, 1, 8, 8]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for m in contrastive_methods() {
        let label = m.name();
        let folder = dir.path().join(label);
        let fitted = check_image_method(&*m, train, &test, [5, 1, 8, 8], &folder, label);
        let small = vec![0.5f32; 2 * 36];
        let small = ImageBatch::new(&small, [2, 1, 6, 6]).unwrap();
        assert!(
            fitted.score(Input::Images(small)).is_err(),
            "{label}: shape"
        );
        assert!(matches!(
            m.fit(Input::from(&data(4, 0)), Seed(3)),
            Err(Error::InputKind { .. })
        ));
        // A truncated weight file is a typed error.
        std::fs::write(folder.join("weights.safetensors"), b"nope").unwrap();
        assert!(load(&folder).is_err(), "{label}: corrupt");
    }
    assert!(matches!(
        method("csi", Some(serde_json::json!({"test_samples": 0}))),
        Err(Error::InvalidConfig { .. })
    ));
    assert!(matches!(
        method("ssd", Some(serde_json::json!({"proj_dim": 0}))),
        Err(Error::InvalidConfig { .. })
    ));
}

/// Tiny tabular settings of the autoencoder and Deep SVDD baselines.
fn tabular_baselines() -> Vec<Box<dyn Method>> {
    use ssad_methods::{AutoencoderConfig, DeepSvddConfig};
    use ssad_models::DenseAutoencoderConfig;
    let svdd = DeepSvddConfig {
        hidden: vec![6, 3],
        epochs: 2,
        batch_size: 16,
        ae_epochs: 1,
        ae_batch_size: 16,
        ..DeepSvddConfig::default()
    };
    vec![
        Box::new(AutoencoderConfig {
            dense: DenseAutoencoderConfig {
                hidden: vec![4, 2],
                batch_norm: true,
            },
            epochs: 2,
            batch_size: 16,
            ..AutoencoderConfig::default()
        }),
        Box::new(DeepSvddConfig {
            pretrain: false,
            standardize: false,
            ..svdd.clone()
        }),
        Box::new(svdd),
    ]
}

/// Tiny image settings of the baselines: frozen and the convolutional
/// autoencoder on 1×8×8 images, Deep SVDD's LeNet on 1×28×28 (the smallest it takes).
fn image_baselines() -> Vec<Box<dyn Method>> {
    use ssad_methods::{AutoencoderConfig, DeepSvddConfig, FrozenConfig};
    use ssad_models::{BackboneConfig, ResNetConfig};
    vec![
        Box::new(FrozenConfig {
            backbone: BackboneConfig::Resnet(ResNetConfig {
                layers: vec![1],
                widths: vec![4],
                ..ResNetConfig::small28()
            }),
            ..FrozenConfig::default()
        }),
        Box::new(AutoencoderConfig {
            conv_channels: Some(vec![4]),
            latent_dim: Some(3),
            epochs: 1,
            batch_size: 5,
            ..AutoencoderConfig::default()
        }),
        Box::new(DeepSvddConfig {
            epochs: 1,
            batch_size: 5,
            ae_epochs: 1,
            ae_batch_size: 5,
            ..DeepSvddConfig::default()
        }),
    ]
}

fn noise_images(n: usize, side: usize, seed: u64) -> Vec<f32> {
    let mut rng = Seed(seed).rng(Stream::Other(4), 0, 0);
    (0..n * side * side)
        .map(|_| rng.random_range(0.0f32..1.0))
        .collect()
}

#[test]
fn image_baselines_conform() {
    let dir = tempfile::tempdir().unwrap();
    for m in image_baselines() {
        let label = m.name();
        let side = if label == "deep_svdd" { 28 } else { 8 };
        let (train, test) = (noise_images(11, side, 0), noise_images(4, side, 1));
        let train = ImageBatch::new(&train, [11, 1, side, side]).unwrap();
        let folder = dir.path().join(label);
        let shape = [4, 1, side, side];
        let fitted = check_image_method(&*m, train, &test, shape, &folder, label);
        let wide = noise_images(2, side, 2).repeat(3);
        let wide = ImageBatch::new(&wide, [2, 3, side, side]).unwrap();
        let err = fitted.score(Input::Images(wide));
        assert!(
            matches!(err, Err(Error::ImageShape { .. })),
            "{label}: {err:?}"
        );
        let mut inf = test.clone();
        inf[5] = f32::INFINITY;
        let inf = ImageBatch::new(&inf, shape).unwrap();
        assert!(fitted.score(Input::Images(inf)).is_err(), "{label}: Inf");
    }
    // Frozen features are image-only.
    let err = image_baselines()[0].fit(Input::from(&data(8, 0)), Seed(0));
    assert!(matches!(err, Err(Error::InputKind { .. })), "{err:?}");
    // Deep SVDD's LeNet exists for 28×28 and 32×32 only.
    let odd = noise_images(4, 8, 0);
    let odd = ImageBatch::new(&odd, [4, 1, 8, 8]).unwrap();
    let err = image_baselines()[2].fit(Input::Images(odd), Seed(0));
    assert!(matches!(err, Err(Error::InvalidConfig { .. })), "{err:?}");
}

/// Normal data on a 2-d plane inside 5-d space; anomalies 4 units off it.
fn plane_split() -> (Matrix, Matrix, Vec<bool>) {
    let mut rng = Seed(9).rng(Stream::Other(2), 0, 0);
    let mut point = |off: f32| -> Vec<f32> {
        let (a, b): (f32, f32) = (rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0));
        vec![a, b, a + b, off, -off]
    };
    let train: Vec<Vec<f32>> = (0..256).map(|_| point(0.0)).collect();
    let mut test: Vec<Vec<f32>> = (0..40).map(|_| point(0.0)).collect();
    test.extend((0..10).map(|_| point(4.0)));
    let labels = (0..50).map(|i| i >= 40).collect();
    (
        Matrix::from_rows(&train).unwrap(),
        Matrix::from_rows(&test).unwrap(),
        labels,
    )
}

#[test]
fn autoencoder_and_deep_svdd_rank_far_points_first() {
    use ssad_methods::{AutoencoderConfig, DeepSvddConfig};
    let (train, test, labels) = plane_split();
    let ae = AutoencoderConfig {
        epochs: 20,
        ..AutoencoderConfig::default()
    };
    let svdd = DeepSvddConfig {
        epochs: 20,
        ae_epochs: 20,
        batch_size: 32,
        ae_batch_size: 32,
        lr: 1e-3,
        ae_lr: 1e-3,
        ..DeepSvddConfig::default()
    };
    for m in [&ae as &dyn Method, &svdd] {
        let scores = m
            .fit(Input::from(&train), Seed(0))
            .unwrap()
            .score(Input::from(&test))
            .unwrap();
        let auroc = ssad_eval::auroc(&scores, &labels).unwrap();
        assert!(auroc > 0.9, "{}: AUROC {auroc}", m.name());
    }
}

#[test]
fn deep_svdd_center_keeps_away_from_zero() {
    use ssad_methods::{DeepSvddConfig, Detector};
    let (train, _, _) = plane_split();
    for eps in [0.1, 0.5] {
        let svdd = DeepSvddConfig {
            hidden: vec![8, 6],
            epochs: 1,
            pretrain: false,
            eps,
            ..DeepSvddConfig::default()
        };
        let fitted = svdd.fit_deep_svdd(Input::from(&train), Seed(1)).unwrap();
        assert_eq!(fitted.center().len(), 6);
        for &c in fitted.center() {
            assert!(
                c == 0.0 || f64::from(c.abs()) >= eps - 1e-7,
                "eps {eps}: {c}"
            );
        }
        // The training data sits closer to the center than the far points.
        let near = fitted.score(Input::from(&train)).unwrap();
        let far = Matrix::from_rows(&[[0.0f32, 0.0, 0.0, 30.0, -30.0]]).unwrap();
        let far = fitted.score(Input::from(&far)).unwrap()[0];
        let mean = near.iter().sum::<f64>() / near.len() as f64;
        assert!(far > mean, "far {far} vs mean {mean}");
    }
}

#[test]
fn frozen_loads_pretrained_weights_and_skips_extra_tensors() {
    use candle_core::{DType, Device, Tensor};
    use ssad_methods::FrozenConfig;
    use ssad_models::{BackboneConfig, ResNetConfig, SeededVarMap};
    let backbone = BackboneConfig::Resnet(ResNetConfig {
        layers: vec![1],
        widths: vec![4],
        ..ResNetConfig::small28()
    });
    // "Pre-trained" weights: another seed's, plus a classifier the backbone lacks.
    let vars = SeededVarMap::new(Seed(77));
    let net = backbone
        .build(vars.var_builder(DType::F32, &Device::Cpu))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pretrained.safetensors");
    let mut tensors: std::collections::HashMap<String, Tensor> = vars
        .named_vars()
        .into_iter()
        .map(|(k, v)| (k, v.as_tensor().clone()))
        .collect();
    tensors.insert(
        "fc.weight".into(),
        Tensor::zeros((10, 4), DType::F32, &Device::Cpu).unwrap(),
    );
    candle_core::safetensors::save(&tensors, &file).unwrap();

    let pixels = noise_images(7, 8, 5);
    let images = ImageBatch::new(&pixels, [7, 1, 8, 8]).unwrap();
    let config = FrozenConfig {
        backbone,
        weights: Some(file.clone()),
        ..FrozenConfig::default()
    };
    let detector = config.fit_frozen(Input::Images(images), Seed(0)).unwrap();
    let expected = net
        .forward_features(
            &Tensor::from_slice(&pixels, (7, 1, 8, 8), &Device::Cpu).unwrap(),
            false,
        )
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let got = detector.embed(Input::Images(images)).unwrap();
    assert_eq!(got.as_slice(), expected.as_slice());
    // The fit seed no longer matters once weights are given.
    let other = config.fit_frozen(Input::Images(images), Seed(9)).unwrap();
    assert_eq!(other.embed(Input::Images(images)).unwrap(), got);
    // A file for another architecture is a typed error.
    let wrong = FrozenConfig {
        weights: Some(file),
        ..FrozenConfig::default()
    };
    let rgb = noise_images(6, 8, 5).repeat(3);
    let rgb = ImageBatch::new(&rgb, [6, 3, 8, 8]).unwrap();
    let err = wrong.fit(Input::Images(rgb), Seed(0));
    assert!(matches!(err, Err(Error::Models(_))), "{err:?}");
}

/// `n` random 1×8×8 images in [0, 1].
fn gray_images(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = Seed(seed).rng(Stream::Other(5), 0, 0);
    (0..n * 64).map(|_| rng.random_range(0.0f32..1.0)).collect()
}

/// Tiny settings of the transformation classifiers (RotNet, GEOM, GOAD-images):
/// a one-stage ResNet of width 4 on 1×8×8 images, one epoch.
fn transform_methods() -> Vec<Box<dyn Method>> {
    use ssad_methods::{GeomConfig, GoadImagesConfig, RotNetConfig, TransformScore};
    use ssad_models::{BackboneConfig, ResNetConfig};
    let backbone = BackboneConfig::Resnet(ResNetConfig {
        layers: vec![1],
        widths: vec![4],
        ..ResNetConfig::small28()
    });
    vec![
        Box::new(RotNetConfig {
            backbone: backbone.clone(),
            epochs: 1,
            batch_size: 16,
            eval_batch_size: 12,
            ..RotNetConfig::default()
        }),
        Box::new(RotNetConfig {
            backbone: backbone.clone(),
            epochs: 1,
            batch_size: 16,
            score: TransformScore::Dirichlet,
            ..RotNetConfig::default()
        }),
        Box::new(GeomConfig {
            backbone: backbone.clone(),
            epochs: 1,
            batch_size: 96,
            ..GeomConfig::default()
        }),
        Box::new(GoadImagesConfig {
            backbone,
            epochs: 1,
            batch_size: 3,
            eval_batch_size: 100,
            ..GoadImagesConfig::default()
        }),
    ]
}

#[test]
fn transformation_classifiers_conform() {
    let (train, test) = (gray_images(12, 0), gray_images(5, 1));
    let train = ImageBatch::new(&train, [12, 1, 8, 8]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let all = transform_methods();
    for entry in ["rotnet", "geom", "goad-images"] {
        assert!(all.iter().any(|m| m.name() == entry), "{entry}");
        assert!(ssad_methods::entry(entry).is_ok(), "{entry} registered");
    }
    for (i, m) in all.into_iter().enumerate() {
        let label = format!("{} {}", m.name(), m.config_json().unwrap());
        let folder = dir.path().join(format!("transform-{i}"));
        let fitted = check_image_method(&*m, train, &test, [5, 1, 8, 8], &folder, &label);
        // Wrong size or channels are typed errors.
        let small = vec![0.5f32; 2 * 36];
        let small = ImageBatch::new(&small, [2, 1, 6, 6]).unwrap();
        let err = fitted.score(Input::Images(small));
        assert!(
            matches!(err, Err(Error::ImageShape { .. })),
            "{label}: {err:?}"
        );
        let rgb = vec![0.5f32; 2 * 3 * 64];
        let rgb = ImageBatch::new(&rgb, [2, 3, 8, 8]).unwrap();
        let err = fitted.score(Input::Images(rgb));
        assert!(
            matches!(err, Err(Error::ImageShape { .. })),
            "{label}: {err:?}"
        );
        assert!(matches!(
            m.fit(Input::from(&data(4, 0)), Seed(3)),
            Err(Error::InputKind { .. })
        ));
        // Another method's loader refuses the folder; a truncated weight file is an error.
        let other_name = if m.name() == "geom" { "rotnet" } else { "geom" };
        let err = (ssad_methods::entry(other_name).unwrap().load)(&folder).unwrap_err();
        assert!(matches!(err, Error::WrongMethod { .. }), "{label}: {err}");
        std::fs::write(folder.join("weights.safetensors"), b"nope").unwrap();
        assert!(load(&folder).is_err(), "{label}: corrupt");
    }
    // Rotations of non-square images cannot be labelled: a typed error, not a panic.
    let wide = gray_images(4, 2);
    let wide = ImageBatch::new(&wide[..4 * 48], [4, 1, 6, 8]).unwrap();
    assert!(transform_methods()[0]
        .fit(Input::Images(wide), Seed(0))
        .is_err());
    for (name, bad) in [
        ("geom", serde_json::json!({"eval_batch_size": 0})),
        ("rotnet", serde_json::json!({"score": "center"})),
        (
            "goad-images",
            serde_json::json!({"group_transforms": false}),
        ),
        ("geom", serde_json::json!({"transforms": "flips"})),
        (
            "goad-images",
            serde_json::json!({"center_loss": {"margin": -1.0}}),
        ),
    ] {
        assert!(
            matches!(
                method(name, Some(bad.clone())),
                Err(Error::InvalidConfig { .. })
            ),
            "{name} {bad}"
        );
    }
}

/// Upright "images" (a bright top edge fading down, plus noise) train a
/// rotation classifier; test images turned a quarter are anomalies.
#[test]
fn rotnet_flags_turned_images() {
    use ssad_methods::RotNetConfig;
    use ssad_models::{BackboneConfig, ResNetConfig};
    let upright = |n: usize, seed: u64| -> Vec<f32> {
        let mut rng = Seed(seed).rng(Stream::Other(4), 0, 0);
        let mut v = Vec::with_capacity(n * 64);
        for _ in 0..n {
            let shift = rng.random_range(0.0f32..0.3);
            for r in 0..8 {
                for _ in 0..8 {
                    v.push(1.0 - r as f32 / 7.0 + shift + rng.random_range(-0.2f32..0.2));
                }
            }
        }
        v
    };
    let train = upright(64, 0);
    let mut test = upright(30, 1);
    // The last 10 test images turned a quarter (transpose: the bright edge goes left).
    for img in test.chunks_exact_mut(64).skip(20) {
        let copy = img.to_vec();
        for r in 0..8 {
            for c in 0..8 {
                img[r * 8 + c] = copy[c * 8 + r];
            }
        }
    }
    let labels: Vec<bool> = (0..30).map(|i| i >= 20).collect();
    let rotnet = RotNetConfig {
        backbone: BackboneConfig::Resnet(ResNetConfig {
            layers: vec![1],
            widths: vec![8],
            ..ResNetConfig::small28()
        }),
        epochs: 4,
        batch_size: 32,
        ..RotNetConfig::default()
    };
    let scores = rotnet
        .fit(
            Input::Images(ImageBatch::new(&train, [64, 1, 8, 8]).unwrap()),
            Seed(0),
        )
        .unwrap()
        .score(Input::Images(
            ImageBatch::new(&test, [30, 1, 8, 8]).unwrap(),
        ))
        .unwrap();
    let auroc = ssad_eval::auroc(&scores, &labels).unwrap();
    assert!(auroc > 0.9, "AUROC {auroc}");
}

/// Tiny CutPaste settings on 3×32×32 images: a two-stage ResNet of widths 4/8
/// and a one-layer head; the binary task with the patch model (16-px windows)
/// and the 3-way task without it.
fn cutpaste_methods() -> Vec<Box<dyn Method>> {
    use ssad_methods::{CutPasteConfig, CutPasteTask, LocalizationConfig};
    use ssad_models::{BackboneConfig, ResNetConfig};
    let tiny = CutPasteConfig {
        backbone: BackboneConfig::Resnet(ResNetConfig {
            layers: vec![1, 1],
            widths: vec![4, 8],
            ..ResNetConfig::small32()
        }),
        head_layers: 1,
        head_dim: 8,
        embed_dim: 4,
        steps: 3,
        batch_size: Some(4),
        ..CutPasteConfig::default()
    };
    vec![
        Box::new(CutPasteConfig {
            task: CutPasteTask::Binary,
            localization: LocalizationConfig {
                patch_size: 16,
                stride: 8,
                fit_stride: 8,
                steps: 2,
                batch_size: Some(4),
                ..LocalizationConfig::default()
            },
            ..tiny.clone()
        }),
        Box::new(CutPasteConfig {
            task: CutPasteTask::ThreeWay,
            localization: LocalizationConfig {
                enabled: false,
                ..LocalizationConfig::default()
            },
            ..tiny
        }),
    ]
}

/// `n` random 3×32×32 images in [0, 1]: a per-image colour plus noise.
fn rgb_images(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = Seed(seed).rng(Stream::Other(6), 0, 0);
    let mut v = Vec::with_capacity(n * 3 * 1024);
    for _ in 0..n {
        for _ in 0..3 {
            let base = rng.random_range(0.2f32..0.8);
            v.extend((0..1024).map(|_| (base + rng.random_range(-0.2f32..0.2)).clamp(0.0, 1.0)));
        }
    }
    v
}

#[test]
fn cutpaste_conforms() {
    let (train, test) = (rgb_images(8, 0), rgb_images(3, 1));
    let train = ImageBatch::new(&train, [8, 3, 32, 32]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (i, m) in cutpaste_methods().into_iter().enumerate() {
        let label = format!("{}", m.config_json().unwrap()["task"]);
        let folder = dir.path().join(format!("cutpaste-{i}"));
        let shape = [3, 3, 32, 32];
        let fitted = check_image_method(&*m, train, &test, shape, &folder, &label);
        let test_batch = ImageBatch::new(&test, shape).unwrap();
        let maps = fitted.anomaly_maps(Input::Images(test_batch)).unwrap();
        let loaded = load(&folder).unwrap();
        assert_eq!(
            loaded.anomaly_maps(Input::Images(test_batch)).unwrap(),
            maps,
            "{label}: reload maps"
        );
        match (i, maps) {
            (0, Some(maps)) => {
                assert_eq!(maps.shape, [3, 32, 32]);
                assert_eq!(maps.maps.len(), 3 * 32 * 32);
                assert!(maps.maps.iter().all(|v| v.is_finite()));
                assert!(maps.scale.0 < maps.scale.1, "{:?}", maps.scale);
            }
            (1, None) => {}
            (_, maps) => panic!("{label}: maps {maps:?}"),
        }
        // A wrong image size is a typed error.
        let small = vec![0.5f32; 2 * 3 * 16 * 16];
        let small = ImageBatch::new(&small, [2, 3, 16, 16]).unwrap();
        let err = fitted.score(Input::Images(small));
        assert!(
            matches!(err, Err(Error::ImageShape { .. })),
            "{label}: {err:?}"
        );
        if i == 0 {
            // A truncated weight file of the patch model is a typed error.
            std::fs::write(folder.join("local_weights.safetensors"), b"nope").unwrap();
            assert!(load(&folder).is_err(), "{label}: corrupt");
        } else {
            // Images too small for the scar (30×29 px) are the augmentation's typed error.
            let tiny = vec![0.5f32; 4 * 3 * 16 * 16];
            let tiny = ImageBatch::new(&tiny, [4, 3, 16, 16]).unwrap();
            let err = m.fit(Input::Images(tiny), Seed(3));
            assert!(matches!(err, Err(Error::Augment(_))), "{err:?}");
        }
    }
    for bad in [
        serde_json::json!({"steps": 0}),
        serde_json::json!({"batch_size": 1}),
        serde_json::json!({"localization": {"stride": 80}}),
        serde_json::json!({"localization": {"heatmap_percentiles": [99.0, 1.0]}}),
        serde_json::json!({"cutpaste": {"area_ratio": [0.5, 0.1]}}),
        serde_json::json!({"task": "four_way"}),
    ] {
        let err = method("cutpaste", Some(bad.clone()));
        assert!(
            matches!(
                err,
                Err(Error::InvalidConfig { .. }) | Err(Error::Augment(_))
            ),
            "{bad}: {err:?}"
        );
    }
}
