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

use faer::{Mat, MatRef, Side};
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
    /// when not row-major; the SVD's bases, room for `7 × modes` columns of
    /// `𝒴`, `𝒱` and `𝒲` and their Gram matrix; the newest block `Y`, at
    /// most `modes + 1` columns, and three blocks of `modes` local
    /// columns); `None` if it overflows `u64`. Call after
    /// [`BurgersParams::check`].
    pub fn memory_per_rank(&self, ranks: usize, modes: usize) -> Option<u64> {
        let steps = (self.t_end / self.dt).ceil() as u64 + 1;
        let len = (self.n as u64).div_ceil(ranks.max(1) as u64);
        let columns = (modes as u64).checked_mul(7)?;
        let snapshots = steps.checked_mul(len)?.checked_mul(2)?;
        let bases = columns
            .checked_mul(steps.checked_add(len.checked_mul(2)?)?)?
            .checked_add(columns.checked_mul(columns)?)?;
        let blocks = (modes as u64 + 1)
            .checked_mul(steps)?
            .checked_add((modes as u64).checked_mul(3)?.checked_mul(len)?)?;
        snapshots
            .checked_add(bases)?
            .checked_add(blocks)?
            .checked_mul(8)
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

/// Bytes of a cache line (and of a 512-bit vector).
const CACHE_LINE: usize = 64;

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
    /// Row-major `T × len` from `snapshots[lead..]`: row `s` is the field
    /// after step `s + 1`.
    snapshots: Vec<f64>,
    /// Zeros before the first row that put it on a 64-byte boundary (at
    /// allocation: a clone keeps the offset, not necessarily the alignment).
    /// The SVD's 512-bit loads of `X` then never straddle two cache lines
    /// (nor do those of later rows when `len` is a multiple of 8); the demo's
    /// passes took about 15 % longer on rows 16 bytes off.
    lead: usize,
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
        let mut snapshots = Vec::with_capacity(steps * len + CACHE_LINE / 8);
        // The capacity is reserved once: the buffer does not move.
        let lead = (snapshots.as_ptr() as usize).wrapping_neg() % CACHE_LINE / 8;
        snapshots.resize(lead, 0.0);
        Ok(LocalBurgers {
            params,
            start,
            len,
            next: u.clone(),
            u,
            t: 0.0,
            step: 0,
            snapshots,
            lead,
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
        MatRef::from_row_major_slice(&self.snapshots[self.lead..], self.step, self.len)
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
        // One rank: the sum is the data (no copy, no call into MPI).
        if self.0.size() == 1 {
            return;
        }
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
    /// one more than modes are wanted, and fewer than the modes wanted are
    /// raised to that many (the first pass needs a Ritz pair per mode).
    /// (Every later pass adds the residuals of the wanted modes: as many
    /// columns as modes.)
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

/// Column `c` of the column-major block `m` with columns of `rows` entries.
fn column(m: &[f64], rows: usize, c: usize) -> &[f64] {
    &m[c * rows..(c + 1) * rows]
}

/// `out[a + j p] = l_a · r_j` for the `p` columns `l_a` of `l` and the `q`
/// columns `r_j` of `r` (column-major, of the same length): `lᵀ r`.
fn cross_into(l: &[f64], p: usize, r: &[f64], q: usize, out: &mut [f64]) {
    if p == 0 || q == 0 {
        return;
    }
    let rows = l.len() / p;
    for j in 0..q {
        for a in 0..p {
            out[a + j * p] = kernels::dot(column(l, rows, a), column(r, rows, j));
        }
    }
}

/// Columns `from..to` (and rows, by symmetry) of the Gram matrix
/// `gram = 𝒴ᵀ𝒴` (column-major, leading dimension `ld`) of the `t`-row
/// block `temporal`.
fn update_gram(gram: &mut [f64], ld: usize, temporal: &[f64], t: usize, from: usize, to: usize) {
    for c in from..to {
        kernels::dots_with_column(temporal, t, c, &mut gram[c * ld..c * ld + c + 1]);
        for a in 0..c {
            gram[c + a * ld] = gram[a + c * ld];
        }
    }
}

/// The block `z` (`n × b` local rows, column-major) made orthonormal over all
/// ranks and orthogonal to `basis` (`n × d`, orthonormal): projection, then
/// `z ← z U Λ^{-1/2}` from the eigenpairs of the summed Gram matrix `zᵀz`
/// (Cholesky-QR that tolerates rank loss: directions below `1e-12` of the
/// block's norm are in the span already and are dropped), done twice
/// (the second time corrects the rounding of the first). Writes the new
/// block, possibly narrower (empty when `z` lies in the basis's span), to
/// the first columns of `out` (room for `b`) and returns its width; `z` is
/// scratch. Collective: three sums of `d × b + b × b` numbers or fewer.
fn orthonormalize(
    comm: &impl AllSum,
    basis: &[f64],
    d: usize,
    z: &mut [f64],
    b: usize,
    out: &mut [f64],
) -> Result<usize, BurgersError> {
    if b == 0 {
        return Ok(0);
    }
    let n = z.len() / b;
    // First round: project, then sum the Gram matrix (a separate sum: when z
    // lies mostly in the basis's span, zᵀz − cᵀc would cancel).
    let mut buf = vec![0.0; d * b + 1];
    cross_into(basis, d, z, b, &mut buf[..d * b]);
    buf[d * b] = kernels::dot(z, z);
    comm.all_sum(&mut buf);
    let norm2 = buf[d * b];
    let minus_c: Vec<f64> = buf[..d * b].iter().map(|c| -c).collect();
    kernels::combine(basis, n, &minus_c, z, true);
    let mut gram = vec![0.0; b * b];
    cross_into(z, b, z, b, &mut gram);
    comm.all_sum(&mut gram);
    let b = scale_by_gram(z, n, &gram, b, 1e-24 * norm2, out)?;
    if b == 0 {
        return Ok(0);
    }
    // Second round: the projection and the Gram matrix in one sum (z is now
    // orthonormal to rounding, so zᵀz − cᵀc does not cancel).
    let first = &mut out[..n * b];
    let mut buf = vec![0.0; d * b + b * b];
    cross_into(basis, d, first, b, &mut buf[..d * b]);
    cross_into(first, b, first, b, &mut buf[d * b..]);
    comm.all_sum(&mut buf);
    let (c, g) = buf.split_at(d * b);
    let minus_c: Vec<f64> = c.iter().map(|c| -c).collect();
    kernels::combine(basis, n, &minus_c, first, true);
    let mut cc = vec![0.0; b * b];
    cross_into(c, b, c, b, &mut cc);
    let gram: Vec<f64> = g.iter().zip(&cc).map(|(g, cc)| g - cc).collect();
    let width = scale_by_gram(first, n, &gram, b, 0.25, z)?;
    out[..n * width].copy_from_slice(&z[..n * width]);
    Ok(width)
}

/// `out = z U_kept Λ_kept^{-1/2}` for the eigenpairs `(λ, U)` of the `b × b`
/// Gram matrix `gram` (column-major) of the `n`-row block `z` with
/// `λ > floor`, largest first; returns the number kept.
fn scale_by_gram(
    z: &[f64],
    n: usize,
    gram: &[f64],
    b: usize,
    floor: f64,
    out: &mut [f64],
) -> Result<usize, BurgersError> {
    let eig = MatRef::from_column_major_slice(gram, b, b)
        .self_adjoint_eigen(Side::Lower)
        .map_err(BurgersError::Eigen)?;
    let (s, u) = (eig.S().column_vector(), eig.U());
    let kept: Vec<usize> = (0..b)
        .rev()
        .filter(|&i| s[i] > floor && s[i] > 0.0)
        .collect();
    let map: Vec<f64> = kept
        .iter()
        .flat_map(|&i| (0..b).map(move |r| u[(r, i)] / s[i].sqrt()))
        .collect();
    kernels::combine(z, n, &map, &mut out[..n * kept.len()], false);
    Ok(kept.len())
}

/// The first block of [`distributed_svd`], orthonormal (`n × width`, this
/// rank's rows), written to the first columns of `out`; returns its width
/// (`width` unless the matrix has fewer independent columns): the
/// snapshots at `width` evenly spaced times, first and last
/// included. They lie in the row space of `X` already, weighted by its
/// singular values: a better start than random directions, for free. Where
/// they are dependent (or zero) pseudo-random directions by global column
/// index (`offset` is this rank's first) fill the block up.
fn first_block(
    comm: &impl AllSum,
    rows: &[&[f64]],
    offset: usize,
    width: usize,
    out: &mut [f64],
) -> Result<usize, BurgersError> {
    let (t, n) = (rows.len(), rows.first().map_or(0, |r| r.len()));
    let time = |c: usize| {
        if width > 1 {
            c * (t - 1) / (width - 1)
        } else {
            t - 1
        }
    };
    let mut sampled: Vec<f64> = (0..width)
        .flat_map(|c| rows[time(c)].iter().copied())
        .collect();
    let kept = orthonormalize(comm, &[], 0, &mut sampled, width, out)?;
    let missing = width - kept;
    if missing == 0 {
        return Ok(kept);
    }
    let mut random: Vec<f64> = (0..missing)
        .flat_map(|c| (0..n).map(move |j| hash_unit(((offset + j) * missing + c) as u64)))
        .collect();
    let (block, rest) = out.split_at_mut(n * kept);
    let extra = orthonormalize(comm, block, kept, &mut random, missing, rest)?;
    Ok(kept + extra)
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
    let first_width = opts
        .first_block
        .unwrap_or(k + 1)
        .max(k)
        .max(1)
        .min(n_global);
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

    // 𝒱, 𝒲 = Xᵀ X 𝒱 (this rank's rows) and 𝒴 = X 𝒱, column-major, grown
    // by the columns of each block (with room for the widest basis and one
    // more block: no reallocation, and no page is touched before it is
    // written), and 𝒴ᵀ𝒴.
    let capacity = d_max.max(first_width) + b;
    let mut spatial = Vec::with_capacity(n * capacity);
    let mut images = Vec::with_capacity(n * capacity);
    let mut temporal = Vec::with_capacity(t * capacity);
    let mut gram = vec![0.0; capacity * capacity];
    spatial.resize(n * first_width, 0.0);
    let mut width = first_block(comm, &row_slices, offset, first_width, &mut spatial)?;
    spatial.truncate(n * width);
    // Y (row-major T × width, then this rank's part of ‖X‖_F² in the first pass).
    let mut y = vec![0.0; t * first_width.max(b) + 1];
    let (mut modes, mut residual, mut next) =
        (vec![0.0; n * k], vec![0.0; n * k], vec![0.0; n * k]);
    let mut energy_total = 0.0;
    let mut d = 0;
    for pass in 1..=opts.max_passes {
        let (old, bw) = (d, width);
        d += bw;
        images.resize(d * n, 0.0);
        let rows = kernels::Rows {
            x: &row_slices,
            n,
            b: bw,
        };
        let (vb, wb) = (&spatial[old * n..d * n], &mut images[old * n..d * n]);
        let yb = &mut y[..t * bw + 1];
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
        for c in 0..bw {
            temporal.extend((0..t).map(|i| yb[i * bw + c]));
        }
        update_gram(&mut gram, capacity, &temporal, t, old, d);

        // Rayleigh-Ritz on the whole basis.
        let eig = MatRef::from_column_major_slice_with_stride(&gram, d, d, capacity)
            .self_adjoint_eigen(Side::Lower)
            .map_err(BurgersError::Eigen)?;
        let (lambda, vectors) = (eig.S().column_vector(), eig.U());
        // Eigenvalues are nondecreasing: take them from the top (d × keep).
        let ritz: Vec<f64> = (0..keep.min(d))
            .flat_map(|c| (0..d).map(move |r| vectors[(r, d - 1 - c)]))
            .collect();
        let sk = &ritz[..d * k];
        let theta2: Vec<f64> = (0..k).map(|c| lambda[d - 1 - c].max(0.0)).collect();
        kernels::combine(&spatial[..d * n], n, sk, &mut modes, false);
        kernels::combine(&images[..d * n], n, sk, &mut residual, false);
        // 𝒲 s − θ² v: the residuals, and the next block.
        for (c, &theta2) in theta2.iter().enumerate() {
            residual[c * n..(c + 1) * n]
                .iter_mut()
                .zip(column(&modes, n, c))
                .for_each(|(r, m)| *r -= theta2 * m);
        }
        let mut res2: Vec<f64> = (0..k)
            .map(|c| kernels::dot(column(&residual, n, c), column(&residual, n, c)))
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
            // The next block: the residuals orthogonalised against the basis
            // (they span what Xᵀ X V adds to it that the wanted modes need;
            // Ritz residuals are orthogonal to 𝒱 but for rounding, so a
            // restart's smaller basis would give the same block).
            width = orthonormalize(comm, &spatial[..d * n], d, &mut residual, k, &mut next)?;
            if width > 0 {
                if d + b > d_max {
                    // Restart from the best Ritz vectors; their images are known.
                    let kept = keep.min(d);
                    for (m, rows) in [(&mut spatial, n), (&mut images, n), (&mut temporal, t)] {
                        let mut restarted = vec![0.0; rows * kept];
                        kernels::combine(m, rows, &ritz, &mut restarted, false);
                        m.clear();
                        m.extend_from_slice(&restarted);
                    }
                    d = kept;
                    update_gram(&mut gram, capacity, &temporal, t, 0, d);
                }
                spatial.extend_from_slice(&next[..n * width]);
                continue;
            }
            // Nothing new: the basis is invariant under XᵀX and its Ritz
            // triplets are exact.
        }
        // The triplets: u = 𝒴 s / σ with σ = ‖𝒴 s‖ (more accurate than √θ²),
        // signs so that each u's largest entry is positive.
        let mut u = vec![0.0; t * k];
        kernels::combine(&temporal[..d * t], t, sk, &mut u, false);
        let mut sigma = Vec::with_capacity(k);
        for c in 0..k {
            let uc = &mut u[c * t..(c + 1) * t];
            let s = kernels::dot(uc, uc).sqrt();
            let big = uc
                .iter()
                .fold(0.0f64, |acc, &v| if v.abs() > acc.abs() { v } else { acc });
            let flip = if big < 0.0 { -1.0 } else { 1.0 };
            let scale = if s > 0.0 { flip / s } else { 0.0 };
            uc.iter_mut().for_each(|v| *v *= scale);
            modes[c * n..(c + 1) * n]
                .iter_mut()
                .for_each(|v| *v *= flip);
            sigma.push(s);
        }
        return Ok(Pod {
            sigma,
            energy_total,
            temporal: MatRef::from_column_major_slice(&u, t, k).to_owned(),
            modes: MatRef::from_column_major_slice(&modes, n, k).to_owned(),
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

    /// The snapshot rows start on a cache line (the SVD's loads then do
    /// not straddle two), and the padding before them is not part of `X`.
    #[test]
    fn snapshot_rows_start_on_a_cache_line() {
        let params = BurgersParams {
            t_end: 0.01,
            ..BurgersParams::default()
        };
        let mut b = LocalBurgers::new(params, 0, params.n).unwrap();
        b.run(&mut PeriodicHalo, |_, _| Ok(())).unwrap();
        let x = b.snapshots();
        assert_eq!((x.nrows(), x.ncols()), (10, 256));
        assert_eq!(x.as_ptr() as usize % CACHE_LINE, 0);
        let mut again = LocalBurgers::new(params, 0, params.n).unwrap();
        again.advance(&mut PeriodicHalo).unwrap();
        assert_eq!(x.row(0).iter().copied().collect::<Vec<_>>(), again.field());
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

    /// A first block asked narrower than the modes wanted is widened to
    /// them (it used to leave fewer Ritz pairs than modes, and panic).
    #[test]
    fn a_first_block_narrower_than_the_modes_is_widened() {
        let x = Mat::<f64>::from_fn(120, 40, |i, j| hash_unit((i * 40 + j) as u64));
        let narrow = SvdOptions {
            first_block: Some(1),
            ..SvdOptions::default()
        };
        let pod = distributed_svd(&NoComm, x.as_ref(), 3, narrow).unwrap();
        let direct = x.as_ref().singular_values().unwrap();
        for (s, d) in pod.sigma.iter().zip(&direct) {
            assert!((s - d).abs() < 1e-12 * direct[0], "σ = {s} vs {d}");
        }
    }

    /// A spectrum without a gap forces the basis past `6 k` columns: the
    /// restart from the best Ritz vectors (and the passes after it) still
    /// finds the direct SVD's leading singular value.
    #[test]
    fn restarted_basis_converges_to_the_direct_svd() {
        let x = Mat::<f64>::from_fn(120, 40, |i, j| hash_unit((i * 40 + j) as u64));
        let pod = distributed_svd(&NoComm, x.as_ref(), 1, SvdOptions::default()).unwrap();
        let direct = x.as_ref().singular_values().unwrap();
        assert!(pod.passes > 5, "{} passes: no restart", pod.passes);
        assert!(
            (pod.sigma[0] - direct[0]).abs() < 1e-12 * direct[0],
            "σ1 = {} vs {}",
            pod.sigma[0],
            direct[0]
        );
    }
}
