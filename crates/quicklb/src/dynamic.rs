//! Dynamic sharing within a step: after the planned loans, ranks of a node that
//! finish early take chunks of the own cells of ranks still busy, through a
//! [`ChunkPool`] in node shared memory (claims by atomics, no help from the busy
//! rank's thread). Each rank publishes its not-lent cells at the start of the
//! step, claims chunks of them front to back and computes them in place; once
//! done with its own and borrowed cells it steals from the rank with the most
//! work left, then waits for the chunks taken from it and stores their results
//! and measured costs.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use bytemuck::Pod;
use mpi::point_to_point::Source;
use mpi::topology::{Color, Communicator, SimpleCommunicator};
use quicklb_partition::NodeMap;
use quicklb_transport::ChunkPool;

use crate::error::{Error, Result};
use crate::step::{panic_text, Pace};
use crate::store::CellStore;
use crate::watchdog::arm;

/// Whether cells still uneven after the planned loans are shared while the step
/// runs ([`Builder::dynamic`](crate::Builder::dynamic)).
///
/// ```
/// use quicklb::Dynamic;
/// assert_eq!(Dynamic::default(), Dynamic::Off);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Dynamic {
    /// Planned loans only (the default).
    #[default]
    Off,
    /// Ranks of a shared-memory node (as the node map sees it: an emulated map
    /// from [`Builder::nodes`](crate::Builder::nodes) splits real nodes further)
    /// take chunks of each other's remaining own cells during the step. Each
    /// rank's cells are copied into node shared memory every step (twice the
    /// cell bytes of this rank are allocated at build).
    OnNode,
}

/// Idle rounds spent yielding before a rank waiting for others sleeps.
const IDLE_YIELDS: u32 = 64;
/// The sleep of an idle round after those (the latency it may add to a step).
const IDLE_SLEEP: std::time::Duration = std::time::Duration::from_micros(50);

/// This rank's share of a step's dynamic work.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Shared {
    /// Own cells computed by other ranks of the node.
    pub(crate) given: usize,
    /// Other ranks' cells computed here.
    pub(crate) taken: usize,
    /// Successful claims of this rank (of own cells and of others').
    pub(crate) claims: usize,
    /// Compute time of the cells taken (seconds).
    pub(crate) compute_taken: f64,
}

/// The pool of a balancer with [`Dynamic::OnNode`] and the order of the cells
/// it publishes.
pub(crate) struct Sharing {
    pool: ChunkPool,
    /// The node group of the pool (probed to make MPI progress while idle).
    group: SimpleCommunicator,
    /// Pool index -> own cell index, this step (capacity kept between steps).
    order: Vec<usize>,
    /// Seconds a claim should cover at least (the timing block).
    target: f64,
}

impl std::fmt::Debug for Sharing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sharing").field("pool", &self.pool).finish()
    }
}

impl Sharing {
    /// The pool over the ranks of this rank's node. **Collective** over `comm`.
    pub(crate) fn new(
        comm: &SimpleCommunicator,
        nodes: &NodeMap,
        cells: usize,
        cell_bytes: usize,
        target: f64,
    ) -> Result<Self> {
        let node = quicklb_transport::split_shared(comm)?;
        // Emulated nodes split the real ones further (labels are node indices).
        let label = nodes.node(comm.rank() as usize);
        let color = Color::with_value(i32::try_from(label).unwrap_or(i32::MAX));
        let group = node.split_by_color(color).ok_or_else(|| Error::OnRank {
            rank: comm.rank() as usize,
            message: "no node group for dynamic sharing".into(),
        })?;
        let pool = ChunkPool::new(&group, cells, cell_bytes)?;
        Ok(Sharing {
            pool,
            group,
            order: Vec::with_capacity(cells),
            target,
        })
    }
}

/// Chunk of `remaining` cells for a node of `ranks`: guided self-scheduling
/// (`remaining / 2 ranks`, so chunks shrink towards the tail), never below
/// `min` cells (a claim covers at least the timing block of work).
fn guided(remaining: usize, ranks: usize, min: usize) -> usize {
    remaining.div_ceil(2 * ranks.max(1)).max(min).max(1)
}

/// Publishes this rank's not-lent cells and computes the chunks it claims
/// itself, in place; each cell's weight becomes its chunk's average time.
/// Returns the compute time. A panic of `compute` stops the claims (the rest
/// is claimed, uncomputed, by [`finish`]). Without `cells` (a wrong count on
/// this rank) an empty round is opened: every rank opens one round per step,
/// which tells the others that this rank has reached the step.
pub(crate) fn compute_own<T, S, F>(
    sharing: &mut Sharing,
    cells: Option<&mut S>,
    compute: &mut F,
    weights: &mut [f64],
    is_lent: Option<&[bool]>,
    shared: &mut Shared,
    panic: &mut Option<String>,
) -> f64
where
    T: Pod,
    S: CellStore<Cell = T> + ?Sized,
    F: FnMut(&mut T),
{
    let Sharing {
        pool,
        order,
        target,
        ..
    } = sharing;
    let Some(cells) = cells else {
        order.clear();
        pool.open(0, 1, 0.0, |_, _| {})
            .expect("an empty round always fits");
        return 0.0;
    };
    order.clear();
    order.extend((0..weights.len()).filter(|&i| !is_lent.is_some_and(|l| l[i])));
    let m = order.len();
    let load: f64 = order.iter().map(|&i| weights[i]).sum();
    let mean = if m > 0 { load / m as f64 } else { 0.0 };
    let min_chunk = if mean > 0.0 && *target > 0.0 {
        ((*target / mean).ceil() as usize).clamp(1, m.max(1))
    } else {
        1
    };
    pool.open(m, min_chunk, mean, |k, bytes| {
        cells.read_bytes(order[k], bytes)
    })
    .expect("a round never exceeds the cells the pool was built for");
    let ranks = pool.num_ranks();
    let t0 = Instant::now();
    let me = pool.rank();
    let run = catch_unwind(AssertUnwindSafe(|| loop {
        let (remaining, _) = pool.remaining(me);
        let Some(chunk) = pool.claim(guided(remaining, ranks, min_chunk)) else {
            break;
        };
        shared.claims += 1;
        let tc = Instant::now();
        for k in chunk.clone() {
            cells.update(order[k], &mut *compute);
        }
        let per = tc.elapsed().as_secs_f64() / chunk.len() as f64;
        for k in chunk {
            weights[order[k]] = per;
        }
    }));
    if let Err(payload) = run {
        *panic = Some(panic_text(payload.as_ref()));
    }
    t0.elapsed().as_secs_f64()
}

/// After the own and borrowed cells: takes chunks of the other ranks' rounds
/// while any has cells left (unless `compute` panicked here), then waits for
/// the chunks taken from this rank and stores their results and costs
/// (`cells` is `None` on a rank with a wrong cell count: nothing is stored).
#[allow(clippy::too_many_arguments)]
pub(crate) fn finish<T, S, F>(
    sharing: &mut Sharing,
    cells: Option<&mut S>,
    compute: &mut F,
    weights: &mut [f64],
    scratch: &mut T,
    pace: &Pace<'_>,
    shared: &mut Shared,
    panic: &mut Option<String>,
) where
    T: Pod,
    S: CellStore<Cell = T> + ?Sized,
    F: FnMut(&mut T),
{
    let pool = &sharing.pool;
    // Cells left unclaimed by a panic: claimed here, not computed.
    while pool.claim(u32::MAX as usize).is_some() {}
    let ranks = pool.num_ranks();
    let round = pool.rounds(pool.rank());
    let mut armed = None;
    let mut idle = 0u32;
    loop {
        if panic.is_none() {
            if let Some(victim) = busiest(pool) {
                armed = None;
                idle = 0;
                if let Some(mut stolen) = pool.steal(victim, |rem, min| guided(rem, ranks, min)) {
                    shared.claims += 1;
                    let tc = Instant::now();
                    let mut done = 0;
                    let computed = catch_unwind(AssertUnwindSafe(|| {
                        for k in 0..stolen.len() {
                            bytemuck::bytes_of_mut(&mut *scratch).copy_from_slice(stolen.input(k));
                            compute(&mut *scratch);
                            stolen.write(k, bytemuck::bytes_of(&*scratch), f64::NAN);
                            done = k + 1;
                        }
                    }));
                    let cost = tc.elapsed().as_secs_f64();
                    shared.compute_taken += cost;
                    shared.taken += done;
                    if done > 0 {
                        let per = cost / done as f64;
                        for k in 0..done {
                            stolen.set_cost(k, per);
                        }
                    }
                    if let Err(payload) = computed {
                        *panic = Some(panic_text(payload.as_ref()));
                    }
                }
                continue;
            }
        }
        // Done when every rank of the node has reached this step and has no
        // cell left to claim (so none arrives later to wait for help), and the
        // chunks taken from here are in.
        if (panic.is_some() || all_claimed(pool, round)) && pool.is_complete() {
            break;
        }
        if armed.is_none() {
            armed = Some(arm(
                pace.watchdog,
                "iterate() (waiting for cells taken by other ranks)",
                pace.step,
            ));
        }
        // Progress for the messages of the step and of the user's code (a
        // rank not yet in this step may wait for one of this rank's sends).
        let _ = sharing.group.any_process().immediate_probe();
        // Yield at first (a chunk taken from here may be done any moment),
        // then sleep a little: spinning ranks would slow down busy ones that
        // share their cores.
        idle += 1;
        match pace.poll {
            Some(d) => std::thread::sleep(d),
            None if idle <= IDLE_YIELDS => std::thread::yield_now(),
            None => std::thread::sleep(IDLE_SLEEP),
        }
    }
    drop(armed);
    let order = &sharing.order;
    let Some(outputs) = sharing.pool.outputs() else {
        unreachable!("the round is complete");
    };
    let Some(cells) = cells else {
        return;
    };
    for (k, &i) in order.iter().enumerate().take(outputs.len()) {
        if let Some((bytes, cost)) = outputs.get(k) {
            cells.write_bytes(i, bytes);
            weights[i] = cost;
            shared.given += 1;
        }
    }
}

/// Whether every other rank of the node has opened its round `round` (or a
/// later one) and has no cell left to claim.
fn all_claimed(pool: &ChunkPool, round: u64) -> bool {
    let me = pool.rank();
    (0..pool.num_ranks())
        .filter(|&r| r != me)
        .all(|r| pool.rounds(r) >= round && pool.remaining(r).0 == 0)
}

/// The other rank of the node with the most work left (cells times its cost
/// per cell), if any has cells left.
fn busiest(pool: &ChunkPool) -> Option<usize> {
    let me = pool.rank();
    let mut best: Option<(usize, f64)> = None;
    for r in (0..pool.num_ranks()).filter(|&r| r != me) {
        let (remaining, cost) = pool.remaining(r);
        if remaining == 0 {
            continue;
        }
        let work = remaining as f64 * if cost > 0.0 { cost } else { 1e-9 };
        if best.is_none_or(|(_, w)| work > w) {
            best = Some((r, work));
        }
    }
    best.map(|b| b.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_shrink_towards_the_tail_and_respect_the_minimum() {
        assert_eq!(guided(800, 4, 1), 100);
        assert_eq!(guided(80, 4, 1), 10);
        assert_eq!(guided(3, 4, 1), 1);
        assert_eq!(guided(80, 4, 32), 32);
        assert_eq!(guided(0, 4, 0), 1);
    }
}
