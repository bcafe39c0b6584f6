//! The default planner: rank-level transfers, then local cell choice.

use crate::local::{Borrows, DistributedPlanner, LocalInput, LocalPlan};
use crate::model::{check_weights, Export, NodeMap, Plan, Planner, Problem};
use crate::Error;

/// Relative size below which an amount is rounding noise (times the average).
const EPS_REL: f64 = 1e-12;

/// One rank-level transfer: `sender` lends cells worth about `amount` to
/// `helper`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Move {
    /// The rank that lends cells (its own load is above average).
    pub sender: usize,
    /// The rank that computes them (its own load is below average).
    pub helper: usize,
    /// Target weight of the lent cells (> 0).
    pub amount: f64,
    /// Whether this move may also take what the sender could not fit into
    /// its previous move. Exactly one move into each helper has it (the
    /// first one created, or the one kept from the previous transfers), so
    /// each helper absorbs at most one remainder.
    pub carry: bool,
}

/// The rank-level solution of the [`Transfer`] planner: who lends how much to
/// whom. Every rank computes the same `Transfers` from the same loads.
///
/// Moves are sorted by sender, then in the order they were created (the
/// order in which the sender fills them); each pair appears once.
///
/// ```
/// use quicklb_partition::Transfer;
/// let t = Transfer::default().transfers(&[6.0, 0.0, 3.0], None, None).unwrap();
/// assert_eq!(t.average(), 3.0);
/// assert_eq!(t.moves().len(), 1);
/// assert_eq!((t.moves()[0].sender, t.moves()[0].helper, t.moves()[0].amount), (0, 1, 3.0));
/// assert_eq!(t.outgoing(0).len(), 1);
/// assert_eq!(t.incoming(1).count(), 1);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Transfers {
    ranks: usize,
    average: f64,
    moves: Vec<Move>,
}

impl Transfers {
    /// All moves, sorted by sender, then creation order.
    pub fn moves(&self) -> &[Move] {
        &self.moves
    }

    /// The average load `W / p` the transfers aim at.
    pub fn average(&self) -> f64 {
        self.average
    }

    /// Number of ranks.
    pub fn num_ranks(&self) -> usize {
        self.ranks
    }

    /// Moves where `rank` lends, in the order it fills them.
    pub fn outgoing(&self, rank: usize) -> &[Move] {
        let lo = self.moves.partition_point(|m| m.sender < rank);
        let hi = self.moves.partition_point(|m| m.sender <= rank);
        &self.moves[lo..hi]
    }

    /// Moves where `rank` helps, sorted by sender. These are the ranks a
    /// helper must expect cells from.
    pub fn incoming(&self, rank: usize) -> impl Iterator<Item = &Move> + '_ {
        self.moves.iter().filter(move |m| m.helper == rank)
    }

    /// Number of sender -> helper pairs.
    pub fn pairs(&self) -> usize {
        self.moves.len()
    }
}

/// The default planner: solve the transfer problem between ranks from the
/// `p` rank loads alone, then let each sender pick which of its own cells to
/// lend.
///
/// # Algorithm
///
/// 1. *Rank level* ([`Transfer::transfers`]). With `A = W / p`, ranks above
///    `A` have a surplus, ranks below a deficit. Surpluses are poured into
///    deficits with two pointers walking both lists in rank order, first
///    inside each node (if a node map is given and `node_first`), then across
///    all ranks with what is left. Each pass creates at most
///    `senders + helpers - 1` pairs, so there are at most `p - 1` pairs
///    without a node map and at most `2p` with one; only the node surplus
///    that a node cannot absorb itself crosses nodes.
/// 2. *Cell level* ([`Transfer::select_exports`], run by each sender on its
///    own weights). For each of its moves, in creation order, the sender
///    takes its heaviest remaining cell that still fits under the amount
///    left (a largest-first best fit), never exceeding the amount. What it
///    could not fit into one move is added to the next move if that one is
///    marked [`Move::carry`] (the first move created into each helper), so
///    each helper absorbs at most one remainder; otherwise it stays home.
///
/// # Bound
///
/// With `A = W / p`, `w_max` the heaviest cell and `c_s` the lightest
/// positive cell that sender `s` keeps, a fresh plan guarantees (up to
/// rounding of `1e-12 A` per cell):
///
/// * every helper ends below `A` plus the remainder carried to it by one
///   sender, which is below that sender's `c_s`, so below `A + w_max`;
/// * every sender ends at or below its own load, and below
///   `A + (1 + u_s) c_s`, where `u_s` counts its moves, other than its
///   first, that are not carry moves (`u_s = 0` without a node map);
/// * hence, without a node map, **`max load <= A + w_max`**; with one,
///   `max load <= A + max(w_max, max_s (1 + u_s) c_s)`;
/// * no rank ends above the unbalanced maximum load (a carried remainder is
///   part of its sender's surplus).
///
/// Since the lower bound is `max(w_max, A)`, a plan without a node map is
/// within one cell of it and at most twice it. With many small cells per
/// rank the remainders are the smallest cells, so the imbalance is
/// essentially 1 (see the crate README for measurements).
///
/// # Stability
///
/// [`Planner::replan`] warm-starts from the previous plan's transfers: old
/// pairs keep their amounts where the new loads allow, then grow, and only
/// residual surpluses above `tolerance * A` create new pairs. Each sender
/// first keeps its previously lent cells for the same helper (largest-first
/// fit under the new amount), and tops up with new cells only if what is
/// missing exceeds `tolerance * A`. Re-planning with unchanged weights moves
/// nothing. A re-plan keeps the same structure, with up to `2 tolerance A`
/// more left on a sender; one that would need more than `2p` pairs starts
/// afresh instead, so there are never more than `2p` pairs.
///
/// # Data needed
///
/// Only the `p` rank loads travel between ranks (one allgather of `p`
/// numbers, computed with [`crate::rank_load`]); each sender then needs only
/// its own weights. See the [crate docs](crate) for the facade's recipe.
///
/// ```
/// use quicklb_partition::{Metrics, Planner, Problem, Transfer, Weights};
/// let w = Weights::from_ranks([vec![1.0; 300], vec![0.5; 100], vec![]]).unwrap();
/// let plan = Transfer::default().plan(&Problem::new(w.clone())).unwrap();
/// let m = Metrics::compute(&w, &plan).unwrap();
/// assert!(m.max_load <= m.average + w.max_cell());
/// assert!(m.gap < 1e-2);
/// assert!(m.pairs <= 2);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transfer {
    /// Hysteresis for re-plans, relative to the average load: residual
    /// surpluses and unfilled amounts up to `tolerance * A` are left alone
    /// instead of moving cells. Must be finite and `>= 0`. Default `5e-4`.
    pub tolerance: f64,
    /// Pair senders with helpers on their own node first when a node map is
    /// given. Default `true`.
    pub node_first: bool,
    /// [`DistributedPlanner::plan_rank`] lends nothing while the rank loads
    /// are within this imbalance (`max / average - 1 <= min_imbalance`).
    /// Must be finite and `>= 0`. Default `0`: balance any imbalance.
    pub min_imbalance: f64,
    /// [`DistributedPlanner::plan_rank`] warm-starts from
    /// [`LocalInput::previous`] (as [`Planner::replan`] always does), so
    /// that small weight changes move few cells. Default `false`: every plan
    /// is fresh (on noisy measured weights fresh plans are closer to the
    /// bound).
    pub stable: bool,
}

impl Default for Transfer {
    fn default() -> Self {
        Transfer {
            tolerance: 5e-4,
            node_first: true,
            min_imbalance: 0.0,
            stable: false,
        }
    }
}

/// Pours surpluses into deficits along `ranks`, in order.
fn two_pointer(
    ranks: &[usize],
    surplus: &mut [f64],
    deficit: &mut [f64],
    eps: f64,
    out: &mut Vec<Move>,
) {
    let senders: Vec<usize> = ranks
        .iter()
        .copied()
        .filter(|&r| surplus[r] > eps)
        .collect();
    let helpers: Vec<usize> = ranks
        .iter()
        .copied()
        .filter(|&r| deficit[r] > eps)
        .collect();
    let (mut i, mut j) = (0, 0);
    while i < senders.len() && j < helpers.len() {
        let (si, hi) = (senders[i], helpers[j]);
        let a = surplus[si].min(deficit[hi]);
        surplus[si] -= a;
        deficit[hi] -= a;
        if a > eps {
            out.push(Move {
                sender: si,
                helper: hi,
                amount: a,
                carry: false,
            });
        }
        if surplus[si] <= eps {
            surplus[si] = 0.0;
            i += 1;
        }
        if deficit[hi] <= eps {
            deficit[hi] = 0.0;
            j += 1;
        }
    }
}

impl Transfer {
    fn check(&self) -> Result<(), Error> {
        for (name, value) in [
            ("tolerance", self.tolerance),
            ("min_imbalance", self.min_imbalance),
        ] {
            if !value.is_finite() || value < 0.0 {
                return Err(Error::InvalidParameter {
                    name,
                    value,
                    reason: "must be finite and >= 0",
                });
            }
        }
        Ok(())
    }

    /// Rank level: the transfers between ranks, from the rank loads alone.
    ///
    /// `loads[r]` is rank `r`'s own load ([`crate::rank_load`] of its
    /// weights); `nodes` the optional node map; `previous` the transfers of
    /// the plan in use, to re-plan with hysteresis (see [`Transfer`]), or
    /// `None` for a fresh plan. Deterministic: every rank that passes the
    /// same numbers gets the same result, bit for bit.
    ///
    /// Errors: [`Error::NoRanks`], [`Error::InvalidLoad`],
    /// [`Error::NodeMapLength`], [`Error::InvalidParameter`],
    /// [`Error::PlanMismatch`] if `previous` has another number of ranks.
    ///
    /// ```
    /// use quicklb_partition::{NodeMap, Transfer};
    /// let nodes = NodeMap::blocks(4, 2);
    /// let t = Transfer::default()
    ///     .transfers(&[4.0, 0.0, 4.0, 0.0], Some(&nodes), None)
    ///     .unwrap();
    /// // each node balances itself: 0 -> 1 and 2 -> 3
    /// let pairs: Vec<_> = t.moves().iter().map(|m| (m.sender, m.helper)).collect();
    /// assert_eq!(pairs, vec![(0, 1), (2, 3)]);
    /// ```
    pub fn transfers(
        &self,
        loads: &[f64],
        nodes: Option<&NodeMap>,
        previous: Option<&Transfers>,
    ) -> Result<Transfers, Error> {
        self.check()?;
        let p = loads.len();
        if p == 0 {
            return Err(Error::NoRanks);
        }
        for (rank, &value) in loads.iter().enumerate() {
            if !value.is_finite() || value < 0.0 {
                return Err(Error::InvalidLoad { rank, value });
            }
        }
        if let Some(n) = nodes {
            n.check(p)?;
        }
        if let Some(prev) = previous {
            if prev.ranks != p {
                return Err(Error::PlanMismatch(format!(
                    "previous transfers have {} ranks, loads have {p}",
                    prev.ranks
                )));
            }
        }
        let mut total = 0.0;
        for &l in loads {
            total += l;
        }
        if !total.is_finite() {
            return Err(Error::TotalOverflow);
        }
        let average = total / p as f64;
        let mut moves = Vec::new();
        if average <= 0.0 {
            return Ok(Transfers {
                ranks: p,
                average,
                moves,
            });
        }
        let eps = average * EPS_REL;
        let mut surplus: Vec<f64> = loads.iter().map(|&l| (l - average).max(0.0)).collect();
        let mut deficit: Vec<f64> = loads.iter().map(|&l| (average - l).max(0.0)).collect();

        if let Some(prev) = previous {
            // Pass 1: keep old pairs at their old amounts where possible.
            for m in &prev.moves {
                if m.sender >= p || m.helper >= p {
                    continue;
                }
                let (s, h) = (m.sender, m.helper);
                if surplus[s] <= eps || deficit[h] <= eps {
                    continue;
                }
                let a = if m.amount <= surplus[s] + eps && m.amount <= deficit[h] + eps {
                    m.amount
                } else {
                    m.amount.min(surplus[s]).min(deficit[h])
                };
                surplus[s] = (surplus[s] - a).max(0.0);
                deficit[h] = (deficit[h] - a).max(0.0);
                if a > eps {
                    moves.push(Move {
                        sender: s,
                        helper: h,
                        amount: a,
                        carry: m.carry,
                    });
                }
            }
            // Pass 2: grow the kept pairs before creating new ones.
            let tol = self.tolerance * average;
            for m in &mut moves {
                let g = surplus[m.sender].min(deficit[m.helper]);
                if g > tol.max(eps) {
                    m.amount += g;
                    surplus[m.sender] -= g;
                    deficit[m.helper] -= g;
                }
            }
            // Pass 3: hysteresis, small residual surpluses stay home.
            for s in &mut surplus {
                if *s <= tol {
                    *s = 0.0;
                }
            }
        }
        if self.node_first {
            if let Some(n) = nodes {
                for g in n.groups() {
                    two_pointer(&g, &mut surplus, &mut deficit, eps, &mut moves);
                }
            }
        }
        let all: Vec<usize> = (0..p).collect();
        two_pointer(&all, &mut surplus, &mut deficit, eps, &mut moves);

        // Merge repeated pairs into their first occurrence (creation order).
        let mut merged: Vec<Move> = Vec::with_capacity(moves.len());
        let mut index = std::collections::HashMap::with_capacity(moves.len());
        for m in moves {
            match index.get(&(m.sender, m.helper)) {
                Some(&k) => {
                    let first: &mut Move = &mut merged[k];
                    first.amount += m.amount;
                }
                None => {
                    index.insert((m.sender, m.helper), merged.len());
                    merged.push(m);
                }
            }
        }
        // Carry moves: the ones kept from `previous` keep their flag (so an
        // unchanged input gives an unchanged plan); then the first move
        // created into each helper without one.
        let mut seen = vec![false; p];
        for m in &merged {
            if m.carry {
                seen[m.helper] = true;
            }
        }
        for m in &mut merged {
            if !seen[m.helper] {
                m.carry = true;
                seen[m.helper] = true;
            }
        }
        merged.sort_by_key(|m| m.sender);
        if previous.is_some() && merged.len() > 2 * p {
            // Keep the promise of at most 2p pairs: start afresh.
            return self.transfers(loads, nodes, None);
        }
        Ok(Transfers {
            ranks: p,
            average,
            moves: merged,
        })
    }

    /// Cell level, run by one sender on its own weights: which of `rank`'s
    /// cells to lend to each helper of `transfers.outgoing(rank)`.
    ///
    /// `weights` are `rank`'s own cell weights. `previous` is `None` for a
    /// fresh plan, or `Some(exports)` with the rank's exports in the plan in
    /// use when re-planning (cells out of range are ignored). Returns the
    /// exports sorted by cell index; empty if `rank` does not lend.
    ///
    /// The helper side learns *which* senders to expect from
    /// [`Transfers::incoming`]; *how many* cells arrive is only known to the
    /// sender, so the facade sends each helper the cell count of its pair
    /// (one integer per pair) before exchanging cell data.
    ///
    /// ```
    /// use quicklb_partition::{rank_load, Transfer};
    /// let mine = [5.0, 1.0, 2.0, 4.0];
    /// let loads = [rank_load(&mine), 0.0];
    /// let planner = Transfer::default();
    /// let t = planner.transfers(&loads, None, None).unwrap();
    /// let exports = planner.select_exports(0, &mine, &t, None).unwrap();
    /// // average 6: lend 6 = 5 + 1
    /// let cells: Vec<usize> = exports.iter().map(|e| e.cell).collect();
    /// assert_eq!(cells, vec![0, 1]);
    /// ```
    pub fn select_exports(
        &self,
        rank: usize,
        weights: &[f64],
        transfers: &Transfers,
        previous: Option<&[Export]>,
    ) -> Result<Vec<Export>, Error> {
        self.check()?;
        if rank >= transfers.ranks {
            return Err(Error::RankOutOfRange {
                rank,
                ranks: transfers.ranks,
            });
        }
        check_weights(rank, weights)?;
        let out = transfers.outgoing(rank);
        if out.is_empty() {
            return Ok(Vec::new());
        }
        let n = weights.len();
        if n > Pool::MAX_CELLS || out.len() > Pool::MAX_CELLS {
            return Err(Error::PlanMismatch(format!(
                "rank {rank} has {n} cells and {} helpers; the Transfer planner lends from \
                 at most 2^32 - 2 cells to at most 2^32 - 2 helpers per rank",
                out.len()
            )));
        }
        let eps = transfers.average * EPS_REL;
        // Per cell: 0 if it stays home, else 1 + the index in `out` of the
        // move it is lent with (4 bytes a cell; exports come out by cell).
        let mut lent = vec![0u32; n];
        let mut gaps: Vec<f64> = out.iter().map(|m| m.amount).collect();

        if let Some(prev) = previous {
            // The previous loans of each helper, heaviest first (ties by
            // cell): one sort of them all, not a pass over them per move.
            let mut kept: Vec<(usize, u64, usize)> = prev
                .iter()
                .filter(|e| e.cell < n && weights[e.cell] > 0.0)
                .map(|e| (e.helper, key_of(weights[e.cell]), e.cell))
                .collect();
            kept.sort_unstable();
            for (k, m) in out.iter().enumerate() {
                let lo = kept.partition_point(|x| x.0 < m.helper);
                let hi = kept.partition_point(|x| x.0 <= m.helper);
                let mut rem = m.amount;
                for &(_, key, c) in &kept[lo..hi] {
                    let w = weight_of(key);
                    if lent[c] == 0 && w <= rem + eps {
                        lent[c] = k as u32 + 1;
                        rem -= w;
                    }
                }
                gaps[k] = rem.max(0.0);
            }
            let mut missing = 0.0;
            for &g in &gaps {
                missing += g;
            }
            if missing <= self.tolerance * transfers.average {
                return Ok(by_cell(&lent, out));
            }
        }

        // Free cells, consulted heaviest first (ties by index).
        let mut pool = Pool::new(weights, previous.map(|_| &lent[..]));
        // `pending`: what the previous move could not fit. A carry move takes
        // it; otherwise it stays with the sender.
        let mut pending = 0.0;
        for (k, m) in out.iter().enumerate() {
            let target = if m.carry { gaps[k] + pending } else { gaps[k] };
            let mut rem = target;
            while rem > eps {
                let Some((w, c)) = pool.take_fit(rem + eps) else {
                    break;
                };
                rem -= w;
                lent[c] = k as u32 + 1;
            }
            pending = rem;
        }
        Ok(by_cell(&lent, out))
    }

    fn build(&self, problem: &Problem, previous: Option<&Plan>) -> Result<Plan, Error> {
        self.check()?;
        let w = problem.weights();
        let p = w.num_ranks();
        Plan::check_previous(previous, p)?;
        let loads = w.rank_loads();
        let derived;
        let prev_t = match previous {
            None => None,
            Some(prev) => match prev.transfers() {
                Some(t) => Some(t),
                None => {
                    derived = derive_transfers(problem, prev);
                    Some(&derived)
                }
            },
        };
        let t = self.transfers(&loads, problem.nodes(), prev_t)?;
        let mut exports = vec![Vec::new(); p];
        let mut last = usize::MAX;
        for m in t.moves() {
            if m.sender == last {
                continue;
            }
            last = m.sender;
            let prev_e = previous.map(|pl| pl.exports(m.sender));
            exports[m.sender] = self.select_exports(m.sender, w.rank(m.sender), &t, prev_e)?;
        }
        Ok(Plan::from_exports(exports).with_transfers(t))
    }
}

/// The exports of `lent` (per cell: 0, or 1 + the index of its move in
/// `out`), sorted by cell.
fn by_cell(lent: &[u32], out: &[Move]) -> Vec<Export> {
    let count = lent.iter().filter(|&&k| k != 0).count();
    let mut exports = Vec::with_capacity(count);
    for (cell, &k) in lent.iter().enumerate() {
        if k != 0 {
            exports.push(Export {
                cell,
                helper: out[k as usize - 1].helper,
            });
        }
    }
    exports
}

/// Transfers of a plan that did not come from [`Transfer`]: the current
/// weight of the cells lent on each pair.
fn derive_transfers(problem: &Problem, plan: &Plan) -> Transfers {
    let w = problem.weights();
    let p = w.num_ranks();
    let mut moves = Vec::new();
    for s in 0..p {
        let n = w.num_cells_of(s);
        let mut per: Vec<(usize, f64)> = Vec::new();
        for e in plan.exports(s) {
            if e.cell >= n || e.helper >= p {
                continue;
            }
            per.push((e.helper, w.rank(s)[e.cell]));
        }
        per.sort_by_key(|x| x.0);
        for (h, wt) in per {
            match moves.last_mut() {
                Some(Move {
                    sender,
                    helper,
                    amount,
                    ..
                }) if *sender == s && *helper == h => {
                    *amount += wt;
                }
                _ => moves.push(Move {
                    sender: s,
                    helper: h,
                    amount: wt,
                    carry: false,
                }),
            }
        }
    }
    Transfers {
        ranks: p,
        average: w.total() / p as f64,
        moves,
    }
}

impl Planner for Transfer {
    fn plan(&self, problem: &Problem) -> Result<Plan, Error> {
        self.build(problem, None)
    }

    fn replan(&self, problem: &Problem, previous: &Plan) -> Result<Plan, Error> {
        self.build(problem, Some(previous))
    }

    fn name(&self) -> &'static str {
        "Transfer"
    }
}

/// Each rank plans from the `p` rank loads and its own weights: `O(p)` for the
/// rank-level transfers plus `O(n)` for its own `n` cells (a bucket sort of
/// them; a warm start also sorts the previous loans). Helpers learn
/// only *who* lends to them ([`Borrows::Ask`]).
impl DistributedPlanner for Transfer {
    fn check(&self) -> Result<(), Error> {
        Transfer::check(self)
    }

    fn needs_all_weights(&self) -> bool {
        false
    }

    fn plan_rank(&self, input: &LocalInput<'_>) -> Result<LocalPlan, Error> {
        self.check()?;
        let p = input.loads.len();
        if input.rank >= p {
            return Err(Error::RankOutOfRange {
                rank: input.rank,
                ranks: p,
            });
        }
        let mut total = 0.0;
        let mut max = 0.0f64;
        for (rank, &l) in input.loads.iter().enumerate() {
            if !l.is_finite() || l < 0.0 {
                return Err(Error::InvalidLoad { rank, value: l });
            }
            total += l;
            max = max.max(l);
        }
        let average = total / p as f64;
        if p == 1 || average <= 0.0 || max / average - 1.0 <= self.min_imbalance {
            check_weights(input.rank, input.own)?;
            return Ok(LocalPlan::empty());
        }
        let previous = if self.stable { input.previous } else { None };
        let prev_t = previous.and_then(LocalPlan::transfers);
        let t = self.transfers(input.loads, input.nodes, prev_t)?;
        let prev_e = prev_t.and(previous).map(LocalPlan::exports);
        let exports = self.select_exports(input.rank, input.own, &t, prev_e)?;
        let owners: Vec<usize> = t.incoming(input.rank).map(|m| m.sender).collect();
        let helpers: Vec<usize> = t.outgoing(input.rank).iter().map(|m| m.helper).collect();
        Ok(LocalPlan::new(exports, Borrows::Ask(owners))
            .with_told(helpers)
            .with_transfers(t))
    }

    fn name(&self) -> &'static str {
        "Transfer"
    }
}

/// A sender's free cells in the order the cell level consults them: heaviest
/// first, ties by lower index. Each cell is keyed by the complement of its
/// weight's bits (positive finite weights order like their bit patterns), so
/// ascending keys are heaviest first and every comparison is one of integers.
///
/// The order is built by a counting sort on the top bits of the keys
/// (buckets of the key range, stable so each bucket keeps cell order), then a
/// sort within each bucket: `O(n)` for weights spread over their range,
/// never worse than one comparison sort of all cells. No allocation per cell.
///
/// The order holds cell indices only (4 bytes a cell) and reads each key
/// from the weights: at 10^6 cells the pool's fresh memory, page faults
/// included, was most of the planning time with 12-byte entries.
struct Pool<'w> {
    weights: &'w [f64],
    /// Cells, ascending by [`Pool::rank`]: heaviest first, ties by lower index.
    order: Vec<u32>,
    /// Union-find over positions of `order` (one past the end included):
    /// the first position at or after `i` not taken.
    next: Vec<u32>,
    /// Comparisons made by the sorts within buckets (for tests).
    comparisons: usize,
}

/// Key of a positive finite weight: ascending keys are descending weights.
fn key_of(weight: f64) -> u64 {
    !weight.to_bits()
}

/// Weight of a key made by [`key_of`].
fn weight_of(key: u64) -> f64 {
    f64::from_bits(!key)
}

/// Calls `f(key, cell)` for every cell with positive weight whose `skip`
/// (if any) is 0, in cell order.
#[inline(always)]
fn for_each_free(weights: &[f64], skip: Option<&[u32]>, mut f: impl FnMut(u64, u32)) {
    match skip {
        None => {
            for (c, &w) in weights.iter().enumerate() {
                if w > 0.0 {
                    f(key_of(w), c as u32);
                }
            }
        }
        Some(skip) => {
            for (c, (&w, &s)) in weights.iter().zip(skip).enumerate() {
                if w > 0.0 && s == 0 {
                    f(key_of(w), c as u32);
                }
            }
        }
    }
}

impl<'w> Pool<'w> {
    /// Most cells a sender can lend from (positions and cells are `u32`).
    const MAX_CELLS: usize = u32::MAX as usize - 1;

    /// The cells with positive weight whose `skip` (if any) is 0; at most
    /// [`Pool::MAX_CELLS`] weights.
    fn new(weights: &'w [f64], skip: Option<&[u32]>) -> Self {
        debug_assert!(weights.len() <= Self::MAX_CELLS);
        let (mut lo, mut hi, mut len) = (u64::MAX, 0u64, 0usize);
        for_each_free(weights, skip, |k, _| {
            lo = lo.min(k);
            hi = hi.max(k);
            len += 1;
        });
        let mut pool = Pool {
            weights,
            order: Vec::new(),
            next: (0..=len as u32).collect(),
            comparisons: 0,
        };
        if len == 0 {
            return pool;
        }
        // About one bucket per cell, at most 2^16 of them (the counts stay
        // in cache; a bucket then holds about n / 2^16 cells).
        let buckets_max = len.next_power_of_two().clamp(1, 1 << 16) as u64;
        let mut shift = 0;
        while (hi - lo) >> shift >= buckets_max {
            shift += 1;
        }
        let buckets = (((hi - lo) >> shift) + 1) as usize;
        let bucket = |k: u64| ((k - lo) >> shift) as usize;
        let mut start = vec![0usize; buckets + 1];
        for_each_free(weights, skip, |k, _| start[bucket(k) + 1] += 1);
        for b in 0..buckets {
            start[b + 1] += start[b];
        }
        let mut order = vec![0u32; len];
        let mut fill = start.clone();
        for_each_free(weights, skip, |key, cell| {
            let b = bucket(key);
            order[fill[b]] = cell;
            fill[b] += 1;
        });
        let comparisons = &mut pool.comparisons;
        for b in 0..buckets {
            let run = &mut order[start[b]..start[b + 1]];
            // A bucket of one weight is already in cell order (most buckets
            // of few distinct weights): checking costs one pass.
            if run.len() > 1 && !run.is_sorted_by_key(|&c| key_of(weights[c as usize])) {
                run.sort_unstable_by(|&x, &y| {
                    *comparisons += 1;
                    (key_of(weights[x as usize]), x).cmp(&(key_of(weights[y as usize]), y))
                });
            }
        }
        pool.order = order;
        pool
    }

    /// The key of the cell at position `pos` of the order.
    fn key_at(&self, pos: usize) -> u64 {
        key_of(self.weights[self.order[pos] as usize])
    }

    fn find(&mut self, i: usize) -> usize {
        let mut root = i;
        while self.next[root] as usize != root {
            root = self.next[root] as usize;
        }
        let mut j = i;
        while self.next[j] as usize != root {
            let n = self.next[j] as usize;
            self.next[j] = root as u32;
            j = n;
        }
        root
    }

    /// Takes the first free cell, in heaviest-first order, weighing at most
    /// `lim` (`lim > 0`); returns its weight and index.
    fn take_fit(&mut self, lim: f64) -> Option<(f64, usize)> {
        if self.order.is_empty() {
            return None;
        }
        let klim = key_of(lim);
        // Most takes of a large move fit the heaviest cell: no search.
        let start = if self.key_at(0) >= klim {
            0
        } else {
            let weights = self.weights;
            self.order
                .partition_point(|&c| key_of(weights[c as usize]) < klim)
        };
        let pos = self.find(start);
        let cell = *self.order.get(pos)? as usize;
        self.next[pos] = pos as u32 + 1;
        Some((self.weights[cell], cell))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xorshift(mut x: u64) -> impl FnMut() -> u64 {
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }

    /// Reference: walk the fully sorted order (heaviest first, ties by index).
    fn reference(w: &[f64], skip: &[u32], lims: &[f64]) -> Vec<Option<usize>> {
        let mut order: Vec<(f64, usize)> = w
            .iter()
            .copied()
            .zip(0..)
            .filter(|x| x.0 > 0.0 && skip[x.1] == 0)
            .collect();
        order.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut taken = vec![false; order.len()];
        lims.iter()
            .map(|&lim| {
                let k = (0..order.len()).find(|&k| !taken[k] && order[k].0 <= lim)?;
                taken[k] = true;
                Some(order[k].1)
            })
            .collect()
    }

    #[test]
    fn pool_matches_full_sort() {
        // deterministic pseudo-random weights with ties, zeros and far outliers
        let mut rnd = xorshift(12345);
        for case in 0..300 {
            let n = (rnd() % 400) as usize;
            let w: Vec<f64> = (0..n)
                .map(|_| match rnd() % 7 {
                    0 => 0.0,
                    1 => 1.0,
                    2 if case % 3 == 0 => 1e-300 * (1 + rnd() % 3) as f64,
                    3 if case % 5 == 0 => 1e300,
                    _ => (rnd() % 1000) as f64 / 100.0,
                })
                .collect();
            let skip: Vec<u32> = (0..n)
                .map(|_| u32::from(case % 2 == 1 && rnd().is_multiple_of(4)))
                .collect();
            let lims: Vec<f64> = (0..(rnd() % 300))
                .map(|_| (rnd() % 1200) as f64 / 100.0 / (1 + case % 7) as f64)
                .collect();
            let mut pool = Pool::new(&w, Some(&skip));
            let got: Vec<Option<usize>> = lims
                .iter()
                .map(|&l| pool.take_fit(l).map(|x| x.1))
                .collect();
            assert_eq!(got, reference(&w, &skip, &lims), "case {case}");
        }
    }

    /// The order costs `O(n)` comparisons for spread weights and for few
    /// distinct weights, not the `n log2 n` (about 17 n here) of a full
    /// comparison sort.
    #[test]
    fn pool_order_is_linear() {
        let n = 100_000;
        let mut rnd = xorshift(99);
        let uniform: Vec<f64> = (0..n).map(|_| 1.0 + (rnd() % 1_000_000) as f64).collect();
        // log-spread, like measured times from 1 µs to 1 s
        let spread: Vec<f64> = (0..n)
            .map(|_| 1e-6 * 10f64.powf((rnd() % 6_000_000) as f64 / 1e6))
            .collect();
        let seven: Vec<f64> = (0..n).map(|i| 1.0 + (i % 7) as f64 * 0.25).collect();
        for (name, w) in [("uniform", uniform), ("spread", spread), ("seven", seven)] {
            let pool = Pool::new(&w, None);
            assert_eq!(pool.order.len(), n);
            assert!(
                pool.comparisons < 4 * n,
                "{name}: {} comparisons for {n} cells",
                pool.comparisons
            );
        }
    }
}
