//! An exact k-d tree for Euclidean k-nearest-neighbour search in low dimension,
//! where pruning by bounding boxes beats the O(n²) brute-force GEMM (this is
//! scikit-learn's choice too: `algorithm='auto'` uses a tree for ≤ 15 features).
//!
//! Nodes split at the median of their widest feature and keep their bounding
//! box; a query visits the nearer child first and skips every node whose box is
//! no closer than the current k-th neighbour. Distances are exact `f64`.

use rayon::prelude::*;
use ssad_core::MatrixView;

use crate::distance::multiversion;

/// Rows per leaf: small enough to prune well, large enough to amortise a node
/// visit. With AVX2 leaf scans 64 beat 32 and 128 (magic.gamma, one core:
/// kNN 144 / 124 / 133 ms, LOF 247 / 216 / 223 ms).
const LEAF_SIZE: usize = 64;
const NO_CHILD: u32 = u32::MAX;
/// Query rows per parallel task.
const QUERY_CHUNK: usize = 64;
/// Searches of at most this many `queries × rows × (features + k)` run on the
/// calling thread. On small sets a query visits most leaves and keeps up to k
/// candidates sorted, so a (query, row) pair costs far more than a GEMM
/// multiply-add (the `SERIAL_WORK` of the brute-force search), and two threads
/// pay off sooner. LOF (k = 20), idle, best of 300, serial vs two threads:
/// glass (214 × 7) 0.29 / 0.18 ms, vertebral (240 × 6) 0.34 / 0.17 ms, Pima
/// (768 × 8) 2.41 / 1.29 ms; wine (129 × 13, 0.55 M here) 0.12 / 0.11 ms.
const TREE_SERIAL_WORK: usize = 1 << 20;

#[derive(Debug, Clone, Copy)]
struct Node {
    start: u32,
    end: u32,
    left: u32,
    right: u32,
}

/// A k-d tree over the rows of a matrix.
#[derive(Debug, Clone)]
pub(crate) struct KdTree {
    d: usize,
    /// Rows in tree order, as `f64`.
    points: Vec<f64>,
    /// The same rows leaf by leaf in feature-major order: leaf `[s, e)` holds
    /// feature `j` of its rows at `s·d + j·(e − s) ..`, so a leaf's distances are
    /// computed for all its rows at once (vectorised) instead of row by row.
    leaf_points: Vec<f64>,
    /// Tree position → original row.
    order: Vec<u32>,
    /// Original row → tree position.
    position: Vec<u32>,
    nodes: Vec<Node>,
    /// Per-node bounding boxes, `nodes × d` each.
    lo: Vec<f64>,
    hi: Vec<f64>,
}

multiversion! {
    /// [`KdTree::query_body`], compiled for the CPU at hand: the leaf scans and
    /// box distances vectorise to 4 `f64` lanes with AVX2 instead of 2.
    fn query_simd(tree: &KdTree, q: &[f64], skip: usize, best: &mut [(f64, u32)], stack: &mut Vec<(u32, f64)>) {
        tree.query_body(q, skip, best, stack);
    }
}

impl KdTree {
    /// Builds the tree over `data` (non-empty, finite).
    pub fn new(data: MatrixView<'_>) -> Self {
        let (n, d) = data.shape();
        let mut tree = Self {
            d,
            points: Vec::new(),
            leaf_points: Vec::new(),
            order: (0..n as u32).collect(),
            position: Vec::new(),
            nodes: Vec::new(),
            lo: Vec::new(),
            hi: Vec::new(),
        };
        tree.build(data, 0, n);
        tree.position = vec![0; n];
        for (p, &i) in tree.order.iter().enumerate() {
            tree.position[i as usize] = p as u32;
        }
        tree.points = tree
            .order
            .iter()
            .flat_map(|&i| data.row(i as usize).iter().map(|&v| f64::from(v)))
            .collect();
        tree.leaf_points = vec![0.0; tree.points.len()];
        for node in tree.nodes.iter().filter(|nd| nd.left == NO_CHILD) {
            let (s, e) = (node.start as usize, node.end as usize);
            for p in s..e {
                for j in 0..d {
                    tree.leaf_points[s * d + j * (e - s) + (p - s)] = tree.points[p * d + j];
                }
            }
        }
        tree
    }

    fn build(&mut self, data: MatrixView<'_>, start: usize, end: usize) -> u32 {
        let d = self.d;
        let mut lo = vec![f64::INFINITY; d];
        let mut hi = vec![f64::NEG_INFINITY; d];
        for &i in &self.order[start..end] {
            for ((l, h), &v) in lo.iter_mut().zip(hi.iter_mut()).zip(data.row(i as usize)) {
                *l = l.min(f64::from(v));
                *h = h.max(f64::from(v));
            }
        }
        let id = self.nodes.len() as u32;
        self.nodes.push(Node {
            start: start as u32,
            end: end as u32,
            left: NO_CHILD,
            right: NO_CHILD,
        });
        let (dim, spread) = widest_dimension(&lo, &hi);
        self.lo.extend(&lo);
        self.hi.extend(&hi);
        if end - start <= LEAF_SIZE || spread == 0.0 {
            return id;
        }
        let mid = start + (end - start) / 2;
        self.order[start..end].select_nth_unstable_by(mid - start, |&a, &b| {
            data.row(a as usize)[dim].total_cmp(&data.row(b as usize)[dim])
        });
        let left = self.build(data, start, mid);
        let right = self.build(data, mid, end);
        self.nodes[id as usize].left = left;
        self.nodes[id as usize].right = right;
        id
    }

    /// Squared distance from `q` to node `node`'s bounding box.
    #[inline(always)]
    fn box_distance(&self, node: usize, q: &[f64]) -> f64 {
        let d = self.d;
        let (lo, hi) = (
            &self.lo[node * d..(node + 1) * d],
            &self.hi[node * d..(node + 1) * d],
        );
        q.iter()
            .zip(lo.iter().zip(hi))
            .map(|(&x, (&l, &h))| {
                let t = (l - x).max(x - h).max(0.0);
                t * t
            })
            .sum()
    }

    /// The `k` nearest rows of `q` (skipping original row `skip`), as ascending
    /// `(squared distance, original row)` pairs written into `best`.
    #[inline(always)]
    fn query_body(
        &self,
        q: &[f64],
        skip: usize,
        best: &mut [(f64, u32)],
        stack: &mut Vec<(u32, f64)>,
    ) {
        let k = best.len();
        best.fill((f64::INFINITY, u32::MAX));
        stack.clear();
        stack.push((0, self.box_distance(0, q)));
        while let Some((node, near)) = stack.pop() {
            if near >= best[k - 1].0 {
                continue;
            }
            let n = self.nodes[node as usize];
            if n.left == NO_CHILD {
                let (s, e) = (n.start as usize, n.end as usize);
                let leaf = &self.leaf_points[s * self.d..e * self.d];
                // Leaves of identical rows can exceed LEAF_SIZE: take them in pieces.
                for piece in (s..e).step_by(LEAF_SIZE) {
                    let m = LEAF_SIZE.min(e - piece);
                    let mut acc = [0.0f64; LEAF_SIZE];
                    let acc = &mut acc[..m];
                    // Features in ascending order, as a row-by-row sum would add them.
                    for (j, &qj) in q.iter().enumerate() {
                        let col = &leaf[j * (e - s) + (piece - s)..][..m];
                        for (a, &v) in acc.iter_mut().zip(col) {
                            let t = qj - v;
                            *a += t * t;
                        }
                    }
                    // Most of a leaf's rows lose: one mask of the rows below
                    // the k-th distance on entry (a superset of the winners,
                    // as it only shrinks), then only those are visited. A
                    // compare and branch per row took 3-8% longer on LOF.
                    let mut hits = below(acc, best[k - 1].0);
                    while hits != 0 {
                        let t = hits.trailing_zeros() as usize;
                        hits &= hits - 1;
                        let d2 = acc[t];
                        if d2 >= best[k - 1].0 {
                            continue;
                        }
                        let orig = self.order[piece + t];
                        if orig as usize == skip {
                            continue;
                        }
                        let mut pos = k - 1;
                        while pos > 0 && best[pos - 1].0 > d2 {
                            best[pos] = best[pos - 1];
                            pos -= 1;
                        }
                        best[pos] = (d2, orig);
                    }
                }
                continue;
            }
            let dl = self.box_distance(n.left as usize, q);
            let dr = self.box_distance(n.right as usize, q);
            // Push the farther child first so the nearer one is searched first.
            if dl <= dr {
                stack.push((n.right, dr));
                stack.push((n.left, dl));
            } else {
                stack.push((n.left, dl));
                stack.push((n.right, dr));
            }
        }
    }

    /// Distances (ascending) and indices of the `k` nearest rows of every row
    /// of `query`, or of every tree row excluding itself when `query` is `None`.
    pub fn search(
        &self,
        query: Option<MatrixView<'_>>,
        k: usize,
        dist: &mut [f64],
        idx: &mut [u32],
    ) {
        if query.is_none() {
            // The tree's own rows are queried in tree order, so consecutive
            // queries are close in space and walk the same (cached) nodes; the
            // results are then put back in row order.
            let mut tree_dist = vec![0.0f64; dist.len()];
            let mut tree_idx = vec![0u32; idx.len()];
            self.search_rows(None, k, &mut tree_dist, &mut tree_idx);
            for (row, (dist, idx)) in dist.chunks_mut(k).zip(idx.chunks_mut(k)).enumerate() {
                let p = self.position[row] as usize;
                dist.copy_from_slice(&tree_dist[p * k..(p + 1) * k]);
                idx.copy_from_slice(&tree_idx[p * k..(p + 1) * k]);
            }
            return;
        }
        self.search_rows(query, k, dist, idx);
    }

    /// As [`KdTree::search`], except that with `query = None` the output rows
    /// are in tree order (row `p` is the tree's `p`-th point).
    fn search_rows(
        &self,
        query: Option<MatrixView<'_>>,
        k: usize,
        dist: &mut [f64],
        idx: &mut [u32],
    ) {
        let d = self.d;
        let search_chunk = |(chunk, (dist, idx)): (usize, (&mut [f64], &mut [u32]))| {
            let mut best = vec![(f64::INFINITY, u32::MAX); k];
            let mut stack = Vec::new();
            let mut q = vec![0.0f64; d];
            for r in 0..dist.len() / k {
                let row = chunk * QUERY_CHUNK + r;
                let skip = match query {
                    Some(view) => {
                        q.iter_mut()
                            .zip(view.row(row))
                            .for_each(|(a, &b)| *a = f64::from(b));
                        usize::MAX
                    }
                    None => {
                        q.copy_from_slice(&self.points[row * d..(row + 1) * d]);
                        self.order[row] as usize
                    }
                };
                query_simd(self, &q, skip, &mut best, &mut stack);
                best.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                for (t, &(d2, j)) in best.iter().enumerate() {
                    dist[r * k + t] = d2.sqrt();
                    idx[r * k + t] = j;
                }
            }
        };
        let (m, n) = (dist.len() / k, self.order.len());
        let chunk = QUERY_CHUNK * k;
        if m.saturating_mul(n).saturating_mul(d + k) <= TREE_SERIAL_WORK {
            dist.chunks_mut(chunk)
                .zip(idx.chunks_mut(chunk))
                .enumerate()
                .for_each(search_chunk);
        } else {
            dist.par_chunks_mut(chunk)
                .zip(idx.par_chunks_mut(chunk))
                .enumerate()
                .for_each(search_chunk);
        }
    }
}

const _: () = assert!(LEAF_SIZE <= 64, "a leaf piece's mask is a u64");

/// Bit `t` set where `acc[t] < limit` (`acc` holds at most 64 entries).
#[inline(always)]
fn below(acc: &[f64], limit: f64) -> u64 {
    debug_assert!(acc.len() <= 64);
    let mut mask = 0u64;
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_cmplt_pd, _mm_loadu_pd, _mm_movemask_pd, _mm_set1_pd};
        let pairs = acc.len() / 2;
        // SAFETY: SSE2 is part of the x86-64 baseline; each load reads the two
        // entries `2p, 2p + 1 < acc.len()`.
        unsafe {
            let lim = _mm_set1_pd(limit);
            for p in 0..pairs {
                let v = _mm_loadu_pd(acc.as_ptr().add(2 * p));
                mask |= (_mm_movemask_pd(_mm_cmplt_pd(v, lim)) as u64) << (2 * p);
            }
        }
        if acc.len() % 2 == 1 && acc[acc.len() - 1] < limit {
            mask |= 1 << (acc.len() - 1);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    for (t, &v) in acc.iter().enumerate() {
        mask |= u64::from(v < limit) << t;
    }
    mask
}

/// The feature of the largest `hi − lo` and that spread (the first on ties;
/// `(0, 0)` when every spread is zero or there are no features).
pub(crate) fn widest_dimension<T>(lo: &[T], hi: &[T]) -> (usize, T)
where
    T: Copy + Default + PartialOrd + std::ops::Sub<Output = T>,
{
    lo.iter()
        .zip(hi)
        .map(|(&l, &h)| h - l)
        .enumerate()
        .fold(
            (0, T::default()),
            |best, (j, w)| {
                if w > best.1 {
                    (j, w)
                } else {
                    best
                }
            },
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_marks_exactly_the_entries_under_the_limit() {
        // Every length a leaf piece can have (odd ones exercise the tail),
        // with entries equal to the limit, which must not be marked.
        for len in 0..=LEAF_SIZE {
            let acc: Vec<f64> = (0..len).map(|t| ((t * 37) % 11) as f64 * 0.5).collect();
            for limit in [0.0, 1.5, 2.0, 5.0, f64::INFINITY] {
                let want = acc
                    .iter()
                    .enumerate()
                    .fold(0u64, |m, (t, &v)| m | (u64::from(v < limit) << t));
                assert_eq!(below(&acc, limit), want, "len {len}, limit {limit}");
            }
        }
    }
}
