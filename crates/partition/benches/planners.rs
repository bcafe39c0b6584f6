//! Criterion benchmarks: plan time of every planner and of coupe's Greedy
//! on the same weights (p ranks x 1000 cells, uniform and lognormal), plus
//! the Transfer re-plan after +-20% noise.
//!
//! `cargo bench -p quicklb-partition --bench planners`

// criterion's macros generate undocumented items.
#![allow(missing_docs)]

mod common;

use common::{noisy, weights, Dist};
use coupe::Partition as _;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use quicklb_partition::{
    DlbFoam, Greedy, NodeMap, Planner, Problem, Sort, Sort2, Transfer, Weights,
};
use std::hint::black_box;
use std::time::Duration;

fn planners(c: &mut Criterion) {
    let n = 1000;
    for dist in [Dist::Uniform, Dist::LogNormal] {
        let mut group = c.benchmark_group(format!("plan/{}", dist.name()));
        group
            .sample_size(10)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(2));
        for p in [64usize, 1024] {
            let raw = weights(p, n, dist, 42);
            let w = Weights::from_ranks(&raw).expect("valid weights");
            let problem = Problem::new(w.clone())
                .with_nodes(NodeMap::blocks(p, 16))
                .expect("node map fits");
            let list: [(&str, &dyn Planner); 5] = [
                ("Transfer", &Transfer::default()),
                ("Greedy", &Greedy::default()),
                ("Sort", &Sort::default()),
                ("Sort2", &Sort2::default()),
                ("DLBFoam", &DlbFoam::default()),
            ];
            for (name, planner) in list {
                group.bench_with_input(BenchmarkId::new(name, p), &problem, |b, pb| {
                    b.iter(|| black_box(planner.plan(pb).expect("plan")))
                });
            }
            let t = Transfer::default();
            let prev = t.plan(&problem).expect("plan");
            let problem2 =
                Problem::new(Weights::from_ranks(noisy(&raw, 7)).expect("valid weights"))
                    .with_nodes(NodeMap::blocks(p, 16))
                    .expect("node map fits");
            group.bench_with_input(
                BenchmarkId::new("Transfer re-plan", p),
                &problem2,
                |b, pb| b.iter(|| black_box(t.replan(pb, &prev).expect("replan"))),
            );
            if p <= 64 {
                let mut parts = vec![0usize; w.num_cells()];
                group.bench_with_input(BenchmarkId::new("coupe Greedy", p), &w, |b, w| {
                    b.iter(|| {
                        coupe::Greedy { part_count: p }
                            .partition(&mut parts, w.flat().iter().copied())
                            .expect("coupe greedy");
                        black_box(&parts);
                    })
                });
            }
        }
        group.finish();
    }
}

criterion_group!(benches, planners);
criterion_main!(benches);
