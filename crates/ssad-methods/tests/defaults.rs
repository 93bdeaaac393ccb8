//! Pins the paper's settings: GOAD's README commands and `opt_tc_tabular.py` defaults.

use ssad_methods::{ClassicConfig, GoadConfig, GoadPreset, REGISTRY};

#[test]
fn goad_presets_are_the_reference_readme() {
    let table = [
        (GoadPreset::Kdd, 64, 64, 32, 5, 25),
        (GoadPreset::Kddrev, 256, 128, 128, 5, 25),
        (GoadPreset::Thyroid, 256, 32, 8, 1, 1),
        (GoadPreset::Arrhythmia, 256, 32, 8, 1, 1),
    ];
    for (preset, m, r, ndf, layers, epochs) in table {
        let c = GoadConfig::preset(preset);
        assert_eq!(
            (
                c.num_transforms,
                c.transform_dim,
                c.ndf,
                c.trunk_layers,
                c.epochs
            ),
            (m, r, ndf, layers, epochs),
            "{preset:?}"
        );
        assert_eq!(c.batch_size, 64);
        assert_eq!(c.lr, 1e-3);
        assert_eq!(c.betas, (0.5, 0.999));
        assert_eq!((c.margin, c.lambda, c.eps), (1.0, 0.1, 0.0));
        assert_eq!(GoadPreset::from_name(preset.name()).unwrap(), preset);
    }
    assert!(GoadPreset::from_name("cifar").is_err());
}

#[test]
fn defaults_are_the_odds_setting_and_empty_json_gives_them() {
    assert_eq!(
        GoadConfig::default(),
        GoadConfig::preset(GoadPreset::Thyroid)
    );
    let parsed: GoadConfig = serde_json::from_str("{}").unwrap();
    assert_eq!(parsed, GoadConfig::default());
    let classic: ClassicConfig = serde_json::from_str("{}").unwrap();
    assert_eq!(classic, ClassicConfig::default());
    assert_eq!(classic.scorer.name(), "knn");
    assert!(serde_json::from_str::<GoadConfig>(r#"{"n_rots": 3}"#).is_err());
}

#[test]
fn registry_names_are_unique_and_documented() {
    for (i, e) in REGISTRY.iter().enumerate() {
        assert!(REGISTRY[..i].iter().all(|o| o.name != e.name));
        assert!(!e.paper.is_empty() && !e.description.is_empty());
        assert_eq!((e.default)().name(), e.name);
        let json = (e.default)().config_json().unwrap();
        assert_eq!(
            (e.from_json)(json.clone()).unwrap().config_json().unwrap(),
            json
        );
    }
}

/// CSI's code (`common/common.py`, `common/train.py`, `ood_pre.py`), SSD's
/// `train.py`/`data.py`/`eval_ssd.py`, and empty JSON giving each of them.
#[test]
fn contrastive_defaults_are_the_reference_code() {
    use ssad_methods::{ContrastiveLoss, CsiConfig, SimclrConfig, SsdConfig};
    use ssad_models::{BackboneConfig, ResNetPreset, Stem};
    use ssad_scorers::{KnnConfig, Metric, ScorerConfig};
    use ssad_train::{OptimizerConfig, ScheduleConfig};

    let csi_schedule = ScheduleConfig::WarmupCosine {
        multiplier: 10.0,
        warmup_epochs: 10,
        t_max: None,
        eta_min: 0.0,
    };
    let resnet18 = BackboneConfig::Resnet18(ResNetPreset {
        stem: Stem::Cifar,
        in_channels: 3,
        num_classes: None,
    });

    let s = SimclrConfig::default();
    assert_eq!(s.backbone, resnet18);
    assert_eq!((s.proj_dim, s.epochs, s.batch_size), (128, 1000, 128));
    assert_eq!(s.augment, ssad_augment::SimClr::csi());
    assert_eq!(s.augment.blur_p, 0.0);
    assert_eq!(s.loss, ContrastiveLoss::simclr());
    let ContrastiveLoss::NtXent(l) = s.loss else {
        panic!("{:?}", s.loss)
    };
    assert_eq!((l.temperature, l.eps), (0.5, 1e-8));
    let OptimizerConfig::Lars(lars) = &s.optimizer else {
        panic!("{:?}", s.optimizer)
    };
    assert_eq!(
        (lars.lr, lars.momentum, lars.weight_decay, lars.trust_coef),
        (0.1, 0.9, 1e-6, 1e-3)
    );
    assert_eq!(s.schedule, csi_schedule);
    assert!(s.schedule_per_step);
    let ScorerConfig::Knn(KnnConfig {
        n_neighbors: 1,
        metric: Metric::Cosine,
        ..
    }) = s.scorer
    else {
        panic!("{:?}", s.scorer)
    };

    let c = CsiConfig::default();
    assert_eq!(c.backbone, resnet18);
    assert_eq!(
        (c.proj_dim, c.epochs, c.batch_size, c.test_samples),
        (128, 1000, 128, 10)
    );
    assert_eq!((c.loss.temperature, c.loss.eps), (0.5, 1e-8));
    assert_eq!(
        (c.augment, c.test_augment),
        (
            ssad_augment::SimClr::csi(),
            ssad_augment::SimClr::csi_test_time()
        )
    );
    assert_eq!(c.test_augment.crop.scale, (0.54, 0.54));
    assert_eq!(
        (c.optimizer.clone(), c.schedule.clone()),
        (s.optimizer.clone(), csi_schedule)
    );

    let d = SsdConfig::default();
    assert_eq!(
        d.backbone,
        BackboneConfig::Resnet50(ResNetPreset::default())
    );
    assert_eq!((d.proj_dim, d.epochs, d.batch_size), (128, 500, 512));
    assert_eq!(
        (
            d.augment.crop.scale,
            d.augment.blur_p,
            d.augment.jitter_p,
            d.augment.grayscale_p
        ),
        ((0.2, 1.0), 0.0, 0.8, 0.2)
    );
    let ContrastiveLoss::SupCon(l) = d.loss else {
        panic!("{:?}", d.loss)
    };
    assert_eq!((l.temperature, l.base_temperature), (0.5, 0.07));
    let OptimizerConfig::Sgd(sgd) = &d.optimizer else {
        panic!("{:?}", d.optimizer)
    };
    assert_eq!(
        (sgd.lr, sgd.momentum, sgd.weight_decay, sgd.nesterov),
        (0.5, 0.9, 1e-4, false)
    );
    assert_eq!(
        d.schedule,
        ScheduleConfig::Cosine {
            t_max: None,
            eta_min: 1e-4
        }
    );
    assert_eq!(d.scorer, ssad_scorers::MahalanobisConfig::default());
    assert_eq!(d.scorer.clusters.n_clusters, 1);

    assert_eq!(serde_json::from_str::<SimclrConfig>("{}").unwrap(), s);
    assert_eq!(serde_json::from_str::<CsiConfig>("{}").unwrap(), c);
    assert_eq!(serde_json::from_str::<SsdConfig>("{}").unwrap(), d);
    assert!(serde_json::from_str::<CsiConfig>(r#"{"K_shift": 4}"#).is_err());
}

/// PyOD's `AutoEncoder`, Deep-SVDD-PyTorch's README command with the paper's
/// weight decay, the frozen baseline's kNN; empty JSON gives each of them.
#[test]
fn baseline_defaults_are_pyod_and_the_deep_svdd_code() {
    use ssad_methods::{AutoencoderConfig, DeepSvddConfig, FrozenConfig};
    use ssad_models::{BackboneConfig, DenseAutoencoderConfig};
    use ssad_scorers::{KnnConfig, ScorerConfig};

    let ae = AutoencoderConfig::default();
    assert_eq!(
        ae.dense,
        DenseAutoencoderConfig {
            hidden: vec![64, 32],
            batch_norm: true
        }
    );
    assert_eq!((ae.conv_channels.clone(), ae.latent_dim), (None, None));
    assert_eq!((ae.epochs, ae.batch_size), (10, 32));
    assert_eq!((ae.lr, ae.weight_decay), (1e-3, 1e-5));
    assert!(ae.standardize);
    assert_eq!(serde_json::from_str::<AutoencoderConfig>("{}").unwrap(), ae);
    assert!(serde_json::from_str::<AutoencoderConfig>(r#"{"dropout_rate": 0.2}"#).is_err());

    let svdd = DeepSvddConfig::default();
    assert_eq!(svdd.hidden, vec![64, 32]);
    assert_eq!((svdd.epochs, svdd.batch_size, svdd.lr), (150, 200, 1e-4));
    assert_eq!(
        (svdd.lr_milestones.clone(), svdd.weight_decay),
        (vec![50], 1e-6)
    );
    assert_eq!(svdd.eps, 0.1);
    assert!(svdd.pretrain && svdd.standardize);
    assert_eq!(
        (svdd.ae_epochs, svdd.ae_batch_size, svdd.ae_lr),
        (150, 200, 1e-4)
    );
    assert_eq!(
        (svdd.ae_lr_milestones.clone(), svdd.ae_weight_decay),
        (vec![50], 0.5e-3)
    );
    assert_eq!(serde_json::from_str::<DeepSvddConfig>("{}").unwrap(), svdd);
    assert!(serde_json::from_str::<DeepSvddConfig>(r#"{"nu": 0.1}"#).is_err());

    let frozen = FrozenConfig::default();
    assert_eq!(frozen.backbone, BackboneConfig::default());
    assert_eq!(frozen.weights, None);
    assert_eq!(frozen.scorer, ScorerConfig::from(KnnConfig::default()));
    assert_eq!(serde_json::from_str::<FrozenConfig>("{}").unwrap(), frozen);
    let gde: FrozenConfig = serde_json::from_str(
        r#"{"backbone": {"kind": "resnet18", "stem": "imagenet"}, "weights": "r18.safetensors", "scorer": {"kind": "gde"}}"#,
    )
    .unwrap();
    assert_eq!(gde.scorer.name(), "gde");
    assert!(serde_json::from_str::<FrozenConfig>(r#"{"train": true}"#).is_err());
}

#[test]
fn transformation_classifier_defaults_are_the_papers() {
    use ssad_methods::{
        GeomConfig, GoadImagesConfig, Method, RotNetConfig, TransformScore, Transforms,
    };
    use ssad_models::{BackboneConfig, WideResNetConfig, WrnInit};
    let wrn = |init| {
        BackboneConfig::Wrn(WideResNetConfig {
            depth: 10,
            widen_factor: 4,
            in_channels: 3,
            num_classes: None,
            init,
        })
    };
    // GEOM's experiments.py: 72 transforms, WRN-10-4 (he_normal), keras Adam, batch 128,
    // ceil(200 / 72) = 3 epochs, L2 0.5 * 5e-4 (gradient 5e-4 w), Dirichlet score.
    let geom = GeomConfig::default();
    assert_eq!(geom.name(), "geom");
    assert_eq!(geom.transforms, Transforms::Geom);
    assert_eq!(geom.backbone, wrn(WrnInit::HeNormalFanIn));
    assert_eq!(
        (geom.epochs, geom.batch_size, geom.group_transforms),
        (3, 128, false)
    );
    let adam = &geom.optimizer;
    assert_eq!((adam.lr, adam.betas, adam.eps), (1e-3, (0.9, 0.999), 1e-7));
    assert_eq!((adam.weight_decay, adam.decoupled), (5e-4, false));
    assert_eq!(
        (geom.score, geom.center_loss),
        (TransformScore::Dirichlet, None)
    );

    // RotNet: GEOM's recipe with the 4 rotations (ceil(200 / 4) = 50 epochs), softmax score.
    let rotnet = RotNetConfig::default();
    assert_eq!(rotnet.name(), "rotnet");
    assert_eq!(rotnet.transforms, Transforms::Rotations);
    assert_eq!((rotnet.epochs, rotnet.batch_size), (50, 128));
    assert_eq!(rotnet.score, TransformScore::Softmax);
    assert_eq!(rotnet.optimizer, geom.optimizer);
    assert_eq!(rotnet.backbone, geom.backbone);

    // GOAD's train_ad.py / opt_tc.py: WRN-10-4 (PyTorch fan-out init), torch Adam,
    // 16 epochs of 4 images x 72 transforms, lambda 0.1, margin 0.1 (README), reg 10.
    let goad = GoadImagesConfig::default();
    assert_eq!(goad.name(), "goad-images");
    assert_eq!(goad.transforms, Transforms::Geom);
    assert_eq!(goad.backbone, wrn(WrnInit::KaimingFanOut));
    assert_eq!(
        (goad.epochs, goad.batch_size, goad.group_transforms),
        (16, 4, true)
    );
    let adam = &goad.optimizer;
    assert_eq!(
        (adam.lr, adam.betas, adam.eps, adam.weight_decay),
        (1e-3, (0.9, 0.999), 1e-8, 0.0)
    );
    let c = goad.center_loss.unwrap();
    assert_eq!((c.lambda, c.margin, c.feature_penalty), (0.1, 0.1, 10.0));
    assert_eq!(goad.score, TransformScore::Center);

    // An empty JSON config gives each method its own defaults.
    assert_eq!(serde_json::from_str::<GeomConfig>("{}").unwrap(), geom);
    assert_eq!(serde_json::from_str::<RotNetConfig>("{}").unwrap(), rotnet);
    assert_eq!(
        serde_json::from_str::<GoadImagesConfig>("{}").unwrap(),
        goad
    );
    assert!(serde_json::from_str::<GeomConfig>(r#"{"n_transforms": 8}"#).is_err());
}

/// CutPaste: the paper's training (Li et al. 2021, as Runinho/pytorch-cutpaste)
/// and localization settings.
#[test]
fn cutpaste_defaults_are_the_papers() {
    use ssad_methods::{CutPasteConfig, CutPasteTask, LocalizationConfig};
    use ssad_models::{BackboneConfig, ResNetPreset, Stem};
    let c = CutPasteConfig::default();
    assert_eq!(c.task, CutPasteTask::ThreeWay);
    assert_eq!(
        c.backbone,
        BackboneConfig::Resnet18(ResNetPreset {
            stem: Stem::Imagenet,
            in_channels: 3,
            num_classes: None
        })
    );
    assert_eq!((c.head_layers, c.head_dim, c.embed_dim), (8, 512, 128));
    // "65k steps" of 64 views (96 for 3-way): 32 images per batch.
    assert_eq!((c.steps, c.batch_size), (65_536, None));
    assert_eq!((c.lr, c.momentum, c.weight_decay), (0.03, 0.9, 3e-5));
    assert!(c.imagenet_normalize);
    assert_eq!(c.cutpaste.area_ratio, (0.02, 0.15));
    assert_eq!(c.cutpaste.aspect_ratio, 0.3);
    assert_eq!(
        (c.scar.width, c.scar.height, c.scar.rotation),
        ((2.0, 16.0), (10.0, 25.0), (-45.0, 45.0))
    );
    assert_eq!(c.gde, ssad_scorers::GdeConfig::default());
    assert!(c.gde.l2_normalize);
    let l = LocalizationConfig::default();
    assert_eq!(c.localization, l);
    assert!(l.enabled);
    assert_eq!(
        (l.patch_size, l.stride, l.fit_stride, l.sigma),
        (64, 4, 4, 4.0)
    );
    assert_eq!(
        (l.steps, l.batch_size, l.heatmap_percentiles),
        (65_536, None, (1.0, 99.0))
    );
    assert_eq!(serde_json::from_str::<CutPasteConfig>("{}").unwrap(), c);
    assert!(serde_json::from_str::<CutPasteConfig>(r#"{"head_layer": 1}"#).is_err());
}
