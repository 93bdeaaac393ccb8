//! GEOM's Dirichlet normality score (Golan & El-Yaniv 2018,
//! `_transformations_experiment` in izikgo/AnomalyDetectionTransformations).
//!
//! For every transformation `t`, a Dirichlet `alpha_t` is fitted by maximum
//! likelihood to the training softmax outputs `P_t` (`N x K`): Minka's
//! initialisation `alpha_0 = mean(P_t) * s` with
//! `s = N (K - 1) (-psi(1)) / (N sum f ln f - sum_k f_k sum_i ln P_ik)`, then the
//! fixed point `alpha <- psi^-1(psi(sum alpha) + mean_i ln P_i)` (inverse
//! digamma by 5 Newton steps) until the step's Euclidean norm is below `1e-9`
//! or 1000 iterations. A row's normality is
//! `(1/M) sum_t sum_i (alpha_ti - 1) ln p_ti`; the anomaly score is its negation.
//!
//! Input rows follow the block layout of [`crate::SoftmaxConfig`]: `M` blocks
//! of `K` classifier outputs. GEOM works with float32 softmax outputs; here the
//! log-probabilities are taken in `f64` (exactly, from logits by default).

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use ssad_core::MatrixView;

use crate::persist::State;
use crate::softmax::{block_width, ClassifierOutput};
use crate::special::{digamma, inv_digamma, DIGAMMA_ONE};
use crate::{check, Error, FittedScorer, Result, Scorer};

/// Dirichlet score config; defaults are GEOM's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DirichletConfig {
    /// Number of transformations `M` (GEOM: 72).
    pub n_transforms: usize,
    /// Whether blocks are logits or probabilities.
    pub output: ClassifierOutput,
    /// Maximum fixed-point iterations.
    pub max_iter: usize,
    /// Stop when `|alpha_new - alpha_old|_2` falls below this.
    pub tol: f64,
    /// Newton steps of the inverse digamma.
    pub newton_steps: usize,
}

impl Default for DirichletConfig {
    fn default() -> Self {
        Self {
            n_transforms: 72,
            output: ClassifierOutput::Logits,
            max_iter: 1000,
            tol: 1e-9,
            newton_steps: 5,
        }
    }
}

impl DirichletConfig {
    fn validate(&self) -> Result<()> {
        check::positive("n_transforms", self.n_transforms)?;
        check::positive_real("tol", self.tol)
    }
}

/// A fitted Dirichlet scorer: one `alpha` per transformation.
#[derive(Debug, Clone)]
pub struct FittedDirichlet {
    config: DirichletConfig,
    /// `M x K`, row-major.
    alphas: Vec<f64>,
    classes: usize,
}

/// Minka's approximation of `sum alpha` from the mean probabilities `f` and
/// the mean log-probabilities.
fn approx_alpha_sum(f: &[f64], mean_log_p: &[f64]) -> f64 {
    let k = f.len() as f64;
    let f_log_f: f64 = f.iter().map(|&v| v * v.ln()).sum();
    let f_mean_log: f64 = f.iter().zip(mean_log_p).map(|(a, b)| a * b).sum();
    (k - 1.0) * (-DIGAMMA_ONE) / (f_log_f - f_mean_log)
}

/// GEOM's `fixed_point_dirichlet_mle`.
fn fixed_point_mle(cfg: &DirichletConfig, init: Vec<f64>, mean_log_p: &[f64]) -> Vec<f64> {
    let mut old = init;
    for _ in 0..cfg.max_iter {
        let psi_sum = digamma(old.iter().sum());
        let new: Vec<f64> = mean_log_p
            .iter()
            .map(|&l| inv_digamma(psi_sum + l, cfg.newton_steps))
            .collect();
        let step = old
            .iter()
            .zip(&new)
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f64>()
            .sqrt();
        old = new;
        if step < cfg.tol {
            break;
        }
    }
    old
}

/// Fits `alpha` for block `t` of every row of `x`.
fn fit_transform(cfg: &DirichletConfig, x: MatrixView<'_>, t: usize, k: usize) -> Result<Vec<f64>> {
    let n = x.rows() as f64;
    let mut mean_p = vec![0.0f64; k];
    let mut mean_log_p = vec![0.0f64; k];
    let mut logp = vec![0.0f64; k];
    for row in x.iter_rows() {
        cfg.output.log_probs(&row[t * k..(t + 1) * k], &mut logp)?;
        for ((mp, ml), &l) in mean_p.iter_mut().zip(mean_log_p.iter_mut()).zip(&logp) {
            *mp += l.exp();
            *ml += l;
        }
    }
    mean_p.iter_mut().for_each(|v| *v /= n);
    mean_log_p.iter_mut().for_each(|v| *v /= n);
    if let Some(c) = mean_log_p.iter().position(|v| !v.is_finite()) {
        return Err(Error::Fit(format!(
            "transformation {t}: class {c} has probability 0 in some training row"
        )));
    }
    let s = approx_alpha_sum(&mean_p, &mean_log_p);
    if !(s.is_finite() && s > 0.0) {
        return Err(Error::Fit(format!(
            "transformation {t}: the training outputs do not vary, so no Dirichlet can be fitted"
        )));
    }
    let init = mean_p.iter().map(|f| f * s).collect();
    let alpha = fixed_point_mle(cfg, init, &mean_log_p);
    if alpha.iter().any(|a| !(a.is_finite() && *a > 0.0)) {
        return Err(Error::Fit(format!(
            "transformation {t}: the Dirichlet fixed point diverged"
        )));
    }
    Ok(alpha)
}

impl Scorer for DirichletConfig {
    type Fitted = FittedDirichlet;

    /// Errors on a bad layout, probabilities of 0 or outside `[0, 1]`, fewer
    /// than 2 rows, and training outputs that are all the same.
    fn fit(&self, train: MatrixView<'_>) -> Result<FittedDirichlet> {
        self.validate()?;
        check::fit_input(train)?;
        let k = block_width(self.n_transforms, train.cols())?;
        if k < 2 || train.rows() < 2 {
            return Err(Error::Fit(format!(
                "a Dirichlet needs at least 2 classes and 2 rows, got {k} and {}",
                train.rows()
            )));
        }
        let alphas = (0..self.n_transforms)
            .into_par_iter()
            .map(|t| fit_transform(self, train, t, k))
            .collect::<Result<Vec<_>>>()?
            .concat();
        Ok(FittedDirichlet {
            config: self.clone(),
            alphas,
            classes: k,
        })
    }
}

impl FittedScorer for FittedDirichlet {
    fn n_features(&self) -> usize {
        self.config.n_transforms * self.classes
    }

    /// `-(1/M) sum_t sum_i (alpha_ti - 1) ln p_ti`; a zero probability is an
    /// error (GEOM would give an infinite score).
    fn score(&self, x: MatrixView<'_>) -> Result<Vec<f64>> {
        check::score_input(x, self.n_features())?;
        let k = self.classes;
        let m = self.config.n_transforms as f64;
        x.as_slice()
            .par_chunks(self.n_features())
            .map_init(
                || vec![0.0f64; k],
                |logp, row| {
                    let mut normality = 0.0;
                    for (block, alpha) in row.chunks_exact(k).zip(self.alphas.chunks_exact(k)) {
                        self.config.output.log_probs(block, logp)?;
                        normality += alpha
                            .iter()
                            .zip(logp.iter())
                            .map(|(a, l)| (a - 1.0) * l)
                            .sum::<f64>();
                    }
                    if !normality.is_finite() {
                        return Err(Error::InvalidInput("a probability is 0".into()));
                    }
                    Ok(-normality / m)
                },
            )
            .collect()
    }

    fn state(&self) -> Result<State> {
        let mut s = State::new(self.config.clone());
        s.put_f64(
            "alphas",
            &[self.config.n_transforms, self.classes],
            self.alphas.clone(),
        )?;
        Ok(s)
    }
}

impl FittedDirichlet {
    /// Rebuilds the scorer from a [`State`] made by [`FittedScorer::state`].
    pub fn from_state(config: DirichletConfig, state: &mut State) -> Result<Self> {
        config.validate()?;
        let (shape, alphas) = state.take_f64("alphas")?;
        match shape[..] {
            [m, k] if m == config.n_transforms && k >= 2 => Ok(Self {
                config,
                alphas,
                classes: k,
            }),
            _ => Err(Error::Corrupt(format!("`alphas` has shape {shape:?}"))),
        }
    }

    /// The fitted concentration parameters, one row of `K` per transformation.
    pub fn alphas(&self) -> &[f64] {
        &self.alphas
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ssad_core::Matrix;

    #[test]
    fn defaults_are_geoms() {
        let c = DirichletConfig::default();
        assert_eq!(c.n_transforms, 72);
        assert_eq!((c.max_iter, c.tol, c.newton_steps), (1000, 1e-9, 5));
        assert_eq!(serde_json::from_str::<DirichletConfig>("{}").unwrap(), c);
    }

    #[test]
    fn identical_rows_cannot_be_fitted() {
        let x = Matrix::new(vec![0.1, 0.9, 0.1, 0.9], 2, 2).unwrap();
        let c = DirichletConfig {
            n_transforms: 1,
            output: ClassifierOutput::Probabilities,
            ..DirichletConfig::default()
        };
        assert!(matches!(c.fit(x.view()), Err(Error::Fit(_))));
        let zero = Matrix::new(vec![0.0, 1.0, 0.5, 0.5], 2, 2).unwrap();
        assert!(matches!(c.fit(zero.view()), Err(Error::Fit(_))));
    }
}
