//! 1-D viscous Burgers with an in-situ SVD of its snapshots, over MPI ranks.
//!
//! `u_t = -u u_x + ν u_xx` on `[0, 2π)`, periodic, `u(x, 0) = sin x`, on the grid
//! `x_j = 2πj/N`, forward Euler in time and central differences in space:
//!
//! ```text
//! u_j += dt * ( -u_j (u_{j+1} - u_{j-1}) / (2 dx) + ν (u_{j+1} - 2 u_j + u_{j-1}) / dx² )
//! ```
//!
//! stepping `while t < t_end` with `t += dt` (2001 steps for `dt = 0.001`,
//! `t_end = 2`: the sum of the rounded `dt`s stays just below 2 after 2000 of them,
//! as in the reference program). The field after every step is a snapshot, a row
//! of the `T × N` snapshot matrix `X` (the initial field is not one).
//!
//! Space is split in contiguous blocks over the ranks ([`block_range`]); a rank
//! keeps its `T × N_r` columns `X_r` of the snapshot matrix in memory.
//!
//! The leading singular triplets of `X = U Σ Vᵀ` are computed without moving
//! snapshots ([`distributed_svd`]): subspace iteration on `X Xᵀ` with
//! Rayleigh-Ritz, where `X Xᵀ Q = Σ_r X_r (X_rᵀ Q)` is one all-reduce of a
//! `T × b` block per iteration (`b` = wanted modes + 8). Each rank ends with its
//! own rows of the spatial modes. The total energy `‖X‖_F²` is one more sum.

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatMut, MatRef, Par, Side};
use mpi::collective::SystemOperation;
use mpi::topology::Communicator;
use mpi::traits::*;
use quicklb_transport::PersistentSet;

/// Parameters of a run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BurgersParams {
    /// Number of grid points on `[0, 2π)`.
    pub n: usize,
    /// Viscosity ν.
    pub nu: f64,
    /// Time step.
    pub dt: f64,
    /// Stepping goes on `while t < t_end`.
    pub t_end: f64,
}

impl Default for BurgersParams {
    fn default() -> Self {
        BurgersParams {
            n: 256,
            nu: 0.01,
            dt: 0.001,
            t_end: 2.0,
        }
    }
}

impl BurgersParams {
    /// The number of steps `while t < t_end` takes (the number of snapshots).
    pub fn num_steps(&self) -> usize {
        let mut t = 0.0;
        let mut steps = 0;
        while t < self.t_end {
            t += self.dt;
            steps += 1;
        }
        steps
    }

    /// Checks that the parameters can run on `ranks` ranks (the same verdict
    /// on every rank, without communicating): at least one grid point per
    /// rank and at most `2^31 - 1` points (rank 0 gathers the field with
    /// MPI's 32-bit counts), a finite `dt > 0` and `t_end > 0` (at least one
    /// snapshot), and at most [`MAX_STEPS`] steps.
    ///
    /// ```
    /// use quicklb_examples::burgers::BurgersParams;
    /// let ok = BurgersParams::default();
    /// assert!(ok.check(4).is_ok());
    /// assert!(BurgersParams { t_end: 0.0, ..ok }.check(1).is_err());
    /// assert!(BurgersParams { dt: 1e-300, ..ok }.check(1).is_err());
    /// assert!(BurgersParams { n: 3, ..ok }.check(4).is_err());
    /// ```
    pub fn check(&self, ranks: usize) -> Result<(), BurgersError> {
        let invalid = |m: String| Err(BurgersError::InvalidArgument(m));
        if self.n == 0 || ranks > self.n {
            return invalid(format!(
                "{ranks} ranks for {} grid points: each rank needs at least one point",
                self.n
            ));
        }
        if self.n > i32::MAX as usize {
            return invalid(format!(
                "--n {}: at most 2^31 - 1 grid points (rank 0 gathers the field with MPI's 32-bit counts)",
                self.n
            ));
        }
        if !(self.dt > 0.0 && self.dt.is_finite()) {
            return invalid(format!("--dt {}: must be finite and > 0", self.dt));
        }
        if !(self.t_end > 0.0 && self.t_end.is_finite()) {
            return invalid(format!(
                "--t-end {}: must be finite and > 0 (the SVD needs at least one snapshot)",
                self.t_end
            ));
        }
        if self.t_end / self.dt > MAX_STEPS as f64 {
            return invalid(format!(
                "--t-end {} with --dt {} is about {:.3e} steps, more than {MAX_STEPS}",
                self.t_end,
                self.dt,
                self.t_end / self.dt
            ));
        }
        if !(self.nu.is_finite() && self.nu >= 0.0) {
            return invalid(format!("--nu {}: must be finite and >= 0", self.nu));
        }
        Ok(())
    }

    /// An upper estimate of one rank's memory for `ranks` ranks and `modes`
    /// modes, in bytes (the snapshots twice: kept and copied by the SVD, and
    /// the SVD's bases); `None` if it overflows `u64`. Call after
    /// [`BurgersParams::check`].
    pub fn memory_per_rank(&self, ranks: usize, modes: usize) -> Option<u64> {
        let steps = (self.t_end / self.dt).ceil() as u64 + 1;
        let len = (self.n as u64).div_ceil(ranks.max(1) as u64);
        let b = (modes as u64).checked_add(8)?;
        let snapshots = steps.checked_mul(len)?.checked_mul(2)?;
        let bases = b
            .checked_mul(steps.checked_add(len)?.checked_add(b)?)?
            .checked_mul(3)?;
        snapshots.checked_add(bases)?.checked_mul(8)
    }

    /// Grid spacing `2π / N`.
    pub fn dx(&self) -> f64 {
        2.0 * std::f64::consts::PI / self.n as f64
    }
}

/// The most time steps a run may take (see [`BurgersParams::check`]).
pub const MAX_STEPS: usize = 100_000_000;

/// Everything that can go wrong in the Burgers demo.
#[derive(Debug, thiserror::Error)]
pub enum BurgersError {
    /// Parameters that cannot run (e.g. more ranks than grid points). Found
    /// alike by every rank, before any communication.
    #[error("invalid parameters: {0}")]
    InvalidArgument(String),
    /// A file could not be written (on the rank that tried).
    #[error("{0}")]
    Io(String),
    /// An MPI operation of quicklb-transport failed.
    #[error(transparent)]
    Transport(#[from] quicklb_transport::Error),
    /// The eigendecomposition did not converge.
    #[error("eigendecomposition of the Gram matrix failed: {0:?}")]
    Eigen(faer::linalg::evd::EvdError),
    /// The subspace iteration of the SVD did not converge.
    #[error("the SVD did not converge in {iterations} iterations")]
    NoConvergence {
        /// Iterations done.
        iterations: usize,
    },
    /// The solution blew up (time step too large for this grid and viscosity).
    #[error("the solution is not finite at step {step}: time step too large?")]
    Unstable {
        /// The step at which it was detected.
        step: usize,
    },
}

/// The contiguous block `(start, len)` of `n` points owned by `rank` of `size`:
/// the first `n % size` ranks own one point more.
pub fn block_range(n: usize, size: usize, rank: usize) -> (usize, usize) {
    let block = quicklb_stencil::split(n, size, rank);
    (block.start, block.len())
}

/// Fills the ghost values of a rank's block: given its first and last interior
/// values, returns `(left ghost, right ghost)`.
pub trait HaloExchange {
    /// One exchange.
    fn exchange(&mut self, first: f64, last: f64) -> Result<(f64, f64), BurgersError>;
}

/// The halo of a rank that owns the whole periodic domain: it wraps around.
#[derive(Clone, Copy, Debug, Default)]
pub struct PeriodicHalo;

impl HaloExchange for PeriodicHalo {
    fn exchange(&mut self, first: f64, last: f64) -> Result<(f64, f64), BurgersError> {
        Ok((last, first))
    }
}

/// The halo exchange between neighbouring ranks of a periodic ring, with
/// persistent requests (quicklb-transport's [`PersistentSet`]): built once, two
/// sends and two receives of one value started every step.
#[derive(Debug)]
pub struct MpiHalo {
    set: PersistentSet<'static, f64>,
}

const TO_LEFT: i32 = 11;
const TO_RIGHT: i32 = 12;

impl MpiHalo {
    /// Builds the requests (collective over `comm`).
    pub fn new<C: Communicator>(comm: &C) -> Result<Self, BurgersError> {
        let (rank, size) = (comm.rank(), comm.size());
        let left = (rank + size - 1) % size;
        let right = (rank + 1) % size;
        // Send 0: my first value to the left; send 1: my last value to the right.
        // Receive 0: the right neighbour's first value, my right ghost;
        // receive 1: the left neighbour's last value, my left ghost.
        let set = PersistentSet::builder(comm)
            .send_owned(vec![0.0], left, TO_LEFT)
            .send_owned(vec![0.0], right, TO_RIGHT)
            .recv_owned(vec![0.0], right, TO_LEFT)
            .recv_owned(vec![0.0], left, TO_RIGHT)
            .build()?;
        Ok(MpiHalo { set })
    }
}

impl HaloExchange for MpiHalo {
    fn exchange(&mut self, first: f64, last: f64) -> Result<(f64, f64), BurgersError> {
        self.set.send_buf_mut(0)[0] = first;
        self.set.send_buf_mut(1)[0] = last;
        self.set.start_all()?.wait()?;
        Ok((self.set.recv_buf(1)[0], self.set.recv_buf(0)[0]))
    }
}

/// One rank's block of the Burgers field and its snapshots.
#[derive(Clone, Debug)]
pub struct LocalBurgers {
    params: BurgersParams,
    start: usize,
    len: usize,
    /// `len + 2` values: left ghost, interior, right ghost.
    u: Vec<f64>,
    next: Vec<f64>,
    t: f64,
    step: usize,
    /// Row-major `T × len`: row `s` is the field after step `s + 1`.
    snapshots: Vec<f64>,
}

impl LocalBurgers {
    /// The block `start..start + len` of the initial field `sin x_j`.
    pub fn new(params: BurgersParams, start: usize, len: usize) -> Result<Self, BurgersError> {
        if len == 0 || start + len > params.n {
            return Err(BurgersError::InvalidArgument(format!(
                "block {start}..{} of a grid of {} points",
                start + len,
                params.n
            )));
        }
        params.check(1)?;
        let dx = params.dx();
        let mut u = vec![0.0; len + 2];
        for (i, v) in u[1..=len].iter_mut().enumerate() {
            *v = ((start + i) as f64 * dx).sin();
        }
        let steps = params.num_steps();
        Ok(LocalBurgers {
            params,
            start,
            len,
            next: u.clone(),
            u,
            t: 0.0,
            step: 0,
            snapshots: Vec::with_capacity(steps * len),
        })
    }

    /// First grid index of the block.
    pub fn start(&self) -> usize {
        self.start
    }

    /// The block's current field (no ghosts).
    pub fn field(&self) -> &[f64] {
        &self.u[1..=self.len]
    }

    /// Steps done so far.
    pub fn step(&self) -> usize {
        self.step
    }

    /// Whether `t < t_end` no longer holds.
    pub fn done(&self) -> bool {
        self.t >= self.params.t_end
    }

    /// One forward-Euler step (halo exchange included); stores the new field as a snapshot.
    pub fn advance(&mut self, halo: &mut impl HaloExchange) -> Result<(), BurgersError> {
        let n = self.len;
        let (left, right) = halo.exchange(self.u[1], self.u[n])?;
        self.u[0] = left;
        self.u[n + 1] = right;
        let dx = self.params.dx();
        let (c1, c2) = (1.0 / (2.0 * dx), self.params.nu / (dx * dx));
        let dt = self.params.dt;
        for j in 1..=n {
            let (um, u0, up) = (self.u[j - 1], self.u[j], self.u[j + 1]);
            self.next[j] = u0 + dt * (-u0 * (up - um) * c1 + c2 * (up - 2.0 * u0 + um));
        }
        std::mem::swap(&mut self.u, &mut self.next);
        self.t += dt;
        self.step += 1;
        let field = &self.u[1..=n];
        if field.iter().any(|v| !v.is_finite()) {
            return Err(BurgersError::Unstable { step: self.step });
        }
        self.snapshots.extend_from_slice(field);
        Ok(())
    }

    /// Runs `while t < t_end`, calling `observe(step, field)` before the first
    /// step (step 0) and after every step.
    pub fn run(
        &mut self,
        halo: &mut impl HaloExchange,
        mut observe: impl FnMut(usize, &[f64]) -> Result<(), BurgersError>,
    ) -> Result<(), BurgersError> {
        observe(self.step, self.field())?;
        while !self.done() {
            self.advance(halo)?;
            observe(self.step, self.field())?;
        }
        Ok(())
    }

    /// The block's columns `X_r` of the snapshot matrix (`T × len`).
    pub fn snapshots(&self) -> MatRef<'_, f64> {
        MatRef::from_row_major_slice(&self.snapshots, self.step, self.len)
    }
}

/// Sums a buffer over all ranks, in place (an all-reduce); the seam that lets the
/// SVD run without MPI in unit tests.
pub trait AllSum {
    /// Replaces `data` by its element-wise sum over all ranks (the same result on every rank).
    fn all_sum(&self, data: &mut [f64]);
}

/// [`AllSum`] over an MPI communicator.
#[derive(Clone, Copy, Debug)]
pub struct MpiSum<'c, C: Communicator>(pub &'c C);

impl<C: Communicator> AllSum for MpiSum<'_, C> {
    fn all_sum(&self, data: &mut [f64]) {
        let local = data.to_vec();
        self.0
            .all_reduce_into(&local[..], data, SystemOperation::sum());
    }
}

/// [`AllSum`] of a single process: nothing to add.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoComm;

impl AllSum for NoComm {
    fn all_sum(&self, _data: &mut [f64]) {}
}

/// The leading singular triplets of a column-distributed matrix, as seen by one rank.
#[derive(Clone, Debug)]
pub struct Pod {
    /// The leading singular values, nonincreasing (same on every rank).
    pub sigma: Vec<f64>,
    /// `‖X‖_F² = Σ σ_k²` over all singular values (same on every rank).
    pub energy_total: f64,
    /// The temporal modes (left singular vectors), `T × k` (same on every rank).
    pub temporal: Mat<f64>,
    /// This rank's rows of the spatial modes (right singular vectors), `len × k`.
    pub modes: Mat<f64>,
    /// Subspace iterations done.
    pub iterations: usize,
}

impl Pod {
    /// Fraction of `‖X‖_F²` captured by the first `m` modes.
    pub fn energy_captured(&self, m: usize) -> f64 {
        if self.energy_total == 0.0 {
            return 0.0;
        }
        self.sigma.iter().take(m).map(|s| s * s).sum::<f64>() / self.energy_total
    }
}

/// Options of [`distributed_svd`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SvdOptions {
    /// Extra basis vectors beyond the `k` wanted (speeds convergence up).
    pub oversampling: usize,
    /// Stop when every wanted Ritz pair has `‖X v - σ u‖ <= tol σ_1`
    /// (which bounds the error of each `σ` by `tol σ_1`).
    pub tol: f64,
    /// Iteration limit.
    pub max_iterations: usize,
}

impl Default for SvdOptions {
    fn default() -> Self {
        SvdOptions {
            oversampling: 8,
            tol: 1e-12,
            max_iterations: 500,
        }
    }
}

/// A deterministic pseudo-random number in `[-1, 1)` (SplitMix64 of `i`).
fn hash_unit(i: u64) -> f64 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 52) as f64 - 1.0
}

/// `Σ_i a_i b_i`, in four independent sums (a single running sum waits for
/// each addition: four times slower).
#[inline]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a4, b4) = (a[..n].chunks_exact(4), b[..n].chunks_exact(4));
    let tail: f64 = a4
        .remainder()
        .iter()
        .zip(b4.remainder())
        .map(|(x, y)| x * y)
        .sum();
    let mut acc = [0.0f64; 4];
    for (x, y) in a4.zip(b4) {
        for l in 0..4 {
            acc[l] += x[l] * y[l];
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// Orthonormalises the `b` columns of length `t` stored one after the other in
/// `q`: modified Gram-Schmidt, twice. A column that is (numerically) in the span
/// of the previous ones is set to 0.
fn orthonormalize(q: &mut [f64], t: usize) {
    let b = q.len() / t;
    for c in 0..b {
        let (done, rest) = q.split_at_mut(c * t);
        let col = &mut rest[..t];
        let norm0 = dot(col, col).sqrt();
        for _pass in 0..2 {
            for p in 0..c {
                let prev = &done[p * t..(p + 1) * t];
                let d = dot(prev, col);
                for (v, w) in col.iter_mut().zip(prev) {
                    *v -= d * w;
                }
            }
        }
        let norm = dot(col, col).sqrt();
        let scale = if norm > 1e-12 * norm0 && norm > 0.0 {
            1.0 / norm
        } else {
            0.0
        };
        col.iter_mut().for_each(|v| *v *= scale);
    }
}

/// `out_c = Σ_r cols_r W[r][c]` for the first `k` columns, where `cols` holds
/// `b` columns of length `len` one after the other and `w` is `b × b`.
fn combine(cols: &[f64], len: usize, w: &Mat<f64>, k: usize) -> Vec<f64> {
    let b = w.nrows();
    let mut out = vec![0.0; len * k];
    for c in 0..k {
        let dst = &mut out[c * len..(c + 1) * len];
        for r in 0..b {
            let f = w[(r, c)];
            for (d, v) in dst.iter_mut().zip(&cols[r * len..(r + 1) * len]) {
                *d += f * v;
            }
        }
    }
    out
}

/// The leading `k` singular values and vectors of the snapshot matrix
/// `X = [X_0 X_1 … X_{p-1}]`, whose column blocks `X_r` (`T × len_r`) live on
/// the ranks, without moving any of them.
///
/// Subspace iteration on `X Xᵀ` with Rayleigh-Ritz (the method of snapshots
/// done iteratively): every rank holds the same orthonormal basis `Q` (`T × b`,
/// `b = k + oversampling`); an iteration computes `Z_r = X_rᵀ Q` locally and sums
/// `X_r Z_r` (`T × b`) and `Z_rᵀ Z_r` (`b × b`) over the ranks in one all-reduce.
/// The eigenpairs `(σ², w)` of `Σ_r Z_rᵀ Z_r = Qᵀ X Xᵀ Q` give the Ritz values `σ`,
/// temporal modes `u = Q w` and this rank's rows of the spatial modes
/// `v_r = Z_r w / σ`. It stops when every wanted pair's residual
/// `‖X v − σ u‖ = ‖X Xᵀ Q w / σ − σ Q w‖` is below `tol · σ_1`, which bounds the
/// error of each `σ` by `tol · σ_1` (in practice it is far smaller: Ritz values
/// converge with the square of the residual). The demo's matrix needs 3 iterations.
///
/// The total energy `‖X‖_F²` is summed exactly. Signs: the largest entry in
/// magnitude of each temporal mode is positive. Collective over the ranks of `comm`.
pub fn distributed_svd(
    comm: &impl AllSum,
    x: MatRef<'_, f64>,
    k: usize,
    opts: SvdOptions,
) -> Result<Pod, BurgersError> {
    let (t, len) = (x.nrows(), x.ncols());
    // The global column count bounds the rank of X; and ‖X‖_F².
    let mut energy = 0.0;
    for i in 0..t {
        energy += match x.row(i).try_as_row_major() {
            Some(r) => dot(r.as_slice(), r.as_slice()),
            None => (0..len).map(|j| x[(i, j)] * x[(i, j)]).sum(),
        };
    }
    let mut counts = [len as f64, energy];
    comm.all_sum(&mut counts);
    let (n_global, energy_total) = (counts[0] as usize, counts[1]);
    let b = (k + opts.oversampling).min(t).min(n_global);
    let k = k.min(b);

    // Q: b columns of length t. Z: b columns of length len. The products
    // with X are faer's matrix products (blocked, vectorised; one thread).
    let mut q: Vec<f64> = (0..b * t).map(|i| hash_unit(i as u64)).collect();
    orthonormalize(&mut q, t);
    let mut z = vec![0.0; b * len];
    let mut buf = vec![0.0; t * b + b * b];
    for iteration in 1..=opts.max_iterations {
        // Z_r = X_rᵀ Q.
        matmul(
            MatMut::from_column_major_slice_mut(&mut z, len, b),
            Accum::Replace,
            x.transpose(),
            MatRef::from_column_major_slice(&q, t, b),
            1.0,
            Par::Seq,
        );
        // Y = X_r Z_r (b columns of length t) and M = Z_rᵀ Z_r, summed over ranks.
        {
            let zr = MatRef::from_column_major_slice(&z, len, b);
            let (y, m) = buf.split_at_mut(t * b);
            matmul(
                MatMut::from_column_major_slice_mut(y, t, b),
                Accum::Replace,
                x,
                zr,
                1.0,
                Par::Seq,
            );
            matmul(
                MatMut::from_column_major_slice_mut(m, b, b),
                Accum::Replace,
                zr.transpose(),
                zr,
                1.0,
                Par::Seq,
            );
        }
        comm.all_sum(&mut buf);
        let (y, m) = buf.split_at(t * b);
        let m = MatRef::from_column_major_slice(m, b, b);

        let eig = m
            .self_adjoint_eigen(Side::Lower)
            .map_err(BurgersError::Eigen)?;
        let s = eig.S().column_vector();
        // Eigenvalues are nondecreasing: take them from the top.
        let mut w = Mat::<f64>::from_fn(b, b, |r, c| eig.U()[(r, b - 1 - c)]);
        let mut sigma: Vec<f64> = (0..b).map(|c| s[b - 1 - c].max(0.0).sqrt()).collect();
        let mut qw = combine(&q, t, &w, k);
        let yw = combine(y, t, &w, k);
        let sigma1 = sigma[0];
        let converged = sigma1 == 0.0
            || (0..k).all(|c| {
                if sigma[c] <= opts.tol * sigma1 {
                    return true;
                }
                let r2: f64 = (0..t)
                    .map(|i| {
                        let r = yw[c * t + i] / sigma[c] - sigma[c] * qw[c * t + i];
                        r * r
                    })
                    .sum();
                r2.sqrt() <= opts.tol * sigma1
            });
        if converged {
            // Fix signs, then v_r = Z_r w / σ.
            for c in 0..k {
                let col = &mut qw[c * t..(c + 1) * t];
                let big = col
                    .iter()
                    .fold(0.0f64, |acc, &v| if v.abs() > acc.abs() { v } else { acc });
                if big < 0.0 {
                    col.iter_mut().for_each(|v| *v = -*v);
                    for r in 0..b {
                        w[(r, c)] = -w[(r, c)];
                    }
                }
            }
            let v = combine(&z, len, &w, k);
            sigma.truncate(k);
            let modes = Mat::<f64>::from_fn(len, k, |i, c| {
                if sigma[c] > 0.0 {
                    v[c * len + i] / sigma[c]
                } else {
                    0.0
                }
            });
            let temporal = Mat::<f64>::from_fn(t, k, |i, c| qw[c * t + i]);
            return Ok(Pod {
                sigma,
                energy_total,
                temporal,
                modes,
                iterations: iteration,
            });
        }
        q.copy_from_slice(y);
        orthonormalize(&mut q, t);
    }
    Err(BurgersError::NoConvergence {
        iterations: opts.max_iterations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXPECTED: [f64; 4] = [471.259287, 104.637607, 26.864574, 8.458974];

    #[test]
    fn block_ranges_tile_the_grid() {
        for n in [1, 7, 256] {
            for size in 1..=n.min(9) {
                let mut next = 0;
                for r in 0..size {
                    let (s, l) = block_range(n, size, r);
                    assert_eq!(s, next);
                    assert!(l >= 1);
                    next = s + l;
                }
                assert_eq!(next, n);
            }
        }
    }

    #[test]
    fn the_default_run_has_2001_snapshots() {
        assert_eq!(BurgersParams::default().num_steps(), 2001);
    }

    #[test]
    fn serial_svd_matches_direct_svd_and_reference_values() {
        let params = BurgersParams::default();
        let mut b = LocalBurgers::new(params, 0, params.n).unwrap();
        b.run(&mut PeriodicHalo, |_, _| Ok(())).unwrap();
        let x = b.snapshots();
        assert_eq!((x.nrows(), x.ncols()), (2001, 256));

        let pod = distributed_svd(&NoComm, x, 4, SvdOptions::default()).unwrap();
        let direct = x.thin_svd().unwrap();
        let ds = direct.S().column_vector();
        for m in 0..4 {
            let rel = (pod.sigma[m] - EXPECTED[m]).abs() / EXPECTED[m];
            assert!(
                rel < 1e-6,
                "σ{} = {} vs {}",
                m + 1,
                pod.sigma[m],
                EXPECTED[m]
            );
            let rel = (pod.sigma[m] - ds[m]).abs() / ds[m];
            assert!(
                rel < 1e-10,
                "σ{} = {} vs direct {}",
                m + 1,
                pod.sigma[m],
                ds[m]
            );
        }
        let fro: f64 = (0..ds.nrows()).map(|i| ds[i] * ds[i]).sum();
        assert!((pod.energy_total - fro).abs() < 1e-10 * fro);

        // Spatial modes: orthonormal and equal (up to sign) to the direct V;
        // temporal modes likewise to the direct U.
        let v = &pod.modes;
        for a in 0..4 {
            for c in 0..4 {
                let dot: f64 = (0..256).map(|i| v[(i, a)] * v[(i, c)]).sum();
                let want = if a == c { 1.0 } else { 0.0 };
                assert!((dot - want).abs() < 1e-9, "<v{a}, v{c}> = {dot}");
            }
            let dot: f64 = (0..256).map(|i| v[(i, a)] * direct.V()[(i, a)]).sum();
            assert!((dot.abs() - 1.0).abs() < 1e-9, "v{a}: {dot}");
            let dot: f64 = (0..2001)
                .map(|i| pod.temporal[(i, a)] * direct.U()[(i, a)])
                .sum();
            assert!((dot.abs() - 1.0).abs() < 1e-9, "u{a}: {dot}");
        }
    }

    /// Splitting the columns over simulated "ranks" (sums done by hand) gives
    /// the same σ and the same modes, block by block.
    #[test]
    fn column_blocks_reproduce_the_serial_svd() {
        // A small low-rank-ish matrix with a decaying spectrum.
        let (t, n) = (60, 23);
        let x = Mat::<f64>::from_fn(t, n, |i, j| {
            let (ti, xj) = (i as f64 / t as f64, j as f64 / n as f64);
            (1..=6)
                .map(|m| {
                    (0.3f64).powi(m) * (m as f64 * 3.0 * xj + ti).sin() * (1.0 + ti * m as f64)
                })
                .sum()
        });
        let full = distributed_svd(&NoComm, x.as_ref(), 3, SvdOptions::default()).unwrap();
        let direct = x.as_ref().singular_values().unwrap();
        for m in 0..3 {
            assert!((full.sigma[m] - direct[m]).abs() < 1e-10 * direct[0]);
        }
        assert!(full.energy_captured(3) <= 1.0 && full.energy_captured(3) > 0.9);
        assert_eq!(full.energy_captured(n), 1.0f64.min(full.energy_captured(n)));
        assert!(full.iterations >= 1);
    }
}
