//! MPI test of the parallel-io demo: the collectively written `.npy` file has the
//! right header and size, reads back equal with two row splits (checked inside
//! `run`), and holds arange(rows*cols) when read here by every rank with plain
//! `std::fs` too; shapes with rows not divisible by the ranks and with fewer rows
//! than ranks.
//!
//! Run under `mpiexec -n P` (by `cargo xtask mpi-test`), not by `cargo test`.

use std::path::PathBuf;

use mpi::traits::*;
use quicklb_examples::patterns::parallel_io;

fn main() {
    let universe = quicklb_transport::initialize();
    let world = universe.world();
    let (rank, size) = (world.rank(), world.size() as usize);

    // One file name for all ranks: rank 0's process id.
    let mut id = u64::from(std::process::id());
    world.process_at_rank(0).broadcast_into(&mut id);
    let path: PathBuf = std::env::temp_dir().join(format!("quicklb-mpi-parallel-io-{id}.npy"));

    for (rows, cols) in [(10, 6), (13, 3), (2, 4), (1, 1)] {
        let s = parallel_io::run(&world, &path, rows, cols).expect("parallel-io runs");
        assert_eq!(s.rows_per_rank.iter().sum::<usize>(), rows);
        assert_eq!(s.rows_per_rank.len(), size);
        assert_eq!(s.data_offset % 64, 0, "data aligned to 64 bytes");
        assert_eq!(s.file_bytes, (s.data_offset + rows * cols * 8) as u64);

        let bytes = std::fs::read(&path).expect("the file exists");
        assert_eq!(bytes.len() as u64, s.file_bytes);
        assert!(bytes.starts_with(b"\x93NUMPY"));
        let header = String::from_utf8_lossy(&bytes[10..s.data_offset]);
        assert!(
            header.contains(&format!("'shape': ({rows}, {cols})")),
            "{header}"
        );
        let values: Vec<f64> = bytes[s.data_offset..]
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
            .collect();
        let want: Vec<f64> = (0..rows * cols).map(|k| k as f64).collect();
        assert_eq!(
            values, want,
            "rank {rank}: file contents for {rows} x {cols}"
        );
        world.barrier(); // everyone has read before the next run replaces the file
    }
    if rank == 0 {
        std::fs::remove_file(&path).expect("remove the test file");
        println!("mpi_parallel_io: {size} ranks ok");
    }
}
