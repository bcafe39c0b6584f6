//! Property tests over random and adversarial weights, 1 to 64 ranks.

use proptest::prelude::*;
use quicklb_partition::{
    rank_load, DlbFoam, Greedy, Metrics, NodeMap, Plan, Planner, Problem, Sort, Sort2, StopRule,
    Transfer, Weights,
};

/// One weight: mostly ordinary, sometimes zero, equal, huge or tiny.
fn weight() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => 0.0..10.0f64,
        1 => Just(0.0),
        1 => Just(1.0),
        1 => 1e5..1e6f64,
        1 => 1e-9..1e-8f64,
    ]
}

/// Weights of 1..=64 ranks, 0..24 cells each; some ranks empty, some heavy.
fn ranks() -> impl Strategy<Value = Vec<Vec<f64>>> {
    prop_oneof![
        // random, adversarial values
        prop::collection::vec(prop::collection::vec(weight(), 0..24), 1..=64),
        // uniform weights, skewed counts: most ranks empty
        prop::collection::vec(
            prop_oneof![
                3 => Just(Vec::new()),
                1 => prop::collection::vec(0.5..1.5f64, 1..40),
            ],
            1..=64
        ),
        // one hot rank among light ones
        (1usize..=64, prop::collection::vec(0.0..1.0f64, 1..16)).prop_map(|(p, cells)| {
            let mut v = vec![cells.clone(); p];
            v[p / 2] = cells.iter().map(|w| 20.0 * w).collect();
            v
        }),
    ]
}

fn with_nodes() -> impl Strategy<Value = (Vec<Vec<f64>>, usize)> {
    (ranks(), 1usize..6)
}

fn tol(w: &Weights) -> f64 {
    1e-9 * (w.total() + w.max_cell() + 1.0)
}

fn planners() -> Vec<Box<dyn Planner>> {
    vec![
        Box::new(Transfer::default()),
        Box::new(Transfer {
            node_first: false,
            ..Transfer::default()
        }),
        Box::new(Greedy::default()),
        Box::new(Sort::default()),
        Box::new(Sort2::default()),
        Box::new(Sort {
            max_it: 2,
            max_abs_li: 0.05,
            max_rel_li: 0.1,
            stop: StopRule::Quicklb,
        }),
        Box::new(Greedy {
            max_it: 3,
            max_abs_li: 0.1,
            stop: StopRule::Quicklb,
        }),
        Box::new(DlbFoam::default()),
        Box::new(DlbFoam { min_fraction: 0.0 }),
    ]
}

fn problem(raw: &[Vec<f64>], per_node: usize) -> Problem {
    let w = Weights::from_ranks(raw).unwrap();
    let p = w.num_ranks();
    Problem::new(w)
        .with_nodes(NodeMap::blocks(p, per_node))
        .unwrap()
}

fn max(v: &[f64]) -> f64 {
    v.iter().fold(0.0f64, |m, &x| m.max(x))
}

/// Per-rank bound of a Transfer plan; `slack` is added for senders (re-plans).
#[allow(clippy::needless_range_loop)]
fn check_bound(w: &Weights, plan: &Plan, slack: f64) -> Result<(), TestCaseError> {
    let p = w.num_ranks();
    let tl = tol(w);
    let t = plan.transfers().unwrap();
    let m = Metrics::compute(w, plan).unwrap();
    let own = w.rank_loads();
    let lightest_kept = |r: usize| {
        w.rank(r)
            .iter()
            .enumerate()
            .filter(|&(i, &x)| x > 0.0 && plan.computed_by(r, i) == r)
            .map(|(_, &x)| x)
            .fold(f64::INFINITY, f64::min)
    };
    for r in 0..p {
        let carriers: Vec<usize> = t
            .incoming(r)
            .filter(|mv| mv.carry)
            .map(|mv| mv.sender)
            .collect();
        prop_assert!(carriers.len() <= 1);
        if !plan.imports(r).is_empty() {
            let extra = carriers.first().map_or(0.0, |&s| lightest_kept(s));
            prop_assert!(
                m.loads[r] <= m.average + extra + tl,
                "helper {} too high",
                r
            );
            prop_assert!(m.loads[r] <= m.average + w.max_cell() + tl);
        }
        let out = t.outgoing(r);
        if !out.is_empty() {
            prop_assert!(m.loads[r] <= own[r] + tl);
            let u = out.iter().skip(1).filter(|mv| !mv.carry).count();
            let c = lightest_kept(r);
            prop_assert!(
                m.loads[r] <= m.average + slack + (1.0 + u as f64) * c + tl,
                "sender {} at {} > avg {} + (1 + {}) * {}",
                r,
                m.loads[r],
                m.average,
                u,
                c
            );
        }
    }
    Ok(())
}

proptest! {
    // 48 cases keep the debug run short; PROPTEST_CASES=1000 for a soak.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(48),
        ..ProptestConfig::default()
    })]

    /// Each cell is computed by exactly one rank, nobody lends to itself,
    /// imports mirror exports, loads add up to the total; and no planner
    /// makes the maximum load worse than no balancing.
    #[test]
    fn conservation_and_never_worse((raw, per_node) in with_nodes()) {
        let pb = problem(&raw, per_node);
        let w = pb.weights();
        let unbalanced = max(&w.rank_loads());
        for planner in planners() {
            let plan = planner.plan(&pb).unwrap();
            plan.validate(w).unwrap();
            for r in 0..w.num_ranks() {
                for e in plan.exports(r) {
                    prop_assert_ne!(e.helper, r);
                    prop_assert_eq!(plan.computed_by(r, e.cell), e.helper);
                }
            }
            let m = Metrics::compute(w, &plan).unwrap();
            let sum: f64 = m.loads.iter().sum();
            prop_assert!((sum - w.total()).abs() <= tol(w), "{}: loads do not add up", planner.name());
            prop_assert!(m.max_load <= unbalanced + tol(w),
                "{} made it worse: {} > {}", planner.name(), m.max_load, unbalanced);
            prop_assert!(m.gap >= -1e-9);
        }
    }

    /// Same input, same plan, bit for bit; and the facade's per-rank path
    /// (rank loads + own weights) gives exactly the whole-problem plan.
    #[test]
    fn deterministic((raw, per_node) in with_nodes()) {
        let pb = problem(&raw, per_node);
        for planner in planners() {
            let a = planner.plan(&pb).unwrap();
            let b = planner.plan(&pb.clone()).unwrap();
            prop_assert_eq!(&a, &b);
        }
        let t = Transfer::default();
        let plan = t.plan(&pb).unwrap();
        let loads: Vec<f64> = raw.iter().map(|r| rank_load(r)).collect();
        let moves = t.transfers(&loads, pb.nodes(), None).unwrap();
        prop_assert_eq!(Some(&moves), plan.transfers());
        for (r, mine) in raw.iter().enumerate() {
            let e = t.select_exports(r, mine, &moves, None).unwrap();
            prop_assert_eq!(&e[..], plan.exports(r));
        }
    }

    /// The stated bound of the default planner: a helper ends below the
    /// average plus the lightest kept cell of the one sender that carries
    /// into it; a sender ends at or below its own load and below
    /// A + (1 + u_s) c_s (u_s = 0 without a node map), so max load <= A + w_max
    /// without a node map; at most p - 1 pairs without a node map, 2p with one.
    #[test]
    fn transfer_bound((raw, per_node) in with_nodes()) {
        let pb = problem(&raw, per_node);
        let w = pb.weights();
        let p = w.num_ranks();
        for node_first in [true, false] {
            let plan = Transfer { node_first, ..Transfer::default() }.plan(&pb).unwrap();
            check_bound(w, &plan, 0.0)?;
            let m = Metrics::compute(w, &plan).unwrap();
            if node_first {
                prop_assert!(m.pairs <= 2 * p);
            } else {
                for r in 0..p {
                    let u = plan.transfers().unwrap().outgoing(r).iter().skip(1).filter(|mv| !mv.carry).count();
                    prop_assert_eq!(u, 0);
                }
                prop_assert!(m.max_load <= m.average + w.max_cell() + tol(w));
                prop_assert!(m.pairs < p.max(1));
            }
        }
    }

    /// Node preference of the default planner: only what a node cannot
    /// absorb itself crosses nodes, exactly.
    #[test]
    fn transfer_prefers_own_node((raw, per_node) in with_nodes()) {
        let pb = problem(&raw, per_node);
        let w = pb.weights();
        let nodes = pb.nodes().unwrap();
        let loads = w.rank_loads();
        let t = Transfer::default().transfers(&loads, Some(nodes), None).unwrap();
        let avg = t.average();
        let cross: f64 = t.moves().iter()
            .filter(|m| !nodes.same_node(m.sender, m.helper))
            .map(|m| m.amount).sum();
        let mut excess = 0.0;
        for g in nodes.groups() {
            let s: f64 = g.iter().map(|&r| (loads[r] - avg).max(0.0)).sum();
            let d: f64 = g.iter().map(|&r| (avg - loads[r]).max(0.0)).sum();
            excess += (s - d).max(0.0);
        }
        prop_assert!((cross - excess).abs() <= 1e-9 * (w.total() + 1.0),
            "cross {} != node excess {}", cross, excess);
    }

    /// Re-planning with unchanged weights moves nothing; with noisy weights
    /// the re-plan is valid and within its bound A (1 + 2 tol) + w_max.
    #[test]
    fn stability((raw, per_node) in with_nodes(), noise in prop::collection::vec(0.8..1.2f64, 64)) {
        let pb = problem(&raw, per_node);
        let t = Transfer::default();
        let plan = t.plan(&pb).unwrap();
        let again = t.replan(&pb, &plan).unwrap();
        prop_assert_eq!(again.cells_changed(&plan), 0);
        // a plan that did not come from Transfer can be re-planned too
        let foreign = Plan::from_exports((0..pb.num_ranks()).map(|r| plan.exports(r).to_vec()).collect());
        t.replan(&pb, &foreign).unwrap().validate(pb.weights()).unwrap();

        let raw2: Vec<Vec<f64>> = raw.iter().enumerate()
            .map(|(r, c)| c.iter().enumerate().map(|(i, &x)| x * noise[(r * 7 + i) % 64]).collect())
            .collect();
        let pb2 = problem(&raw2, per_node);
        let w2 = pb2.weights();
        let re = t.replan(&pb2, &plan).unwrap();
        re.validate(w2).unwrap();
        // the facade's per-rank re-plan gives the same plan
        let loads2: Vec<f64> = raw2.iter().map(|r| rank_load(r)).collect();
        let moves = t.transfers(&loads2, pb2.nodes(), plan.transfers()).unwrap();
        prop_assert_eq!(Some(&moves), re.transfers());
        for (r, mine) in raw2.iter().enumerate() {
            let e = t.select_exports(r, mine, &moves, Some(plan.exports(r))).unwrap();
            prop_assert_eq!(&e[..], re.exports(r));
        }
        let m = Metrics::compute(w2, &re).unwrap();
        check_bound(w2, &re, 2.0 * t.tolerance * m.average)?;
        prop_assert!(m.pairs <= 2 * pb2.num_ranks());
        prop_assert!(m.max_load <= max(&w2.rank_loads()) + tol(w2));
    }

    /// Stop rules. Zero thresholds: QUICKLB's rule and ours agree. Positive
    /// thresholds: ours carries out the round QUICKLB skips, so QUICKLB's
    /// loans are a subset of ours. One round of Sort pairs each rank at most
    /// once; k rounds of Greedy reach at most k hops down the ring.
    #[test]
    fn stop_rules(raw in ranks(), abs in 0.0..0.5f64, rel in 0.0..0.5f64, k in 1usize..5) {
        let pb = Problem::new(Weights::from_ranks(&raw).unwrap());
        let p = pb.num_ranks();
        let zero = Sort::default();
        prop_assert_eq!(zero.plan(&pb).unwrap(), Sort { stop: StopRule::Quicklb, ..zero }.plan(&pb).unwrap());
        let g0 = Greedy::default();
        prop_assert_eq!(g0.plan(&pb).unwrap(), Greedy { stop: StopRule::Quicklb, ..g0 }.plan(&pb).unwrap());

        let ours = Sort { max_it: 512, max_abs_li: abs, max_rel_li: rel, stop: StopRule::AfterRound };
        let theirs = Sort { stop: StopRule::Quicklb, ..ours };
        let (a, b) = (ours.plan(&pb).unwrap(), theirs.plan(&pb).unwrap());
        for r in 0..p {
            for e in b.exports(r) {
                prop_assert!(a.exports(r).contains(e));
            }
        }
        let ga = Greedy { max_it: 512, max_abs_li: abs, stop: StopRule::AfterRound };
        let gb = Greedy { stop: StopRule::Quicklb, ..ga };
        let (a, b) = (ga.plan(&pb).unwrap(), gb.plan(&pb).unwrap());
        for r in 0..p {
            for e in b.exports(r) {
                prop_assert!(a.exports(r).contains(e));
            }
        }

        let one = Sort { max_it: 1, ..Sort::default() }.plan(&pb).unwrap();
        for r in 0..p {
            let mut partners: Vec<usize> = one.exports(r).iter().map(|e| e.helper)
                .chain(one.imports(r).iter().map(|i| i.owner)).collect();
            partners.dedup();
            prop_assert!(partners.len() <= 1);
        }
        let gk = Greedy { max_it: k, ..Greedy::default() }.plan(&pb).unwrap();
        for r in 0..p {
            for e in gk.exports(r) {
                let hop = (e.helper + p - r) % p;
                prop_assert!(hop >= 1 && hop <= k);
            }
        }

        // Already below the threshold: ours does nothing.
        let w = pb.weights();
        let avg = w.total() / p as f64;
        if avg > 0.0 {
            let li = w.rank_loads().iter().map(|l| (l - avg) / avg).fold(f64::NEG_INFINITY, f64::max);
            let lazy = Sort { max_abs_li: li + 1e-9, ..Sort::default() };
            prop_assert_eq!(lazy.plan(&pb).unwrap().num_exported(), 0);
            let lazy = Greedy { max_abs_li: li + 1e-9, ..Greedy::default() };
            prop_assert_eq!(lazy.plan(&pb).unwrap().num_exported(), 0);
        }
    }

    /// Sort2's phases: with one rank per node the node phase does nothing and
    /// Sort2 is Sort; with all ranks on one node its node phase is a full
    /// Sort, so Sort's loans come first (each rank's exports start with
    /// Sort's).
    #[test]
    fn sort2_phases(raw in ranks(), max_it in 1usize..4) {
        let w = Weights::from_ranks(&raw).unwrap();
        let p = w.num_ranks();
        let sort = Sort { max_it, ..Sort::default() };
        let single = Problem::new(w.clone()).with_nodes(NodeMap::blocks(p, 1)).unwrap();
        prop_assert_eq!(Sort2 { sort }.plan(&single).unwrap(), sort.plan(&single).unwrap());
        let one = Problem::new(w.clone()).with_nodes(NodeMap::blocks(p, p)).unwrap();
        let a = Sort2 { sort }.plan(&one).unwrap();
        let b = sort.plan(&one).unwrap();
        for r in 0..p {
            let cells: Vec<usize> = a.exports(r).iter().map(|e| e.cell).collect();
            for e in b.exports(r) {
                let k = cells.binary_search(&e.cell);
                prop_assert!(k.is_ok());
                prop_assert_eq!(a.exports(r)[k.unwrap()].helper, e.helper);
            }
        }
    }

    /// QUICKLB's keep rule: a sender lends a suffix of its cells, in index
    /// order, and keeps the prefix up to the cell that crosses the average.
    #[test]
    fn quicklb_keep_rule(raw in ranks()) {
        let pb = Problem::new(Weights::from_ranks(&raw).unwrap());
        let w = pb.weights();
        let avg = w.total() / w.num_ranks() as f64;
        for plan in [Greedy::default().plan(&pb).unwrap(), Sort::default().plan(&pb).unwrap(),
                     Sort2::default().plan(&pb).unwrap()] {
            for r in 0..w.num_ranks() {
                let e = plan.exports(r);
                if e.is_empty() { continue; }
                let first = e[0].cell;
                // contiguous run
                for (k, x) in e.iter().enumerate() {
                    prop_assert_eq!(x.cell, first + k);
                }
                // the kept prefix is exactly up to the crossing cell
                let prefix = rank_load(&w.rank(r)[..first]);
                let before = rank_load(&w.rank(r)[..first - 1]);
                prop_assert!(prefix > avg && before <= avg);
            }
        }
    }

    /// DLBFoam's planner. Rank level, all operations kept: senders are the
    /// ranks above the mean, receivers those below, so no rank is both; the
    /// first operation pairs the most loaded rank with the least loaded;
    /// each sender sends exactly its surplus, no receiver more than its
    /// deficit; at most senders + receivers - 1 operations. With the 1 %
    /// rule: exactly the operations above 1 % of the mean survive, in order.
    /// Cell level: each sender lends a prefix of its cells, cut in
    /// consecutive runs, one per operation in order, each within its amount
    /// (so a receiver ends at or below the mean) and maximal (the next cell
    /// would overflow it); no rank lends and borrows; the per-rank path
    /// (loads + own weights) gives exactly the whole plan.
    #[test]
    fn dlbfoam_rules(raw in ranks()) {
        let pb = Problem::new(Weights::from_ranks(&raw).unwrap());
        let w = pb.weights();
        let p = w.num_ranks();
        let loads = w.rank_loads();
        let mean = w.total() / p as f64;
        let tl = tol(w);
        let all = DlbFoam { min_fraction: 0.0 }.operations(&loads).unwrap();
        let senders: Vec<usize> = (0..p).filter(|&r| loads[r] > mean).collect();
        let receivers: Vec<usize> = (0..p).filter(|&r| loads[r] < mean).collect();
        for op in &all {
            prop_assert!(loads[op.sender] > mean && loads[op.receiver] < mean);
            prop_assert!(op.amount > 0.0);
        }
        if !all.is_empty() {
            let hottest = (0..p).fold(0, |b, r| if loads[r] > loads[b] { r } else { b });
            let coldest = (0..p).fold(0, |b, r| if loads[r] < loads[b] { r } else { b });
            prop_assert_eq!((all[0].sender, all[0].receiver), (hottest, coldest));
        }
        prop_assert!(all.len() < (senders.len() + receivers.len()).max(1));
        for &s in &senders {
            let out: f64 = all.iter().filter(|o| o.sender == s).map(|o| o.amount).sum();
            prop_assert!((out - (loads[s] - mean)).abs() <= tl, "sender {} sends {}", s, out);
        }
        for &r in &receivers {
            let inc: f64 = all.iter().filter(|o| o.receiver == r).map(|o| o.amount).sum();
            prop_assert!(inc <= mean - loads[r] + tl);
        }

        let planner = DlbFoam::default();
        let ops = planner.operations(&loads).unwrap();
        let kept: Vec<_> = all.iter().copied().filter(|o| o.amount > 0.01 * mean).collect();
        prop_assert_eq!(&ops, &kept);

        let plan = planner.plan(&pb).unwrap();
        let m = Metrics::compute(w, &plan).unwrap();
        for r in 0..p {
            let e = plan.exports(r);
            prop_assert_eq!(&planner.select_exports(r, &raw[r], &ops).unwrap()[..], e);
            prop_assert!(e.is_empty() || plan.imports(r).is_empty(), "rank {} lends and borrows", r);
            let mine: Vec<_> = ops.iter().filter(|o| o.sender == r).collect();
            // A prefix, cut in consecutive runs in operation order.
            let mut next = 0;
            for o in &mine {
                let run: Vec<_> = e[next..].iter().take_while(|x| x.helper == o.receiver).collect();
                let mut sum = 0.0;
                for (k, x) in run.iter().enumerate() {
                    prop_assert_eq!(x.cell, next + k);
                    sum += raw[r][x.cell];
                }
                prop_assert!(sum <= o.amount, "rank {} overfills {} with {}", r, o.receiver, sum);
                next += run.len();
                // Maximal: the next cell would overflow this operation.
                if let Some(&w) = raw[r].get(next) {
                    prop_assert!(sum + w > o.amount);
                }
            }
            prop_assert_eq!(next, e.len(), "rank {} lends outside its runs", r);
            if !plan.imports(r).is_empty() {
                prop_assert!(m.loads[r] <= mean + tl, "receiver {} above the mean", r);
            }
            if !e.is_empty() {
                prop_assert!(m.loads[r] <= loads[r] + tl);
            }
        }
    }
}
