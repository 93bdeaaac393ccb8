//! CSI's score (`evals/ood_pre.py`, `--ood_score CSI`) on per-shift features.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, D};

use crate::error::{Error, Result};

/// Rows of test features compared with the training features at once: bounds
/// the `(rows, M)` similarity block.
const SIM_CHUNK: usize = 1024;
/// CSI's `normalize(x) = x / (|x| + 1e-8)`.
const NORM_EPS: f32 = 1e-8;

/// For `n` images and each shift `k`: the projection `z_k` (`n × dim`) and the
/// shift head's logit of the true shift, `logit_k[k]` (`n`), each averaged
/// over the test-time views.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ShiftFeatures {
    pub n: usize,
    pub dim: usize,
    /// `K` blocks of `n * dim` values, row-major.
    pub sim: Vec<Vec<f32>>,
    /// `K` blocks of `n` values.
    pub shi: Vec<Vec<f32>>,
    views: usize,
}

impl ShiftFeatures {
    /// Zeros for `n` images, `shifts` shifts, `dim`-d projections.
    pub fn new(n: usize, shifts: usize, dim: usize) -> Self {
        Self {
            n,
            dim,
            sim: vec![vec![0.0; n * dim]; shifts],
            shi: vec![vec![0.0; n]; shifts],
            views: 0,
        }
    }

    /// Adds one view of images `start..start + len`: `z` is `(K * len, dim)`
    /// and `logits` `(K * len, K)`, both shift-major.
    pub fn add(&mut self, start: usize, len: usize, z: &[f32], logits: &[f32]) {
        let (k_count, dim) = (self.sim.len(), self.dim);
        for k in 0..k_count {
            let rows = &z[k * len * dim..(k + 1) * len * dim];
            let dst = &mut self.sim[k][start * dim..(start + len) * dim];
            for (d, s) in dst.iter_mut().zip(rows) {
                *d += s;
            }
            for i in 0..len {
                self.shi[k][start + i] += logits[(k * len + i) * k_count + k];
            }
        }
    }

    /// Marks the end of one pass of views over all images.
    pub fn end_view(&mut self) {
        self.views += 1;
    }

    /// Divides the sums by the number of views.
    pub fn into_means(mut self) -> Self {
        let t = self.views.max(1) as f32;
        for v in self.sim.iter_mut().chain(self.shi.iter_mut()) {
            for x in v.iter_mut() {
                *x /= t;
            }
        }
        self
    }
}

/// The fitted CSI score: per shift, the unit-normalised training projections
/// (`P.axis`) and the weights `w_sim = 1 / mean |z_k|`, `w_shi = 1 / mean
/// |logit_k[k]|` over the training set.
///
/// `ood_pre.py` takes `w_shi = 1 / mean logit_k[k]`, which equals ours while
/// the training images' true-shift logits are positive (a trained shift head)
/// but breaks down otherwise: softmax fixes the logits only up to a constant,
/// so with a weak head their training mean can be near 0 or negative, and the
/// weight then explodes (on Fashion-MNIST pullover after 64 steps: -41, 166,
/// -21, 113) and flips sign per shift, so a more confident shift prediction
/// scores as *less* normal. With the mean absolute value the weight is
/// positive and each weighted term averages 1 in magnitude on the training
/// set, as the paper's balancing intends.
#[derive(Debug, Clone)]
pub(crate) struct CsiScore {
    pub(super) axis: Vec<Tensor>,
    pub(super) w_sim: Vec<f64>,
    pub(super) w_shi: Vec<f64>,
}

fn invalid(reason: String) -> Error {
    Error::InvalidConfig {
        field: "train",
        reason,
    }
}

impl CsiScore {
    /// Statistics of the training features.
    pub fn fit(train: &ShiftFeatures) -> Result<Self> {
        let (n, dim) = (train.n, train.dim);
        let mut axis = Vec::with_capacity(train.sim.len());
        let (mut w_sim, mut w_shi) = (Vec::new(), Vec::new());
        for (k, (sim, shi)) in train.sim.iter().zip(&train.shi).enumerate() {
            let mut unit = sim.clone();
            let mut norm_sum = 0.0f64;
            for row in unit.chunks_exact_mut(dim) {
                let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
                norm_sum += f64::from(norm);
                row.iter_mut().for_each(|v| *v /= norm + NORM_EPS);
            }
            let shi_mean = shi.iter().map(|&v| f64::from(v).abs()).sum::<f64>() / n as f64;
            let ws = n as f64 / norm_sum;
            let wh = 1.0 / shi_mean;
            if !(ws.is_finite() && wh.is_finite()) {
                return Err(invalid(format!(
                    "shift {k}: the training mean norm ({}) or mean absolute shift logit ({shi_mean}) gives no finite weight",
                    norm_sum / n as f64
                )));
            }
            axis.push(Tensor::from_vec(unit, (n, dim), &Device::Cpu)?);
            w_sim.push(ws);
            w_shi.push(wh);
        }
        Ok(Self { axis, w_sim, w_shi })
    }

    /// CSI's score, higher = more normal: the mean over shifts of
    /// `max_m <z_k(x), axis_k[m]> * w_sim[k] + logit_k(x)[k] * w_shi[k]`.
    pub fn normality(&self, x: &ShiftFeatures) -> Result<Vec<f64>> {
        let mut total = vec![0.0f64; x.n];
        for (k, axis) in self.axis.iter().enumerate() {
            let axis_t = axis.t()?;
            for start in (0..x.n).step_by(SIM_CHUNK) {
                let len = SIM_CHUNK.min(x.n - start);
                let z = Tensor::from_slice(
                    &x.sim[k][start * x.dim..(start + len) * x.dim],
                    (len, x.dim),
                    &Device::Cpu,
                )?;
                let best = z.matmul(&axis_t)?.max(D::Minus1)?.to_vec1::<f32>()?;
                for (i, b) in best.into_iter().enumerate() {
                    total[start + i] += f64::from(b) * self.w_sim[k]
                        + f64::from(x.shi[k][start + i]) * self.w_shi[k];
                }
            }
        }
        let k = self.axis.len() as f64;
        Ok(total.into_iter().map(|s| s / k).collect())
    }

    /// The state as named tensors, for a safetensors file.
    pub fn to_tensors(&self) -> Result<HashMap<String, Tensor>> {
        let mut out = HashMap::new();
        for (k, a) in self.axis.iter().enumerate() {
            out.insert(format!("axis.{k}"), a.clone());
        }
        out.insert(
            "w_sim".into(),
            Tensor::new(self.w_sim.as_slice(), &Device::Cpu)?,
        );
        out.insert(
            "w_shi".into(),
            Tensor::new(self.w_shi.as_slice(), &Device::Cpu)?,
        );
        Ok(out)
    }

    /// Reads [`CsiScore::to_tensors`] back; `None` on any inconsistency.
    pub fn from_tensors(mut t: HashMap<String, Tensor>, shifts: usize, dim: usize) -> Option<Self> {
        let w_sim = t
            .remove("w_sim")?
            .to_dtype(DType::F64)
            .ok()?
            .to_vec1::<f64>()
            .ok()?;
        let w_shi = t
            .remove("w_shi")?
            .to_dtype(DType::F64)
            .ok()?
            .to_vec1::<f64>()
            .ok()?;
        let axis = (0..shifts)
            .map(|k| t.remove(&format!("axis.{k}")))
            .collect::<Option<Vec<_>>>()?;
        let ok = t.is_empty()
            && w_sim.len() == shifts
            && w_shi.len() == shifts
            && axis.iter().all(|a| {
                a.dtype() == DType::F32 && a.dims2().is_ok_and(|(m, d)| m > 0 && d == dim)
            });
        ok.then_some(Self { axis, w_sim, w_shi })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn floats(v: &serde_json::Value, key: &str) -> Vec<f32> {
        v[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect()
    }

    /// Sums `views` passes of shift-major `(K * n, dim)` projections and
    /// `(K * n, K)` logits into per-shift means.
    fn means(
        z: &[f32],
        logits: &[f32],
        views: usize,
        n: usize,
        k: usize,
        dim: usize,
    ) -> ShiftFeatures {
        let mut f = ShiftFeatures::new(n, k, dim);
        for (zt, lt) in z
            .chunks_exact(k * n * dim)
            .zip(logits.chunks_exact(k * n * k))
            .take(views)
        {
            f.add(0, n, zt, lt);
            f.end_view();
        }
        f.into_means()
    }

    /// `tests/fixtures/make_csi_score.py` computes the score with numpy as
    /// `ood_pre.py`, with the sign-safe shift weight: a confident shift head,
    /// and a weak one whose training true-shift logits average below 0.
    #[test]
    fn matches_the_numpy_reference() {
        let v: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/fixtures/csi_score.json")).unwrap();
        let get = |k: &str| v[k].as_u64().unwrap() as usize;
        let (t, k, d, m, n) = (
            get("views"),
            get("shifts"),
            get("dim"),
            get("train_n"),
            get("test_n"),
        );
        let cases = v["cases"].as_array().unwrap();
        assert_eq!(cases.len(), 2);
        for (case, c) in cases.iter().enumerate() {
            let train = means(
                &floats(c, "train_z"),
                &floats(c, "train_logits"),
                t,
                m,
                k,
                d,
            );
            let test = means(&floats(c, "test_z"), &floats(c, "test_logits"), t, n, k, d);
            let score = CsiScore::fit(&train).unwrap();
            let close = |a: f64, b: f64| (a - b).abs() <= 1e-5 * b.abs().max(1.0);
            for (got, want) in score.w_sim.iter().zip(floats(c, "w_sim")) {
                assert!(
                    close(*got, want.into()),
                    "case {case}: w_sim {got} vs {want}"
                );
            }
            for (got, want) in score.w_shi.iter().zip(floats(c, "w_shi")) {
                assert!(
                    close(*got, want.into()),
                    "case {case}: w_shi {got} vs {want}"
                );
                assert!(*got > 0.0);
            }
            if case == 1 {
                // ood_pre.py's 1 / mean logit would be negative here.
                assert!(floats(c, "train_mean_true_logit").iter().all(|&l| l < 0.0));
            }
            let got = score.normality(&test).unwrap();
            let want = floats(c, "normality");
            assert_eq!(got.len(), n);
            for (g, w) in got.iter().zip(&want) {
                assert!(close(*g, f64::from(*w)), "case {case}: {got:?} vs {want:?}");
            }
            // Saved and read back, the same scores.
            let again = CsiScore::from_tensors(score.to_tensors().unwrap(), k, d).unwrap();
            assert_eq!(again.normality(&test).unwrap(), got);
            assert!(CsiScore::from_tensors(score.to_tensors().unwrap(), k, d + 1).is_none());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        /// A more confident shift prediction never makes an image less normal,
        /// whatever the level of the training logits (softmax leaves it free;
        /// `ood_pre.py`'s `1 / mean logit` turns negative below 0 and inverts
        /// the shift term), and the weighted shift term averages 1 in
        /// magnitude over the training set.
        #[test]
        fn higher_true_shift_logit_is_more_normal(
            values in proptest::collection::vec(-2.0f32..2.0, 4 * 6 * 3),
            logits in proptest::collection::vec(-1.0f32..1.0, 4 * 6 * 4),
            offset in -3.0f32..3.0,
            image in 0usize..6,
            shift in 0usize..4,
            delta in 0.05f32..2.0,
        ) {
            let (k, n, d) = (4, 6, 3);
            let logits: Vec<f32> = logits.iter().map(|l| l + offset).collect();
            let train = means(&values, &logits, 1, n, k, d);
            let score = CsiScore::fit(&train).unwrap();
            for (s_k, w) in score.w_shi.iter().enumerate() {
                prop_assert!(*w > 0.0, "w_shi {w}");
                let mean: f64 = train.shi[s_k].iter().map(|&l| f64::from(l).abs() * w).sum::<f64>() / n as f64;
                prop_assert!((mean - 1.0).abs() < 1e-4, "weighted |logit| mean {mean}");
            }
            let before = score.normality(&train).unwrap();
            let mut raised = logits.clone();
            raised[(shift * n + image) * k + shift] += delta;
            let after = score.normality(&means(&values, &raised, 1, n, k, d)).unwrap();
            prop_assert!(after[image] > before[image], "{} -> {}", before[image], after[image]);
            for i in (0..n).filter(|&i| i != image) {
                prop_assert_eq!(after[i], before[i]);
            }
        }

        /// A training image scored against the training set has similarity
        /// `|z|` (its own axis), and scaling every projection leaves the score
        /// unchanged (the weights divide the scale out).
        #[test]
        fn own_features_and_scale_invariance(
            values in proptest::collection::vec(0.1f32..2.0, 4 * 5 * 3),
            logits in proptest::collection::vec(0.5f32..3.0, 4 * 5 * 4),
            scale in 0.5f32..4.0,
        ) {
            let (k, n, d) = (4, 5, 3);
            let train = means(&values, &logits, 1, n, k, d);
            let score = CsiScore::fit(&train).unwrap();
            let s = score.normality(&train).unwrap();
            for (i, &got) in s.iter().enumerate() {
                let mut want = 0.0f64;
                for s_k in 0..k {
                    let row = &train.sim[s_k][i * d..(i + 1) * d];
                    let norm = row.iter().map(|x| f64::from(x * x)).sum::<f64>().sqrt();
                    want += norm * score.w_sim[s_k] + f64::from(train.shi[s_k][i]) * score.w_shi[s_k];
                }
                want /= k as f64;
                // max over training rows is at least the own row
                prop_assert!(got >= want - 1e-4 * want.abs().max(1.0), "{} < {}", got, want);
            }
            let scaled: Vec<f32> = values.iter().map(|v| v * scale).collect();
            let train2 = means(&scaled, &logits, 1, n, k, d);
            let s2 = CsiScore::fit(&train2).unwrap().normality(&train2).unwrap();
            for (a, b) in s.iter().zip(&s2) {
                prop_assert!((a - b).abs() <= 1e-4 * a.abs().max(1.0), "{a} vs {b}");
            }
        }
    }
}
