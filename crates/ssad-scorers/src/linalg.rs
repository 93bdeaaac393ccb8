//! Dense symmetric linear algebra in `f64`: eigendecomposition, pseudo-inverse
//! and covariance estimates, written out here so the crate needs no LAPACK.
//!
//! Matrices are row-major `n x n` slices. The eigensolver is Householder
//! tridiagonalisation followed by implicit QL with Wilkinson-style shifts; both
//! steps keep their inner loops on contiguous rows so they vectorise and split
//! over rayon for the `d ~ 1000` feature widths of deep embeddings.

use rayon::prelude::*;
use ssad_core::MatrixView;

use crate::{Error, Result};

/// Below this width the rayon overhead outweighs the parallel speed-up.
const PAR_MIN: usize = 96;

/// Rows per block when accumulating `X^T X`: large enough to amortise the
/// `d x d` accumulator traffic, small enough that a block stays in cache.
const GRAM_BLOCK: usize = 128;

/// Eigenvalues and eigenvectors of a symmetric matrix.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SymmetricEigen {
    /// Matrix order.
    pub n: usize,
    /// Eigenvalues in ascending order (the order of `numpy.linalg.eigh`).
    pub values: Vec<f64>,
    /// Eigenvectors as **rows**: row `i` (`vectors[i * n..(i + 1) * n]`) is the
    /// unit eigenvector of `values[i]`. This is the transpose of numpy's layout.
    pub vectors: Vec<f64>,
}

impl SymmetricEigen {
    /// The unit eigenvector of `values[i]`.
    pub fn vector(&self, i: usize) -> &[f64] {
        &self.vectors[i * self.n..(i + 1) * self.n]
    }
}

/// Eigendecomposition of the symmetric `n x n` matrix `a` (row-major). Like
/// `numpy.linalg.eigh` only the lower triangle is read.
pub(crate) fn symmetric_eigen(a: &[f64], n: usize) -> Result<SymmetricEigen> {
    if a.len() != n * n {
        return Err(Error::Fit(format!(
            "eigendecomposition needs {n} x {n} = {} values, got {}",
            n * n,
            a.len()
        )));
    }
    if let Some(p) = a.iter().position(|v| !v.is_finite()) {
        return Err(Error::Fit(format!(
            "matrix entry ({}, {}) is {}",
            p / n.max(1),
            p % n.max(1),
            a[p]
        )));
    }
    let mut work = a.to_vec();
    for i in 0..n {
        for j in 0..i {
            work[j * n + i] = work[i * n + j];
        }
    }
    let (mut diag, off, betas) = tridiagonalize(&mut work, n);
    let mut vectors = householder_product_transposed(&work, &betas, n);
    tridiagonal_ql(&mut diag, &off, &mut vectors, n)?;

    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| diag[i].total_cmp(&diag[j]));
    let values = order.iter().map(|&i| diag[i]).collect();
    let mut sorted = Vec::with_capacity(n * n);
    for &i in &order {
        sorted.extend_from_slice(&vectors[i * n..(i + 1) * n]);
    }
    Ok(SymmetricEigen {
        n,
        values,
        vectors: sorted,
    })
}

/// Turns `x` (a column below the diagonal) into the Householder vector `v` of
/// `H = I - beta v v^T` with `H x = off e_1`, in place; returns `(beta, off)`.
/// `beta = 0` (and `x` left as is) when `x` is already a multiple of `e_1`.
fn make_reflector(x: &mut [f64]) -> (f64, f64) {
    let scale = x.iter().fold(0.0f64, |s, v| s.max(v.abs()));
    if scale == 0.0 {
        return (0.0, 0.0);
    }
    let rest: f64 = x[1..].iter().map(|v| (v / scale).powi(2)).sum();
    if rest == 0.0 {
        return (0.0, x[0]);
    }
    let x0 = x[0] / scale;
    let norm = (x0 * x0 + rest).sqrt();
    // alpha takes the sign opposite to x0 so v0 = x0 - alpha does not cancel.
    let alpha = if x0 >= 0.0 { -norm } else { norm };
    for v in x.iter_mut() {
        *v /= scale;
    }
    x[0] = x0 - alpha;
    (2.0 / (x[0] * x[0] + rest), alpha * scale)
}

/// Reduces the symmetric `a` to tridiagonal form `Q^T a Q` by Householder
/// reflections `H_k = I - beta_k v_k v_k^T`. Returns the diagonal, the
/// off-diagonal (`off[i]` couples `i` and `i + 1`) and the `beta_k`; `v_k` is
/// left in row `k` of `a`, columns `k + 1..n`.
///
/// Step `k` updates the trailing block `B <- B - v w^T - w v^T` with
/// `p = beta B v`, `w = p - (beta/2)(p.v) v`. The product `B v` of step `k + 1`
/// is taken in the same pass over memory as the update of step `k`, so the
/// (memory-bound) reduction streams the matrix once per step instead of twice.
fn tridiagonalize(a: &mut [f64], n: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let steps = n.saturating_sub(2);
    let mut diag = vec![0.0; n];
    let mut off = vec![0.0; n.saturating_sub(1)];
    let mut betas = vec![0.0; steps];
    let mut p = vec![0.0; n];
    let mut p_next = vec![0.0; n];
    if steps > 0 {
        let (head, tail) = a.split_at_mut(n);
        let (beta, o) = make_reflector(&mut head[1..n]);
        (betas[0], off[0]) = (beta, o);
        let v: &[f64] = &head[1..n];
        let product = |(pi, row): (&mut f64, &[f64])| *pi = beta * dot(&row[1..], v);
        if n > PAR_MIN {
            p[..n - 1]
                .par_iter_mut()
                .zip(tail.par_chunks(n))
                .for_each(product);
        } else {
            p[..n - 1].iter_mut().zip(tail.chunks(n)).for_each(product);
        }
    }
    for k in 0..steps {
        diag[k] = a[k * n + k];
        let m = n - k - 1;
        let beta = betas[k];
        let (head, tail) = a.split_at_mut((k + 1) * n);
        let v: &[f64] = &head[k * n + k + 1..(k + 1) * n];
        let w = &mut p[..m];
        let half_k = 0.5 * beta * dot(w, v);
        for (wi, vi) in w.iter_mut().zip(v) {
            *wi -= half_k * vi;
        }
        let w: &[f64] = w;
        let update = |i: usize, row: &mut [f64]| {
            let (vi, wi) = (v[i], w[i]);
            for ((r, vj), wj) in row[k + 1..].iter_mut().zip(v).zip(w) {
                *r -= vi * wj + wi * vj;
            }
        };
        // Row k + 1 first: it holds the column of the next reflector.
        let (first, rest) = tail.split_at_mut(n);
        update(0, first);
        if k + 1 < steps {
            let (beta_next, o) = make_reflector(&mut first[k + 2..n]);
            (betas[k + 1], off[k + 1]) = (beta_next, o);
            let v_next: &[f64] = &first[k + 2..n];
            let fused = |(i, (row, pn)): (usize, (&mut [f64], &mut f64))| {
                update(i + 1, row);
                *pn = beta_next * dot(&row[k + 2..], v_next);
            };
            let next_product = &mut p_next[..m - 1];
            if m >= PAR_MIN {
                rest.par_chunks_mut(n)
                    .zip(next_product.par_iter_mut())
                    .enumerate()
                    .for_each(fused);
            } else {
                rest.chunks_mut(n)
                    .zip(next_product.iter_mut())
                    .enumerate()
                    .for_each(fused);
            }
            std::mem::swap(&mut p, &mut p_next);
        } else {
            rest.chunks_mut(n)
                .enumerate()
                .for_each(|(i, row)| update(i + 1, row));
        }
    }
    if n >= 2 {
        diag[n - 2] = a[(n - 2) * n + n - 2];
        off[n - 2] = a[(n - 1) * n + n - 2];
    }
    if n >= 1 {
        diag[n - 1] = a[(n - 1) * n + n - 1];
    }
    (diag, off, betas)
}

/// Reflections per block of the compact-WY accumulation of `Q`.
const WY_BLOCK: usize = 32;

/// Columns per parallel task when forming `Y^T Q`.
const WY_COLUMNS: usize = 64;

/// Forms `Q^T` for `Q = H_0 H_1 ... H_{n-3}` from the reflections left in `a`.
///
/// Reflections are applied in blocks of [`WY_BLOCK`] as `I - Y T Y^T` (LAPACK's
/// compact WY form, `dlarft`), so `Q` is streamed through memory twice per
/// block instead of twice per reflection.
fn householder_product_transposed(a: &[f64], betas: &[f64], n: usize) -> Vec<f64> {
    let mut q = vec![0.0; n * n];
    for i in 0..n {
        q[i * n + i] = 1.0;
    }
    // Last block first: each update then stays inside the trailing block,
    // where Q still differs from the identity.
    let mut end = betas.len();
    while end > 0 {
        let start = end.saturating_sub(WY_BLOCK);
        apply_reflector_block(&mut q, a, betas, n, start, end);
        end = start;
    }
    transpose(&q, n)
}

/// `Q <- H_start ... H_{end-1} Q`, on rows and columns `start + 1..n`.
fn apply_reflector_block(
    q: &mut [f64],
    a: &[f64],
    betas: &[f64],
    n: usize,
    start: usize,
    end: usize,
) {
    let b = end - start;
    let off = start + 1;
    let m = n - off;
    // Y (m x b): column j is v_{start+j}, which starts at local row j.
    let mut y = vec![0.0; m * b];
    for j in 0..b {
        let k = start + j;
        for (r, &v) in a[k * n + k + 1..(k + 1) * n].iter().enumerate() {
            y[(r + j) * b + j] = v;
        }
    }
    // T (b x b, upper): T[..i, i] = -beta_i T[..i, ..i] Y[:, ..i]^T v_i, T[i, i] = beta_i.
    let mut t = vec![0.0; b * b];
    let mut yv = vec![0.0; b];
    for i in 0..b {
        let beta = betas[start + i];
        for (jj, out) in yv[..i].iter_mut().enumerate() {
            *out = (i..m).map(|r| y[r * b + jj] * y[r * b + i]).sum();
        }
        for row in 0..i {
            let acc: f64 = (row..i).map(|c| t[row * b + c] * yv[c]).sum();
            t[row * b + i] = -beta * acc;
        }
        t[i * b + i] = beta;
    }
    // W[c] = T (Y^T Q_sub)[:, c], stored row per column c (m x b).
    let mut w = vec![0.0; m * b];
    let q_read: &[f64] = q;
    w.par_chunks_mut(WY_COLUMNS * b)
        .enumerate()
        .for_each(|(chunk, wc)| {
            let c0 = off + chunk * WY_COLUMNS;
            let width = wc.len() / b;
            for r in 0..m {
                let yr = &y[r * b..(r + 1) * b];
                let qr = &q_read[(off + r) * n + c0..(off + r) * n + c0 + width];
                for (&qv, wrow) in qr.iter().zip(wc.chunks_exact_mut(b)) {
                    axpy(qv, yr, wrow);
                }
            }
            let mut tmp = vec![0.0; b];
            for wrow in wc.chunks_exact_mut(b) {
                for (i, out) in tmp.iter_mut().enumerate() {
                    *out = dot(&t[i * b..(i + 1) * b], wrow);
                }
                wrow.copy_from_slice(&tmp);
            }
        });
    q[off * n..]
        .par_chunks_mut(n)
        .zip(y.par_chunks(b))
        .for_each(|(row, yr)| {
            for (qv, wrow) in row[off..].iter_mut().zip(w.chunks_exact(b)) {
                *qv -= dot(yr, wrow);
            }
        });
}

/// Diagonalises the symmetric tridiagonal matrix (`diag`, `off`) by implicit QL
/// iterations, applying every rotation to the rows of `vt` (rows = vectors).
fn tridiagonal_ql(diag: &mut [f64], off: &[f64], vt: &mut [f64], n: usize) -> Result<()> {
    // e[i] couples i and i + 1; e[n - 1] is a zero sentinel.
    let mut e = off.to_vec();
    e.push(0.0);
    const MAX_SWEEPS: usize = 300;
    const LOOSE_AFTER: usize = 30;
    // A coupling is negligible relative to its neighbours or, where those are
    // (near) zero — constant features give exact zero rows — relative to the
    // whole matrix; a purely relative test never deflates between two zeros.
    let norm = diag
        .iter()
        .zip(&e)
        .fold(0.0f64, |acc, (d, o)| acc.max(d.abs() + o.abs()));
    let floor = f64::EPSILON * norm;
    let mut blocks = to_column_blocks(vt, n);
    let mut rotations: Vec<(usize, f64, f64)> = Vec::with_capacity((ROTATION_BATCH + 1) * n);
    for l in 0..n {
        let mut sweeps = 0;
        loop {
            let mut m = l;
            // Rank-deficient spectra (far fewer rows than features) can stall on
            // couplings between near-zero eigenvalues that the strict test never
            // deflates; after LOOSE_AFTER sweeps, deflate below `eps·‖T‖`, which
            // moves eigenvalues by no more than the rounding already in them.
            let loose = sweeps >= LOOSE_AFTER;
            while m + 1 < n {
                let dd = diag[m].abs() + diag[m + 1].abs();
                if e[m].abs() <= f64::EPSILON * dd
                    || e[m].abs() <= f64::EPSILON * floor
                    || (loose && e[m].abs() <= floor)
                {
                    break;
                }
                m += 1;
            }
            if m == l {
                break;
            }
            sweeps += 1;
            if sweeps > MAX_SWEEPS {
                return Err(Error::Fit(format!(
                    "eigendecomposition did not converge for eigenvalue {l}"
                )));
            }
            // Shift from the leading 2x2 block, whose eigenvalue closer to diag[l] it is.
            let mut g = (diag[l + 1] - diag[l]) / (2.0 * e[l]);
            let mut r = g.hypot(1.0);
            g = diag[m] - diag[l] + e[l] / (g + r.copysign(g));
            let (mut s, mut c, mut p) = (1.0f64, 1.0f64, 0.0f64);
            let mut deflated = false;
            let mut i = m;
            while i > l {
                i -= 1;
                let f = s * e[i];
                let b = c * e[i];
                r = f.hypot(g);
                e[i + 1] = r;
                if r == 0.0 {
                    // Underflow: the problem splits here; restart the sweep.
                    diag[i + 1] -= p;
                    e[m] = 0.0;
                    deflated = true;
                    break;
                }
                s = f / r;
                c = g / r;
                g = diag[i + 1] - p;
                r = (diag[i] - g) * s + 2.0 * c * b;
                p = s * r;
                diag[i + 1] = g + p;
                g = c * r - b;
                rotations.push((i, c, s));
            }
            // Vectors never feed back into the recurrence, so rotations can wait
            // and be applied in large batches (few parallel dispatches).
            if rotations.len() >= ROTATION_BATCH * n {
                apply_rotations(&mut blocks, n, &rotations);
                rotations.clear();
            }
            if deflated {
                continue;
            }
            diag[l] -= p;
            e[l] = g;
            e[m] = 0.0;
        }
    }
    apply_rotations(&mut blocks, n, &rotations);
    from_column_blocks(&blocks, vt, n);
    Ok(())
}

/// Columns per block of the eigenvector rotations: one block (all rows x 32
/// columns, 512 KiB at n = 2048) stays in L2 cache while a batch runs over it.
const ROTATION_BLOCK: usize = 32;

/// Rotations are applied once `ROTATION_BATCH * n` have been queued.
const ROTATION_BATCH: usize = 4;

/// `vt` cut into column blocks, each stored row-major on its own, so a sweep's
/// rotations run block by block, in cache and in parallel, instead of
/// streaming two full rows through memory per rotation.
fn to_column_blocks(vt: &[f64], n: usize) -> Vec<Vec<f64>> {
    (0..n)
        .step_by(ROTATION_BLOCK)
        .map(|start| {
            let w = ROTATION_BLOCK.min(n - start);
            let mut block = Vec::with_capacity(n * w);
            for row in vt.chunks_exact(n) {
                block.extend_from_slice(&row[start..start + w]);
            }
            block
        })
        .collect()
}

fn from_column_blocks(blocks: &[Vec<f64>], vt: &mut [f64], n: usize) {
    for (b, block) in blocks.iter().enumerate() {
        let start = b * ROTATION_BLOCK;
        let w = block.len() / n.max(1);
        for (row, piece) in vt.chunks_exact_mut(n).zip(block.chunks_exact(w.max(1))) {
            row[start..start + w].copy_from_slice(piece);
        }
    }
}

/// Applies Givens rotations `(i, c, s)`, in order, to rows `i` and `i + 1`.
fn apply_rotations(blocks: &mut [Vec<f64>], n: usize, rotations: &[(usize, f64, f64)]) {
    let apply = |block: &mut Vec<f64>| {
        let w = block.len() / n;
        for &(i, c, s) in rotations {
            let (lo, hi) = block.split_at_mut((i + 1) * w);
            for (zi, zn) in lo[i * w..].iter_mut().zip(&mut hi[..w]) {
                let t = *zn;
                *zn = s * *zi + c * t;
                *zi = c * *zi - s * t;
            }
        }
    };
    if n >= PAR_MIN && rotations.len() >= 16 {
        blocks.par_iter_mut().for_each(apply);
    } else {
        blocks.iter_mut().for_each(apply);
    }
}

/// Moore-Penrose pseudo-inverse of a symmetric matrix with numpy's cutoff:
/// eigenvalues with `|lambda| <= rcond * max |lambda|` are treated as zero, as
/// `numpy.linalg.pinv(a, rcond)` does with the singular values `|lambda|`.
pub(crate) fn pinv_symmetric(a: &[f64], n: usize, rcond: f64) -> Result<Vec<f64>> {
    let eig = symmetric_eigen(a, n)?;
    Ok(pinv_from_eigen(&eig, rcond))
}

/// The pseudo-inverse `V diag(1 / lambda) V^T` over the eigenvalues above the cutoff.
pub(crate) fn pinv_from_eigen(eig: &SymmetricEigen, rcond: f64) -> Vec<f64> {
    let n = eig.n;
    let largest = eig.values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let cutoff = rcond * largest;
    // Scaled copies of the kept eigenvectors: w_k = v_k / lambda_k.
    let kept: Vec<(usize, f64)> = eig
        .values
        .iter()
        .enumerate()
        .filter(|(_, l)| l.abs() > cutoff)
        .map(|(k, &l)| (k, l))
        .collect();
    let scaled: Vec<Vec<f64>> = kept
        .iter()
        .map(|&(k, l)| eig.vector(k).iter().map(|x| x / l).collect())
        .collect();
    let mut out = vec![0.0; n * n];
    let fill = |(i, row): (usize, &mut [f64])| {
        for (&(k, _), w) in kept.iter().zip(&scaled) {
            axpy(eig.vectors[k * n + i], w, row);
        }
    };
    if n >= PAR_MIN {
        out.par_chunks_mut(n.max(1)).enumerate().for_each(fill);
    } else {
        out.chunks_mut(n.max(1)).enumerate().for_each(fill);
    }
    out
}

/// Column means of `x` in `f64`.
pub(crate) fn column_means(x: MatrixView<'_>) -> Vec<f64> {
    let d = x.cols();
    let mut sum = vec![0.0f64; d];
    for row in x.iter_rows() {
        for (s, &v) in sum.iter_mut().zip(row) {
            *s += f64::from(v);
        }
    }
    let n = x.rows().max(1) as f64;
    sum.iter_mut().for_each(|s| *s /= n);
    sum
}

/// `sum_i (x_i - mean)(x_i - mean)^T` over the rows of `x`, in `f64`
/// (the full symmetric `d x d` matrix, row-major).
pub(crate) fn centered_gram(x: MatrixView<'_>, mean: &[f64]) -> Vec<f64> {
    let d = x.cols();
    let blocks: Vec<&[f32]> = x.as_slice().chunks(GRAM_BLOCK * d.max(1)).collect();
    let gram_of_block = |block: &[f32]| -> Vec<f64> {
        let b = block.len() / d.max(1);
        // Column-major centred copy so every (i, j) entry is one contiguous dot product.
        let mut cols = vec![0.0f64; d * b];
        for (r, row) in block.chunks_exact(d).enumerate() {
            for (j, (&v, m)) in row.iter().zip(mean).enumerate() {
                cols[j * b + r] = f64::from(v) - m;
            }
        }
        let mut g = vec![0.0f64; d * d];
        for i in 0..d {
            let ci = &cols[i * b..(i + 1) * b];
            for j in i..d {
                g[i * d + j] = dot(ci, &cols[j * b..(j + 1) * b]);
            }
        }
        g
    };
    let add = |mut a: Vec<f64>, b: Vec<f64>| {
        a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
        a
    };
    let mut g = blocks
        .par_iter()
        .map(|blk| gram_of_block(blk))
        .reduce(|| vec![0.0f64; d * d], add);
    for i in 0..d {
        for j in 0..i {
            g[i * d + j] = g[j * d + i];
        }
    }
    g
}

/// Maximum-likelihood covariance (`numpy.cov(x.T, bias=True)`) and the mean.
pub(crate) fn empirical_covariance(x: MatrixView<'_>) -> (Vec<f64>, Vec<f64>) {
    let mean = column_means(x);
    let mut cov = centered_gram(x, &mean);
    let n = x.rows().max(1) as f64;
    cov.iter_mut().for_each(|c| *c /= n);
    (mean, cov)
}

/// Ledoit-Wolf shrunk covariance as `sklearn.covariance.LedoitWolf` with
/// `assume_centered=False`: returns `(mean, covariance, shrinkage)`.
///
/// scikit-learn accumulates the shrinkage sums over feature blocks of 1000 to
/// bound memory; the sums are the same, so they are taken here in closed form:
/// `sum_jk (X2^T X2)_jk = sum_i |x_i|^4` and `sum_jk (X^T X)_jk^2 = n^2 |S|_F^2`.
pub(crate) fn ledoit_wolf(x: MatrixView<'_>) -> (Vec<f64>, Vec<f64>, f64) {
    let (mean, mut cov) = empirical_covariance(x);
    let d = x.cols();
    if d <= 1 {
        // One feature: every shrinkage gives the same matrix; sklearn reports 0.
        return (mean, cov, 0.0);
    }
    let n = x.rows() as f64;
    let df = d as f64;
    let trace: f64 = (0..d).map(|i| cov[i * d + i]).sum();
    let mu = trace / df;
    let fourth: f64 = x
        .iter_rows()
        .map(|row| {
            let sq: f64 = row
                .iter()
                .zip(&mean)
                .map(|(&v, m)| (f64::from(v) - m).powi(2))
                .sum();
            sq * sq
        })
        .sum();
    let frob2: f64 = cov.iter().map(|c| c * c).sum();
    let beta = (fourth / n - frob2) / (df * n);
    let delta = (frob2 - 2.0 * mu * trace + df * mu * mu) / df;
    let beta = beta.min(delta);
    let shrinkage = if beta == 0.0 { 0.0 } else { beta / delta };
    cov.iter_mut().for_each(|c| *c *= 1.0 - shrinkage);
    for i in 0..d {
        cov[i * d + i] += shrinkage * mu;
    }
    (mean, cov, shrinkage)
}

/// `x^T a x` for the symmetric row-major `a`.
pub(crate) fn quadratic_form(a: &[f64], x: &[f64]) -> f64 {
    let n = x.len();
    a.chunks_exact(n.max(1))
        .zip(x)
        .map(|(row, xi)| xi * dot(row, x))
        .sum()
}

pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    // Four accumulators break the add dependency chain so the loop vectorises.
    let mut acc = [0.0f64; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..4 {
            acc[k] += x[k] * y[k];
        }
    }
    let tail: f64 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

fn axpy(alpha: f64, x: &[f64], y: &mut [f64]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += alpha * xi;
    }
}

fn transpose(a: &[f64], n: usize) -> Vec<f64> {
    let mut t = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            t[j * n + i] = a[i * n + j];
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reconstruct(eig: &SymmetricEigen) -> Vec<f64> {
        let n = eig.n;
        let mut out = vec![0.0; n * n];
        for (k, &l) in eig.values.iter().enumerate() {
            let v = eig.vector(k);
            for i in 0..n {
                for j in 0..n {
                    out[i * n + j] += l * v[i] * v[j];
                }
            }
        }
        out
    }

    fn lcg_matrix(n: usize, seed: u64) -> Vec<f64> {
        let mut s = seed;
        let mut next = || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 11) as f64 / (1u64 << 53) as f64) - 0.5
        };
        let mut a = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..=i {
                let v = next();
                a[i * n + j] = v;
                a[j * n + i] = v;
            }
        }
        a
    }

    fn assert_decomposes(a: &[f64], n: usize, tol: f64) {
        let eig = symmetric_eigen(a, n).unwrap();
        let back = reconstruct(&eig);
        let scale = a.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        for (x, y) in a.iter().zip(&back) {
            assert!((x - y).abs() <= tol * scale, "{x} vs {y}");
        }
        for i in 0..n {
            for j in 0..n {
                let d = dot(eig.vector(i), eig.vector(j));
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((d - want).abs() < tol, "v{i}.v{j} = {d}");
            }
        }
        assert!(eig.values.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn decomposes_random_symmetric_matrices() {
        for (n, seed) in [(1, 1), (2, 2), (3, 3), (7, 4), (40, 5), (130, 6)] {
            assert_decomposes(&lcg_matrix(n, seed), n, 1e-12);
        }
    }

    #[test]
    fn handles_repeated_and_zero_eigenvalues() {
        let n = 6;
        let mut eye = vec![0.0; n * n];
        for i in 0..n {
            eye[i * n + i] = 2.0;
        }
        assert_decomposes(&eye, n, 1e-14);
        assert_decomposes(&vec![0.0; n * n], n, 1e-14);
        // Rank one: u u^T.
        let u: Vec<f64> = (0..n).map(|i| i as f64 - 2.5).collect();
        let r1: Vec<f64> = (0..n * n).map(|p| u[p / n] * u[p % n]).collect();
        assert_decomposes(&r1, n, 1e-13);
        // Already tridiagonal and diagonal inputs skip reflections.
        let diag: Vec<f64> = (0..n * n)
            .map(|p| {
                if p / n == p % n {
                    (p / n) as f64 - 3.0
                } else {
                    0.0
                }
            })
            .collect();
        assert_decomposes(&diag, n, 1e-14);
    }

    #[test]
    fn rank_deficient_covariance_decomposes() {
        // 36 rows of 300 features (as PCA on a category of the MVTec embeddings):
        // rank 35, so 265 eigenvalues are zero up to rounding.
        let (rows, n) = (36, 300);
        let x = lcg_matrix(rows.max(n), 11);
        let x = &x[..rows * n];
        let mut cov = vec![0.0; n * n];
        for r in x.chunks_exact(n) {
            for i in 0..n {
                for j in 0..n {
                    cov[i * n + j] += r[i] * r[j] / rows as f64;
                }
            }
        }
        assert_decomposes(&cov, n, 1e-9);
    }

    #[test]
    fn recovers_a_known_ill_conditioned_degenerate_spectrum() {
        // A = Q diag(λ) Qᵀ with Q a product of three Householder reflections
        // (orthogonal by construction) and a spectrum like InternetAds'
        // 1555-feature covariance: a block of exact zeros (collinear
        // features), a large repeated eigenvalue, a tight pair, and the rest
        // spread over 14 orders of magnitude. A backward-stable solver gets
        // every eigenvalue within ~n·ε·‖A‖ ≈ 1e-9 of the truth.
        let n = 400;
        let mut want: Vec<f64> = vec![0.0; 120];
        want.extend(std::iter::repeat_n(1.0, 80));
        want.extend([1e3, 1e3 * (1.0 + 1e-12)]);
        want.extend((0..198).map(|i| 10f64.powf(-10.0 + 14.0 * i as f64 / 197.0)));
        let mut q = vec![0.0; n * n];
        for i in 0..n {
            q[i * n + i] = 1.0;
        }
        for seed in [21, 22, 23] {
            let u = &lcg_matrix(n, seed)[..n];
            let uu = dot(u, u);
            // q ← q (I − 2 u uᵀ / uᵀu)
            for row in q.chunks_exact_mut(n) {
                let c = 2.0 * dot(row, u) / uu;
                row.iter_mut().zip(u).for_each(|(r, &ui)| *r -= c * ui);
            }
        }
        let mut a = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..=i {
                let v: f64 = (0..n).map(|k| q[i * n + k] * want[k] * q[j * n + k]).sum();
                a[i * n + j] = v;
                a[j * n + i] = v;
            }
        }
        let eig = symmetric_eigen(&a, n).unwrap();
        want.sort_by(f64::total_cmp);
        let norm = want[n - 1];
        let tol = n as f64 * f64::EPSILON * norm; // worst seen: 1.1e-11 of 8.9e-10
        for (k, (got, w)) in eig.values.iter().zip(&want).enumerate() {
            assert!((got - w).abs() <= tol, "λ{k}: {got} vs {w}");
            // Residual ‖A v − λ v‖ of each computed pair.
            let v = eig.vector(k);
            let r = (0..n)
                .map(|i| (dot(&a[i * n..(i + 1) * n], v) - got * v[i]).powi(2))
                .sum::<f64>()
                .sqrt();
            assert!(r <= tol, "residual {r} at λ{k}");
        }
        assert_decomposes(&a, n, 1e-9);
    }

    #[test]
    fn reads_only_the_lower_triangle() {
        let n = 5;
        let a = lcg_matrix(n, 9);
        let mut upper_garbage = a.clone();
        for i in 0..n {
            for j in i + 1..n {
                upper_garbage[i * n + j] = 1e3;
            }
        }
        let e1 = symmetric_eigen(&a, n).unwrap();
        let e2 = symmetric_eigen(&upper_garbage, n).unwrap();
        assert_eq!(e1.values, e2.values);
    }

    #[test]
    fn rejects_non_finite_and_wrong_length() {
        assert!(symmetric_eigen(&[1.0, f64::NAN, 0.0, 1.0], 2).is_err());
        assert!(symmetric_eigen(&[1.0, 0.0, 1.0], 2).is_err());
        assert!(symmetric_eigen(&[], 0).unwrap().values.is_empty());
    }

    fn fixture() -> serde_json::Value {
        serde_json::from_str(include_str!("../tests/fixtures/downstream_linalg.json")).unwrap()
    }

    fn floats(v: &serde_json::Value) -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    }

    #[test]
    fn eigh_matches_numpy() {
        for case in fixture()["eigh"].as_array().unwrap() {
            let n = case["n"].as_u64().unwrap() as usize;
            let a = floats(&case["a"]);
            let want_values = floats(&case["values"]);
            let want_vectors = floats(&case["vectors_columns"]);
            let eig = symmetric_eigen(&a, n).unwrap();
            let scale = want_values.iter().fold(1.0f64, |m, v| m.max(v.abs()));
            for (g, w) in eig.values.iter().zip(&want_values) {
                assert!((g - w).abs() <= 1e-12 * scale, "n={n}: {g} vs {w}");
            }
            // Eigenvectors are defined up to sign; the fixtures have distinct eigenvalues.
            for k in 0..n {
                let numpy_col: Vec<f64> = (0..n).map(|i| want_vectors[i * n + k]).collect();
                let cos = dot(eig.vector(k), &numpy_col).abs();
                assert!((cos - 1.0).abs() < 1e-9, "n={n}, vector {k}: |cos| = {cos}");
            }
        }
    }

    #[test]
    fn pinv_matches_numpy() {
        for case in fixture()["pinv"].as_array().unwrap() {
            let n = case["n"].as_u64().unwrap() as usize;
            let rcond = case["rcond"].as_f64().unwrap();
            let got = pinv_symmetric(&floats(&case["a"]), n, rcond).unwrap();
            let want = floats(&case["pinv"]);
            let scale = want.iter().fold(1.0f64, |m, v| m.max(v.abs()));
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() <= 1e-10 * scale, "n={n}: {g} vs {w}");
            }
        }
    }

    #[test]
    fn covariances_match_numpy_and_sklearn() {
        for case in fixture()["ledoit_wolf"].as_array().unwrap() {
            let x = &case["x"];
            let (rows, cols) = (
                x["rows"].as_u64().unwrap() as usize,
                x["cols"].as_u64().unwrap() as usize,
            );
            let data: Vec<f32> = floats(&x["data"]).iter().map(|&v| v as f32).collect();
            let view = MatrixView::new(&data, rows, cols).unwrap();
            let close = |got: &[f64], want: &[f64]| {
                for (g, w) in got.iter().zip(want) {
                    assert!((g - w).abs() <= 1e-12 * (1.0 + w.abs()), "{g} vs {w}");
                }
            };
            let (mean, emp) = empirical_covariance(view);
            close(&emp, &floats(&case["empirical"]));
            let (location, cov, shrinkage) = ledoit_wolf(view);
            close(&mean, &floats(&case["location"]));
            close(&location, &floats(&case["location"]));
            close(&cov, &floats(&case["covariance"]));
            close(&[shrinkage], &[case["shrinkage"].as_f64().unwrap()]);
        }
    }

    #[test]
    fn pinv_satisfies_penrose_conditions() {
        let n = 5;
        // Rank 3: B B^T with B 5 x 3.
        let b = lcg_matrix(n, 11);
        let mut a = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                a[i * n + j] = (0..3).map(|k| b[i * n + k] * b[j * n + k]).sum();
            }
        }
        let p = pinv_symmetric(&a, n, 1e-10).unwrap();
        let mul = |x: &[f64], y: &[f64]| -> Vec<f64> {
            (0..n * n)
                .map(|q| (0..n).map(|k| x[(q / n) * n + k] * y[k * n + q % n]).sum())
                .collect()
        };
        let apa = mul(&mul(&a, &p), &a);
        let pap = mul(&mul(&p, &a), &p);
        for (x, y) in apa.iter().zip(&a) {
            assert!((x - y).abs() < 1e-10);
        }
        for (x, y) in pap.iter().zip(&p) {
            assert!((x - y).abs() < 1e-8);
        }
    }
}
