//! The thin products of the snapshot SVD on one rank's rows of `X`, in SIMD.
//!
//! `X` is row-major `T × n` (row `i` is snapshot `i`), the blocks `V` and `W`
//! are column-major `n × b` and `Y` is row-major `T × b`, with `b` a few
//! columns. A pass computes `Y = X V` and `W = Xᵀ Y`; with one rank
//! ([`fused_pass`]) both products are done row group by row group while the
//! rows are in L1, so `X` (larger than L2) streams from memory once per pass.
//! Written with `pulp` (safe, runtime-dispatched SIMD, AVX-512 where there is
//! one): faer's general products on these thin shapes, fused the same way by
//! row blocks, took about 0.4 ms per pass of 4 columns over the demo's
//! 2001 × 256 matrix against about 0.3 ms here, most of it the memory stream
//! of `X`.

use pulp::{Arch, Simd, WithSimd};

/// Rows handled together by the fused pass: they stay in L1 between the two products.
const ROW_GROUP: usize = 8;

/// One rank's rows of `X` (each of the same length `n`) and the block width `b`.
#[derive(Clone, Copy)]
pub(super) struct Rows<'a> {
    /// Row `i` of `X`.
    pub x: &'a [&'a [f64]],
    /// Length of each row.
    pub n: usize,
    /// Columns of the blocks `V`, `W` and `Y`.
    pub b: usize,
}

/// `y_i = x_i V` for every row `i`; returns `Σ x_ij²` when `energy`.
pub(super) fn rows_times(rows: Rows<'_>, v: &[f64], y: &mut [f64], energy: bool) -> f64 {
    Arch::new().dispatch(RowsTimes { rows, v, y, energy })
}

/// `w = Xᵀ y` (replacing `w`).
pub(super) fn transposed_times(rows: Rows<'_>, y: &[f64], w: &mut [f64]) {
    w.iter_mut().for_each(|v| *v = 0.0);
    Arch::new().dispatch(AccumulateTransposed { rows, y, w });
}

/// `y = X v` and `w = Xᵀ y` in one sweep over the rows (valid when the rows
/// are whole, i.e. on a single rank); returns `Σ x_ij²` when `energy`. The
/// sweep runs `backward` from the last row when asked: passes that alternate
/// find the rows they start with still in L2 from the pass before.
pub(super) fn fused_pass(
    rows: Rows<'_>,
    v: &[f64],
    y: &mut [f64],
    w: &mut [f64],
    energy: bool,
    backward: bool,
) -> f64 {
    w.iter_mut().for_each(|v| *v = 0.0);
    Arch::new().dispatch(FusedPass {
        rows,
        v,
        y,
        w,
        energy,
        backward,
    })
}

/// `a · b` (the slices of the same length).
pub(super) fn dot(a: &[f64], b: &[f64]) -> f64 {
    Arch::new().dispatch(Dot { a, b })
}

/// `out[a] = m_a · m_c` for the columns `a = 0..=c` of the column-major
/// block `m` (columns of `rows` entries): four columns against column `c`
/// at a time, sharing its loads, each sum with the bits of [`dot`].
pub(super) fn dots_with_column(m: &[f64], rows: usize, c: usize, out: &mut [f64]) {
    Arch::new().dispatch(DotsWithColumn { m, rows, c, out })
}

struct DotsWithColumn<'a> {
    m: &'a [f64],
    rows: usize,
    c: usize,
    out: &'a mut [f64],
}

impl WithSimd for DotsWithColumn<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let DotsWithColumn { m, rows, c, out } = self;
        let col = |a: usize| &m[a * rows..(a + 1) * rows];
        let target = col(c);
        let mut a = 0;
        while a + 4 <= c + 1 {
            let sums = dots_simd(simd, [col(a), col(a + 1), col(a + 2), col(a + 3)], target);
            out[a..a + 4].copy_from_slice(&sums);
            a += 4;
        }
        while a <= c {
            out[a] = dot_simd(simd, col(a), target);
            a += 1;
        }
    }
}

/// `out = a s`, or `out += a s` when `accumulate`, for the column-major
/// blocks `a` (`m × p`), `s` (`p × q`) and `out` (`m × q`): the small
/// products of the Rayleigh-Ritz step (Ritz vectors, projections), four
/// columns of `out` at a time so that each load of `a` feeds four FMAs.
pub(super) fn combine(a: &[f64], m: usize, s: &[f64], out: &mut [f64], accumulate: bool) {
    if m == 0 {
        return;
    }
    let (p, q) = (a.len() / m, out.len() / m);
    assert!(a.len() == p * m && out.len() == q * m && s.len() == p * q);
    Arch::new().dispatch(Combine {
        a,
        m,
        s,
        out,
        accumulate,
    })
}

struct Dot<'a> {
    a: &'a [f64],
    b: &'a [f64],
}

impl WithSimd for Dot<'_> {
    type Output = f64;
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) -> f64 {
        dot_simd(simd, self.a, self.b)
    }
}

struct Combine<'a> {
    a: &'a [f64],
    m: usize,
    s: &'a [f64],
    out: &'a mut [f64],
    accumulate: bool,
}

impl WithSimd for Combine<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let Combine {
            a,
            m,
            s,
            out,
            accumulate,
        } = self;
        let p = a.len() / m;
        let columns: Vec<(&[S::f64s], &[f64])> =
            a.chunks_exact(m).map(|c| S::as_simd_f64s(c)).collect();
        for (g, group) in out.chunks_mut(4 * m).enumerate() {
            let width = group.len() / m;
            let factor = |j: usize, r: usize| {
                if r < width {
                    s[j + (4 * g + r) * p]
                } else {
                    0.0
                }
            };
            // (Loops, not closures, around the SIMD operations: a closure does
            // not inherit the target features, and its intrinsics become calls.)
            let zero = simd.splat_f64s(0.0);
            let mut splats = vec![[zero; 4]; p];
            for (j, f) in splats.iter_mut().enumerate() {
                for (r, f) in f.iter_mut().enumerate() {
                    *f = simd.splat_f64s(factor(j, r));
                }
            }
            let mut targets: Vec<(&mut [S::f64s], &mut [f64])> = group
                .chunks_exact_mut(m)
                .map(|c| S::as_mut_simd_f64s(c))
                .collect();
            let heads = targets[0].0.len();
            for e in 0..heads {
                let mut acc = [zero; 4];
                if accumulate {
                    for (acc, t) in acc.iter_mut().zip(&targets) {
                        *acc = t.0[e];
                    }
                }
                for ((h, _), f) in columns.iter().zip(&splats) {
                    let x = h[e];
                    for r in 0..4 {
                        acc[r] = simd.mul_add_f64s(x, f[r], acc[r]);
                    }
                }
                for (t, &v) in targets.iter_mut().zip(&acc) {
                    t.0[e] = v;
                }
            }
            for (r, t) in targets.iter_mut().enumerate() {
                for (e, o) in t.1.iter_mut().enumerate() {
                    let mut sum = if accumulate { *o } else { 0.0 };
                    for (j, (_, tail)) in columns.iter().enumerate() {
                        sum = tail[e].mul_add(factor(j, r), sum);
                    }
                    *o = sum;
                }
            }
        }
    }
}

struct RowsTimes<'a> {
    rows: Rows<'a>,
    v: &'a [f64],
    y: &'a mut [f64],
    energy: bool,
}

impl WithSimd for RowsTimes<'_> {
    type Output = f64;
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) -> f64 {
        rows_times_simd(simd, self.rows, self.v, self.y, self.energy)
    }
}

struct AccumulateTransposed<'a> {
    rows: Rows<'a>,
    y: &'a [f64],
    w: &'a mut [f64],
}

impl WithSimd for AccumulateTransposed<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        accumulate_transposed_simd(simd, self.rows, self.y, self.w)
    }
}

struct FusedPass<'a> {
    rows: Rows<'a>,
    v: &'a [f64],
    y: &'a mut [f64],
    w: &'a mut [f64],
    energy: bool,
    backward: bool,
}

impl WithSimd for FusedPass<'_> {
    type Output = f64;
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) -> f64 {
        let FusedPass {
            rows,
            v,
            y,
            w,
            energy,
            backward,
        } = self;
        let mut total = 0.0;
        let groups = rows.x.len().div_ceil(ROW_GROUP);
        for g in 0..groups {
            let g = if backward { groups - 1 - g } else { g };
            let (start, end) = (g * ROW_GROUP, ((g + 1) * ROW_GROUP).min(rows.x.len()));
            let group = Rows {
                x: &rows.x[start..end],
                ..rows
            };
            let yg = &mut y[start * rows.b..end * rows.b];
            total += rows_times_simd(simd, group, v, yg, energy);
            accumulate_transposed_simd(simd, group, yg, w);
        }
        total
    }
}

/// `Σ a_j b_j` with four vector accumulators (one would wait on each FMA's
/// latency); for `‖x‖²` and the leftover rows and columns.
#[inline(always)]
fn dot_simd<S: Simd>(simd: S, a: &[f64], b: &[f64]) -> f64 {
    dots_simd(simd, [a], b)[0]
}

/// `a_r · b` for each of the `R` slices `a_r`, sharing the loads of `b`;
/// each sum is formed exactly as with `R = 1` (same accumulators, same
/// order), so pairing rows does not change a bit.
#[inline(always)]
fn dots_simd<S: Simd, const R: usize>(simd: S, a: [&[f64]; R], b: &[f64]) -> [f64; R] {
    let (bh, bt) = S::as_simd_f64s(b);
    let b4 = bh.chunks_exact(4);
    let split = a.map(|a| S::as_simd_f64s(a));
    let mut a4 = split.map(|(h, _)| h.chunks_exact(4));
    let mut rest = [simd.splat_f64s(0.0); R];
    for (r, chunks) in a4.iter().enumerate() {
        for (&p, &q) in chunks.remainder().iter().zip(b4.remainder()) {
            rest[r] = simd.mul_add_f64s(p, q, rest[r]);
        }
    }
    let mut acc = [[simd.splat_f64s(0.0); 4]; R];
    for q in b4 {
        for (chunks, acc) in a4.iter_mut().zip(acc.iter_mut()) {
            let p = chunks.next().expect("slices as long as b");
            for l in 0..4 {
                acc[l] = simd.mul_add_f64s(p[l], q[l], acc[l]);
            }
        }
    }
    // A loop, not `from_fn`: a closure does not inherit the target
    // features, and its intrinsics would become calls.
    let mut sums = [0.0; R];
    for r in 0..R {
        let acc = acc[r];
        let sum = simd.add_f64s(
            simd.add_f64s(acc[0], acc[1]),
            simd.add_f64s(acc[2], simd.add_f64s(acc[3], rest[r])),
        );
        sums[r] =
            simd.reduce_sum_f64s(sum) + split[r].1.iter().zip(bt).map(|(p, q)| p * q).sum::<f64>();
    }
    sums
}

/// `y = x v`: four rows at a time (then two, then one), see [`times_rows`].
#[inline(always)]
fn rows_times_simd<S: Simd>(
    simd: S,
    rows: Rows<'_>,
    v: &[f64],
    y: &mut [f64],
    energy: bool,
) -> f64 {
    let Rows { x, n, b } = rows;
    let mut total = 0.0;
    let mut i = 0;
    while i < x.len() {
        let step = match x.len() - i {
            1 => 1,
            2 | 3 => 2,
            _ => 4,
        };
        let y = &mut y[i * b..(i + step) * b];
        total += match step {
            4 => times_rows(simd, [x[i], x[i + 1], x[i + 2], x[i + 3]], v, y, n, energy),
            2 => times_rows(simd, [x[i], x[i + 1]], v, y, n, energy),
            _ => times_rows(simd, [x[i]], v, y, n, energy),
        };
        i += step;
    }
    total
}

/// `y = x v` for the `R` rows `x` (`y` row-major `R × b`), four columns at
/// a time (`4 R` independent vector sums: each load of `v` feeds `R` FMAs,
/// each load of `x` four), the columns left over with [`dots_simd`] (the
/// bits of one row at a time); returns `Σ x_ij²` when `energy`, summed in
/// the first group of four columns from the loads it makes anyway.
#[inline(always)]
fn times_rows<S: Simd, const R: usize>(
    simd: S,
    x: [&[f64]; R],
    v: &[f64],
    y: &mut [f64],
    n: usize,
    energy: bool,
) -> f64 {
    let b = y.len() / R;
    let col = |q: usize| &v[q * n..(q + 1) * n];
    let xs = x.map(|r| S::as_simd_f64s(r));
    let mut total = 0.0;
    let mut energy_due = energy;
    let mut c = 0;
    while c + 4 <= b {
        let vh: [_; 4] = std::array::from_fn(|q| S::as_simd_f64s(col(c + q)));
        let (acc, e) = if energy_due {
            block_sums::<S, R, true>(simd, &xs, &vh)
        } else {
            block_sums::<S, R, false>(simd, &xs, &vh)
        };
        if energy_due {
            for (r, (_, xt)) in xs.iter().enumerate() {
                total += simd.reduce_sum_f64s(e[r]) + xt.iter().map(|a| a * a).sum::<f64>();
            }
            energy_due = false;
        }
        for (r, (acc, (_, xt))) in acc.iter().zip(&xs).enumerate() {
            for q in 0..4 {
                let t: f64 = xt.iter().zip(vh[q].1).map(|(p, r)| p * r).sum();
                y[r * b + c + q] = simd.reduce_sum_f64s(acc[q]) + t;
            }
        }
        c += 4;
    }
    if energy_due {
        for row in x {
            total += dot_simd(simd, row, row);
        }
    }
    for q in c..b {
        let sums = dots_simd(simd, x, col(q));
        for (r, s) in sums.into_iter().enumerate() {
            y[r * b + q] = s;
        }
    }
    total
}

/// The vector sums of `x_r · v_q` for `R` rows and four columns (and of
/// `x_r · x_r` when `ENERGY`), over the whole vectors.
#[inline(always)]
#[allow(clippy::type_complexity)]
fn block_sums<S: Simd, const R: usize, const ENERGY: bool>(
    simd: S,
    xs: &[(&[S::f64s], &[f64]); R],
    vh: &[(&[S::f64s], &[f64]); 4],
) -> ([[S::f64s; 4]; R], [S::f64s; R]) {
    let zero = simd.splat_f64s(0.0);
    let mut acc = [[zero; 4]; R];
    let mut e = [zero; R];
    let heads = vh[0].0.len();
    assert!(xs.iter().all(|x| x.0.len() == heads) && vh.iter().all(|v| v.0.len() == heads));
    for k in 0..heads {
        let vk = [vh[0].0[k], vh[1].0[k], vh[2].0[k], vh[3].0[k]];
        for r in 0..R {
            let a = xs[r].0[k];
            if ENERGY {
                e[r] = simd.mul_add_f64s(a, a, e[r]);
            }
            for q in 0..4 {
                acc[r][q] = simd.mul_add_f64s(a, vk[q], acc[r][q]);
            }
        }
    }
    (acc, e)
}

/// `w += xᵀ y`: four rows by four columns at a time (the sixteen factors of
/// `y` in registers, each entry of `w` loaded and stored once per four rows),
/// then two and a last odd column, and the last rows of a count not a multiple of
/// four two or one at a time. Every entry of `w` takes its rows' FMAs in row
/// order, as one row at a time would: the same bits whatever the blocking.
#[inline(always)]
fn accumulate_transposed_simd<S: Simd>(simd: S, rows: Rows<'_>, y: &[f64], w: &mut [f64]) {
    let Rows { x, n, b } = rows;
    let mut i = 0;
    while i < x.len() {
        let step = match x.len() - i {
            1 => 1,
            2 | 3 => 2,
            _ => 4,
        };
        let y = &y[i * b..(i + step) * b];
        match step {
            4 => accumulate_rows(simd, [x[i], x[i + 1], x[i + 2], x[i + 3]], y, w, n),
            2 => accumulate_rows(simd, [x[i], x[i + 1]], y, w, n),
            _ => accumulate_rows(simd, [x[i]], y, w, n),
        }
        i += step;
    }
}

/// `w += xᵀ y` for the `R` rows `x` and their rows of `y` (row-major
/// `R × b`): four columns of `w` at a time (`4 R` factors in registers, each
/// load of `x` feeding four FMAs), then two, then a last odd one.
#[inline(always)]
fn accumulate_rows<S: Simd, const R: usize>(
    simd: S,
    x: [&[f64]; R],
    y: &[f64],
    w: &mut [f64],
    n: usize,
) {
    let b = y.len() / R;
    let x = x.map(|r| S::as_simd_f64s(r));
    let mut c = 0;
    if b == 5 {
        // The first pass's width: one block of five (the fifth column alone
        // would reload every x for one FMA each).
        let (w01, w234) = w[..5 * n].split_at_mut(2 * n);
        let (w0, w1) = w01.split_at_mut(n);
        let (w2, w34) = w234.split_at_mut(n);
        let (w3, w4) = w34.split_at_mut(n);
        let factors: [[f64; 5]; R] = std::array::from_fn(|r| {
            [
                y[r * b],
                y[r * b + 1],
                y[r * b + 2],
                y[r * b + 3],
                y[r * b + 4],
            ]
        });
        accumulate_block(simd, &x, factors, [w0, w1, w2, w3, w4]);
        return;
    }
    while c + 4 <= b {
        let (w01, w23) = w[c * n..(c + 4) * n].split_at_mut(2 * n);
        let (w0, w1) = w01.split_at_mut(n);
        let (w2, w3) = w23.split_at_mut(n);
        let factors: [[f64; 4]; R] = std::array::from_fn(|r| {
            [
                y[r * b + c],
                y[r * b + c + 1],
                y[r * b + c + 2],
                y[r * b + c + 3],
            ]
        });
        accumulate_block(simd, &x, factors, [w0, w1, w2, w3]);
        c += 4;
    }
    while c + 2 <= b {
        let (w0, w1) = w[c * n..(c + 2) * n].split_at_mut(n);
        let factors: [[f64; 2]; R] = std::array::from_fn(|r| [y[r * b + c], y[r * b + c + 1]]);
        accumulate_block(simd, &x, factors, [w0, w1]);
        c += 2;
    }
    if c < b {
        let factors: [[f64; 1]; R] = std::array::from_fn(|r| [y[r * b + c]]);
        accumulate_block(simd, &x, factors, [&mut w[c * n..(c + 1) * n]]);
    }
}

/// `w_q += Σ_r f_rq x_r` for `R` rows and `C` columns, rows in order.
#[inline(always)]
fn accumulate_block<S: Simd, const R: usize, const C: usize>(
    simd: S,
    x: &[(&[S::f64s], &[f64]); R],
    factors: [[f64; C]; R],
    w: [&mut [f64]; C],
) {
    // Loops, not closures, around the SIMD operations (a closure does not
    // inherit the target features).
    let mut splats = [[simd.splat_f64s(0.0); C]; R];
    for (s, f) in splats.iter_mut().zip(&factors) {
        for (s, &f) in s.iter_mut().zip(f) {
            *s = simd.splat_f64s(f);
        }
    }
    let mut w = w.map(|w| S::as_mut_simd_f64s(w));
    let heads = w[0].0.len();
    assert!(x.iter().all(|x| x.0.len() == heads) && w.iter().all(|w| w.0.len() == heads));
    for e in 0..heads {
        let mut acc = [simd.splat_f64s(0.0); C];
        for (acc, w) in acc.iter_mut().zip(&w) {
            *acc = w.0[e];
        }
        for (x, s) in x.iter().zip(&splats) {
            let a = x.0[e];
            for (acc, &s) in acc.iter_mut().zip(s) {
                *acc = simd.mul_add_f64s(a, s, *acc);
            }
        }
        for (w, acc) in w.iter_mut().zip(acc) {
            w.0[e] = acc;
        }
    }
    let tails = w[0].1.len();
    for e in 0..tails {
        for (q, w) in w.iter_mut().enumerate() {
            let mut acc = w.1[e];
            for (x, f) in x.iter().zip(&factors) {
                acc = x.1[e].mul_add(f[q], acc);
            }
            w.1[e] = acc;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(x: &[f64], n: usize, v: &[f64]) -> (Vec<f64>, Vec<f64>, f64) {
        let (t, b) = (x.len() / n, v.len() / n);
        let mut y = vec![0.0; t * b];
        for i in 0..t {
            for c in 0..b {
                y[i * b + c] = (0..n).map(|j| x[i * n + j] * v[c * n + j]).sum();
            }
        }
        let mut w = vec![0.0; n * b];
        for c in 0..b {
            for j in 0..n {
                w[c * n + j] = (0..t).map(|i| x[i * n + j] * y[i * b + c]).sum();
            }
        }
        (y, w, x.iter().map(|a| a * a).sum())
    }

    /// Every shape the blocking splits differently: odd row counts, column
    /// counts below, at and above a group of four, lengths with a SIMD tail.
    #[test]
    fn kernels_match_the_naive_products() {
        for (t, n, b) in [(1, 1, 1), (5, 7, 6), (8, 16, 4), (19, 13, 9), (2, 3, 3)] {
            let x: Vec<f64> = (0..t * n).map(|i| ((i * 37 % 11) as f64) - 5.0).collect();
            let v: Vec<f64> = (0..n * b).map(|i| ((i * 13 % 7) as f64) - 3.0).collect();
            let (y_ref, w_ref, e_ref) = naive(&x, n, &v);
            let close = |a: &[f64], b: &[f64]| {
                a.iter()
                    .zip(b)
                    .all(|(p, q)| (p - q).abs() <= 1e-12 * (1.0 + q.abs()))
            };
            let row_slices: Vec<&[f64]> = x.chunks_exact(n).collect();
            let rows = Rows {
                x: &row_slices,
                n,
                b,
            };
            let mut y = vec![f64::NAN; t * b];
            let mut w = vec![f64::NAN; n * b];
            for backward in [false, true] {
                let e = fused_pass(rows, &v, &mut y, &mut w, true, backward);
                assert!(
                    close(&y, &y_ref) && close(&w, &w_ref),
                    "fused {t}x{n}, b = {b}"
                );
                assert!((e - e_ref).abs() <= 1e-12 * e_ref);
            }
            let mut y2 = vec![f64::NAN; t * b];
            let mut w2 = vec![f64::NAN; n * b];
            let e2 = rows_times(rows, &v, &mut y2, false);
            transposed_times(rows, &y2, &mut w2);
            assert_eq!(e2, 0.0);
            assert!(
                close(&y2, &y_ref) && close(&w2, &w_ref),
                "split {t}x{n}, b = {b}"
            );
        }
    }

    /// Pairing rows in the leftover columns gives the bits of one row at a
    /// time: `y`'s fifth column is `dot` of each row, and every entry of `w`
    /// the FMAs of its terms in row order (the order the forward sweep and
    /// the old row-by-row loops take).
    #[test]
    fn paired_leftover_columns_keep_the_bits_of_row_by_row() {
        let (t, n, b) = (9, 37, 5);
        let x: Vec<f64> = (0..t * n)
            .map(|i| ((i * 7919 % 1000) as f64).sin())
            .collect();
        let v: Vec<f64> = (0..n * b)
            .map(|i| ((i * 104_729 % 1000) as f64).cos())
            .collect();
        let row_slices: Vec<&[f64]> = x.chunks_exact(n).collect();
        let rows = Rows {
            x: &row_slices,
            n,
            b,
        };
        let mut y = vec![f64::NAN; t * b];
        rows_times(rows, &v, &mut y, false);
        for (i, row) in row_slices.iter().enumerate() {
            assert_eq!(
                y[i * b + 4].to_bits(),
                dot(row, &v[4 * n..]).to_bits(),
                "y[{i}, 4]"
            );
        }
        let mut w = vec![f64::NAN; n * b];
        transposed_times(rows, &y, &mut w);
        for q in 0..b {
            for j in 0..n {
                let want = (0..t).fold(0.0f64, |acc, i| x[i * n + j].mul_add(y[i * b + q], acc));
                assert_eq!(w[q * n + j].to_bits(), want.to_bits(), "w[{j}, {q}]");
            }
        }
    }

    /// `dots_with_column` gives the bits of `dot`, column by column.
    #[test]
    fn dots_with_column_keeps_the_bits_of_dot() {
        let (rows, cols) = (37, 11);
        let m: Vec<f64> = (0..rows * cols)
            .map(|i| ((i * 7919 % 1000) as f64).sin())
            .collect();
        for c in 0..cols {
            let mut out = vec![f64::NAN; c + 1];
            dots_with_column(&m, rows, c, &mut out);
            for (a, got) in out.iter().enumerate() {
                let want = dot(&m[a * rows..(a + 1) * rows], &m[c * rows..(c + 1) * rows]);
                assert_eq!(got.to_bits(), want.to_bits(), "({a}, {c})");
            }
        }
    }

    /// `combine` against the naive product, replacing and accumulating, for
    /// output widths below, at and past a group of four and lengths with a
    /// SIMD tail.
    #[test]
    fn combine_matches_the_naive_product() {
        for (m, p, q) in [(1, 1, 1), (7, 3, 4), (13, 5, 6), (2001, 13, 4), (9, 0, 2)] {
            let a: Vec<f64> = (0..m * p).map(|i| ((i * 37 % 11) as f64) - 5.0).collect();
            let s: Vec<f64> = (0..p * q).map(|i| ((i * 13 % 7) as f64) - 3.0).collect();
            let start: Vec<f64> = (0..m * q).map(|i| (i % 5) as f64).collect();
            for accumulate in [false, true] {
                let mut out = start.clone();
                combine(&a, m, &s, &mut out, accumulate);
                for c in 0..q {
                    for i in 0..m {
                        let base = if accumulate { start[c * m + i] } else { 0.0 };
                        let want: f64 =
                            base + (0..p).map(|j| a[j * m + i] * s[j + c * p]).sum::<f64>();
                        let got = out[c * m + i];
                        assert!(
                            (got - want).abs() <= 1e-12 * (1.0 + want.abs()),
                            "{m}x{p} times {p}x{q}, accumulate {accumulate}: ({i}, {c}) = {got} vs {want}"
                        );
                    }
                }
            }
        }
    }
}
