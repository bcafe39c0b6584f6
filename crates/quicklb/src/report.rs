//! [`Report`]: what the balancer decided and measured, on every rank.

use std::fmt;
use std::io::Write;

use bytemuck::Pod;
use mpi::datatype::PartitionMut;
use mpi::topology::Communicator;
use mpi::traits::{CommunicatorCollectives, Root};

use crate::balancer::LoadBalancer;
use crate::error::{Error, Result};

/// Numbers per rank in the report's allgather.
const ROW: usize = 14;

/// One rank's line of a [`Report`].
#[derive(Debug, Clone, PartialEq)]
pub struct RankReport {
    /// The rank.
    pub rank: usize,
    /// Its node (as the planners see it).
    pub node: usize,
    /// Number of cells it owns.
    pub cells: usize,
    /// Its own load at the last `partition()` (sum of its cell weights).
    pub load_before: f64,
    /// Its load in the plan: own load minus lent plus borrowed weight.
    pub load_planned: f64,
    /// Measured compute time of the last `iterate()` (own and borrowed cells).
    pub busy: f64,
    /// Cells it lends in the plan in use.
    pub cells_lent: usize,
    /// Bytes of cell state it sends per step (each way, plus 8 bytes of cost
    /// per cell on the way back).
    pub bytes_lent: usize,
    /// Other ranks' cells it computes in the plan in use.
    pub cells_borrowed: usize,
    /// Helpers it lends to.
    pub helpers: usize,
    /// Wall time of its last `partition()` (seconds).
    pub planning: f64,
    /// Time it waited for messages in the last `iterate()` (seconds).
    pub waiting: f64,
    /// Total planning time over all `partition()` calls (seconds).
    pub planning_total: f64,
    /// Total waiting time over all `iterate()` calls (seconds).
    pub waiting_total: f64,
}

/// One cell's line of a [`Report`] (only when asked for).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CellReport {
    /// Owning rank.
    pub owner: usize,
    /// Index on the owner.
    pub cell: usize,
    /// Current weight (last measured cost, seconds).
    pub weight: f64,
    /// The rank that computes it in the plan in use.
    pub computed_by: usize,
}

/// The balancer's state on all ranks: loads before and after balancing, the
/// lower bound, what is lent, and where the time went.
///
/// Built collectively by [`LoadBalancer::report`]; every rank gets the same
/// report. `Display` writes it as text in the spirit of QUICKLB's
/// `loadbalance.info`.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Name of the algorithm.
    pub algorithm: &'static str,
    /// Number of `iterate()` calls so far (rank 0's count).
    pub steps: u64,
    /// Number of `partition()` calls so far (rank 0's count).
    pub partitions: u64,
    /// One line per rank.
    pub ranks: Vec<RankReport>,
    /// Total weight `W` of the last `partition()`.
    pub total: f64,
    /// Heaviest cell weight `w_max` the plan in use was made with (the current
    /// weights before any `partition()`).
    pub w_max: f64,
    /// `max load / average` before balancing.
    pub imbalance_before: f64,
    /// `max load / average` in the plan.
    pub imbalance_planned: f64,
    /// `max busy / average busy` measured by the last `iterate()` (1 if nothing
    /// was measured).
    pub imbalance_measured: f64,
    /// The lower bound `max(w_max, W / p)` on the maximum load.
    pub lower_bound: f64,
    /// `imbalance_planned - lower_bound / average`: the planner's gap to the
    /// bound (0 is optimal).
    pub gap: f64,
    /// Every cell, when asked for ([`LoadBalancer::report_cells`]).
    pub cells: Option<Vec<CellReport>>,
}

fn imbalance(values: impl Iterator<Item = f64> + Clone) -> f64 {
    let n = values.clone().count();
    let mut sum = 0.0;
    let mut max = 0.0f64;
    for v in values {
        sum += v;
        max = max.max(v);
    }
    if n == 0 || sum <= 0.0 {
        1.0
    } else {
        max / (sum / n as f64)
    }
}

impl Report {
    /// Builds the summary from per-rank lines.
    pub fn from_ranks(
        algorithm: &'static str,
        ranks: Vec<RankReport>,
        w_max: f64,
        steps: u64,
        partitions: u64,
    ) -> Self {
        let p = ranks.len().max(1) as f64;
        let mut total = 0.0;
        for r in &ranks {
            total += r.load_before;
        }
        let average = total / p;
        let lower_bound = average.max(w_max);
        let imbalance_before = imbalance(ranks.iter().map(|r| r.load_before));
        let imbalance_planned = imbalance(ranks.iter().map(|r| r.load_planned));
        let imbalance_measured = imbalance(ranks.iter().map(|r| r.busy));
        let lb_imbalance = if average > 0.0 {
            lower_bound / average
        } else {
            1.0
        };
        Report {
            algorithm,
            steps,
            partitions,
            ranks,
            total,
            w_max,
            imbalance_before,
            imbalance_planned,
            imbalance_measured,
            lower_bound,
            gap: imbalance_planned - lb_imbalance,
            cells: None,
        }
    }

    /// Average load `W / p`.
    pub fn average(&self) -> f64 {
        self.total / self.ranks.len().max(1) as f64
    }

    /// Total number of lent cells.
    pub fn cells_lent(&self) -> usize {
        self.ranks.iter().map(|r| r.cells_lent).sum()
    }

    /// Total bytes of cell state lent per step.
    pub fn bytes_lent(&self) -> usize {
        self.ranks.iter().map(|r| r.bytes_lent).sum()
    }

    /// Emits the report as `tracing` events: one summary at `info`, one event
    /// per rank at `debug`.
    pub fn trace(&self) {
        tracing::info!(
            algorithm = self.algorithm,
            ranks = self.ranks.len(),
            imbalance_before = self.imbalance_before,
            imbalance_planned = self.imbalance_planned,
            imbalance_measured = self.imbalance_measured,
            lower_bound = self.lower_bound,
            gap = self.gap,
            cells_lent = self.cells_lent(),
            bytes_lent = self.bytes_lent(),
            "quicklb report"
        );
        for r in &self.ranks {
            tracing::debug!(
                rank = r.rank,
                node = r.node,
                cells = r.cells,
                load_before = r.load_before,
                load_planned = r.load_planned,
                busy = r.busy,
                cells_lent = r.cells_lent,
                cells_borrowed = r.cells_borrowed,
                planning = r.planning,
                waiting = r.waiting,
                "quicklb rank"
            );
        }
    }
}

/// A number with 4 decimals, never `-0.0000` (a gap of `-1e-17` is rounding).
struct Fixed4(f64);

impl fmt::Display for Fixed4 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let x = self.0;
        let x = if x.abs() < 5e-5 { 0.0 } else { x };
        write!(f, "{x:.4}")
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "# quicklb load balance info")?;
        writeln!(f, "algorithm            {}", self.algorithm)?;
        writeln!(f, "ranks                {}", self.ranks.len())?;
        writeln!(f, "partitions           {}", self.partitions)?;
        writeln!(f, "iterations           {}", self.steps)?;
        writeln!(f, "total weight         {:.6e}", self.total)?;
        writeln!(f, "average load         {:.6e}", self.average())?;
        writeln!(f, "max cell weight      {:.6e}", self.w_max)?;
        writeln!(
            f,
            "lower bound          {:.6e}  (max(w_max, W/p))",
            self.lower_bound
        )?;
        writeln!(f, "imbalance before     {}", Fixed4(self.imbalance_before))?;
        writeln!(f, "imbalance planned    {}", Fixed4(self.imbalance_planned))?;
        writeln!(
            f,
            "imbalance measured   {}",
            Fixed4(self.imbalance_measured)
        )?;
        writeln!(f, "gap to lower bound   {}", Fixed4(self.gap))?;
        writeln!(f, "cells lent           {}", self.cells_lent())?;
        writeln!(f, "bytes lent           {}", self.bytes_lent())?;
        writeln!(f)?;
        writeln!(
            f,
            "{:>5} {:>4} {:>8} {:>12} {:>12} {:>12} {:>6} {:>8} {:>8} {:>7} {:>10} {:>10}",
            "rank",
            "node",
            "cells",
            "load_before",
            "load_plan",
            "busy",
            "lent",
            "bytes",
            "borrowed",
            "helpers",
            "plan_s",
            "wait_s"
        )?;
        for r in &self.ranks {
            writeln!(
                f,
                "{:>5} {:>4} {:>8} {:>12.5e} {:>12.5e} {:>12.5e} {:>6} {:>8} {:>8} {:>7} {:>10.3e} {:>10.3e}",
                r.rank,
                r.node,
                r.cells,
                r.load_before,
                r.load_planned,
                r.busy,
                r.cells_lent,
                r.bytes_lent,
                r.cells_borrowed,
                r.helpers,
                r.planning,
                r.waiting
            )?;
        }
        if let Some(cells) = &self.cells {
            writeln!(f)?;
            writeln!(
                f,
                "{:>5} {:>8} {:>12} {:>11}",
                "owner", "cell", "weight", "computed_by"
            )?;
            for c in cells {
                writeln!(
                    f,
                    "{:>5} {:>8} {:>12.5e} {:>11}",
                    c.owner, c.cell, c.weight, c.computed_by
                )?;
            }
        }
        Ok(())
    }
}

impl<T: Pod> LoadBalancer<T> {
    /// Gathers the [`Report`] of all ranks (without per-cell lines) and emits
    /// it as `tracing` events. **Collective**; every rank gets the same report.
    ///
    /// # Errors
    /// On every rank: the error an earlier `iterate()` left on some rank
    /// ([`Error::CellCount`], [`Error::ComputePanicked`]).
    pub fn report(&self) -> Result<Report> {
        self.gather_report(false)
    }

    /// Like [`report`](Self::report), with one line per cell of every rank
    /// (gathers all weights: for diagnostics, not for every step).
    pub fn report_cells(&self) -> Result<Report> {
        self.gather_report(true)
    }

    /// Writes the report as text to `path` (rank 0 writes; like QUICKLB's
    /// `loadbalance.info`), with every cell if `cells`. **Collective**.
    ///
    /// # Errors
    /// [`Error::Io`] on every rank if rank 0 could not write the file.
    pub fn write_info(&self, path: impl AsRef<std::path::Path>, cells: bool) -> Result<Report> {
        let report = self.gather_report(cells)?;
        let comm = self.comm();
        let mut status = 0u8;
        let mut message = String::new();
        if self.rank() == 0 {
            let written = std::fs::File::create(path.as_ref())
                .and_then(|mut f| f.write_all(report.to_string().as_bytes()));
            if let Err(e) = written {
                status = 1;
                message = format!("{}: {e}", path.as_ref().display());
            }
        }
        comm.process_at_rank(0).broadcast_into(&mut status);
        if status != 0 {
            return Err(Error::Io(if message.is_empty() {
                format!("rank 0 failed to write {}", path.as_ref().display())
            } else {
                message
            }));
        }
        Ok(report)
    }

    fn gather_report(&self, with_cells: bool) -> Result<Report> {
        let _armed = crate::watchdog::arm(self.watchdog(), "report()", self.totals().steps);
        self.settle()?;
        let comm = self.comm();
        let p = self.size();
        let s = self.plan_stats();
        let step = self.last_step();
        let totals = self.totals();
        let current = quicklb_partition::rank_load(self.weights());
        // The bound of the plan in use: its weights' heaviest cell.
        let w_max = if s.partitioned {
            s.w_max
        } else {
            self.weights().iter().fold(0.0f64, |m, &w| m.max(w))
        };
        let mine: [f64; ROW] = [
            self.nodes()[self.rank()] as f64,
            self.num_cells() as f64,
            if s.partitioned {
                s.load_before
            } else {
                current
            },
            if s.partitioned {
                s.load_planned
            } else {
                current
            },
            step.busy(),
            s.cells_lent as f64,
            s.bytes_lent as f64,
            s.cells_borrowed as f64,
            s.pairs_out as f64,
            s.seconds,
            step.wait,
            totals.planning,
            totals.wait,
            w_max,
        ];
        let mut all = vec![0.0f64; ROW * p];
        comm.all_gather_into(&mine[..], &mut all[..]);
        let mut global_w_max = 0.0f64;
        let ranks: Vec<RankReport> = (0..p)
            .map(|r| {
                let x = &all[ROW * r..ROW * (r + 1)];
                global_w_max = global_w_max.max(x[13]);
                RankReport {
                    rank: r,
                    node: x[0] as usize,
                    cells: x[1] as usize,
                    load_before: x[2],
                    load_planned: x[3],
                    busy: x[4],
                    cells_lent: x[5] as usize,
                    bytes_lent: x[6] as usize,
                    cells_borrowed: x[7] as usize,
                    helpers: x[8] as usize,
                    planning: x[9],
                    waiting: x[10],
                    planning_total: x[11],
                    waiting_total: x[12],
                }
            })
            .collect();
        let mut report = Report::from_ranks(
            self.algorithm().name(),
            ranks,
            global_w_max,
            totals.steps,
            totals.partitions,
        );
        if with_cells {
            let cells: Vec<u64> = report.ranks.iter().map(|r| r.cells as u64).collect();
            let (counts, displs) = crate::plan::gather_layout(&cells)?;
            let total = cells.iter().sum::<u64>() as usize;
            let mine_w: Vec<f64> = self.weights().to_vec();
            let mine_by: Vec<u64> = (0..self.num_cells())
                .map(|i| self.computed_by(i) as u64)
                .collect();
            let mut all_w = vec![0.0f64; total];
            let mut all_by = vec![0u64; total];
            comm.all_gather_varcount_into(
                &mine_w[..],
                &mut PartitionMut::new(&mut all_w[..], &counts[..], &displs[..]),
            );
            comm.all_gather_varcount_into(
                &mine_by[..],
                &mut PartitionMut::new(&mut all_by[..], &counts[..], &displs[..]),
            );
            let mut cells = Vec::with_capacity(total);
            for (r, (&c, &d)) in counts.iter().zip(&displs).enumerate() {
                for i in 0..c as usize {
                    cells.push(CellReport {
                        owner: r,
                        cell: i,
                        weight: all_w[d as usize + i],
                        computed_by: all_by[d as usize + i] as usize,
                    });
                }
            }
            report.cells = Some(cells);
        }
        report.trace();
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rank(r: usize, before: f64, planned: f64, busy: f64) -> RankReport {
        RankReport {
            rank: r,
            node: 0,
            cells: 4,
            load_before: before,
            load_planned: planned,
            busy,
            cells_lent: if before > planned { 2 } else { 0 },
            bytes_lent: if before > planned { 32 } else { 0 },
            cells_borrowed: 0,
            helpers: 0,
            planning: 1e-4,
            waiting: 2e-4,
            planning_total: 1e-3,
            waiting_total: 2e-3,
        }
    }

    #[test]
    fn summary_numbers() {
        let r = Report::from_ranks(
            "Transfer",
            vec![rank(0, 6.0, 3.0, 3.1), rank(1, 0.0, 3.0, 2.9)],
            1.0,
            5,
            5,
        );
        assert_eq!(r.total, 6.0);
        assert_eq!(r.average(), 3.0);
        assert_eq!(r.lower_bound, 3.0);
        assert_eq!(r.imbalance_before, 2.0);
        assert_eq!(r.imbalance_planned, 1.0);
        assert!((r.imbalance_measured - 3.1 / 3.0).abs() < 1e-12);
        assert_eq!(r.gap, 0.0);
        assert_eq!(r.cells_lent(), 2);
        assert_eq!(r.bytes_lent(), 32);
        let text = r.to_string();
        assert!(text.contains("imbalance before     2.0000"));
        assert!(text.lines().count() > 16);
    }

    #[test]
    fn heavy_cell_bounds_the_gap() {
        // one cell of 4 among 6 total on 3 ranks: the bound is w_max = 4
        let r = Report::from_ranks(
            "Sort",
            vec![
                rank(0, 5.0, 4.0, 0.0),
                rank(1, 1.0, 1.0, 0.0),
                rank(2, 0.0, 1.0, 0.0),
            ],
            4.0,
            0,
            1,
        );
        assert_eq!(r.lower_bound, 4.0);
        assert!((r.gap - 0.0).abs() < 1e-12);
        assert_eq!(r.imbalance_measured, 1.0);
    }

    #[test]
    fn no_negative_zero() {
        let mut r = Report::from_ranks("Off", vec![rank(0, 1.0, 1.0, 1.0)], 1.0, 1, 0);
        r.gap = -1e-17;
        let text = r.to_string();
        assert!(!text.contains("-0.0000"), "{text}");
        assert!(text.contains("gap to lower bound   0.0000"), "{text}");
        assert_eq!(Fixed4(-0.25).to_string(), "-0.2500");
    }

    #[test]
    fn cells_are_listed() {
        let mut r = Report::from_ranks("Off", vec![rank(0, 1.0, 1.0, 1.0)], 1.0, 1, 0);
        r.cells = Some(vec![CellReport {
            owner: 0,
            cell: 0,
            weight: 1.0,
            computed_by: 0,
        }]);
        assert!(r.to_string().contains("computed_by"));
    }
}
