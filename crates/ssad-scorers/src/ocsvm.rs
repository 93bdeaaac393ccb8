//! One-class SVM with an RBF kernel (PyOD `OCSVM`, i.e. scikit-learn's
//! `OneClassSVM`, i.e. libsvm's one-class formulation).
//!
//! The dual `min ½ αᵀQα` subject to `0 ≤ αᵢ ≤ 1`, `Σαᵢ = ν·n` is solved by SMO
//! as libsvm does it: the second-order working-set selection of Fan, Chen & Lin
//! (2005), shrinking with gradient reconstruction, and an LRU cache of kernel
//! columns stored in `f32` like libsvm's `Qfloat`. The starting point is
//! libsvm's (the first `⌊ν·n⌋` multipliers at 1), so the solution and `ρ` match
//! it to within the stopping tolerance. When the whole `n × n` kernel matrix
//! fits `full_kernel_mib` (`4·n²` bytes; n ≤ 8192 at the default 256 MiB),
//! it is computed up front with `f64` GEMM blocks in parallel over
//! row blocks, and the solver reads its columns from it (libsvm computes
//! each column on demand, one row at a time). Larger problems fall back to the
//! LRU cache, whose initial gradient is also computed with GEMM blocks.
//!
//! The score is `−decision_function = ρ − Σᵢ αᵢ K(xᵢ, x)`, PyOD's convention.

use std::sync::Arc;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use ssad_core::{Matrix, MatrixView};

use crate::distance::{dot_block, SERIAL_WORK};
use crate::persist::State;
use crate::{check, Error, FittedScorer, Result, Scorer};

/// libsvm's floor for a non-positive curvature.
const TAU: f64 = 1e-12;
/// Upper bound of every multiplier in the one-class problem.
const C: f64 = 1.0;
const BLOCK: usize = 256;

/// The RBF kernel width `γ` in `exp(−γ‖x − y‖²)`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Gamma {
    /// `1 / n_features` (PyOD's default `'auto'`).
    #[default]
    Auto,
    /// `1 / (n_features · Var[X])`, scikit-learn's `'scale'`.
    Scale,
    /// A fixed value.
    Value(f64),
}

/// One-class SVM config; defaults are PyOD's (`nu=0.5`, `gamma='auto'`,
/// `tol=1e-3`, shrinking, 200 MB kernel cache), plus the whole kernel matrix
/// precomputed up to 256 MiB (n ≤ 8192).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OcsvmConfig {
    /// Upper bound on the fraction of training errors, lower bound on the fraction of support vectors.
    pub nu: f64,
    /// RBF kernel width.
    pub gamma: Gamma,
    /// Stopping tolerance on the maximal KKT violation.
    pub tol: f64,
    /// Shrink bounded multipliers out of the active set (libsvm's `-h 1`).
    pub shrinking: bool,
    /// Kernel cache size in MiB (for problems whose whole kernel matrix is
    /// larger than `full_kernel_mib`).
    pub cache_mib: usize,
    /// Precompute the whole `n × n` kernel matrix (`4n²` bytes) when it fits
    /// in this many MiB, instead of caching columns; 0 = always cache. Only
    /// speed and memory depend on it, not the solution.
    pub full_kernel_mib: usize,
}

impl Default for OcsvmConfig {
    fn default() -> Self {
        Self {
            nu: 0.5,
            gamma: Gamma::Auto,
            tol: 1e-3,
            shrinking: true,
            cache_mib: 200,
            full_kernel_mib: 256,
        }
    }
}

/// A fitted one-class SVM: support vectors, their multipliers and `ρ`.
#[derive(Debug, Clone)]
pub struct FittedOcsvm {
    config: OcsvmConfig,
    gamma: f64,
    support: Matrix,
    support64: Vec<f64>,
    support_sq: Vec<f64>,
    alpha: Vec<f64>,
    rho: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bound {
    Lower,
    Upper,
    Free,
}

fn bound(a: f64) -> Bound {
    if a >= C {
        Bound::Upper
    } else if a <= 0.0 {
        Bound::Lower
    } else {
        Bound::Free
    }
}

/// Dot product with independent accumulators so it vectorises.
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0f64; 4];
    let split = a.len() / 4 * 4;
    for (x, y) in a[..split].chunks_exact(4).zip(b[..split].chunks_exact(4)) {
        for l in 0..4 {
            acc[l] += x[l] * y[l];
        }
    }
    let tail: f64 = a[split..].iter().zip(&b[split..]).map(|(x, y)| x * y).sum();
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// Training rows in `f64` with their squared norms: everything the kernel needs.
struct Kernel {
    x: Vec<f64>,
    d: usize,
    sq: Vec<f64>,
    gamma: f64,
}

impl Kernel {
    fn value(&self, i: usize, j: usize) -> f64 {
        let (d, x) = (self.d, &self.x);
        let ij = dot(&x[i * d..(i + 1) * d], &x[j * d..(j + 1) * d]);
        (-self.gamma * (self.sq[i] + self.sq[j] - 2.0 * ij)).exp()
    }

    /// Column `i` in original row order, as libsvm's `float` cache holds it.
    fn column(&self, i: usize) -> Arc<[f32]> {
        let n = self.sq.len();
        let mut col = vec![0.0f32; n];
        let fill = |(j0, chunk): (usize, &mut [f32])| {
            for (t, v) in chunk.iter_mut().enumerate() {
                *v = self.value(i, j0 * 4096 + t) as f32;
            }
        };
        if n * self.d > 1 << 16 {
            col.par_chunks_mut(4096).enumerate().for_each(fill);
        } else {
            col.chunks_mut(4096).enumerate().for_each(fill);
        }
        col.into()
    }
}

/// Least-recently-used cache of kernel columns, keyed by original row.
struct Cache {
    columns: Vec<Option<Arc<[f32]>>>,
    last_used: Vec<u64>,
    clock: u64,
    held: usize,
    capacity: usize,
}

impl Cache {
    fn new(n: usize, mib: usize) -> Self {
        let capacity = ((mib << 20) / (4 * n.max(1))).max(2);
        Self {
            columns: vec![None; n],
            last_used: vec![0; n],
            clock: 0,
            held: 0,
            capacity,
        }
    }

    fn get(&mut self, i: usize, kernel: &Kernel) -> Arc<[f32]> {
        self.clock += 1;
        self.last_used[i] = self.clock;
        if let Some(c) = &self.columns[i] {
            return c.clone();
        }
        if self.held >= self.capacity {
            // An O(n) scan per eviction is small next to the O(n·d) column it replaces.
            let victim = (0..self.columns.len())
                .filter(|&j| self.columns[j].is_some())
                .min_by_key(|&j| self.last_used[j]);
            if let Some(v) = victim {
                self.columns[v] = None;
                self.held -= 1;
            }
        }
        let c = kernel.column(i);
        self.columns[i] = Some(c.clone());
        self.held += 1;
        c
    }
}

/// One kernel column: a row of the precomputed matrix, or a cached column.
enum Column<'a> {
    Full(&'a [f32]),
    Cached(Arc<[f32]>),
}

impl std::ops::Deref for Column<'_> {
    type Target = [f32];

    fn deref(&self) -> &[f32] {
        match self {
            Column::Full(c) => c,
            Column::Cached(c) => c,
        }
    }
}

/// The whole kernel matrix in `f32` (symmetric, so row `i` is column `i`),
/// rounded from `f64` like libsvm's `Qfloat`. The blocks on and above the
/// diagonal are computed (half the GEMM and `exp` work), the rest mirrored.
fn full_kernel(kernel: &Kernel) -> Vec<f32> {
    let (n, d) = (kernel.sq.len(), kernel.d);
    let mut k = vec![0.0f32; n * n];
    let fill_rows = |(b, rows_out): (usize, &mut [f32])| {
        let first = b * BLOCK;
        let rows = rows_out.len() / n;
        let q = &kernel.x[first * d..(first + rows) * d];
        let mut dots = vec![0.0f64; rows * BLOCK.min(n)];
        // Only the blocks on and right of the diagonal: the rest is mirrored below.
        for c_first in (first..n).step_by(BLOCK) {
            let cols = BLOCK.min(n - c_first);
            dot_block(
                q,
                &kernel.x[c_first * d..(c_first + cols) * d],
                d,
                &mut dots,
                0.0,
                1.0,
            );
            for i in 0..rows {
                let qn = kernel.sq[first + i];
                let out = &mut rows_out[i * n + c_first..i * n + c_first + cols];
                for ((o, &dt), &rn) in out
                    .iter_mut()
                    .zip(&dots[i * cols..(i + 1) * cols])
                    .zip(&kernel.sq[c_first..c_first + cols])
                {
                    *o = (-kernel.gamma * (qn + rn - 2.0 * dt)).exp() as f32;
                }
            }
        }
    };
    if n.saturating_mul(n).saturating_mul(d) <= SERIAL_WORK {
        k.chunks_mut(BLOCK * n).enumerate().for_each(fill_rows);
    } else {
        k.par_chunks_mut(BLOCK * n).enumerate().for_each(fill_rows);
    }
    // Left of the diagonal blocks, K[i, j] = K[j, i], copied in cache-sized tiles.
    const TILE: usize = 64;
    for i0 in (BLOCK..n).step_by(TILE) {
        let left = i0 / BLOCK * BLOCK;
        for j0 in (0..left).step_by(TILE) {
            for i in i0..(i0 + TILE).min(n) {
                for j in j0..(j0 + TILE).min(left) {
                    k[i * n + j] = k[j * n + i];
                }
            }
        }
    }
    k
}

/// `out[i] = Σ_j w[j]·K[i, j]` over the first `w.len()` columns of the full
/// matrix, summed in `f64` in column order as libsvm builds its gradient.
fn matrix_sums(k: &[f32], n: usize, w: &[f64]) -> Vec<f64> {
    let row_sum = |row: &[f32]| -> f64 {
        row.iter()
            .zip(w)
            .filter(|(_, &wj)| wj != 0.0)
            .map(|(&kij, &wj)| wj * f64::from(kij))
            .sum()
    };
    if n.saturating_mul(w.len()) <= SERIAL_WORK {
        k.chunks(n).map(row_sum).collect()
    } else {
        k.par_chunks(n).map(row_sum).collect()
    }
}

/// libsvm's `Solver` specialised to the one-class problem (all `y = +1`, `p = 0`).
struct Solver<'a> {
    kernel: &'a Kernel,
    /// The precomputed kernel matrix, when it fits the cache budget.
    full: Option<&'a [f32]>,
    cache: Cache,
    eps: f64,
    shrinking: bool,
    unshrink: bool,
    active: usize,
    /// Position → original row.
    perm: Vec<usize>,
    alpha: Vec<f64>,
    status: Vec<Bound>,
    g: Vec<f64>,
    g_bar: Vec<f64>,
    qd: Vec<f64>,
}

impl<'a> Solver<'a> {
    fn l(&self) -> usize {
        self.alpha.len()
    }

    fn swap(&mut self, a: usize, b: usize) {
        self.perm.swap(a, b);
        self.alpha.swap(a, b);
        self.status.swap(a, b);
        self.g.swap(a, b);
        self.g_bar.swap(a, b);
        self.qd.swap(a, b);
    }

    fn column(&mut self, pos: usize) -> Column<'a> {
        let i = self.perm[pos];
        match self.full {
            Some(k) => {
                let n = self.l();
                Column::Full(&k[i * n..(i + 1) * n])
            }
            None => Column::Cached(self.cache.get(i, self.kernel)),
        }
    }

    /// Second-order working-set selection (libsvm's WSS3); `None` when optimal.
    fn select_working_set(&mut self) -> Option<(usize, usize)> {
        let mut gmax = f64::NEG_INFINITY;
        let mut gmax_idx = None;
        for t in 0..self.active {
            if self.status[t] != Bound::Upper && -self.g[t] >= gmax {
                gmax = -self.g[t];
                gmax_idx = Some(t);
            }
        }
        let i = gmax_idx?;
        let qi = self.column(i);
        let mut gmax2 = f64::NEG_INFINITY;
        let mut gmin_idx = None;
        let mut obj_diff_min = f64::INFINITY;
        for j in 0..self.active {
            if self.status[j] == Bound::Lower {
                continue;
            }
            let grad_diff = gmax + self.g[j];
            if self.g[j] >= gmax2 {
                gmax2 = self.g[j];
            }
            if grad_diff > 0.0 {
                let quad = self.qd[i] + self.qd[j] - 2.0 * f64::from(qi[self.perm[j]]);
                let obj_diff = -(grad_diff * grad_diff) / if quad > 0.0 { quad } else { TAU };
                if obj_diff <= obj_diff_min {
                    gmin_idx = Some(j);
                    obj_diff_min = obj_diff;
                }
            }
        }
        if gmax + gmax2 < self.eps {
            return None;
        }
        gmin_idx.map(|j| (i, j))
    }

    fn be_shrunk(&self, i: usize, gmax1: f64, gmax2: f64) -> bool {
        match self.status[i] {
            Bound::Upper => -self.g[i] > gmax1,
            Bound::Lower => self.g[i] > gmax2,
            Bound::Free => false,
        }
    }

    fn do_shrinking(&mut self) {
        let (mut gmax1, mut gmax2) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
        for i in 0..self.active {
            if self.status[i] != Bound::Upper {
                gmax1 = gmax1.max(-self.g[i]);
            }
            if self.status[i] != Bound::Lower {
                gmax2 = gmax2.max(self.g[i]);
            }
        }
        if !self.unshrink && gmax1 + gmax2 <= self.eps * 10.0 {
            self.unshrink = true;
            self.reconstruct_gradient();
            self.active = self.l();
        }
        let mut i = 0;
        while i < self.active {
            if self.be_shrunk(i, gmax1, gmax2) {
                self.active -= 1;
                while self.active > i {
                    if !self.be_shrunk(self.active, gmax1, gmax2) {
                        self.swap(i, self.active);
                        break;
                    }
                    self.active -= 1;
                }
            }
            i += 1;
        }
    }

    /// Recomputes the gradient of the shrunk positions from `G_bar` and the free multipliers.
    fn reconstruct_gradient(&mut self) {
        let l = self.l();
        if self.active == l {
            return;
        }
        for j in self.active..l {
            self.g[j] = self.g_bar[j];
        }
        let n_free = (0..self.active)
            .filter(|&j| self.status[j] == Bound::Free)
            .count();
        if n_free * l > 2 * self.active * (l - self.active) {
            for i in self.active..l {
                let qi = self.column(i);
                let mut acc = 0.0;
                for j in 0..self.active {
                    if self.status[j] == Bound::Free {
                        acc += self.alpha[j] * f64::from(qi[self.perm[j]]);
                    }
                }
                self.g[i] += acc;
            }
        } else {
            for i in 0..self.active {
                if self.status[i] == Bound::Free {
                    let qi = self.column(i);
                    let a = self.alpha[i];
                    for j in self.active..l {
                        self.g[j] += a * f64::from(qi[self.perm[j]]);
                    }
                }
            }
        }
    }

    fn update_pair(&mut self, i: usize, j: usize) {
        let l = self.l();
        let qi = self.column(i);
        let qj = self.column(j);
        let (old_i, old_j) = (self.alpha[i], self.alpha[j]);
        let mut quad = self.qd[i] + self.qd[j] - 2.0 * f64::from(qi[self.perm[j]]);
        if quad <= 0.0 {
            quad = TAU;
        }
        let delta = (self.g[i] - self.g[j]) / quad;
        let sum = old_i + old_j;
        let (mut ai, mut aj) = (old_i - delta, old_j + delta);
        if sum > C {
            if ai > C {
                ai = C;
                aj = sum - C;
            }
        } else if aj < 0.0 {
            aj = 0.0;
            ai = sum;
        }
        if sum > C {
            if aj > C {
                aj = C;
                ai = sum - C;
            }
        } else if ai < 0.0 {
            ai = 0.0;
            aj = sum;
        }
        self.alpha[i] = ai;
        self.alpha[j] = aj;
        let (dai, daj) = (ai - old_i, aj - old_j);
        for k in 0..self.active {
            let p = self.perm[k];
            self.g[k] += f64::from(qi[p]) * dai + f64::from(qj[p]) * daj;
        }
        for (pos, q) in [(i, &qi), (j, &qj)] {
            let was_upper = self.status[pos] == Bound::Upper;
            self.status[pos] = bound(self.alpha[pos]);
            let is_upper = self.status[pos] == Bound::Upper;
            if was_upper != is_upper {
                let s = if was_upper { -C } else { C };
                for k in 0..l {
                    self.g_bar[k] += s * f64::from(q[self.perm[k]]);
                }
            }
        }
    }

    fn solve(&mut self) {
        let l = self.l();
        let max_iter = 10_000_000usize.max(l.saturating_mul(100));
        let mut counter = l.min(1000) + 1;
        let mut iter = 0;
        while iter < max_iter {
            counter -= 1;
            if counter == 0 {
                counter = l.min(1000);
                if self.shrinking {
                    self.do_shrinking();
                }
            }
            let (i, j) = match self.select_working_set() {
                Some(pair) => pair,
                None => {
                    self.reconstruct_gradient();
                    self.active = l;
                    match self.select_working_set() {
                        Some(pair) => {
                            counter = 1;
                            pair
                        }
                        None => break,
                    }
                }
            };
            iter += 1;
            self.update_pair(i, j);
        }
        if self.active < l {
            self.reconstruct_gradient();
            self.active = l;
        }
    }

    /// libsvm's `calculate_rho`: the mean gradient over free multipliers, or
    /// the middle of the feasible interval when none is free.
    fn rho(&self) -> f64 {
        let (mut ub, mut lb) = (f64::INFINITY, f64::NEG_INFINITY);
        let (mut n_free, mut sum_free) = (0usize, 0.0);
        for i in 0..self.active {
            let g = self.g[i];
            match self.status[i] {
                Bound::Upper => lb = lb.max(g),
                Bound::Lower => ub = ub.min(g),
                Bound::Free => {
                    n_free += 1;
                    sum_free += g;
                }
            }
        }
        if n_free > 0 {
            sum_free / n_free as f64
        } else {
            (ub + lb) / 2.0
        }
    }
}

/// `out[i] = Σ_j w[j]·exp(−γ‖q_i − r_j‖²)` over blocks, with `f64` GEMM.
fn kernel_sums(
    q: &[f64],
    q_sq: &[f64],
    r: &[f64],
    r_sq: &[f64],
    w: &[f64],
    d: usize,
    gamma: f64,
) -> Vec<f64> {
    let m = q_sq.len();
    let n = r_sq.len();
    let mut out = vec![0.0f64; m];
    if n == 0 {
        return out;
    }
    let sum_block = |(b, out): (usize, &mut [f64])| {
        let first = b * BLOCK;
        let rows = out.len();
        let qb = &q[first * d..(first + rows) * d];
        let mut dots = vec![0.0f64; rows * BLOCK.min(n)];
        for r_first in (0..n).step_by(BLOCK) {
            let cols = BLOCK.min(n - r_first);
            dot_block(
                qb,
                &r[r_first * d..(r_first + cols) * d],
                d,
                &mut dots,
                0.0,
                1.0,
            );
            for (i, o) in out.iter_mut().enumerate() {
                let qn = q_sq[first + i];
                *o += dots[i * cols..(i + 1) * cols]
                    .iter()
                    .zip(&r_sq[r_first..r_first + cols])
                    .zip(&w[r_first..r_first + cols])
                    .map(|((&dt, &rn), &wj)| wj * (-gamma * (qn + rn - 2.0 * dt)).exp())
                    .sum::<f64>();
            }
        }
    };
    if m.saturating_mul(n).saturating_mul(d) <= SERIAL_WORK {
        out.chunks_mut(BLOCK).enumerate().for_each(sum_block);
    } else {
        out.par_chunks_mut(BLOCK).enumerate().for_each(sum_block);
    }
    out
}

fn to_f64(x: &[f32]) -> Vec<f64> {
    x.iter().map(|&v| f64::from(v)).collect()
}

fn sq_norms(x: &[f64], d: usize) -> Vec<f64> {
    x.chunks_exact(d).map(|r| dot(r, r)).collect()
}

impl OcsvmConfig {
    fn validate(&self) -> Result<()> {
        if !(self.nu > 0.0 && self.nu <= 1.0) {
            return Err(Error::InvalidConfig {
                field: "nu",
                reason: format!("must be in (0, 1], got {}", self.nu),
            });
        }
        check::positive_real("tol", self.tol)?;
        check::positive("cache_mib", self.cache_mib)?;
        if let Gamma::Value(g) = self.gamma {
            check::positive_real("gamma", g)?;
        }
        Ok(())
    }

    fn resolve_gamma(&self, x: MatrixView<'_>) -> f64 {
        let d = x.cols() as f64;
        match self.gamma {
            Gamma::Auto => 1.0 / d,
            Gamma::Scale => {
                let n = x.as_slice().len() as f64;
                let mean = x.as_slice().iter().map(|&v| f64::from(v)).sum::<f64>() / n;
                let var = x
                    .as_slice()
                    .iter()
                    .map(|&v| (f64::from(v) - mean).powi(2))
                    .sum::<f64>()
                    / n;
                // scikit-learn falls back to 1 for constant data.
                if var > 0.0 {
                    1.0 / (d * var)
                } else {
                    1.0
                }
            }
            Gamma::Value(g) => g,
        }
    }
}

impl Scorer for OcsvmConfig {
    type Fitted = FittedOcsvm;

    fn fit(&self, train: MatrixView<'_>) -> Result<FittedOcsvm> {
        self.validate()?;
        check::fit_input(train)?;
        let (l, d) = train.shape();
        let gamma = self.resolve_gamma(train);
        let x = to_f64(train.as_slice());
        let sq = sq_norms(&x, d);
        let kernel = Kernel { x, d, sq, gamma };

        // libsvm's start: the first ⌊ν·l⌋ multipliers at C, the next one at the remainder.
        let total = self.nu * l as f64;
        let n_full = (total as usize).min(l);
        let mut alpha = vec![0.0f64; l];
        alpha[..n_full].iter_mut().for_each(|a| *a = C);
        if n_full < l {
            alpha[n_full] = total - n_full as f64;
        }
        let starting = (n_full + 1).min(l);
        let upper_w: Vec<f64> = alpha[..starting]
            .iter()
            .map(|&a| if a >= C { C } else { 0.0 })
            .collect();
        let budget = self.full_kernel_mib.saturating_mul(1 << 20);
        let full = (l.saturating_mul(l).saturating_mul(4) <= budget).then(|| full_kernel(&kernel));
        let (g, g_bar) = match &full {
            Some(k) => (
                matrix_sums(k, l, &alpha[..starting]),
                matrix_sums(k, l, &upper_w),
            ),
            None => {
                let start_x = &kernel.x[..starting * d];
                let start_sq = &kernel.sq[..starting];
                let sums =
                    |w: &[f64]| kernel_sums(&kernel.x, &kernel.sq, start_x, start_sq, w, d, gamma);
                (sums(&alpha[..starting]), sums(&upper_w))
            }
        };
        let qd = (0..l).map(|i| kernel.value(i, i)).collect();
        let mut solver = Solver {
            kernel: &kernel,
            full: full.as_deref(),
            cache: Cache::new(if full.is_some() { 0 } else { l }, self.cache_mib),
            eps: self.tol,
            shrinking: self.shrinking,
            unshrink: false,
            active: l,
            perm: (0..l).collect(),
            status: alpha.iter().map(|&a| bound(a)).collect(),
            alpha,
            g,
            g_bar,
            qd,
        };
        solver.solve();
        let rho = solver.rho();
        let mut sv: Vec<(usize, f64)> = solver
            .perm
            .iter()
            .zip(&solver.alpha)
            .filter(|(_, &a)| a > 0.0)
            .map(|(&i, &a)| (i, a))
            .collect();
        sv.sort_unstable_by_key(|&(i, _)| i);
        let idx: Vec<usize> = sv.iter().map(|&(i, _)| i).collect();
        let support = train.select_rows(&idx)?;
        Ok(FittedOcsvm::new(
            self.clone(),
            gamma,
            support,
            sv.into_iter().map(|(_, a)| a).collect(),
            rho,
        ))
    }
}

impl FittedOcsvm {
    fn new(config: OcsvmConfig, gamma: f64, support: Matrix, alpha: Vec<f64>, rho: f64) -> Self {
        let support64 = to_f64(support.as_slice());
        let support_sq = sq_norms(&support64, support.cols());
        Self {
            config,
            gamma,
            support,
            support64,
            support_sq,
            alpha,
            rho,
        }
    }

    /// Number of support vectors.
    pub fn n_support(&self) -> usize {
        self.alpha.len()
    }

    /// The offset `ρ` of the decision function.
    pub fn rho(&self) -> f64 {
        self.rho
    }

    /// Rebuilds a fitted one-class SVM from a [`State`] made by [`FittedScorer::state`].
    pub fn from_state(config: OcsvmConfig, state: &mut State) -> Result<Self> {
        let support = state.take_matrix("support")?;
        let (_, alpha) = state.take_f64("alpha")?;
        let rho = state.take_scalar("rho")?;
        let gamma = state.take_scalar("gamma")?;
        if alpha.len() != support.rows()
            || support.cols() == 0
            || !rho.is_finite()
            || gamma.is_nan()
            || gamma <= 0.0
        {
            return Err(Error::Corrupt(
                "one-class SVM arrays are inconsistent".into(),
            ));
        }
        Ok(Self::new(config, gamma, support, alpha, rho))
    }
}

impl FittedScorer for FittedOcsvm {
    fn n_features(&self) -> usize {
        self.support.cols()
    }

    fn score(&self, x: MatrixView<'_>) -> Result<Vec<f64>> {
        check::score_input(x, self.n_features())?;
        let d = self.n_features();
        let q = to_f64(x.as_slice());
        let q_sq = sq_norms(&q, d);
        let sums = kernel_sums(
            &q,
            &q_sq,
            &self.support64,
            &self.support_sq,
            &self.alpha,
            d,
            self.gamma,
        );
        Ok(sums.into_iter().map(|s| self.rho - s).collect())
    }

    fn state(&self) -> Result<State> {
        let mut s = State::new(self.config.clone());
        s.put_matrix("support", &self.support)?
            .put_f64("alpha", &[self.alpha.len()], self.alpha.clone())?
            .put_scalar("rho", self.rho)?
            .put_scalar("gamma", self.gamma)?;
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_pyods() {
        let c = OcsvmConfig::default();
        assert_eq!(
            (
                c.nu,
                c.gamma,
                c.tol,
                c.shrinking,
                c.cache_mib,
                c.full_kernel_mib
            ),
            (0.5, Gamma::Auto, 1e-3, true, 200, 256)
        );
        assert_eq!(serde_json::from_str::<OcsvmConfig>("{}").unwrap(), c);
        let v: OcsvmConfig = serde_json::from_str(r#"{"gamma": {"value": 0.5}}"#).unwrap();
        assert_eq!(v.gamma, Gamma::Value(0.5));
    }

    #[test]
    fn solution_is_feasible_and_far_points_score_high() {
        let rows: Vec<[f32; 2]> = (0..60)
            .map(|i| [(i % 8) as f32 * 0.3, (i / 8) as f32 * 0.3])
            .collect();
        let x = Matrix::from_rows(&rows).unwrap();
        let c = OcsvmConfig::default();
        let f = c.fit(x.view()).unwrap();
        let sum: f64 = f.alpha.iter().sum();
        assert!((sum - 30.0).abs() < 1e-9, "Σα = {sum}");
        assert!(f.alpha.iter().all(|&a| a > 0.0 && a <= 1.0));
        let s = f
            .score(
                Matrix::from_rows(&[[1.0f32, 1.0], [9.0, 9.0]])
                    .unwrap()
                    .view(),
            )
            .unwrap();
        assert!(s[1] > s[0]);
    }

    #[test]
    fn evicting_cache_gives_the_same_solution_as_the_full_matrix() {
        // By default the whole 600 × 600 matrix (1.4 MiB) is precomputed;
        // with `full_kernel_mib: 0` columns are cached, and 1 MiB holds
        // 1 MiB / (4 B · 600) = 436 of the 600 columns, so some get evicted. The two paths
        // compute kernel values with different summation orders (GEMM blocks
        // vs one dot product), which may differ in the last bit of an `f32`.
        let rows: Vec<[f32; 2]> = (0..600)
            .map(|i| [(i % 23) as f32 * 0.1, (i % 17) as f32 * 0.1])
            .collect();
        let x = Matrix::from_rows(&rows).unwrap();
        let big = OcsvmConfig::default().fit(x.view()).unwrap();
        let small = OcsvmConfig {
            cache_mib: 1,
            full_kernel_mib: 0,
            ..OcsvmConfig::default()
        }
        .fit(x.view())
        .unwrap();
        assert!(Cache::new(600, 1).capacity < 600);
        // Both stop within the KKT tolerance (1e-3) of the same optimum; ρ ≈ 153 here.
        assert!(
            (big.rho - small.rho).abs() < 1e-3,
            "{} vs {}",
            big.rho,
            small.rho
        );
        let (a, b) = (big.score(x.view()).unwrap(), small.score(x.view()).unwrap());
        let worst = a
            .iter()
            .zip(&b)
            .map(|(p, q)| (p - q).abs())
            .fold(0.0, f64::max);
        assert!(worst < 1e-3, "largest score difference {worst}");
        assert!(OcsvmConfig {
            nu: 0.0,
            ..OcsvmConfig::default()
        }
        .fit(x.view())
        .is_err());
    }
}
