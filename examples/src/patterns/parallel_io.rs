//! Parallel I/O: a `rows × cols` array is split in row blocks over the ranks
//! (the first `rows % size` ranks get one row more; ranks may get none), and every
//! rank writes its rows into **one** `.npy` file collectively
//! ([`quicklb_transport::write_npy`]: rank 0 writes the header, every rank its rows
//! with `MPI_File_write_at_all` at its offset). The file is then read back
//! collectively twice, with the same split and with the split reversed (rank `r`
//! reads as many rows as rank `size - 1 - r` wrote), and rank 0 also reads it with a
//! plain `std::fs::read` and checks header and data.
//!
//! Element `(i, j)` is `i * cols + j`, so `numpy.load` gives
//! `numpy.arange(rows * cols).reshape(rows, cols)` (as `float64`).

use std::path::{Path, PathBuf};

use mpi::collective::SystemOperation;
use mpi::topology::Communicator;
use mpi::traits::*;
use ndarray::Array2;
use quicklb_transport::io::parse_npy_header;
use quicklb_transport::{read_npy, write_npy, RowSplit};

use super::{even_block, Error, Result};

/// What [`run`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParallelIoSummary {
    /// Global shape.
    pub rows: usize,
    /// Global shape.
    pub cols: usize,
    /// Rows written by every rank, indexed by rank.
    pub rows_per_rank: Vec<usize>,
    /// The file written.
    pub path: PathBuf,
    /// Size of the file in bytes.
    pub file_bytes: u64,
    /// Byte offset of the data (header length).
    pub data_offset: usize,
}

/// Element `(i, j)` of the global array.
pub fn value(i: usize, j: usize, cols: usize) -> f64 {
    (i * cols + j) as f64
}

/// The rows `first..first + count` of the global array.
fn block(first: usize, count: usize, cols: usize) -> Array2<f64> {
    Array2::from_shape_fn((count, cols), |(i, j)| value(first + i, j, cols))
}

/// Writes, reads back and checks (collective over `comm`). The file stays at
/// `path`; errors come back on every rank.
pub fn run<C: Communicator>(
    comm: &C,
    path: &Path,
    rows: usize,
    cols: usize,
) -> Result<ParallelIoSummary> {
    let (rank, size) = (comm.rank() as usize, comm.size() as usize);
    if rows.checked_mul(cols).is_none_or(|n| n >= 1 << 53) {
        return Err(Error::Invalid(format!(
            "a {rows} x {cols} array is too large for exact f64 element values"
        )));
    }
    let rows_per_rank: Vec<usize> = (0..size).map(|r| even_block(rows, r, size).1).collect();
    let (first, count) = even_block(rows, rank, size);
    let local = block(first, count, cols);

    write_npy(comm, path, local.view()).map_err(Error::Collective)?;

    // Same split: every rank gets its own rows back.
    let same = read_npy(comm, path, RowSplit::Count(count)).map_err(Error::Collective)?;
    let mut bad = u64::from(same != local);
    // Reversed split: rank r reads as many rows as rank size-1-r wrote.
    let reversed: Vec<usize> = rows_per_rank.iter().rev().copied().collect();
    let rev_first: usize = reversed[..rank].iter().sum();
    let other = read_npy(comm, path, RowSplit::Count(reversed[rank])).map_err(Error::Collective)?;
    bad += u64::from(other != block(rev_first, reversed[rank], cols));
    let mut bad_total = 0u64;
    comm.all_reduce_into(&bad, &mut bad_total, SystemOperation::sum());
    if bad_total > 0 {
        return Err(Error::Check(format!(
            "{bad_total} collective read-backs differ from what was written"
        )));
    }

    // Rank 0 checks the file as a plain reader (numpy) sees it; the verdict is
    // broadcast so that every rank returns the same result.
    let mut verdict = (0u64, 0u64, 0u64); // (ok, file bytes, data offset)
    if rank == 0 {
        verdict = match check_file(path, rows, cols) {
            Ok((bytes, offset)) => (1, bytes, offset as u64),
            Err(e) => {
                eprintln!("parallel-io: {e}");
                (0, 0, 0)
            }
        };
    }
    let mut packed = [verdict.0, verdict.1, verdict.2];
    comm.process_at_rank(0).broadcast_into(&mut packed[..]);
    if packed[0] != 1 {
        return Err(Error::Check(format!(
            "rank 0 found {} wrong when reading it back with std::fs",
            path.display()
        )));
    }
    Ok(ParallelIoSummary {
        rows,
        cols,
        rows_per_rank,
        path: path.to_path_buf(),
        file_bytes: packed[1],
        data_offset: packed[2] as usize,
    })
}

/// Reads the whole file and checks header, size and every element.
fn check_file(path: &Path, rows: usize, cols: usize) -> Result<(u64, usize)> {
    let bytes = std::fs::read(path)
        .map_err(|e| Error::Check(format!("cannot read {}: {e}", path.display())))?;
    let header = parse_npy_header(&bytes)?;
    if (header.rows, header.cols) != (rows, cols) {
        return Err(Error::Check(format!(
            "header says shape ({}, {}), expected ({rows}, {cols})",
            header.rows, header.cols
        )));
    }
    let data = &bytes[header.data_offset..];
    if data.len() != rows * cols * 8 {
        return Err(Error::Check(format!(
            "{} data bytes, expected {}",
            data.len(),
            rows * cols * 8
        )));
    }
    for (k, chunk) in data.chunks_exact(8).enumerate() {
        let got = f64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        let want = value(k / cols.max(1), k % cols.max(1), cols);
        if got != want {
            return Err(Error::Check(format!(
                "element ({}, {}) is {got}, expected {want}",
                k / cols,
                k % cols
            )));
        }
    }
    Ok((bytes.len() as u64, header.data_offset))
}

impl ParallelIoSummary {
    /// The lines rank 0 prints.
    pub fn lines(&self) -> Vec<String> {
        let reversed: Vec<usize> = self.rows_per_rank.iter().rev().copied().collect();
        vec![
            format!(
                "parallel-io: {} ranks wrote their rows {:?} of a {} x {} array into {} collectively",
                self.rows_per_rank.len(),
                self.rows_per_rank,
                self.rows,
                self.cols,
                self.path.display()
            ),
            format!(
                "file: {} bytes, .npy header {} bytes, data {} bytes (float64, C order)",
                self.file_bytes,
                self.data_offset,
                self.file_bytes - self.data_offset as u64
            ),
            format!(
                "read back collectively with rows per rank {:?} and {:?}: equal to what was written",
                self.rows_per_rank, reversed
            ),
            format!(
                "rank 0 read the file with std::fs: header and all {} elements checked; numpy.load gives arange({}).reshape({}, {})",
                self.rows * self.cols,
                self.rows * self.cols,
                self.rows,
                self.cols
            ),
        ]
    }
}
