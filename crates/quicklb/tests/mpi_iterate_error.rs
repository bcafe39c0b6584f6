//! A transport error inside `iterate()` ends the job with its text, never a
//! hang: the documented behaviour ("the rank prints it and aborts the job",
//! `LoadBalancer::iterate`), since its partners are already waiting for its
//! messages and cannot learn of the failure.
//!
//! A correct program cannot make MPI fail there (sizes and counts are agreed
//! at `partition()`), so the child job makes rank 0's next loan round fail to
//! start, through the transport's fault injection that its own recovery tests
//! use: the real error path from `MPI_Start` up through `iterate()`. Rank 1 is
//! then waiting for cells that never come, so only the abort can end the job.
//!
//! On every rank count the program also checks that a balancer without loans
//! has no messages to fail. With one rank (the harness's `--ranks 1` run) it
//! starts itself as a child job of 2 ranks and checks how that ended.

mod child_job;

use std::time::Duration;

use mpi::traits::*;
use quicklb::LoadBalancer;
use quicklb_transport::persistent::Fault;

const CHILD: &str = "QUICKLB_ITERATE_ERROR_CHILD";
const CELLS: usize = 8;

fn child(world: &impl Communicator) {
    let mut lb = LoadBalancer::<f64>::builder(world, CELLS)
        .build()
        .expect("build");
    // Rank 0 is ten times busier, so the plan lends its cells to rank 1.
    let weight = if world.rank() == 0 { 10.0 } else { 1.0 };
    lb.set_weights(&[weight; CELLS]).expect("weights");
    lb.partition().expect("partition");
    let mut cells = vec![0.0; CELLS];
    if world.rank() == 0 {
        assert!(lb.num_lent() > 0, "the plan lends nothing");
        assert!(lb.inject_transport_fault(Fault::StartFailsAfter(0)));
    }
    let _ = lb.iterate(&mut cells, |c| *c += 1.0);
    eprintln!(
        "iterate-error child: iterate() returned on rank {}",
        world.rank()
    );
}

fn parent() {
    let job = child_job::run(CHILD, 2, Duration::from_secs(90));
    let text = &job.text;
    assert!(!job.success, "the child job succeeded:\n{text}");
    assert!(
        text.contains("quicklb: rank 0: the messages of iterate() failed"),
        "no message naming the failed rank and call:\n{text}"
    );
    assert!(
        !text.contains("iterate() returned"),
        "a rank went on after the failure:\n{text}"
    );
    assert!(
        job.elapsed < Duration::from_secs(40),
        "the child job took {:?}",
        job.elapsed
    );
    println!(
        "mpi_iterate_error: the child job aborted after {:.2?}",
        job.elapsed
    );
}

fn main() {
    let universe = quicklb_transport::initialize();
    let world = universe.world();
    if std::env::var_os(CHILD).is_some() {
        child(&world);
        return;
    }
    let mut lb = LoadBalancer::<f64>::builder(&world, CELLS)
        .build()
        .expect("build");
    assert!(
        !lb.inject_transport_fault(Fault::CompletionFails),
        "a balancer without a plan has loan messages"
    );
    let mut cells = vec![0.0; CELLS];
    lb.iterate(&mut cells, |c| *c += 1.0).expect("iterate");
    assert!(cells.iter().all(|&c| c == 1.0));
    if world.size() == 1 {
        drop(lb);
        parent();
    }
    if world.rank() == 0 {
        println!("mpi_iterate_error: ok on {} ranks", world.size());
    }
}
