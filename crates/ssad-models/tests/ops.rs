//! The custom CPU ops against candle's stock ones: the GEMM convolution
//! against `conv2d` and the fused BatchNorm(+ReLU) against
//! `candle_nn::BatchNorm`, each with forward, gradients, f64 finite
//! differences and 20 training steps.

use candle_core::{DType, Device, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use ssad_models::ops::{batch_norm, conv2d, BatchNormOptions};

fn random(rng: &mut ChaCha8Rng, dims: &[usize], dtype: DType) -> Tensor {
    let n: usize = dims.iter().product();
    let data: Vec<f64> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
    Tensor::from_vec(data, dims, &Device::Cpu)
        .unwrap()
        .to_dtype(dtype)
        .unwrap()
}

fn to_vec(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

/// max|a - b| / max(max|b|, 1e-6).
fn rel_err(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.dims(), b.dims());
    let (a, b) = (to_vec(a), to_vec(b));
    let diff = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max);
    let scale = b.iter().map(|y| y.abs()).fold(1e-6, f64::max);
    diff / scale
}

/// (batch, in_c, out_c, size, kernel, stride, padding)
type Case = (usize, usize, usize, usize, usize, usize, usize);

const CASES: &[Case] = &[
    (1, 1, 1, 5, 3, 1, 1),
    (1, 3, 16, 7, 3, 2, 1),
    (3, 16, 16, 9, 3, 1, 1),
    (2, 16, 64, 8, 3, 2, 1),
    (5, 64, 16, 6, 1, 1, 0),
    (4, 16, 64, 9, 1, 2, 0),
    (3, 3, 16, 11, 3, 1, 0),
    (2, 1, 3, 6, 3, 2, 0),
    (7, 64, 64, 5, 3, 1, 1),
    (1, 64, 3, 4, 1, 1, 1),
    (2, 3, 1, 13, 5, 2, 2),
    (3, 16, 3, 3, 3, 1, 1),
];

#[test]
fn forward_and_gradients_match_candle_conv2d() {
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    for &(b, ci, co, size, k, s, p) in CASES {
        // Non-square images catch transposed height/width.
        let x = random(&mut rng, &[b, ci, size, size + 2], DType::F32);
        let w = random(&mut rng, &[co, ci, k, k], DType::F32);
        let (xv, wv) = (Var::from_tensor(&x).unwrap(), Var::from_tensor(&w).unwrap());
        let ours = conv2d(xv.as_tensor(), wv.as_tensor(), s, p).unwrap();
        let stock = x.conv2d(&w, p, s, 1, 1).unwrap();
        let case = format!("case {:?}", (b, ci, co, size, k, s, p));
        assert!(rel_err(&ours, &stock) < 1e-4, "forward {case}");

        let probe = random(&mut rng, stock.dims(), DType::F32);
        let ours_grads = (&ours * &probe)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let (sx, sw) = (Var::from_tensor(&x).unwrap(), Var::from_tensor(&w).unwrap());
        let stock_out = sx.as_tensor().conv2d(sw.as_tensor(), p, s, 1, 1).unwrap();
        let stock_grads = (&stock_out * &probe)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        for (name, ov, sv) in [("dx", &xv, &sx), ("dw", &wv, &sw)] {
            let o = ours_grads.get(ov.as_tensor()).unwrap();
            let st = stock_grads.get(sv.as_tensor()).unwrap();
            assert!(rel_err(o, st) < 1e-4, "{name} {case}: {}", rel_err(o, st));
        }
    }
}

#[test]
fn input_gradient_is_skipped_for_a_plain_input_tensor() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let x = random(&mut rng, &[2, 3, 6, 6], DType::F32);
    let w = Var::from_tensor(&random(&mut rng, &[4, 3, 3, 3], DType::F32)).unwrap();
    let grads = conv2d(&x, w.as_tensor(), 1, 1)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    assert!(grads.get(&x).is_none());
    let stock = Var::from_tensor(w.as_tensor()).unwrap();
    let stock_grads = x
        .conv2d(stock.as_tensor(), 1, 1, 1, 1)
        .unwrap()
        .sum_all()
        .unwrap();
    let stock_grads = stock_grads.backward().unwrap();
    let (o, s) = (
        grads.get(w.as_tensor()).unwrap(),
        stock_grads.get(stock.as_tensor()).unwrap(),
    );
    assert!(rel_err(o, s) < 1e-5);
}

#[test]
fn gradients_match_central_finite_differences_in_f64() {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    for &(s, p, k) in &[(1, 1, 3), (2, 1, 3), (2, 0, 1), (1, 0, 3)] {
        let x = random(&mut rng, &[2, 2, 5, 4], DType::F64);
        let w = random(&mut rng, &[3, 2, k, k], DType::F64);
        let probe = random(&mut rng, conv2d(&x, &w, s, p).unwrap().dims(), DType::F64);
        let loss = |x: &Tensor, w: &Tensor| -> f64 {
            let y = conv2d(x, w, s, p).unwrap();
            (y * &probe)
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar()
                .unwrap()
        };
        let (xv, wv) = (Var::from_tensor(&x).unwrap(), Var::from_tensor(&w).unwrap());
        let y = conv2d(xv.as_tensor(), wv.as_tensor(), s, p).unwrap();
        let grads = (y * &probe).unwrap().sum_all().unwrap().backward().unwrap();
        for (t, v) in [(&x, &xv), (&w, &wv)] {
            let analytic = to_vec(grads.get(v.as_tensor()).unwrap());
            let base = to_vec(t);
            let eps = 1e-6;
            for (i, &g) in analytic.iter().enumerate() {
                let bumped = |d: f64| {
                    let mut data = base.clone();
                    data[i] += d;
                    Tensor::from_vec(data, t.dims(), &Device::Cpu).unwrap()
                };
                let (plus, minus) = (bumped(eps), bumped(-eps));
                let numeric = if std::ptr::eq(t, &x) {
                    (loss(&plus, &w) - loss(&minus, &w)) / (2.0 * eps)
                } else {
                    (loss(&x, &plus) - loss(&x, &minus)) / (2.0 * eps)
                };
                assert!(
                    (numeric - g).abs() < 1e-6,
                    "s{s} p{p} k{k} [{i}]: {numeric} vs {g}"
                );
            }
        }
    }
}

#[test]
fn bad_shapes_are_errors() {
    let x = Tensor::zeros((2, 3, 4, 4), DType::F32, &Device::Cpu).unwrap();
    let wrong_channels = Tensor::zeros((4, 2, 3, 3), DType::F32, &Device::Cpu).unwrap();
    assert!(conv2d(&x, &wrong_channels, 1, 1).is_err());
    let too_big = Tensor::zeros((4, 3, 7, 7), DType::F32, &Device::Cpu).unwrap();
    assert!(conv2d(&x, &too_big, 1, 1).is_err());
    let w = Tensor::zeros((4, 3, 3, 3), DType::F32, &Device::Cpu).unwrap();
    assert!(conv2d(&x, &w, 0, 1).is_err());
    assert!(conv2d(&x.flatten_all().unwrap(), &w, 1, 1).is_err());
    assert!(conv2d(&x, &w.to_dtype(DType::F64).unwrap(), 1, 1).is_err());
}

/// conv(3→8, s1) → ReLU → conv(8→8, s2) → mean over space → linear → squared error.
fn train(use_custom: bool) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(20);
    let w1 =
        Var::from_tensor(&(random(&mut rng, &[8, 3, 3, 3], DType::F32) * 0.4).unwrap()).unwrap();
    let w2 =
        Var::from_tensor(&(random(&mut rng, &[8, 8, 3, 3], DType::F32) * 0.2).unwrap()).unwrap();
    let head = Var::from_tensor(&random(&mut rng, &[8, 2], DType::F32)).unwrap();
    let conv = |x: &Tensor, w: &Var, s: usize| {
        if use_custom {
            conv2d(x, w.as_tensor(), s, 1).unwrap()
        } else {
            x.conv2d(w.as_tensor(), 1, s, 1, 1).unwrap()
        }
    };
    let vars = [w1.clone(), w2.clone(), head.clone()];
    // One fixed batch, so the loss must fall.
    let x = random(&mut rng, &[4, 3, 8, 8], DType::F32);
    let target = random(&mut rng, &[4, 2], DType::F32);
    let mut losses = Vec::new();
    for _ in 0..20 {
        let h = conv(&x, &w1, 1).relu().unwrap();
        let f = conv(&h, &w2, 2).mean((2, 3)).unwrap();
        let out = f.matmul(head.as_tensor()).unwrap();
        let loss = (out - &target).unwrap().sqr().unwrap().mean_all().unwrap();
        losses.push(loss.to_scalar::<f32>().unwrap());
        let grads = loss.backward().unwrap();
        for v in &vars {
            let g = grads.get(v.as_tensor()).unwrap();
            v.set(&(v.as_tensor() - (g * 0.1).unwrap()).unwrap())
                .unwrap();
        }
    }
    losses
}

#[test]
fn twenty_training_steps_agree_with_stock_candle() {
    let (ours, stock) = (train(true), train(false));
    for (step, (o, s)) in ours.iter().zip(&stock).enumerate() {
        assert!(
            (o - s).abs() <= 1e-5 * s.abs().max(1.0),
            "step {step}: {o} vs {s}"
        );
    }
    assert!(ours[19] < 0.5 * ours[0], "the loss should fall: {ours:?}");
}

/// Direct-loop reference for `(y, dx, dw)` of `sum(conv(x, w) * probe)`, in f64.
/// candle's own backward cannot be the reference here: it fails with a shape
/// mismatch on non-square stride-2 inputs whose rows and columns leave
/// different remainders.
fn direct_reference(
    x: &Tensor,
    w: &Tensor,
    probe: &Tensor,
    s: usize,
    p: usize,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (b, ci, h, wd) = x.dims4().unwrap();
    let (co, _, k, _) = w.dims4().unwrap();
    let (oh, ow) = ((h + 2 * p - k) / s + 1, (wd + 2 * p - k) / s + 1);
    let (xs, ws, gs) = (to_vec(x), to_vec(w), to_vec(probe));
    let mut y = vec![0.0; b * co * oh * ow];
    let mut dx = vec![0.0; xs.len()];
    let mut dw = vec![0.0; ws.len()];
    for n in 0..b {
        for o in 0..co {
            for oy in 0..oh {
                for ox in 0..ow {
                    let yi = ((n * co + o) * oh + oy) * ow + ox;
                    for c in 0..ci {
                        for ki in 0..k {
                            for kj in 0..k {
                                let (iy, ix) = (oy * s + ki, ox * s + kj);
                                if iy < p || ix < p || iy - p >= h || ix - p >= wd {
                                    continue;
                                }
                                let xi = ((n * ci + c) * h + iy - p) * wd + ix - p;
                                let wi = ((o * ci + c) * k + ki) * k + kj;
                                y[yi] += xs[xi] * ws[wi];
                                dx[xi] += ws[wi] * gs[yi];
                                dw[wi] += xs[xi] * gs[yi];
                            }
                        }
                    }
                }
            }
        }
    }
    (y, dx, dw)
}

fn max_rel(a: &[f64], b: &[f64]) -> f64 {
    let diff = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max);
    diff / b.iter().map(|y| y.abs()).fold(1e-6, f64::max)
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

    /// Random geometries, both gradients included.
    #[test]
    fn random_geometries_match_candle_and_direct_loops(
        b in 1usize..4, ci in 1usize..6, co in 1usize..6, h in 1usize..9, w in 1usize..9,
        k in proptest::sample::select(vec![1usize, 3]), s in 1usize..3, p in 0usize..2,
        seed in 0u64..1000,
    ) {
        proptest::prop_assume!(h + 2 * p >= k && w + 2 * p >= k);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let xv = Var::from_tensor(&random(&mut rng, &[b, ci, h, w], DType::F32)).unwrap();
        let wv = Var::from_tensor(&random(&mut rng, &[co, ci, k, k], DType::F32)).unwrap();
        let ours = conv2d(xv.as_tensor(), wv.as_tensor(), s, p).unwrap();
        let stock = xv.as_tensor().conv2d(wv.as_tensor(), p, s, 1, 1).unwrap();
        proptest::prop_assert!(rel_err(&ours, &stock) < 1e-4);
        let probe = random(&mut rng, stock.dims(), DType::F32);
        let g_ours = (&ours * &probe).unwrap().sum_all().unwrap().backward().unwrap();
        let (y, dx, dw) = direct_reference(xv.as_tensor(), wv.as_tensor(), &probe, s, p);
        proptest::prop_assert!(max_rel(&to_vec(&ours), &y) < 1e-4);
        for (v, reference) in [(&xv, dx), (&wv, dw)] {
            let got = to_vec(g_ours.get(v.as_tensor()).unwrap());
            proptest::prop_assert!(max_rel(&got, &reference) < 1e-4);
        }
    }
}

// ---------------------------------------------------------------- BatchNorm

/// Fresh `(weight, bias, running_mean, running_var)` variables for `c`
/// channels, away from the identity so that every term of the gradient counts.
fn bn_params(rng: &mut ChaCha8Rng, c: usize, dtype: DType) -> [Var; 4] {
    let around_one =
        |rng: &mut ChaCha8Rng| ((random(rng, &[c], dtype) * 0.5).unwrap() + 1.0).unwrap();
    let weight = around_one(rng);
    let bias = random(rng, &[c], dtype);
    let mean = random(rng, &[c], dtype);
    let var = around_one(rng);
    [weight, bias, mean, var].map(|t| Var::from_tensor(&t).unwrap())
}

/// Fresh variables holding copies of `vars` (so two models start equal and
/// update separately).
fn copies(vars: &[Var; 4]) -> [Var; 4] {
    vars.clone()
        .map(|v| Var::from_tensor(&v.as_tensor().copy().unwrap()).unwrap())
}

/// candle's composition: `candle_nn::BatchNorm` (momentum 0.1) + `relu`.
fn stock_bn(x: &Tensor, p: &[Var; 4], train: bool, relu: bool) -> Tensor {
    let bn = candle_nn::BatchNorm::new_with_momentum(
        x.dim(1).unwrap(),
        p[2].as_tensor().clone(),
        p[3].as_tensor().clone(),
        p[0].as_tensor().clone(),
        p[1].as_tensor().clone(),
        1e-5,
        0.1,
    )
    .unwrap();
    let y = candle_core::ModuleT::forward_t(&bn, x, train).unwrap();
    if relu {
        y.relu().unwrap()
    } else {
        y
    }
}

fn fused_bn(x: &Tensor, p: &[Var; 4], train: bool, relu: bool) -> Tensor {
    let opts = BatchNormOptions {
        relu,
        ..BatchNormOptions::default()
    };
    batch_norm(
        x,
        p[0].as_tensor(),
        p[1].as_tensor(),
        &p[2],
        &p[3],
        train,
        opts,
    )
    .unwrap()
}

#[test]
fn options_default_to_pytorch() {
    let o = BatchNormOptions::default();
    assert_eq!((o.eps, o.momentum, o.relu), (1e-5, 0.1, false));
}

#[test]
fn batch_norm_matches_candle_forward_gradients_and_running_stats() {
    let mut rng = ChaCha8Rng::seed_from_u64(16);
    // Batch 1, odd sizes, 1/3/16/64 channels, BatchNorm1d and 2d.
    let shapes: &[&[usize]] = &[
        &[1, 1, 3, 5],
        &[3, 3, 5, 7],
        &[2, 16, 4, 4],
        &[5, 64, 3, 3],
        &[1, 64, 1, 2],
        &[7, 3, 1, 1],
        &[4, 16],
        &[9, 1],
    ];
    for &dims in shapes {
        for (train, relu) in [(true, false), (true, true), (false, false), (false, true)] {
            let case = format!("{dims:?} train {train} relu {relu}");
            let x = random(&mut rng, dims, DType::F32);
            // An offset mean and a non-unit spread, as after a convolution.
            let x = ((x * 2.5).unwrap() + 0.7).unwrap();
            let ours_p = bn_params(&mut rng, dims[1], DType::F32);
            let stock_p = copies(&ours_p);
            let (xo, xs) = (Var::from_tensor(&x).unwrap(), Var::from_tensor(&x).unwrap());
            let ours = fused_bn(xo.as_tensor(), &ours_p, train, relu);
            let stock = stock_bn(xs.as_tensor(), &stock_p, train, relu);
            assert!(rel_err(&ours, &stock) < 1e-4, "forward {case}");
            for i in [2, 3] {
                let (o, s) = (ours_p[i].as_tensor(), stock_p[i].as_tensor());
                assert!(rel_err(o, s) < 1e-5, "running stat {i} {case}");
            }
            let probe = random(&mut rng, dims, DType::F32);
            let loss = |y: &Tensor| (y * &probe).unwrap().sum_all().unwrap();
            let (go, gs) = (
                loss(&ours).backward().unwrap(),
                loss(&stock).backward().unwrap(),
            );
            let pairs = [
                (xo.as_tensor(), xs.as_tensor(), "dx"),
                (ours_p[0].as_tensor(), stock_p[0].as_tensor(), "dw"),
                (ours_p[1].as_tensor(), stock_p[1].as_tensor(), "db"),
            ];
            for (o, s, what) in pairs {
                let (o, s) = (go.get(o).unwrap(), gs.get(s).unwrap());
                assert!(rel_err(o, s) < 1e-4, "{what} {case}: {}", rel_err(o, s));
            }
        }
    }
}

#[test]
fn batch_norm_gradients_match_central_finite_differences_in_f64() {
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    for (dims, train, relu) in [
        (&[3usize, 2, 3, 2][..], true, false),
        (&[2, 3, 2, 2], true, true),
        (&[5, 4], true, false),
        (&[2, 2, 3, 3], false, true),
        (&[1, 3, 2, 2], false, false),
    ] {
        let x = random(&mut rng, dims, DType::F64);
        let params = bn_params(&mut rng, dims[1], DType::F64);
        let probe = random(&mut rng, dims, DType::F64);
        // Inputs `[x, weight, bias]`; fresh running stats each call, since
        // training mode updates them.
        let loss = |inputs: &[Tensor; 3]| -> f64 {
            let mut p = copies(&params);
            p[0] = Var::from_tensor(&inputs[1]).unwrap();
            p[1] = Var::from_tensor(&inputs[2]).unwrap();
            let y = fused_bn(&inputs[0], &p, train, relu);
            (y * &probe)
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar()
                .unwrap()
        };
        let base = [
            x.clone(),
            params[0].as_tensor().copy().unwrap(),
            params[1].as_tensor().copy().unwrap(),
        ];
        let p = copies(&params);
        let xv = Var::from_tensor(&x).unwrap();
        let y = fused_bn(xv.as_tensor(), &p, train, relu);
        let grads = (y * &probe).unwrap().sum_all().unwrap().backward().unwrap();
        let analytic = [
            to_vec(grads.get(xv.as_tensor()).unwrap()),
            to_vec(grads.get(p[0].as_tensor()).unwrap()),
            to_vec(grads.get(p[1].as_tensor()).unwrap()),
        ];
        for (which, analytic) in analytic.iter().enumerate() {
            let values = to_vec(&base[which]);
            for (i, &g) in analytic.iter().enumerate() {
                let eps = 1e-6;
                let bumped = |d: f64| {
                    let mut data = values.clone();
                    data[i] += d;
                    let mut inputs = base.clone();
                    inputs[which] =
                        Tensor::from_vec(data, base[which].dims(), &Device::Cpu).unwrap();
                    loss(&inputs)
                };
                let numeric = (bumped(eps) - bumped(-eps)) / (2.0 * eps);
                assert!(
                    (numeric - g).abs() < 1e-6 * numeric.abs().max(1.0),
                    "{dims:?} train {train} relu {relu} input {which} [{i}]: {numeric} vs {g}"
                );
            }
        }
    }
}

#[test]
fn batch_norm_rejects_bad_input() {
    let dev = Device::Cpu;
    let mut rng = ChaCha8Rng::seed_from_u64(18);
    let p = bn_params(&mut rng, 3, DType::F32);
    let run = |x: &Tensor, train: bool| {
        batch_norm(
            x,
            p[0].as_tensor(),
            p[1].as_tensor(),
            &p[2],
            &p[3],
            train,
            BatchNormOptions::default(),
        )
    };
    // One value per channel: the unbiased variance is undefined.
    let single = Tensor::zeros((1, 3, 1, 1), DType::F32, &dev).unwrap();
    assert!(run(&single, true).is_err());
    assert!(run(&single, false).is_ok());
    assert!(run(
        &Tensor::zeros((2, 4, 3, 3), DType::F32, &dev).unwrap(),
        true
    )
    .is_err());
    assert!(run(&Tensor::zeros(3, DType::F32, &dev).unwrap(), true).is_err());
    let f64_input = Tensor::zeros((2, 3, 2, 2), DType::F64, &dev).unwrap();
    assert!(run(&f64_input, true).is_err());
    let bad = BatchNormOptions {
        momentum: 1.5,
        ..BatchNormOptions::default()
    };
    let x = Tensor::zeros((2, 3, 2, 2), DType::F32, &dev).unwrap();
    let r = batch_norm(
        &x,
        p[0].as_tensor(),
        p[1].as_tensor(),
        &p[2],
        &p[3],
        true,
        bad,
    );
    assert!(r.is_err());
}

/// conv(3→8) → BN+ReLU → conv(8→8, s2) → BN → mean over space → linear →
/// squared error, 20 SGD steps on one batch of 6; then the eval-mode output.
fn train_bn(use_custom: bool) -> (Vec<f32>, Vec<f64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    let w1 =
        Var::from_tensor(&(random(&mut rng, &[8, 3, 3, 3], DType::F32) * 0.4).unwrap()).unwrap();
    let w2 =
        Var::from_tensor(&(random(&mut rng, &[8, 8, 3, 3], DType::F32) * 0.2).unwrap()).unwrap();
    let head = Var::from_tensor(&random(&mut rng, &[8, 2], DType::F32)).unwrap();
    let bn1 = bn_params(&mut rng, 8, DType::F32);
    let bn2 = bn_params(&mut rng, 8, DType::F32);
    let conv = |x: &Tensor, w: &Var, s: usize| {
        if use_custom {
            conv2d(x, w.as_tensor(), s, 1).unwrap()
        } else {
            x.conv2d(w.as_tensor(), 1, s, 1, 1).unwrap()
        }
    };
    let bn = |x: &Tensor, p: &[Var; 4], train: bool, relu: bool| {
        if use_custom {
            fused_bn(x, p, train, relu)
        } else {
            stock_bn(x, p, train, relu)
        }
    };
    let net = |x: &Tensor, train: bool| {
        let h = bn(&conv(x, &w1, 1), &bn1, train, true);
        let f = bn(&conv(&h, &w2, 2), &bn2, train, false);
        f.mean((2, 3)).unwrap().matmul(head.as_tensor()).unwrap()
    };
    let trained = [&w1, &w2, &head, &bn1[0], &bn1[1], &bn2[0], &bn2[1]];
    let x = random(&mut rng, &[6, 3, 8, 8], DType::F32);
    let target = random(&mut rng, &[6, 2], DType::F32);
    let mut losses = Vec::new();
    for _ in 0..20 {
        let out = net(&x, true);
        let loss = (out - &target).unwrap().sqr().unwrap().mean_all().unwrap();
        losses.push(loss.to_scalar::<f32>().unwrap());
        let grads = loss.backward().unwrap();
        for v in trained {
            let g = grads.get(v.as_tensor()).unwrap();
            v.set(&(v.as_tensor() - (g * 0.1).unwrap()).unwrap())
                .unwrap();
        }
    }
    (losses, to_vec(&net(&x, false)))
}

#[test]
fn twenty_training_steps_with_batch_norm_agree_with_stock_candle() {
    let ((ours, ours_eval), (stock, stock_eval)) = (train_bn(true), train_bn(false));
    for (step, (o, s)) in ours.iter().zip(&stock).enumerate() {
        assert!(
            (o - s).abs() <= 1e-4 * s.abs().max(1.0),
            "step {step}: {o} vs {s}"
        );
    }
    assert!(ours[19] < 0.5 * ours[0], "the loss should fall: {ours:?}");
    // Eval mode runs on the running statistics both versions accumulated.
    assert!(
        max_rel(&ours_eval, &stock_eval) < 1e-3,
        "{ours_eval:?} vs {stock_eval:?}"
    );
}
