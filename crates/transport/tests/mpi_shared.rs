//! Shared memory within a node:
//! - `node_map` on one machine (one node), and `node_map_of_groups` with an
//!   emulated 2-node split (rank % 2); `shares_one_node` (cached) on the world,
//!   a duplicate and a sub-communicator;
//! - a `SharedArray` where each rank writes its segment (lengths differ, some 0) and
//!   reads both neighbours' segments after `sync`, for several rounds;
//! - the whole array as one contiguous slice, and 2-D ndarray views of segments;
//! - a leaked `SharedView` (phases stay matched), and error cases (bad view shape,
//!   malformed node numbering, a length that overflows on one rank only: an error on
//!   every rank; so are element types that differ by rank, and segments whose
//!   total overflows).

use mpi::topology::Color;
use mpi::traits::*;
use quicklb_transport::{
    node_map, node_map_of_groups, shares_one_node, split_shared, Error, Info, NodeMap, SharedArray,
};

fn main() {
    let universe = quicklb_transport::initialize();
    let world = universe.world();
    let rank = world.rank();
    let size = world.size();

    // Node map: this test runs on one machine.
    let map = node_map(&world).expect("node_map");
    assert_eq!(map.num_nodes(), 1);
    assert_eq!(map.num_ranks(), size as usize);
    assert_eq!(map.ranks_on(0), (0..size as usize).collect::<Vec<_>>());
    assert!(map.same_node(0, size as usize - 1));
    // Emulated nodes: even ranks on node 0, odd ranks on node 1.
    let halves = world
        .split_by_color(Color::with_value(rank % 2))
        .expect("every rank gets a colour");
    let split = node_map_of_groups(&world, &halves).expect("node_map_of_groups");
    let expected: Vec<usize> = (0..size as usize).map(|r| r % 2).collect();
    assert_eq!(split.as_slice(), expected.as_slice());
    assert_eq!(split.num_nodes(), (size as usize).min(2));
    assert_eq!(
        split,
        NodeMap::from_nodes(expected).expect("valid numbering")
    );
    assert!(matches!(
        NodeMap::from_nodes(vec![1, 0]),
        Err(quicklb_partition::Error::NodeNumbering { .. })
    ));

    // SharedArray with uneven segment lengths (rank 0, 3, 6... own 0 elements).
    let node = split_shared(&world).expect("split_shared");
    assert_eq!(node.size(), size);

    // One machine: one node, the same answer from the cache (second call), on a
    // duplicate (copied attribute) and on a sub-communicator (its own split).
    // The several-node answer needs several machines; it is the same size test.
    for _ in 0..2 {
        assert!(shares_one_node(&world).expect("shares_one_node"));
    }
    assert!(shares_one_node(&world.duplicate()).expect("on a duplicate"));
    let half = world
        .split_by_color(Color::with_value(world.rank() % 2))
        .expect("a colour for every rank");
    assert!(shares_one_node(&half).expect("on a sub-communicator"));
    let me = node.rank() as usize;
    let n = size as usize;
    let len_of = |r: usize| (r * 2) % 3 + (r % 3 == 1) as usize * 3;
    let mut arr = SharedArray::<i64>::new(&node, len_of(me)).expect("SharedArray::new");
    assert_eq!(arr.num_segments(), n);
    assert_eq!(arr.segment_lens(), (0..n).map(len_of).collect::<Vec<_>>());
    assert!(arr.local().iter().all(|&v| v == 0), "segments start zeroed");
    let value = |r: usize, i: usize, round: usize| (r * 1000 + i + 100_000 * round) as i64;
    for round in 0..3 {
        for (i, v) in arr.local_mut().iter_mut().enumerate() {
            *v = value(me, i, round);
        }
        let view = arr.sync().expect("sync");
        for r in [(me + n - 1) % n, me, (me + 1) % n] {
            let seg = view.segment(r);
            assert_eq!(seg.len(), len_of(r));
            for (i, &v) in seg.iter().enumerate() {
                assert_eq!(v, value(r, i, round), "rank {me} reads rank {r}[{i}]");
            }
        }
        let all = view.all().expect("contiguous segments");
        let concat: Vec<i64> = (0..n)
            .flat_map(|r| (0..len_of(r)).map(move |i| value(r, i, round)))
            .collect();
        assert_eq!(all, concat.as_slice());
        view.release().expect("release");
    }

    // A leaked view: `local_mut` completes the read phase (a barrier on every rank).
    std::mem::forget(arr.sync().expect("sync"));
    arr.local_mut().fill(-1);
    {
        let view = arr.sync().expect("sync after leak");
        assert!(view.segment((me + 1) % n).iter().all(|&v| v == -1));
        // dropped here: the release barrier runs in drop
    }

    // 2-D fields: rank r owns r + 1 rows of 4 columns, like a row-split grid.
    const COLS: usize = 4;
    let mut field = SharedArray::<f64>::new(&world, (me + 1) * COLS).expect("2-D field");
    {
        let mut local = field.local_view_mut((me + 1, COLS)).expect("local view");
        for ((i, j), v) in local.indexed_iter_mut() {
            *v = (me * 100 + i * 10 + j) as f64;
        }
    }
    assert!(matches!(
        field.local_view((me + 2, COLS)),
        Err(Error::InvalidArgument { .. })
    ));
    let view = field.sync().expect("sync");
    let up = (me + n - 1) % n;
    let above = view
        .segment_view(up, (up + 1, COLS))
        .expect("neighbour rows");
    assert_eq!(
        above[[up, COLS - 1]],
        (up * 100 + up * 10 + COLS - 1) as f64
    );
    let total_rows = n * (n + 1) / 2;
    let grid = view.all_view((total_rows, COLS)).expect("whole grid");
    let first_row_of_me = me * (me + 1) / 2;
    assert_eq!(grid[[first_row_of_me, 2]], (me * 100 + 2) as f64);
    assert_eq!(view.local().len(), (me + 1) * COLS);
    view.release().expect("release");

    // A length that overflows on the last rank only: every rank gets an error
    // (agreed before the collective allocation), nobody hangs.
    let len = if rank == size - 1 { usize::MAX } else { 4 };
    match SharedArray::<f64>::new(&world, len) {
        Err(Error::InvalidArgument { reason, .. }) => {
            assert!(reason.contains(&format!("rank {}", size - 1)), "{reason}");
            assert!(reason.contains("overflow"), "{reason}");
        }
        other => panic!("rank {rank}: expected an error, got {other:?}"),
    }

    // An element type that differs by rank: the same error on every rank (agreed
    // before the collective allocation), nobody hangs.
    if size > 1 {
        let mixed = if rank == 0 {
            SharedArray::<u8>::new(&world, 32).map(drop)
        } else {
            SharedArray::<u64>::new(&world, 4).map(drop)
        };
        match mixed {
            Err(Error::InvalidArgument { reason, .. }) => {
                assert!(reason.contains("element type differs"), "{reason}")
            }
            other => panic!("rank {rank}: mixed element types gave {other:?}"),
        }
        // Lengths that each fit but add up to more than one node allocation can hold.
        let each = (isize::MAX as usize) / 8 / size as usize + 1;
        match SharedArray::<u64>::new(&world, each) {
            Err(Error::InvalidArgument { reason, .. }) => {
                assert!(reason.contains("add up"), "{reason}")
            }
            other => panic!("rank {rank}: an oversized node total gave {other:?}"),
        }
    }

    // Every rank owns nothing: still a valid (empty) array.
    let mut empty = SharedArray::<u8>::new(&world, 0).expect("empty array");
    assert_eq!(empty.total_len(), 0);
    assert_eq!(
        empty.sync().expect("sync").all().expect("all"),
        &[] as &[u8]
    );

    // Hints: a harmless one works; hints that differ by rank and the hints this type
    // cannot honour are the same error on every rank.
    let hinted = Info::new().with("accumulate_ops", "same_op").expect("hint");
    let mut with_hints = SharedArray::<f64>::new_with_info(&world, 3, &hinted).expect("hinted");
    with_hints.local_mut().fill(f64::from(rank));
    assert_eq!(
        with_hints.sync().expect("sync").all().expect("all").len(),
        3 * size as usize
    );
    drop(with_hints);
    let refused =
        |info: Info, expect: &str| match SharedArray::<f64>::new_with_info(&world, 3, &info) {
            Err(Error::InvalidArgument { reason, .. }) => {
                assert!(reason.contains(expect), "rank {rank}: {reason}")
            }
            other => panic!("rank {rank}: hints {info:?} gave {other:?}"),
        };
    refused(
        Info::new().with("no_locks", "true").expect("hint"),
        "no_locks",
    );
    refused(
        Info::new()
            .with("alloc_shared_noncontig", "true")
            .expect("hint"),
        "contiguous",
    );
    if size > 1 {
        let mine = Info::new()
            .with("quicklb_test", &rank.to_string())
            .expect("hint");
        assert!(
            matches!(
                SharedArray::<f64>::new_with_info(&world, 3, &mine),
                Err(Error::InvalidArgument { .. })
            ),
            "rank {rank}: hints that differ by rank must fail everywhere"
        );
    }

    drop((arr, field, empty));
    world.barrier();
    if rank == 0 {
        println!("mpi_shared: {size} ranks ok (node map, uneven segments x3 rounds, contiguous, 2-D views, leaked view, errors)");
    }
}
