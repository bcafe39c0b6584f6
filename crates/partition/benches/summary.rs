//! Summary benchmark: prints a markdown table comparing the planners of
//! `quicklb-partition` (Transfer, QUICKLB's Greedy, Sort and Sort2, and
//! DLBFoam's) with `coupe`'s Greedy and KarmarkarKarp on the same weights,
//! then checks the targets of the default planner.
//!
//! `cargo bench -p quicklb-partition --bench summary` runs the full sizes
//! (p = 4, 64, 1024, 16384 ranks x 1000 cells); add `-- --quick` for tiny
//! sizes that finish in seconds.

mod common;

use common::{noisy, weights, Dist};
use coupe::Partition as _;
use quicklb_partition::{
    DlbFoam, Greedy, Metrics, NodeMap, Plan, Planner, Problem, Sort, Sort2, Transfer, Weights,
};
use std::time::{Duration, Instant};

/// Runs `f` at least once and until `budget` is spent (max 7 times); returns
/// the fastest time in ms and the last result.
fn time<T>(budget: Duration, mut f: impl FnMut() -> T) -> (f64, T) {
    let start = Instant::now();
    let mut best = f64::INFINITY;
    let mut reps = 0;
    loop {
        let t0 = Instant::now();
        let out = f();
        best = best.min(t0.elapsed().as_secs_f64() * 1e3);
        reps += 1;
        if reps >= 7 || start.elapsed() >= budget {
            return (best, out);
        }
    }
}

struct Row {
    algo: String,
    ms: Option<f64>,
    imbalance: f64,
    gap: f64,
    moved: usize,
    pairs: usize,
}

fn row_of(algo: &str, ms: f64, m: &Metrics, moved: usize) -> Row {
    Row {
        algo: algo.to_string(),
        ms: Some(ms),
        imbalance: m.imbalance,
        gap: m.gap,
        moved,
        pairs: m.pairs,
    }
}

/// Scores a coupe part assignment as if part = computing rank.
fn score_parts(w: &Weights, n: usize, parts: &[usize], p: usize) -> (f64, f64, usize, usize) {
    let mut loads = vec![0.0; p];
    let mut moved = 0;
    let mut pairs = std::collections::BTreeSet::new();
    for (i, (&x, &part)) in w.flat().iter().zip(parts).enumerate() {
        loads[part] += x;
        let home = i / n;
        if part != home {
            moved += 1;
            pairs.insert((home, part));
        }
    }
    let avg = w.total() / p as f64;
    let max = loads.iter().fold(0.0f64, |m, &l| m.max(l));
    let imb = if avg > 0.0 { max / avg } else { 1.0 };
    let lb = if avg > 0.0 {
        w.lower_bound() / avg
    } else {
        1.0
    };
    (imb, imb - lb, moved, pairs.len())
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (sizes, n): (&[usize], usize) = if quick {
        (&[4, 64], 100)
    } else {
        (&[4, 64, 1024, 16384], 1000)
    };
    let budget = Duration::from_millis(if quick { 20 } else { 300 });
    let mut checks: Vec<(String, bool)> = Vec::new();

    println!("| p | weights | algorithm | plan time (ms) | vs coupe Greedy | imbalance | gap to LB | cells moved | pairs |");
    println!("|---:|---|---|---:|---:|---:|---:|---:|---:|");
    for &p in sizes {
        let per_node = if p <= 4 { 2 } else { 16 };
        let nodes = NodeMap::blocks(p, per_node);
        for dist in Dist::ALL {
            let raw = weights(p, n, dist, 42);
            let w = Weights::from_ranks(&raw).expect("valid weights");
            let problem = Problem::new(w.clone())
                .with_nodes(nodes.clone())
                .expect("node map fits");
            let total_cells = w.num_cells();
            let mut rows: Vec<Row> = Vec::new();
            let transfer = Transfer::default();
            let planners: [(&str, &dyn Planner); 5] = [
                ("Transfer (ours)", &transfer),
                ("Greedy (QUICKLB)", &Greedy::default()),
                ("Sort (QUICKLB)", &Sort::default()),
                ("Sort2 (QUICKLB)", &Sort2::default()),
                ("DLBFoam", &DlbFoam::default()),
            ];
            let mut plans: Vec<Plan> = Vec::new();
            for (name, planner) in planners {
                let (ms, plan) = time(budget, || planner.plan(&problem).expect("plan"));
                let m = Metrics::compute(&w, &plan).expect("valid plan");
                rows.push(row_of(name, ms, &m, m.cells_moved));
                if name.starts_with("Transfer") && p == 1024 && dist != Dist::Hotspot {
                    checks.push((
                        format!("p=1024 {}: plan time {ms:.1} ms <= 50 ms", dist.name()),
                        ms <= 50.0,
                    ));
                    checks.push((
                        format!("p=1024 {}: gap {:.2e} <= 1e-3", dist.name(), m.gap),
                        m.gap <= 1e-3,
                    ));
                }
                if name.starts_with("Transfer") {
                    checks.push((
                        format!("p={p} {}: pairs {} <= 2p", dist.name(), m.pairs),
                        m.pairs <= 2 * p,
                    ));
                }
                plans.push(plan);
            }
            // coupe, item-level reference (ignores home ranks).
            let mut coupe_greedy_ms = None;
            if (p as f64) * (total_cells as f64) <= 2e9 {
                let mut parts = vec![0usize; total_cells];
                let (ms, ()) = time(budget, || {
                    coupe::Greedy { part_count: p }
                        .partition(&mut parts, w.flat().iter().copied())
                        .expect("coupe greedy");
                });
                let (imb, gap, moved, pairs) = score_parts(&w, n, &parts, p);
                coupe_greedy_ms = Some(ms);
                rows.push(Row {
                    algo: "coupe Greedy".into(),
                    ms: Some(ms),
                    imbalance: imb,
                    gap,
                    moved,
                    pairs,
                });
            } else {
                rows.push(Row {
                    algo: "coupe Greedy (skipped: O(n p))".into(),
                    ms: None,
                    imbalance: f64::NAN,
                    gap: f64::NAN,
                    moved: 0,
                    pairs: 0,
                });
            }
            if (p as f64) * (total_cells as f64) * 16.0 <= 2e8 {
                let mut parts = vec![0usize; total_cells];
                let (ms, ()) = time(budget, || {
                    coupe::KarmarkarKarp { part_count: p }
                        .partition(&mut parts, w.flat().iter().map(|&x| coupe::Real::from(x)))
                        .expect("coupe kk");
                });
                let (imb, gap, moved, pairs) = score_parts(&w, n, &parts, p);
                rows.push(Row {
                    algo: "coupe KarmarkarKarp".into(),
                    ms: Some(ms),
                    imbalance: imb,
                    gap,
                    moved,
                    pairs,
                });
            } else {
                rows.push(Row {
                    algo: "coupe KarmarkarKarp (skipped: O(n p) memory)".into(),
                    ms: None,
                    imbalance: f64::NAN,
                    gap: f64::NAN,
                    moved: 0,
                    pairs: 0,
                });
            }
            // Re-plan after +-20% noise: moved = cells whose computing rank changed.
            let raw2 = noisy(&raw, 7 + p as u64);
            let w2 = Weights::from_ranks(&raw2).expect("valid weights");
            let problem2 = Problem::new(w2.clone())
                .with_nodes(nodes.clone())
                .expect("node map fits");
            for (k, (name, planner)) in planners.iter().enumerate() {
                let prev = &plans[k];
                let (ms, plan) = time(budget, || planner.replan(&problem2, prev).expect("replan"));
                let m = Metrics::compute(&w2, &plan).expect("valid plan");
                let changed = plan.cells_changed(prev);
                let short = name.split(' ').next().unwrap_or(name);
                rows.push(row_of(
                    &format!("{short} re-plan, +-20% noise"),
                    ms,
                    &m,
                    changed,
                ));
                if k == 0 && dist != Dist::Hotspot {
                    let frac = changed as f64 / total_cells as f64;
                    checks.push((
                        format!(
                            "p={p} {}: re-plan moves {:.3}% <= 1% of cells",
                            dist.name(),
                            frac * 100.0
                        ),
                        frac <= 0.01,
                    ));
                }
            }
            for r in rows {
                let ms = r.ms.map_or("—".to_string(), |v| format!("{v:.2}"));
                let ratio = match (r.ms, coupe_greedy_ms) {
                    (Some(a), Some(b)) if b > 0.0 => format!("{:.3}", a / b),
                    _ => "—".to_string(),
                };
                let (imb, gap, moved, pairs) = if r.imbalance.is_nan() {
                    ("—".into(), "—".into(), "—".into(), "—".into())
                } else {
                    (
                        format!("{:.5}", r.imbalance),
                        format!("{:.2e}", r.gap),
                        format!(
                            "{} ({:.2}%)",
                            r.moved,
                            100.0 * r.moved as f64 / total_cells as f64
                        ),
                        r.pairs.to_string(),
                    )
                };
                println!(
                    "| {p} | {} | {} | {ms} | {ratio} | {imb} | {gap} | {moved} | {pairs} |",
                    dist.name(),
                    r.algo
                );
            }
        }
    }
    println!();
    if quick {
        println!("(--quick: 100 cells per rank; the targets apply to 1000 cells per rank and are not checked)");
        return;
    }
    println!("Targets of the default planner (Transfer):");
    println!();
    for (what, ok) in &checks {
        println!("- [{}] {what}", if *ok { "x" } else { " " });
    }
}
