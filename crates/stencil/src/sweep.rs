//! The hot loops behind the kernels: tiles of output rows walking down one
//! vector column (5- and 9-point sweeps), output rows in pairs (general
//! weights, and the rows left below the last tile), one output row from three
//! input rows (the in-place step), sweeps of whole grids in column blocks that
//! stay in cache, and the in-place update of a band of rows, each compiled for
//! the best vector instruction set the CPU has.
//!
//! Every cell is the expression documented on [`Stencil`], in that order, so
//! the vector width (2 lanes of SSE2, 4 of AVX2, 8 of AVX-512), the tiles,
//! the row pairs and the order of the in-place update change no bit: IEEE
//! arithmetic is per lane, and Rust never contracts `a * b + c` into an FMA
//! (nor does `pulp`'s `mul_f64s` followed by `add_f64s`; the one deliberate
//! multiply-add, `a·1 + b`, is `a + b` to the bit, see [`add_on_fma`]).

use ndarray::{ArrayView2, ArrayViewMut2};

use pulp::{Scalar, Simd, WithSimd};

use crate::kernel::{Stencil, FIVE_POINT_WEIGHTS, NINE_POINT_WEIGHTS};

/// Columns per block: three input rows (8 B a cell) and one output row of a
/// block take 32 KiB, inside the 32–48 KiB L1 data cache of current x86 cores,
/// so the rows above and at the centre are read from L1 again when the next
/// output row needs them (the row pairs of the general sweep touch four input
/// rows and two output rows, 48 KiB; the tiles of the 5- and 9-point sweeps
/// six input rows and four output rows, 80 KiB, of which the two input rows
/// the next tile reads again, 16 KiB, are the last read). Blocks of 512
/// columns measured 20–45% slower for the 5-point tiles at 1024²–4096².
/// Grids at most this wide are one block.
const BLOCK_COLUMNS: usize = 1024;

/// Runs `op` compiled for the widest vector instruction set the CPU has,
/// detected at run time by `pulp`: AVX-512 (x86-64-v4; the compiler
/// vectorises the row loops 8 lanes wide), else AVX2 (x86-64-v3, 4 lanes),
/// else the build's baseline target (SSE2 on x86-64). No `-C target-cpu` is
/// needed. Everything `op` runs in its hot loops is `#[inline(always)]` and
/// closure-free, so it is compiled inside the chosen function rather than
/// called from it.
#[inline(always)]
fn vectorised<Op: WithSimd>(op: Op) -> Op::Output {
    pulp::Arch::new().dispatch(op)
}

/// What a kernel writes for a cell, from the cell's centre value and its
/// Laplacian; on single values and on vectors of them (the same operations in
/// the same order, lane by lane).
pub(crate) trait Finish: Copy {
    fn finish(self, centre: f64, lap: f64) -> f64;
    fn finish_simd<S: Simd>(self, simd: S, centre: S::f64s, lap: S::f64s) -> S::f64s;
}

/// `out = L(u)`.
#[derive(Clone, Copy)]
pub(crate) struct Laplacian;

impl Finish for Laplacian {
    #[inline(always)]
    fn finish(self, _centre: f64, lap: f64) -> f64 {
        lap
    }

    #[inline(always)]
    fn finish_simd<S: Simd>(self, _simd: S, _centre: S::f64s, lap: S::f64s) -> S::f64s {
        lap
    }
}

/// `out = u + coef · L(u)`.
#[derive(Clone, Copy)]
pub(crate) struct Step {
    pub(crate) coef: f64,
}

impl Finish for Step {
    #[inline(always)]
    fn finish(self, centre: f64, lap: f64) -> f64 {
        centre + self.coef * lap
    }

    #[inline(always)]
    fn finish_simd<S: Simd>(self, simd: S, centre: S::f64s, lap: S::f64s) -> S::f64s {
        simd.add_f64s(centre, simd.mul_f64s(simd.splat_f64s(self.coef), lap))
    }
}

/// A stencil's Laplacian of a vector of cells from the vectors of their 3×3
/// neighbours `[[up_left, up, up_right], [left, centre, right], [down_left,
/// down, down_right]]`, in the order of operations documented on [`Stencil`]
/// (lane by lane the same bits as the scalar expression in [`row_kernel`]).
trait VectorStencil: Copy {
    fn apply<S: Simd>(self, simd: S, v: [[S::f64s; 3]; 3]) -> S::f64s;
}

/// [`Stencil::NinePoint`]: `e·(up + left + right + down) + k·(corners) - centre`.
#[derive(Clone, Copy)]
struct NinePointVector;

impl VectorStencil for NinePointVector {
    #[inline(always)]
    fn apply<S: Simd>(
        self,
        simd: S,
        [[ul, u, ur], [l, c, r], [dl, d, dr]]: [[S::f64s; 3]; 3],
    ) -> S::f64s {
        let e = simd.splat_f64s(NINE_POINT_WEIGHTS[0][1]);
        let k = simd.splat_f64s(NINE_POINT_WEIGHTS[0][0]);
        let edges = simd.add_f64s(simd.add_f64s(simd.add_f64s(u, l), r), d);
        let corners = simd.add_f64s(simd.add_f64s(simd.add_f64s(ul, ur), dl), dr);
        let sum = simd.add_f64s(simd.mul_f64s(e, edges), simd.mul_f64s(k, corners));
        simd.sub_f64s(sum, c)
    }
}

/// [`Stencil::FivePoint`]: `(((up + left) - 4·centre) + right) + down`.
#[derive(Clone, Copy)]
struct FivePointVector;

impl VectorStencil for FivePointVector {
    #[inline(always)]
    fn apply<S: Simd>(
        self,
        simd: S,
        [[_, u, _], [l, c, r], [_, d, _]]: [[S::f64s; 3]; 3],
    ) -> S::f64s {
        let four = simd.splat_f64s(-FIVE_POINT_WEIGHTS[1][1]);
        let with_left = simd.add_f64s(u, l);
        let less_centre = simd.sub_f64s(with_left, simd.mul_f64s(four, c));
        simd.add_f64s(simd.add_f64s(less_centre, r), d)
    }
}

/// [`Stencil::Weights`]: the row-major left-to-right sum of `w[a][b]·u`.
#[derive(Clone, Copy)]
struct WeightsVector([[f64; 3]; 3]);

impl VectorStencil for WeightsVector {
    #[inline(always)]
    fn apply<S: Simd>(self, simd: S, v: [[S::f64s; 3]; 3]) -> S::f64s {
        let term = |a: usize, b: usize| simd.mul_f64s(simd.splat_f64s(self.0[a][b]), v[a][b]);
        let mut sum = term(0, 0);
        for (a, b) in [
            (0, 1),
            (0, 2),
            (1, 0),
            (1, 1),
            (1, 2),
            (2, 0),
            (2, 1),
            (2, 2),
        ] {
            sum = simd.add_f64s(sum, term(a, b));
        }
        sum
    }
}

/// One padded input row (`n + 2` long) as three slices of `m` whole vectors:
/// the left, centre and right neighbours of the row's first `m · lanes`
/// cells.
#[inline(always)]
fn row_vectors<S: Simd>(row: &[f64], n: usize, m: usize) -> [&[S::f64s]; 3] {
    [
        &S::as_simd_f64s(&row[..n]).0[..m],
        &S::as_simd_f64s(&row[1..n + 1]).0[..m],
        &S::as_simd_f64s(&row[2..n + 2]).0[..m],
    ]
}

/// The 3×3 neighbourhood of the cell `j` of the output row below `up`
/// (padded rows), as single values.
#[inline(always)]
fn neighbours(up: &[f64], mid: &[f64], down: &[f64], j: usize) -> [[f64; 3]; 3] {
    let row = |r: &[f64]| [r[j], r[j + 1], r[j + 2]];
    [row(up), row(mid), row(down)]
}

/// Sweeps one column block of a band of rows with vector code (the general
/// weights, and the rows left below the last tile of [`sweep_tiles`]): output
/// rows in pairs from four input rows, each input row loaded once for both (the
/// 5-point kernel loads 4 vectors per output vector instead of 5, the
/// 9-point one 6 instead of 9); an odd last row alone. `rows` has two rows
/// more than `outs`.
#[inline(always)]
fn sweep_block<'u, 'o, S: Simd, K: VectorStencil, F: Finish>(
    simd: S,
    kernel: K,
    finish: F,
    mut rows: impl Iterator<Item = &'u [f64]>,
    mut outs: impl Iterator<Item = &'o mut [f64]>,
) {
    let (Some(mut up), Some(mut mid)) = (rows.next(), rows.next()) else {
        return;
    };
    while let (Some(out0), Some(down)) = (outs.next(), rows.next()) {
        match (outs.next(), rows.next()) {
            (Some(out1), Some(below)) => {
                row_pair_vector(simd, kernel, finish, [up, mid, down, below], out0, out1);
                (up, mid) = (down, below);
            }
            _ => row_vector(simd, kernel, finish, [up, mid, down], out0),
        }
    }
}

/// Two output rows (`n` long) from four padded input rows (`rows[0..3]`
/// around `out0`, `rows[1..4]` around `out1`): whole vectors, then the last
/// `n mod lanes` cells one by one with the same expression ([`Scalar`]).
#[inline(always)]
fn row_pair_vector<S: Simd, K: VectorStencil, F: Finish>(
    simd: S,
    kernel: K,
    finish: F,
    [ra, rb, rc, rd]: [&[f64]; 4],
    out0: &mut [f64],
    out1: &mut [f64],
) {
    let n = out0.len();
    let (out0, tail0) = S::as_mut_simd_f64s(out0);
    let (out1, tail1) = S::as_mut_simd_f64s(&mut out1[..n]);
    let m = out0.len();
    let out1 = &mut out1[..m];
    let (a, b) = (row_vectors::<S>(ra, n, m), row_vectors::<S>(rb, n, m));
    let (c, d) = (row_vectors::<S>(rc, n, m), row_vectors::<S>(rd, n, m));
    for k in 0..m {
        let va = [a[0][k], a[1][k], a[2][k]];
        let vb = [b[0][k], b[1][k], b[2][k]];
        let vc = [c[0][k], c[1][k], c[2][k]];
        let vd = [d[0][k], d[1][k], d[2][k]];
        out0[k] = finish.finish_simd(simd, vb[1], kernel.apply(simd, [va, vb, vc]));
        out1[k] = finish.finish_simd(simd, vc[1], kernel.apply(simd, [vb, vc, vd]));
    }
    let done = n - tail0.len();
    let scalar = Scalar::new();
    for (j, (o0, o1)) in (done..n).zip(tail0.iter_mut().zip(tail1)) {
        let (n0, n1) = (neighbours(ra, rb, rc, j), neighbours(rb, rc, rd, j));
        *o0 = finish.finish_simd(scalar, n0[1][1], kernel.apply(scalar, n0));
        *o1 = finish.finish_simd(scalar, n1[1][1], kernel.apply(scalar, n1));
    }
}

/// One output row (`n` long) from three padded input rows around it.
#[inline(always)]
fn row_vector<S: Simd, K: VectorStencil, F: Finish>(
    simd: S,
    kernel: K,
    finish: F,
    [ra, rb, rc]: [&[f64]; 3],
    out: &mut [f64],
) {
    let n = out.len();
    let (out, tail) = S::as_mut_simd_f64s(out);
    let m = out.len();
    let (a, b, c) = (
        row_vectors::<S>(ra, n, m),
        row_vectors::<S>(rb, n, m),
        row_vectors::<S>(rc, n, m),
    );
    for (k, out) in out.iter_mut().enumerate() {
        let va = [a[0][k], a[1][k], a[2][k]];
        let vb = [b[0][k], b[1][k], b[2][k]];
        let vc = [c[0][k], c[1][k], c[2][k]];
        *out = finish.finish_simd(simd, vb[1], kernel.apply(simd, [va, vb, vc]));
    }
    let done = n - tail.len();
    let scalar = Scalar::new();
    for (j, o) in (done..n).zip(tail) {
        let nb = neighbours(ra, rb, rc, j);
        *o = finish.finish_simd(scalar, nb[1][1], kernel.apply(scalar, nb));
    }
}

/// Cells `first..first + out.len()` of the output row between padded input
/// rows `rows`, one at a time with the vector expression on single values
/// ([`Scalar`]): the same bits as a lane of it.
#[inline(always)]
fn scalar_cells<K: VectorStencil, F: Finish>(
    kernel: K,
    finish: F,
    [up, mid, down]: [&[f64]; 3],
    first: usize,
    out: &mut [f64],
) {
    let scalar = Scalar::new();
    for (j, o) in (first..).zip(out) {
        let nb = neighbours(up, mid, down, j);
        *o = finish.finish_simd(scalar, nb[1][1], kernel.apply(scalar, nb));
    }
}

/// Output rows per pass of [`sweep_tiles`] (the indices `unrolled!` walks in
/// the [`TileColumn`]s).
const TILE_ROWS: usize = 4;

/// `$body` once for each listed index, with `$i` a constant (a loop the
/// compiler is sure to unroll).
macro_rules! unrolled {
    ($i:ident in [$($n:literal),*] $body:block) => {
        $({
            const $i: usize = $n;
            $body
        })*
    };
}

/// `a + b` computed as `a·1 + b` on the multiply-add units, with `one` the
/// splat of 1 from [`one_for_fma`].
///
/// `a·1 + b` rounds the exact `a + b` once, so it is `a + b` to the bit, fused
/// or not; on the multiply-add units it spreads a kernel's additions over the
/// adders and the idle multipliers (two of each on Zen 3), instead of queueing
/// them all on the adders.
#[inline(always)]
fn add_on_fma<S: Simd>(simd: S, one: S::f64s, a: S::f64s, b: S::f64s) -> S::f64s {
    simd.mul_add_e_f64s(a, one, b)
}

/// The splat of 1 for [`add_on_fma`]; `black_box` keeps the compiler from
/// folding `a·1 + b` back into an addition.
#[inline(always)]
fn one_for_fma<S: Simd>(simd: S) -> S::f64s {
    simd.splat_f64s(std::hint::black_box(1.0))
}

/// One vector column of a tile of [`TILE_ROWS`] output rows, walking down it:
/// each input row's vectors are loaded once and serve every output row that
/// reads them, and the partial sums an input row starts for the output rows
/// below it stay in registers.
trait TileColumn: Copy {
    /// The same expression on one vector of one row (rows left over below
    /// the last tile) and on single cells (the cells beyond the last whole
    /// vector of a row).
    type Vector: VectorStencil;
    const VECTOR: Self::Vector;
    /// The stencil the tile computes.
    const STENCIL: Stencil;

    /// Writes `outs[i][at.col]` from the vectors `at.rows[i..i + 3]`.
    fn column<S: Simd, F: Finish>(self, at: Column<'_, S, F>, outs: [&mut S::f64s; TILE_ROWS]);
}

/// What a [`TileColumn`] reads: the vectors `[left, centre, right]` of the
/// tile's padded input rows, the index `col` of the vector column, and the
/// constants of the loop.
struct Column<'a, S: Simd, F> {
    simd: S,
    finish: F,
    /// The splat of 1 for [`add_on_fma`].
    one: S::f64s,
    rows: &'a [[&'a [S::f64s]; 3]; TILE_ROWS + 2],
    col: usize,
}

/// Sweeps one column block of a band of rows in tiles of [`TILE_ROWS`]
/// output rows ([`tile`]); the rows left over in pairs and alone
/// ([`sweep_block`]). `rows` has two rows more than `outs`.
#[inline(always)]
fn sweep_tiles<'u, 'o, S: Simd, T: TileColumn, F: Finish>(
    simd: S,
    kernel: T,
    finish: F,
    mut rows: impl Iterator<Item = &'u [f64]>,
    mut outs: impl Iterator<Item = &'o mut [f64]>,
) {
    const H: usize = TILE_ROWS;
    let (Some(first), Some(second)) = (rows.next(), rows.next()) else {
        return;
    };
    let mut window: [&[f64]; H + 2] = [first; H + 2];
    window[1] = second;
    loop {
        let mut outs_of_tile: [&mut [f64]; H] = Default::default();
        let mut filled = 0;
        while filled < H {
            let (Some(out), Some(row)) = (outs.next(), rows.next()) else {
                break;
            };
            (outs_of_tile[filled], window[filled + 2]) = (out, row);
            filled += 1;
        }
        if filled < H {
            let rows = window[..filled + 2].iter().copied();
            let outs = outs_of_tile.into_iter().take(filled);
            sweep_block(simd, T::VECTOR, finish, rows, outs);
            return;
        }
        tile(simd, kernel, finish, &window, outs_of_tile);
        (window[0], window[1]) = (window[H], window[H + 1]);
    }
}

/// [`TILE_ROWS`] output rows from the padded input rows around them, one
/// vector column at a time ([`TileColumn::column`]); the last cells of each
/// row that fill no whole vector go one by one ([`scalar_cells`]).
#[inline(always)]
fn tile<S: Simd, T: TileColumn, F: Finish>(
    simd: S,
    kernel: T,
    finish: F,
    rows: &[&[f64]; TILE_ROWS + 2],
    outs: [&mut [f64]; TILE_ROWS],
) {
    let [o0, o1, o2, o3] = outs;
    let n = o0.len();
    let [o0, o1, o2, o3] = [&mut o0[..n], &mut o1[..n], &mut o2[..n], &mut o3[..n]];
    let [r0, r1, r2, r3, r4, r5] = *rows;
    let (v0, t0) = S::as_mut_simd_f64s(o0);
    let (v1, t1) = S::as_mut_simd_f64s(o1);
    let (v2, t2) = S::as_mut_simd_f64s(o2);
    let (v3, t3) = S::as_mut_simd_f64s(o3);
    let m = v0.len();
    let [v1, v2, v3] = [&mut v1[..m], &mut v2[..m], &mut v3[..m]];
    let vectors = [
        row_vectors::<S>(r0, n, m),
        row_vectors::<S>(r1, n, m),
        row_vectors::<S>(r2, n, m),
        row_vectors::<S>(r3, n, m),
        row_vectors::<S>(r4, n, m),
        row_vectors::<S>(r5, n, m),
    ];
    let one = one_for_fma(simd);
    for col in 0..m {
        let outs = [&mut v0[col], &mut v1[col], &mut v2[col], &mut v3[col]];
        let at = Column {
            simd,
            finish,
            one,
            rows: &vectors,
            col,
        };
        kernel.column(at, outs);
    }
    let done = n - t0.len();
    let vector = T::VECTOR;
    scalar_cells(vector, finish, [r0, r1, r2], done, t0);
    scalar_cells(vector, finish, [r1, r2, r3], done, t1);
    scalar_cells(vector, finish, [r2, r3, r4], done, t2);
    scalar_cells(vector, finish, [r3, r4, r5], done, t3);
}

/// The 9-point stencil's tile column: an output vector costs 4.5 loads
/// instead of 6 for a row pair. (Eight rows a pass need 38 row pointers, more
/// than the registers, and measured slower.)
///
/// The sums keep [`Stencil::NinePoint`]'s order, `e·(((up + left) + right) +
/// down) + k·(((up_left + up_right) + down_left) + down_right) - centre`: the
/// row above contributes `(up + left) + right`, once the centre row is known,
/// and `up_left + up_right`, its own left plus right, so the bits are those
/// of [`NinePointVector`]. Three of the eight additions run on the
/// multiply-add units ([`add_on_fma`]).
#[derive(Clone, Copy)]
struct NinePointTile;

impl TileColumn for NinePointTile {
    type Vector = NinePointVector;
    const VECTOR: NinePointVector = NinePointVector;
    const STENCIL: Stencil = Stencil::NinePoint;

    #[inline(always)]
    fn column<S: Simd, F: Finish>(self, at: Column<'_, S, F>, mut outs: [&mut S::f64s; TILE_ROWS]) {
        let (simd, finish, one, rows, col) = (at.simd, at.finish, at.one, at.rows, at.col);
        let (e, k) = (NINE_POINT_WEIGHTS[0][1], NINE_POINT_WEIGHTS[0][0]);
        let (e, k) = (simd.splat_f64s(e), simd.splat_f64s(k));
        let add = |a, b| simd.add_f64s(a, b);
        let add_on_fma = |a, b| add_on_fma(simd, one, a, b);
        let load = |row: [&[S::f64s]; 3]| [row[0][col], row[1][col], row[2][col]];
        let [left, centre_up, right] = load(rows[0]);
        let mut corners_up = add(left, right);
        let [left, mut centre, right] = load(rows[1]);
        let mut edges_up = add(add(centre_up, left), right);
        let mut sides = add(left, right);
        // Unrolled with constant indices, so the row slices and the partial
        // sums live in registers rather than in arrays on the stack.
        unrolled!(I in [0, 1, 2, 3] {
            let [left, centre_below, right] = load(rows[I + 2]);
            let edges = add(edges_up, centre_below);
            let corners = add(add_on_fma(corners_up, left), right);
            let sum = add(simd.mul_f64s(e, edges), simd.mul_f64s(k, corners));
            *outs[I] = finish.finish_simd(simd, centre, simd.sub_f64s(sum, centre));
            edges_up = add(add_on_fma(centre, left), right);
            (corners_up, sides) = (sides, add_on_fma(left, right));
            centre = centre_below;
        });
        let _ = (edges_up, corners_up, sides, centre, &mut outs);
    }
}

/// The 5-point stencil's tile column: the centre vector of each input row
/// serves as `up`, `centre` and `down` of three output rows, so an output
/// vector costs 3.5 loads instead of 5 (its left and right, and 1.5 centres).
///
/// The sums keep [`Stencil::FivePoint`]'s order,
/// `(((up + left) - 4·centre) + right) + down`: everything but `down` comes
/// from the row above and the centre row, so it is summed when the centre
/// row is loaded and `down` added when the row below is, the bits of
/// [`FivePointVector`]. One of the four additions runs on the multiply-add
/// units ([`add_on_fma`]).
///
/// Built for AVX2, a column is 14 vector loads, 12 additions, 4 multiplies,
/// 4 multiply-adds and 4 stores, with no bounds check or call in the loop
/// (objdump of the bench binary).
#[derive(Clone, Copy)]
struct FivePointTile;

impl TileColumn for FivePointTile {
    type Vector = FivePointVector;
    const VECTOR: FivePointVector = FivePointVector;
    const STENCIL: Stencil = Stencil::FivePoint;

    #[inline(always)]
    fn column<S: Simd, F: Finish>(self, at: Column<'_, S, F>, mut outs: [&mut S::f64s; TILE_ROWS]) {
        let (simd, finish, one, rows, col) = (at.simd, at.finish, at.one, at.rows, at.col);
        let four = simd.splat_f64s(-FIVE_POINT_WEIGHTS[1][1]);
        let add = |a, b| simd.add_f64s(a, b);
        let all_but_down = |up, [left, centre, right]: [S::f64s; 3]| {
            let with_left = add_on_fma(simd, one, up, left);
            add(simd.sub_f64s(with_left, simd.mul_f64s(four, centre)), right)
        };
        let mut centre = rows[1][1][col];
        let mut partial = all_but_down(rows[0][1][col], [rows[1][0][col], centre, rows[1][2][col]]);
        // Unrolled with constant indices, so the row slices and the partial
        // sum live in registers rather than in arrays on the stack.
        unrolled!(I in [0, 1, 2, 3] {
            // Loaded once: after the store below, the compiler cannot prove
            // that a second load of it would read the same value.
            let below = rows[I + 2][1][col];
            *outs[I] = finish.finish_simd(simd, centre, add(partial, below));
            if I + 1 < TILE_ROWS {
                let [left, _, right] = rows[I + 2];
                partial = all_but_down(centre, [left[col], below, right[col]]);
            }
            centre = below;
        });
        let _ = (partial, centre, &mut outs);
    }
}

/// `out[j] = value` for every `j` (`value` an expression in `j`), and with
/// `save`, also `save[j] = copy[j]` in the same pass (the in-place step keeps
/// the old values of the next row this way, without a second pass over it).
/// A macro rather than a closure, so nothing in the loop is a call.
macro_rules! write_row {
    ($out:expr, $save:expr, $copy:expr, |$j:ident| $value:expr) => {{
        let out: &mut [f64] = $out;
        let n = out.len();
        match $save {
            None => {
                for $j in 0..n {
                    out[$j] = $value;
                }
            }
            Some(save) => {
                let (save, copy): (&mut [f64], &[f64]) = (&mut save[..n], &$copy[..n]);
                for $j in 0..n {
                    save[$j] = copy[$j];
                    out[$j] = $value;
                }
            }
        }
    }};
}

/// Computes one output row from three padded input rows (`up`, `mid`, `down`,
/// length `n + 2`) into `out` (length `n`): `out[j] = finish(centre, L)`.
/// With `save` (length `n`), also copies `down[1..n + 1]` into it.
///
/// Every slice is re-sliced to the same length first, so the loop has no
/// bounds checks and vectorises.
#[inline(always)]
fn row_kernel<F: Finish>(
    stencil: &Stencil,
    [up, mid, down]: [&[f64]; 3],
    out: &mut [f64],
    save: Option<&mut [f64]>,
    f: F,
) {
    let n = out.len();
    let (ul, u, ur) = (&up[..n], &up[1..n + 1], &up[2..n + 2]);
    let (l, c, r) = (&mid[..n], &mid[1..n + 1], &mid[2..n + 2]);
    let (dl, d, dr) = (&down[..n], &down[1..n + 1], &down[2..n + 2]);
    match *stencil {
        Stencil::FivePoint => write_row!(out, save, d, |j| f
            .finish(c[j], u[j] + l[j] - 4.0 * c[j] + r[j] + d[j])),
        Stencil::NinePoint => {
            let (e, k) = (NINE_POINT_WEIGHTS[0][1], NINE_POINT_WEIGHTS[0][0]);
            write_row!(out, save, d, |j| f.finish(
                c[j],
                e * (u[j] + l[j] + r[j] + d[j]) + k * (ul[j] + ur[j] + dl[j] + dr[j]) - c[j]
            ))
        }
        Stencil::Weights(w) => write_row!(out, save, d, |j| f.finish(
            c[j],
            w[0][0] * ul[j]
                + w[0][1] * u[j]
                + w[0][2] * ur[j]
                + w[1][0] * l[j]
                + w[1][1] * c[j]
                + w[1][2] * r[j]
                + w[2][0] * dl[j]
                + w[2][1] * d[j]
                + w[2][2] * dr[j]
        )),
    }
}

/// Below this many cells, the `rayon` feature still runs on one thread.
#[cfg(feature = "rayon")]
const PARALLEL_MIN_CELLS: usize = 1 << 15;

/// How many bands of rows a grid is split into.
pub(crate) fn bands(ny: usize, nx: usize) -> usize {
    #[cfg(feature = "rayon")]
    {
        if ny * nx >= PARALLEL_MIN_CELLS {
            return rayon::current_num_threads().clamp(1, ny);
        }
    }
    let _ = (ny, nx);
    1
}

/// `out[i][j] = finish(u[i+1][j+1], L(u)[i][j])` for the whole interior.
/// `u` is `(ny + 2) × (nx + 2)`, `out` is `ny × nx`; both have unit column
/// stride (checked by the callers).
pub(crate) fn sweep<F: Finish + Send + Sync>(
    stencil: &Stencil,
    u: ArrayView2<'_, f64>,
    out: ArrayViewMut2<'_, f64>,
    finish: F,
) {
    let (ny, nx) = out.dim();
    let nbands = bands(ny, nx);
    #[cfg(feature = "rayon")]
    if nbands > 1 {
        use ndarray::{Axis, Slice};
        use rayon::prelude::*;
        let per_band = ny.div_ceil(nbands);
        let mut out = out;
        out.axis_chunks_iter_mut(Axis(0), per_band)
            .into_par_iter()
            .enumerate()
            .for_each(|(b, out)| {
                let first = b * per_band;
                let u = u.slice_axis(Axis(0), Slice::from(first..first + out.nrows() + 2));
                vectorised(SweepBand {
                    stencil,
                    u,
                    out,
                    finish,
                });
            });
        return;
    }
    let _ = nbands;
    vectorised(SweepBand {
        stencil,
        u,
        out,
        finish,
    });
}

/// The column blocks `[start, end)` of `nx` columns: at most
/// [`BLOCK_COLUMNS`] wide, equal up to a multiple of 8 columns.
fn column_blocks(nx: usize) -> impl Iterator<Item = (usize, usize)> {
    let blocks = nx.div_ceil(BLOCK_COLUMNS).max(1);
    let width = nx.div_ceil(blocks).next_multiple_of(8);
    (0..nx)
        .step_by(width.max(1))
        .map(move |start| (start, (start + width).min(nx)))
}

/// The padded input rows (`end - start + 2` long) and the output rows of the
/// column block `[start, end)`.
#[inline(always)]
fn block_rows<'b, 'u: 'b, 'o: 'b>(
    u: &'b ArrayView2<'u, f64>,
    out: &'b mut ArrayViewMut2<'o, f64>,
    start: usize,
    end: usize,
) -> (
    impl Iterator<Item = &'b [f64]>,
    impl Iterator<Item = &'b mut [f64]>,
) {
    let rows = u
        .outer_iter()
        .map(move |row| &row.to_slice().expect("unit column stride")[start..end + 2]);
    let outs = out
        .outer_iter_mut()
        .map(move |row| &mut row.into_slice().expect("unit column stride")[start..end]);
    (rows, outs)
}

/// [`kernel::copy_interior`](crate::kernel::copy_interior): `out` = the
/// interior of `u`, one band.
pub(crate) fn copy_interior(u: ArrayView2<'_, f64>, out: ArrayViewMut2<'_, f64>) {
    vectorised(CopyBand { u, out });
}

struct CopyBand<'u, 'o> {
    u: ArrayView2<'u, f64>,
    out: ArrayViewMut2<'o, f64>,
}

impl WithSimd for CopyBand<'_, '_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let CopyBand { u, mut out } = self;
        // `x + (-0)` is `x` to the bit (also for ±0, infinities and NaN
        // payloads); the addition keeps the compiler from turning the loop
        // into a call of `memcpy`, whose speed is the reference, not the
        // ceiling of a kernel's own loop. `black_box` keeps it from folding.
        let minus_zero = simd.splat_f64s(std::hint::black_box(-0.0));
        for (start, end) in column_blocks(out.ncols()) {
            let (rows, outs) = block_rows(&u, &mut out, start, end);
            for (row, out) in rows.skip(1).zip(outs) {
                let n = out.len();
                let (out, tail) = S::as_mut_simd_f64s(out);
                let m = out.len();
                let [_, centre, _] = row_vectors::<S>(row, n, m);
                for (out, &centre) in out.iter_mut().zip(centre) {
                    *out = simd.add_f64s(centre, minus_zero);
                }
                let done = n - tail.len();
                tail.copy_from_slice(&row[done + 1..n + 1]);
            }
        }
    }
}

/// [`sweep`] on one band of rows: for each column block, every output row
/// from the three input rows around it.
struct SweepBand<'s, 'u, 'o, F> {
    stencil: &'s Stencil,
    u: ArrayView2<'u, f64>,
    out: ArrayViewMut2<'o, f64>,
    finish: F,
}

impl<F: Finish> WithSimd for SweepBand<'_, '_, '_, F> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let SweepBand {
            stencil,
            u,
            mut out,
            finish,
        } = self;
        for (start, end) in column_blocks(out.ncols()) {
            let (rows, outs) = block_rows(&u, &mut out, start, end);
            match *stencil {
                Stencil::FivePoint => sweep_tiles(simd, FivePointTile, finish, rows, outs),
                Stencil::NinePoint => sweep_tiles(simd, NinePointTile, finish, rows, outs),
                Stencil::Weights(w) => sweep_block(simd, WeightsVector(w), finish, rows, outs),
            }
        }
    }
}

/// Rows of scratch one band of [`step_band`] needs, each `w` long: the old
/// row above the band, the old row below it, and two more that rotate with
/// the first through the roles of old row `k - 1`, old row `k` and old row
/// `k + 1`.
pub(crate) const STEP_SCRATCH_ROWS: usize = 4;

/// Bands of at least this many cells (16 MiB of `f64`, far beyond L2 and
/// most of a shared L3) of the general 3×3 stencil take the write-back order
/// of [`StepOrder`]: measured faster at 2048² and 4096² (55% of memcpy instead
/// of 39–47% at 4096², for the 5-point stencil before it took
/// [`StepOrder::Tiles`]), and slower up to 1024², where the extra copy costs
/// more than it saves.
const WRITE_BACK_MIN_CELLS: usize = 1 << 21;

/// How a band is updated in place (the same bits either way).
#[derive(Clone, Copy, Debug, PartialEq)]
enum StepOrder {
    /// Each row is overwritten with its new values in the pass that also
    /// copies the old values of the next row aside (the next row's `mid`,
    /// the row after that's `up`), so no row is read twice.
    SaveNext,
    /// Each new row is computed from the field's old rows into a scratch row
    /// (the kernel of the double-buffered step, writing into L1) and copied
    /// back one row later, when no row needs its old values any more: the
    /// field is read once and written once, by `memcpy`.
    WriteBack,
    /// The 5- and 9-point stencils: tiles of [`TILE_ROWS`] rows written in
    /// place by the sweep's [`TileColumn`]s ([`step_tiles`]), each vector
    /// column stored one column late, when the next column has read the old
    /// values beside it; only the old last row of a tile is saved, for the
    /// tile below. Other stencils, and the rows below the last tile, take
    /// [`StepOrder::SaveNext`]. For the 5-point stencil on this round's Zen 3
    /// VM (medians of 3 alternating processes): 1.1–1.2× `SaveNext` at
    /// 64²–128², 1.3× at 256², 2.1× at 512², 2.7× at 1024², 2.2× `WriteBack`
    /// at 2048² and 4096².
    Tiles,
}

/// One in-place step `u += coef · L(u)` of a band of consecutive padded rows
/// (`rows`, `m × w`). `scratch` is [`STEP_SCRATCH_ROWS`] rows: the first holds
/// the old row above the band, the second the old row below it.
pub(crate) fn step_band(
    stencil: &Stencil,
    coef: f64,
    w: usize,
    rows: &mut [f64],
    scratch: &mut [f64],
) {
    let order = if matches!(stencil, Stencil::FivePoint | Stencil::NinePoint) {
        StepOrder::Tiles
    } else if rows.len() >= WRITE_BACK_MIN_CELLS {
        StepOrder::WriteBack
    } else {
        StepOrder::SaveNext
    };
    vectorised(StepBand {
        stencil,
        finish: Step { coef },
        order,
        w,
        rows,
        scratch,
    });
}

struct StepBand<'a> {
    stencil: &'a Stencil,
    finish: Step,
    order: StepOrder,
    w: usize,
    rows: &'a mut [f64],
    scratch: &'a mut [f64],
}

impl WithSimd for StepBand<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let StepBand {
            stencil,
            finish,
            order,
            w,
            rows,
            scratch,
        } = self;
        let mut buffers = scratch.chunks_exact_mut(w);
        let (Some(above), Some(below), Some(a), Some(b)) = (
            buffers.next(),
            buffers.next(),
            buffers.next(),
            buffers.next(),
        ) else {
            unreachable!("step_band gets {STEP_SCRATCH_ROWS} scratch rows");
        };
        if order == StepOrder::WriteBack {
            let below: &[f64] = below;
            // New row k goes to a scratch row, from the field's old rows
            // k - 1, k, k + 1; it is written back after row k + 1 is
            // computed, when no row needs old row k any more.
            let m = rows.len() / w;
            let (mut fresh, mut pending) = (&mut a[..w - 2], &mut b[..w - 2]);
            for k in 0..m {
                let up = if k == 0 {
                    &*above
                } else {
                    &rows[(k - 1) * w..k * w]
                };
                let down = if k + 1 == m {
                    below
                } else {
                    &rows[(k + 1) * w..(k + 2) * w]
                };
                let mid = &rows[k * w..(k + 1) * w];
                row_kernel(stencil, [up, mid, down], fresh, None, finish);
                if k > 0 {
                    rows[(k - 1) * w + 1..k * w - 1].copy_from_slice(pending);
                }
                (fresh, pending) = (pending, fresh);
            }
            if m > 0 {
                rows[(m - 1) * w + 1..m * w - 1].copy_from_slice(pending);
            }
            return;
        }
        let buffers = [above, below, a, b];
        match (order, stencil) {
            (StepOrder::Tiles, Stencil::FivePoint) => {
                step_tiles(simd, FivePointTile, finish, w, rows, buffers)
            }
            (StepOrder::Tiles, Stencil::NinePoint) => {
                step_tiles(simd, NinePointTile, finish, w, rows, buffers)
            }
            _ => save_next(stencil, finish, w, rows, buffers),
        }
    }
}

/// [`StepOrder::SaveNext`] on the rows `rows` (`m × w`), with the old row
/// above them in `above` and the old row below them in `below`; `a` and `b`
/// are scratch.
#[inline(always)]
fn save_next(
    stencil: &Stencil,
    finish: Step,
    w: usize,
    rows: &mut [f64],
    [above, below, a, b]: [&mut [f64]; 4],
) {
    let below: &[f64] = below;
    let Some(first) = rows.get(..w) else {
        return;
    };
    // `prev`: old row k - 1, `cur`: old row k, `next`: receives old row k + 1.
    let (mut prev, mut cur, mut next) = (above, a, b);
    cur.copy_from_slice(first);
    let mut rows = rows.chunks_exact_mut(w).peekable();
    while let Some(row) = rows.next() {
        let interior = &mut row[1..w - 1];
        match rows.peek() {
            Some(down) => {
                let down: &[f64] = down;
                next[0] = down[0];
                next[w - 1] = down[w - 1];
                let save = Some(&mut next[1..w - 1]);
                row_kernel(stencil, [prev, cur, down], interior, save, finish);
            }
            None => row_kernel(stencil, [prev, cur, below], interior, None, finish),
        }
        (prev, cur, next) = (cur, next, prev);
    }
}

/// [`StepOrder::Tiles`] on the rows `rows` (`m × w`): tiles of
/// [`TILE_ROWS`] rows, then the rows left below the last tile by
/// [`save_next`]. `above` holds the old row above the rows, `below` the old
/// row below them; `a` and `b` are scratch.
#[inline(always)]
fn step_tiles<S: Simd, T: TileColumn>(
    simd: S,
    kernel: T,
    finish: Step,
    w: usize,
    rows: &mut [f64],
    [above, below, a, b]: [&mut [f64]; 4],
) {
    const H: usize = TILE_ROWS;
    let nrows = rows.len() / w;
    // `saved`: the old row above the next tile; `spare`: receives the old
    // last row of the tile.
    let (mut saved, mut spare) = (above, a);
    let mut done = 0;
    while done + H <= nrows {
        let (tile, after) = rows[done * w..].split_at_mut(H * w);
        let down: &[f64] = if done + H < nrows { &after[..w] } else { below };
        let mut tile_rows = tile.chunks_exact_mut(w);
        let (Some(r1), Some(r2), Some(r3), Some(r4)) = (
            tile_rows.next(),
            tile_rows.next(),
            tile_rows.next(),
            tile_rows.next(),
        ) else {
            unreachable!("a tile has {H} rows");
        };
        tile_in_place(simd, kernel, finish, saved, [r1, r2, r3, r4], down, spare);
        (saved, spare) = (spare, saved);
        done += H;
    }
    save_next(
        &T::STENCIL,
        finish,
        w,
        &mut rows[done * w..],
        [saved, below, spare, b],
    );
}

/// One tile of [`step_tiles`]: the padded rows `rows` (`w` long) updated in
/// place from the old row above them (`up`) and the row below (`down`);
/// `save` receives the old last row.
///
/// Vector column `col` of the tile reads the old cells beside it, which lie
/// in the output vectors `col - 1` and `col + 1`; so its results are held in
/// registers and stored after column `col + 1` has been loaded, and the cells
/// beyond the last whole vector are computed before the last column is
/// stored.
#[inline(always)]
fn tile_in_place<S: Simd, T: TileColumn>(
    simd: S,
    kernel: T,
    finish: Step,
    up: &[f64],
    rows: [&mut [f64]; TILE_ROWS],
    down: &[f64],
    save: &mut [f64],
) {
    let w = up.len();
    let n = w - 2;
    let [r1, r2, r3, r4] = rows;
    let [r1, r2, r3, r4] = [&mut r1[..w], &mut r2[..w], &mut r3[..w], &mut r4[..w]];
    let (down, save) = (&down[..w], &mut save[..w]);
    let (whole, tail) = S::as_simd_f64s(&up[1..n + 1]);
    let (m, first_tail) = (whole.len(), n - tail.len());
    (save[0], save[w - 1]) = (r4[0], r4[w - 1]);
    let one = one_for_fma(simd);
    let zero = simd.splat_f64s(0.0);
    let mut pending = [zero; TILE_ROWS];
    let store = |rows: [&mut [f64]; TILE_ROWS], col: usize, values: [S::f64s; TILE_ROWS]| {
        for (row, value) in rows.into_iter().zip(values) {
            S::as_mut_simd_f64s(&mut row[1..n + 1]).0[col] = value;
        }
    };
    for col in 0..m {
        let vectors = [
            row_vectors::<S>(up, n, m),
            row_vectors::<S>(r1, n, m),
            row_vectors::<S>(r2, n, m),
            row_vectors::<S>(r3, n, m),
            row_vectors::<S>(r4, n, m),
            row_vectors::<S>(down, n, m),
        ];
        let old_last = vectors[TILE_ROWS][1][col];
        let mut fresh = [zero; TILE_ROWS];
        let [f0, f1, f2, f3] = &mut fresh;
        let at = Column {
            simd,
            finish,
            one,
            rows: &vectors,
            col,
        };
        kernel.column(at, [f0, f1, f2, f3]);
        S::as_mut_simd_f64s(&mut save[1..n + 1]).0[col] = old_last;
        if col > 0 {
            store([&mut *r1, &mut *r2, &mut *r3, &mut *r4], col - 1, pending);
        }
        pending = fresh;
    }
    // At most 7 cells (8 lanes of AVX-512) beyond the last whole vector.
    let mut tails = [[0.0; 8]; TILE_ROWS];
    {
        let window: [&[f64]; TILE_ROWS + 2] = [up, r1, r2, r3, r4, down];
        for (i, tail) in tails.iter_mut().enumerate() {
            let rows = [window[i], window[i + 1], window[i + 2]];
            scalar_cells(
                T::VECTOR,
                finish,
                rows,
                first_tail,
                &mut tail[..n - first_tail],
            );
        }
    }
    save[first_tail + 1..n + 1].copy_from_slice(&r4[first_tail + 1..n + 1]);
    let mut rows = [r1, r2, r3, r4];
    for (row, tail) in rows.iter_mut().zip(&tails) {
        row[first_tail + 1..n + 1].copy_from_slice(&tail[..n - first_tail]);
    }
    if m > 0 {
        store(rows, m - 1, pending);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;
    use rand::{Rng, SeedableRng};

    fn stencils() -> [Stencil; 3] {
        let skewed = [[0.3, -0.7, 0.1], [1.3, -2.9, 0.6], [-0.2, 0.45, 1.05]];
        [
            Stencil::FivePoint,
            Stencil::NinePoint,
            Stencil::Weights(skewed),
        ]
    }

    /// Runs `op` compiled for every vector width this CPU has: the baseline
    /// (SSE2 on x86-64), AVX2 and AVX-512 where present, and the run-time
    /// choice, which the kernels use.
    fn every_width<Op: WithSimd + Clone>(op: Op) -> Vec<Op::Output> {
        let mut outputs = vec![op.clone().with_simd(Scalar::new())];
        #[cfg(target_arch = "x86_64")]
        {
            if let Some(simd) = pulp::x86::V3::try_new() {
                outputs.push(Simd::vectorize(simd, op.clone()));
            }
            if let Some(simd) = pulp::x86::V4::try_new() {
                outputs.push(Simd::vectorize(simd, op.clone()));
            }
        }
        outputs.push(vectorised(op));
        outputs
    }

    /// The baseline build (SSE2 on x86-64), the AVX2 one and the AVX-512 one
    /// give the same bits (on a CPU without AVX2 or AVX-512 those widths are
    /// skipped; the run-time choice is always compared).
    #[test]
    fn every_vector_width_gives_the_same_bits() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        for (ny, nx) in [(3, 3), (7, 13), (8, 21), (33, 70), (5, 2100)] {
            let u = Array2::from_shape_fn((ny + 2, nx + 2), |_| rng.gen_range(-1.0..1.0));
            for stencil in stencils() {
                let finish = Step { coef: 0.137 };
                let swept = every_width(SweepOnce {
                    stencil: &stencil,
                    u: u.view(),
                    finish,
                });
                for (width, sweep) in swept.iter().enumerate() {
                    let what = format!("sweep {stencil:?} {ny}x{nx}, width {width}");
                    assert_eq!(sweep, &swept[0], "{what}");
                }
                for order in [StepOrder::SaveNext, StepOrder::WriteBack, StepOrder::Tiles] {
                    let stepped = every_width(StepOnce {
                        stencil: &stencil,
                        u: u.view(),
                        finish,
                        order,
                    });
                    assert!(stepped.len() >= 2 && stepped.len() == swept.len());
                    for (width, step) in stepped.iter().enumerate() {
                        // In place equals double buffering, in either order.
                        let what =
                            format!("in place {order:?} {stencil:?} {ny}x{nx}, width {width}");
                        assert_eq!(crate::kernel::interior(step.view()), swept[0], "{what}");
                    }
                }
            }
        }
    }

    /// The 5-point and 9-point sweeps' tiles of rows, with every count of
    /// rows left over and of cells beyond the last whole vector, give the
    /// bits of the documented expression written out cell by cell.
    #[test]
    fn tiles_equal_the_expression_cell_by_cell() {
        type Neighbour<'a> = &'a dyn Fn(usize, usize) -> f64;
        type Expression<'a> = &'a dyn Fn(Neighbour) -> f64;
        let (e, k) = (NINE_POINT_WEIGHTS[0][1], NINE_POINT_WEIGHTS[0][0]);
        let nine_point = |v: Neighbour| {
            e * (v(0, 1) + v(1, 0) + v(1, 2) + v(2, 1))
                + k * (v(0, 0) + v(0, 2) + v(2, 0) + v(2, 2))
                - v(1, 1)
        };
        let five_point = |v: Neighbour| v(0, 1) + v(1, 0) - 4.0 * v(1, 1) + v(1, 2) + v(2, 1);
        let cases: [(Stencil, Expression, u64); 2] = [
            (Stencil::NinePoint, &nine_point, 12),
            (Stencil::FivePoint, &five_point, 13),
        ];
        for (stencil, expression, seed) in cases {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            for ny in 1..=2 * TILE_ROWS + 3 {
                for nx in [1, 2, 3, 4, 5, 7, 8, 9, 17, 31] {
                    // Magnitudes far apart, so a sum taken in another order
                    // rounds differently (with values of one magnitude it
                    // mostly does not).
                    let u = Array2::from_shape_fn((ny + 2, nx + 2), |_| {
                        rng.gen_range(-1.0..1.0) * 2f64.powi(rng.gen_range(-20..=20))
                    });
                    // The Laplacian itself: adding it, scaled, to the centre
                    // would round away a last-bit difference in a partial sum.
                    let expected = Array2::from_shape_fn((ny, nx), |(i, j)| {
                        expression(&|a, b| u[[i + a, j + b]])
                    });
                    let swept = every_width(SweepOnce {
                        stencil: &stencil,
                        u: u.view(),
                        finish: Laplacian,
                    });
                    for (width, sweep) in swept.iter().enumerate() {
                        assert_eq!(sweep, &expected, "{stencil:?} {ny}x{nx}, width {width}");
                    }
                }
            }
        }
    }

    /// The in-place step in tiles, with every count of rows left below the
    /// last tile and of cells beyond the last whole vector, gives the bits of
    /// double buffering (each tile's vector columns are stored one column
    /// late, its last cells after the last column is computed).
    #[test]
    fn tiled_step_equals_double_buffering_at_every_edge() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(14);
        for stencil in [Stencil::FivePoint, Stencil::NinePoint] {
            for ny in 1..=2 * TILE_ROWS + 3 {
                for nx in [1, 2, 3, 4, 5, 7, 8, 9, 17, 31] {
                    let u = Array2::from_shape_fn((ny + 2, nx + 2), |_| {
                        rng.gen_range(-1.0..1.0) * 2f64.powi(rng.gen_range(-20..=20))
                    });
                    let finish = Step { coef: 0.137 };
                    let swept = every_width(SweepOnce {
                        stencil: &stencil,
                        u: u.view(),
                        finish,
                    });
                    let stepped = every_width(StepOnce {
                        stencil: &stencil,
                        u: u.view(),
                        finish,
                        order: StepOrder::Tiles,
                    });
                    for (width, step) in stepped.iter().enumerate() {
                        let what = format!("tiled step {stencil:?} {ny}x{nx}, width {width}");
                        assert_eq!(crate::kernel::interior(step.view()), swept[width], "{what}");
                        // The ghost ring is read, never written.
                        let mut ghosts = step.clone();
                        crate::kernel::interior_mut(ghosts.view_mut()).fill(0.0);
                        let mut expected = u.clone();
                        crate::kernel::interior_mut(expected.view_mut()).fill(0.0);
                        assert_eq!(ghosts, expected, "{what}: ghosts");
                    }
                }
            }
        }
    }

    /// [`SweepBand`] into a new array, for [`every_width`].
    #[derive(Clone)]
    struct SweepOnce<'a, F> {
        stencil: &'a Stencil,
        u: ndarray::ArrayView2<'a, f64>,
        finish: F,
    }

    impl<F: Finish> WithSimd for SweepOnce<'_, F> {
        type Output = Array2<f64>;

        fn with_simd<S: Simd>(self, simd: S) -> Array2<f64> {
            let (ny, nx) = (self.u.nrows() - 2, self.u.ncols() - 2);
            let mut out = Array2::zeros((ny, nx));
            SweepBand {
                stencil: self.stencil,
                u: self.u,
                out: out.view_mut(),
                finish: self.finish,
            }
            .with_simd(simd);
            out
        }
    }

    /// [`StepBand`] on a copy of the field (one band, its ghost rows as the
    /// saved rows above and below), for [`every_width`].
    #[derive(Clone)]
    struct StepOnce<'a> {
        stencil: &'a Stencil,
        u: ndarray::ArrayView2<'a, f64>,
        finish: Step,
        order: StepOrder,
    }

    impl WithSimd for StepOnce<'_> {
        type Output = Array2<f64>;

        fn with_simd<S: Simd>(self, simd: S) -> Array2<f64> {
            let (ny, w) = (self.u.nrows() - 2, self.u.ncols());
            let mut field = self.u.to_owned();
            let data = field.as_slice_mut().expect("standard layout");
            let mut scratch = vec![0.0; STEP_SCRATCH_ROWS * w];
            scratch[..w].copy_from_slice(&data[..w]);
            scratch[w..2 * w].copy_from_slice(&data[(ny + 1) * w..]);
            StepBand {
                stencil: self.stencil,
                finish: self.finish,
                order: self.order,
                w,
                rows: &mut data[w..(ny + 1) * w],
                scratch: &mut scratch,
            }
            .with_simd(simd);
            field
        }
    }
}
