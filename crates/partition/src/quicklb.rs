//! QUICKLB's planners: [`Greedy`], [`Sort`] and [`Sort2`].
//!
//! They reproduce the algorithms of QUICKLB's `lb_partition.f` as a pure
//! simulation of what its ranks exchange, so a QUICKLB user can switch and
//! compare. Common to all three:
//!
//! * `avg = W / p`. Each rank's *load imbalance* is `li = (load - avg) / avg`
//!   (relative, so `max_abs_li = 0.05` means 5 % above average).
//! * **Keep rule.** A rank keeps its first cells, in index order, up to and
//!   including the cell at which the running sum first exceeds `avg`; the
//!   remaining cells are its export candidates, offered in index order.
//! * **Accept rule.** A receiver whose running load (its kept cells plus the
//!   imports so far) is below `avg` accepts offered cells in order, up to and
//!   including the one that takes it above `avg`; otherwise it accepts none.
//!   Candidates nobody accepted stay home.
//! * Pairing decisions are taken on *projected* imbalances (each round
//!   assumes the paired surplus and deficit cancel exactly), as QUICKLB does,
//!   not on the loads actually reached with whole cells.
//!
//! # Stop rule: QUICKLB's and ours
//!
//! QUICKLB projects a round's imbalances and tests its stop rule on the
//! projection *before* it carries out that round's transfer. With a
//! threshold above 0 it therefore skips the last useful round: with 2 ranks
//! the very first projection is balanced, so SORT exits and moves nothing.
//! [`StopRule::AfterRound`] (the default here) carries out the round first
//! and stops after the round that reached the threshold; it also does nothing
//! when the imbalance is already below `max_abs_li` before the first round.
//! [`StopRule::Quicklb`] reproduces QUICKLB exactly.
//!
//! Other deliberate differences: sums are `f64`, not `f32`; ties in the sort
//! are broken by rank; when all weights are 0 the plan is empty (QUICKLB
//! divides by 0); SORT2's second phase starts from each rank's actual load
//! after the node phase (QUICKLB sums the first `n - sent` cells, which is
//! the same count of cells but not the same cells).

use crate::local::{plan_rank_from_whole, DistributedPlanner, LocalInput, LocalPlan};
use crate::model::{rank_load, Export, Plan, Planner, Problem, Weights};
use crate::Error;
use std::cmp::Ordering;

/// When a QUICKLB planner tests its stop rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StopRule {
    /// Carry out the round, then stop if the threshold is reached (ours).
    #[default]
    AfterRound,
    /// Test the projected round first and stop *without* carrying it out
    /// (QUICKLB's behaviour; skips the last useful round).
    Quicklb,
}

/// QUICKLB's GREEDY: surplus cells travel around a ring.
///
/// In round `x = 1, 2, ...` every rank offers all its remaining export
/// candidates to rank `(r + x) mod p`, which accepts them by the accept rule
/// (see the [module docs](crate::quicklb)). At most `min(max_it, p - 1)`
/// rounds; stop when the largest projected imbalance is below `max_abs_li`
/// (GREEDY has no relative rule).
///
/// Needs all cell weights of all ranks (QUICKLB ships them around the ring).
///
/// ```
/// use quicklb_partition::{Greedy, Metrics, Planner, Problem, Weights};
/// let w = Weights::from_ranks([vec![1.0; 6], vec![1.0; 2], vec![1.0; 1]]).unwrap();
/// let plan = Greedy::default().plan(&Problem::new(w.clone())).unwrap();
/// // rank 0 keeps its cells up to and including the one crossing avg = 3
/// assert_eq!(plan.exports(0).len(), 2);
/// assert!(Metrics::compute(&w, &plan).unwrap().imbalance < 2.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Greedy {
    /// Maximum number of ring rounds (QUICKLB default 512).
    pub max_it: usize,
    /// Stop when the largest projected relative imbalance is below this.
    pub max_abs_li: f64,
    /// When the stop rule is tested.
    pub stop: StopRule,
}

impl Default for Greedy {
    fn default() -> Self {
        Greedy {
            max_it: 512,
            max_abs_li: 0.0,
            stop: StopRule::AfterRound,
        }
    }
}

/// QUICKLB's SORT: pair the most overloaded rank with the most underloaded.
///
/// Each round sorts the ranks by projected imbalance and pairs the first with
/// the last, the second with the second to last, and so on; each pair with
/// opposite signs transfers cells (offer in order, accept rule). Up to
/// `max_it` rounds; stop when the largest projected imbalance is below
/// `max_abs_li`, or when it improved by a fraction less than `max_rel_li`
/// (`1 - max/prev_max < max_rel_li`). See the [module docs](crate::quicklb)
/// for when the rule is tested.
///
/// Needs all cell weights of all ranks (QUICKLB sends them to the partner).
///
/// ```
/// use quicklb_partition::{Planner, Problem, Sort, StopRule, Weights};
/// let p = Problem::new(Weights::from_ranks([vec![1.0; 10], vec![]]).unwrap());
/// let ours = Sort { max_abs_li: 0.1, ..Sort::default() };
/// let quicklb = Sort { stop: StopRule::Quicklb, ..ours };
/// assert!(ours.plan(&p).unwrap().num_exported() > 0);
/// // QUICKLB's rule stops before its only useful round with 2 ranks
/// assert_eq!(quicklb.plan(&p).unwrap().num_exported(), 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sort {
    /// Maximum number of rounds (QUICKLB default 512).
    pub max_it: usize,
    /// Stop when the largest projected relative imbalance is below this.
    pub max_abs_li: f64,
    /// Stop when a round improves the largest imbalance by less than this
    /// fraction.
    pub max_rel_li: f64,
    /// When the stop rule is tested.
    pub stop: StopRule,
}

impl Default for Sort {
    fn default() -> Self {
        Sort {
            max_it: 512,
            max_abs_li: 0.0,
            max_rel_li: 0.0,
            stop: StopRule::AfterRound,
        }
    }
}

/// QUICKLB's SORT2: [`Sort`] inside each shared-memory node, then [`Sort`]
/// across all ranks with what is left.
///
/// Without a node map all ranks count as one node (QUICKLB on one machine),
/// so the first phase is a full [`Sort`].
///
/// Needs all cell weights of all ranks and the node map.
///
/// ```
/// use quicklb_partition::{NodeMap, Planner, Problem, Sort2, Weights};
/// let w = Weights::from_ranks([vec![1.0; 8], vec![], vec![1.0; 4], vec![1.0; 4]]).unwrap();
/// let p = Problem::new(w).with_nodes(NodeMap::blocks(4, 2)).unwrap();
/// let plan = Sort2::default().plan(&p).unwrap();
/// assert!(plan.exports(0).iter().all(|e| e.helper == 1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Sort2 {
    /// Parameters of both SORT phases.
    pub sort: Sort,
}

fn check_param(name: &'static str, value: f64) -> Result<(), Error> {
    if !value.is_finite() || value < 0.0 {
        return Err(Error::InvalidParameter {
            name,
            value,
            reason: "must be finite and >= 0",
        });
    }
    Ok(())
}

fn check_rounds(max_it: usize) -> Result<(), Error> {
    if max_it == 0 {
        return Err(Error::InvalidParameter {
            name: "max_it",
            value: 0.0,
            reason: "must be at least 1 (a planner with no round never lends)",
        });
    }
    Ok(())
}

impl Greedy {
    fn check(&self) -> Result<(), Error> {
        check_rounds(self.max_it)?;
        check_param("max_abs_li", self.max_abs_li)
    }
}

/// QUICKLB's planners need every cell weight: each rank plans the whole
/// problem (as QUICKLB's ranks do between their exchanges) and keeps its part.
macro_rules! distributed_from_whole {
    ($t:ty, $check:expr) => {
        impl DistributedPlanner for $t {
            fn check(&self) -> Result<(), Error> {
                $check(self)
            }

            fn needs_all_weights(&self) -> bool {
                true
            }

            fn plan_rank(&self, input: &LocalInput<'_>) -> Result<LocalPlan, Error> {
                plan_rank_from_whole(self, input)
            }

            fn name(&self) -> &'static str {
                Planner::name(self)
            }
        }
    };
}

distributed_from_whole!(Greedy, Greedy::check);
distributed_from_whole!(Sort, Sort::check);
distributed_from_whole!(Sort2, |s: &Sort2| s.sort.check());

fn max_of(li: &[f64]) -> f64 {
    li.iter()
        .fold(f64::NEG_INFINITY, |m, &x| if x > m { x } else { m })
}

/// Simulated state of QUICKLB's ranks.
struct Sim<'a> {
    weights: &'a Weights,
    avg: f64,
    /// Number of kept cells (prefix) per rank.
    kept: Vec<usize>,
    /// Number of candidates already sent per rank.
    sent: Vec<usize>,
    /// QUICKLB's `cum_time`: kept prefix plus accepted imports.
    cum: Vec<f64>,
    /// Weight imported per rank.
    imported: Vec<f64>,
    exports: Vec<Vec<Export>>,
    /// Initial relative imbalance per rank.
    li0: Vec<f64>,
}

impl<'a> Sim<'a> {
    /// `None` when the total weight is 0 (nothing to balance).
    fn new(weights: &'a Weights) -> Option<Self> {
        let p = weights.num_ranks();
        let avg = weights.total() / p as f64;
        if avg <= 0.0 {
            return None;
        }
        let mut kept = Vec::with_capacity(p);
        let mut cum = Vec::with_capacity(p);
        let mut li0 = Vec::with_capacity(p);
        for r in 0..p {
            let w = weights.rank(r);
            let mut c = 0.0;
            let mut n = w.len();
            for (i, &x) in w.iter().enumerate() {
                c += x;
                if c > avg {
                    n = i + 1;
                    break;
                }
            }
            kept.push(n);
            cum.push(c);
            li0.push((rank_load(w) - avg) / avg);
        }
        Some(Sim {
            weights,
            avg,
            kept,
            sent: vec![0; p],
            cum,
            imported: vec![0.0; p],
            exports: vec![Vec::new(); p],
            li0,
        })
    }

    /// Sender `s` offers all its remaining candidates to `q`.
    fn offer(&mut self, s: usize, q: usize) {
        let w = self.weights.rank(s);
        let start = self.kept[s] + self.sent[s];
        if start >= w.len() || self.cum[q] >= self.avg {
            return;
        }
        let mut n = 0;
        for &x in &w[start..] {
            self.cum[q] += x;
            self.imported[q] += x;
            n += 1;
            if self.cum[q] > self.avg {
                break;
            }
        }
        for cell in start..start + n {
            self.exports[s].push(Export { cell, helper: q });
        }
        self.sent[s] += n;
    }

    /// Actual relative imbalance of rank `r` now.
    fn current_li(&self, r: usize) -> f64 {
        let w = self.weights.rank(r);
        let lo = self.kept[r];
        let hi = lo + self.sent[r];
        let exported = rank_load(&w[lo..hi]);
        (rank_load(w) - exported + self.imported[r] - self.avg) / self.avg
    }

    /// QUICKLB's PARTITION_SORT_ALGORITHM over `members` with projected
    /// imbalances `li` (one per member).
    fn sort_rounds(&mut self, params: &Sort, members: &[usize], li: &mut [f64]) {
        let m = members.len();
        if m < 2 {
            return;
        }
        let mut prev = max_of(li);
        if params.stop == StopRule::AfterRound && prev < params.max_abs_li {
            return;
        }
        let mut order: Vec<usize> = (0..m).collect();
        let mut pairs: Vec<(usize, usize)> = Vec::new();
        for _ in 0..params.max_it {
            order.sort_by(|&a, &b| {
                li[a]
                    .partial_cmp(&li[b])
                    .unwrap_or(Ordering::Equal)
                    .then(members[a].cmp(&members[b]))
            });
            // Pairs that communicate this round (decided before projecting).
            pairs.clear();
            for pos in 0..m / 2 {
                let (a, b) = (order[pos], order[m - 1 - pos]);
                let (la, lb) = (li[a], li[b]);
                if (la < 0.0) == (lb < 0.0) || la == 0.0 || lb == 0.0 {
                    continue;
                }
                if la > 0.0 {
                    pairs.push((members[a], members[b]));
                } else {
                    pairs.push((members[b], members[a]));
                }
            }
            // Projected imbalances for the next round.
            for n in 0..m / 2 {
                let (a, b) = (order[n], order[m - 1 - n]);
                if (li[a] < 0.0) == (li[b] < 0.0) {
                    break;
                }
                let t = li[a].abs().min(li[b].abs());
                if li[a] < 0.0 {
                    li[a] += t;
                    li[b] -= t;
                } else {
                    li[a] -= t;
                    li[b] += t;
                }
            }
            let maxp = max_of(li);
            if prev == 0.0 {
                break;
            }
            let done = maxp < params.max_abs_li || (1.0 - maxp / prev) < params.max_rel_li;
            match params.stop {
                StopRule::Quicklb => {
                    if done {
                        break;
                    }
                    prev = maxp;
                    for &(s, q) in &pairs {
                        self.offer(s, q);
                    }
                }
                StopRule::AfterRound => {
                    for &(s, q) in &pairs {
                        self.offer(s, q);
                    }
                    if done {
                        break;
                    }
                    prev = maxp;
                }
            }
        }
    }

    fn into_plan(self) -> Plan {
        Plan::from_exports(self.exports)
    }
}

impl Sort {
    fn check(&self) -> Result<(), Error> {
        check_rounds(self.max_it)?;
        check_param("max_abs_li", self.max_abs_li)?;
        check_param("max_rel_li", self.max_rel_li)
    }
}

impl Planner for Sort {
    fn plan(&self, problem: &Problem) -> Result<Plan, Error> {
        self.check()?;
        let w = problem.weights();
        let Some(mut sim) = Sim::new(w) else {
            return Ok(Plan::empty(w.num_ranks()));
        };
        let members: Vec<usize> = (0..w.num_ranks()).collect();
        let mut li = sim.li0.clone();
        sim.sort_rounds(self, &members, &mut li);
        Ok(sim.into_plan())
    }

    fn name(&self) -> &'static str {
        "Sort"
    }
}

impl Planner for Sort2 {
    fn plan(&self, problem: &Problem) -> Result<Plan, Error> {
        self.sort.check()?;
        let w = problem.weights();
        let p = w.num_ranks();
        let Some(mut sim) = Sim::new(w) else {
            return Ok(Plan::empty(p));
        };
        let groups = match problem.nodes() {
            Some(n) => n.groups(),
            None => vec![(0..p).collect()],
        };
        for g in &groups {
            let mut li: Vec<f64> = g.iter().map(|&r| sim.li0[r]).collect();
            sim.sort_rounds(&self.sort, g, &mut li);
        }
        let members: Vec<usize> = (0..p).collect();
        let mut li: Vec<f64> = (0..p).map(|r| sim.current_li(r)).collect();
        sim.sort_rounds(&self.sort, &members, &mut li);
        Ok(sim.into_plan())
    }

    fn name(&self) -> &'static str {
        "Sort2"
    }
}

impl Planner for Greedy {
    fn plan(&self, problem: &Problem) -> Result<Plan, Error> {
        self.check()?;
        let w = problem.weights();
        let p = w.num_ranks();
        let Some(mut sim) = Sim::new(w) else {
            return Ok(Plan::empty(p));
        };
        let mut li = sim.li0.clone();
        let mut prev = max_of(&li);
        if self.stop == StopRule::AfterRound && prev < self.max_abs_li {
            return Ok(sim.into_plan());
        }
        let rounds = self.max_it.min(p.saturating_sub(1));
        for x in 1..=rounds {
            for n in 0..p {
                let nn = (n + x) % p;
                if li[n] <= 0.0 || li[nn] >= 0.0 {
                    continue;
                }
                let t = li[n].abs().min(li[nn].abs());
                li[n] -= t;
                li[nn] += t;
            }
            let maxp = max_of(&li);
            if prev == 0.0 {
                break;
            }
            let done = maxp < self.max_abs_li;
            if self.stop == StopRule::Quicklb && done {
                break;
            }
            for r in 0..p {
                sim.offer(r, (r + x) % p);
            }
            if done {
                break;
            }
            prev = maxp;
        }
        Ok(sim.into_plan())
    }

    fn name(&self) -> &'static str {
        "Greedy"
    }
}
