//! MPI test of the producer-consumer demo: every task is done exactly once, by a
//! worker (by rank 0 only when it runs alone), with the right result; each rank's
//! own count matches the master's record; the run ends (every worker stopped).
//! Also with fewer tasks than workers and with no tasks at all.
//!
//! Run under `mpiexec -n P` (by `cargo xtask mpi-test`), not by `cargo test`.

use mpi::traits::*;
use quicklb_examples::patterns::producer_consumer;

fn main() {
    let universe = quicklb_transport::initialize();
    let world = universe.world();
    let (rank, size) = (world.rank(), world.size());

    for (tasks, task_ms) in [(40, 0), (25, 1), (2, 0), (0, 0)] {
        let s = producer_consumer::run(&world, tasks, task_ms).expect("producer-consumer runs");
        if size > 1 && rank == 0 {
            assert!(s.done_here.is_empty(), "the master does no task");
        }
        // Every rank's tasks, gathered: each task exactly once over all ranks.
        let mine = s.done_here.len() as u64;
        let mut counts = vec![0u64; size as usize];
        world.all_gather_into(&mine, &mut counts[..]);
        let total: u64 = counts.iter().sum();
        assert_eq!(total, tasks as u64, "tasks done over all ranks");
        let mut marks = vec![0u64; tasks];
        for &t in &s.done_here {
            marks[t] += 1;
        }
        let mut all_marks = vec![0u64; tasks];
        world.all_reduce_into(
            &marks[..],
            &mut all_marks[..],
            mpi::collective::SystemOperation::sum(),
        );
        assert!(
            all_marks.iter().all(|&m| m == 1),
            "exactly once: {all_marks:?}"
        );
        if rank == 0 {
            let by = s.done_by.as_ref().expect("rank 0 records");
            assert_eq!(by.len(), tasks);
            let reported = s.reported.as_ref().expect("rank 0 gathers");
            assert_eq!(reported, &counts);
            for &w in by {
                assert!(size == 1 || w >= 1, "task done by the master");
            }
            assert!(!s.lines().is_empty());
        }
    }
    if rank == 0 {
        println!("mpi_producer_consumer: {size} ranks ok");
    }
}
