//! Exact k-nearest-neighbour search, shared by kNN, LOF and any scorer that needs it.
//!
//! Distances are computed block by block as `|a|² + |b|² − 2a·b` with the
//! dot products from one GEMM per (query block, reference block) pair, so the
//! work runs at matrix-multiply speed and memory stays O(block²), never O(n²).
//! Query blocks run in parallel with rayon; each query row keeps its `k` best
//! candidates in a small sorted buffer.
//!
//! The GEMM runs in `f32`, whose cancellation error in `|a|² + |b|² − 2a·b` is
//! large for close pairs, so the `k` winners' distances are recomputed exactly in
//! `f64` before they are returned. Only near-ties at the k-th place can differ
//! from an exact search, and then by less than the `f32` rounding error.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use ssad_core::{Matrix, MatrixView};

use crate::kdtree::KdTree;

/// Query rows per parallel task.
const QUERY_BLOCK: usize = 128;
/// Reference rows per GEMM; `QUERY_BLOCK × REF_BLOCK` f32 dot products is 256 KiB, so they stay in L2.
const REF_BLOCK: usize = 512;
/// Candidates tested together before any of them is inserted.
const LANES: usize = 16;

/// The distance between two feature vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// `‖a − b‖₂`.
    #[default]
    Euclidean,
    /// `1 − a·b / (‖a‖ ‖b‖)` as scikit-learn's `cosine_distances`; a zero
    /// vector is at distance 1 from everything.
    Cosine,
}

/// A reference set prepared for search.
#[derive(Debug, Clone)]
pub(crate) struct Index {
    metric: Metric,
    /// The reference rows as given: exact distances are recomputed from them.
    data: Matrix,
    /// What the GEMM sees: `data` itself (Euclidean) or its unit rows (cosine).
    gemm_rows: Option<Matrix>,
    /// Squared norms of the GEMM rows.
    sq_norms: Vec<f32>,
    /// A k-d tree, used instead of the GEMM in low dimension.
    tree: Option<KdTree>,
}

/// Up to this many features a k-d tree prunes well (scikit-learn's cut-off is 15).
const TREE_MAX_FEATURES: usize = 16;

/// The `k` nearest reference rows of every query row, nearest first.
#[derive(Debug, Clone)]
pub(crate) struct Neighbours {
    pub k: usize,
    /// `rows × k` distances, ascending within a row.
    pub dist: Vec<f64>,
    /// `rows × k` reference row indices matching `dist`.
    pub idx: Vec<u32>,
}

impl Neighbours {
    /// Distances of query row `i`, nearest first.
    pub fn dist_row(&self, i: usize) -> &[f64] {
        &self.dist[i * self.k..(i + 1) * self.k]
    }

    /// Reference indices of query row `i`, nearest first.
    pub fn idx_row(&self, i: usize) -> &[u32] {
        &self.idx[i * self.k..(i + 1) * self.k]
    }

    /// Number of query rows.
    pub fn rows(&self) -> usize {
        self.dist.len().checked_div(self.k).unwrap_or(0)
    }
}

fn unit_rows(x: MatrixView<'_>) -> Vec<f32> {
    let mut out = x.as_slice().to_vec();
    for row in out.chunks_exact_mut(x.cols().max(1)) {
        let norm = row
            .iter()
            .map(|&v| f64::from(v) * f64::from(v))
            .sum::<f64>()
            .sqrt();
        if norm > 0.0 {
            row.iter_mut()
                .for_each(|v| *v = (f64::from(*v) / norm) as f32);
        }
    }
    out
}

fn sq_norms(rows: &[f32], d: usize) -> Vec<f32> {
    rows.chunks_exact(d.max(1))
        .map(|r| r.iter().map(|v| v * v).sum())
        .collect()
}

/// `out[i, j] = q[i] · r[j]` for row-major `q` (`m × d`) and `r` (`n × d`),
/// in `f32` or `f64`.
pub(crate) fn dot_block<T: Copy + 'static>(
    q: &[T],
    r: &[T],
    d: usize,
    out: &mut [T],
    zero: T,
    one: T,
) {
    let m = q.len() / d;
    let n = r.len() / d;
    // These hold by construction; checking them keeps the unsafe call sound.
    assert!(q.len() == m * d && r.len() == n * d && out.len() >= m * n && d > 0);
    // SAFETY: all three buffers are live for the call and the strides address
    // only `q[..m*d]`, `r[..n*d]` and `out[..m*n]`, checked above. `read_dst`
    // is false, so `out`'s previous contents are never read. `gemm` dispatches
    // on `T`'s type id and supports f32 and f64, the only types used here.
    unsafe {
        gemm::gemm(
            m,
            n,
            d,
            out.as_mut_ptr(),
            1,
            n as isize,
            false,
            q.as_ptr(),
            1,
            d as isize,
            r.as_ptr(),
            d as isize,
            1,
            zero,
            one,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// Inserts `(d, j)` into the ascending buffer `best` if it beats the last entry.
#[inline]
fn insert(best: &mut [(f32, u32)], d: f32, j: u32) {
    let k = best.len();
    if d >= best[k - 1].0 {
        return;
    }
    let mut pos = k - 1;
    while pos > 0 && best[pos - 1].0 > d {
        best[pos] = best[pos - 1];
        pos -= 1;
    }
    best[pos] = (d, j);
}

fn exact_distance(metric: Metric, a: &[f32], b: &[f32]) -> f64 {
    match metric {
        Metric::Euclidean => a
            .iter()
            .zip(b)
            .map(|(&x, &y)| {
                let t = f64::from(x) - f64::from(y);
                t * t
            })
            .sum::<f64>()
            .sqrt(),
        Metric::Cosine => {
            let (mut ab, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
            for (&x, &y) in a.iter().zip(b) {
                let (x, y) = (f64::from(x), f64::from(y));
                ab += x * y;
                aa += x * x;
                bb += y * y;
            }
            if aa == 0.0 || bb == 0.0 {
                1.0
            } else {
                (1.0 - ab / (aa.sqrt() * bb.sqrt())).clamp(0.0, 2.0)
            }
        }
    }
}

impl Index {
    /// Prepares `data` (already validated: non-empty, finite) for search.
    pub fn new(data: Matrix, metric: Metric) -> Self {
        let use_tree = metric == Metric::Euclidean && data.cols() <= TREE_MAX_FEATURES;
        Self::with_strategy(data, metric, use_tree)
    }

    /// As [`Index::new`], choosing the search explicitly (tests compare both).
    pub fn with_strategy(data: Matrix, metric: Metric, use_tree: bool) -> Self {
        let d = data.cols();
        let gemm_rows = match metric {
            Metric::Euclidean => None,
            Metric::Cosine => Matrix::new(unit_rows(data.view()), data.rows(), d).ok(),
        };
        let tree = (use_tree && metric == Metric::Euclidean).then(|| KdTree::new(data.view()));
        let sq_norms = if tree.is_some() {
            Vec::new()
        } else {
            sq_norms(gemm_rows.as_ref().unwrap_or(&data).as_slice(), d)
        };
        Self {
            metric,
            data,
            gemm_rows,
            sq_norms,
            tree,
        }
    }

    /// The reference rows.
    pub fn data(&self) -> &Matrix {
        &self.data
    }

    /// The `k` nearest reference rows of each row of `query`, or of each
    /// reference row itself, excluding that row, when `query` is `None`
    /// (scikit-learn's `kneighbors(X=None)`).
    ///
    /// The caller guarantees `1 <= k <= n` (`k <= n - 1` when `query` is `None`)
    /// and that `query` has the reference width and is finite.
    pub fn search(&self, query: Option<MatrixView<'_>>, k: usize) -> Neighbours {
        let d = self.data.cols();
        let n = self.data.rows();
        let exclude_self = query.is_none();
        let q = query.unwrap_or_else(|| self.data.view());
        let m = q.rows();
        let reference = self.gemm_rows.as_ref().unwrap_or(&self.data).as_slice();
        let mut dist = vec![0.0f64; m * k];
        let mut idx = vec![0u32; m * k];
        if m == 0 || k == 0 {
            return Neighbours { k, dist, idx };
        }
        if let Some(tree) = &self.tree {
            tree.search(query, k, &mut dist, &mut idx);
            return Neighbours { k, dist, idx };
        }
        dist.par_chunks_mut(QUERY_BLOCK * k)
            .zip(idx.par_chunks_mut(QUERY_BLOCK * k))
            .enumerate()
            .for_each(|(block, (dist_out, idx_out))| {
                let first = block * QUERY_BLOCK;
                let rows = dist_out.len() / k;
                let raw = &q.as_slice()[first * d..(first + rows) * d];
                let unit;
                let qrows: &[f32] = match self.metric {
                    Metric::Euclidean => raw,
                    Metric::Cosine => {
                        unit = unit_rows(MatrixView::new(raw, rows, d).unwrap_or(q));
                        &unit
                    }
                };
                let q_norms = sq_norms(qrows, d);
                let mut best = vec![(f32::INFINITY, u32::MAX); rows * k];
                let mut dots = vec![0.0f32; rows * REF_BLOCK.min(n)];
                for ref_first in (0..n).step_by(REF_BLOCK) {
                    let ref_rows = REF_BLOCK.min(n - ref_first);
                    let block_ref = &reference[ref_first * d..(ref_first + ref_rows) * d];
                    dot_block(qrows, block_ref, d, &mut dots, 0.0, 1.0);
                    let r_norms = &self.sq_norms[ref_first..ref_first + ref_rows];
                    for i in 0..rows {
                        let row_best = &mut best[i * k..(i + 1) * k];
                        let row_dots = &dots[i * ref_rows..(i + 1) * ref_rows];
                        let self_j = if exclude_self { first + i } else { usize::MAX };
                        let qn = q_norms[i];
                        let to_distance = |dot: f32, rn: f32| match self.metric {
                            Metric::Euclidean => (qn + rn - 2.0 * dot).max(0.0),
                            Metric::Cosine => 1.0 - dot,
                        };
                        // Most candidates lose: test a lane-sized chunk at once (this
                        // vectorises) and only walk the chunks that hold a winner.
                        for (c, (dch, nch)) in row_dots
                            .chunks(LANES)
                            .zip(r_norms.chunks(LANES))
                            .enumerate()
                        {
                            let mut lane = [f32::INFINITY; LANES];
                            for ((l, &dot), &rn) in lane.iter_mut().zip(dch).zip(nch) {
                                *l = to_distance(dot, rn);
                            }
                            let lane_min = lane.iter().fold(f32::INFINITY, |m, &v| m.min(v));
                            if lane_min >= row_best[k - 1].0 {
                                continue;
                            }
                            for (t, &d2) in lane.iter().enumerate().take(dch.len()) {
                                let j = ref_first + c * LANES + t;
                                if d2 < row_best[k - 1].0 && j != self_j {
                                    insert(row_best, d2, j as u32);
                                }
                            }
                        }
                    }
                }
                for i in 0..rows {
                    let qrow = q.row(first + i);
                    let mut exact: Vec<(f64, u32)> = best[i * k..(i + 1) * k]
                        .iter()
                        .map(|&(_, j)| {
                            (
                                exact_distance(self.metric, qrow, self.data.row(j as usize)),
                                j,
                            )
                        })
                        .collect();
                    exact.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                    for (t, (dv, j)) in exact.into_iter().enumerate() {
                        dist_out[i * k + t] = dv;
                        idx_out[i * k + t] = j;
                    }
                }
            });
        Neighbours { k, dist, idx }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn brute(data: &Matrix, q: &[f32], k: usize, skip: Option<usize>, metric: Metric) -> Vec<f64> {
        let mut d: Vec<f64> = (0..data.rows())
            .filter(|&j| Some(j) != skip)
            .map(|j| exact_distance(metric, q, data.row(j)))
            .collect();
        d.sort_by(f64::total_cmp);
        d.truncate(k);
        d
    }

    fn random(rows: usize, cols: usize, seed: u64) -> Matrix {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let v = (0..rows * cols)
            .map(|_| rng.random_range(-3.0..3.0))
            .collect();
        Matrix::new(v, rows, cols).unwrap()
    }

    #[test]
    fn matches_brute_force_across_blocks() {
        // More rows than one reference block and one query block.
        let data = random(2100 + 37, 3, 1);
        let query = random(300, 3, 2);
        for (metric, tree) in [
            (Metric::Euclidean, false),
            (Metric::Euclidean, true),
            (Metric::Cosine, false),
        ] {
            let index = Index::with_strategy(data.clone(), metric, tree);
            let nb = index.search(Some(query.view()), 4);
            for i in (0..300).step_by(37) {
                let want = brute(&data, query.row(i), 4, None, metric);
                for (a, b) in nb.dist_row(i).iter().zip(&want) {
                    assert!((a - b).abs() < 1e-5, "{metric:?} row {i}: {a} vs {b}");
                }
            }
            let own = index.search(None, 3);
            for i in (0..data.rows()).step_by(101) {
                assert!(!own.idx_row(i).contains(&(i as u32)));
                let want = brute(&data, data.row(i), 3, Some(i), metric);
                for (a, b) in own.dist_row(i).iter().zip(&want) {
                    assert!((a - b).abs() < 1e-5);
                }
            }
        }
    }

    #[test]
    fn duplicates_are_at_distance_zero() {
        for tree in [false, true] {
            let mut v = vec![1.0; 50];
            v.push(5.0);
            let data = Matrix::new(v, 51, 1).unwrap();
            let index = Index::with_strategy(data, Metric::Euclidean, tree);
            let nb = index.search(None, 1);
            assert!(nb.dist[..50].iter().all(|&d| d == 0.0));
            assert_eq!(nb.dist[50], 4.0);
            assert_ne!(nb.idx[0], 0);
        }
    }
}
