//! The watchdog (`Builder::watchdog`): on every rank count, a balancer with a
//! watchdog runs build, partition, iterate and report without tripping it.
//!
//! With one rank (the harness's `--ranks 1` run), the program also starts
//! itself as a child job of 2 ranks (`mpiexec -n 2`, or `$QUICKLB_MPIEXEC`) in
//! which rank 0 calls `partition()` and rank 1 does not (a user bug that would
//! hang for ever): the child job must end within a few seconds of the 2 s
//! limit, with a non-zero exit status and the watchdog's message naming the
//! call, the rank and the step. The harness expects every test program to exit
//! 0, so the failing job is this program's child, checked here.

mod child_job;

use std::time::Duration;

use mpi::traits::*;
use quicklb::LoadBalancer;

const CHILD: &str = "QUICKLB_WATCHDOG_CHILD";
const LIMIT: Duration = Duration::from_secs(2);

fn child(world: &impl Communicator) {
    let mut lb = LoadBalancer::<f64>::builder(world, 4)
        .watchdog(Some(LIMIT))
        .build()
        .expect("build");
    let mut cells = vec![0.0; 4];
    lb.iterate(&mut cells, |c| *c += 1.0).expect("iterate");
    if world.rank() == 0 {
        let _ = lb.partition();
        eprintln!("watchdog child: partition() returned on rank 0");
    } else {
        std::thread::sleep(Duration::from_secs(60));
    }
}

fn parent() {
    let job = child_job::run(CHILD, 2, Duration::from_secs(90));
    let (text, elapsed) = (&job.text, job.elapsed);
    assert!(!job.success, "the child job succeeded:\n{text}");
    assert!(
        text.contains("quicklb watchdog: partition() on rank 0 (step 1)"),
        "no watchdog message:\n{text}"
    );
    assert!(!text.contains("partition() returned"), "{text}");
    // The limit, plus starting two ranks on a loaded machine and tearing down.
    assert!(
        elapsed < LIMIT + Duration::from_secs(40),
        "the child job took {elapsed:?}"
    );
    println!("mpi_watchdog: the child job aborted after {elapsed:.2?}");
}

fn main() {
    let universe = mpi::initialize().expect("MPI initialises once");
    let world = universe.world();
    if std::env::var_os(CHILD).is_some() {
        child(&world);
        return;
    }
    quicklb_transport::abort_on_panic();
    // With every rank taking part, the watchdog stays quiet.
    let n = 10 + world.rank() as usize * 5;
    let mut cells = vec![0u64; n];
    let mut lb = LoadBalancer::<u64>::builder(&world, n)
        .watchdog(Some(LIMIT))
        .build()
        .expect("build");
    for _ in 0..3 {
        lb.partition().expect("partition");
        lb.iterate(&mut cells, |c| *c += 1).expect("iterate");
    }
    lb.report().expect("report");
    assert!(cells.iter().all(|&c| c == 3));
    if world.size() == 1 {
        drop(lb);
        parent();
    }
    if world.rank() == 0 {
        println!("mpi_watchdog: ok on {} ranks", world.size());
    }
}
