//! Deterministic transformation families: algebra, known answers, bad input.

use candle_core::{Device, Tensor};
use proptest::prelude::*;
use rand::Rng;
use serde_json::Value;
use ssad_augment::{expand, CutPerm, Error, Geom, RotTrans, Rotations, TransformFamily};
use ssad_core::{Seed, Stream};

fn fixtures() -> Value {
    serde_json::from_str(include_str!("fixtures/fixtures.json")).expect("fixture is valid JSON")
}

fn tensor(data: &[f32], shape: (usize, usize, usize, usize)) -> Tensor {
    Tensor::from_slice(data, shape, &Device::Cpu).unwrap()
}

fn values(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

fn random_batch(b: usize, c: usize, h: usize, w: usize, seed: u64) -> Tensor {
    let mut rng = Seed(seed).rng(Stream::Other(1), 0, 0);
    let data: Vec<f32> = (0..b * c * h * w).map(|_| rng.random::<f32>()).collect();
    tensor(&data, (b, c, h, w))
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

#[test]
fn four_quarter_turns_are_the_identity() {
    let x = random_batch(3, 2, 5, 5, 1);
    let mut y = x.clone();
    for _ in 0..4 {
        y = Rotations.apply(&y, 1).unwrap();
    }
    assert_eq!(values(&y), values(&x));
    // Turns compose: 1 + 3 and 2 + 2 quarter turns are the identity too.
    let once = Rotations.apply(&x, 1).unwrap();
    assert_eq!(values(&Rotations.apply(&once, 3).unwrap()), values(&x));
    let half = Rotations.apply(&x, 2).unwrap();
    assert_eq!(values(&Rotations.apply(&half, 2).unwrap()), values(&x));
    assert_eq!(values(&Rotations.apply(&x, 0).unwrap()), values(&x));
}

#[test]
fn quarter_turn_is_counter_clockwise_like_np_rot90() {
    // np.rot90([[1, 2], [3, 4]]) == [[2, 4], [1, 3]]
    let x = tensor(&[1.0, 2.0, 3.0, 4.0], (1, 1, 2, 2));
    assert_eq!(
        values(&Rotations.apply(&x, 1).unwrap()),
        vec![2.0, 4.0, 1.0, 3.0]
    );
}

#[test]
fn flipping_twice_is_the_identity() {
    let x = random_batch(2, 3, 6, 4, 2);
    let flip = Geom::new();
    // Member 36 is (flip, no shift, no shift, no turn).
    assert_eq!(flip.params(36, 6, 4).unwrap(), (true, 0, 0, 0));
    let once = flip.apply(&x, 36).unwrap();
    assert_ne!(values(&once), values(&x));
    assert_eq!(values(&flip.apply(&once, 36).unwrap()), values(&x));
}

#[test]
fn geom_translation_matches_a_hand_computed_image() {
    // 3 x 3 image 1..9; shift 1. Member 12 = (no flip, tx = -1, ty = 0, no turn):
    // keras moves the content one row down and fills row 0 by half-sample
    // reflection, i.e. row 0 repeats.
    let x = tensor(&[1., 2., 3., 4., 5., 6., 7., 8., 9.], (1, 1, 3, 3));
    let g = Geom::with_shift(1);
    assert_eq!(g.params(12, 3, 3).unwrap(), (false, -1, 0, 0));
    assert_eq!(
        values(&g.apply(&x, 12).unwrap()),
        vec![1., 2., 3., 1., 2., 3., 4., 5., 6.]
    );
    // Member 8 = (no flip, tx = 0, ty = +1): output[i, j] = input[i, j + 1].
    assert_eq!(
        values(&g.apply(&x, 8).unwrap()),
        vec![2., 3., 3., 5., 6., 6., 8., 9., 9.]
    );
    // Member 60 = (flip, tx = +1, ty = 0): flip, then output[i, j] = flipped[i + 1, j].
    assert_eq!(
        values(&g.apply(&x, 60).unwrap()),
        vec![6., 5., 4., 9., 8., 7., 9., 8., 7.]
    );
}

#[test]
fn rot_trans_translation_uses_reflect_101() {
    // Member 24 = (x-shift +1, no y-shift, no turn): content moves one column right,
    // column 0 is filled by reflect-101 (column 1 of the input).
    let x = tensor(&[1., 2., 3., 4., 5., 6., 7., 8., 9.], (1, 1, 3, 3));
    let rt = RotTrans::with_shift(1);
    assert_eq!(rt.head_labels(24), vec![2, 0, 0]);
    assert_eq!(
        values(&rt.apply(&x, 24).unwrap()),
        vec![2., 1., 2., 5., 4., 5., 8., 7., 8.]
    );
    // Member 16 = (x-shift -1, y-shift -1, no turn): content moves up and left.
    assert_eq!(rt.head_labels(16), vec![1, 1, 0]);
    assert_eq!(
        values(&rt.apply(&x, 16).unwrap()),
        vec![5., 6., 5., 8., 9., 8., 5., 6., 5.]
    );
}

#[test]
fn geom_matches_the_keras_fixture_for_all_72_members() {
    let f = fixtures();
    let case = &f["geom_8x8"];
    let image = floats(&case["image"]);
    let x = tensor(&image, (1, 2, 8, 8));
    let g = Geom::with_shift(case["shift"].as_u64().unwrap() as usize);
    let members = case["members"].as_array().unwrap();
    assert_eq!(members.len(), 72);
    for (k, expected) in members.iter().enumerate() {
        assert_eq!(
            values(&g.apply(&x, k).unwrap()),
            floats(expected),
            "member {k}"
        );
    }
    // The default shift, a quarter of 8 px, is the same 2 px.
    assert_eq!(
        values(&Geom::new().apply(&x, 71).unwrap()),
        floats(&members[71])
    );
}

#[test]
fn geom_translation_matches_keras_on_non_square_images_and_long_shifts() {
    let f = fixtures();
    let case = &f["translate_5x7"];
    let x = tensor(&floats(&case["image"]), (1, 1, 5, 7));
    for c in case["cases"].as_array().unwrap() {
        let t = c["shift"].as_i64().unwrap();
        let index = |v: i64| [0, -t, t].iter().position(|&s| s == v).unwrap();
        let k = usize::from(c["flip"].as_bool().unwrap()) * 36
            + index(c["tx"].as_i64().unwrap()) * 12
            + index(c["ty"].as_i64().unwrap()) * 4;
        let g = Geom::with_shift(t as usize);
        assert_eq!(
            values(&g.apply(&x, k).unwrap()),
            floats(&c["out"]),
            "case {c}"
        );
    }
}

#[test]
fn geom_has_72_distinct_members_on_a_random_image() {
    let x = random_batch(1, 1, 32, 32, 3);
    let all = expand(&Geom::new(), &x).unwrap();
    let rows: Vec<Vec<u32>> = values(&all.images)
        .chunks(32 * 32)
        .map(|r| r.iter().map(|v| v.to_bits()).collect())
        .collect();
    let mut unique = rows.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 72);
    assert_eq!(
        rows[0],
        values(&x).iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
}

#[test]
fn expansion_is_member_major_and_matches_apply() {
    let x = random_batch(3, 2, 6, 6, 4);
    let family = RotTrans::new();
    let all = expand(&family, &x).unwrap();
    assert_eq!(all.images.dims(), &[36 * 3, 2, 6, 6]);
    let labels = all.labels.to_vec1::<u32>().unwrap();
    assert_eq!(&labels[..7], &[0, 0, 0, 1, 1, 1, 2]);
    let heads = all.head_labels.to_vec2::<u32>().unwrap();
    assert_eq!(heads.len(), 108);
    assert_eq!(heads[3 * 23], vec![1, 2, 3]);
    assert_eq!(family.head_sizes(), vec![3, 3, 4]);
    for k in [0, 5, 23, 35] {
        let block = all.images.narrow(0, 3 * k, 3).unwrap();
        assert_eq!(
            values(&block),
            values(&family.apply(&x, k).unwrap()),
            "member {k}"
        );
    }
}

#[test]
fn cut_perm_swaps_halves() {
    let x = tensor(
        &[
            1., 2., 3., 4., 5., 6., 7., 8., 9., 10., 11., 12., 13., 14., 15., 16.,
        ],
        (1, 1, 4, 4),
    );
    assert_eq!(
        values(&CutPerm.apply(&x, 1).unwrap()),
        vec![3., 4., 1., 2., 7., 8., 5., 6., 11., 12., 9., 10., 15., 16., 13., 14.]
    );
    assert_eq!(
        values(&CutPerm.apply(&x, 2).unwrap()),
        vec![9., 10., 11., 12., 13., 14., 15., 16., 1., 2., 3., 4., 5., 6., 7., 8.]
    );
    let both = CutPerm.apply(&x, 3).unwrap();
    assert_eq!(values(&CutPerm.apply(&both, 3).unwrap()), values(&x));
    // Odd sizes split at floor(H / 2), like CSI's int(H / 2).
    let odd = tensor(&[1., 2., 3.], (1, 1, 1, 3));
    assert_eq!(values(&CutPerm.apply(&odd, 1).unwrap()), vec![2., 3., 1.]);
}

#[test]
fn bad_input_gives_typed_errors() {
    let x = random_batch(2, 1, 4, 6, 5);
    assert!(matches!(
        Rotations.apply(&x, 1),
        Err(Error::NotSquare {
            height: 4,
            width: 6
        })
    ));
    // A half turn or a translation does not need a square image.
    assert!(Rotations.apply(&x, 2).is_ok());
    assert!(Geom::new().apply(&x, 4).is_ok());
    assert!(matches!(
        expand(&Geom::new(), &x),
        Err(Error::NotSquare { .. })
    ));
    assert!(matches!(
        Rotations.apply(&x, 4),
        Err(Error::Index { index: 4, len: 4 })
    ));
    assert!(matches!(
        Geom::new().apply(&x, 72),
        Err(Error::Index { .. })
    ));
    let rank3 = Tensor::zeros((1, 4, 4), candle_core::DType::F32, &Device::Cpu).unwrap();
    assert!(matches!(
        Rotations.apply(&rank3, 0),
        Err(Error::Rank { expected: 4, .. })
    ));
    let empty = Tensor::zeros((0, 1, 4, 4), candle_core::DType::F32, &Device::Cpu).unwrap();
    assert!(matches!(
        expand(&Rotations, &empty),
        Err(Error::Empty { .. })
    ));
    let nan = tensor(&[0.0, f32::NAN, 0.0, 0.0], (1, 1, 2, 2));
    assert!(matches!(
        Rotations.apply(&nan, 1),
        Err(Error::NonFinite { position: 1, .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn members_only_move_pixels(h in 1usize..9, w in 1usize..9, k in 0usize..72, seed in 0u64..1000) {
        let k = if h == w { k } else { k - k % 2 }; // odd turns need a square
        let x = random_batch(1, 2, h, w, seed);
        let y = values(&Geom::new().apply(&x, k).unwrap());
        let input = values(&x);
        let plane = h * w;
        for (c, channel) in y.chunks(plane).enumerate() {
            let source = &input[c * plane..(c + 1) * plane];
            for v in channel {
                prop_assert!(source.contains(v));
            }
        }
    }

    #[test]
    fn rotation_inverse_is_the_opposite_turn(n in 1usize..9, k in 0usize..4, seed in 0u64..1000) {
        let x = random_batch(2, 1, n, n, seed);
        let back = Rotations.apply(&Rotations.apply(&x, k).unwrap(), (4 - k) % 4).unwrap();
        prop_assert_eq!(values(&back), values(&x));
    }
}

#[test]
fn strided_and_offset_tensors_are_read_correctly() {
    let x = random_batch(3, 2, 5, 5, 11);
    // A narrow along the batch keeps a contiguous view with a storage offset.
    let middle = x.narrow(0, 1, 1).unwrap();
    assert_eq!(
        values(&Rotations.apply(&middle, 0).unwrap()),
        values(&middle)
    );
    // A transpose is not contiguous and goes through the copying path.
    let transposed = x.transpose(2, 3).unwrap();
    assert_eq!(
        values(&Rotations.apply(&transposed, 0).unwrap()),
        values(&transposed)
    );
    let f64_input = x.to_dtype(candle_core::DType::F64).unwrap();
    assert_eq!(
        values(&Rotations.apply(&f64_input, 2).unwrap()),
        values(&Rotations.apply(&x, 2).unwrap())
    );
}
