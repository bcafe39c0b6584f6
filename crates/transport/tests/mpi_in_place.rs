//! Persistent messages over lent buffers (`quicklb_transport::InPlaceSet`):
//! - a ring of a field's boundary blocks: each rank sends blocks of its own
//!   buffer (in an order that differs from memory order, one block repeated)
//!   and receives into other blocks, over several rounds with new values each
//!   time; the received cells hold the neighbour's values, every other cell
//!   keeps its own;
//! - two buffers in one round (one message each way per buffer);
//! - a buffer that moves (a new allocation every round): the requests follow it;
//! - wrong buffers at `run` (count, length): `InvalidArgument`, nothing started,
//!   and the next correct round still works;
//! - build errors, on every rank: a block outside its buffer, receive blocks
//!   overlapping each other or a send block, a buffer number out of range, and a
//!   bad block on one rank only.

use std::ops::Range;

use mpi::traits::*;
use quicklb_transport::{Error, InPlaceSet};

/// Cells of the test buffer: `0..4` ghosts from the left, `4..10` sent left and
/// right, `10..14` ghosts from the right, `14..16` untouched.
const LEN: usize = 16;

/// Value of cell `k` of `rank`'s buffer in round `round`.
fn value(rank: i32, round: usize, k: usize) -> f64 {
    (rank * 1000) as f64 + (round * 100) as f64 + k as f64
}

/// What a rank sends to the right (received by the right neighbour into its
/// left ghosts `0..4`), and to the left (into its right ghosts `10..14`).
fn to_right() -> [Range<usize>; 2] {
    [8..10, 4..6]
}
fn to_left() -> [Range<usize>; 3] {
    [5..7, 4..5, 4..5]
}

fn main() {
    let universe = quicklb_transport::initialize();
    let world = universe.world();
    let (rank, size) = (world.rank(), world.size());
    let right = (rank + 1) % size;
    let left = (rank + size - 1) % size;

    // 1. A ring, several rounds, blocks out of memory order and repeated.
    let mut set = InPlaceSet::<f64>::builder(&world, &[LEN])
        .send(right, 0, 0, to_right())
        .send(left, 1, 0, to_left())
        .recv(left, 0, 0, [0..4])
        .recv(right, 1, 0, [10..14])
        .build()
        .expect("ring builds");
    assert_eq!((set.num_sends(), set.num_recvs()), (2, 2));
    let mut buf = vec![0.0; LEN];
    for round in 0..4 {
        for (k, x) in buf.iter_mut().enumerate() {
            *x = value(rank, round, k);
        }
        set.run([&mut buf[..]]).expect("ring round");
        check_ring(&buf, rank, left, right, round);
    }

    // 2. Two buffers, one message each way per buffer; 3. a buffer that moves.
    let mut two = InPlaceSet::<f64>::builder(&world, &[LEN, 4])
        .send(right, 0, 0, to_right())
        .recv(left, 0, 0, [0..4])
        .send(right, 0, 1, [3..4])
        .recv(left, 0, 1, [0..1])
        .build()
        .expect("two buffers build");
    for round in 0..3 {
        // A new allocation every round: the set must create its requests anew.
        let mut a: Vec<f64> = (0..LEN).map(|k| value(rank, round, k)).collect();
        let mut b: Vec<f64> = (0..4).map(|k| value(rank, round, k + 50)).collect();
        two.run([&mut a[..], &mut b[..]]).expect("two-buffer round");
        let sent: Vec<usize> = to_right().into_iter().flatten().collect();
        for (k, &x) in a[0..4].iter().enumerate() {
            assert_eq!(
                x,
                value(left, round, sent[k]),
                "rank {rank} round {round} a[{k}]"
            );
        }
        assert_eq!(
            a[4..],
            (4..LEN).map(|k| value(rank, round, k)).collect::<Vec<_>>()[..]
        );
        assert_eq!(
            b[0],
            value(left, round, 53),
            "rank {rank} round {round} b[0]"
        );
        assert_eq!(b[1..], [51, 52, 53].map(|k| value(rank, round, k))[..]);
    }

    // 4. Wrong buffers at run: refused before anything starts; the set still works.
    let mut short = vec![0.0; LEN - 1];
    let refused =
        |r: quicklb_transport::Result<()>| matches!(r, Err(Error::InvalidArgument { .. }));
    assert!(refused(set.run([&mut short[..]])), "short buffer");
    assert!(
        refused(set.run(std::iter::empty::<&mut [f64]>())),
        "no buffer"
    );
    let mut extra = vec![0.0; LEN];
    assert!(
        refused(set.run([&mut buf[..], &mut extra[..]])),
        "two buffers"
    );
    for (k, x) in buf.iter_mut().enumerate() {
        *x = value(rank, 9, k);
    }
    set.run([&mut buf[..]]).expect("round after refusals");
    check_ring(&buf, rank, left, right, 9);

    // 5. Build errors, the same on every rank.
    let bad = |builder: quicklb_transport::InPlaceSetBuilder<'_, f64>, what: &str| {
        assert!(
            matches!(builder.build(), Err(Error::InvalidArgument { .. })),
            "rank {rank}: {what} must be refused"
        );
    };
    bad(
        InPlaceSet::builder(&world, &[LEN]).send(right, 0, 0, [LEN - 1..LEN + 1]),
        "a block past the end",
    );
    bad(
        InPlaceSet::builder(&world, &[LEN])
            .recv(left, 0, 0, [0..4])
            .recv(right, 1, 0, [3..5]),
        "overlapping receives",
    );
    bad(
        InPlaceSet::builder(&world, &[LEN])
            .send(right, 0, 0, [2..6])
            .recv(left, 0, 0, [5..9]),
        "a receive over a send",
    );
    bad(
        InPlaceSet::builder(&world, &[LEN]).recv(left, 0, 1, [0..1]),
        "buffer 1 of 1",
    );
    let end = if rank == size - 1 { LEN + 1 } else { LEN };
    bad(
        InPlaceSet::builder(&world, &[LEN]).send(right, 0, 0, [0..end]),
        "a bad block on the last rank only",
    );
    // Overlapping sends are allowed, and their blocks are still checked apart from
    // the receives.
    InPlaceSet::<f64>::builder(&world, &[LEN])
        .send(right, 0, 0, [0..8, 4..12])
        .recv(left, 0, 0, [12..16])
        .build()
        .expect("overlapping sends build");

    if rank == 0 {
        println!("mpi_in_place: {size} ranks ok");
    }
}

/// After a ring round: ghosts hold the neighbours' sent cells, in message
/// order; all other cells keep this rank's values of `round`.
fn check_ring(buf: &[f64], rank: i32, left: i32, right: i32, round: usize) {
    let from_left: Vec<usize> = to_right().into_iter().flatten().collect();
    let from_right: Vec<usize> = to_left().into_iter().flatten().collect();
    for (k, &x) in buf.iter().enumerate() {
        let expected = match k {
            0..4 => value(left, round, from_left[k]),
            10..14 => value(right, round, from_right[k - 10]),
            _ => value(rank, round, k),
        };
        assert_eq!(x, expected, "rank {rank} round {round} cell {k}");
    }
}
