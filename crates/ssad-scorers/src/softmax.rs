//! Transformation-prediction scores: the classifier saw `T_m(x)` for every
//! transformation `m` and should have predicted `m`.
//!
//! # Input layout
//!
//! Rows are `(N, M * K)`: for each sample, the classifier outputs on
//! `T_0(x), ..., T_{M-1}(x)` concatenated, each a block of `K` class scores
//! (block `m` is columns `m * K..(m + 1) * K`). The outputs are logits or
//! probabilities ([`ClassifierOutput`]).
//!
//! [`SoftmaxConfig`] is the simplified score of RotNet and GEOM (the
//! commented-out block of GEOM's `_transformations_experiment`):
//! `score = -(1/M) sum_m softmax(x_m)[m]`, higher = more anomalous. It needs
//! `K >= M` (normally `K = M`).

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use ssad_core::MatrixView;

use crate::persist::State;
use crate::{check, Error, FittedScorer, Result, Scorer};

/// What the classifier blocks hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassifierOutput {
    /// Unnormalised logits; softmax is applied here (numerically stable).
    #[default]
    Logits,
    /// Softmax probabilities, each in `[0, 1]` (used as given).
    Probabilities,
}

impl ClassifierOutput {
    /// Log-probabilities of one block into `out`. Errors on probabilities
    /// outside `[0, 1]`; a zero probability gives `-inf`.
    pub(crate) fn log_probs(self, block: &[f32], out: &mut [f64]) -> Result<()> {
        match self {
            ClassifierOutput::Logits => {
                let max = block
                    .iter()
                    .fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
                let sum: f64 = block.iter().map(|&v| (f64::from(v) - max).exp()).sum();
                let lse = max + sum.ln();
                out.iter_mut()
                    .zip(block)
                    .for_each(|(o, &v)| *o = f64::from(v) - lse);
            }
            ClassifierOutput::Probabilities => {
                for (o, &p) in out.iter_mut().zip(block) {
                    if !(0.0..=1.0).contains(&p) {
                        return Err(Error::InvalidInput(format!(
                            "probability {p} outside [0, 1]"
                        )));
                    }
                    *o = f64::from(p).ln();
                }
            }
        }
        Ok(())
    }
}

/// Checks that `width` splits into `n_transforms` blocks and returns `K`.
pub(crate) fn block_width(n_transforms: usize, width: usize) -> Result<usize> {
    check::positive("n_transforms", n_transforms)?;
    if width == 0 || width % n_transforms != 0 {
        return Err(Error::InvalidInput(format!(
            "width {width} is not n_transforms = {n_transforms} blocks of equal size"
        )));
    }
    Ok(width / n_transforms)
}

/// Max-softmax (RotNet / GEOM simplified) score config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SoftmaxConfig {
    /// Number of transformations `M` (RotNet: 4 rotations).
    pub n_transforms: usize,
    /// Whether blocks are logits or probabilities.
    pub output: ClassifierOutput,
}

impl Default for SoftmaxConfig {
    fn default() -> Self {
        Self {
            n_transforms: 4,
            output: ClassifierOutput::Logits,
        }
    }
}

impl SoftmaxConfig {
    fn classes(&self, width: usize) -> Result<usize> {
        let k = block_width(self.n_transforms, width)?;
        if k < self.n_transforms {
            return Err(Error::InvalidInput(format!(
                "{k} classes per block cannot label {} transformations",
                self.n_transforms
            )));
        }
        Ok(k)
    }
}

/// A "fitted" max-softmax scorer: it learns nothing but the input width.
#[derive(Debug, Clone)]
pub struct FittedSoftmax {
    config: SoftmaxConfig,
    n_features: usize,
}

impl Scorer for SoftmaxConfig {
    type Fitted = FittedSoftmax;

    /// Checks the layout of `train`; there is nothing to learn.
    fn fit(&self, train: MatrixView<'_>) -> Result<FittedSoftmax> {
        check::fit_input(train)?;
        self.classes(train.cols())?;
        Ok(FittedSoftmax {
            config: self.clone(),
            n_features: train.cols(),
        })
    }
}

impl FittedScorer for FittedSoftmax {
    fn n_features(&self) -> usize {
        self.n_features
    }

    fn score(&self, x: MatrixView<'_>) -> Result<Vec<f64>> {
        check::score_input(x, self.n_features)?;
        let m = self.config.n_transforms;
        let k = self.config.classes(self.n_features)?;
        x.as_slice()
            .par_chunks(self.n_features)
            .map_init(
                || vec![0.0f64; k],
                |logp, row| {
                    let mut total = 0.0;
                    for (t, block) in row.chunks_exact(k).enumerate() {
                        self.config.output.log_probs(block, logp)?;
                        total += logp[t].exp();
                    }
                    Ok(-total / m as f64)
                },
            )
            .collect()
    }

    fn state(&self) -> Result<State> {
        let mut s = State::new(self.config.clone());
        s.put_scalar("n_features", self.n_features as f64)?;
        Ok(s)
    }
}

impl FittedSoftmax {
    /// Rebuilds the scorer from a [`State`] made by [`FittedScorer::state`].
    pub fn from_state(config: SoftmaxConfig, state: &mut State) -> Result<Self> {
        let n_features = check::saved_count("n_features", state.take_scalar("n_features")?)?;
        config
            .classes(n_features)
            .map_err(|e| Error::Corrupt(e.to_string()))?;
        Ok(Self { config, n_features })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ssad_core::Matrix;

    #[test]
    fn defaults_pin_rotnet() {
        let c = SoftmaxConfig::default();
        assert_eq!((c.n_transforms, c.output), (4, ClassifierOutput::Logits));
        assert_eq!(serde_json::from_str::<SoftmaxConfig>("{}").unwrap(), c);
    }

    #[test]
    fn logits_and_probabilities_agree() {
        // M = K = 2. Row: block 0 logits (2, 0), block 1 logits (0, 1).
        let logits = Matrix::new(vec![2.0, 0.0, 0.0, 1.0], 1, 2 * 2).unwrap();
        let p = |a: f32, b: f32| (a.exp() / (a.exp() + b.exp()), b.exp() / (a.exp() + b.exp()));
        let (p00, p01) = p(2.0, 0.0);
        let (p10, p11) = p(0.0, 1.0);
        let probs = Matrix::new(vec![p00, p01, p10, p11], 1, 4).unwrap();
        let cfg = |output| SoftmaxConfig {
            n_transforms: 2,
            output,
        };
        let a = cfg(ClassifierOutput::Logits).fit(logits.view()).unwrap();
        let b = cfg(ClassifierOutput::Probabilities)
            .fit(probs.view())
            .unwrap();
        let want = -(f64::from(p00) + f64::from(p11)) / 2.0;
        let sa = a.score(logits.view()).unwrap()[0];
        let sb = b.score(probs.view()).unwrap()[0];
        assert!(
            (sa - want).abs() < 1e-7 && (sb - want).abs() < 1e-7,
            "{sa} {sb} {want}"
        );
    }

    #[test]
    fn layout_and_range_errors() {
        let x = Matrix::new(vec![0.5; 6], 1, 6).unwrap();
        let c = SoftmaxConfig {
            n_transforms: 4,
            ..SoftmaxConfig::default()
        };
        assert!(matches!(c.fit(x.view()), Err(Error::InvalidInput(_))));
        let c3 = SoftmaxConfig {
            n_transforms: 3,
            ..SoftmaxConfig::default()
        };
        // K = 2 < M = 3.
        assert!(c3.fit(x.view()).is_err());
        let probs = SoftmaxConfig {
            n_transforms: 2,
            output: ClassifierOutput::Probabilities,
        };
        let f = probs
            .fit(Matrix::new(vec![0.5; 4], 1, 4).unwrap().view())
            .unwrap();
        let bad = Matrix::new(vec![0.5, 1.5, 0.2, 0.8], 1, 4).unwrap();
        assert!(matches!(f.score(bad.view()), Err(Error::InvalidInput(_))));
    }
}
