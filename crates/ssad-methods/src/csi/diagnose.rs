//! A diagnostic run, not a correctness test (it is `#[ignore]`d): CSI and
//! SimCLR trained at the same budget on one-class Fashion-MNIST, with the
//! parts of CSI's score taken apart.
//!
//! ```text
//! CSI_DIAG_CLASSES=2,4 CSI_DIAG_TRAIN=256 CSI_DIAG_TEST=500 CSI_DIAG_EPOCHS=4 CSI_DIAG_BATCH=16 \
//!   CSI_DIAG_LR=0.1 cargo test -p ssad-methods --lib csi::diagnose -- --ignored --nocapture
//! ```
//!
//! The defaults are the `reduced` setting of `benches/csi-fmnist.toml`
//! (small28, constant lr 0.1, 2 test-time views), with the images
//! `cargo xtask repro` picks for seed 0, so the CSI column matches that table.
//! Per class it prints the per-epoch con-SI loss, shift cross-entropy and
//! shift accuracy, the shift weights (ours and `ood_pre.py`'s), and AUROCs
//! (%) of: CSI; CSI with `ood_pre.py`'s weight `1 / mean logit`; the
//! similarity term alone; its max-cosine and norm factors alone; the shift
//! term alone; SimCLR's score (1-NN cosine on the encoder features) on CSI's
//! encoder; and SimCLR trained on the same images for the same epochs.

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor, D};
use rand::seq::SliceRandom;
use ssad_core::{Seed, Stream};
use ssad_data::formats::{read_fashion_mnist, ImageSet};
use ssad_data::registry::{self, Registry};

use super::score::{CsiScore, ShiftFeatures};
use super::{shift_features, CsiConfig, NAME};
use crate::input::{ImageBatch, Input};
use crate::simclr::pretrain::Images;

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The Fashion-MNIST folder through the `fashion-mnist` manifest.
fn fashion_mnist_dir() -> Option<PathBuf> {
    let datasets = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets");
    let registry = Registry::from_dir(&datasets).ok()?;
    let manifest = registry.get("fashion-mnist").ok()?;
    let root = registry::data_dir_from_env().unwrap_or_default();
    let file = manifest
        .files
        .iter()
        .find(|f| f.path.ends_with("t10k-images-idx3-ubyte.gz"))?;
    registry::locate(manifest, file, &root)
        .ok()?
        .parent()
        .map(Path::to_path_buf)
}

/// As `cargo xtask repro`: at most `max` of `0..n` from `(seed, stream)`, sorted.
fn pick(n: usize, max: usize, seed: Seed, stream: u64) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    if max < n {
        idx.shuffle(&mut seed.rng(Stream::Subsample, 7, stream));
        idx.truncate(max);
        idx.sort_unstable();
    }
    idx
}

/// Images `idx` zero-padded 28 -> 32, in [0, 1] (the spec's `pad = 2`, `zero_one`).
fn padded(set: &ImageSet, idx: &[usize]) -> (Vec<f32>, [usize; 4]) {
    let (h, w) = (set.height(), set.width());
    let (ph, pw) = (h + 4, w + 4);
    let mut out = vec![0.0; idx.len() * ph * pw];
    for (dst, &i) in out.chunks_exact_mut(ph * pw).zip(idx) {
        for (r, row) in set.data()[i * h * w..(i + 1) * h * w]
            .chunks_exact(w)
            .enumerate()
        {
            for (d, &p) in dst[(r + 2) * pw + 2..][..w].iter_mut().zip(row) {
                *d = f32::from(p) / 255.0;
            }
        }
    }
    (out, [idx.len(), 1, ph, pw])
}

fn auroc(normality: &[f64], anomalous: &[bool]) -> f64 {
    let scores: Vec<f64> = normality.iter().map(|s| -s).collect();
    100.0 * ssad_eval::auroc(&scores, anomalous).unwrap()
}

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    sum / n.max(1) as f64
}

/// Per image, the mean over shifts of `f(shift, projection)`.
fn per_shift(f: &ShiftFeatures, g: impl Fn(usize, &[f32]) -> f64) -> Vec<f64> {
    let k = f.sim.len();
    (0..f.n)
        .map(|i| mean((0..k).map(|s| g(s, &f.sim[s][i * f.dim..(i + 1) * f.dim]))))
        .collect()
}

fn norm(z: &[f32]) -> f64 {
    z.iter()
        .map(|&v| f64::from(v) * f64::from(v))
        .sum::<f64>()
        .sqrt()
}

/// Max cosine similarity of each row of `x` to the rows of `y`.
fn max_cosine(x: &Tensor, y: &Tensor) -> Vec<f64> {
    let unit = |t: &Tensor| {
        let n = (t.sqr().unwrap().sum_keepdim(1).unwrap().sqrt().unwrap() + 1e-8).unwrap();
        t.broadcast_div(&n).unwrap()
    };
    let best = unit(x)
        .matmul(&unit(y).t().unwrap())
        .unwrap()
        .max(D::Minus1)
        .unwrap();
    best.to_vec1::<f32>()
        .unwrap()
        .into_iter()
        .map(f64::from)
        .collect()
}

fn shift_accuracy(
    config: &CsiConfig,
    encoder: &crate::simclr::pretrain::Encoder,
    images: &Images<'_>,
    seed: Seed,
) -> Vec<f64> {
    let mut hits = vec![0.0; images.n];
    let k = 4;
    for start in (0..images.n).step_by(64) {
        let len = 64.min(images.n - start);
        let idx: Vec<usize> = (start..start + len).collect();
        let x = super::train::shifted_view(
            images,
            &idx,
            &config.test_augment,
            (seed.derive(0), seed.derive(1)),
            0,
        )
        .unwrap();
        let (_, _, logits) = encoder.forward(&x, false).unwrap();
        let predicted = logits.unwrap().argmax(D::Minus1).unwrap();
        for (row, p) in predicted.to_vec1::<u32>().unwrap().into_iter().enumerate() {
            if p as usize == row / len {
                hits[start + row % len] += 1.0 / k as f64;
            }
        }
    }
    hits
}

#[test]
#[ignore = "diagnostic run on Fashion-MNIST (minutes); see the module docs"]
fn csi_score_parts_on_fashion_mnist() {
    let Some(dir) = fashion_mnist_dir() else {
        println!("skipping: Fashion-MNIST not found (set SSAD_DATA_DIR or apt-get install dataset-fashion-mnist)");
        return;
    };
    let (train, test) = read_fashion_mnist(&dir).unwrap();
    let classes: Vec<u8> = std::env::var("CSI_DIAG_CLASSES")
        .unwrap_or_else(|_| "2,4".into())
        .split(',')
        .map(|c| c.trim().parse().unwrap())
        .collect();
    let (n_train, n_test) = (knob("CSI_DIAG_TRAIN", 256), knob("CSI_DIAG_TEST", 500));
    let (epochs, batch) = (knob("CSI_DIAG_EPOCHS", 4), knob("CSI_DIAG_BATCH", 16));
    let views = knob("CSI_DIAG_VIEWS", 2);
    // LARS learning rate (CSI: 0.1, warmed up x10 to 1.0 over 10 epochs).
    let lr: f64 = std::env::var("CSI_DIAG_LR")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.1);
    let seed = Seed(0);
    let budget = serde_json::json!({
        "backbone": {"kind": "small28"}, "batch_size": batch, "epochs": epochs,
        "schedule": {"kind": "constant"}, "optimizer": {"kind": "lars", "lr": lr},
    });
    let mut csi_json = budget.clone();
    csi_json["test_samples"] = views.into();
    let config: CsiConfig = serde_json::from_value(csi_json).unwrap();
    println!(
        "CSI vs SimCLR, {n_train} train / {n_test} test images, {epochs} epochs, batch {batch}, LARS lr {lr}, {views} test-time views"
    );
    for class in classes {
        let split = ssad_data::protocols::one_class_split(&train, &test, class).unwrap();
        let train_idx = pick(split.train.len(), n_train, seed, 0);
        let test_idx = pick(split.test.len(), n_test, seed, 1);
        let (train_px, train_shape) = padded(&split.train, &train_idx);
        let (test_px, test_shape) = padded(&split.test, &test_idx);
        let anomalous: Vec<bool> = test_idx.iter().map(|&i| split.test_labels[i]).collect();
        let train_batch = ImageBatch::new(&train_px, train_shape).unwrap();
        let test_batch = ImageBatch::new(&test_px, test_shape).unwrap();
        let train_im = Images::check(Input::Images(train_batch), NAME, None).unwrap();
        let test_im = Images::check(Input::Images(test_batch), NAME, None).unwrap();

        let t = std::time::Instant::now();
        let (encoder, steps) = config.train_encoder(&train_im, seed, true).unwrap();
        let fit_s = t.elapsed().as_secs_f64();
        let per_epoch = steps.len() / epochs.max(1);
        for (e, chunk) in steps.chunks(per_epoch.max(1)).enumerate() {
            println!(
                "class {class} epoch {e}: con-SI {:.3}, shift CE {:.3} (ln 4 = 1.386), shift accuracy {:.2}",
                mean(chunk.iter().map(|s| s.con_si)),
                mean(chunk.iter().map(|s| s.shift)),
                mean(chunk.iter().map(|s| s.shift_accuracy)),
            );
        }
        let test_seed = seed.derive(4);
        let feats = |im: &Images<'_>| {
            shift_features(
                &encoder,
                im,
                &config.test_augment,
                views,
                test_seed,
                config.proj_dim,
            )
            .unwrap()
        };
        let (train_f, test_f) = (feats(&train_im), feats(&test_im));
        let score = CsiScore::fit(&train_f).unwrap();
        let mean_logit: Vec<f64> = train_f
            .shi
            .iter()
            .map(|v| mean(v.iter().map(|&l| f64::from(l))))
            .collect();
        let csi = score.normality(&test_f).unwrap();
        let mut reference = score.clone();
        reference.w_shi = mean_logit.iter().map(|m| 1.0 / m).collect();
        let reference = reference.normality(&test_f).unwrap();
        let mut sim_only = score.clone();
        sim_only.w_shi = vec![0.0; 4];
        let sim_only = sim_only.normality(&test_f).unwrap();
        let mut shift_only = score.clone();
        shift_only.w_sim = vec![0.0; 4];
        let shift_only = shift_only.normality(&test_f).unwrap();
        let cos_only = per_shift(&test_f, |s, z| {
            let zt = Tensor::from_slice(z, (1, z.len()), &Device::Cpu).unwrap();
            max_cosine(&zt, &score.axis[s])[0]
        });
        let norm_only = per_shift(&test_f, |_, z| norm(z));
        let enc_train = encoder.features(&train_im).unwrap();
        let enc_test = encoder.features(&test_im).unwrap();
        let as_tensor = |m: &ssad_core::Matrix| {
            Tensor::from_slice(m.as_slice(), m.shape(), &Device::Cpu).unwrap()
        };
        let knn = max_cosine(&as_tensor(&enc_test), &as_tensor(&enc_train));
        let acc_train = shift_accuracy(&config, &encoder, &train_im, test_seed);
        let acc_test = shift_accuracy(&config, &encoder, &test_im, test_seed);
        let acc_where = |want: bool| {
            mean(
                (0..test_im.n)
                    .filter(|&i| anomalous[i] == want)
                    .map(|i| acc_test[i]),
            )
        };

        let t = std::time::Instant::now();
        let simclr = crate::registry::method("simclr", Some(budget.clone())).unwrap();
        let detector = simclr.fit(Input::Images(train_batch), seed).unwrap();
        let simclr_scores: Vec<f64> = detector
            .score(Input::Images(test_batch))
            .unwrap()
            .into_iter()
            .map(|s| -s)
            .collect();
        let simclr_s = t.elapsed().as_secs_f64();

        println!(
            "class {class}: mean true-shift logit on train {mean_logit:.3?}; w_shi ours {:.2?}, ood_pre.py {:.2?}",
            score.w_shi,
            mean_logit.iter().map(|m| 1.0 / m).collect::<Vec<_>>()
        );
        println!(
            "class {class}: shift accuracy (1 view) train {:.2}, test normal {:.2}, test anomalous {:.2}",
            mean(acc_train.into_iter()),
            acc_where(false),
            acc_where(true)
        );
        println!("| class | CSI | CSI, ood_pre.py weight | sim term | max-cos | norm | shift term | 1-NN on CSI encoder | SimCLR | CSI fit s | SimCLR fit+score s |");
        println!(
            "| {class} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {fit_s:.0} | {simclr_s:.0} |",
            auroc(&csi, &anomalous),
            auroc(&reference, &anomalous),
            auroc(&sim_only, &anomalous),
            auroc(&cos_only, &anomalous),
            auroc(&norm_only, &anomalous),
            auroc(&shift_only, &anomalous),
            auroc(&knn, &anomalous),
            auroc(&simclr_scores, &anomalous),
        );
        assert!(score.w_shi.iter().all(|w| w.is_finite() && *w > 0.0));
    }
}
