//! Exact k-nearest-neighbour search, shared by kNN, LOF and any scorer that needs it.
//!
//! Distances are computed block by block as `|a|² + |b|² − 2a·b` with the
//! dot products from one GEMM per (query block, reference block) pair, so the
//! work runs at matrix-multiply speed and memory stays O(block²), never O(n²).
//! Query blocks run in parallel with rayon; each query row keeps its `k` best
//! candidates in a small sorted buffer.
//!
//! Searching the reference set against itself (`fit_score`) uses the symmetry
//! of the distance: only the blocks on and above the diagonal are computed,
//! and each block updates the candidates of its rows *and* of its columns, which
//! halves the GEMM work. The rows are first put in a spatial order (k-d style
//! median splits down to one block), so a block holds nearby rows: the diagonal
//! blocks, scored first and in parallel (each touches only its own rows), give
//! every row a tight k-th distance, and the off-diagonal blocks' candidates then
//! mostly fail the vectorised test before any insertion. For those, each worker
//! thread owns a copy of the candidate buffers (merged at the end), so no two
//! threads ever write the same buffer.
//!
//! The GEMM runs in `f32`, whose cancellation error in `|a|² + |b|² − 2a·b` is
//! large for close pairs, so the `k` winners' distances are recomputed exactly in
//! `f64` before they are returned. Only near-ties at the k-th place can differ
//! from an exact search, and then by less than the `f32` rounding error.
//!
//! The candidate scans (and the k-d tree's queries) are compiled twice and run
//! as AVX2 code where the CPU has it (see `multiversion!`), with bit-identical
//! results either way.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use ssad_core::{Matrix, MatrixView};

use crate::kdtree::{widest_dimension, KdTree};

/// Query rows per parallel task.
const QUERY_BLOCK: usize = 128;
/// Reference rows per GEMM; `QUERY_BLOCK × REF_BLOCK` f32 dot products is 256 KiB, so they stay in L2.
const REF_BLOCK: usize = 512;
/// Candidates tested together before any of them is inserted.
const LANES: usize = 16;
/// From this `k` on, a diagonal tile's candidates are selected, not inserted.
/// One core, ms, insertion / selection: LOF (k = 20) on Pima 1.81 / 1.39 and
/// on Stamps 0.55 / 0.36; kNN (k = 5) on glass 0.066 / 0.162.
const SELECT_MIN_K: usize = 10;
/// Rows per block of the symmetric self-search (`SELF_BLOCK²` f32 dot products = 256 KiB).
const SELF_BLOCK: usize = 256;
/// The symmetric self-search keeps one `n × k` candidate buffer per thread; above
/// this many bytes in all it falls back to the one-sided search.
const SELF_BUFFER_BYTES: usize = 1 << 29;

/// Searches with at most this many multiply-adds (`queries × references ×
/// features`, ~2 ms on one core) run on the calling thread. Handing work to the
/// rayon pool means waking its workers, which costs more than such a search
/// saves, and on a loaded machine a woken worker can wait milliseconds for a
/// CPU (the 198-row WPBC took 3.4 ms in parallel, 0.2 ms serially, at load 14).
pub(crate) const SERIAL_WORK: usize = 1 << 23;

/// Defines `fn $name` whose body is compiled twice, for the baseline target
/// and for x86-64-v3 (AVX2, FMA), and runs the latter when the CPU has it.
/// The crate is built for baseline x86-64 (SSE2, 4 `f32` lanes), while the
/// scans below vectorise to twice that width. Rust never contracts `a * b + c`
/// into an FMA on its own, so both versions compute bit-identical results.
macro_rules! multiversion {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) {
            #[inline(always)]
            fn body($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                fn v3($($arg: $ty),*) {
                    body($($arg),*)
                }
                if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                    // SAFETY: `v3` only needs AVX2 and FMA, which the CPU has (checked above).
                    return unsafe { v3($($arg),*) };
                }
            }
            body($($arg),*)
        }
    };
}
pub(crate) use multiversion;

/// One block pair of the symmetric self-search: rows `a0..` (block a) against
/// rows `b0..` (block b), with both blocks' GEMM norms.
struct Tile<'a> {
    a_norms: &'a [f32],
    b_norms: &'a [f32],
    a0: usize,
    b0: usize,
    scale: f32,
    /// Off the diagonal: also offer each row of block a to the rows of block b.
    both_ways: bool,
}

/// The bits of `max(x, 0)`, which order like the values: squared distances are
/// compared as integers below, since integer `min` and `|` reductions vectorise
/// where `f32` ones (NaN-aware) do not. `-0.0` and any negative value (GEMM
/// cancellation) become `+0.0`.
#[inline(always)]
fn nonneg_bits(x: f32) -> u32 {
    (x.to_bits() as i32).max(0) as u32
}

multiversion! {
    /// Offers a tile's candidates to the ascending `k`-entry buffers in `best`
    /// (`n × k`): block b's rows to block a's, and, off the diagonal, the
    /// reverse (the same distances read by columns). `dots` holds the tile's
    /// dot products (row-major) and is overwritten with the squared distances.
    fn scan_tile(best: &mut [(f32, u32)], k: usize, dots: &mut [f32], tile: &Tile<'_>) {
        let Tile { a_norms, b_norms, a0, b0, scale, both_ways } = *tile;
        let (ra, rb) = (a_norms.len(), b_norms.len());
        let dist = &mut dots[..ra * rb];
        for (row, &an) in dist.chunks_exact_mut(rb).zip(a_norms) {
            for (v, &bn) in row.iter_mut().zip(b_norms) {
                *v = f32::from_bits(nonneg_bits(an + bn - scale * *v));
            }
        }
        let dist = &*dist;
        if !both_ways && k >= SELECT_MIN_K {
            // A diagonal tile meets empty buffers: taking each row's k smallest
            // by selection beats offering the candidates one by one, where for
            // a large k most of the first dozens win and each insertion shifts
            // the buffer (80% of LOF's time on Pima). Keys are `(distance bits,
            // column)`, so ties go to the lower column as in the insertion order.
            // The row itself gets the largest key (distance bits stay below
            // 2³¹), so it is never among the `rb − 1` others' smallest.
            let mut keys: Vec<u64> = Vec::with_capacity(rb);
            let take = k.min(rb - 1);
            for (i, row) in dist.chunks_exact(rb).enumerate() {
                keys.clear();
                keys.extend(
                    row.iter()
                        .enumerate()
                        .map(|(c, d2)| (u64::from(d2.to_bits()) << 32) | (b0 + c) as u64),
                );
                keys[i] = u64::MAX;
                if take < rb {
                    keys.select_nth_unstable(take);
                }
                let chosen = &mut keys[..take];
                chosen.sort_unstable();
                let me = a0 + i;
                for (slot, &key) in best[me * k..(me + 1) * k].iter_mut().zip(&*chosen) {
                    *slot = (f32::from_bits((key >> 32) as u32), key as u32);
                }
            }
            return;
        }
        let full = rb / LANES * LANES;
        for (i, row) in dist.chunks_exact(rb).enumerate() {
            let me = a0 + i;
            let own = &mut best[me * k..(me + 1) * k];
            for (c0, lane) in (0..full).step_by(LANES).zip(lanes(row)) {
                // Most candidates lose: one vector compare per lane, and
                // only the lanes' winners are visited.
                let limit = own[k - 1].0.to_bits();
                let mut hits = below(lane, &[limit; LANES]);
                while hits != 0 {
                    let t = hits.trailing_zeros() as usize;
                    hits &= hits - 1;
                    if b0 + c0 + t != me {
                        insert(own, lane[t], (b0 + c0 + t) as u32);
                    }
                }
            }
            for (c, &d2) in row.iter().enumerate().skip(full) {
                if b0 + c != me {
                    insert(own, d2, (b0 + c) as u32);
                }
            }
        }
        if !both_ways {
            return;
        }
        // `thr` caches the bits of each column row's current k-th distance.
        let mut thr: Vec<u32> = (b0..b0 + rb).map(|j| best[j * k + k - 1].0.to_bits()).collect();
        for (i, row) in dist.chunks_exact(rb).enumerate() {
            let me = (a0 + i) as u32;
            for (c0, lane) in (0..full).step_by(LANES).zip(lanes(row)) {
                // Each column appears once in the lane, so its threshold
                // holds until its own insertion.
                let limits = <&[u32; LANES]>::try_from(&thr[c0..c0 + LANES]).expect("a full lane");
                let mut hits = below(lane, limits);
                while hits != 0 {
                    let c = c0 + hits.trailing_zeros() as usize;
                    hits &= hits - 1;
                    let col = &mut best[(b0 + c) * k..(b0 + c + 1) * k];
                    insert(col, row[c], me);
                    thr[c] = col[k - 1].0.to_bits();
                }
            }
            for (c, &d2) in row.iter().enumerate().skip(full) {
                if d2.to_bits() < thr[c] {
                    let col = &mut best[(b0 + c) * k..(b0 + c + 1) * k];
                    insert(col, d2, me);
                    thr[c] = col[k - 1].0.to_bits();
                }
            }
        }
    }
}

/// The full `LANES`-wide lanes of `row`.
#[inline(always)]
fn lanes(row: &[f32]) -> impl Iterator<Item = &[f32; LANES]> {
    row.chunks_exact(LANES)
        .map(|lane| <&[f32; LANES]>::try_from(lane).expect("chunks_exact yields LANES"))
}

/// Bit `t` set where `lane[t]` (a non-negative distance) is below the
/// threshold bits `limits[t]`. Both are under 2³¹, so the signed compare of the
/// bits orders them like the values.
#[inline(always)]
fn below(lane: &[f32; LANES], limits: &[u32; LANES]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        // Four compares and four sign-bit gathers: written as a fold, LLVM
        // compiled this to part-scalar compares and a shuffle reduction,
        // about three times the instructions, and the scans of the GEMM
        // search took 4-13% longer.
        use std::arch::x86_64::{
            __m128i, _mm_castsi128_ps, _mm_cmplt_epi32, _mm_loadu_si128, _mm_movemask_ps,
        };
        let mut mask = 0u32;
        for q in 0..LANES / 4 {
            // SAFETY: SSE2 is part of the x86-64 baseline, and both loads read
            // the 16 bytes at elements `4q..4q + 4` of a `LANES`-element array.
            let bits = unsafe {
                let d = _mm_loadu_si128(lane.as_ptr().add(4 * q).cast::<__m128i>());
                let l = _mm_loadu_si128(limits.as_ptr().add(4 * q).cast::<__m128i>());
                _mm_movemask_ps(_mm_castsi128_ps(_mm_cmplt_epi32(d, l)))
            };
            mask |= (bits as u32) << (4 * q);
        }
        mask
    }
    #[cfg(not(target_arch = "x86_64"))]
    lane.iter()
        .zip(limits)
        .enumerate()
        .fold(0u32, |mask, (t, (d, &limit))| {
            mask | (u32::from((d.to_bits() as i32) < (limit as i32)) << t)
        })
}

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

/// Up to this many features a k-d tree prunes well (scikit-learn's cut-off
/// too). At 16 (pendigits, 6870 rows) the GEMM search was already faster:
/// 39 vs 44 ms kNN, 57 vs 76 ms LOF, on one core.
const TREE_MAX_FEATURES: usize = 15;

/// What the caller of a search reads. A tie at the k-th distance decides
/// *which* rows are the neighbours, not the distances: the brute-force search
/// breaks such ties by `f32` rounding, the tree by its visiting order, much as
/// scikit-learn's tree (PyOD's LOF on breastw, many duplicate rows: AUROC
/// +0.024 off brute force, −0.0001 off on the tree).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reads {
    /// Only the neighbour distances (kNN scores).
    Distances,
    /// Which rows the neighbours are (LOF's reachability densities).
    Neighbours,
}

/// Below this many rows the brute-force search wins even in low dimension, so
/// it is used there when only distances are read: the tree's pruning saves
/// less than its per-query walk costs. One core, tree vs
/// brute, ms: Pima (768 × 8) kNN 1.24 / 0.70, LOF 2.44 / 1.94; breastw (683 × 9)
/// kNN 0.83 / 0.48; thyroid's first 1,500 rows (× 6) kNN 1.25 / 1.78.
const TREE_MIN_ROWS: usize = 1024;

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

/// The per-row terms of the GEMM distance `a_i + b_j − scale · dot`: squared
/// norms for Euclidean (`scale` 2), and 0.5 for cosine on unit rows (`scale` 1),
/// so both metrics share one branch-free scan.
fn gemm_norms(metric: Metric, rows: &[f32], d: usize) -> Vec<f32> {
    match metric {
        Metric::Euclidean => rows
            .chunks_exact(d.max(1))
            .map(|r| r.iter().map(|v| v * v).sum())
            .collect(),
        Metric::Cosine => vec![0.5; rows.len() / d.max(1)],
    }
}

fn dot_scale(metric: Metric) -> f32 {
    match metric {
        Metric::Euclidean => 2.0,
        Metric::Cosine => 1.0,
    }
}

/// Offers the candidates `first + c` (distance `an + norms[c] − scale · dots[c]`)
/// to one row's ascending buffer `best`, skipping candidate `skip`.
#[inline(always)]
fn scan_row(
    best: &mut [(f32, u32)],
    dots: &[f32],
    norms: &[f32],
    an: f32,
    scale: f32,
    first: usize,
    skip: usize,
) {
    let full = dots.len() / LANES * LANES;
    for (c, (dch, nch)) in dots[..full]
        .chunks_exact(LANES)
        .zip(norms[..full].chunks_exact(LANES))
        .enumerate()
    {
        let mut lane = [0.0f32; LANES];
        for ((l, &dot), &bn) in lane.iter_mut().zip(dch).zip(nch) {
            *l = (an + bn - scale * dot).max(0.0);
        }
        offer_lane(best, &lane, first + c * LANES, skip);
    }
    for c in full..dots.len() {
        let d2 = (an + norms[c] - scale * dots[c]).max(0.0);
        if first + c != skip {
            insert(best, d2, (first + c) as u32);
        }
    }
}

/// Offers the distances `lane` of candidates `first..` to one row's ascending
/// buffer `best`, skipping candidate `skip`.
#[inline(always)]
fn offer_lane(best: &mut [(f32, u32)], lane: &[f32], first: usize, skip: usize) {
    let k = best.len();
    // Most candidates lose: test the whole lane at once (this vectorises;
    // a `min` fold would not) and only walk the lanes that hold a winner.
    let thr = best[k - 1].0;
    if !lane.iter().fold(false, |hit, &d2| hit | (d2 < thr)) {
        return;
    }
    for (t, &d2) in lane.iter().enumerate() {
        if d2 < best[k - 1].0 && first + t != skip {
            insert(best, d2, (first + t) as u32);
        }
    }
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
#[inline(always)]
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
        Metric::Euclidean => {
            // Eight running sums: one sequential sum is bound by the latency
            // of its additions (this runs k times per row after the search).
            let mut acc = [0.0f64; 8];
            let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
            let tail: f64 = ca
                .remainder()
                .iter()
                .zip(cb.remainder())
                .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
                .sum();
            for (x, y) in ca.zip(cb) {
                for ((s, &x), &y) in acc.iter_mut().zip(x).zip(y) {
                    let t = f64::from(x) - f64::from(y);
                    *s += t * t;
                }
            }
            (acc.iter().sum::<f64>() + tail).sqrt()
        }
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

/// The rows of `rows` (`d` features each) reordered so that consecutive runs
/// of `block` rows are spatially compact: halved at the median of the widest
/// feature, with every left part a multiple of `block` rows, until a part fits
/// in one block. Returns the original row of each position.
fn spatial_order(rows: &[f32], d: usize, block: usize) -> Vec<u32> {
    let n = rows.len() / d.max(1);
    let mut order: Vec<u32> = (0..n as u32).collect();
    let mut parts = vec![(0, n)];
    let (mut lo, mut hi) = (vec![0.0f32; d], vec![0.0f32; d]);
    while let Some((s, e)) = parts.pop() {
        if e - s <= block {
            continue;
        }
        lo.fill(f32::INFINITY);
        hi.fill(f32::NEG_INFINITY);
        for &i in &order[s..e] {
            let row = &rows[i as usize * d..(i as usize + 1) * d];
            for ((l, h), &v) in lo.iter_mut().zip(hi.iter_mut()).zip(row) {
                *l = l.min(v);
                *h = h.max(v);
            }
        }
        let (dim, spread) = widest_dimension(&lo, &hi);
        if spread <= 0.0 {
            continue;
        }
        let left = ((e - s) / 2).div_ceil(block) * block;
        if left >= e - s {
            continue;
        }
        order[s..e].select_nth_unstable_by(left, |&a, &b| {
            rows[a as usize * d + dim].total_cmp(&rows[b as usize * d + dim])
        });
        parts.push((s, s + left));
        parts.push((s + left, e));
    }
    order
}

impl Index {
    /// Prepares `data` (already validated: non-empty, finite) for search.
    pub fn new(data: Matrix, metric: Metric, reads: Reads) -> Self {
        let use_tree = metric == Metric::Euclidean
            && data.cols() <= TREE_MAX_FEATURES
            && (reads == Reads::Neighbours || data.rows() >= TREE_MIN_ROWS);
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
            gemm_norms(metric, gemm_rows.as_ref().unwrap_or(&data).as_slice(), d)
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
        self.search_with(query, k, true)
    }

    /// [`Index::search`]; `symmetric = false` forces the one-sided self-search (tests).
    fn search_with(&self, query: Option<MatrixView<'_>>, k: usize, symmetric: bool) -> Neighbours {
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
        if exclude_self && symmetric {
            if let Some(nb) = self.search_self_symmetric(k) {
                return nb;
            }
        }
        let search_block = |(block, (dist_out, idx_out)): (usize, (&mut [f64], &mut [u32]))| {
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
            let q_norms = gemm_norms(self.metric, qrows, d);
            let scale = dot_scale(self.metric);
            let mut best = vec![(f32::INFINITY, u32::MAX); rows * k];
            let mut dots = vec![0.0f32; rows * REF_BLOCK.min(n)];
            for ref_first in (0..n).step_by(REF_BLOCK) {
                let ref_rows = REF_BLOCK.min(n - ref_first);
                let block_ref = &reference[ref_first * d..(ref_first + ref_rows) * d];
                dot_block(qrows, block_ref, d, &mut dots, 0.0, 1.0);
                let r_norms = &self.sq_norms[ref_first..ref_first + ref_rows];
                for i in 0..rows {
                    let self_j = if exclude_self { first + i } else { usize::MAX };
                    scan_row(
                        &mut best[i * k..(i + 1) * k],
                        &dots[i * ref_rows..(i + 1) * ref_rows],
                        r_norms,
                        q_norms[i],
                        scale,
                        ref_first,
                        self_j,
                    );
                }
            }
            for i in 0..rows {
                self.finish_row(
                    q.row(first + i),
                    &best[i * k..(i + 1) * k],
                    &mut dist_out[i * k..(i + 1) * k],
                    &mut idx_out[i * k..(i + 1) * k],
                );
            }
        };
        let chunk = QUERY_BLOCK * k;
        if m.saturating_mul(n).saturating_mul(d) <= SERIAL_WORK {
            dist.chunks_mut(chunk)
                .zip(idx.chunks_mut(chunk))
                .enumerate()
                .for_each(search_block);
        } else {
            dist.par_chunks_mut(chunk)
                .zip(idx.par_chunks_mut(chunk))
                .enumerate()
                .for_each(search_block);
        }
        Neighbours { k, dist, idx }
    }

    /// Recomputes the distances of the `k` winners of `qrow` exactly and writes
    /// them, nearest first (ties by index), to `dist` and `idx`.
    fn finish_row(&self, qrow: &[f32], best: &[(f32, u32)], dist: &mut [f64], idx: &mut [u32]) {
        // An insertion sort in place: `best` is nearly in order already, and
        // this runs once per query row (a sorted Vec per row cost more).
        for (t, &(_, j)) in best.iter().enumerate() {
            let dv = exact_distance(self.metric, qrow, self.data.row(j as usize));
            let mut pos = t;
            while pos > 0 && (dist[pos - 1], idx[pos - 1]) > (dv, j) {
                dist[pos] = dist[pos - 1];
                idx[pos] = idx[pos - 1];
                pos -= 1;
            }
            dist[pos] = dv;
            idx[pos] = j;
        }
    }

    /// [`Index::search`] of the reference rows against themselves, each row
    /// excluded from its own neighbours, computing each pair's distance once
    /// (see the module doc). `None` when the per-thread buffers would be too large.
    fn search_self_symmetric(&self, k: usize) -> Option<Neighbours> {
        let d = self.data.cols();
        let n = self.data.rows();
        let threads = rayon::current_num_threads().max(1);
        if threads * n * k * std::mem::size_of::<(f32, u32)>() > SELF_BUFFER_BYTES {
            return None;
        }
        let source = self.gemm_rows.as_ref().unwrap_or(&self.data).as_slice();
        // Rows in a spatial order, so that a block holds nearby rows: its own
        // tile (scored first) then gives each row a nearly final k-th distance,
        // and the far tiles' candidates mostly fail the vectorised test.
        let perm = spatial_order(source, d, SELF_BLOCK);
        let rows: Vec<f32> = perm
            .iter()
            .flat_map(|&i| source[i as usize * d..(i as usize + 1) * d].iter().copied())
            .collect();
        let norms: Vec<f32> = perm.iter().map(|&i| self.sq_norms[i as usize]).collect();
        let blocks = n.div_ceil(SELF_BLOCK);
        // Nearby blocks first: by increasing block distance.
        let mut pairs: Vec<(usize, usize)> = (0..blocks)
            .flat_map(|a| (a..blocks).map(move |b| (a, b)))
            .collect();
        pairs.sort_by_key(|&(a, b)| (b - a, a));
        let scale = dot_scale(self.metric);
        let serial = n.saturating_mul(n).saturating_mul(d) <= SERIAL_WORK;
        let tile_dots = |a: usize, b: usize, dots: &mut Vec<f32>| {
            let (a0, a1) = (a * SELF_BLOCK, ((a + 1) * SELF_BLOCK).min(n));
            let (b0, b1) = (b * SELF_BLOCK, ((b + 1) * SELF_BLOCK).min(n));
            dots.resize((a1 - a0) * (b1 - b0), 0.0);
            dot_block(
                &rows[a0 * d..a1 * d],
                &rows[b0 * d..b1 * d],
                d,
                dots,
                0.0,
                1.0,
            );
            (a0, a1, b0, b1)
        };
        // Phase 1, the diagonal tiles: each touches only its own block's rows,
        // so they fill one shared buffer in parallel, and every row starts the
        // off-diagonal phase with its k-th distance within its (compact) block.
        let mut shared = vec![(f32::INFINITY, u32::MAX); n * k];
        let diagonal = |(a, own): (usize, &mut [(f32, u32)])| {
            let mut dots = Vec::new();
            let (a0, a1, _, _) = tile_dots(a, a, &mut dots);
            let tile = Tile {
                a_norms: &norms[a0..a1],
                b_norms: &norms[a0..a1],
                a0: 0,
                b0: 0,
                scale,
                both_ways: false,
            };
            scan_tile(own, k, &mut dots, &tile);
            // The tile was scanned with block-local ids.
            own.iter_mut()
                .filter(|c| c.1 != u32::MAX)
                .for_each(|c| c.1 += a0 as u32);
        };
        let chunk = SELF_BLOCK * k;
        if serial {
            shared.chunks_mut(chunk).enumerate().for_each(diagonal);
        } else {
            shared.par_chunks_mut(chunk).enumerate().for_each(diagonal);
        }
        // Phase 2, the other tiles, nearby blocks first. Each worker owns a
        // copy of the shared buffer and takes pairs in that order from a
        // counter, so no two write the same buffer.
        pairs.retain(|&(a, b)| a != b);
        let workers = if serial {
            1
        } else {
            threads.min(pairs.len()).max(1)
        };
        let next = std::sync::atomic::AtomicUsize::new(0);
        let work = |mut best: Vec<(f32, u32)>| -> Vec<(f32, u32)> {
            let mut dots = Vec::new();
            while let Some(&(a, b)) =
                pairs.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
            {
                let (a0, a1, b0, b1) = tile_dots(a, b, &mut dots);
                let tile = Tile {
                    a_norms: &norms[a0..a1],
                    b_norms: &norms[b0..b1],
                    a0,
                    b0,
                    scale,
                    both_ways: true,
                };
                scan_tile(&mut best, k, &mut dots, &tile);
            }
            best
        };
        let buffers: Vec<Vec<(f32, u32)>> = if workers == 1 {
            vec![work(shared)]
        } else {
            let copies: Vec<Vec<(f32, u32)>> = (0..workers).map(|_| shared.clone()).collect();
            copies.into_par_iter().map(work).collect()
        };
        let mut position = vec![0u32; n];
        for (p, &i) in perm.iter().enumerate() {
            position[i as usize] = p as u32;
        }
        let mut dist = vec![0.0f64; n * k];
        let mut idx = vec![0u32; n * k];
        let merge_row =
            |(merged, heads): &mut (Vec<(f32, u32)>, Vec<usize>),
             (i, (dist_row, idx_row)): (usize, (&mut [f64], &mut [u32]))| {
                // Every off-diagonal pair was scored in exactly one buffer and the
                // diagonal ones are in all of them (identical entries): the k best
                // distinct candidates of their union win. Each buffer row is
                // ascending, so they are merged, not sorted (a sort of the 2k
                // entries per row was a tenth of LOF's time).
                let p = position[i] as usize;
                merged.clear();
                heads.clear();
                heads.resize(buffers.len(), 0);
                while merged.len() < k {
                    let mut next: Option<(usize, (f32, u32))> = None;
                    for (b, buffer) in buffers.iter().enumerate() {
                        let Some(&c) = buffer[p * k..(p + 1) * k].get(heads[b]) else {
                            continue;
                        };
                        if c.1 == u32::MAX {
                            continue;
                        }
                        if next.is_none_or(|(_, n)| (c.0.to_bits(), c.1) < (n.0.to_bits(), n.1)) {
                            next = Some((b, c));
                        }
                    }
                    let Some((b, (d2, j))) = next else { break };
                    heads[b] += 1;
                    let j = perm[j as usize];
                    // Copies of one candidate share its distance, so a repeat
                    // can only sit among the last entries of equal distance.
                    let repeat = merged
                        .iter()
                        .rev()
                        .take_while(|m| m.0.to_bits() == d2.to_bits())
                        .any(|m| m.1 == j);
                    if !repeat {
                        merged.push((d2, j));
                    }
                }
                self.finish_row(self.data.row(i), merged, dist_row, idx_row);
            };
        if serial {
            let mut scratch = (Vec::with_capacity(k), Vec::new());
            dist.chunks_mut(k)
                .zip(idx.chunks_mut(k))
                .enumerate()
                .for_each(|row| merge_row(&mut scratch, row));
        } else {
            dist.par_chunks_mut(k)
                .zip(idx.par_chunks_mut(k))
                .enumerate()
                .for_each_init(|| (Vec::new(), Vec::new()), merge_row);
        }
        Some(Neighbours { k, dist, idx })
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
    fn symmetric_self_search_matches_the_one_sided_one() {
        // Several blocks, a partial last block, and duplicated rows (ties).
        let mut data = random(3 * SELF_BLOCK + 11, 5, 3);
        let dup = data.row(7).to_vec();
        data.row_mut(500).copy_from_slice(&dup);
        for metric in [Metric::Euclidean, Metric::Cosine] {
            let index = Index::with_strategy(data.clone(), metric, false);
            let sym = index.search_with(None, 6, true);
            let one = index.search_with(None, 6, false);
            for (a, b) in sym.dist.iter().zip(&one.dist) {
                assert!((a - b).abs() < 1e-5, "{metric:?}: {a} vs {b}");
            }
            assert!((0..data.rows()).all(|i| !sym.idx_row(i).contains(&(i as u32))));
            assert_eq!(sym.dist_row(7)[0], 0.0);
            assert_eq!(sym.idx_row(7)[0], 500);
        }
    }

    #[test]
    fn below_marks_exactly_the_lanes_under_their_limits() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        for _ in 0..200 {
            let lane: [f32; LANES] = std::array::from_fn(|_| f32::from(rng.random_range(0u8..8)));
            // Limits equal to a lane's value must not mark it.
            let limits: [u32; LANES] =
                std::array::from_fn(|_| f32::from(rng.random_range(0u8..8)).to_bits());
            let want = (0..LANES).fold(0u32, |m, t| {
                m | (u32::from(lane[t] < f32::from_bits(limits[t])) << t)
            });
            assert_eq!(below(&lane, &limits), want);
        }
    }

    #[test]
    fn nonneg_bits_order_like_the_clamped_values() {
        let xs = [-3.5f32, -0.0, 0.0, 1e-30, 0.25, 1.0, 7.5, f32::INFINITY];
        for &a in &xs {
            assert_eq!(f32::from_bits(nonneg_bits(a)), a.max(0.0) + 0.0);
            for &b in &xs {
                let (ca, cb) = (a.max(0.0), b.max(0.0));
                assert_eq!(nonneg_bits(a) < nonneg_bits(b), ca < cb, "{a} vs {b}");
            }
        }
    }

    #[test]
    fn symmetric_self_search_matches_brute_force_for_large_k() {
        // k = 20 (LOF's default) with many exact duplicates: ties at distance 0
        // and several candidates inserted per lane, in both scan directions.
        // Over SERIAL_WORK, so the parallel phases and the merge of the
        // workers' buffers (diagonal candidates in each) are exercised.
        let mut data = random(4 * SELF_BLOCK + 37, 20, 4);
        assert!(data.rows() * data.rows() * data.cols() > SERIAL_WORK);
        for i in (0..data.rows()).step_by(9) {
            let src = data.row(i / 3).to_vec();
            data.row_mut(i).copy_from_slice(&src);
        }
        let index = Index::with_strategy(data.clone(), Metric::Euclidean, false);
        let nb = index.search(None, 20);
        for i in 0..data.rows() {
            let want = brute(&data, data.row(i), 20, Some(i), Metric::Euclidean);
            for (a, b) in nb.dist_row(i).iter().zip(&want) {
                assert!((a - b).abs() < 1e-5, "row {i}: {a} vs {b}");
            }
            assert!(!nb.idx_row(i).contains(&(i as u32)));
        }
    }

    #[test]
    fn selection_on_diagonal_tiles_matches_brute_force() {
        // k ≥ SELECT_MIN_K: a last block of one row; a set of k + 1 rows, where
        // every other row is a neighbour; duplicates for ties at distance 0.
        let mut data = random(SELF_BLOCK + 1, 4, 8);
        let dup = data.row(3).to_vec();
        data.row_mut(SELF_BLOCK).copy_from_slice(&dup);
        let tiny = random(SELECT_MIN_K + 1, 3, 9);
        for (data, k) in [(data, 2 * SELECT_MIN_K), (tiny, SELECT_MIN_K)] {
            let nb = Index::with_strategy(data.clone(), Metric::Euclidean, false).search(None, k);
            for i in 0..data.rows() {
                let want = brute(&data, data.row(i), k, Some(i), Metric::Euclidean);
                for (a, b) in nb.dist_row(i).iter().zip(&want) {
                    assert!((a - b).abs() < 1e-5, "k {k} row {i}: {a} vs {b}");
                }
                let mut ids = nb.idx_row(i).to_vec();
                ids.sort_unstable();
                ids.dedup();
                assert_eq!(ids.len(), k);
                assert!(!ids.contains(&(i as u32)));
            }
        }
    }

    #[test]
    fn small_low_dimensional_sets_use_the_tree_only_when_neighbours_are_read() {
        let small = random(TREE_MIN_ROWS - 1, 4, 10);
        let large = random(TREE_MIN_ROWS, 4, 11);
        let wide = random(TREE_MIN_ROWS, TREE_MAX_FEATURES + 1, 12);
        let tree = |m: &Matrix, reads| {
            Index::new(m.clone(), Metric::Euclidean, reads)
                .tree
                .is_some()
        };
        assert!(!tree(&small, Reads::Distances));
        assert!(tree(&small, Reads::Neighbours));
        assert!(tree(&large, Reads::Distances));
        assert!(!tree(&wide, Reads::Neighbours));
        assert!(Index::new(large, Metric::Cosine, Reads::Neighbours)
            .tree
            .is_none());
    }

    #[test]
    fn spatial_order_is_a_permutation_of_compact_blocks() {
        let data = random(5 * 64 + 3, 4, 6);
        let order = spatial_order(data.as_slice(), 4, 64);
        let mut seen = order.clone();
        seen.sort_unstable();
        assert!(seen.iter().enumerate().all(|(i, &j)| i == j as usize));
        // Each block is narrower than the whole set along the first split feature.
        let spread = |rows: &[u32], j: usize| {
            let v: Vec<f32> = rows.iter().map(|&i| data.row(i as usize)[j]).collect();
            v.iter().cloned().fold(f32::MIN, f32::max) - v.iter().cloned().fold(f32::MAX, f32::min)
        };
        let widest = (0..4).map(|j| spread(&order, j)).fold(0.0f32, f32::max);
        for block in order.chunks(64) {
            assert!((0..4).any(|j| spread(block, j) < 0.75 * widest));
        }
    }

    #[test]
    fn tree_self_search_matches_brute_force() {
        let data = random(1500, 6, 5);
        for k in [1, 5, 20] {
            let tree = Index::with_strategy(data.clone(), Metric::Euclidean, true).search(None, k);
            for i in 0..data.rows() {
                let want = brute(&data, data.row(i), k, Some(i), Metric::Euclidean);
                assert_eq!(tree.dist_row(i), &want[..], "k {k} row {i}");
            }
        }
    }

    #[test]
    fn duplicates_are_at_distance_zero() {
        // 300 identical rows: more than one k-d tree leaf and one GEMM block.
        for tree in [false, true] {
            let mut v = vec![1.0; 300];
            v.push(5.0);
            let data = Matrix::new(v, 301, 1).unwrap();
            let index = Index::with_strategy(data, Metric::Euclidean, tree);
            let nb = index.search(None, 1);
            assert!(nb.dist[..300].iter().all(|&d| d == 0.0));
            assert_eq!(nb.dist[300], 4.0);
            assert_ne!(nb.idx[0], 0);
        }
    }
}
