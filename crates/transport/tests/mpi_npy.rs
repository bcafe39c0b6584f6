//! Collective `.npy` I/O on any number of ranks: every rank writes its block of
//! rows (some ranks hold none), the file is read back equal with the same
//! distribution and with an even split, chunked transfers and strided views work,
//! an existing longer file is truncated, numpy loads the file (and writes one that
//! is read back) when python3 with numpy is present, and every error (unwritable
//! path, missing file, malformed file, mismatched columns, wrong row counts, a
//! shape whose size overflows, a sparse 1 TiB file, paths that differ by rank)
//! comes back on every rank without a hang. Files also open with `Info` hints.

use std::path::{Path, PathBuf};
use std::process::Command;

use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use ndarray::{s, Array2};
use quicklb_transport::io::{read_npy, read_npy_chunked, write_npy, write_npy_chunked, RowSplit};
use quicklb_transport::io::{read_npy_with, write_npy_with};
use quicklb_transport::{Error, Info, NpyError};

const COLS: usize = 5;

/// Rows held by `rank`: 2, 0, 3, 1, 2, 0, ...
fn rows_of(rank: usize) -> usize {
    [2, 0, 3, 1][rank % 4]
}

fn value(row: usize, col: usize) -> f64 {
    row as f64 * 1000.0 + col as f64 + 0.5
}

/// A unique file name under the temp dir, the same on every rank.
fn shared_path(world: &SimpleCommunicator, tag: &str) -> PathBuf {
    let mut stamp = [0u64; 2];
    if world.rank() == 0 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        stamp = [u64::from(std::process::id()), nanos];
    }
    world.process_at_rank(0).broadcast_into(&mut stamp[..]);
    std::env::temp_dir().join(format!("quicklb_{tag}_{}_{}.npy", stamp[0], stamp[1]))
}

fn numpy_available() -> bool {
    Command::new("python3")
        .args(["-c", "import numpy"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn python(script: &str, path: &Path) -> String {
    let out = Command::new("python3")
        .args(["-c", script, path.to_str().expect("UTF-8 temp path")])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "python3 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn main() {
    let universe = quicklb_transport::initialize();
    let world = universe.world();
    let rank = world.rank() as usize;
    let size = world.size() as usize;

    let my_rows = rows_of(rank);
    let first: usize = (0..rank).map(rows_of).sum();
    let total: usize = (0..size).map(rows_of).sum();
    let local = Array2::from_shape_fn((my_rows, COLS), |(i, j)| value(first + i, j));

    // 1. Write, read back with the same distribution and with an even split.
    let path = shared_path(&world, "npy");
    write_npy(&world, &path, local.view()).expect("write_npy");
    let back = read_npy(&world, &path, RowSplit::Count(my_rows)).expect("read_npy Count");
    assert_eq!(back, local, "read back with the writer's distribution");
    let even = read_npy(&world, &path, RowSplit::Even).expect("read_npy Even");
    let (even_first, even_rows) = RowSplit::even_slab(total, rank, size);
    assert_eq!(even.dim(), (even_rows, COLS));
    for ((i, j), &x) in even.indexed_iter() {
        assert_eq!(x, value(even_first + i, j), "even split element ({i}, {j})");
    }
    let header_len = quicklb_transport::io::npy_header(total, COLS).len();
    assert_eq!(header_len % 64, 0);
    let file_len = std::fs::metadata(&path).expect("file exists").len() as usize;
    assert_eq!(file_len, header_len + total * COLS * 8, "file length");

    // 2. numpy loads it, and writes a file this crate reads.
    let np_path = shared_path(&world, "numpy");
    let have_numpy = if rank == 0 { numpy_available() } else { false };
    let mut flag = [u8::from(have_numpy)];
    world.process_at_rank(0).broadcast_into(&mut flag[..]);
    let numpy_note = if flag[0] == 1 {
        if rank == 0 {
            let check = format!(
                "import sys, numpy as np\n\
                 a = np.load(sys.argv[1])\n\
                 assert a.dtype == np.float64 and a.flags.c_contiguous, a.dtype\n\
                 assert a.shape == ({total}, {COLS}), a.shape\n\
                 e = np.add.outer(np.arange({total}) * 1000.0, np.arange({COLS})) + 0.5\n\
                 assert np.array_equal(a, e)\n\
                 print('ok')"
            );
            assert_eq!(python(&check, &path), "ok", "numpy check of our file");
            let make = "import sys, numpy as np\n\
                        np.save(sys.argv[1], np.arange(21.0).reshape(7, 3))";
            python(make, &np_path);
        }
        world.barrier();
        let from_numpy = read_npy(&world, &np_path, RowSplit::Even).expect("read numpy's file");
        let (f, n) = RowSplit::even_slab(7, rank, size);
        let expected = Array2::from_shape_fn((n, 3), |(i, j)| ((f + i) * 3 + j) as f64);
        assert_eq!(from_numpy, expected, "numpy-written file");
        "numpy loads it and its own file reads back"
    } else {
        "numpy check skipped: `python3 -c 'import numpy'` failed (pip install numpy)"
    };

    // 3. Chunked transfers (3 elements per call, so ranks make different numbers of
    //    calls of their own but the same number of collective calls) and a strided
    //    view, over the existing, longer file (which must be truncated).
    let wide = Array2::from_shape_fn((my_rows, 2 * COLS), |(i, j)| {
        if j % 2 == 0 {
            value(first + i, j / 2) + 0.25
        } else {
            f64::NAN
        }
    });
    let strided = wide.slice(s![.., ..;2]);
    let small_rows = my_rows.min(1);
    write_npy_chunked(&world, &path, strided.slice(s![..small_rows, ..]), 3)
        .expect("chunked write");
    let small_total: usize = (0..size).map(|r| rows_of(r).min(1)).sum();
    let file_len = std::fs::metadata(&path).expect("file exists").len() as usize;
    assert_eq!(
        file_len,
        quicklb_transport::io::npy_header(small_total, COLS).len() + small_total * COLS * 8,
        "a longer existing file is truncated"
    );
    let back =
        read_npy_chunked(&world, &path, RowSplit::Count(small_rows), 2).expect("chunked read");
    assert_eq!(
        back,
        strided.slice(s![..small_rows, ..]),
        "chunked round trip"
    );

    // 4. MPI-IO hints where the file is opened (ROMIO's and OMPIO's keys; each
    //    library ignores the other's).
    let hints = Info::new()
        .with("cb_buffer_size", "1048576")
        .and_then(|i| i.with("romio_cb_write", "enable"))
        .and_then(|i| i.with("romio_cb_read", "enable"))
        .expect("valid hints");
    let hinted = shared_path(&world, "hinted");
    write_npy_with(&world, &hinted, local.view(), &hints).expect("write with hints");
    let back =
        read_npy_with(&world, &hinted, RowSplit::Count(my_rows), &hints).expect("read with hints");
    assert_eq!(back, local, "round trip with hints");

    // 5. Errors, on every rank and without a hang.
    let bad = Path::new("/nonexistent-quicklb-dir/sub/out.npy");
    match write_npy(&world, bad, local.view()) {
        Err(Error::Mpi { call, .. }) => assert_eq!(call, "MPI_File_open"),
        other => panic!("unwritable path gave {other:?}"),
    }
    match read_npy(&world, bad, RowSplit::Even) {
        Err(Error::Mpi { call, .. }) => assert_eq!(call, "MPI_File_open"),
        other => panic!("missing file gave {other:?}"),
    }
    let garbage = shared_path(&world, "garbage");
    if rank == 0 {
        std::fs::write(&garbage, b"this is not an npy file at all").expect("write garbage");
    }
    world.barrier();
    assert!(
        matches!(
            read_npy(&world, &garbage, RowSplit::Even),
            Err(Error::Format(NpyError::NoMagic))
        ),
        "malformed file"
    );
    // A header that promises more data than the file holds.
    if rank == 0 {
        let mut h = quicklb_transport::io::npy_header(1000, 1000);
        h.extend_from_slice(&[0u8; 64]);
        std::fs::write(&garbage, h).expect("write short file");
    }
    world.barrier();
    assert!(
        matches!(
            read_npy(&world, &garbage, RowSplit::Even),
            Err(Error::Format(NpyError::FileTooShort { .. }))
        ),
        "truncated file"
    );
    // A shape of 2^63 x 2^62 elements: its byte size overflows any integer type.
    if rank == 0 {
        let dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (9223372036854775808, 4611686018427387904), }";
        let mut h = b"\x93NUMPY\x01\x00".to_vec();
        h.extend_from_slice(&(dict.len() as u16 + 1).to_le_bytes());
        h.extend_from_slice(dict.as_bytes());
        h.push(b'\n');
        std::fs::write(&garbage, h).expect("write the huge header");
    }
    world.barrier();
    match read_npy(&world, &garbage, RowSplit::Even) {
        Err(Error::Format(NpyError::TooLarge { rows, cols })) => {
            assert_eq!((rows, cols), (1 << 63, 1 << 62))
        }
        other => panic!("rank {rank}: a shape of 2^63 x 2^62 gave {other:?}"),
    }
    // A sparse 1 TiB file with a valid header: no rank can hold its share, and every
    // rank says so before reading anything.
    let sparse = shared_path(&world, "sparse");
    let (huge_rows, huge_cols) = (1usize << 20, 1usize << 17); // 2^37 f64 = 1 TiB
    if rank == 0 {
        let header = quicklb_transport::io::npy_header(huge_rows, huge_cols);
        let file = std::fs::File::create(&sparse).expect("create the sparse file");
        use std::io::Write;
        (&file).write_all(&header).expect("write its header");
        file.set_len(header.len() as u64 + (1u64 << 40))
            .expect("a sparse 1 TiB file (needs a file system with sparse files)");
    }
    world.barrier();
    match read_npy(&world, &sparse, RowSplit::Even) {
        Err(Error::OutOfMemory { call, bytes }) => {
            assert_eq!(call, "read_npy");
            let share = (huge_rows.div_ceil(size as usize) * huge_cols * 8) as u64;
            assert_eq!(bytes, share, "the largest share that did not fit");
        }
        other => panic!("rank {rank}: reading 1 TiB gave {other:?}"),
    }
    if size > 1 {
        // Paths that differ by rank: an error on every rank, not a hang inside the
        // collective MPI_File_open.
        let own = shared_path(&world, &format!("rank{rank}"));
        for result in [
            write_npy(&world, &own, local.view()).map(drop),
            read_npy(&world, &own, RowSplit::Even).map(drop),
        ] {
            match result {
                Err(Error::InvalidArgument { reason, .. }) => {
                    assert!(reason.contains("differs between ranks"), "{reason}")
                }
                other => panic!("rank {rank}: paths that differ gave {other:?}"),
            }
        }
        assert!(!own.exists(), "no file was created");
    }
    if size > 1 {
        let cols = if rank == 1 { COLS + 1 } else { COLS };
        let uneven = Array2::<f64>::zeros((1, cols));
        assert!(
            matches!(
                write_npy(&world, &garbage, uneven.view()),
                Err(Error::InvalidArgument { .. })
            ),
            "mismatched columns"
        );
    }
    assert!(
        matches!(
            read_npy(&world, &path, RowSplit::Count(small_rows + 1)),
            Err(Error::InvalidArgument { .. })
        ),
        "row counts that do not add up"
    );

    world.barrier();
    if rank == 0 {
        for p in [&path, &np_path, &garbage, &sparse, &hinted] {
            let _ = std::fs::remove_file(p);
        }
        println!("mpi_npy: {size} ranks, {total}x{COLS} .npy round trip, chunked, errors ok; {numpy_note}");
    }
}
