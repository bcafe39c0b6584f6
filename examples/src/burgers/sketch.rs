//! The first block Krylov pass of the snapshot SVD, done while the snapshots
//! are produced.
//!
//! Every pass of [`super::distributed_svd`] streams the snapshot matrix `X`
//! from memory (the demo's 4.1 MB are more than L2), so the passes are
//! memory-bound. Right after its time step a snapshot row is still in cache:
//! the first pass's `Y = X V_0` and `W = Xᵀ Y` for the starting block `V_0`,
//! taken a few rows at a time as they appear, cost their FMAs and no stream
//! of `X`. The sums over ranks are done once per group of rows, not per step.

use std::time::{Duration, Instant};

use faer::Mat;

use super::{kernels, start_block, AllSum, BurgersError};

/// Snapshot rows absorbed together: few enough to be still in L2 (64 rows of
/// 256 values are 128 KiB), many enough that a job of several ranks sums
/// over them rarely (one all-reduce per group). A multiple of the kernels'
/// row group, so that one rank adds in the order of a whole pass.
const FLUSH_ROWS: usize = 64;

/// `Y = X V_0`, `W = Xᵀ Y` and `‖X‖_F²`, accumulated as the rows of this
/// rank's columns `X_r` of the snapshot matrix appear; handed to
/// [`super::distributed_svd_in_situ`] as its first pass.
#[derive(Clone, Debug)]
pub struct InSituSketch {
    /// This rank's columns.
    pub(super) n: usize,
    /// The snapshots the sketch has room for.
    pub(super) capacity: usize,
    /// The block width asked for (the SVD's block).
    pub(super) width: usize,
    /// `V_0`, orthonormal over the ranks (possibly narrower than `width`).
    pub(super) start: Mat<f64>,
    /// `V_0` column-major, as the kernels read it.
    v: Vec<f64>,
    /// `Y` row-major `capacity × start.ncols()`, summed over the ranks, and
    /// one more slot (the SVD's buffer layout).
    pub(super) y: Vec<f64>,
    /// `W_r = X_rᵀ Y`, column-major.
    pub(super) w: Vec<f64>,
    /// This rank's part of `‖X‖_F²` (the total after [`InSituSketch::finish`]).
    pub(super) energy: f64,
    /// Rows absorbed so far.
    absorbed: usize,
    /// Time spent in [`InSituSketch::absorb`].
    busy: Duration,
}

impl InSituSketch {
    /// A sketch for up to `snapshots` rows of `n` columns on this rank, with
    /// the SVD's deterministic starting block of `width` columns (the same
    /// spaces for every rank count). **Collective** over `comm`.
    pub fn new(
        comm: &impl AllSum,
        n: usize,
        snapshots: usize,
        width: usize,
    ) -> Result<Self, BurgersError> {
        let start = start_block(comm, n, width)?;
        let b = start.ncols();
        let v = start.col_iter().flat_map(|c| c.iter().copied()).collect();
        Ok(InSituSketch {
            n,
            capacity: snapshots,
            width,
            start,
            v,
            y: vec![0.0; snapshots * b + 1],
            w: vec![0.0; n * b],
            energy: 0.0,
            absorbed: 0,
            busy: Duration::ZERO,
        })
    }

    /// Absorbs the whole groups of new rows of `snapshots` (row-major, all
    /// the rows so far, `n` values each; the rows already absorbed must not
    /// have changed). Call after every step. **Collective** when it has a
    /// group to absorb: every rank steps alike, so all do at the same step.
    pub fn absorb(&mut self, comm: &impl AllSum, snapshots: &[f64]) -> Result<(), BurgersError> {
        let rows = self.check_rows(snapshots.len() / self.n.max(1))?;
        if rows < self.absorbed + FLUSH_ROWS {
            return Ok(());
        }
        let clock = Instant::now();
        let mut group: [&[f64]; FLUSH_ROWS] = [&[]; FLUSH_ROWS];
        while rows >= self.absorbed + FLUSH_ROWS {
            let first = self.absorbed * self.n;
            let values = &snapshots[first..first + FLUSH_ROWS * self.n];
            for (slot, row) in group.iter_mut().zip(values.chunks_exact(self.n)) {
                *slot = row;
            }
            self.add_rows(comm, &group);
        }
        self.busy += clock.elapsed();
        Ok(())
    }

    /// Absorbs the rows not absorbed yet (all of `rows`, the whole matrix, must
    /// be `capacity` rows) and sums `‖X‖_F²`. **Collective.**
    pub(super) fn finish(
        &mut self,
        comm: &impl AllSum,
        rows: &[&[f64]],
    ) -> Result<(), BurgersError> {
        if self.check_rows(rows.len())? != self.capacity || rows.iter().any(|r| r.len() != self.n) {
            return Err(BurgersError::InvalidArgument(format!(
                "the in-situ sketch has room for {} x {} snapshots, the SVD got {} rows",
                self.capacity,
                self.n,
                rows.len()
            )));
        }
        while self.absorbed < rows.len() {
            let end = (self.absorbed + FLUSH_ROWS).min(rows.len());
            self.add_rows(comm, &rows[self.absorbed..end]);
        }
        if !comm.is_single_rank() {
            let mut energy = [self.energy];
            comm.all_sum(&mut energy);
            self.energy = energy[0];
        }
        Ok(())
    }

    /// Time spent absorbing rows during the time stepping (not in
    /// [`super::distributed_svd_in_situ`], which absorbs the last rows).
    pub fn busy(&self) -> Duration {
        self.busy
    }

    fn check_rows(&self, rows: usize) -> Result<usize, BurgersError> {
        if rows > self.capacity {
            return Err(BurgersError::InvalidArgument(format!(
                "{rows} snapshots for an in-situ sketch with room for {}",
                self.capacity
            )));
        }
        Ok(rows)
    }

    /// Adds the next rows `group` of `X` to `Y`, `W` and the energy.
    fn add_rows(&mut self, comm: &impl AllSum, group: &[&[f64]]) {
        let b = self.start.ncols();
        let rows = kernels::Rows {
            x: group,
            n: self.n,
            b,
        };
        let first = self.absorbed;
        let y = &mut self.y[first * b..(first + group.len()) * b];
        self.energy += if comm.is_single_rank() {
            kernels::fused_accumulate(rows, &self.v, y, &mut self.w, true, false)
        } else {
            let energy = kernels::rows_times(rows, &self.v, y, true);
            comm.all_sum(y);
            kernels::accumulate_transposed(rows, y, &mut self.w);
            energy
        };
        self.absorbed += group.len();
    }
}
