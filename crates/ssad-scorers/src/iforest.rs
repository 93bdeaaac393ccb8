//! Isolation forest (PyOD `IForest`, i.e. scikit-learn's `IsolationForest`).
//!
//! Each tree isolates a subsample of `min(256, n)` rows with random
//! axis-aligned splits (a random non-constant feature, a threshold uniform in
//! its range at the node) up to depth `ceil(log2(max_samples))`. A row's path
//! length is the depth of its leaf plus `c(leaf size)`, the average path length
//! of an unbuilt subtree; the score is `2^(−mean path / c(max_samples))`, i.e.
//! scikit-learn's `−score_samples` (PyOD adds a constant offset, which no
//! ranking metric sees). Randomness comes from [`ssad_core::Seed`], one stream
//! per tree, so the forest is the same whatever the thread count.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use ssad_core::{MatrixView, Seed, Stream};

use crate::persist::State;
use crate::{check, Error, FittedScorer, Result, Scorer};

/// Features whose range at a node is at most this are treated as constant (scikit-learn's `FEATURE_THRESHOLD`).
const FEATURE_THRESHOLD: f64 = 1e-7;
/// Marks a leaf in the `feature` array.
const LEAF: u32 = u32::MAX;

/// Isolation-forest config; defaults are PyOD's (`n_estimators=100`,
/// `max_samples="auto"` = `min(256, n)`), with seed 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IForestConfig {
    /// Number of trees.
    pub n_estimators: usize,
    /// Rows per tree; `None` = `min(256, n)`. Larger values are clipped to `n`.
    pub max_samples: Option<usize>,
    /// Seed of the subsamples and splits.
    pub seed: u64,
}

impl Default for IForestConfig {
    fn default() -> Self {
        Self {
            n_estimators: 100,
            max_samples: None,
            seed: 0,
        }
    }
}

/// A fitted isolation forest: all trees in flat arrays.
#[derive(Debug, Clone)]
pub struct FittedIForest {
    config: IForestConfig,
    n_features: usize,
    max_samples: usize,
    /// First node of each tree.
    roots: Vec<u32>,
    /// Split feature per node, [`LEAF`] for leaves.
    feature: Vec<u32>,
    /// Split threshold per node (go left when `x <= threshold`); for a leaf,
    /// its path length `depth + c(size)`.
    value: Vec<f64>,
    /// Left child per node; the right child is `right[node]`.
    left: Vec<u32>,
    right: Vec<u32>,
}

/// Average path length of an unsuccessful BST search among `n` points
/// (scikit-learn's `_average_path_length`).
pub(crate) fn average_path_length(n: usize) -> f64 {
    const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;
    match n {
        0 | 1 => 0.0,
        2 => 1.0,
        _ => {
            let n = n as f64;
            2.0 * ((n - 1.0).ln() + EULER_GAMMA) - 2.0 * (n - 1.0) / n
        }
    }
}

#[derive(Default)]
struct Tree {
    feature: Vec<u32>,
    value: Vec<f64>,
    left: Vec<u32>,
    right: Vec<u32>,
}

struct Builder<'a> {
    x: MatrixView<'a>,
    max_depth: usize,
    rng: ChaCha8Rng,
    tree: Tree,
    features: Vec<usize>,
}

impl Builder<'_> {
    fn push_leaf(&mut self, depth: usize, size: usize) -> u32 {
        self.push(LEAF, depth as f64 + average_path_length(size))
    }

    fn push(&mut self, feature: u32, value: f64) -> u32 {
        let id = self.tree.feature.len() as u32;
        self.tree.feature.push(feature);
        self.tree.value.push(value);
        self.tree.left.push(0);
        self.tree.right.push(0);
        id
    }

    /// Draws features without replacement until one is not constant on `rows`
    /// (scikit-learn's random splitter with `max_features=1`).
    fn pick_split(&mut self, rows: &[u32]) -> Option<(usize, f64)> {
        let mut remaining = self.features.len();
        while remaining > 0 {
            let pick = self.rng.random_range(0..remaining);
            let f = self.features[pick];
            self.features.swap(pick, remaining - 1);
            remaining -= 1;
            let (lo, hi) = rows
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &r| {
                    let v = f64::from(self.x.row(r as usize)[f]);
                    (a.min(v), b.max(v))
                });
            if hi <= lo + FEATURE_THRESHOLD {
                continue;
            }
            let mut t = self.rng.random_range(lo..hi);
            if t >= hi {
                t = lo;
            }
            return Some((f, t));
        }
        None
    }

    fn build(&mut self, rows: &mut [u32], depth: usize) -> u32 {
        if depth >= self.max_depth || rows.len() < 2 {
            return self.push_leaf(depth, rows.len());
        }
        let Some((f, t)) = self.pick_split(rows) else {
            return self.push_leaf(depth, rows.len());
        };
        let id = self.push(f as u32, t);
        let x = self.x;
        let mut split = 0;
        for i in 0..rows.len() {
            if f64::from(x.row(rows[i] as usize)[f]) <= t {
                rows.swap(i, split);
                split += 1;
            }
        }
        let (l, r) = rows.split_at_mut(split);
        let left = self.build(l, depth + 1);
        let right = self.build(r, depth + 1);
        self.tree.left[id as usize] = left;
        self.tree.right[id as usize] = right;
        id
    }
}

impl Scorer for IForestConfig {
    type Fitted = FittedIForest;

    fn fit(&self, train: MatrixView<'_>) -> Result<FittedIForest> {
        check::positive("n_estimators", self.n_estimators)?;
        if let Some(m) = self.max_samples {
            check::positive("max_samples", m)?;
        }
        check::fit_input(train)?;
        let n = train.rows();
        let max_samples = self.max_samples.unwrap_or(256).min(n);
        let max_depth = (max_samples.max(2) as f64).log2().ceil() as usize;
        let seed = Seed(self.seed);
        let trees: Vec<Tree> = (0..self.n_estimators)
            .into_par_iter()
            .map(|t| {
                let mut rng = seed.rng(Stream::Subsample, 0, t as u64);
                // Partial Fisher-Yates: the first max_samples entries are a uniform subsample.
                let mut pool: Vec<u32> = (0..n as u32).collect();
                for i in 0..max_samples {
                    let j = rng.random_range(i..n);
                    pool.swap(i, j);
                }
                pool.truncate(max_samples);
                let mut b = Builder {
                    x: train,
                    max_depth,
                    rng,
                    tree: Tree::default(),
                    features: (0..train.cols()).collect(),
                };
                b.build(&mut pool, 0);
                b.tree
            })
            .collect();
        let mut fitted = FittedIForest {
            config: self.clone(),
            n_features: train.cols(),
            max_samples,
            roots: Vec::with_capacity(trees.len()),
            feature: Vec::new(),
            value: Vec::new(),
            left: Vec::new(),
            right: Vec::new(),
        };
        for tree in trees {
            let offset = fitted.feature.len() as u32;
            fitted.roots.push(offset);
            fitted.feature.extend(&tree.feature);
            fitted.value.extend(&tree.value);
            fitted.left.extend(tree.left.iter().map(|c| c + offset));
            fitted.right.extend(tree.right.iter().map(|c| c + offset));
        }
        Ok(fitted)
    }
}

impl FittedIForest {
    fn path_length(&self, row: &[f32]) -> f64 {
        self.roots
            .iter()
            .map(|&root| {
                let mut node = root as usize;
                while self.feature[node] != LEAF {
                    let f = self.feature[node] as usize;
                    node = if f64::from(row[f]) <= self.value[node] {
                        self.left[node]
                    } else {
                        self.right[node]
                    } as usize;
                }
                self.value[node]
            })
            .sum::<f64>()
            / self.roots.len() as f64
    }

    /// Rebuilds a fitted forest from a [`State`] made by [`FittedScorer::state`],
    /// checking that every tree is well formed so scoring cannot index out of range.
    pub fn from_state(config: IForestConfig, state: &mut State) -> Result<Self> {
        let n_features = check::saved_count("n_features", state.take_scalar("n_features")?)?;
        let max_samples = check::saved_count("max_samples", state.take_scalar("max_samples")?)?;
        let (_, roots) = state.take_u32("roots")?;
        let (_, feature) = state.take_u32("feature")?;
        let (_, value) = state.take_f64("value")?;
        let (_, left) = state.take_u32("left")?;
        let (_, right) = state.take_u32("right")?;
        let nodes = feature.len();
        let bad = |what: &str| Error::Corrupt(format!("isolation forest: {what}"));
        if n_features == 0
            || roots.is_empty()
            || value.len() != nodes
            || left.len() != nodes
            || right.len() != nodes
        {
            return Err(bad("array lengths disagree"));
        }
        if roots.iter().any(|&r| r as usize >= nodes) {
            return Err(bad("root out of range"));
        }
        for i in 0..nodes {
            if feature[i] != LEAF {
                // Children always follow their parent, so traversal terminates.
                let ok = (feature[i] as usize) < n_features
                    && (left[i] as usize) < nodes
                    && (right[i] as usize) < nodes
                    && left[i] as usize > i
                    && right[i] as usize > i;
                if !ok {
                    return Err(bad("malformed node"));
                }
            }
        }
        Ok(Self {
            config,
            n_features,
            max_samples,
            roots,
            feature,
            value,
            left,
            right,
        })
    }
}

impl FittedScorer for FittedIForest {
    fn n_features(&self) -> usize {
        self.n_features
    }

    fn score(&self, x: MatrixView<'_>) -> Result<Vec<f64>> {
        check::score_input(x, self.n_features)?;
        let norm = average_path_length(self.max_samples);
        Ok(x.as_slice()
            .par_chunks(self.n_features)
            .map(|row| {
                let depth = self.path_length(row);
                // c(1) = 0: a one-row forest cannot isolate anything; all rows score 1.
                if norm > 0.0 {
                    (-depth / norm).exp2()
                } else {
                    1.0
                }
            })
            .collect())
    }

    fn state(&self) -> Result<State> {
        let nodes = self.feature.len();
        let mut s = State::new(self.config.clone());
        s.put_scalar("n_features", self.n_features as f64)?
            .put_scalar("max_samples", self.max_samples as f64)?
            .put_u32("roots", &[self.roots.len()], self.roots.clone())?
            .put_u32("feature", &[nodes], self.feature.clone())?
            .put_f64("value", &[nodes], self.value.clone())?
            .put_u32("left", &[nodes], self.left.clone())?
            .put_u32("right", &[nodes], self.right.clone())?;
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ssad_core::Matrix;

    #[test]
    fn defaults_are_pyods() {
        let c = IForestConfig::default();
        assert_eq!((c.n_estimators, c.max_samples), (100, None));
        assert_eq!(serde_json::from_str::<IForestConfig>("{}").unwrap(), c);
    }

    #[test]
    fn average_path_length_matches_sklearn() {
        // sklearn.ensemble._iforest._average_path_length([1, 2, 3, 256])
        assert_eq!(average_path_length(1), 0.0);
        assert_eq!(average_path_length(2), 1.0);
        assert!((average_path_length(3) - 1.207_392_357_589_250_6).abs() < 1e-12);
        assert!((average_path_length(256) - 10.244_770_920_116_851).abs() < 1e-9);
    }

    #[test]
    fn isolated_point_scores_highest_and_seed_matters() {
        let mut rows: Vec<[f32; 2]> = (0..200)
            .map(|i| [(i % 20) as f32 * 0.1, (i / 20) as f32 * 0.1])
            .collect();
        rows.push([10.0, 10.0]);
        let x = Matrix::from_rows(&rows).unwrap();
        let (_, s) = IForestConfig::default().fit_score(x.view()).unwrap();
        let best = s
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .unwrap()
            .0;
        assert_eq!(best, 200);
        let other = IForestConfig {
            seed: 1,
            ..IForestConfig::default()
        };
        assert_ne!(other.fit_score(x.view()).unwrap().1, s);
    }

    #[test]
    fn constant_data_and_one_row_are_fine() {
        let x = Matrix::from_rows(&[[1.0f32, 2.0]; 5]).unwrap();
        let (_, s) = IForestConfig::default().fit_score(x.view()).unwrap();
        assert!(s.iter().all(|&v| v == s[0] && v.is_finite()));
        let one = Matrix::from_rows(&[[1.0f32]]).unwrap();
        assert_eq!(
            IForestConfig::default().fit_score(one.view()).unwrap().1,
            vec![1.0]
        );
    }
}
