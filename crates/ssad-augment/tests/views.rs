//! Stochastic views: reproducibility, patch geometry, labels, bad input, defaults.

use candle_core::{DType, Device, Tensor};
use rand::Rng;
use ssad_augment::{
    Augment, ColorJitter, CutPaste, CutPasteConfig, CutPasteScar, CutPasteTask, CutPasteViews,
    Error, RandomResizedCrop, ScarConfig, SimClr,
};
use ssad_core::{Seed, Stream};

fn random_batch(b: usize, c: usize, h: usize, w: usize, seed: u64) -> Tensor {
    let mut rng = Seed(seed).rng(Stream::Other(2), 0, 0);
    let data: Vec<f32> = (0..b * c * h * w)
        .map(|_| rng.random_range(0.05f32..0.95))
        .collect();
    Tensor::from_vec(data, (b, c, h, w), &Device::Cpu).unwrap()
}

fn values(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

fn on_threads<T: Send>(n: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build()
        .unwrap()
        .install(f)
}

/// Bounding box `(top, left, height, width)` of the pixels where any channel
/// differs, and how many pixels differ.
fn changed_box(
    a: &[f32],
    b: &[f32],
    c: usize,
    h: usize,
    w: usize,
) -> Option<((usize, usize, usize, usize), usize)> {
    let (mut t, mut l, mut bo, mut r, mut n) = (usize::MAX, usize::MAX, 0, 0, 0);
    for i in 0..h {
        for j in 0..w {
            if (0..c).any(|ch| a[ch * h * w + i * w + j] != b[ch * h * w + i * w + j]) {
                (t, l, bo, r, n) = (t.min(i), l.min(j), bo.max(i), r.max(j), n + 1);
            }
        }
    }
    (n > 0).then_some(((t, l, bo - t + 1, r - l + 1), n))
}

#[test]
fn same_seed_gives_identical_views_on_one_and_two_threads() {
    let x = random_batch(16, 3, 32, 32, 1);
    let indices: Vec<u64> = (100..116).collect();
    let simclr = SimClr::default();
    let one = on_threads(1, || simclr.apply_batch(&x, Seed(9), 3, &indices).unwrap());
    let two = on_threads(2, || simclr.apply_batch(&x, Seed(9), 3, &indices).unwrap());
    assert_eq!(values(&one), values(&two));
    assert_ne!(values(&one), values(&x));

    let x = random_batch(6, 3, 64, 64, 2);
    let views = CutPasteViews::new(
        CutPasteTask::ThreeWay,
        CutPasteConfig::default(),
        ScarConfig::default(),
    )
    .unwrap();
    let one = on_threads(1, || {
        views.views(&x, Seed(9), 0, &[1, 2, 3, 4, 5, 6]).unwrap()
    });
    let two = on_threads(2, || {
        views.views(&x, Seed(9), 0, &[1, 2, 3, 4, 5, 6]).unwrap()
    });
    assert_eq!(values(&one.0), values(&two.0));
    // A different seed or epoch gives different views.
    let other = views.views(&x, Seed(10), 0, &[1, 2, 3, 4, 5, 6]).unwrap();
    assert_ne!(values(&one.0), values(&other.0));
    let later = simclr
        .apply_batch(&x, Seed(9), 4, &[1, 2, 3, 4, 5, 6])
        .unwrap();
    assert_ne!(
        values(&later),
        values(
            &simclr
                .apply_batch(&x, Seed(9), 3, &[1, 2, 3, 4, 5, 6])
                .unwrap()
        )
    );
}

#[test]
fn a_samples_view_does_not_depend_on_its_batch() {
    let x = random_batch(2, 3, 32, 32, 3);
    let swapped =
        Tensor::cat(&[x.narrow(0, 1, 1).unwrap(), x.narrow(0, 0, 1).unwrap()], 0).unwrap();
    let simclr = SimClr::default();
    let a = simclr.apply_batch(&x, Seed(1), 0, &[7, 8]).unwrap();
    let b = simclr.apply_batch(&swapped, Seed(1), 0, &[8, 7]).unwrap();
    assert_eq!(
        values(&a.narrow(0, 0, 1).unwrap()),
        values(&b.narrow(0, 1, 1).unwrap())
    );
    let single = simclr
        .apply_batch(&x.narrow(0, 1, 1).unwrap(), Seed(1), 0, &[8])
        .unwrap();
    assert_eq!(values(&a.narrow(0, 1, 1).unwrap()), values(&single));
}

#[test]
fn cutpaste_changes_one_patch_of_the_drawn_size() {
    let (c, h, w) = (3, 64, 64);
    let x = random_batch(40, c, h, w, 4);
    let cut = CutPaste::new(CutPasteConfig::default()).unwrap();
    let indices: Vec<u64> = (0..40).collect();
    let y = cut.apply_batch(&x, Seed(5), 0, &indices).unwrap();
    let (xs, ys) = (values(&x), values(&y));
    let area = (h * w) as f32;
    let image = c * h * w;
    let mut areas = Vec::new();
    for i in 0..40 {
        let (a, b) = (
            &xs[i * image..(i + 1) * image],
            &ys[i * image..(i + 1) * image],
        );
        let Some(((_, _, bh, bw), n)) = changed_box(a, b, c, h, w) else {
            continue; // pasted back onto itself with a neutral jitter: nothing to see
        };
        let box_area = (bh * bw) as f32;
        // The patch is w x h with w = round(sqrt(A a)), h = round(sqrt(A / a)), so its
        // area exceeds A by at most half a pixel on each side.
        let slack = 0.5 * (bh + bw) as f32 + 0.25;
        assert!(
            box_area <= 0.15 * area + slack,
            "sample {i}: box {bh} x {bw}"
        );
        assert!(
            box_area >= 0.02 * area - slack,
            "sample {i}: box {bh} x {bw}"
        );
        let aspect = bw as f32 / bh as f32;
        assert!(
            (0.3 - 0.1..=1.0 / 0.3 + 0.5).contains(&aspect),
            "sample {i}: aspect {aspect}"
        );
        // One connected patch: nearly every pixel of the box changed.
        assert!(
            n as f32 >= 0.9 * box_area,
            "sample {i}: {n} of {box_area} changed"
        );
        areas.push(box_area / area);
    }
    assert!(areas.len() >= 38);
    // The areas spread over the range rather than sitting at one end.
    let lo = areas.iter().cloned().fold(f32::MAX, f32::min);
    let hi = areas.iter().cloned().fold(0.0, f32::max);
    assert!(lo < 0.06 && hi > 0.10, "areas from {lo} to {hi}");
}

#[test]
fn scar_patches_stay_within_their_size_range() {
    let (c, h, w) = (3, 96, 96);
    let x = random_batch(30, c, h, w, 6);
    let scar = CutPasteScar::new(ScarConfig::default()).unwrap();
    let indices: Vec<u64> = (0..30).collect();
    let y = scar.apply_batch(&x, Seed(6), 0, &indices).unwrap();
    let (xs, ys) = (values(&x), values(&y));
    let image = c * h * w;
    let mut seen = 0;
    for i in 0..30 {
        let (a, b) = (
            &xs[i * image..(i + 1) * image],
            &ys[i * image..(i + 1) * image],
        );
        let Some(((_, _, bh, bw), n)) = changed_box(a, b, c, h, w) else {
            continue;
        };
        seen += 1;
        // The rotated 16 x 25 scar fits a 30 x 29 box; it covers at most about
        // 16 x 25 pixels and at least 2 x 10 of them minus rounding at the edges.
        assert!(bh <= 30 && bw <= 29, "sample {i}: box {bh} x {bw}");
        assert!(n <= 16 * 25 + 2 * (30 + 29), "sample {i}: {n} pixels");
        assert!(n >= 10, "sample {i}: {n} pixels");
        assert!(
            bh.max(bw) >= 7,
            "sample {i}: box {bh} x {bw} too small for a 10 px scar"
        );
    }
    assert!(seen >= 28);
}

#[test]
fn views_are_labelled_view_major() {
    let x = random_batch(4, 3, 32, 32, 7);
    let small_scar = ScarConfig {
        width: (1.0, 4.0),
        height: (3.0, 8.0),
        ..ScarConfig::default()
    };
    for (task, n) in [
        (CutPasteTask::Binary, 2),
        (CutPasteTask::Scar, 2),
        (CutPasteTask::Union, 2),
        (CutPasteTask::ThreeWay, 3),
    ] {
        let views = CutPasteViews::new(task, CutPasteConfig::default(), small_scar).unwrap();
        assert_eq!(views.n_views(), n);
        let (imgs, labels) = views.views(&x, Seed(1), 0, &[0, 1, 2, 3]).unwrap();
        assert_eq!(imgs.dims(), &[4 * n, 3, 32, 32]);
        let labels = labels.to_vec1::<u32>().unwrap();
        let expected: Vec<u32> = (0..n as u32).flat_map(|v| [v; 4]).collect();
        assert_eq!(labels, expected);
        // View 0 is the untouched batch; the others differ from it.
        assert_eq!(values(&imgs.narrow(0, 0, 4).unwrap()), values(&x));
        assert_ne!(values(&imgs.narrow(0, 4, 4).unwrap()), values(&x));
    }
}

#[test]
fn simclr_keeps_shape_and_range() {
    for (c, size) in [(3, 32), (1, 28)] {
        let x = random_batch(8, c, size, size, 8);
        let y = SimClr::default()
            .apply_batch(&x, Seed(2), 0, &[0, 1, 2, 3, 4, 5, 6, 7])
            .unwrap();
        assert_eq!(y.dims(), x.dims());
        assert!(values(&y).iter().all(|v| (0.0..=1.0).contains(v)));
        assert_ne!(values(&y), values(&x));
    }
    // A full-image crop, no flip, no colour and no blur is the identity.
    let off = SimClr {
        crop: RandomResizedCrop {
            scale: (1.0, 1.0),
            ratio: (1.0, 1.0),
        },
        flip_p: 0.0,
        jitter_p: 0.0,
        grayscale_p: 0.0,
        blur_p: 0.0,
        ..SimClr::default()
    };
    let x = random_batch(3, 3, 16, 16, 9);
    assert_eq!(
        values(&off.apply_batch(&x, Seed(0), 0, &[0, 1, 2]).unwrap()),
        values(&x)
    );
    // Greyscale always: the three channels become equal.
    let grey = SimClr {
        grayscale_p: 1.0,
        ..off
    };
    let y = values(&grey.apply_batch(&x, Seed(0), 0, &[0, 1, 2]).unwrap());
    assert_eq!(&y[..256], &y[256..512]);
}

#[test]
fn bad_input_gives_typed_errors() {
    let cut = CutPaste::new(CutPasteConfig::default()).unwrap();
    let two_channels = random_batch(1, 2, 32, 32, 1);
    assert!(matches!(
        cut.apply_batch(&two_channels, Seed(0), 0, &[0]),
        Err(Error::Shape { .. })
    ));
    let flat = random_batch(1, 3, 4, 200, 1);
    assert!(matches!(
        cut.apply_batch(&flat, Seed(0), 0, &[0]),
        Err(Error::PatchTooLarge { .. })
    ));
    let small = random_batch(1, 3, 28, 28, 1);
    let scar = CutPasteScar::new(ScarConfig::default()).unwrap();
    assert!(matches!(
        scar.apply_batch(&small, Seed(0), 0, &[0]),
        Err(Error::PatchTooLarge {
            patch_height: 30,
            patch_width: 29,
            ..
        })
    ));
    let x = random_batch(2, 3, 32, 32, 1);
    assert!(matches!(
        cut.apply_batch(&x, Seed(0), 0, &[0]),
        Err(Error::Shape { .. })
    ));
    let empty = Tensor::zeros((0, 3, 32, 32), DType::F32, &Device::Cpu).unwrap();
    assert!(matches!(
        cut.apply_batch(&empty, Seed(0), 0, &[]),
        Err(Error::Empty { .. })
    ));
    let rank2 = Tensor::zeros((3, 32), DType::F32, &Device::Cpu).unwrap();
    assert!(matches!(
        SimClr::default().apply_batch(&rank2, Seed(0), 0, &[0]),
        Err(Error::Rank { .. })
    ));
    let bad = CutPasteConfig {
        area_ratio: (0.2, 0.1),
        ..CutPasteConfig::default()
    };
    assert!(matches!(
        CutPaste::new(bad),
        Err(Error::InvalidConfig {
            field: "area_ratio",
            ..
        })
    ));
    let bad = SimClr {
        jitter_p: 1.5,
        ..SimClr::default()
    };
    assert!(matches!(
        bad.apply_batch(&x, Seed(0), 0, &[0, 1]),
        Err(Error::InvalidConfig {
            field: "jitter_p",
            ..
        })
    ));
    let bad = ColorJitter {
        hue: 0.7,
        ..ColorJitter::default()
    };
    assert!(matches!(
        bad.validate(),
        Err(Error::InvalidConfig { field: "hue", .. })
    ));
}

#[test]
fn defaults_match_the_papers() {
    assert_eq!(
        CutPasteConfig::default(),
        CutPasteConfig {
            area_ratio: (0.02, 0.15),
            aspect_ratio: 0.3,
            jitter: ColorJitter {
                brightness: 0.1,
                contrast: 0.1,
                saturation: 0.1,
                hue: 0.1
            },
        }
    );
    assert_eq!(
        ScarConfig::default(),
        ScarConfig {
            width: (2.0, 16.0),
            height: (10.0, 25.0),
            rotation: (-45.0, 45.0),
            jitter: ColorJitter {
                brightness: 0.1,
                contrast: 0.1,
                saturation: 0.1,
                hue: 0.1
            },
        }
    );
    let s = SimClr::default();
    assert_eq!(
        s.crop,
        RandomResizedCrop {
            scale: (0.08, 1.0),
            ratio: (0.75, 4.0 / 3.0)
        }
    );
    assert_eq!(
        s.jitter,
        ColorJitter {
            brightness: 0.4,
            contrast: 0.4,
            saturation: 0.4,
            hue: 0.1
        }
    );
    assert_eq!(
        (s.flip_p, s.jitter_p, s.grayscale_p, s.blur_p),
        (0.5, 0.8, 0.2, 0.5)
    );
    assert_eq!((s.blur_sigma, s.blur_kernel_frac), ((0.1, 2.0), 0.1));
    assert_eq!(SimClr::csi_test_time().crop.scale, (0.54, 0.54));
    assert_eq!(SimClr::csi_test_time().blur_p, 0.0);
    assert_eq!(CutPasteTask::default(), CutPasteTask::Binary);
}

#[test]
fn configs_reject_unknown_fields_and_fill_defaults() {
    let parsed: SimClr = serde_json::from_str(r#"{"flip_p": 0.0}"#).unwrap();
    assert_eq!(
        parsed,
        SimClr {
            flip_p: 0.0,
            ..SimClr::default()
        }
    );
    assert!(serde_json::from_str::<SimClr>(r#"{"flip": 0.0}"#).is_err());
    assert!(serde_json::from_str::<CutPasteConfig>(r#"{"area": [0.1, 0.2]}"#).is_err());
    let task: CutPasteTask = serde_json::from_str(r#""three_way""#).unwrap();
    assert_eq!(task, CutPasteTask::ThreeWay);
}

#[test]
fn augmenting_a_single_image_checks_its_length() {
    let shape = ssad_augment::ImageShape {
        channels: 3,
        height: 8,
        width: 8,
    };
    let mut rng = Seed(0).rng(Stream::Augment, 0, 0);
    let mut short = vec![0.5; 10];
    assert!(matches!(
        SimClr::default().augment_image(&mut short, shape, &mut rng),
        Err(Error::Shape { .. })
    ));
    let mut img = vec![0.5; shape.len()];
    assert!(SimClr::default()
        .augment_image(&mut img, shape, &mut rng)
        .is_ok());
}
