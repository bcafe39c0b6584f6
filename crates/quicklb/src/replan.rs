//! Re-planning from inside `iterate()` ([`Builder::replan`](crate::Builder::replan)):
//! the figures of each step agreed by one small non-blocking reduction
//! (started at the end of a step, completed at the start of the next), the
//! policy of [`quicklb_partition::ReplanPolicy`] fed with them, and what it
//! decided ([`ReplanStats`]).

use std::fmt;

use bytemuck::Pod;
use mpi::collective::SystemOperation;
use mpi::topology::{Communicator, SimpleCommunicator};
use quicklb_partition::{Decision, Replan, ReplanPolicy, ReplanReason, StepFigures};
use quicklb_transport::Reduction;

use crate::balancer::LoadBalancer;
use crate::error::Result;
use crate::watchdog::arm;

/// One decision of the re-planning policy, taken before a step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReplanRecord {
    /// The step it was taken before (the number of `iterate()` calls before).
    pub step: u64,
    /// The agreed figures of the last step it was taken from (`None`: none
    /// yet, or a `partition()` of the caller made them stale).
    pub figures: Option<StepFigures>,
    /// What it decided, and why.
    pub decision: Decision,
}

/// What the re-planning policy did so far: [`LoadBalancer::replan_stats`].
/// The same on every rank.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReplanStats {
    /// The mode ([`Builder::replan`](crate::Builder::replan)).
    pub mode: Replan,
    /// Plans `iterate()` made itself because the measured imbalance paid for
    /// one ([`Replan::Auto`]).
    pub for_imbalance: u64,
    /// Plans `iterate()` made itself because the period was up
    /// ([`Replan::Every`]).
    pub for_period: u64,
    /// Plans the caller asked for with `partition()`.
    pub by_caller: u64,
    /// The last decision (`None` in [`Replan::Manual`] mode, or before the
    /// first step).
    pub last: Option<ReplanRecord>,
}

impl ReplanStats {
    /// Plans `iterate()` made itself.
    pub fn automatic(&self) -> u64 {
        self.for_imbalance + self.for_period
    }
}

impl fmt::Display for ReplanStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "re-planning {}: {} plans by iterate() ({} for imbalance, {} for the period), {} by partition()",
            self.mode.name(),
            self.automatic(),
            self.for_imbalance,
            self.for_period,
            self.by_caller
        )?;
        if let Some(last) = &self.last {
            write!(f, "; before step {}: {}", last.step, last.decision)?;
        }
        Ok(())
    }
}

/// Nanoseconds, for exact reductions (integer maxima and sums are the same on
/// every rank whatever the reduction order).
fn nanos(seconds: f64) -> u64 {
    (seconds.max(0.0) * 1e9).round() as u64
}

/// The two reductions of [`Replan::Auto`]: maxima (busy time, heaviest cell,
/// plan cost) and the sum of busy times.
#[derive(Debug)]
struct Agreement {
    max: Reduction<u64>,
    sum: Reduction<u64>,
    ranks: usize,
}

/// The policy of a balancer and what it needs between steps.
#[derive(Debug)]
pub(crate) struct Replanner {
    policy: ReplanPolicy,
    agreement: Option<Agreement>,
    /// A plan of the caller since the figures in flight were measured.
    stale: bool,
    stats: ReplanStats,
}

impl Replanner {
    /// **Collective** in [`Replan::Auto`] mode (the reductions duplicate the
    /// communicator); the mode must be agreed already.
    pub(crate) fn new(comm: &SimpleCommunicator, mode: Replan) -> Result<Self> {
        let agreement = match mode {
            Replan::Auto(_) => Some(Agreement {
                max: Reduction::new(comm, 3, SystemOperation::max())?,
                sum: Reduction::new(comm, 1, SystemOperation::sum())?,
                ranks: comm.size() as usize,
            }),
            _ => None,
        };
        Ok(Replanner {
            policy: ReplanPolicy::new(mode),
            agreement,
            stale: false,
            stats: ReplanStats {
                mode,
                ..ReplanStats::default()
            },
        })
    }

    /// The caller planned (`partition()`).
    pub(crate) fn caller_planned(&mut self) {
        self.policy.planned();
        self.stale = true;
        self.stats.by_caller += 1;
    }

    /// Completes the reduction of the last step's figures, if one runs.
    fn figures(&mut self) -> quicklb_transport::Result<Option<StepFigures>> {
        let Some(a) = self.agreement.as_mut() else {
            return Ok(None);
        };
        if !a.max.in_flight() {
            return Ok(None);
        }
        let max = a.max.wait()?;
        let (max_busy, max_cell, plan_cost) = (max[0], max[1], max[2]);
        let sum = a.sum.wait()?[0];
        let figures = StepFigures {
            max_busy: max_busy as f64 * 1e-9,
            mean_busy: sum as f64 * 1e-9 / a.ranks as f64,
            max_cell: max_cell as f64 * 1e-9,
            plan_cost: plan_cost as f64 * 1e-9,
        };
        Ok((!std::mem::take(&mut self.stale)).then_some(figures))
    }

    /// After a step on this rank: starts agreeing on its figures.
    fn agree_step(
        &mut self,
        busy: f64,
        max_cell: f64,
        plan_cost: f64,
    ) -> quicklb_transport::Result<()> {
        self.policy.stepped();
        self.stale = false;
        if let Some(a) = self.agreement.as_mut() {
            a.max
                .start(&[nanos(busy), nanos(max_cell), nanos(plan_cost)])?;
            a.sum.start(&[nanos(busy)])?;
        }
        Ok(())
    }
}

impl<T: Pod> LoadBalancer<T> {
    /// What the re-planning policy ([`Builder::replan`](crate::Builder::replan))
    /// did so far: how many plans `iterate()` made and why, how many the
    /// caller asked for, and the last decision. Local; the same on every rank.
    pub fn replan_stats(&self) -> &ReplanStats {
        &self.replanner().stats
    }

    /// Before a step: the policy decides from the agreed figures of the last
    /// step, and plans if it says so. **Collective** in the modes other than
    /// `Manual` (every rank takes the same decision from the same figures).
    pub(crate) fn replan_before_step(&mut self) -> Result<()> {
        if self.replanner().policy.mode() == Replan::Manual {
            return Ok(());
        }
        let step = self.totals().steps;
        let (r, watchdog) = self.replan_parts();
        let armed = arm(watchdog, "iterate() (agreeing on the last step)", step);
        let figures = r.figures();
        drop(armed);
        let figures = match figures {
            Ok(f) => f,
            Err(e) => self.abort_step(&format!("the agreement on the step figures failed: {e}")),
        };
        let r = self.replanner_mut();
        let decision = r.policy.decide(figures.as_ref());
        r.stats.last = Some(ReplanRecord {
            step,
            figures,
            decision,
        });
        match decision {
            Decision::Keep(_) => {
                tracing::trace!(step, %decision, "quicklb replan");
                Ok(())
            }
            Decision::Replan(reason) => {
                match reason {
                    ReplanReason::Imbalance { .. } => r.stats.for_imbalance += 1,
                    ReplanReason::Period { .. } => r.stats.for_period += 1,
                }
                tracing::debug!(step, %decision, "quicklb replan");
                self.plan_now()
            }
        }
    }

    /// After a step (on every path that ran its messages): hands the step's
    /// figures to the policy.
    pub(crate) fn replan_after_step(&mut self, busy: f64) {
        let r = self.replanner_mut();
        if r.policy.mode() == Replan::Manual {
            return;
        }
        if r.agreement.is_none() {
            r.policy.stepped();
            return;
        }
        let max_cell = self.weights().iter().fold(0.0f64, |m, &w| m.max(w));
        let plan_cost = self.last_planning_time();
        if let Err(e) = self.replanner_mut().agree_step(busy, max_cell, plan_cost) {
            self.abort_step(&format!("the agreement on the step figures failed: {e}"));
        }
    }

    /// An MPI failure other ranks cannot learn about: abort the job (they would
    /// wait for ever).
    fn abort_step(&self, what: &str) -> ! {
        eprintln!(
            "quicklb: rank {}: {what}; aborting the job (the other ranks would wait for ever)",
            self.rank()
        );
        self.comm().abort(70)
    }
}
