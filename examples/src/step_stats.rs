//! What the demos' steps measured (gray-scott and flame alike), averaged over
//! ranks and steps, and its table.
//!
//! "Chemistry" is the per-cell part the balancer lends; the rest of a step
//! (halo, diffusion) is never lent.

use mpi::collective::SystemOperation;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;

/// What one step measured on this rank.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StepRecord {
    /// Whether the chemistry was load-balanced.
    pub balanced: bool,
    /// Wall time of the whole step on this rank (halo, diffusion, chemistry), s.
    pub wall: f64,
    /// Wall time of the balancer's `iterate` (the chemistry with its
    /// messages and waiting) on this rank, s.
    pub iterate: f64,
    /// Time of the balancer's `partition` in this step (0 if none), s.
    pub planning: f64,
    /// Chemistry compute time on this rank (own and borrowed cells), s.
    pub busy: f64,
    /// Chemistry time of this rank's own cells, wherever they were computed, s.
    pub own_load: f64,
    /// Own cells computed by other ranks.
    pub lent: usize,
    /// Other ranks' cells taken here through dynamic sharing.
    pub taken: usize,
    /// Integrator steps (accepted + rejected) computed on this rank.
    pub work: u64,
    /// Integrator steps of this rank's own cells, wherever computed.
    pub own_work: u64,
}

/// Averages over one kind of step, across ranks.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PhaseStats {
    /// Steps averaged.
    pub steps: usize,
    /// Mean step time of the slowest rank, s.
    pub time_per_step: f64,
    /// Mean chemistry compute time of the busiest rank, s.
    pub chemistry_per_step: f64,
    /// Mean `max/avg` of the ranks' own-cell chemistry time (before lending).
    pub imbalance_before: f64,
    /// Mean `max/avg` of the ranks' actual chemistry time (after lending).
    pub imbalance_after: f64,
    /// Mean number of cells lent per step (all ranks).
    pub cells_lent: f64,
    /// Mean number of cells taken dynamically per step (all ranks).
    pub cells_taken: f64,
    /// Mean integrator steps per step (all ranks).
    pub work: f64,
    /// Mean `max/avg` of the ranks' own-cell integrator steps (before lending).
    pub work_imbalance_before: f64,
    /// Mean `max/avg` of the integrator steps computed on each rank (after).
    pub work_imbalance_after: f64,
    /// Mean time of the balancer itself per step, s: the slowest rank's
    /// `iterate` minus the busiest rank's compute (packing, messages, and
    /// waiting not caused by imbalance), plus the slowest `partition`.
    ///
    /// A wall-clock difference: with more ranks than cores it also holds
    /// the time a rank waits while descheduled for others' compute. (4 ranks
    /// on 2 cores, flame 64 × 64: 3.5–8.5 % of the chemistry time, where
    /// callgrind counts, per rank, 0.5 % of the chemistry's instructions in
    /// `iterate` outside compute and waits and 0.2–0.6 % in `partition`.)
    pub balancer_per_step: f64,
}

impl PhaseStats {
    /// The balancer's own time as a share of the chemistry time.
    pub fn balancer_share(&self) -> f64 {
        if self.chemistry_per_step > 0.0 {
            self.balancer_per_step / self.chemistry_per_step
        } else {
            0.0
        }
    }

    /// The chemistry time as a share of the step time.
    pub fn chemistry_share(&self) -> f64 {
        if self.time_per_step > 0.0 {
            self.chemistry_per_step / self.time_per_step
        } else {
            0.0
        }
    }
}

/// The run's measurements, the same on every rank.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// Ranks.
    pub ranks: usize,
    /// Grid size `N`.
    pub size: usize,
    /// Steps run.
    pub steps: usize,
    /// The balancer's algorithm, if balancing.
    pub algorithm: Option<&'static str>,
    /// Steps without balancing (probes, or every step without a balancer).
    pub without: Option<PhaseStats>,
    /// Balanced steps.
    pub with: Option<PhaseStats>,
    /// Mean step time over all steps (slowest rank), s.
    pub time_per_step: f64,
}

impl Summary {
    /// Step time without balancing over step time with balancing.
    pub fn speedup(&self) -> Option<f64> {
        match (self.without, self.with) {
            (Some(a), Some(b)) if b.time_per_step > 0.0 => Some(a.time_per_step / b.time_per_step),
            _ => None,
        }
    }

    /// The summary as a markdown table (one row per kind of step) and lines
    /// with the speed-up and the chemistry's share of the step.
    pub fn table(&self) -> String {
        let mut s = String::from(
            "| chemistry | ranks | steps | time/step (ms) | chemistry/step (ms) | imbalance before | imbalance after | work imbalance before | work imbalance after | cells lent/step | cells taken dynamically/step | balancer's own time |\n\
             |---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n",
        );
        let mut row = |name: String, p: &PhaseStats| {
            s += &format!(
                "| {name} | {} | {} | {:.2} | {:.2} | {:.3} | {:.3} | {:.3} | {:.3} | {:.0} | {:.0} | {:.2} % |\n",
                self.ranks,
                p.steps,
                p.time_per_step * 1e3,
                p.chemistry_per_step * 1e3,
                p.imbalance_before,
                p.imbalance_after,
                p.work_imbalance_before,
                p.work_imbalance_after,
                p.cells_lent,
                p.cells_taken,
                100.0 * p.balancer_share()
            );
        };
        if let Some(p) = &self.without {
            row("without balancing".into(), p);
        }
        if let Some(p) = &self.with {
            row(format!("balanced ({})", self.algorithm.unwrap_or("?")), p);
        }
        if let Some(x) = self.speedup() {
            s += &format!("\nstep time without / with balancing: {x:.2}x\n");
        }
        if let Some(p) = self.without.or(self.with) {
            s += &format!(
                "chemistry: {:.0} % of the step time without balancing\n",
                100.0 * p.chemistry_share()
            );
        }
        s
    }
}

/// Averages the step records over ranks and steps. **Collective**; every
/// rank gets the same summary. Step 0 is left out of the unbalanced average
/// when there are other unbalanced steps (warm-up).
pub fn summarize(
    comm: &SimpleCommunicator,
    records: &[StepRecord],
    size: usize,
    algorithm: Option<&'static str>,
) -> Summary {
    let p = comm.size() as usize;
    let steps = records.len();
    // Per step: maxima of (wall, busy, own_load, work, own_work, iterate,
    // planning), sums of (busy, own_load, lent, work, own_work, taken).
    const M: usize = 7;
    const S: usize = 6;
    let mut maxes = Vec::with_capacity(M * steps);
    let mut sums = Vec::with_capacity(S * steps);
    for r in records {
        let (w, ow) = (r.work as f64, r.own_work as f64);
        maxes.extend_from_slice(&[r.wall, r.busy, r.own_load, w, ow, r.iterate, r.planning]);
        sums.extend_from_slice(&[r.busy, r.own_load, r.lent as f64, w, ow, r.taken as f64]);
    }
    let mut gmax = vec![0.0; maxes.len()];
    let mut gsum = vec![0.0; sums.len()];
    comm.all_reduce_into(&maxes[..], &mut gmax[..], SystemOperation::max());
    comm.all_reduce_into(&sums[..], &mut gsum[..], SystemOperation::sum());
    let ratio = |max: f64, sum: f64| {
        if sum > 0.0 {
            max / (sum / p as f64)
        } else {
            1.0
        }
    };
    let probes = records.iter().filter(|r| !r.balanced).count();
    let phase = |balanced: bool| -> Option<PhaseStats> {
        let mut acc = PhaseStats::default();
        for (k, r) in records.iter().enumerate() {
            if r.balanced != balanced || (!balanced && k == 0 && probes > 1) {
                continue;
            }
            let (m, s) = (&gmax[M * k..M * (k + 1)], &gsum[S * k..S * (k + 1)]);
            acc.steps += 1;
            acc.time_per_step += m[0];
            acc.chemistry_per_step += m[1];
            acc.imbalance_after += ratio(m[1], s[0]);
            acc.imbalance_before += ratio(m[2], s[1]);
            acc.cells_lent += s[2];
            acc.cells_taken += s[5];
            acc.work += s[3];
            acc.work_imbalance_after += ratio(m[3], s[3]);
            acc.work_imbalance_before += ratio(m[4], s[4]);
            acc.balancer_per_step += (m[5] - m[1]).max(0.0) + m[6];
        }
        if acc.steps == 0 {
            return None;
        }
        let k = acc.steps as f64;
        for v in [
            &mut acc.time_per_step,
            &mut acc.chemistry_per_step,
            &mut acc.imbalance_after,
            &mut acc.imbalance_before,
            &mut acc.cells_lent,
            &mut acc.cells_taken,
            &mut acc.work,
            &mut acc.work_imbalance_after,
            &mut acc.work_imbalance_before,
            &mut acc.balancer_per_step,
        ] {
            *v /= k;
        }
        Some(acc)
    };
    let total: f64 = (0..steps).map(|k| gmax[M * k]).sum();
    Summary {
        ranks: p,
        size,
        steps,
        algorithm,
        without: phase(false),
        with: phase(true),
        time_per_step: if steps > 0 { total / steps as f64 } else { 0.0 },
    }
}
