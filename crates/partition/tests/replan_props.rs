//! Properties of the re-planning policy over random step figures.

use proptest::prelude::*;
use quicklb_partition::{
    AutoReplan, Decision, KeepReason, Replan, ReplanPolicy, ReplanReason, StepFigures,
};

fn arb_figures() -> impl Strategy<Value = StepFigures> {
    (1e-4..1.0f64, 0.0..3.0f64, 0.0..1.2f64, 0.0..0.2f64).prop_map(|(mean, over, cell, cost)| {
        StepFigures {
            max_busy: mean * (1.0 + over),
            mean_busy: mean,
            max_cell: mean * cell,
            plan_cost: cost,
        }
    })
}

fn arb_auto() -> impl Strategy<Value = AutoReplan> {
    (0.0..0.5f64, 1u64..50, 1u64..100).prop_map(|(threshold, horizon, max_backoff)| AutoReplan {
        threshold,
        horizon,
        max_backoff,
    })
}

/// The decisions of a fresh policy over `steps` (figures of step k feed the
/// decision before step k + 1), with the caller planning before the steps in
/// `manual`.
fn run(mode: Replan, steps: &[StepFigures], manual: &[usize]) -> Vec<Decision> {
    let mut policy = ReplanPolicy::new(mode);
    let mut last: Option<StepFigures> = None;
    let mut out = Vec::new();
    for (k, f) in steps.iter().enumerate() {
        if manual.contains(&k) {
            policy.planned();
        }
        out.push(policy.decide(last.as_ref()));
        policy.stepped();
        last = Some(*f);
    }
    out
}

proptest! {
    /// An automatic re-plan happens only when the predicted saving over the
    /// horizon pays for the measured cost, and the imbalance is above the
    /// threshold.
    #[test]
    fn never_replans_when_the_saving_cannot_pay(
        auto in arb_auto(),
        steps in prop::collection::vec(arb_figures(), 1..80),
    ) {
        let decisions = run(Replan::Auto(auto), &steps, &[]);
        for (k, d) in decisions.iter().enumerate() {
            if k == 0 {
                prop_assert_eq!(*d, Decision::Keep(KeepReason::NoFigures));
                continue;
            }
            let f = &steps[k - 1];
            let saving = f.excess() * auto.horizon as f64;
            if saving <= f.plan_cost || f.relative_excess() <= auto.threshold {
                prop_assert!(!d.replans(), "step {}: {:?} from {:?}", k, d, f);
            }
            if let Decision::Replan(ReplanReason::Imbalance { saving: s, cost, excess }) = *d {
                prop_assert!(s > cost);
                prop_assert_eq!(cost, f.plan_cost);
                prop_assert!(excess > auto.threshold);
            }
        }
    }

    /// The same figures give the same decisions (and the policy's state is a
    /// function of them alone).
    #[test]
    fn deterministic(
        auto in arb_auto(),
        steps in prop::collection::vec(arb_figures(), 1..80),
    ) {
        let a = run(Replan::Auto(auto), &steps, &[]);
        let b = run(Replan::Auto(auto), &steps, &[]);
        prop_assert_eq!(a, b);
    }

    /// From a balanced run (nothing above the threshold), a step change of
    /// the imbalance that pays for a plan re-plans at the next step, and only
    /// then.
    #[test]
    fn replans_on_a_step_change(
        auto in arb_auto(),
        calm in 1usize..60,
        mean in 1e-3..1.0f64,
        jump in 0.6..3.0f64,
    ) {
        let auto = AutoReplan { threshold: auto.threshold.min(0.5), ..auto };
        let even = StepFigures { max_busy: mean, mean_busy: mean, max_cell: 0.0, plan_cost: 1e-6 };
        let hot = StepFigures { max_busy: mean * (1.0 + jump), ..even };
        let mut steps = vec![even; calm];
        steps.push(hot);
        steps.push(even);
        let decisions = run(Replan::Auto(auto), &steps, &[]);
        for (k, d) in decisions.iter().enumerate() {
            prop_assert_eq!(d.replans(), k == calm + 1, "step {}: {:?}", k, d);
        }
    }

    /// `Every(n)` plans before step 0 and every n steps after, counted from
    /// the last plan, whether the policy or the caller made it.
    #[test]
    fn every_n_is_periodic(
        n in 1u64..20,
        len in 1usize..120,
        manual in prop::collection::vec(0usize..120, 0..4),
        steps in prop::collection::vec(arb_figures(), 120),
    ) {
        let decisions = run(Replan::Every(n), &steps[..len], &manual);
        let mut last_plan: Option<usize> = None;
        for (k, d) in decisions.iter().enumerate() {
            if manual.contains(&k) {
                last_plan = Some(k);
            }
            let due = last_plan.is_none_or(|p| (k - p) as u64 >= n);
            prop_assert_eq!(d.replans(), due, "step {}: {:?}", k, d);
            if due {
                prop_assert_eq!(*d, Decision::Replan(ReplanReason::Period { every: n }));
                last_plan = Some(k);
            }
        }
    }

    /// `Manual` never re-plans.
    #[test]
    fn manual_is_manual(steps in prop::collection::vec(arb_figures(), 1..50)) {
        prop_assert!(run(Replan::Manual, &steps, &[]).iter().all(|d| !d.replans()));
    }
}
