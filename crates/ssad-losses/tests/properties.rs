//! Error handling, pinned defaults and invariants of the losses.

use candle_core::{Device, Tensor};
use proptest::prelude::*;
use ssad_losses::*;

fn t(data: Vec<f32>, shape: &[usize]) -> Tensor {
    Tensor::from_vec(data, shape, &Device::Cpu).unwrap()
}

#[test]
fn defaults_match_papers() {
    assert_eq!(CrossEntropy::default().label_smoothing, 0.0);
    assert_eq!(
        GoadLoss::default(),
        GoadLoss {
            margin: 1.0,
            lambda: 0.1
        }
    );
    assert_eq!(
        NtXent::default(),
        NtXent {
            temperature: 0.5,
            eps: 1e-8
        }
    );
    assert_eq!(
        SupCon::default(),
        SupCon {
            temperature: 0.07,
            base_temperature: 0.07
        }
    );
    let parsed: NtXent = serde_json::from_str(r#"{"temperature": 0.2}"#).unwrap();
    assert_eq!(parsed.eps, 1e-8);
    assert!(serde_json::from_str::<NtXent>(r#"{"temprature": 0.2}"#).is_err());
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let logits = t(vec![0.0; 6], &[2, 3]);
    let out_of_range = Tensor::new(&[0u32, 3], &Device::Cpu).unwrap();
    assert!(matches!(
        cross_entropy(&logits, &out_of_range),
        Err(Error::TargetOutOfRange {
            position: 1,
            target: 3,
            classes: 3
        })
    ));
    let wrong_len = Tensor::new(&[0u32], &Device::Cpu).unwrap();
    assert!(matches!(
        cross_entropy(&logits, &wrong_len),
        Err(Error::Shape { .. })
    ));
    let float_targets = t(vec![0.0, 1.0], &[2]);
    assert!(matches!(
        cross_entropy(&logits, &float_targets),
        Err(Error::Shape { .. })
    ));
    let ok = Tensor::new(&[0u32, 2], &Device::Cpu).unwrap();
    assert!(matches!(
        cross_entropy_smoothed(&logits, &ok, 1.5),
        Err(Error::InvalidConfig { .. })
    ));

    let z = t(vec![1.0; 6], &[3, 2]);
    assert!(matches!(
        nt_xent(&z, &z, 0.0, 0.0),
        Err(Error::InvalidConfig { .. })
    ));
    assert!(matches!(
        nt_xent(&z, &z, f64::NAN, 0.0),
        Err(Error::InvalidConfig { .. })
    ));
    assert!(matches!(
        nt_xent(&z, &t(vec![1.0; 4], &[2, 2]), 0.5, 0.0),
        Err(Error::Shape { .. })
    ));
    assert!(matches!(
        nt_xent(&t(vec![], &[0, 2]), &t(vec![], &[0, 2]), 0.5, 0.0),
        Err(Error::Shape { .. })
    ));
    assert!(matches!(con_si(&z, &z, 0.5, 0.0), Err(Error::Shape { .. })));
    let one_transform = t(vec![0.0; 6], &[3, 1, 2]);
    assert!(matches!(
        center_triplet(&one_transform, 1.0),
        Err(Error::Shape { .. })
    ));
    let emb = t(vec![0.0; 12], &[3, 2, 2]);
    assert!(matches!(
        goad_loss(&t(vec![0.0; 9], &[3, 3, 1]), &emb, 1.0, 0.1),
        Err(Error::Shape { .. })
    ));
    assert!(matches!(
        svdd_loss(&z, &t(vec![0.0; 3], &[3])),
        Err(Error::Shape { .. })
    ));
    let feats = t(vec![1.0; 12], &[3, 2, 2]);
    let labels = Tensor::new(&[0u32, 1], &Device::Cpu).unwrap();
    assert!(matches!(
        supcon(&feats, Some(&labels), 0.1, 0.1),
        Err(Error::Shape { .. })
    ));
}

#[test]
fn triplet_is_zero_when_transformations_are_far_apart() {
    // Every embedding sits on its own transformation's center, centers 10 apart.
    let mut data = Vec::new();
    for _ in 0..4 {
        data.extend_from_slice(&[0.0, 0.0, 10.0, 0.0, 0.0, 10.0]);
    }
    let emb = t(data, &[4, 3, 2]);
    let loss = center_triplet(&emb, 1.0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert_eq!(loss, 0.0);
}

fn values(len: usize) -> impl Strategy<Value = Vec<f32>> {
    prop::collection::vec(-3.0f32..3.0, len)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn contrastive_losses_ignore_embedding_scale(a in values(12), b in values(12), s in 0.5f32..4.0) {
        prop_assume!(a.chunks(3).chain(b.chunks(3)).all(|r| r.iter().map(|v| v * v).sum::<f32>() > 1e-2));
        let z1 = t(a.clone(), &[4, 3]);
        let z2 = t(b.clone(), &[4, 3]);
        let base = nt_xent(&z1, &z2, 0.5, 1e-8).unwrap().to_scalar::<f32>().unwrap();
        let scaled = nt_xent(&(&z1 * s as f64).unwrap(), &z2, 0.5, 1e-8).unwrap().to_scalar::<f32>().unwrap();
        prop_assert!((base - scaled).abs() < 1e-4);
        // Swapping the views is a relabelling of anchors.
        let swapped = nt_xent(&z2, &z1, 0.5, 1e-8).unwrap().to_scalar::<f32>().unwrap();
        prop_assert!((base - swapped).abs() < 1e-4);
        // SupCon without labels on two views is NT-Xent (up to its 1e-9 term).
        let feats = Tensor::stack(&[&z1, &z2], 1).unwrap();
        let sup = supcon(&feats, None, 0.5, 0.5).unwrap().to_scalar::<f32>().unwrap();
        let plain = nt_xent(&z1, &z2, 0.5, 0.0).unwrap().to_scalar::<f32>().unwrap();
        prop_assert!((sup - plain).abs() < 1e-4, "{} vs {}", sup, plain);
    }

    #[test]
    fn smoothed_cross_entropy_interpolates(logits in values(12), eps in 0.0f64..1.0) {
        let logits = t(logits, &[4, 3]);
        let targets = Tensor::new(&[0u32, 1, 2, 1], &Device::Cpu).unwrap();
        let at = |e: f64| cross_entropy_smoothed(&logits, &targets, e).unwrap().to_scalar::<f32>().unwrap();
        let mixed = (1.0 - eps) as f32 * at(0.0) + eps as f32 * at(1.0);
        prop_assert!((at(eps) - mixed).abs() < 1e-4);
        prop_assert!(at(eps) >= 0.0);
    }

    #[test]
    fn triplet_and_svdd_are_non_negative(e in values(24), c in values(4)) {
        let emb = t(e.clone(), &[3, 2, 4]);
        prop_assert!(center_triplet(&emb, 0.5).unwrap().to_scalar::<f32>().unwrap() >= 0.0);
        let flat = t(e, &[6, 4]);
        let center = t(c, &[4]);
        prop_assert!(svdd_loss(&flat, &center).unwrap().to_scalar::<f32>().unwrap() >= 0.0);
        // The batch mean is the minimising center.
        let at_mean = svdd_loss(&flat, &flat.mean(0).unwrap()).unwrap().to_scalar::<f32>().unwrap();
        prop_assert!(at_mean <= svdd_loss(&flat, &center).unwrap().to_scalar::<f32>().unwrap() + 1e-5);
    }
}
