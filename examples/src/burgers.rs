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
//! snapshots ([`distributed_svd`]): block Krylov (block Lanczos) on `Xᵀ X`
//! with Rayleigh-Ritz on the whole basis and a residual test, where
//! `X V = Σ_r X_r V_r` is one all-reduce of a `T × b` block per pass over the
//! snapshots (`b` = wanted modes, one more in the first pass), and four small
//! ones (the residuals and the orthogonalisation of the next block). Each rank ends with its own rows of the spatial
//! modes. The total energy `‖X‖_F²` is summed in the first pass.

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatMut, MatRef, Par, Side};
use mpi::collective::SystemOperation;
use mpi::topology::Communicator;
use mpi::traits::*;
use quicklb_transport::PersistentSet;

mod kernels;

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
    /// modes, in bytes (the snapshots twice: kept, and copied by the SVD
    /// when not row-major; and the SVD's bases: at most `6 × modes` columns
    /// of `𝒴`, `𝒱` and `𝒲`, and the newest block, at most `modes + 1`
    /// columns); `None` if it overflows `u64`. Call after
    /// [`BurgersParams::check`].
    pub fn memory_per_rank(&self, ranks: usize, modes: usize) -> Option<u64> {
        let steps = (self.t_end / self.dt).ceil() as u64 + 1;
        let len = (self.n as u64).div_ceil(ranks.max(1) as u64);
        let columns = (modes as u64).checked_mul(7)?.checked_add(1)?;
        let snapshots = steps.checked_mul(len)?.checked_mul(2)?;
        let bases = columns.checked_mul(steps.checked_add(len.checked_mul(2)?)?)?;
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
    /// The SVD did not converge.
    #[error("the SVD did not converge in {passes} passes over the snapshots")]
    NoConvergence {
        /// Passes done.
        passes: usize,
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

/// Sums over all ranks; the seam that lets the SVD run without MPI in unit tests.
pub trait AllSum {
    /// Replaces `data` by its element-wise sum over all ranks (the same result on every rank).
    fn all_sum(&self, data: &mut [f64]);
    /// The sum of `value` over the ranks before this one (0 on the first).
    fn exclusive_prefix_sum(&self, value: usize) -> usize;
    /// Whether there is one rank only: sums are then the local values, so a
    /// product summed over ranks can be used at once.
    fn is_single_rank(&self) -> bool;
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

    fn exclusive_prefix_sum(&self, value: usize) -> usize {
        let mut before = 0u64;
        self.0
            .exclusive_scan_into(&(value as u64), &mut before, SystemOperation::sum());
        // MPI leaves the first rank's result undefined.
        if self.0.rank() == 0 {
            0
        } else {
            before as usize
        }
    }

    fn is_single_rank(&self) -> bool {
        self.0.size() == 1
    }
}

/// [`AllSum`] of a single process: nothing to add.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoComm;

impl AllSum for NoComm {
    fn all_sum(&self, _data: &mut [f64]) {}

    fn exclusive_prefix_sum(&self, _value: usize) -> usize {
        0
    }

    fn is_single_rank(&self) -> bool {
        true
    }
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
    /// Passes over the snapshots (each one product `Y = X V` and one `W = Xᵀ Y`).
    pub passes: usize,
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
    /// Columns of the first block, snapshots at evenly spaced times; `None`:
    /// one more than modes are wanted. (Every later pass adds the residuals
    /// of the wanted modes: as many columns as modes.)
    pub first_block: Option<usize>,
    /// Stop when every wanted triplet has `‖Xᵀu − σv‖ <= tol σ_1` (`X v = σ u`
    /// holds by construction), which bounds the error of each `σ` by `tol σ_1`.
    pub tol: f64,
    /// Pass limit.
    pub max_passes: usize,
}

impl Default for SvdOptions {
    fn default() -> Self {
        SvdOptions {
            first_block: None,
            tol: 1e-12,
            max_passes: 200,
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

/// `a = a + alpha · l r` for column-major blocks (faer's product).
fn add_product(a: MatMut<'_, f64>, l: MatRef<'_, f64>, r: MatRef<'_, f64>, alpha: f64) {
    matmul(a, Accum::Add, l, r, alpha, Par::Seq);
}

/// `lᵀ r` for column-major blocks.
fn cross(l: MatRef<'_, f64>, r: MatRef<'_, f64>) -> Mat<f64> {
    let mut out = Mat::<f64>::zeros(l.ncols(), r.ncols());
    matmul(
        out.as_mut(),
        Accum::Replace,
        l.transpose(),
        r,
        1.0,
        Par::Seq,
    );
    out
}

/// The block `z` (`n × b` local rows, column-major) made orthonormal over all
/// ranks and orthogonal to `basis` (`n × d`, orthonormal): projection, then
/// `z ← z U Λ^{-1/2}` from the eigenpairs of the summed Gram matrix `zᵀz`
/// (Cholesky-QR that tolerates rank loss: directions below `1e-12` of the
/// block's norm are in the span already and are dropped), done twice
/// (the second time corrects the rounding of the first). Returns the new
/// block, possibly narrower (empty when `z` lies in the basis's span).
/// Collective: three sums of `d × b + b × b` numbers or fewer.
fn orthonormalize(
    comm: &impl AllSum,
    basis: MatRef<'_, f64>,
    z: Mat<f64>,
) -> Result<Mat<f64>, BurgersError> {
    let (d, b) = (basis.ncols(), z.ncols());
    let mut z = z;
    // First round: project, then sum the Gram matrix (a separate sum: when z
    // lies mostly in the basis's span, zᵀz − cᵀc would cancel).
    let mut buf = cross(basis, z.as_ref())
        .col_iter()
        .flat_map(|c| c.iter().copied().collect::<Vec<_>>())
        .collect::<Vec<f64>>();
    let norm2: f64 = z
        .col_iter()
        .map(|c| c.iter().map(|v| v * v).sum::<f64>())
        .sum();
    buf.push(norm2);
    comm.all_sum(&mut buf);
    let norm2 = buf[d * b];
    let c = MatRef::from_column_major_slice(&buf[..d * b], d, b);
    add_product(z.as_mut(), basis, c, -1.0);
    let mut gram: Vec<f64> = cross(z.as_ref(), z.as_ref())
        .col_iter()
        .flat_map(|c| c.iter().copied().collect::<Vec<_>>())
        .collect();
    comm.all_sum(&mut gram);
    let z = scale_by_gram(z, &gram, 1e-24 * norm2)?;
    if z.ncols() == 0 {
        return Ok(z);
    }
    // Second round: the projection and the Gram matrix in one sum (z is now
    // orthonormal to rounding, so zᵀz − cᵀc does not cancel).
    let b = z.ncols();
    let mut z = z;
    let c = cross(basis, z.as_ref());
    let g = cross(z.as_ref(), z.as_ref());
    let mut buf: Vec<f64> = c
        .col_iter()
        .chain(g.col_iter())
        .flat_map(|col| col.iter().copied().collect::<Vec<_>>())
        .collect();
    comm.all_sum(&mut buf);
    let c = MatRef::from_column_major_slice(&buf[..d * b], d, b);
    add_product(z.as_mut(), basis, c, -1.0);
    let cc = cross(c, c);
    let gram: Vec<f64> = (0..b * b)
        .map(|i| buf[d * b + i] - cc[(i % b, i / b)])
        .collect();
    scale_by_gram(z, &gram, 0.25)
}

/// `z U_kept Λ_kept^{-1/2}` for the eigenpairs `(λ, U)` of the `b × b` Gram
/// matrix `gram` (column-major) with `λ > floor`.
fn scale_by_gram(z: Mat<f64>, gram: &[f64], floor: f64) -> Result<Mat<f64>, BurgersError> {
    let b = z.ncols();
    let g = MatRef::from_column_major_slice(gram, b, b);
    let eig = g
        .self_adjoint_eigen(Side::Lower)
        .map_err(BurgersError::Eigen)?;
    let s = eig.S().column_vector();
    let kept: Vec<usize> = (0..b)
        .rev()
        .filter(|&i| s[i] > floor && s[i] > 0.0)
        .collect();
    let map = Mat::<f64>::from_fn(b, kept.len(), |r, c| {
        eig.U()[(r, kept[c])] / s[kept[c]].sqrt()
    });
    let mut out = Mat::<f64>::zeros(z.nrows(), kept.len());
    matmul(
        out.as_mut(),
        Accum::Replace,
        z.as_ref(),
        map.as_ref(),
        1.0,
        Par::Seq,
    );
    Ok(out)
}

/// The first block of [`distributed_svd`], orthonormal (`n × width`, this
/// rank's rows): the snapshots at `width` evenly spaced times, first and last
/// included. They lie in the row space of `X` already, weighted by its
/// singular values: a better start than random directions, for free. Where
/// they are dependent (or zero) pseudo-random directions by global column
/// index (`offset` is this rank's first) fill the block up.
fn first_block(
    comm: &impl AllSum,
    rows: &[&[f64]],
    offset: usize,
    width: usize,
) -> Result<Mat<f64>, BurgersError> {
    let (t, n) = (rows.len(), rows.first().map_or(0, |r| r.len()));
    let time = |c: usize| {
        if width > 1 {
            c * (t - 1) / (width - 1)
        } else {
            t - 1
        }
    };
    let sampled = Mat::<f64>::from_fn(n, width, |j, c| rows[time(c)][j]);
    let block = orthonormalize(comm, Mat::<f64>::zeros(n, 0).as_ref(), sampled)?;
    let missing = width - block.ncols();
    if missing == 0 {
        return Ok(block);
    }
    let random = Mat::<f64>::from_fn(n, missing, |j, c| {
        hash_unit(((offset + j) * missing + c) as u64)
    });
    let extra = orthonormalize(comm, block.as_ref(), random)?;
    let kept = block.ncols();
    Ok(Mat::<f64>::from_fn(n, kept + extra.ncols(), |i, j| {
        if j < kept {
            block[(i, j)]
        } else {
            extra[(i, j - kept)]
        }
    }))
}

/// The leading `k` singular values and vectors of the snapshot matrix
/// `X = [X_0 X_1 … X_{p-1}]`, whose column blocks `X_r` (`T × len_r`) live on
/// the ranks, without moving any of them.
///
/// Block Krylov (block Lanczos) on `Xᵀ X` with Rayleigh-Ritz on the whole
/// basis: every rank holds its rows of an orthonormal basis `𝒱` of the
/// spatial side (`len_r × d`) and of `𝒲 = Xᵀ X 𝒱`, and the whole `𝒴 = X 𝒱`
/// (`T × d`). A pass takes the newest block `V` (`b` columns: `k + 1`
/// snapshots in the first pass, `k` residuals after), sums `Y = Σ_r X_r V_r` over the ranks (one all-reduce of `T × b`)
/// and computes `W_r = X_rᵀ Y` (with one rank both products share one sweep
/// over the rows of `X`). The eigenpairs `(θ², s)` of `𝒴ᵀ𝒴 = 𝒱ᵀ Xᵀ X 𝒱` give
/// the Ritz triplets: `v = 𝒱 s` (this rank's rows of a spatial mode),
/// `σ = ‖𝒴 s‖` and `u = 𝒴 s / σ`, so that `X v = σ u` exactly; the other
/// residual `Xᵀ u − σ v = (𝒲 s − σ² v) / σ` costs no pass. The run stops when
/// it is below `tol · σ_1` for every wanted mode, which bounds each `σ`'s
/// error by `tol · σ_1` (Ritz values converge with the square of it: in
/// practice they are exact to rounding); otherwise the residuals
/// `𝒲 s − σ² v` of the `k` wanted modes, orthogonalised against `𝒱`, are the
/// next block: they span the part of what `W` adds to the basis that the
/// wanted modes need (all of it when `W` has `k` columns), so the basis grows
/// by `k` columns a pass whatever the first block's width. The demo's matrix
/// needs 3 passes, of 5, 4 and 4 columns (4 of 4 columns each when the
/// blocks were `W` and the start random).
/// Past `d = 6 k` columns the basis restarts from its best `2 k` Ritz
/// vectors (their images are combinations of the stored ones: no pass).
///
/// The first block is the snapshots at `k + 1` evenly spaced times (see
/// [`first_block`]), the same columns on every rank count, so that every
/// rank count spans the same spaces. The total energy `‖X‖_F²` is summed in
/// the first pass. Signs: the largest entry in magnitude of each temporal
/// mode is positive. Collective over the ranks of `comm`, which must give
/// every rank the same sums (the decisions to stop are taken by each rank).
pub fn distributed_svd(
    comm: &impl AllSum,
    x: MatRef<'_, f64>,
    k: usize,
    opts: SvdOptions,
) -> Result<Pod, BurgersError> {
    let (t, n) = (x.nrows(), x.ncols());
    let offset = comm.exclusive_prefix_sum(n);
    let mut counts = [n as f64];
    comm.all_sum(&mut counts);
    let n_global = counts[0] as usize;
    let k = k.min(t).min(n_global);
    // Later blocks: the residuals of the k wanted Ritz pairs.
    let b = k;
    let first_width = opts.first_block.unwrap_or(k + 1).max(1).min(n_global);
    // The rows of X as slices (the snapshots are row-major; anything else is copied).
    let copy: Vec<f64>;
    let row_slices: Vec<&[f64]> = if (0..t).all(|i| x.row(i).try_as_row_major().is_some()) {
        (0..t)
            .map(|i| {
                x.row(i)
                    .try_as_row_major()
                    .map_or(&[][..], |r| r.as_slice())
            })
            .collect()
    } else {
        copy = (0..t)
            .flat_map(|i| (0..n).map(move |j| x[(i, j)]))
            .collect();
        (0..t).map(|i| &copy[i * n..(i + 1) * n]).collect()
    };
    let empty = |energy_total: f64| Pod {
        sigma: Vec::new(),
        energy_total,
        temporal: Mat::zeros(t, 0),
        modes: Mat::zeros(n, 0),
        passes: 0,
    };
    if k == 0 {
        let mut e = [row_slices
            .iter()
            .map(|r| r.iter().map(|v| v * v).sum::<f64>())
            .sum()];
        comm.all_sum(&mut e);
        return Ok(empty(e[0]));
    }
    let keep = (k + b).min(n_global);
    let d_max = (keep + 4 * b).min(n_global);

    // 𝒱, 𝒲 = Xᵀ X 𝒱 and 𝒴 = X 𝒱, with room for the largest basis.
    let mut basis = Mat::<f64>::zeros(n, 0);
    let mut images = Mat::<f64>::zeros(n, 0);
    let mut temporal_basis = Mat::<f64>::zeros(t, 0);
    for m in [&mut basis, &mut images] {
        m.reserve(n, d_max);
    }
    temporal_basis.reserve(t, d_max);
    // 𝒴ᵀ𝒴, grown by the new block's column each pass.
    let mut gram = Mat::<f64>::zeros(0, 0);
    let mut block = first_block(comm, &row_slices, offset, first_width)?;
    // Y (row-major T × b, then this rank's part of ‖X‖_F² in the first pass) and W.
    let widest = first_width.max(b);
    let mut y = vec![0.0; t * widest + 1];
    let mut w = vec![0.0; n * widest];
    let mut v = vec![0.0; n * widest];
    let mut energy_total = 0.0;
    for pass in 1..=opts.max_passes {
        let bw = block.ncols();
        for (c, col) in block.col_iter().enumerate() {
            v[c * n..(c + 1) * n]
                .iter_mut()
                .zip(col.iter())
                .for_each(|(d, s)| *d = *s);
        }
        let rows = kernels::Rows {
            x: &row_slices,
            n,
            b: bw,
        };
        let (yb, wb, vb) = (&mut y[..t * bw + 1], &mut w[..n * bw], &v[..n * bw]);
        let first = pass == 1;
        if comm.is_single_rank() {
            yb[t * bw] = kernels::fused_pass(rows, vb, &mut yb[..t * bw], wb, first, pass % 2 == 0);
        } else {
            yb[t * bw] = kernels::rows_times(rows, vb, &mut yb[..t * bw], first);
            comm.all_sum(yb);
            kernels::transposed_times(rows, &yb[..t * bw], wb);
        }
        if first {
            energy_total = yb[t * bw];
        }
        let d = basis.ncols() + bw;
        basis.resize_with(n, d, |i, j| block[(i, j + bw - d)]);
        images.resize_with(n, d, |i, j| wb[(j + bw - d) * n + i]);
        temporal_basis.resize_with(t, d, |i, j| yb[i * bw + j + bw - d]);
        let new_y = temporal_basis.as_ref().subcols(d - bw, bw);
        let cross_new = cross(temporal_basis.as_ref(), new_y);
        gram.resize_with(d, d, |i, j| {
            if j >= d - bw {
                cross_new[(i, j + bw - d)]
            } else {
                cross_new[(j, i + bw - d)]
            }
        });

        // Rayleigh-Ritz on the whole basis.
        let eig = gram
            .self_adjoint_eigen(Side::Lower)
            .map_err(BurgersError::Eigen)?;
        let lambda = eig.S().column_vector();
        // Eigenvalues are nondecreasing: take them from the top.
        let ritz = Mat::<f64>::from_fn(d, keep.max(k).min(d), |r, c| eig.U()[(r, d - 1 - c)]);
        let sk = ritz.as_ref().subcols(0, k);
        let theta2: Vec<f64> = (0..k).map(|c| lambda[d - 1 - c].max(0.0)).collect();
        let mut modes = Mat::<f64>::zeros(n, k);
        matmul(
            modes.as_mut(),
            Accum::Replace,
            basis.as_ref(),
            sk,
            1.0,
            Par::Seq,
        );
        let mut residual = Mat::<f64>::zeros(n, k);
        matmul(
            residual.as_mut(),
            Accum::Replace,
            images.as_ref(),
            sk,
            1.0,
            Par::Seq,
        );
        // 𝒲 s − θ² v: the residuals, and the next block.
        for (c, &theta2) in theta2.iter().enumerate() {
            residual
                .col_mut(c)
                .iter_mut()
                .zip(modes.col(c).iter())
                .for_each(|(r, m)| *r -= theta2 * m);
        }
        let mut res2: Vec<f64> = (0..k)
            .map(|c| residual.col(c).iter().map(|r| r * r).sum())
            .collect();
        comm.all_sum(&mut res2);
        let sigma1 = theta2[0].sqrt();
        // ‖Xᵀu − σv‖ = ‖𝒲 s − σ² v‖ / σ.
        let converged = sigma1 == 0.0
            || (0..k).all(|c| {
                let sigma = theta2[c].sqrt();
                sigma <= opts.tol * sigma1 || res2[c].sqrt() <= opts.tol * sigma1 * sigma
            });
        if !(converged || d >= n_global) {
            if pass == opts.max_passes {
                break;
            }
            if d + b > d_max {
                // Restart from the best Ritz vectors; their images are known.
                let kept = ritz.as_ref().subcols(0, keep.min(d));
                basis = basis.as_ref() * kept;
                images = images.as_ref() * kept;
                temporal_basis = temporal_basis.as_ref() * kept;
                for m in [&mut basis, &mut images] {
                    m.reserve(n, d_max);
                }
                temporal_basis.reserve(t, d_max);
                gram = cross(temporal_basis.as_ref(), temporal_basis.as_ref());
            }
            // The next block: the residuals orthogonalised against the basis
            // (they span what Xᵀ X V adds to it that the wanted modes need).
            block = orthonormalize(comm, basis.as_ref(), residual)?;
            if block.ncols() > 0 {
                continue;
            }
            // Nothing new: the basis is invariant under XᵀX and its Ritz
            // triplets are exact.
        }
        // The triplets: u = 𝒴 s / σ with σ = ‖𝒴 s‖ (more accurate than √θ²),
        // signs so that each u's largest entry is positive.
        let mut u = Mat::<f64>::zeros(t, k);
        matmul(
            u.as_mut(),
            Accum::Replace,
            temporal_basis.as_ref(),
            sk,
            1.0,
            Par::Seq,
        );
        let mut sigma = Vec::with_capacity(k);
        for c in 0..k {
            let s = u.col(c).norm_l2();
            let big = u
                .col(c)
                .iter()
                .fold(0.0f64, |acc, &v| if v.abs() > acc.abs() { v } else { acc });
            let flip = if big < 0.0 { -1.0 } else { 1.0 };
            let scale = if s > 0.0 { flip / s } else { 0.0 };
            u.col_mut(c).iter_mut().for_each(|v| *v *= scale);
            modes.col_mut(c).iter_mut().for_each(|v| *v *= flip);
            sigma.push(s);
        }
        return Ok(Pod {
            sigma,
            energy_total,
            temporal: u,
            modes,
            passes: pass,
        });
    }
    Err(BurgersError::NoConvergence {
        passes: opts.max_passes,
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
                rel < 1e-12,
                "σ{} = {} vs direct {}",
                m + 1,
                pod.sigma[m],
                ds[m]
            );
        }
        let fro: f64 = (0..ds.nrows()).map(|i| ds[i] * ds[i]).sum();
        assert!((pod.energy_total - fro).abs() < 1e-10 * fro);
        // The snapshots as first block and the residuals as the next ones
        // (it took 4 passes from a random start with W as the next block).
        assert_eq!(pod.passes, 3, "passes over the snapshots");
        // Every entry of the spatial modes within 1e-9 of the direct SVD's
        // (signs aligned).
        for m in 0..4 {
            let dot: f64 = (0..256)
                .map(|i| pod.modes[(i, m)] * direct.V()[(i, m)])
                .sum();
            let sign = dot.signum();
            for i in 0..256 {
                let (a, b) = (pod.modes[(i, m)], sign * direct.V()[(i, m)]);
                assert!((a - b).abs() < 1e-9, "v{m}[{i}] = {a} vs direct {b}");
            }
        }

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

    /// A small `t × n` matrix of rank 4 with a decaying spectrum, with the
    /// rows where `zero_row` holds set to zero.
    fn decaying_matrix(t: usize, n: usize, zero_row: impl Fn(usize) -> bool) -> Mat<f64> {
        Mat::<f64>::from_fn(t, n, |i, j| {
            if zero_row(i) {
                return 0.0;
            }
            let (ti, xj) = (i as f64 / t as f64, j as f64 / n as f64);
            (1..=6)
                .map(|m| {
                    (0.3f64).powi(m) * (m as f64 * 3.0 * xj + ti).sin() * (1.0 + ti * m as f64)
                })
                .sum()
        })
    }

    /// Snapshots at the sampled times that are zero or repeat leave the first
    /// block short; pseudo-random directions fill it up and the SVD is right.
    #[test]
    fn dependent_sampled_snapshots_are_filled_up() {
        // Zero at the first block's times 0, 20, 40, 60 (k = 3: 4 snapshots).
        let x = decaying_matrix(61, 17, |i| i % 20 == 0);
        let pod = distributed_svd(&NoComm, x.as_ref(), 3, SvdOptions::default()).unwrap();
        let direct = x.as_ref().singular_values().unwrap();
        assert_eq!(pod.sigma.len(), 3);
        for m in 0..3 {
            assert!(
                (pod.sigma[m] - direct[m]).abs() < 1e-12 * direct[0],
                "σ{} = {} vs {}",
                m + 1,
                pod.sigma[m],
                direct[m]
            );
        }
    }

    /// Splitting the columns over simulated "ranks" (sums done by hand) gives
    /// the same σ and the same modes, block by block.
    #[test]
    fn column_blocks_reproduce_the_serial_svd() {
        let n = 23;
        let x = decaying_matrix(60, n, |_| false);
        let full = distributed_svd(&NoComm, x.as_ref(), 3, SvdOptions::default()).unwrap();
        let direct = x.as_ref().singular_values().unwrap();
        for m in 0..3 {
            assert!((full.sigma[m] - direct[m]).abs() < 1e-10 * direct[0]);
        }
        assert!(full.energy_captured(3) <= 1.0 && full.energy_captured(3) > 0.9);
        assert_eq!(full.energy_captured(n), 1.0f64.min(full.energy_captured(n)));
        assert!(full.passes >= 1);
    }
}
