//! RMA windows under all three synchronisation modes, on any number of ranks:
//! fence put (rank 0 puts 42 into rank 1, or into itself on one rank), fence
//! accumulate of rank+1 into rank 0, lock/get of the right neighbour's value,
//! lock_all gets from every rank, exclusive lock + flush, fetch_and_op tickets,
//! a PSCW ring exchange,
//! an allocated window with uneven (zero) sizes, and argument validation.

use mpi::collective::SystemOperation;
use mpi::traits::*;
use quicklb_transport::rma::{Assert, LockType, Window};
use quicklb_transport::Error;

fn main() {
    let universe = mpi::initialize().expect("MPI initialises once");
    quicklb_transport::abort_on_panic();
    let world = universe.world();
    let rank = world.rank();
    let size = world.size();
    let right = (rank + 1) % size;
    let left = (rank + size - 1) % size;

    // 1. Fence put: rank 0 puts 42 into rank 1's slot 0 (into itself on one rank).
    let put_target = if size > 1 { 1 } else { 0 };
    let mut memory = vec![0i32; 4];
    {
        let mut win = Window::create(&world, &mut memory).expect("MPI_Win_create");
        assert_eq!(win.sizes(), vec![4; size as usize].as_slice());
        let value = [42i32];
        win.fence_with(Assert::NOPRECEDE, Assert::NONE, |epoch| {
            if rank == 0 {
                epoch.put(&value, put_target, 0).expect("put");
            }
        })
        .expect("fence put");
        let expected = if rank == put_target { 42 } else { 0 };
        assert_eq!(win.local()[0], expected, "slot 0 after the fence put");

        // 2. Fence accumulate: every rank adds rank+1 into rank 0's slot 1.
        let mine = [rank + 1];
        win.fence(|epoch| epoch.accumulate(&mine, 0, 1, SystemOperation::sum()))
            .expect("fence")
            .expect("accumulate");
        if rank == 0 {
            assert_eq!(win.local()[1], size * (size + 1) / 2, "accumulated sum");
        }

        // 3. Fence get: every rank reads rank 0's sum back.
        let mut sum = [0i32];
        win.fence_with(Assert::NONE, Assert::NOSUCCEED, |epoch| {
            epoch.get(&mut sum, 0, 1)
        })
        .expect("fence")
        .expect("get");
        assert_eq!(sum[0], size * (size + 1) / 2, "sum read back with get");
    }
    assert_eq!(memory[0], if rank == put_target { 42 } else { 0 });

    // 4. Passive target on an allocated window.
    let mut win = Window::<i64>::allocate(&world, 3).expect("MPI_Win_allocate");
    assert!(win.is_allocated());
    assert!(
        win.local().iter().all(|&x| x == 0),
        "allocated memory is zeroed"
    );
    win.local_mut()[0] = 1000 + i64::from(rank);
    world.barrier();
    let mut got = [0i64];
    win.lock(right, LockType::Shared, |epoch| {
        epoch.get(&mut got, right, 0)
    })
    .expect("lock")
    .expect("get");
    assert_eq!(
        got[0],
        1000 + i64::from(right),
        "lock/get of the right neighbour"
    );

    // lock_all: read slot 0 of every rank.
    let mut all = vec![0i64; size as usize];
    win.lock_all(|epoch| {
        for (target, slot) in all.chunks_mut(1).enumerate() {
            epoch.get(slot, target as i32, 0)?;
        }
        epoch.flush_all()
    })
    .expect("lock_all")
    .expect("gets");
    let expected: Vec<i64> = (0..size).map(|r| 1000 + i64::from(r)).collect();
    assert_eq!(all, expected, "lock_all gets");

    // Exclusive lock: everyone adds one into slot 1 of rank 0, with a flush.
    world.barrier();
    let one = [1i64];
    win.lock(0, LockType::Exclusive, |epoch| {
        epoch.accumulate(&one, 0, 1, SystemOperation::sum())?;
        epoch.flush(0)
    })
    .expect("lock")
    .expect("accumulate + flush");
    world.barrier();
    if rank == 0 {
        let mut count = [0i64];
        win.lock(0, LockType::Shared, |epoch| epoch.get(&mut count, 0, 1))
            .expect("lock")
            .expect("get");
        assert_eq!(count[0], i64::from(size), "exclusive-lock increments");
    }
    world.barrier();

    // Tickets: every rank takes one from a counter in rank 0's slot 0 with
    // fetch_and_op under a shared lock; the tickets are 0..size in some order.
    if rank == 0 {
        win.local_mut()[0] = 0;
    }
    world.barrier();
    let mut ticket = -1i64;
    let step = 1i64;
    win.lock(0, LockType::Shared, |epoch| {
        epoch.fetch_and_op(&step, &mut ticket, 0, 0, SystemOperation::sum())
    })
    .expect("lock")
    .expect("fetch_and_op");
    let mut tickets = vec![0i64; size as usize];
    world.all_gather_into(&ticket, &mut tickets[..]);
    tickets.sort_unstable();
    let expected: Vec<i64> = (0..i64::from(size)).collect();
    assert_eq!(tickets, expected, "fetch_and_op tickets");
    world.barrier();

    // 5. PSCW ring: each rank puts its rank into the right neighbour's slot 2.
    let world_group = world.group();
    let origins = world_group.include(&[left]);
    let targets = world_group.include(&[right]);
    let me = [i64::from(rank)];
    win.pscw(&origins, &targets, |epoch| epoch.put(&me, right, 2))
        .expect("pscw")
        .expect("put");
    assert_eq!(win.local()[2], i64::from(left), "PSCW value from the left");

    // Separate access and exposure epochs: rank 0 writes into the last rank.
    if size > 1 {
        let seven = [7i64];
        if rank == 0 {
            let g = world_group.include(&[size - 1]);
            win.access(&g, |epoch| epoch.put(&seven, size - 1, 1))
                .expect("access")
                .expect("put");
        } else if rank == size - 1 {
            let g = world_group.include(&[0]);
            win.exposure(&g, || ()).expect("exposure");
            assert_eq!(win.local()[1], 7, "value put in the PSCW access epoch");
        }
    }

    // 6. Validation: out-of-range displacement, bad rank, flush outside passive.
    let big = [0i64; 2];
    let results = win
        .fence(|epoch| {
            let past_end = epoch.put(&big, right, 2);
            let bad_rank = epoch.put(&one, size, 0);
            let flush = epoch.flush(0);
            (past_end, bad_rank, flush)
        })
        .expect("fence");
    assert!(matches!(results.0, Err(Error::InvalidArgument { .. })));
    assert!(matches!(results.1, Err(Error::InvalidArgument { .. })));
    assert!(matches!(results.2, Err(Error::InvalidArgument { .. })));
    let wrong_target = win.lock(right, LockType::Shared, |epoch| epoch.put(&one, left, 0));
    if size > 1 && left != right {
        assert!(matches!(
            wrong_target,
            Ok(Err(Error::InvalidArgument { .. }))
        ));
    }
    assert!(matches!(
        win.lock(size, LockType::Shared, |_| ()),
        Err(Error::InvalidArgument { .. })
    ));
    drop(win);

    // 7. Uneven sizes, including empty windows: rank r holds r elements.
    let mut uneven = Window::<f64>::allocate(&world, rank as usize).expect("allocate");
    let sizes: Vec<usize> = (0..size as usize).collect();
    assert_eq!(uneven.sizes(), sizes.as_slice());
    let x = [f64::from(rank)];
    let mut scratch = [0.0f64];
    uneven
        .fence(|epoch| {
            let last = size - 1;
            if last > 0 {
                epoch.accumulate(&x, last, 0, SystemOperation::max())?;
            }
            // Rank 0's window is empty: any access is rejected.
            assert!(epoch.get(&mut scratch, 0, 0).is_err());
            Ok::<_, Error>(())
        })
        .expect("fence")
        .expect("accumulate max");
    if rank == size - 1 && size > 1 {
        assert_eq!(uneven.local()[0], f64::from(size - 1), "max accumulate");
    }
    drop(uneven);

    if rank == 0 {
        println!("mpi_rma: {size} ranks, fence put/accumulate/get, lock/lock_all/flush, fetch_and_op, PSCW, validation ok");
    }
}
