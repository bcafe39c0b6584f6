//! Hand-made cases: bad input, edge cases, node preference of Sort2.

use quicklb_partition::{
    DlbFoam, Error, Export, Greedy, Metrics, NodeMap, Plan, Planner, Problem, Sort, Sort2,
    StopRule, Transfer, Weights,
};

fn all() -> Vec<Box<dyn Planner>> {
    vec![
        Box::new(Transfer::default()),
        Box::new(Greedy::default()),
        Box::new(Sort::default()),
        Box::new(Sort2::default()),
    ]
}

#[test]
fn bad_weights_are_typed_errors() {
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1.0] {
        let e = Weights::from_ranks([vec![1.0], vec![2.0, bad]]).unwrap_err();
        assert!(
            matches!(
                e,
                Error::InvalidWeight {
                    rank: 1,
                    cell: 1,
                    ..
                }
            ),
            "{e}"
        );
        let e = Transfer::default()
            .select_exports(
                0,
                &[bad],
                &Transfer::default()
                    .transfers(&[1.0, 0.0], None, None)
                    .unwrap(),
                None,
            )
            .unwrap_err();
        assert!(matches!(e, Error::InvalidWeight { .. }));
        let e = Transfer::default()
            .transfers(&[1.0, bad], None, None)
            .unwrap_err();
        assert!(matches!(e, Error::InvalidLoad { rank: 1, .. }));
    }
    assert_eq!(
        Weights::from_ranks(Vec::<Vec<f64>>::new()).unwrap_err(),
        Error::NoRanks
    );
    assert_eq!(
        Transfer::default().transfers(&[], None, None).unwrap_err(),
        Error::NoRanks
    );
    assert!(matches!(
        Weights::from_flat(vec![1.0], &[1, 1]).unwrap_err(),
        Error::CountMismatch {
            expected: 2,
            actual: 1
        }
    ));
    assert!(matches!(
        Weights::from_ranks([vec![f64::MAX], vec![f64::MAX]]).unwrap_err(),
        Error::TotalOverflow
    ));
}

#[test]
fn bad_node_map_and_parameters() {
    let w = Weights::from_ranks([vec![1.0], vec![2.0], vec![]]).unwrap();
    let e = Problem::new(w.clone())
        .with_nodes(NodeMap::new(vec![0, 0]))
        .unwrap_err();
    assert_eq!(
        e,
        Error::NodeMapLength {
            expected: 3,
            actual: 2
        }
    );
    let e = Transfer::default()
        .transfers(&[1.0, 2.0, 0.0], Some(&NodeMap::new(vec![0])), None)
        .unwrap_err();
    assert!(matches!(e, Error::NodeMapLength { .. }));
    let pb = Problem::new(w);
    for tolerance in [-1.0, f64::NAN, f64::INFINITY] {
        let t = Transfer {
            tolerance,
            ..Transfer::default()
        };
        assert!(matches!(
            t.plan(&pb).unwrap_err(),
            Error::InvalidParameter {
                name: "tolerance",
                ..
            }
        ));
    }
    let s = Sort {
        max_abs_li: f64::NAN,
        ..Sort::default()
    };
    assert!(matches!(
        s.plan(&pb).unwrap_err(),
        Error::InvalidParameter { .. }
    ));
    let g = Greedy {
        max_abs_li: f64::NAN,
        ..Greedy::default()
    };
    assert!(matches!(
        g.plan(&pb).unwrap_err(),
        Error::InvalidParameter { .. }
    ));
    // A previous plan with another number of ranks.
    assert!(matches!(
        Transfer::default()
            .replan(&pb, &Plan::empty(2))
            .unwrap_err(),
        Error::PlanMismatch(_)
    ));
    // Invalid plans are rejected by validate / Metrics.
    let bad = Plan::from_exports(vec![vec![Export { cell: 0, helper: 0 }], vec![], vec![]]);
    assert!(Metrics::compute(pb.weights(), &bad).is_err());
    let bad = Plan::from_exports(vec![vec![Export { cell: 5, helper: 1 }], vec![], vec![]]);
    assert!(bad.validate(pb.weights()).is_err());
}

#[test]
fn edge_cases_give_valid_plans() {
    let cases: Vec<Vec<Vec<f64>>> = vec![
        vec![vec![1.0, 2.0, 3.0]],                       // one rank
        vec![vec![], vec![], vec![]],                    // no cells
        vec![vec![0.0, 0.0], vec![0.0], vec![]],         // all weights zero
        vec![vec![5.0], vec![], vec![], vec![], vec![]], // more ranks than cells
        vec![vec![1.0; 10], vec![], vec![], vec![]],     // one loaded rank
        vec![vec![100.0, 1.0], vec![1.0]],               // a cell above the average
    ];
    for raw in cases {
        let w = Weights::from_ranks(&raw).unwrap();
        let pb = Problem::new(w.clone());
        for planner in all() {
            let plan = planner.plan(&pb).unwrap();
            plan.validate(&w).unwrap();
            let m = Metrics::compute(&w, &plan).unwrap();
            assert!(m.max_load <= w.rank_loads().iter().fold(0.0f64, |a, &b| a.max(b)) + 1e-12);
            if w.total() == 0.0 {
                assert_eq!(plan.num_exported(), 0);
                assert_eq!(m.imbalance, 1.0);
            }
        }
    }
}

#[test]
fn transfer_reaches_lower_bound_on_even_split() {
    // 4 ranks, one owns everything: 40 unit cells -> 10 each.
    let w = Weights::from_ranks([vec![1.0; 40], vec![], vec![], vec![]]).unwrap();
    let plan = Transfer::default().plan(&Problem::new(w.clone())).unwrap();
    let m = Metrics::compute(&w, &plan).unwrap();
    assert_eq!(m.loads, vec![10.0; 4]);
    assert_eq!(m.pairs, 3);
    assert_eq!(m.gap, 0.0);
}

#[test]
fn quicklb_stop_rule_skips_last_round_with_two_ranks() {
    let w = Weights::from_ranks([vec![1.0; 10], vec![]]).unwrap();
    let pb = Problem::new(w.clone());
    let ours = Sort {
        max_abs_li: 0.01,
        ..Sort::default()
    };
    let theirs = Sort {
        stop: StopRule::Quicklb,
        ..ours
    };
    assert_eq!(theirs.plan(&pb).unwrap().num_exported(), 0);
    let plan = ours.plan(&pb).unwrap();
    // keep rule: cells 0..=5 stay (the 6th crosses avg = 5), 4 are offered and
    // the receiver accepts all of them (it never crosses 5).
    assert_eq!(
        plan.exports(0).iter().map(|e| e.cell).collect::<Vec<_>>(),
        vec![6, 7, 8, 9]
    );
    let g = Greedy {
        max_abs_li: 0.01,
        ..Greedy::default()
    };
    assert_eq!(
        Greedy {
            stop: StopRule::Quicklb,
            ..g
        }
        .plan(&pb)
        .unwrap()
        .num_exported(),
        0
    );
    assert_eq!(g.plan(&pb).unwrap().num_exported(), 4);
}

#[test]
fn sort2_prefers_node_partners_where_sort_does_not() {
    // nodes {0,1} and {2,3}; avg 20; relative imbalances +1, -0.25 | -0.75, 0.
    // Sort pairs the extremes 0 and 2 across nodes; Sort2 first pairs 0 with 1.
    let w =
        Weights::from_ranks([vec![1.0; 40], vec![1.0; 15], vec![1.0; 5], vec![1.0; 20]]).unwrap();
    let nodes = NodeMap::blocks(4, 2);
    let pb = Problem::new(w.clone()).with_nodes(nodes.clone()).unwrap();
    let one = Sort {
        max_it: 1,
        ..Sort::default()
    };
    let sort = one.plan(&pb).unwrap();
    let sort2 = Sort2 { sort: one }.plan(&pb).unwrap();
    let cross = |plan: &Plan| {
        Metrics::compute_with_nodes(&w, plan, Some(&nodes))
            .unwrap()
            .cross_node_weight
    };
    assert!(sort.exports(0).iter().all(|e| e.helper == 2));
    assert_eq!(cross(&sort), 16.0);
    // node phase: the first candidates (cells 21..27) go to rank 1 on the
    // same node; the global phase sends the rest to rank 2.
    let to1: Vec<usize> = sort2
        .exports(0)
        .iter()
        .filter(|e| e.helper == 1)
        .map(|e| e.cell)
        .collect();
    assert_eq!(to1, (21..27).collect::<Vec<_>>());
    assert!(sort2
        .exports(0)
        .iter()
        .filter(|e| e.helper == 2)
        .all(|e| e.cell >= 27));
    assert_eq!(cross(&sort2), 13.0);
    // without a node map, Sort2's first phase is a full Sort
    let flat = Problem::new(w.clone());
    let flat_sort2 = Sort2 { sort: one }.plan(&flat).unwrap();
    assert!(flat_sort2.exports(0).starts_with(sort.exports(0)));
}

#[test]
fn transfer_node_first() {
    // nodes {0,2} and {1,3} each hold 2 * avg.
    let w =
        Weights::from_ranks([vec![1.0; 30], vec![1.0; 10], vec![1.0; 10], vec![1.0; 30]]).unwrap();
    let nodes = NodeMap::new(vec![0, 1, 0, 1]);
    let pb = Problem::new(w.clone()).with_nodes(nodes.clone()).unwrap();
    let with = Transfer::default().plan(&pb).unwrap();
    let without = Transfer {
        node_first: false,
        ..Transfer::default()
    }
    .plan(&pb)
    .unwrap();
    let cross = |plan: &Plan| {
        Metrics::compute_with_nodes(&w, plan, Some(&nodes))
            .unwrap()
            .cross_node_weight
    };
    assert_eq!(cross(&with), 0.0);
    assert_eq!(cross(&without), 20.0);
    assert_eq!(Metrics::compute(&w, &with).unwrap().loads, vec![20.0; 4]);
}

#[test]
fn replan_after_small_change_moves_few_cells() {
    let raw: Vec<Vec<f64>> = (0..16)
        .map(|r| vec![1.0 + (r % 5) as f64 * 0.1; 200 + 20 * r])
        .collect();
    let w = Weights::from_ranks(&raw).unwrap();
    let t = Transfer::default();
    let plan = t.plan(&Problem::new(w)).unwrap();
    let mut raw2 = raw.clone();
    raw2[3][0] *= 1.5;
    raw2[9][7] *= 0.7;
    let re = t
        .replan(&Problem::new(Weights::from_ranks(&raw2).unwrap()), &plan)
        .unwrap();
    assert!(re.cells_changed(&plan) <= 4, "{}", re.cells_changed(&plan));
}

/// Whole-problem planning is the distributed planner run for every rank: the
/// same plans as `Planner::plan`, for every planner and through the adapter.
#[test]
fn distributed_planners_agree_with_whole_problem_plans() {
    use quicklb_partition::{plan_all, DistributedPlanner, WholeProblem};
    let w = Weights::from_ranks([
        vec![3.0; 40],
        vec![1.0; 5],
        vec![],
        vec![2.0; 12],
        vec![0.5; 3],
        vec![1.0; 30],
    ])
    .unwrap();
    let pb = Problem::new(w).with_nodes(NodeMap::blocks(6, 3)).unwrap();
    let planners: [(&dyn DistributedPlanner, &dyn Planner); 5] = [
        (&Transfer::default(), &Transfer::default()),
        (&DlbFoam::default(), &DlbFoam::default()),
        (&Greedy::default(), &Greedy::default()),
        (&Sort::default(), &Sort::default()),
        (&Sort2::default(), &Sort2::default()),
    ];
    for (distributed, whole) in planners {
        let expected = whole.plan(&pb).unwrap();
        assert!(expected.num_exported() > 0, "{}", whole.name());
        assert_eq!(
            plan_all(distributed, &pb, None).unwrap(),
            expected,
            "{}",
            whole.name()
        );
    }
    assert_eq!(
        plan_all(&WholeProblem(Sort::default()), &pb, None).unwrap(),
        Sort::default().plan(&pb).unwrap()
    );
}

/// Bad parameters are errors of `check`, and of a plan at any rank count,
/// also where the planner would not run (Transfer at 1 rank).
#[test]
fn bad_parameters_are_errors_even_at_one_rank() {
    use quicklb_partition::{DistributedPlanner, LocalInput};
    let bad: [&dyn DistributedPlanner; 5] = [
        &Greedy {
            max_it: 0,
            ..Greedy::default()
        },
        &Sort {
            max_it: 0,
            ..Sort::default()
        },
        &Sort {
            max_abs_li: -1.0,
            ..Sort::default()
        },
        &Sort {
            max_rel_li: f64::NAN,
            ..Sort::default()
        },
        &Transfer {
            tolerance: f64::NAN,
            ..Transfer::default()
        },
    ];
    for planner in bad {
        assert!(
            matches!(planner.check(), Err(Error::InvalidParameter { .. })),
            "{planner:?}"
        );
    }
    let t = Transfer {
        tolerance: f64::NAN,
        ..Transfer::default()
    };
    let input = LocalInput {
        rank: 0,
        own: &[1.0],
        loads: &[1.0],
        all: None,
        nodes: None,
        previous: None,
    };
    assert!(matches!(
        t.plan_rank(&input),
        Err(Error::InvalidParameter {
            name: "tolerance",
            ..
        })
    ));
    let m = Transfer {
        min_imbalance: -1.0,
        ..Transfer::default()
    };
    assert!(matches!(
        m.plan_rank(&input),
        Err(Error::InvalidParameter {
            name: "min_imbalance",
            ..
        })
    ));
}
