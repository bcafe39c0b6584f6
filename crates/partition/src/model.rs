//! The public model: weights, node map, problem, plan, metrics.

use crate::Error;
use crate::Transfers;

/// Sums a rank's cell weights in index order.
///
/// This is *the* definition of a rank's load everywhere in the crate: the
/// facade must compute the number it allgathers with this function so that
/// every rank sees bit-for-bit the same loads as [`Weights::rank_loads`].
///
/// ```
/// assert_eq!(quicklb_partition::rank_load(&[1.0, 2.0, 0.5]), 3.5);
/// ```
pub fn rank_load(weights: &[f64]) -> f64 {
    let mut s = 0.0;
    for &w in weights {
        s += w;
    }
    s
}

/// Checks one rank's weights: every weight must be finite and `>= 0`.
///
/// `rank` is only used in the error.
pub fn check_weights(rank: usize, weights: &[f64]) -> Result<(), Error> {
    let valid = |v: f64| v.is_finite() & (v >= 0.0);
    // Branch-free within a chunk (the compiler vectorises it); the first bad
    // cell is searched only when there is one.
    let all_valid = weights
        .chunks(256)
        .all(|chunk| chunk.iter().fold(true, |ok, &v| ok & valid(v)));
    if all_valid {
        return Ok(());
    }
    match weights.iter().position(|&v| !valid(v)) {
        Some(cell) => Err(Error::InvalidWeight {
            rank,
            cell,
            value: weights[cell],
        }),
        None => Ok(()),
    }
}

/// Cell weights of all ranks (`w[r][i] >= 0`, finite), stored flat.
///
/// ```
/// use quicklb_partition::Weights;
/// let w = Weights::from_ranks([vec![3.0, 1.0], vec![], vec![0.5]]).unwrap();
/// assert_eq!(w.num_ranks(), 3);
/// assert_eq!(w.num_cells(), 3);
/// assert_eq!(w.rank(0), &[3.0, 1.0]);
/// assert_eq!(w.rank_loads(), vec![4.0, 0.0, 0.5]);
/// assert_eq!(w.lower_bound(), 3.0); // max(w_max = 3, W / p = 1.5)
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Weights {
    values: Vec<f64>,
    offsets: Vec<usize>,
}

impl Weights {
    /// Builds the weights from one slice per rank.
    ///
    /// Errors: [`Error::NoRanks`] if there is no rank,
    /// [`Error::InvalidWeight`] for NaN, infinite or negative weights,
    /// [`Error::TotalOverflow`] if the total is not finite.
    pub fn from_ranks<I, R>(ranks: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = R>,
        R: AsRef<[f64]>,
    {
        let mut values = Vec::new();
        let mut offsets = vec![0];
        for (rank, r) in ranks.into_iter().enumerate() {
            let r = r.as_ref();
            check_weights(rank, r)?;
            values.extend_from_slice(r);
            offsets.push(values.len());
        }
        Self::finish(values, offsets)
    }

    /// Builds the weights from all cells of all ranks, concatenated in rank
    /// order, and the number of cells of each rank.
    ///
    /// ```
    /// use quicklb_partition::Weights;
    /// let w = Weights::from_flat(vec![1.0, 2.0, 3.0], &[2, 0, 1]).unwrap();
    /// assert_eq!(w.rank(2), &[3.0]);
    /// ```
    pub fn from_flat(values: Vec<f64>, counts: &[usize]) -> Result<Self, Error> {
        let mut offsets = Vec::with_capacity(counts.len() + 1);
        offsets.push(0);
        let mut acc = 0usize;
        for &c in counts {
            acc = acc.saturating_add(c);
            offsets.push(acc);
        }
        if acc != values.len() {
            return Err(Error::CountMismatch {
                expected: acc,
                actual: values.len(),
            });
        }
        for r in 0..counts.len() {
            check_weights(r, &values[offsets[r]..offsets[r + 1]])?;
        }
        Self::finish(values, offsets)
    }

    fn finish(values: Vec<f64>, offsets: Vec<usize>) -> Result<Self, Error> {
        if offsets.len() < 2 {
            return Err(Error::NoRanks);
        }
        let w = Weights { values, offsets };
        if !w.total().is_finite() {
            return Err(Error::TotalOverflow);
        }
        Ok(w)
    }

    /// Number of ranks `p` (at least 1).
    pub fn num_ranks(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Total number of cells over all ranks.
    pub fn num_cells(&self) -> usize {
        self.values.len()
    }

    /// The weights of rank `r`'s cells, in cell index order.
    ///
    /// Panics if `r >= num_ranks()`.
    pub fn rank(&self, r: usize) -> &[f64] {
        &self.values[self.offsets[r]..self.offsets[r + 1]]
    }

    /// Number of cells of rank `r`.
    pub fn num_cells_of(&self, r: usize) -> usize {
        self.offsets[r + 1] - self.offsets[r]
    }

    /// All weights, concatenated in rank order.
    pub fn flat(&self) -> &[f64] {
        &self.values
    }

    /// Load of every rank before balancing ([`rank_load`] of each rank).
    pub fn rank_loads(&self) -> Vec<f64> {
        (0..self.num_ranks())
            .map(|r| rank_load(self.rank(r)))
            .collect()
    }

    /// Total weight `W`: the sum of [`Weights::rank_loads`] in rank order.
    pub fn total(&self) -> f64 {
        let mut s = 0.0;
        for r in 0..self.num_ranks() {
            s += rank_load(self.rank(r));
        }
        s
    }

    /// Heaviest cell weight `w_max` (0 if there is no cell).
    pub fn max_cell(&self) -> f64 {
        self.values
            .iter()
            .fold(0.0, |m, &w| if w > m { w } else { m })
    }

    /// Lower bound on the maximum load of any plan: `max(w_max, W / p)`.
    pub fn lower_bound(&self) -> f64 {
        let avg = self.total() / self.num_ranks() as f64;
        avg.max(self.max_cell())
    }
}

/// Which shared-memory node each rank lives on (`node_of[r]`).
///
/// Node ids are `usize` labels; ranks with the same label share a node.
/// Planners that are node-aware prefer helpers on the sender's node. This
/// is the workspace's one node map: `quicklb-transport` builds it from
/// `MPI_Comm_split_type` (`quicklb_transport::node_map`), numbering nodes
/// `0..num_nodes()` in the order of their lowest rank.
///
/// ```
/// use quicklb_partition::NodeMap;
/// let nodes = NodeMap::new(vec![0, 0, 1, 1]);
/// assert!(nodes.same_node(0, 1));
/// assert!(!nodes.same_node(1, 2));
/// assert_eq!((nodes.num_nodes(), nodes.num_ranks()), (2, 4));
/// assert_eq!(nodes.ranks_on(1), vec![2, 3]);
/// assert_eq!(NodeMap::blocks(5, 2).node_of(), &[0, 0, 1, 1, 2]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeMap {
    node_of: Vec<usize>,
}

impl NodeMap {
    /// A node map from one label per rank.
    pub fn new(node_of: Vec<usize>) -> Self {
        NodeMap { node_of }
    }

    /// A node map from one node index per rank, numbered `0..n` in the
    /// order of each node's lowest rank with every index used (the
    /// numbering `quicklb_transport::node_map` produces);
    /// [`Error::NodeNumbering`] otherwise.
    ///
    /// ```
    /// use quicklb_partition::NodeMap;
    /// assert!(NodeMap::from_nodes(vec![0, 1, 0, 2]).is_ok());
    /// assert!(NodeMap::from_nodes(vec![1, 0]).is_err());
    /// ```
    pub fn from_nodes(node_of: Vec<usize>) -> Result<Self, Error> {
        let mut next = 0;
        for (rank, &node) in node_of.iter().enumerate() {
            if node == next {
                next += 1;
            } else if node > next {
                return Err(Error::NodeNumbering { rank, node, next });
            }
        }
        Ok(NodeMap { node_of })
    }

    /// `ranks` ranks packed `per_node` to a node in rank order (the usual
    /// `mpiexec` block placement). `per_node == 0` is treated as 1.
    pub fn blocks(ranks: usize, per_node: usize) -> Self {
        let per = per_node.max(1);
        NodeMap {
            node_of: (0..ranks).map(|r| r / per).collect(),
        }
    }

    /// The label of every rank.
    pub fn node_of(&self) -> &[usize] {
        &self.node_of
    }

    /// The label of every rank (same as [`NodeMap::node_of`]).
    pub fn as_slice(&self) -> &[usize] {
        &self.node_of
    }

    /// The label of `rank`. Panics if out of range.
    pub fn node(&self, rank: usize) -> usize {
        self.node_of[rank]
    }

    /// Number of distinct nodes.
    pub fn num_nodes(&self) -> usize {
        let mut labels = self.node_of.clone();
        labels.sort_unstable();
        labels.dedup();
        labels.len()
    }

    /// Number of ranks covered (same as [`NodeMap::len`]).
    pub fn num_ranks(&self) -> usize {
        self.node_of.len()
    }

    /// The ranks with label `node`, ascending (empty for an unused label).
    pub fn ranks_on(&self, node: usize) -> Vec<usize> {
        (0..self.node_of.len())
            .filter(|&r| self.node_of[r] == node)
            .collect()
    }

    /// Number of ranks covered.
    pub fn len(&self) -> usize {
        self.node_of.len()
    }

    /// True if the map covers no rank.
    pub fn is_empty(&self) -> bool {
        self.node_of.is_empty()
    }

    /// True if ranks `a` and `b` share a node. Panics if out of range.
    pub fn same_node(&self, a: usize, b: usize) -> bool {
        self.node_of[a] == self.node_of[b]
    }

    /// Checks that the map covers exactly `ranks` ranks.
    pub fn check(&self, ranks: usize) -> Result<(), Error> {
        if self.node_of.len() != ranks {
            return Err(Error::NodeMapLength {
                expected: ranks,
                actual: self.node_of.len(),
            });
        }
        Ok(())
    }

    /// Ranks grouped by node: groups ordered by node label, ranks ascending
    /// inside each group.
    pub fn groups(&self) -> Vec<Vec<usize>> {
        let mut order: Vec<usize> = (0..self.node_of.len()).collect();
        order.sort_by_key(|&r| (self.node_of[r], r));
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let mut last = None;
        for r in order {
            if last != Some(self.node_of[r]) {
                groups.push(Vec::new());
                last = Some(self.node_of[r]);
            }
            if let Some(g) = groups.last_mut() {
                g.push(r);
            }
        }
        groups
    }
}

/// A planning problem: the weights and, optionally, the node map.
///
/// ```
/// use quicklb_partition::{NodeMap, Problem, Weights};
/// let w = Weights::from_ranks([vec![1.0; 4], vec![], vec![2.0], vec![]]).unwrap();
/// let problem = Problem::new(w).with_nodes(NodeMap::blocks(4, 2)).unwrap();
/// assert_eq!(problem.num_ranks(), 4);
/// assert!(Problem::new(problem.weights().clone())
///     .with_nodes(NodeMap::blocks(3, 1))
///     .is_err());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    weights: Weights,
    nodes: Option<NodeMap>,
}

impl Problem {
    /// A problem without a node map (every rank on its own, as far as the
    /// planners know).
    pub fn new(weights: Weights) -> Self {
        Problem {
            weights,
            nodes: None,
        }
    }

    /// Adds a node map; [`Error::NodeMapLength`] if it does not cover exactly
    /// the ranks of the weights.
    pub fn with_nodes(mut self, nodes: NodeMap) -> Result<Self, Error> {
        nodes.check(self.weights.num_ranks())?;
        self.nodes = Some(nodes);
        Ok(self)
    }

    /// The weights.
    pub fn weights(&self) -> &Weights {
        &self.weights
    }

    /// The node map, if any.
    pub fn nodes(&self) -> Option<&NodeMap> {
        self.nodes.as_ref()
    }

    /// Number of ranks.
    pub fn num_ranks(&self) -> usize {
        self.weights.num_ranks()
    }
}

/// One cell a rank lends: its index on the owner and the helper computing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Export {
    /// Cell index on the owning rank.
    pub cell: usize,
    /// Rank that computes the cell.
    pub helper: usize,
}

/// One cell a rank computes for another: the owner and the cell's index there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Import {
    /// Rank that owns the cell.
    pub owner: usize,
    /// Cell index on the owner.
    pub cell: usize,
}

/// Which cells each rank lends to which helper, and what it imports.
///
/// Per rank, exports are sorted by cell index and imports by
/// `(owner, cell)`. Imports always mirror exports. A cell not exported is
/// computed by its owner.
///
/// ```
/// use quicklb_partition::{Export, Import, Plan};
/// // rank 0 lends its cell 2 to rank 1
/// let plan = Plan::from_exports(vec![vec![Export { cell: 2, helper: 1 }], vec![]]);
/// assert_eq!(plan.imports(1), &[Import { owner: 0, cell: 2 }]);
/// assert_eq!(plan.num_exported(), 1);
/// assert_eq!(plan.pairs(), 1);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    exports: Vec<Vec<Export>>,
    imports: Vec<Vec<Import>>,
    transfers: Option<Transfers>,
}

impl Plan {
    /// Checks that a previous plan, if any, is for `ranks` ranks: a planner
    /// warm-started from a plan of another job size refuses it.
    pub(crate) fn check_previous(previous: Option<&Plan>, ranks: usize) -> Result<(), Error> {
        match previous {
            Some(prev) if prev.num_ranks() != ranks => Err(Error::PlanMismatch(format!(
                "previous plan has {} ranks, problem has {ranks}",
                prev.num_ranks()
            ))),
            _ => Ok(()),
        }
    }

    /// The plan that moves nothing.
    pub fn empty(ranks: usize) -> Self {
        Plan {
            exports: vec![Vec::new(); ranks],
            imports: vec![Vec::new(); ranks],
            transfers: None,
        }
    }

    /// Builds a plan from each rank's exports (any order; sorted here) and
    /// derives the imports. Out-of-range helpers are kept as given and
    /// reported by [`Plan::validate`]; they are not imported anywhere.
    pub fn from_exports(mut exports: Vec<Vec<Export>>) -> Self {
        let p = exports.len();
        for e in &mut exports {
            e.sort_unstable();
        }
        let mut counts = vec![0usize; p];
        for e in &exports {
            for x in e {
                if x.helper < p {
                    counts[x.helper] += 1;
                }
            }
        }
        let mut imports: Vec<Vec<Import>> = counts.iter().map(|&c| Vec::with_capacity(c)).collect();
        for (owner, e) in exports.iter().enumerate() {
            for x in e {
                if x.helper < p {
                    imports[x.helper].push(Import {
                        owner,
                        cell: x.cell,
                    });
                }
            }
        }
        Plan {
            exports,
            imports,
            transfers: None,
        }
    }

    pub(crate) fn with_transfers(mut self, t: Transfers) -> Self {
        self.transfers = Some(t);
        self
    }

    /// The rank-level transfers the plan was built from, if it comes from
    /// the [`crate::Transfer`] planner (used to warm-start a re-plan).
    pub fn transfers(&self) -> Option<&Transfers> {
        self.transfers.as_ref()
    }

    /// Number of ranks.
    pub fn num_ranks(&self) -> usize {
        self.exports.len()
    }

    /// Cells rank `r` lends, sorted by cell index.
    pub fn exports(&self, r: usize) -> &[Export] {
        &self.exports[r]
    }

    /// Cells rank `r` computes for others, sorted by `(owner, cell)`.
    pub fn imports(&self, r: usize) -> &[Import] {
        &self.imports[r]
    }

    /// Total number of lent cells.
    pub fn num_exported(&self) -> usize {
        self.exports.iter().map(Vec::len).sum()
    }

    /// Number of distinct `(owner, helper)` pairs.
    pub fn pairs(&self) -> usize {
        let mut n = 0;
        let mut hs: Vec<usize> = Vec::new();
        for e in &self.exports {
            hs.clear();
            hs.extend(e.iter().map(|x| x.helper));
            hs.sort_unstable();
            hs.dedup();
            n += hs.len();
        }
        n
    }

    /// The rank that computes cell `cell` of rank `owner`. Panics if `owner`
    /// is out of range.
    pub fn computed_by(&self, owner: usize, cell: usize) -> usize {
        match self.exports[owner].binary_search_by_key(&cell, |x| x.cell) {
            Ok(i) => self.exports[owner][i].helper,
            Err(_) => owner,
        }
    }

    /// Number of cells computed by a different rank in `self` than in
    /// `other` (the cells that move when switching from one plan to the
    /// other). Both plans must have the same number of ranks.
    pub fn cells_changed(&self, other: &Plan) -> usize {
        let mut n = 0;
        for (a, b) in self.exports.iter().zip(&other.exports) {
            let (mut i, mut j) = (0, 0);
            while i < a.len() || j < b.len() {
                if j == b.len() || (i < a.len() && a[i].cell < b[j].cell) {
                    n += 1;
                    i += 1;
                } else if i == a.len() || b[j].cell < a[i].cell {
                    n += 1;
                    j += 1;
                } else {
                    if a[i].helper != b[j].helper {
                        n += 1;
                    }
                    i += 1;
                    j += 1;
                }
            }
        }
        n
    }

    /// Checks that the plan fits the weights: same number of ranks, cells in
    /// range, each cell lent at most once, no rank lending to itself, helpers
    /// in range, imports exactly mirroring exports. Then every cell is
    /// computed by exactly one rank.
    pub fn validate(&self, weights: &Weights) -> Result<(), Error> {
        let p = weights.num_ranks();
        if self.exports.len() != p || self.imports.len() != p {
            return Err(Error::PlanMismatch(format!(
                "plan has {} ranks, weights have {p}",
                self.exports.len()
            )));
        }
        let mut mirrored = 0usize;
        for (r, e) in self.exports.iter().enumerate() {
            let n = weights.num_cells_of(r);
            for (k, x) in e.iter().enumerate() {
                if x.cell >= n {
                    return Err(Error::PlanMismatch(format!(
                        "rank {r} lends cell {} but owns {n} cells",
                        x.cell
                    )));
                }
                if k > 0 && e[k - 1].cell >= x.cell {
                    return Err(Error::PlanMismatch(format!(
                        "rank {r} lends cell {} twice or out of order",
                        x.cell
                    )));
                }
                if x.helper == r {
                    return Err(Error::PlanMismatch(format!("rank {r} lends to itself")));
                }
                if x.helper >= p {
                    return Err(Error::PlanMismatch(format!(
                        "rank {r} lends to rank {} of {p}",
                        x.helper
                    )));
                }
                if self.imports[x.helper]
                    .binary_search(&Import {
                        owner: r,
                        cell: x.cell,
                    })
                    .is_err()
                {
                    return Err(Error::PlanMismatch(format!(
                        "rank {} does not import cell {} of rank {r}",
                        x.helper, x.cell
                    )));
                }
                mirrored += 1;
            }
        }
        let imported: usize = self.imports.iter().map(Vec::len).sum();
        if imported != mirrored {
            return Err(Error::PlanMismatch(format!(
                "{imported} imports for {mirrored} exports"
            )));
        }
        for (h, im) in self.imports.iter().enumerate() {
            for w in im.windows(2) {
                if w[0] >= w[1] {
                    return Err(Error::PlanMismatch(format!(
                        "rank {h} imports are not sorted or repeat"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Load of every rank under this plan: own weight minus exports plus
    /// imports, summed in a fixed order (own kept cells by index, then
    /// imports by `(owner, cell)`).
    pub fn loads(&self, weights: &Weights) -> Result<Vec<f64>, Error> {
        self.validate(weights)?;
        let p = weights.num_ranks();
        let mut loads = Vec::with_capacity(p);
        for r in 0..p {
            let w = weights.rank(r);
            let mut s = 0.0;
            let e = &self.exports[r];
            let mut k = 0;
            for (i, &wi) in w.iter().enumerate() {
                if k < e.len() && e[k].cell == i {
                    k += 1;
                } else {
                    s += wi;
                }
            }
            for im in &self.imports[r] {
                s += weights.rank(im.owner)[im.cell];
            }
            loads.push(s);
        }
        Ok(loads)
    }
}

/// Quality of a plan on given weights.
///
/// ```
/// use quicklb_partition::{Metrics, Plan, Weights};
/// let w = Weights::from_ranks([vec![2.0, 2.0], vec![]]).unwrap();
/// let none = Metrics::compute(&w, &Plan::empty(2)).unwrap();
/// assert_eq!(none.imbalance, 2.0);
/// assert_eq!(none.lower_bound, 2.0);
/// assert_eq!(none.gap, 1.0);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Metrics {
    /// Load of every rank under the plan.
    pub loads: Vec<f64>,
    /// Average load `W / p`.
    pub average: f64,
    /// Largest load.
    pub max_load: f64,
    /// `max_load / average` (1 when the total weight is 0).
    pub imbalance: f64,
    /// `max(w_max, W / p)`: no plan can have a smaller maximum load.
    pub lower_bound: f64,
    /// `lower_bound / average`: the best reachable imbalance.
    pub lower_bound_imbalance: f64,
    /// `imbalance - lower_bound_imbalance` (>= 0 up to rounding).
    pub gap: f64,
    /// Number of lent cells.
    pub cells_moved: usize,
    /// Total weight of the lent cells.
    pub weight_moved: f64,
    /// Number of distinct sender -> helper pairs.
    pub pairs: usize,
    /// Lent weight whose helper is on another node (0 without a node map).
    pub cross_node_weight: f64,
}

impl Metrics {
    /// Metrics of `plan` on `weights` (validates the plan first).
    pub fn compute(weights: &Weights, plan: &Plan) -> Result<Self, Error> {
        Self::compute_with_nodes(weights, plan, None)
    }

    /// Like [`Metrics::compute`], also filling `cross_node_weight`.
    pub fn compute_with_nodes(
        weights: &Weights,
        plan: &Plan,
        nodes: Option<&NodeMap>,
    ) -> Result<Self, Error> {
        if let Some(n) = nodes {
            n.check(weights.num_ranks())?;
        }
        let loads = plan.loads(weights)?;
        let p = weights.num_ranks();
        let total = weights.total();
        let average = total / p as f64;
        let max_load = loads.iter().fold(0.0f64, |m, &l| m.max(l));
        let lower_bound = average.max(weights.max_cell());
        let (imbalance, lower_bound_imbalance) = if average > 0.0 {
            (max_load / average, lower_bound / average)
        } else {
            (1.0, 1.0)
        };
        let mut weight_moved = 0.0;
        let mut cross = 0.0;
        for r in 0..p {
            for x in plan.exports(r) {
                let w = weights.rank(r)[x.cell];
                weight_moved += w;
                if let Some(n) = nodes {
                    if !n.same_node(r, x.helper) {
                        cross += w;
                    }
                }
            }
        }
        Ok(Metrics {
            loads,
            average,
            max_load,
            imbalance,
            lower_bound,
            lower_bound_imbalance,
            gap: imbalance - lower_bound_imbalance,
            cells_moved: plan.num_exported(),
            weight_moved,
            pairs: plan.pairs(),
            cross_node_weight: cross,
        })
    }
}

/// A planning algorithm. All planners are small `Copy` structs holding their
/// parameters; `plan` is a pure function of the problem.
///
/// ```
/// use quicklb_partition::{Planner, Problem, Sort, Transfer, Weights};
/// let w = Weights::from_ranks([vec![1.0; 8], vec![1.0; 2]]).unwrap();
/// let problem = Problem::new(w);
/// let planners: [&dyn Planner; 2] = [&Transfer::default(), &Sort::default()];
/// for planner in planners {
///     let plan = planner.plan(&problem).unwrap();
///     plan.validate(problem.weights()).unwrap();
/// }
/// ```
pub trait Planner {
    /// Computes a plan from scratch.
    fn plan(&self, problem: &Problem) -> Result<Plan, Error>;

    /// Computes a plan for new weights given the plan currently in use.
    /// The default ignores `previous`; [`crate::Transfer`] keeps previous
    /// loans where they still serve.
    fn replan(&self, problem: &Problem, previous: &Plan) -> Result<Plan, Error> {
        let _ = previous;
        self.plan(problem)
    }

    /// A short name for tables and logs.
    fn name(&self) -> &'static str;
}
