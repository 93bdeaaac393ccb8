//! Output shapes, parameter names, config defaults and input validation of every network.

mod common;

use candle_core::{DType, Device, Tensor};
use common::*;
use ssad_core::Seed;
use ssad_models::*;

fn vars() -> SeededVarMap {
    SeededVarMap::new(Seed(0))
}

fn zeros(dims: &[usize]) -> Tensor {
    Tensor::zeros(dims, DType::F32, &Device::Cpu).unwrap()
}

fn stage_dims(stages: &[(&'static str, Tensor)]) -> Vec<(&'static str, Vec<usize>)> {
    stages
        .iter()
        .map(|(n, t)| (*n, t.dims().to_vec()))
        .collect()
}

fn names(v: &SeededVarMap) -> Vec<String> {
    v.named_vars().into_iter().map(|(n, _)| n).collect()
}

#[test]
fn resnet18_cifar_shapes() {
    let v = vars();
    let net = BackboneConfig::default()
        .build(v.var_builder(DType::F32, &Device::Cpu))
        .unwrap();
    let x = formula_input(&[1, 3, 32, 32]);
    assert_eq!(net.embed_dim(), 512);
    assert_eq!(net.forward_features(&x, false).unwrap().dims(), &[1, 512]);
    assert_eq!(net.forward_t(&x, false).unwrap().dims(), &[1, 512]);
    assert_eq!(
        stage_dims(&net.forward_stages(&x, false).unwrap()),
        vec![
            ("layer1", vec![1, 64, 32, 32]),
            ("layer2", vec![1, 128, 16, 16]),
            ("layer3", vec![1, 256, 8, 8]),
            ("layer4", vec![1, 512, 4, 4]),
        ]
    );
    // The CIFAR stem is a 3×3 convolution.
    assert_eq!(v.get("conv1.weight").unwrap().dims(), &[64, 3, 3, 3]);
}

#[test]
fn resnet34_and_50_layouts() {
    for (cfg, dim, blocks) in [
        (BackboneConfig::Resnet34(ResNetPreset::default()), 512, 16),
        (BackboneConfig::Resnet50(ResNetPreset::default()), 2048, 16),
    ] {
        let rec = ShapeRecorder::default();
        let net = cfg.build(rec.vb()).unwrap();
        assert_eq!(net.embed_dim(), dim);
        let n_blocks = rec
            .shapes()
            .keys()
            .filter(|k| k.starts_with("layer") && k.ends_with(".conv1.weight"))
            .count();
        assert_eq!(n_blocks, blocks);
    }
}

#[test]
fn bottleneck_forward_shapes_and_stages() {
    let v = vars();
    let cfg = ResNetConfig {
        block: BlockKind::Bottleneck,
        layers: vec![1, 1],
        widths: vec![4, 8],
        stem: Stem::Imagenet,
        num_classes: Some(3),
        ..ResNetConfig::default()
    };
    let net = ResNet::new(&cfg, v.var_builder(DType::F32, &Device::Cpu)).unwrap();
    let x = formula_input(&[2, 3, 16, 16]);
    assert_eq!(net.embed_dim(), 32);
    assert_eq!(
        stage_dims(&net.forward_stages(&x, true).unwrap()),
        vec![("layer1", vec![2, 16, 4, 4]), ("layer2", vec![2, 32, 2, 2])]
    );
    assert_eq!(net.logits(&x, true).unwrap().dims(), &[2, 3]);
    assert!(names(&v).contains(&"layer1.0.conv3.weight".to_string()));
}

#[test]
fn small_resnets_shapes() {
    for (cfg, c, s) in [
        (BackboneConfig::Small28, 1, 28),
        (BackboneConfig::Small32, 3, 32),
    ] {
        let v = vars();
        let net = cfg.build(v.var_builder(DType::F32, &Device::Cpu)).unwrap();
        let x = formula_input(&[2, c, s, s]);
        assert_eq!(net.forward_features(&x, true).unwrap().dims(), &[2, 64]);
        let h = s.div_ceil(2);
        assert_eq!(
            stage_dims(&net.forward_stages(&x, false).unwrap()),
            vec![
                ("layer1", vec![2, 16, s, s]),
                ("layer2", vec![2, 32, h, h]),
                ("layer3", vec![2, 64, h.div_ceil(2), h.div_ceil(2)]),
            ]
        );
    }
}

#[test]
fn wrn_10_4_shapes_and_names() {
    let v = vars();
    let net = BackboneConfig::Wrn(WideResNetConfig::default())
        .build(v.var_builder(DType::F32, &Device::Cpu))
        .unwrap();
    let x = formula_input(&[2, 3, 32, 32]);
    assert_eq!(net.embed_dim(), 256);
    assert_eq!(net.forward_features(&x, true).unwrap().dims(), &[2, 256]);
    assert_eq!(
        stage_dims(&net.forward_stages(&x, false).unwrap()),
        vec![
            ("block1", vec![2, 64, 32, 32]),
            ("block2", vec![2, 128, 16, 16]),
            ("block3", vec![2, 256, 8, 8]),
        ]
    );
    let n = names(&v);
    assert!(n.contains(&"block2.layer.0.convShortcut.weight".to_string()));
    assert!(n.contains(&"bn1.running_var".to_string()));
    // He-normal fan-in: conv1 of block3 has fan-in 128·9.
    let w = to_vec(v.get("block3.layer.0.conv1.weight").unwrap().as_tensor());
    let var = w.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / w.len() as f64;
    assert!((var / (2.0 / 1152.0) - 1.0).abs() < 0.05, "var {var}");
}

#[test]
fn goad_net_shapes() {
    let v = vars();
    let net = GoadNet::new(
        &GoadNetConfig::default(),
        v.var_builder(DType::F32, &Device::Cpu),
    )
    .unwrap();
    let (f, l) = net.forward(&formula_input(&[2, 64, 64])).unwrap();
    assert_eq!(f.dims(), &[2, 64, 32]);
    assert_eq!(l.dims(), &[2, 64, 64]);
    let v = vars();
    let net = GoadNet::new(
        &GoadNetConfig::thyroid(),
        v.var_builder(DType::F32, &Device::Cpu),
    )
    .unwrap();
    assert_eq!(
        names(&v),
        ["head.1.bias", "head.1.weight", "trunk.0.weight"]
    );
    assert_eq!(
        net.features(&formula_input(&[3, 256, 32])).unwrap().dims(),
        &[3, 256, 8]
    );
    assert!(matches!(
        net.features(&zeros(&[3, 256, 31])),
        Err(Error::InputShape { .. })
    ));
    assert!(matches!(
        net.features(&zeros(&[3, 32])),
        Err(Error::InputShape { .. })
    ));
}

#[test]
fn heads_shapes_and_names() {
    let v = vars();
    let vb = v.var_builder(DType::F32, &Device::Cpu);
    let x = formula_input(&[2, 512]);
    let lin = LinearHead::new(512, 4, vb.pp("fc")).unwrap();
    assert_eq!(lin.forward(&x).unwrap().dims(), &[2, 4]);
    let proj = ProjectionHead::new(&ProjectionHeadConfig::default(), vb.pp("proj")).unwrap();
    assert_eq!(proj.forward_t(&x, true).unwrap().dims(), &[2, 128]);
    let bn_cfg = ProjectionHeadConfig {
        batch_norm: true,
        ..Default::default()
    };
    let projbn = ProjectionHead::new(&bn_cfg, vb.pp("projbn")).unwrap();
    assert_eq!(projbn.forward_t(&x, true).unwrap().dims(), &[2, 128]);
    let csi = CsiHeads::new(&CsiHeadsConfig::default(), vb.pp("csi")).unwrap();
    let (z, s) = csi.forward_t(&x, true).unwrap();
    assert_eq!((z.dims(), s.dims()), (&[2, 128][..], &[2, 4][..]));
    let cp = CutPasteHead::new(&CutPasteHeadConfig::default(), vb.pp("cp")).unwrap();
    let (e, logits) = cp.forward_t(&x, true).unwrap();
    assert_eq!((e.dims(), logits.dims()), (&[2, 128][..], &[2, 2][..]));
    let n = names(&v);
    for want in [
        "fc.weight",
        "proj.0.weight",
        "proj.2.bias",
        "projbn.1.running_mean",
        "projbn.3.weight",
        "csi.simclr_layer.0.weight",
        "csi.simclr_layer.2.weight",
        "csi.shift_cls_layer.weight",
        "cp.head.0.weight",
        "cp.head.1.running_var",
        "cp.head.24.weight",
        "cp.head.25.bias",
        "cp.out.weight",
    ] {
        assert!(n.contains(&want.to_string()), "missing {want}");
    }
    assert!(!n.contains(&"cp.head.27.weight".to_string()));
    // Training-mode BatchNorm needs more than one sample.
    assert!(matches!(
        cp.forward_t(&formula_input(&[1, 512]), true),
        Err(Error::InputShape { .. })
    ));
    assert!(cp.forward_t(&formula_input(&[1, 512]), false).is_ok());
    assert!(matches!(
        lin.forward(&zeros(&[2, 511])),
        Err(Error::InputShape { .. })
    ));
}

#[test]
fn autoencoders_shapes_and_names() {
    let v = vars();
    let vb = v.var_builder(DType::F32, &Device::Cpu);
    let ae = DenseAutoencoder::new(10, &DenseAutoencoderConfig::default(), vb.pp("ae")).unwrap();
    let x = formula_input(&[4, 10]);
    assert_eq!(ae.encode(&x, true).unwrap().dims(), &[4, 32]);
    assert_eq!(ae.forward_t(&x, true).unwrap().dims(), &[4, 10]);
    let n = names(&v);
    for want in [
        "ae.encoder.0.weight",
        "ae.encoder.1.running_mean",
        "ae.encoder.4.weight",
        "ae.decoder.0.weight",
        "ae.decoder.4.weight",
    ] {
        assert!(n.contains(&want.to_string()), "missing {want}");
    }
    assert!(matches!(
        ae.forward_t(&zeros(&[4, 9]), false),
        Err(Error::InputShape { .. })
    ));

    let v = vars();
    let vb = v.var_builder(DType::F32, &Device::Cpu);
    let cae = ConvAutoencoder::new(&ConvAutoencoderConfig::default(), vb.pp("c")).unwrap();
    let x = formula_input(&[2, 3, 32, 32]);
    assert_eq!(cae.encode(&x, true).unwrap().dims(), &[2, 128]);
    assert_eq!(cae.forward_t(&x, true).unwrap().dims(), &[2, 3, 32, 32]);
    let f = ConvAutoencoder::new(&ConvAutoencoderConfig::fmnist(), vb.pp("f")).unwrap();
    assert_eq!(
        f.forward_t(&formula_input(&[2, 1, 28, 28]), false)
            .unwrap()
            .dims(),
        &[2, 1, 28, 28]
    );
    assert!(matches!(
        f.forward_t(&zeros(&[2, 1, 32, 32]), false),
        Err(Error::InputShape { .. })
    ));
    let bad = ConvAutoencoderConfig {
        image_size: 30,
        ..ConvAutoencoderConfig::default()
    };
    assert!(matches!(
        ConvAutoencoder::new(&bad, vb.pp("bad")),
        Err(Error::InvalidConfig { .. })
    ));
}

#[test]
fn bad_image_shapes_are_typed_errors() {
    let v = vars();
    let net = BackboneConfig::Small32
        .build(v.var_builder(DType::F32, &Device::Cpu))
        .unwrap();
    for dims in [
        &[2, 1, 32, 32][..],
        &[2, 3, 32],
        &[0, 3, 32, 32],
        &[3, 32, 32, 3],
    ] {
        assert!(
            matches!(
                net.forward_features(&zeros(dims), false),
                Err(Error::InputShape { .. })
            ),
            "{dims:?}"
        );
    }
    assert!(net.forward_t(&zeros(&[2, 1, 32, 32]), false).is_err());
    let no_fc = ResNet::new(
        &ResNetConfig::small32(),
        v.var_builder(DType::F32, &Device::Cpu),
    )
    .unwrap();
    assert!(matches!(
        no_fc.logits(&zeros(&[1, 3, 8, 8]), false),
        Err(Error::InvalidConfig { .. })
    ));
}

#[test]
fn invalid_configs_are_rejected() {
    let rec = ShapeRecorder::default();
    let bad_resnets = [
        ResNetConfig {
            layers: vec![],
            widths: vec![],
            ..Default::default()
        },
        ResNetConfig {
            layers: vec![1; 5],
            widths: vec![8; 5],
            ..Default::default()
        },
        ResNetConfig {
            widths: vec![8, 8],
            ..Default::default()
        },
        ResNetConfig {
            in_channels: 0,
            ..Default::default()
        },
        ResNetConfig {
            num_classes: Some(0),
            ..Default::default()
        },
    ];
    for cfg in bad_resnets {
        assert!(
            matches!(
                ResNet::new(&cfg, rec.vb()),
                Err(Error::InvalidConfig { .. })
            ),
            "{cfg:?}"
        );
    }
    for depth in [0, 9, 11, 4] {
        let cfg = WideResNetConfig {
            depth,
            ..Default::default()
        };
        assert!(matches!(
            WideResNet::new(&cfg, rec.vb()),
            Err(Error::InvalidConfig { .. })
        ));
    }
    let g = GoadNetConfig {
        ndf: 0,
        ..Default::default()
    };
    assert!(GoadNet::new(&g, rec.vb()).is_err());
    assert!(DenseAutoencoder::new(0, &DenseAutoencoderConfig::default(), rec.vb()).is_err());
}

#[test]
fn gradients_reach_every_trainable_parameter_through_the_imagenet_stem() {
    let v = vars();
    let cfg = ResNetConfig {
        layers: vec![1],
        widths: vec![4],
        stem: Stem::Imagenet,
        num_classes: Some(2),
        ..Default::default()
    };
    let net = ResNet::new(&cfg, v.var_builder(DType::F32, &Device::Cpu)).unwrap();
    let loss = net
        .logits(&formula_input(&[2, 3, 16, 16]), true)
        .unwrap()
        .sqr()
        .unwrap()
        .sum_all()
        .unwrap();
    let grads = loss.backward().unwrap();
    for (name, var) in v.named_trainable_vars() {
        assert!(grads.get(&var).is_some(), "no gradient for {name}");
    }
    for (name, var) in v
        .named_vars()
        .into_iter()
        .filter(|(n, _)| is_buffer_name(n))
    {
        assert!(grads.get(&var).is_none(), "{name} got a gradient");
    }
}

#[test]
fn defaults_match_the_papers() {
    assert_eq!(ResNetConfig::default(), ResNetConfig::resnet18(Stem::Cifar));
    let r = ResNetConfig::default();
    assert_eq!(
        (r.block, r.layers, r.widths, r.in_channels, r.num_classes),
        (
            BlockKind::Basic,
            vec![2, 2, 2, 2],
            vec![64, 128, 256, 512],
            3,
            None
        )
    );
    let s = ResNetConfig::small28();
    assert_eq!(
        (s.layers, s.widths, s.in_channels, s.stem),
        (vec![1, 1, 1], vec![16, 32, 64], 1, Stem::Cifar)
    );
    let w = WideResNetConfig::default();
    assert_eq!(
        (
            w.depth,
            w.widen_factor,
            w.in_channels,
            w.num_classes,
            w.init
        ),
        (10, 4, 3, None, WrnInit::HeNormalFanIn)
    );
    let g = GoadNetConfig::default();
    assert_eq!(
        (g.input_dim, g.ndf, g.num_transforms, g.trunk_layers),
        (64, 32, 64, 5)
    );
    let k = GoadNetConfig::kddrev();
    assert_eq!(
        (k.input_dim, k.ndf, k.num_transforms, k.trunk_layers),
        (128, 128, 256, 5)
    );
    let p = ProjectionHeadConfig::default();
    assert_eq!(
        (p.in_dim, p.hidden_dim, p.out_dim, p.batch_norm),
        (512, 512, 128, false)
    );
    let c = CsiHeadsConfig::default();
    assert_eq!((c.in_dim, c.simclr_dim, c.num_shifts), (512, 128, 4));
    let cp = CutPasteHeadConfig::default();
    assert_eq!(
        (
            cp.in_dim,
            cp.hidden_layers,
            cp.hidden_dim,
            cp.embed_dim,
            cp.num_classes
        ),
        (512, 8, 512, 128, 2)
    );
    let d = DenseAutoencoderConfig::default();
    assert_eq!((d.hidden, d.batch_norm), (vec![64, 32], true));
    let a = ConvAutoencoderConfig::default();
    assert_eq!(
        (a.in_channels, a.image_size, a.channels, a.latent_dim),
        (3, 32, vec![32, 64, 128], 128)
    );
    assert_eq!(
        BackboneConfig::default(),
        BackboneConfig::Resnet18(ResNetPreset::default())
    );
}

#[test]
fn backbone_configs_parse_by_name() {
    let parse = |s: &str| serde_json::from_str::<BackboneConfig>(s);
    assert_eq!(
        parse(r#"{"kind": "resnet18", "stem": "imagenet"}"#).unwrap(),
        BackboneConfig::Resnet18(ResNetPreset {
            stem: Stem::Imagenet,
            ..Default::default()
        })
    );
    assert_eq!(
        parse(r#"{"kind": "small28"}"#).unwrap(),
        BackboneConfig::Small28
    );
    assert_eq!(
        parse(r#"{"kind": "wrn", "depth": 16, "widen_factor": 8}"#).unwrap(),
        BackboneConfig::Wrn(WideResNetConfig {
            depth: 16,
            widen_factor: 8,
            ..Default::default()
        })
    );
    assert!(parse(r#"{"kind": "resnet18", "stme": "imagenet"}"#).is_err());
    assert!(parse(r#"{"kind": "vgg16"}"#).is_err());
    for cfg in [
        BackboneConfig::Resnet50(ResNetPreset {
            num_classes: Some(10),
            ..Default::default()
        }),
        BackboneConfig::Wrn(WideResNetConfig::default()),
        BackboneConfig::Resnet(ResNetConfig::small32()),
        BackboneConfig::Small32,
    ] {
        let s = serde_json::to_string(&cfg).unwrap();
        assert_eq!(parse(&s).unwrap(), cfg, "{s}");
    }
}

#[test]
fn networks_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<ResNet>();
    check::<WideResNet>();
    check::<GoadNet>();
    check::<Box<dyn Backbone>>();
    check::<SeededVarMap>();
    check::<CutPasteHead>();
    check::<ConvAutoencoder>();
    check::<DenseAutoencoder>();
}
