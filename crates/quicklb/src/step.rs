//! One step: compute the own cells while the lent ones travel, compute the
//! borrowed ones, send results and costs back, unpack. Measures the costs.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use bytemuck::Pod;
use quicklb_transport::InFlight;

use crate::dynamic::{self, Shared, Sharing};
use crate::loans::{Loans, COST_BYTES, NOT_COMPUTED};
use crate::store::CellStore;
use crate::watchdog::{arm, Watchdog};

/// Times of one step on this rank, in seconds, and a caught panic.
#[derive(Debug, Default)]
pub(crate) struct StepTimes {
    pub(crate) compute_own: f64,
    pub(crate) compute_borrowed: f64,
    pub(crate) wait: f64,
    /// The message of a panic of `compute` (the rest of the step went on
    /// without computing; every message was still sent).
    pub(crate) panic: Option<String>,
    /// Cells shared dynamically ([`Dynamic::OnNode`](crate::Dynamic::OnNode)).
    pub(crate) shared: Shared,
}

/// How a step measures and waits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pace<'a> {
    /// Cells timed per clock read (at least 1).
    pub(crate) block: usize,
    /// Test-and-sleep interval instead of a blocking wait.
    pub(crate) poll: Option<Duration>,
    /// Watches the waits (not `compute`).
    pub(crate) watchdog: Option<&'a Watchdog>,
    /// The step number, for the watchdog's message.
    pub(crate) step: u64,
}

/// The text of a panic payload.
pub(crate) fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-text payload".to_string()
    }
}

/// Completes a round: `MPI_Wait`, or test-and-sleep with a poll interval.
fn finish(mut round: InFlight<'_, u8>, pace: &Pace<'_>) -> Result<(), quicklb_transport::Error> {
    let _armed = arm(pace.watchdog, "iterate() (its messages)", pace.step);
    match pace.poll {
        None => round.wait(),
        Some(d) => {
            while !round.test()? {
                std::thread::sleep(d);
            }
            Ok(())
        }
    }
}

/// Computes this rank's own cells that are not lent, timing them in blocks of
/// `block` cells; each cell's weight becomes its block's average time.
fn compute_own<T, S, F>(
    cells: &mut S,
    compute: &mut F,
    weights: &mut [f64],
    is_lent: Option<&[bool]>,
    block: usize,
) -> f64
where
    T: Pod,
    S: CellStore<Cell = T> + ?Sized,
    F: FnMut(&mut T),
{
    let lent = |i: usize| is_lent.is_some_and(|l| l[i]);
    let n = weights.len();
    let t0 = Instant::now();
    let mut t = t0;
    let (mut in_block, mut block_start) = (0usize, 0usize);
    let spread = |weights: &mut [f64], from: usize, to: usize, per: f64| {
        for (i, w) in weights.iter_mut().enumerate().take(to).skip(from) {
            if !lent(i) {
                *w = per;
            }
        }
    };
    for i in 0..n {
        if lent(i) {
            continue;
        }
        cells.update(i, &mut *compute);
        in_block += 1;
        if in_block == block {
            let now = Instant::now();
            spread(
                weights,
                block_start,
                i + 1,
                (now - t).as_secs_f64() / in_block as f64,
            );
            t = now;
            in_block = 0;
            block_start = i + 1;
        }
    }
    if in_block > 0 {
        let now = Instant::now();
        spread(
            weights,
            block_start,
            n,
            (now - t).as_secs_f64() / in_block as f64,
        );
        t = now;
    }
    (t - t0).as_secs_f64()
}

/// Runs one step. Without `cells` (a wrong count on this rank) only the
/// messages and the borrowed cells; without `loans` (no plan) only the own
/// cells. `scratch` holds a borrowed cell while it is computed (on the heap,
/// so no cell is ever copied to the stack). With `sharing`, the own cells are
/// shared with the node while the step runs (see [`dynamic`]).
#[allow(clippy::too_many_arguments)]
pub(crate) fn run<T, S, F>(
    loans: Option<&mut Loans>,
    mut sharing: Option<&mut Sharing>,
    weights: &mut [f64],
    pace: Pace<'_>,
    scratch: &mut T,
    mut cells: Option<&mut S>,
    compute: &mut F,
) -> Result<StepTimes, quicklb_transport::Error>
where
    T: Pod,
    S: CellStore<Cell = T> + ?Sized,
    F: FnMut(&mut T),
{
    let sz = std::mem::size_of::<T>();
    let block = pace.block.max(1);
    let mut times = StepTimes::default();
    let Some(loans) = loans else {
        if let Some(sharing) = sharing {
            times.compute_own = dynamic::compute_own(
                sharing,
                cells.as_deref_mut(),
                compute,
                weights,
                None,
                &mut times.shared,
                &mut times.panic,
            );
            let (t, p) = (&mut times.shared, &mut times.panic);
            dynamic::finish(sharing, cells, compute, weights, scratch, &pace, t, p);
        } else if let Some(cells) = cells {
            let own = catch_unwind(AssertUnwindSafe(|| {
                compute_own(cells, compute, weights, None, block)
            }));
            match own {
                Ok(t) => times.compute_own = t,
                Err(payload) => times.panic = Some(panic_text(payload.as_ref())),
            }
        }
        return Ok(times);
    };

    // Pack the lent cells (without cells: send the stale buffers).
    if let Some(cells) = cells.as_deref() {
        loans.pack(cells, sz);
    }
    let Loans {
        layout,
        is_lent,
        borrowed,
        lent,
        inbound,
        outbound,
        ..
    } = &mut *loans;
    let lent_round = lent.start_all()?;
    let in_round = inbound.start_all()?;

    // Own cells, while the lent ones travel.
    if let Some(sharing) = sharing.as_deref_mut() {
        times.compute_own = dynamic::compute_own(
            sharing,
            cells.as_deref_mut(),
            compute,
            weights,
            Some(is_lent),
            &mut times.shared,
            &mut times.panic,
        );
    } else if let Some(cells) = cells.as_deref_mut() {
        let t0 = Instant::now();
        let own = catch_unwind(AssertUnwindSafe(|| {
            compute_own(cells, compute, weights, Some(is_lent), block)
        }));
        match own {
            Ok(t) => times.compute_own = t,
            Err(payload) => {
                times.compute_own = t0.elapsed().as_secs_f64();
                times.panic = Some(panic_text(payload.as_ref()));
            }
        }
    }

    // Borrowed cells: compute and send back.
    let out_round = if borrowed.is_empty() {
        drop(in_round);
        None
    } else {
        let tw = Instant::now();
        finish(in_round, &pace)?;
        times.wait += tw.elapsed().as_secs_f64();
        let stride = sz + COST_BYTES;
        for (k, b) in borrowed.iter().enumerate() {
            let src = inbound.recv_buf(k);
            let dst = outbound.send_buf_mut(k);
            let mut j0 = 0;
            while j0 < b.cells {
                let j1 = (j0 + block).min(b.cells);
                let tc = Instant::now();
                let mut done = j0;
                if times.panic.is_none() {
                    let computed = catch_unwind(AssertUnwindSafe(|| {
                        for j in j0..j1 {
                            let bytes = bytemuck::bytes_of_mut(&mut *scratch);
                            bytes.copy_from_slice(&src[j * sz..(j + 1) * sz]);
                            compute(&mut *scratch);
                            dst[j * stride..j * stride + sz]
                                .copy_from_slice(bytemuck::bytes_of(&*scratch));
                            done = j + 1;
                        }
                    }));
                    if let Err(payload) = computed {
                        times.panic = Some(panic_text(payload.as_ref()));
                    }
                }
                let cost = tc.elapsed().as_secs_f64();
                times.compute_borrowed += cost;
                let per = if done > j0 {
                    cost / (done - j0) as f64
                } else {
                    0.0
                };
                for j in j0..j1 {
                    let c = if j < done { per } else { NOT_COMPUTED };
                    dst[j * stride + sz..(j + 1) * stride].copy_from_slice(&c.to_ne_bytes());
                }
                j0 = j1;
            }
        }
        Some(outbound.start_all()?)
    };

    // Cells of the node still unclaimed, then the results of those taken from here.
    if let Some(sharing) = sharing {
        let (t, p) = (&mut times.shared, &mut times.panic);
        dynamic::finish(
            sharing,
            cells.as_deref_mut(),
            compute,
            weights,
            scratch,
            &pace,
            t,
            p,
        );
    }

    // Results of the lent cells.
    let tw = Instant::now();
    finish(lent_round, &pace)?;
    if let Some(r) = out_round {
        finish(r, &pace)?;
    }
    times.wait += tw.elapsed().as_secs_f64();
    if let Some(cells) = cells {
        Loans::unpack(layout, lent, cells, weights, sz);
    }
    Ok(times)
}
