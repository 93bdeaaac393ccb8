//! Seeded k-means (k-means++ initialisation, Lloyd iterations), for SSD's
//! cluster-conditioned Mahalanobis score.
//!
//! SSD clusters with `faiss.Kmeans(d, k, niter=100)`; like faiss, training uses
//! at most `max_points_per_centroid * k` rows (a seeded subsample) and runs at
//! most `n_iter` Lloyd iterations. Unlike faiss, the initial centroids are drawn
//! by k-means++ and iteration stops as soon as no assignment changes (a fixed
//! point of Lloyd's map, where faiss would keep repeating the same step).
//! A cluster left empty is re-seeded with the training row farthest from its
//! centroid, which strictly lowers the inertia (faiss splits a large cluster).

use rand::Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use ssad_core::{Matrix, MatrixView, Seed, Stream};

use crate::{check, Error, Result};

/// k-means configuration; defaults follow SSD's faiss call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KMeansConfig {
    /// Number of clusters `k`.
    pub n_clusters: usize,
    /// Maximum number of Lloyd iterations (faiss `niter`, SSD uses 100).
    pub n_iter: usize,
    /// Train on at most this many rows per cluster, subsampled with the seed
    /// (faiss `max_points_per_centroid`, 256); 0 trains on every row.
    pub max_points_per_centroid: usize,
    /// Seed of the subsample and of the k-means++ draws.
    pub seed: Seed,
}

impl Default for KMeansConfig {
    fn default() -> Self {
        Self {
            n_clusters: 1,
            n_iter: 100,
            max_points_per_centroid: 256,
            seed: Seed(0),
        }
    }
}

/// The result of [`KMeansConfig::fit`].
#[derive(Debug, Clone, PartialEq)]
pub struct KMeans {
    /// Centroids, one row per cluster (`k x d`).
    pub centroids: Matrix,
    /// The cluster of every row given to `fit` (nearest final centroid).
    pub labels: Vec<usize>,
    /// Sum of squared distances of the training rows to their centroids,
    /// after each assignment step: non-increasing.
    pub inertia_history: Vec<f64>,
}

impl KMeansConfig {
    /// Clusters the rows of `x`. Errors on empty or non-finite input and when
    /// there are fewer rows than clusters.
    pub fn fit(&self, x: MatrixView<'_>) -> Result<KMeans> {
        check::positive("n_clusters", self.n_clusters)?;
        check::positive("n_iter", self.n_iter)?;
        check::fit_input(x)?;
        let (n, d, k) = (x.rows(), x.cols(), self.n_clusters);
        if n < k {
            return Err(Error::Fit(format!(
                "{k} clusters need at least {k} rows, got {n}"
            )));
        }
        let train_rows = self.training_rows(n);
        let rows: Vec<&[f32]> = train_rows.iter().map(|&i| x.row(i)).collect();
        let mut centroids = self.plus_plus(&rows, d);
        let mut labels = vec![usize::MAX; rows.len()];
        let mut history = Vec::new();
        for _ in 0..self.n_iter {
            let (new_labels, dists) = assign(&rows, &centroids, d);
            history.push(dists.iter().sum());
            if new_labels == labels {
                break;
            }
            labels = new_labels;
            centroids = update(&rows, &labels, &dists, k, d);
        }
        let all: Vec<&[f32]> = x.iter_rows().collect();
        let (labels, _) = assign(&all, &centroids, d);
        let centroids = Matrix::new(centroids.iter().map(|&c| c as f32).collect(), k, d)?;
        Ok(KMeans {
            centroids,
            labels,
            inertia_history: history,
        })
    }

    /// Indices of the rows to train on: all, or a seeded subsample as faiss.
    fn training_rows(&self, n: usize) -> Vec<usize> {
        let cap = self.max_points_per_centroid.saturating_mul(self.n_clusters);
        if self.max_points_per_centroid == 0 || n <= cap {
            return (0..n).collect();
        }
        let mut rng = self.seed.rng(Stream::Subsample, 0, 0);
        let mut idx: Vec<usize> = (0..n).collect();
        // Partial Fisher-Yates: the first `cap` slots become a uniform sample.
        for i in 0..cap {
            let j = rng.random_range(i..n);
            idx.swap(i, j);
        }
        idx.truncate(cap);
        idx.sort_unstable();
        idx
    }

    /// k-means++: the first centroid uniformly, each next one with probability
    /// proportional to the squared distance to the nearest chosen centroid.
    fn plus_plus(&self, rows: &[&[f32]], d: usize) -> Vec<f64> {
        let mut rng = self.seed.rng(Stream::Init, 0, 0);
        let n = rows.len();
        let mut centroids = Vec::with_capacity(self.n_clusters * d);
        let first = rng.random_range(0..n);
        centroids.extend(rows[first].iter().map(|&v| f64::from(v)));
        let mut nearest: Vec<f64> = rows
            .par_iter()
            .map(|r| sq_dist(r, &centroids[..d]))
            .collect();
        for c in 1..self.n_clusters {
            let total: f64 = nearest.iter().sum();
            let pick = if total > 0.0 {
                let target = rng.random::<f64>() * total;
                let mut acc = 0.0;
                nearest
                    .iter()
                    .position(|&w| {
                        acc += w;
                        acc > target
                    })
                    .unwrap_or(n - 1)
            } else {
                // Every row already coincides with a centroid: any row will do.
                rng.random_range(0..n)
            };
            centroids.extend(rows[pick].iter().map(|&v| f64::from(v)));
            let new = &centroids[c * d..(c + 1) * d];
            nearest
                .par_iter_mut()
                .zip(rows.par_iter())
                .for_each(|(m, r)| *m = m.min(sq_dist(r, new)));
        }
        centroids
    }
}

fn sq_dist(row: &[f32], centroid: &[f64]) -> f64 {
    row.iter()
        .zip(centroid)
        .map(|(&v, c)| (f64::from(v) - c).powi(2))
        .sum()
}

/// Nearest centroid of every row (lowest index on ties) and its squared distance.
fn assign(rows: &[&[f32]], centroids: &[f64], d: usize) -> (Vec<usize>, Vec<f64>) {
    rows.par_iter()
        .map(|r| {
            centroids
                .chunks_exact(d)
                .map(|c| sq_dist(r, c))
                .enumerate()
                .fold((0, f64::INFINITY), |best, (j, dist)| {
                    if dist < best.1 {
                        (j, dist)
                    } else {
                        best
                    }
                })
        })
        .unzip()
}

/// Means of the assigned rows; an empty cluster takes the farthest row.
fn update(rows: &[&[f32]], labels: &[usize], dists: &[f64], k: usize, d: usize) -> Vec<f64> {
    let mut sums = vec![0.0f64; k * d];
    let mut counts = vec![0usize; k];
    for (r, &l) in rows.iter().zip(labels) {
        counts[l] += 1;
        for (s, &v) in sums[l * d..(l + 1) * d].iter_mut().zip(*r) {
            *s += f64::from(v);
        }
    }
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by(|&a, &b| dists[b].total_cmp(&dists[a]));
    let mut far = order.into_iter();
    for c in 0..k {
        let centroid = &mut sums[c * d..(c + 1) * d];
        if counts[c] > 0 {
            let inv = 1.0 / counts[c] as f64;
            centroid.iter_mut().for_each(|s| *s *= inv);
        } else if let Some(i) = far.next() {
            centroid
                .iter_mut()
                .zip(rows[i])
                .for_each(|(s, &v)| *s = f64::from(v));
        }
    }
    sums
}
