//! Property tests of the differentiable max pooling.

use candle_core::{Device, Tensor, Var};
use proptest::prelude::*;
use ssad_models::pool::{max_pool2d, max_pool2d_composed};

fn tensor(v: &[f32], dims: (usize, usize, usize, usize)) -> Tensor {
    Tensor::from_vec(v.to_vec(), dims, &Device::Cpu).unwrap()
}

fn window() -> impl Strategy<Value = (usize, usize, usize)> {
    (1usize..5, 1usize..4).prop_flat_map(|(k, s)| (Just(k), Just(s), 0..=k / 2))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn custom_op_equals_composition_and_routes_all_gradient(
        (k, s, p) in window(),
        n in 1usize..3, c in 1usize..3, h in 4usize..9, w in 4usize..9,
        seed in any::<u64>(),
    ) {
        let len = n * c * h * w;
        // Values on a coarse grid make ties common, which exercises the routing rule.
        let v: Vec<f32> = (0..len as u64)
            .map(|i| ((i.wrapping_mul(6364136223846793005).wrapping_add(seed) >> 33) % 7) as f32)
            .collect();
        let x = tensor(&v, (n, c, h, w));
        let a = max_pool2d(&x, k, s, p).unwrap();
        let b = max_pool2d_composed(&x, k, s, p).unwrap();
        let (oh, ow) = ((h + 2 * p - k) / s + 1, (w + 2 * p - k) / s + 1);
        prop_assert_eq!(a.dims(), &[n, c, oh, ow]);
        let av: Vec<f32> = a.flatten_all().unwrap().to_vec1().unwrap();
        let bv: Vec<f32> = b.flatten_all().unwrap().to_vec1().unwrap();
        prop_assert_eq!(&av, &bv);

        // Each output's gradient lands, whole, on one input of its window holding the maximum.
        let var = Var::from_tensor(&x).unwrap();
        let out = max_pool2d(var.as_tensor(), k, s, p).unwrap();
        let upstream = Tensor::arange(1f32, (out.elem_count() + 1) as f32, &Device::Cpu)
            .unwrap()
            .reshape(out.shape())
            .unwrap();
        let g = (out * &upstream).unwrap().sum_all().unwrap().backward().unwrap();
        let gx: Vec<f32> = g.get(&var).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        let total: f32 = upstream.sum_all().unwrap().to_scalar().unwrap();
        prop_assert!((gx.iter().sum::<f32>() - total).abs() < 1e-3 * total);
        for (i, &gi) in gx.iter().enumerate() {
            if gi != 0.0 {
                // Only inputs that are the maximum of some window can receive gradient.
                prop_assert!(av.contains(&v[i]));
            }
        }
    }
}
