//! Asynchronous gradient descent on a least-squares problem
//! `min_x ½‖A x − b‖²` through a one-sided window on rank 0.
//!
//! **Data.** `A` is `rows × cols` with entries uniform in `[-1, 1)`, `b = A x₀ + 0.1 e`
//! with noise `e` uniform in `[-1, 1)`; row `i` comes from its own seeded stream, so the
//! problem is the same for any number of ranks. The rows are split over the
//! *workers*: ranks 1… when there are several ranks, rank 0 alone when it runs
//! alone (then it plays both roles).
//!
//! **Window** (on rank 0, `f64`): `[stop, version, x (cols), count, g (cols)]`.
//!
//! **Asynchronous phase.** A worker reads `stop, version, x` with a get under a
//! shared lock; when the version is new it computes its shard's gradient
//! `A_sᵀ(A_s x − b_s)` and accumulates `[1, gradient]` into `[count, g]` under a shared
//! lock (`MPI_Accumulate` with `MPI_SUM`, element-wise atomic), then polls again.
//! Rank 0 repeats `updates` times: read `[count, g]` under an exclusive lock on its
//! own window; when `count > 0`, take the step `x ← x − η g` with `η = 1/L`
//! (`L` = the largest eigenvalue of `AᵀA`, by power iteration), and under another
//! exclusive lock accumulate `−[count, g]` (removing exactly what it consumed, so
//! gradients that arrived in between stay) and put the new `version, x`. Then it
//! sets `stop`. Nobody waits for anybody: a worker's gradient may be a few versions
//! old, and each update applies whatever gradients have arrived (at most one per
//! worker and version).
//!
//! **Synchronous phase.** To finish reliably, whatever the scheduling of the
//! asynchronous phase: rank 0 broadcasts `x`, every worker computes its gradient,
//! a reduction sums them on rank 0, which steps with `η` until
//! `‖∇f‖ ≤ tol · ‖Aᵀb‖` (`∇f = AᵀA x − Aᵀb`, so `x` is then within
//! `κ · tol` relative of the solution) or `max_sync_steps`.
//!
//! **Reference.** `AᵀA` and `Aᵀb` are summed over the ranks and the normal
//! equations `AᵀA x* = Aᵀb` solved by Cholesky; [`normal_equation_solution`] does
//! the same serially from the full data.

use mpi::collective::SystemOperation;
use mpi::topology::Communicator;
use mpi::traits::*;
use quicklb_transport::{LockType, Window};

use super::{even_block, Error, Result, SplitMix64};

/// Parameters of the demo.
#[derive(Debug, Clone, PartialEq)]
pub struct AsyncGdParams {
    /// Rows of `A` (data points), at least `cols`.
    pub rows: usize,
    /// Columns of `A` (parameters), at least 1.
    pub cols: usize,
    /// Seed of the data.
    pub seed: u64,
    /// Updates rank 0 makes in the asynchronous phase.
    pub updates: usize,
    /// Stopping tolerance of the synchronous phase, relative to `‖Aᵀb‖`.
    pub tol: f64,
    /// Most steps of the synchronous phase.
    pub max_sync_steps: usize,
}

impl Default for AsyncGdParams {
    fn default() -> Self {
        AsyncGdParams {
            rows: 400,
            cols: 8,
            seed: 2024,
            updates: 200,
            tol: 1e-12,
            max_sync_steps: 10_000,
        }
    }
}

/// Row `i` of `A` and `b[i]`.
pub fn problem_row(params: &AsyncGdParams, i: usize) -> (Vec<f64>, f64) {
    let mut truth = SplitMix64::new(params.seed, u64::MAX);
    let x0: Vec<f64> = (0..params.cols).map(|_| truth.uniform()).collect();
    let mut g = SplitMix64::new(params.seed, i as u64);
    let a: Vec<f64> = (0..params.cols).map(|_| g.uniform()).collect();
    let b = a.iter().zip(&x0).map(|(a, x)| a * x).sum::<f64>() + 0.1 * g.uniform();
    (a, b)
}

/// The least-squares solution from the normal equations, computed serially from
/// the full data (for tests).
pub fn normal_equation_solution(params: &AsyncGdParams) -> Result<Vec<f64>> {
    let shard = Shard::new(params, 0, params.rows);
    let (h, r) = shard.normal_equations();
    solve_spd(&h, &r, params.cols)
}

/// A block of rows of `A` and `b`, row-major.
struct Shard {
    a: Vec<f64>,
    b: Vec<f64>,
    cols: usize,
}

impl Shard {
    fn new(params: &AsyncGdParams, first: usize, count: usize) -> Self {
        let mut a = Vec::with_capacity(count * params.cols);
        let mut b = Vec::with_capacity(count);
        for i in first..first + count {
            let (row, bi) = problem_row(params, i);
            a.extend(row);
            b.push(bi);
        }
        Shard {
            a,
            b,
            cols: params.cols,
        }
    }

    /// `A_sᵀ(A_s x − b_s)` into `out`.
    fn gradient(&self, x: &[f64], out: &mut [f64]) {
        out.fill(0.0);
        for (row, &bi) in self.a.chunks_exact(self.cols.max(1)).zip(&self.b) {
            let residual = row.iter().zip(x).map(|(a, x)| a * x).sum::<f64>() - bi;
            for (o, a) in out.iter_mut().zip(row) {
                *o += a * residual;
            }
        }
    }

    /// `(A_sᵀA_s, A_sᵀb_s)`, the first row-major `cols × cols`.
    fn normal_equations(&self) -> (Vec<f64>, Vec<f64>) {
        let d = self.cols;
        let mut h = vec![0.0; d * d];
        let mut r = vec![0.0; d];
        for (row, &bi) in self.a.chunks_exact(d.max(1)).zip(&self.b) {
            for j in 0..d {
                r[j] += row[j] * bi;
                for k in 0..d {
                    h[j * d + k] += row[j] * row[k];
                }
            }
        }
        (h, r)
    }
}

/// Solves `H x = r` for a symmetric positive definite `H` (Cholesky).
fn solve_spd(h: &[f64], r: &[f64], d: usize) -> Result<Vec<f64>> {
    let mut l = vec![0.0; d * d];
    for j in 0..d {
        for i in j..d {
            let s = h[i * d + j] - (0..j).map(|k| l[i * d + k] * l[j * d + k]).sum::<f64>();
            if i == j {
                if s <= 0.0 || !s.is_finite() {
                    return Err(Error::Check(
                        "AᵀA is not positive definite (A lacks full column rank)".into(),
                    ));
                }
                l[j * d + j] = s.sqrt();
            } else {
                l[i * d + j] = s / l[j * d + j];
            }
        }
    }
    let mut y = vec![0.0; d];
    for i in 0..d {
        y[i] = (r[i] - (0..i).map(|k| l[i * d + k] * y[k]).sum::<f64>()) / l[i * d + i];
    }
    let mut x = vec![0.0; d];
    for i in (0..d).rev() {
        x[i] = (y[i] - (i + 1..d).map(|k| l[k * d + i] * x[k]).sum::<f64>()) / l[i * d + i];
    }
    Ok(x)
}

/// The largest eigenvalue of a symmetric positive semi-definite `H` (power iteration).
fn largest_eigenvalue(h: &[f64], d: usize) -> f64 {
    let mut v = vec![1.0 / (d as f64).sqrt(); d];
    let mut lambda = 0.0;
    for _ in 0..10_000 {
        let w: Vec<f64> = (0..d)
            .map(|i| (0..d).map(|k| h[i * d + k] * v[k]).sum())
            .collect();
        let norm = norm2(&w);
        if norm == 0.0 {
            return 0.0;
        }
        v = w.iter().map(|x| x / norm).collect();
        let done = (norm - lambda).abs() <= 1e-14 * norm;
        lambda = norm;
        if done {
            break;
        }
    }
    lambda
}

fn norm2(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max)
}

/// What [`run`] found. Fields marked "rank 0" hold 0 or empty elsewhere.
#[derive(Debug, Clone, PartialEq)]
pub struct AsyncGdSummary {
    /// The parameters.
    pub params: AsyncGdParams,
    /// Number of ranks.
    pub size: i32,
    /// The final parameters (the same on every rank).
    pub x: Vec<f64>,
    /// The normal-equation solution (the same on every rank).
    pub x_star: Vec<f64>,
    /// Step size `1/L`.
    pub eta: f64,
    /// Rank 0: `max |x − x*|` after the asynchronous phase.
    pub async_error: f64,
    /// `max |x − x*|` at the end.
    pub final_error: f64,
    /// Rank 0: gradients applied in the asynchronous phase.
    pub applied: u64,
    /// Rank 0: gradients that arrived after the last update (discarded).
    pub leftover: u64,
    /// Rank 0: gradients accumulated by every rank, indexed by rank.
    pub contributed: Vec<u64>,
    /// Rank 0: steps of the synchronous phase.
    pub sync_steps: usize,
    /// Rank 0: `‖∇f‖ / ‖Aᵀb‖` at the end.
    pub relative_gradient: f64,
}

/// Layout of rank 0's window.
struct Layout {
    d: usize,
}

impl Layout {
    const STOP: usize = 0;
    const VERSION: usize = 1;
    fn count(&self) -> usize {
        2 + self.d
    }
    fn len(&self) -> usize {
        3 + 2 * self.d
    }
}

/// Runs both phases (collective over `comm`).
pub fn run<C: Communicator>(comm: &C, params: &AsyncGdParams) -> Result<AsyncGdSummary> {
    let (rank, size) = (comm.rank(), comm.size());
    let d = params.cols;
    if d == 0 || params.rows < d {
        return Err(Error::Invalid(format!(
            "need cols >= 1 and rows >= cols (a full-rank least-squares problem), got {} x {d}",
            params.rows
        )));
    }
    if !(params.tol > 0.0 && params.tol.is_finite()) {
        return Err(Error::Invalid(format!(
            "tol must be positive, got {}",
            params.tol
        )));
    }
    // The workers and their shards.
    let workers = if size == 1 { 1 } else { size as usize - 1 };
    let worker_index = if size == 1 {
        Some(0)
    } else {
        (rank > 0).then(|| rank as usize - 1)
    };
    let shard = match worker_index {
        Some(w) => {
            let (first, count) = even_block(params.rows, w, workers);
            Shard::new(params, first, count)
        }
        None => Shard::new(params, 0, 0),
    };

    // Reference solution and step size, from AᵀA and Aᵀb summed over the ranks.
    let (h_local, r_local) = shard.normal_equations();
    let mut h = vec![0.0; d * d];
    let mut r = vec![0.0; d];
    comm.all_reduce_into(&h_local[..], &mut h[..], SystemOperation::sum());
    comm.all_reduce_into(&r_local[..], &mut r[..], SystemOperation::sum());
    let x_star = solve_spd(&h, &r, d)?;
    let lipschitz = largest_eigenvalue(&h, d);
    let eta = 1.0 / lipschitz;
    let rhs_norm = norm2(&r);

    // Asynchronous phase.
    let layout = Layout { d };
    let mut win = Window::<f64>::allocate(comm, if rank == 0 { layout.len() } else { 0 })?;
    let mut x = vec![0.0; d]; // rank 0's copy of the window's x; x₀ = 0 (the window starts zeroed)
    let mut applied = 0u64;
    let mut contributed = 0u64;
    let mut contribution = vec![0.0; 1 + d];
    if rank == 0 {
        let mut acc = vec![0.0; 1 + d];
        let mut head = vec![0.0; 1 + d];
        let mut version = 0.0;
        let mut updates = 0;
        while updates < params.updates {
            if size == 1 {
                // Alone, rank 0 is also the worker: its gradient at the current x.
                contribution[0] = 1.0;
                shard.gradient(&x, &mut contribution[1..]);
                win.lock(0, LockType::Shared, |e| {
                    e.accumulate(&contribution, 0, layout.count(), SystemOperation::sum())
                })?;
                contributed += 1;
            }
            win.lock(0, LockType::Exclusive, |e| {
                e.get(&mut acc, 0, layout.count())
            })?;
            if acc[0] == 0.0 {
                std::thread::yield_now();
                continue;
            }
            for (xi, gi) in x.iter_mut().zip(&acc[1..]) {
                *xi -= eta * gi;
            }
            version += 1.0;
            head[0] = version;
            head[1..].copy_from_slice(&x);
            let consumed: Vec<f64> = acc.iter().map(|v| -v).collect();
            win.lock(0, LockType::Exclusive, |e| {
                e.accumulate(&consumed, 0, layout.count(), SystemOperation::sum())?;
                e.put(&head, 0, Layout::VERSION)
            })?;
            applied += acc[0] as u64;
            updates += 1;
        }
        let stop = [1.0];
        win.lock(0, LockType::Exclusive, |e| e.put(&stop, 0, Layout::STOP))?;
    } else {
        let mut head = vec![0.0; 2 + d];
        let mut last_version = -1.0;
        loop {
            win.lock(0, LockType::Shared, |e| e.get(&mut head, 0, Layout::STOP))?;
            if head[Layout::STOP] != 0.0 {
                break;
            }
            if head[Layout::VERSION] == last_version {
                std::thread::yield_now();
                continue;
            }
            last_version = head[Layout::VERSION];
            contribution[0] = 1.0;
            shard.gradient(&head[2..], &mut contribution[1..]);
            win.lock(0, LockType::Shared, |e| {
                e.accumulate(&contribution, 0, layout.count(), SystemOperation::sum())
            })?;
            contributed += 1;
        }
    }
    // Every worker has stopped and unlocked: count what arrived too late.
    comm.barrier();
    let mut leftover = [0.0];
    if rank == 0 {
        win.lock(0, LockType::Exclusive, |e| {
            e.get(&mut leftover, 0, layout.count())
        })?;
    }
    drop(win); // MPI_Win_free, collective
    let root = comm.process_at_rank(0);
    let mut all_contributed = Vec::new();
    if rank == 0 {
        all_contributed = vec![0u64; size as usize];
        root.gather_into_root(&contributed, &mut all_contributed[..]);
        let total: u64 = all_contributed.iter().sum();
        if total != applied + leftover[0] as u64 {
            return Err(Error::Check(format!(
                "{total} gradients accumulated, but {applied} applied + {} left over",
                leftover[0]
            )));
        }
    } else {
        root.gather_into(&contributed);
    }
    let async_error = if rank == 0 {
        max_abs_diff(&x, &x_star)
    } else {
        0.0
    };

    // Synchronous phase: broadcast x, reduce the gradient, step, until converged.
    let mut message = vec![0.0; 1 + d]; // [done, x]
    let mut gradient = vec![0.0; d];
    let mut total = vec![0.0; d];
    let mut sync_steps = 0;
    let mut relative_gradient = f64::NAN;
    let mut converged = false;
    loop {
        if rank == 0 {
            message[1..].copy_from_slice(&x);
        }
        root.broadcast_into(&mut message[..]);
        if message[0] != 0.0 {
            break;
        }
        shard.gradient(&message[1..], &mut gradient);
        if rank == 0 {
            root.reduce_into_root(&gradient[..], &mut total[..], SystemOperation::sum());
            relative_gradient = norm2(&total) / rhs_norm;
            converged = relative_gradient <= params.tol;
            if converged || sync_steps >= params.max_sync_steps {
                message[0] = 1.0;
            } else {
                for (xi, gi) in x.iter_mut().zip(&total) {
                    *xi -= eta * gi;
                }
                sync_steps += 1;
            }
        } else {
            root.reduce_into(&gradient[..], SystemOperation::sum());
        }
    }
    let x: Vec<f64> = message[1..].to_vec();
    let mut ok = u8::from(converged);
    root.broadcast_into(&mut ok);
    if ok == 0 {
        return Err(Error::Check(format!(
            "no convergence in {} synchronous steps",
            params.max_sync_steps
        )));
    }
    Ok(AsyncGdSummary {
        params: params.clone(),
        size,
        final_error: max_abs_diff(&x, &x_star),
        x,
        x_star,
        eta,
        async_error,
        applied,
        leftover: leftover[0] as u64,
        contributed: all_contributed,
        sync_steps,
        relative_gradient,
    })
}

impl AsyncGdSummary {
    /// The lines rank 0 prints (empty on other ranks).
    pub fn lines(&self) -> Vec<String> {
        if self.contributed.is_empty() {
            return Vec::new();
        }
        let p = &self.params;
        let roles = if self.size == 1 {
            "rank 0 serves the parameters and computes the gradients".to_string()
        } else {
            format!(
                "rank 0 serves the parameters, {} workers compute gradients",
                self.size - 1
            )
        };
        let per_rank = if self.size == 1 {
            format!("{:?}", self.contributed)
        } else {
            format!("{:?}", &self.contributed[1..])
        };
        vec![
            format!(
                "async-gd: least squares with A {} x {} (seed {}), {} rank{}: {roles}",
                p.rows,
                p.cols,
                p.seed,
                self.size,
                if self.size == 1 { "" } else { "s" }
            ),
            format!("step 1/L = {:.6e} (L = largest eigenvalue of AᵀA)", self.eta),
            format!(
                "asynchronous phase: {} updates applied {} gradients (per worker {per_rank}, {} arrived after the last update); max |x - x*| = {:.3e}",
                p.updates, self.applied, self.leftover, self.async_error
            ),
            format!(
                "synchronous phase: {} steps to |grad| / |Aᵀb| = {:.3e} (tol {:.0e})",
                self.sync_steps, self.relative_gradient, p.tol
            ),
            format!(
                "final: max |x - x*| = {:.3e}, x* from the normal equations AᵀA x* = Aᵀb",
                self.final_error
            ),
            format!("x = {:?}", self.x.iter().map(|v| (v * 1e6).round() / 1e6).collect::<Vec<_>>()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_solves_a_known_system() {
        // [[4, 2], [2, 3]] x = [2, 1]  =>  x = [0.5, 0]
        let x = solve_spd(&[4.0, 2.0, 2.0, 3.0], &[2.0, 1.0], 2).unwrap();
        assert!((x[0] - 0.5).abs() < 1e-15 && x[1].abs() < 1e-15, "{x:?}");
        assert!(solve_spd(&[1.0, 2.0, 2.0, 1.0], &[1.0, 1.0], 2).is_err());
    }

    #[test]
    fn power_iteration_finds_the_largest_eigenvalue() {
        // Eigenvalues of [[2, 1], [1, 2]] are 3 and 1.
        let l = largest_eigenvalue(&[2.0, 1.0, 1.0, 2.0], 2);
        assert!((l - 3.0).abs() < 1e-12, "{l}");
    }

    #[test]
    fn serial_gradient_vanishes_at_the_normal_equation_solution() {
        let params = AsyncGdParams {
            rows: 50,
            cols: 4,
            ..AsyncGdParams::default()
        };
        let x = normal_equation_solution(&params).unwrap();
        let shard = Shard::new(&params, 0, params.rows);
        let mut g = vec![0.0; 4];
        shard.gradient(&x, &mut g);
        assert!(norm2(&g) < 1e-12, "{g:?}");
        // Shards of any split sum to the full gradient.
        let (a, b) = (Shard::new(&params, 0, 17), Shard::new(&params, 17, 33));
        let (mut ga, mut gb, mut full) = (vec![0.0; 4], vec![0.0; 4], vec![0.0; 4]);
        let y = [1.0, -2.0, 0.5, 3.0];
        a.gradient(&y, &mut ga);
        b.gradient(&y, &mut gb);
        shard.gradient(&y, &mut full);
        for j in 0..4 {
            assert!((ga[j] + gb[j] - full[j]).abs() < 1e-12);
        }
    }
}
