//! Mahalanobis distance to the training distribution, optionally conditioned
//! on k-means clusters: the SSD score (Sehwag et al., `eval_ssd.py`).
//!
//! The score is the **squared** distance `(x - mu)^T P (x - mu)`, as SSD's
//! `get_scores_one_cluster`/`get_scores_multi_cluster` compute it, where `P` is
//! `numpy.linalg.pinv` of the covariance (cutoff `rcond * max |lambda|`,
//! `rcond = 1e-15`). With `k > 1` clusters the score is the minimum over the
//! clusters. Statistics are taken in `f64` whatever the input precision.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use ssad_core::{Matrix, MatrixView};

use crate::kmeans::KMeansConfig;
use crate::linalg::{self, pinv_symmetric, quadratic_form};
use crate::persist::State;
use crate::{check, Error, FittedScorer, Result, Scorer};

/// How the covariance matrix is estimated from the training rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Covariance {
    /// Maximum-likelihood estimate, `numpy.cov(x.T, bias=True)`.
    #[default]
    Empirical,
    /// `sklearn.covariance.LedoitWolf` shrinkage towards `mu * I`.
    LedoitWolf,
}

/// Feature preprocessing applied to training and test rows alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Preprocess {
    /// Rows are used as given.
    None,
    /// SSD's `get_eval_results`: each row divided by `(|row| + 1e-10)`, then
    /// each feature z-scored with the training mean and standard deviation
    /// (`ddof = 0`) as `(x - m) / (s + 1e-10)`.
    #[default]
    Ssd,
}

/// Mahalanobis / SSD scorer config. Defaults are SSD's: SSD preprocessing,
/// one cluster, empirical covariance, `rcond = 1e-15`.
///
/// ```
/// use ssad_core::Matrix;
/// use ssad_scorers::{FittedScorer, KMeansConfig, MahalanobisConfig, Scorer};
///
/// let train = Matrix::from_rows(&[
///     [1.0f32, 0.1, 0.0], [0.9, 0.0, 0.2], [1.1, 0.2, 0.1], [1.0, -0.1, 0.0],
///     [0.0, 1.0, 0.1], [0.1, 0.9, 0.0], [0.0, 1.1, 0.2], [-0.1, 1.0, 0.1],
/// ])?;
/// let test = Matrix::from_rows(&[[1.0f32, 0.05, 0.1], [0.0, 0.0, 1.0]])?;
///
/// // SSD with two clusters: squared distance to the nearest cluster.
/// let ssd = MahalanobisConfig {
///     clusters: KMeansConfig { n_clusters: 2, ..KMeansConfig::default() },
///     ..MahalanobisConfig::default()
/// };
/// let scores = ssd.fit(train.view())?.score(test.view())?;
/// assert!(scores[1] > scores[0]);
/// # Ok::<(), ssad_scorers::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MahalanobisConfig {
    /// Covariance estimator of every cluster.
    pub covariance: Covariance,
    /// Feature preprocessing.
    pub preprocess: Preprocess,
    /// Clustering of the (preprocessed) training rows; `n_clusters = 1` is a
    /// single Gaussian and skips k-means.
    pub clusters: KMeansConfig,
    /// Relative cutoff of the pseudo-inverse (numpy's `pinv` default).
    pub rcond: f64,
}

impl Default for MahalanobisConfig {
    fn default() -> Self {
        Self {
            covariance: Covariance::Empirical,
            preprocess: Preprocess::Ssd,
            clusters: KMeansConfig::default(),
            rcond: 1e-15,
        }
    }
}

impl MahalanobisConfig {
    /// The plain Mahalanobis distance: no preprocessing, one cluster.
    pub fn plain() -> Self {
        Self {
            preprocess: Preprocess::None,
            ..Self::default()
        }
    }

    fn validate(&self) -> Result<()> {
        check::positive("clusters.n_clusters", self.clusters.n_clusters)?;
        if !(self.rcond.is_finite() && self.rcond >= 0.0) {
            return Err(Error::InvalidConfig {
                field: "rcond",
                reason: format!("must be finite and >= 0, got {}", self.rcond),
            });
        }
        Ok(())
    }
}

/// A Gaussian summary of some rows: mean and (pseudo-)inverse covariance.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Gaussian {
    pub mean: Vec<f64>,
    pub precision: Vec<f64>,
}

impl Gaussian {
    /// Mean and covariance of `x` by `estimator`, in `f64`.
    pub(crate) fn moments(x: MatrixView<'_>, estimator: Covariance) -> (Vec<f64>, Vec<f64>) {
        match estimator {
            Covariance::Empirical => linalg::empirical_covariance(x),
            Covariance::LedoitWolf => {
                let (mean, cov, _) = linalg::ledoit_wolf(x);
                (mean, cov)
            }
        }
    }

    /// `(x - mean)^T P (x - mean)`.
    pub(crate) fn sq_distance(&self, x: &[f64], diff: &mut Vec<f64>) -> f64 {
        diff.clear();
        diff.extend(x.iter().zip(&self.mean).map(|(a, m)| a - m));
        quadratic_form(&self.precision, diff)
    }
}

/// Per-feature statistics of SSD's z-scoring, taken after L2 normalisation.
#[derive(Debug, Clone, PartialEq)]
struct Standardizer {
    mean: Vec<f64>,
    std: Vec<f64>,
}

impl Standardizer {
    fn fit(normalized: MatrixView<'_>) -> Self {
        let mean = linalg::column_means(normalized);
        let mut var = vec![0.0f64; mean.len()];
        for row in normalized.iter_rows() {
            for ((v, &x), m) in var.iter_mut().zip(row).zip(&mean) {
                *v += (f64::from(x) - m).powi(2);
            }
        }
        let n = normalized.rows() as f64;
        let std = var.iter().map(|v| (v / n).sqrt()).collect();
        Self { mean, std }
    }

    /// SSD's full transform of one row into `out`.
    fn apply(&self, row: &[f32], out: &mut Vec<f64>) {
        ssd_l2(row, out);
        for ((o, m), s) in out.iter_mut().zip(&self.mean).zip(&self.std) {
            *o = (*o - m) / (s + 1e-10);
        }
    }
}

/// SSD's row normalisation `x / (|x| + 1e-10)`.
fn ssd_l2(row: &[f32], out: &mut Vec<f64>) {
    let norm = row
        .iter()
        .map(|&v| f64::from(v).powi(2))
        .sum::<f64>()
        .sqrt();
    out.clear();
    out.extend(row.iter().map(|&v| f64::from(v) / (norm + 1e-10)));
}

/// Applies `f` to every row of `x` in parallel, collecting an `f32` matrix.
fn map_rows(x: MatrixView<'_>, f: impl Fn(&[f32], &mut Vec<f64>) + Sync) -> Result<Matrix> {
    let d = x.cols();
    let mut out = vec![0.0f32; x.rows() * d];
    out.par_chunks_mut(d.max(1))
        .zip(x.as_slice().par_chunks(d.max(1)))
        .for_each_init(Vec::new, |buf, (o, row)| {
            f(row, buf);
            o.iter_mut()
                .zip(buf.iter())
                .for_each(|(o, &v)| *o = v as f32);
        });
    Ok(Matrix::new(out, x.rows(), d)?)
}

/// A fitted Mahalanobis / SSD scorer.
#[derive(Debug, Clone)]
pub struct FittedMahalanobis {
    config: MahalanobisConfig,
    n_features: usize,
    standardizer: Option<Standardizer>,
    clusters: Vec<Gaussian>,
}

impl Scorer for MahalanobisConfig {
    type Fitted = FittedMahalanobis;

    /// Errors on empty or non-finite input, on fewer than 2 training rows, and
    /// when a cluster gets exactly 1 row (its covariance would be zero and its
    /// pseudo-inverse would score every row 0, which SSD silently does).
    fn fit(&self, train: MatrixView<'_>) -> Result<FittedMahalanobis> {
        self.validate()?;
        check::fit_input(train)?;
        if train.rows() < 2 {
            return Err(Error::Fit(
                "a covariance needs at least 2 training rows".into(),
            ));
        }
        let (standardizer, prepared) = match self.preprocess {
            Preprocess::None => (None, None),
            Preprocess::Ssd => {
                let normalized = map_rows(train, ssd_l2)?;
                let st = Standardizer::fit(normalized.view());
                let z = map_rows(train, |r, o| st.apply(r, o))?;
                (Some(st), Some(z))
            }
        };
        let x = prepared.as_ref().map_or(train, Matrix::view);
        let groups: Vec<Matrix> = if self.clusters.n_clusters == 1 {
            vec![]
        } else {
            let km = self.clusters.fit(x)?;
            // Like SSD's `np.unique(ypred)`, a cluster that no row is nearest to
            // (possible when k-means trained on a subsample) is left out.
            (0..self.clusters.n_clusters)
                .map(|c| {
                    (0..x.rows())
                        .filter(|&i| km.labels[i] == c)
                        .collect::<Vec<_>>()
                })
                .filter(|idx| !idx.is_empty())
                .map(|idx| x.select_rows(&idx).map_err(Error::from))
                .collect::<Result<_>>()?
        };
        let views: Vec<MatrixView<'_>> = if groups.is_empty() {
            vec![x]
        } else {
            groups.iter().map(Matrix::view).collect()
        };
        let clusters = views
            .into_iter()
            .enumerate()
            .map(|(c, v)| {
                if v.rows() < 2 {
                    return Err(Error::Fit(format!(
                        "cluster {c} has {} rows; each needs at least 2",
                        v.rows()
                    )));
                }
                let (mean, cov) = Gaussian::moments(v, self.covariance);
                let precision = pinv_symmetric(&cov, v.cols(), self.rcond)?;
                Ok(Gaussian { mean, precision })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(FittedMahalanobis {
            config: self.clone(),
            n_features: train.cols(),
            standardizer,
            clusters,
        })
    }
}

impl FittedScorer for FittedMahalanobis {
    fn n_features(&self) -> usize {
        self.n_features
    }

    /// Squared Mahalanobis distance to the nearest cluster.
    fn score(&self, x: MatrixView<'_>) -> Result<Vec<f64>> {
        check::score_input(x, self.n_features)?;
        let d = self.n_features;
        Ok(x.as_slice()
            .par_chunks(d.max(1))
            .map_init(
                || (Vec::with_capacity(d), Vec::with_capacity(d)),
                |(prepared, diff), row| {
                    match &self.standardizer {
                        Some(st) => st.apply(row, prepared),
                        None => {
                            prepared.clear();
                            prepared.extend(row.iter().map(|&v| f64::from(v)));
                        }
                    }
                    self.clusters
                        .iter()
                        .map(|g| g.sq_distance(prepared, diff))
                        .fold(f64::INFINITY, f64::min)
                },
            )
            .collect())
    }

    fn state(&self) -> Result<State> {
        let (k, d) = (self.clusters.len(), self.n_features);
        let mut s = State::new(self.config.clone());
        let means = self
            .clusters
            .iter()
            .flat_map(|g| g.mean.iter().copied())
            .collect();
        let precisions = self
            .clusters
            .iter()
            .flat_map(|g| g.precision.iter().copied())
            .collect();
        s.put_f64("means", &[k, d], means)?
            .put_f64("precisions", &[k, d, d], precisions)?;
        if let Some(st) = &self.standardizer {
            s.put_f64("standardize_mean", &[d], st.mean.clone())?
                .put_f64("standardize_std", &[d], st.std.clone())?;
        }
        Ok(s)
    }
}

impl FittedMahalanobis {
    /// Rebuilds a fitted scorer from a [`State`] made by [`FittedScorer::state`].
    pub fn from_state(config: MahalanobisConfig, state: &mut State) -> Result<Self> {
        config.validate()?;
        let (mshape, means) = state.take_f64("means")?;
        let (pshape, precisions) = state.take_f64("precisions")?;
        let [k, d] = mshape[..] else {
            return Err(Error::Corrupt(format!("`means` has shape {mshape:?}")));
        };
        if pshape != [k, d, d] || k == 0 || k > config.clusters.n_clusters {
            return Err(Error::Corrupt(format!(
                "`precisions` has shape {pshape:?}, `means` {mshape:?}"
            )));
        }
        let standardizer = match config.preprocess {
            Preprocess::None => None,
            Preprocess::Ssd => {
                let (a, mean) = state.take_f64("standardize_mean")?;
                let (b, std) = state.take_f64("standardize_std")?;
                if a != [d] || b != [d] {
                    return Err(Error::Corrupt("standardizer has the wrong width".into()));
                }
                Some(Standardizer { mean, std })
            }
        };
        let clusters = means
            .chunks_exact(d.max(1))
            .zip(precisions.chunks_exact((d * d).max(1)))
            .map(|(m, p)| Gaussian {
                mean: m.to_vec(),
                precision: p.to_vec(),
            })
            .collect();
        Ok(Self {
            config,
            n_features: d,
            standardizer,
            clusters,
        })
    }

    /// The number of Gaussian components: `n_clusters`, less any cluster
    /// that ended up with no training row.
    pub fn n_clusters(&self) -> usize {
        self.clusters.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_ssds() {
        let c = MahalanobisConfig::default();
        assert_eq!(c.covariance, Covariance::Empirical);
        assert_eq!(c.preprocess, Preprocess::Ssd);
        assert_eq!(c.clusters.n_clusters, 1);
        assert_eq!(c.clusters.n_iter, 100);
        assert_eq!(c.rcond, 1e-15);
        assert_eq!(serde_json::from_str::<MahalanobisConfig>("{}").unwrap(), c);
        assert!(serde_json::from_str::<MahalanobisConfig>(r#"{"k": 2}"#).is_err());
    }

    #[test]
    fn one_dimensional_distance_is_z_squared() {
        let x = Matrix::new(vec![1.0, 3.0], 2, 1).unwrap();
        let f = MahalanobisConfig::plain().fit(x.view()).unwrap();
        let t = Matrix::new(vec![2.0, 4.0], 2, 1).unwrap();
        // mean 2, variance 1.
        assert_eq!(f.score(t.view()).unwrap(), vec![0.0, 4.0]);
    }

    #[test]
    fn a_single_row_cluster_is_an_error() {
        let rows: Vec<[f32; 2]> = vec![[0.0, 0.1], [0.2, 0.0], [0.1, 0.3], [0.3, 0.2], [1e3, 1e3]];
        let x = Matrix::from_rows(&rows).unwrap();
        let cfg = MahalanobisConfig {
            clusters: KMeansConfig {
                n_clusters: 2,
                ..KMeansConfig::default()
            },
            ..MahalanobisConfig::plain()
        };
        assert!(matches!(cfg.fit(x.view()), Err(Error::Fit(_))));
    }

    #[test]
    fn rejects_bad_input() {
        let one = Matrix::new(vec![1.0, 2.0], 1, 2).unwrap();
        assert!(matches!(
            MahalanobisConfig::plain().fit(one.view()),
            Err(Error::Fit(_))
        ));
        let nan = Matrix::new(vec![1.0, f32::NAN, 0.0, 0.0], 2, 2).unwrap();
        assert!(matches!(
            MahalanobisConfig::plain().fit(nan.view()),
            Err(Error::Shape(_))
        ));
        let bad = MahalanobisConfig {
            rcond: -1.0,
            ..MahalanobisConfig::default()
        };
        let ok = Matrix::new(vec![1.0, 2.0, 0.0, 5.0], 2, 2).unwrap();
        assert!(matches!(
            bad.fit(ok.view()),
            Err(Error::InvalidConfig { .. })
        ));
        let f = MahalanobisConfig::plain().fit(ok.view()).unwrap();
        assert!(f.score(Matrix::zeros(1, 3).view()).is_err());
    }
}
