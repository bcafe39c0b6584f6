//! One-sided communication (RMA) in its three synchronisation modes, on a window
//! of three `i64` per rank ([`Window::allocate`], zeroed):
//!
//! 1. **fence**: rank 0 puts 42 into slot 0 of rank 1's window (of its own window
//!    when it runs alone);
//! 2. **fence**: every rank accumulates `rank + 1` into slot 1 of rank 0's
//!    window (`MPI_SUM`), which then holds `n (n + 1) / 2`;
//! 3. **lock / get** (passive target, shared locks): every rank reads the total
//!    from rank 0 and the 42 from the put's target, without the targets taking part;
//! 4. **post / start / complete / wait** (generalized active target): each rank
//!    exposes its window to its left neighbour only and puts `1000 + rank` into
//!    slot 2 of its right neighbour's window.
//!
//! Every rank checks what it sees; rank 0 gathers the windows to print them.

use mpi::collective::SystemOperation;
use mpi::topology::Communicator;
use mpi::traits::*;
use quicklb_transport::{LockType, Window};

use super::{Error, Result};

/// The value rank 0 puts under fence.
pub const PUT_VALUE: i64 = 42;

/// Offset added to a rank's number in the post/start/complete/wait step.
pub const PSCW_BASE: i64 = 1000;

/// What [`run`] saw on one rank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RmaSummary {
    /// Number of ranks.
    pub size: i32,
    /// The rank whose slot 0 receives the fence put (1, or 0 when alone).
    pub put_target: i32,
    /// This rank's window at the end: `[slot 0, slot 1, slot 2]`.
    pub window: [i64; 3],
    /// The total read from rank 0's slot 1 with lock/get.
    pub total_read: i64,
    /// The value read from the put target's slot 0 with lock/get.
    pub put_read: i64,
    /// On rank 0: every rank's `window`, indexed by rank. `None` elsewhere.
    pub windows: Option<Vec<[i64; 3]>>,
}

/// The total of the accumulate step with `size` ranks: `1 + 2 + … + size`.
pub fn expected_total(size: i32) -> i64 {
    i64::from(size) * (i64::from(size) + 1) / 2
}

/// Runs the four steps (collective over `comm`).
pub fn run<C: Communicator>(comm: &C) -> Result<RmaSummary> {
    let (rank, size) = (comm.rank(), comm.size());
    let put_target = if size > 1 { 1 } else { 0 };
    let left = (rank + size - 1) % size;
    let right = (rank + 1) % size;
    let mut win = Window::<i64>::allocate(comm, 3)?;

    // 1. Fence: rank 0 puts 42 into the target's slot 0. Sources must outlive the
    //    epoch, so they live in variables declared before it.
    let put_value = [PUT_VALUE];
    win.fence(|epoch| {
        if rank == 0 {
            epoch.put(&put_value, put_target, 0)?;
        }
        Ok(())
    })?;
    let slot0 = win.with_local(|local| local[0])?;
    let want0 = if rank == put_target { PUT_VALUE } else { 0 };
    check(slot0 == want0, || {
        format!("rank {rank}: slot 0 holds {slot0} after the fence put, expected {want0}")
    })?;

    // 2. Fence: everyone accumulates rank + 1 into rank 0's slot 1.
    let mine = [i64::from(rank) + 1];
    win.fence(|epoch| epoch.accumulate(&mine, 0, 1, SystemOperation::sum()))?;

    // 3. Passive target: read rank 0's total and the put target's 42 under shared
    //    locks; the targets do nothing.
    let mut total = [0i64];
    win.lock(0, LockType::Shared, |epoch| epoch.get(&mut total, 0, 1))?;
    let mut put_seen = [0i64];
    win.lock(put_target, LockType::Shared, |epoch| {
        epoch.get(&mut put_seen, put_target, 0)
    })?;
    check(total[0] == expected_total(size), || {
        format!(
            "rank {rank}: read total {} from rank 0, expected {}",
            total[0],
            expected_total(size)
        )
    })?;
    check(put_seen[0] == PUT_VALUE, || {
        format!(
            "rank {rank}: read {} from rank {put_target}'s slot 0, expected {PUT_VALUE}",
            put_seen[0]
        )
    })?;
    // Passive epochs and the active epochs below must not overlap on any window:
    // everyone has unlocked when the barrier is passed.
    comm.barrier();

    // 4. PSCW: expose my window to my left neighbour, access my right neighbour's.
    let group = comm.group();
    let origins = group.include(&[left]);
    let targets = group.include(&[right]);
    let token = [PSCW_BASE + i64::from(rank)];
    win.pscw(&origins, &targets, |epoch| epoch.put(&token, right, 2))?;
    let slot2 = win.with_local(|local| local[2])?;
    check(slot2 == PSCW_BASE + i64::from(left), || {
        format!(
            "rank {rank}: slot 2 holds {slot2} after post/start/complete/wait, expected {}",
            PSCW_BASE + i64::from(left)
        )
    })?;

    let window: [i64; 3] = win.with_local(|local| [local[0], local[1], local[2]])?;
    drop(win); // MPI_Win_free, collective

    let root = comm.process_at_rank(0);
    let windows = if rank == 0 {
        let mut all = vec![0i64; 3 * size as usize];
        root.gather_into_root(&window[..], &mut all[..]);
        Some(
            all.chunks_exact(3)
                .map(|w| [w[0], w[1], w[2]])
                .collect::<Vec<_>>(),
        )
    } else {
        root.gather_into(&window[..]);
        None
    };
    Ok(RmaSummary {
        size,
        put_target,
        window,
        total_read: total[0],
        put_read: put_seen[0],
        windows,
    })
}

fn check(ok: bool, message: impl FnOnce() -> String) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(Error::Check(message()))
    }
}

impl RmaSummary {
    /// The lines rank 0 prints (empty on other ranks).
    pub fn lines(&self) -> Vec<String> {
        let Some(windows) = &self.windows else {
            return Vec::new();
        };
        let n = self.size;
        let mut out = vec![
            format!(
                "fence + put:         rank 0 put {PUT_VALUE} into slot 0 of rank {}'s window",
                self.put_target
            ),
            format!(
                "fence + accumulate:  every rank added rank+1 into slot 1 of rank 0: total {} (= {n}*{}/2)",
                expected_total(n),
                n + 1
            ),
            format!(
                "lock + get:          every rank read {} from rank 0 and {PUT_VALUE} from rank {} under shared locks",
                self.total_read, self.put_target
            ),
            format!(
                "post/start/complete/wait: every rank put {PSCW_BASE}+rank into slot 2 of its right neighbour"
            ),
        ];
        for (r, w) in windows.iter().enumerate() {
            out.push(format!("rank {r} window [slot 0, slot 1, slot 2] = {w:?}"));
        }
        out
    }
}
