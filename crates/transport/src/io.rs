//! Collective MPI-IO of row-distributed 2-D `f64` arrays as `.npy` files.
//!
//! Each rank holds a contiguous block of rows (any number, 0 included) of one
//! global `(total_rows, cols)` array; the blocks are in rank order. [`write_npy`]
//! stores the global array as a NumPy `.npy` file (format 1.0, `'<f8'`, C order):
//! rank 0 writes the header, padded so that the data starts at a multiple of 64
//! bytes, and every rank writes its rows with `MPI_File_write_at_all` at the offset
//! given by an exclusive scan of the row counts. [`read_npy`] is the matching
//! collective read: rank 0 parses and validates the header and broadcasts it, and
//! every rank reads the rows that a [`RowSplit`] assigns to it with
//! `MPI_File_read_at_all`.
//!
//! Both functions are collective over the communicator and agree on errors: an
//! unwritable path, a missing or malformed file, or inconsistent arguments come back
//! as an error on every rank (no rank is left waiting in a collective). File handles
//! get `MPI_ERRORS_RETURN`. Transfers longer than [`IO_CHUNK`] elements are split
//! into several collective calls, the same number on every rank, so MPI's `int`
//! counts never overflow; file offsets are `MPI_Offset` (64-bit).
//!
//! ```no_run
//! use mpi::traits::*;
//! use ndarray::Array2;
//! use quicklb_transport::io::{read_npy, write_npy, RowSplit};
//!
//! let universe = mpi::initialize().unwrap();
//! let world = universe.world();
//! let rank = world.rank() as usize;
//! // Rank r holds r + 1 rows of a 4-column array.
//! let local = Array2::<f64>::from_elem((rank + 1, 4), rank as f64);
//! write_npy(&world, "field.npy", local.view())?;
//! // Read it back with the same distribution, or an even split of the rows.
//! let same = read_npy(&world, "field.npy", RowSplit::Count(rank + 1))?;
//! assert_eq!(same, local);
//! let even = read_npy(&world, "field.npy", RowSplit::Even)?;
//! # let _ = even;
//! # Ok::<(), quicklb_transport::Error>(())
//! ```

use std::ffi::{c_int, c_void, CString};
use std::path::Path;

use mpi::collective::SystemOperation;
use mpi::ffi;
use mpi::topology::Communicator;
use mpi::traits::*;
use ndarray::{Array2, ArrayView2};

use crate::error::{check, invalid, Error, Result};

/// Largest number of `f64` elements moved by one MPI-IO call (2^27, 1 GiB).
/// Longer transfers are split into several collective calls.
pub const IO_CHUNK: usize = 1 << 27;

/// The alignment of the data section of files written by [`write_npy`].
pub const NPY_ALIGN: usize = 64;

const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// Which rows of the file a rank reads in [`read_npy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowSplit {
    /// This rank reads this many rows, following the rows of lower ranks. The counts
    /// of all ranks must add up to the file's row count (checked on every rank).
    Count(usize),
    /// Rows split into contiguous slabs as evenly as possible: with `n` rows on `p`
    /// ranks, rank `r` gets `n / p` rows, plus one if `r < n % p`.
    Even,
}

impl RowSplit {
    /// The `(first_row, row_count)` of `rank` out of `size` ranks for an
    /// [`RowSplit::Even`] split of `rows` rows.
    ///
    /// The workspace's one block split, [`quicklb_partition::even_block`].
    /// Panics if `size == 0` or `rank >= size`.
    pub fn even_slab(rows: usize, rank: usize, size: usize) -> (usize, usize) {
        let slab = quicklb_partition::even_block(rows, size, rank);
        (slab.start, slab.len())
    }
}

/// What an `.npy` header says about a 2-D `f64` array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NpyHeader {
    /// Number of rows (first dimension).
    pub rows: usize,
    /// Number of columns (second dimension).
    pub cols: usize,
    /// Byte offset of the data in the file (magic, version, length and header).
    pub data_offset: usize,
}

/// The complete `.npy` (format 1.0) header for a C-order `'<f8'` array of shape
/// `(rows, cols)`, padded with spaces and a final newline so that its length is a
/// multiple of [`NPY_ALIGN`].
///
/// ```
/// let header = quicklb_transport::io::npy_header(3, 2);
/// assert_eq!(header.len() % 64, 0);
/// assert!(header.starts_with(b"\x93NUMPY\x01\x00"));
/// let parsed = quicklb_transport::io::parse_npy_header(&header).unwrap();
/// assert_eq!((parsed.rows, parsed.cols, parsed.data_offset), (3, 2, header.len()));
/// ```
pub fn npy_header(rows: usize, cols: usize) -> Vec<u8> {
    let dict = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    // magic (6) + version (2) + header length (2) + dict + padding + '\n'
    let unpadded = 10 + dict.len() + 1;
    let total = unpadded.div_ceil(NPY_ALIGN) * NPY_ALIGN;
    let header_len = total - 10;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header_len as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out.resize(total - 1, b' ');
    out.push(b'\n');
    out
}

/// Parses the start of an `.npy` file (versions 1.0, 2.0 and 3.0) and checks that
/// it describes a 2-D, C-order, little-endian `f64` array. `bytes` must contain the
/// whole header; more bytes after it are ignored.
pub fn parse_npy_header(bytes: &[u8]) -> Result<NpyHeader> {
    let format = |m: String| Error::Format(format!("not a 2-D '<f8' .npy file: {m}"));
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(format("missing the \\x93NUMPY magic".into()));
    }
    let (dict_start, header_len) = match bytes[6] {
        1 => (10, u16::from_le_bytes([bytes[8], bytes[9]]) as usize),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(format("truncated header".into()));
            }
            let len = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
            (12, len as usize)
        }
        v => return Err(format(format!("unsupported format version {v}"))),
    };
    let end = dict_start + header_len;
    if bytes.len() < end {
        return Err(format(format!(
            "header of {header_len} bytes is truncated ({} bytes available)",
            bytes.len().saturating_sub(dict_start)
        )));
    }
    let dict = std::str::from_utf8(&bytes[dict_start..end])
        .map_err(|_| format("header is not text".into()))?;
    let descr = dict_value(dict, "descr").ok_or_else(|| format("no 'descr'".into()))?;
    let descr = descr.trim_matches(|c| c == '\'' || c == '"');
    if descr != "<f8" && !(descr == "=f8" && cfg!(target_endian = "little")) {
        return Err(format(format!("dtype '{descr}' is not '<f8'")));
    }
    let order =
        dict_value(dict, "fortran_order").ok_or_else(|| format("no 'fortran_order'".into()))?;
    if order != "False" {
        return Err(format(format!("fortran_order is {order}, need False")));
    }
    let shape = dict_value(dict, "shape").ok_or_else(|| format("no 'shape'".into()))?;
    let dims: Vec<&str> = shape
        .trim_start_matches('(')
        .trim_end_matches(')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if dims.len() != 2 {
        return Err(format(format!("shape {shape} is not 2-D")));
    }
    let dim = |s: &str| {
        s.parse::<usize>()
            .map_err(|_| format(format!("bad dimension '{s}' in shape {shape}")))
    };
    Ok(NpyHeader {
        rows: dim(dims[0])?,
        cols: dim(dims[1])?,
        data_offset: end,
    })
}

/// The text of the value of `key` in a Python dict literal with simple values
/// (quoted strings, `True`/`False`, tuples of integers).
fn dict_value<'d>(dict: &'d str, key: &str) -> Option<&'d str> {
    let at = dict
        .find(&format!("'{key}'"))
        .or_else(|| dict.find(&format!("\"{key}\"")))?;
    let rest = dict[at + key.len() + 2..].trim_start().strip_prefix(':')?;
    let rest = rest.trim_start();
    let end = match rest.chars().next()? {
        '(' => rest.find(')')? + 1,
        q @ ('\'' | '"') => rest[1..].find(q)? + 2,
        _ => rest.find([',', '}']).unwrap_or(rest.len()),
    };
    Some(rest[..end].trim())
}

/// Writes the row blocks of all ranks of `comm` as one `.npy` file at `path`
/// (collective). `local` is this rank's block of rows, possibly empty; the blocks
/// are stacked in rank order. All ranks with rows must have the same number of
/// columns. An existing file is replaced.
///
/// Errors (on every rank): [`Error::InvalidArgument`] for mismatched columns or a
/// path containing NUL; [`Error::Mpi`] if the file cannot be opened, resized,
/// written or closed on any rank.
pub fn write_npy<C: Communicator>(
    comm: &C,
    path: impl AsRef<Path>,
    local: ArrayView2<'_, f64>,
) -> Result<()> {
    write_npy_chunked(comm, path.as_ref(), local, IO_CHUNK)
}

/// [`write_npy`] with a chosen chunk length (elements per MPI call). For tests of
/// the chunking; use [`write_npy`].
#[doc(hidden)]
pub fn write_npy_chunked<C: Communicator>(
    comm: &C,
    path: impl AsRef<Path>,
    local: ArrayView2<'_, f64>,
    chunk: usize,
) -> Result<()> {
    const CALL: &str = "write_npy";
    let chunk = chunk.clamp(1, c_int::MAX as usize);
    let (rows, cols) = local.dim();
    let count = rows * cols;

    // One all-reduce checks columns and agrees on totals and the number of calls.
    let nonempty = rows > 0;
    let mine: [i64; 4] = [
        if nonempty { cols as i64 } else { i64::MIN },
        if nonempty { -(cols as i64) } else { i64::MIN },
        cols as i64,
        count.div_ceil(chunk) as i64,
    ];
    let mut all = [0i64; 4];
    comm.all_reduce_into(&mine[..], &mut all[..], SystemOperation::max());
    let mut total_rows = 0u64;
    comm.all_reduce_into(&(rows as u64), &mut total_rows, SystemOperation::sum());
    let mut first_row = 0u64;
    comm.exclusive_scan_into(&(rows as u64), &mut first_row, SystemOperation::sum());
    if comm.rank() == 0 {
        first_row = 0; // MPI_Exscan leaves rank 0's result undefined
    }
    let (max_cols, min_cols) = (all[0], all[1].saturating_neg());
    if all[0] != i64::MIN && max_cols != min_cols {
        return Err(invalid(
            CALL,
            format!("ranks hold rows of different widths ({min_cols} to {max_cols} columns)"),
        ));
    }
    let global_cols = if all[0] == i64::MIN { all[2] } else { max_cols } as usize;
    let calls = all[3] as usize;

    let header = npy_header(total_rows as usize, global_cols);
    let data_bytes = (total_rows as u128) * (global_cols as u128) * 8;
    let file_bytes = offset(header.len() as u128 + data_bytes)?;
    let base = header.len() as u128 + u128::from(first_row) * (global_cols as u128) * 8;

    let contiguous = local.as_standard_layout();
    let data: &[f64] = contiguous
        .as_slice()
        .expect("a standard-layout array is contiguous");

    let amode = (ffi::MPI_MODE_CREATE | ffi::MPI_MODE_WRONLY) as c_int;
    let file = File::open(comm, path.as_ref(), amode)?;

    // Truncate any previous, longer file (collective), then header and data.
    // SAFETY: `file.raw` is an open file handle of this communicator.
    let rc = unsafe { ffi::MPI_File_set_size(file.raw, file_bytes) };
    agree_rc(comm, "MPI_File_set_size", rc)?;
    let mut rc = ffi::MPI_SUCCESS as c_int;
    if comm.rank() == 0 {
        // SAFETY: `header` is a valid byte buffer of `header.len()` (< 2^16) bytes;
        // the status is ignored through the predefined MPI_STATUS_IGNORE.
        rc = unsafe {
            ffi::MPI_File_write_at(
                file.raw,
                0,
                header.as_ptr().cast::<c_void>(),
                header.len() as c_int,
                ffi::RSMPI_UINT8_T,
                ffi::RSMPI_STATUS_IGNORE,
            )
        };
    }
    let mut first_error = (rc != ffi::MPI_SUCCESS as c_int).then_some(("MPI_File_write_at", rc));
    for call in 0..calls {
        let start = (call * chunk).min(count);
        let n = (count - start).min(chunk);
        let at = offset(base + start as u128 * 8)?;
        // SAFETY: `data[start..start + n]` is inside the contiguous local block
        // (n may be 0); every rank makes the same number of collective calls.
        let rc = unsafe {
            ffi::MPI_File_write_at_all(
                file.raw,
                at,
                data.as_ptr().add(start).cast::<c_void>(),
                n as c_int,
                ffi::RSMPI_DOUBLE,
                ffi::RSMPI_STATUS_IGNORE,
            )
        };
        if rc != ffi::MPI_SUCCESS as c_int && first_error.is_none() {
            first_error = Some(("MPI_File_write_at_all", rc));
        }
    }
    let (call, rc) = first_error.unwrap_or(("MPI_File_write_at_all", 0));
    let written = agree_rc(comm, call, rc);
    let closed = file.close(comm);
    written.and(closed)
}

/// Reads a 2-D `f64` `.npy` file collectively; each rank gets the rows that `split`
/// assigns to it, as an array of shape `(rows_of_this_rank, cols)`.
///
/// Rank 0 reads and validates the header (dtype `'<f8'`, C order, 2-D shape, file
/// long enough for the shape) and broadcasts it, so every rank returns the same
/// [`Error::Format`] for a bad file; a missing file is an [`Error::Mpi`] on every
/// rank, and row counts that do not add up to the file's rows an
/// [`Error::InvalidArgument`] on every rank.
pub fn read_npy<C: Communicator>(
    comm: &C,
    path: impl AsRef<Path>,
    split: RowSplit,
) -> Result<Array2<f64>> {
    read_npy_chunked(comm, path.as_ref(), split, IO_CHUNK)
}

/// [`read_npy`] with a chosen chunk length (elements per MPI call). For tests of
/// the chunking; use [`read_npy`].
#[doc(hidden)]
pub fn read_npy_chunked<C: Communicator>(
    comm: &C,
    path: impl AsRef<Path>,
    split: RowSplit,
    chunk: usize,
) -> Result<Array2<f64>> {
    const CALL: &str = "read_npy";
    let chunk = chunk.clamp(1, c_int::MAX as usize);
    let amode = ffi::MPI_MODE_RDONLY as c_int;
    let file = File::open(comm, path.as_ref(), amode)?;
    let result = read_open(comm, &file, split, chunk, CALL);
    let closed = file.close(comm);
    let array = result?;
    closed?;
    Ok(array)
}

fn read_open<C: Communicator>(
    comm: &C,
    file: &File,
    split: RowSplit,
    chunk: usize,
    call: &'static str,
) -> Result<Array2<f64>> {
    // Rank 0 parses; the outcome travels as [status, rows, cols, offset] and, on
    // failure, the message.
    let mut meta = [0u64; 4];
    let mut message = Vec::new();
    if comm.rank() == 0 {
        match read_header(file) {
            Ok(h) => meta = [0, h.rows as u64, h.cols as u64, h.data_offset as u64],
            Err(e) => {
                meta[0] = 1;
                message = e.to_string().into_bytes();
                meta[1] = message.len() as u64;
            }
        }
    }
    let root = comm.process_at_rank(0);
    root.broadcast_into(&mut meta[..]);
    if meta[0] != 0 {
        message.resize(meta[1] as usize, 0);
        root.broadcast_into(&mut message[..]);
        return Err(Error::Format(
            String::from_utf8_lossy(&message).into_owned(),
        ));
    }
    let (total_rows, cols, data_offset) = (meta[1] as usize, meta[2] as usize, meta[3]);

    let size = comm.size() as usize;
    let rank = comm.rank() as usize;
    let (first_row, rows) = match split {
        RowSplit::Even => RowSplit::even_slab(total_rows, rank, size),
        RowSplit::Count(rows) => {
            let mut sum = 0u64;
            comm.all_reduce_into(&(rows as u64), &mut sum, SystemOperation::sum());
            if sum != total_rows as u64 {
                return Err(invalid(
                    call,
                    format!("row counts add up to {sum}, the file has {total_rows} rows"),
                ));
            }
            let mut first = 0u64;
            comm.exclusive_scan_into(&(rows as u64), &mut first, SystemOperation::sum());
            if rank == 0 {
                first = 0;
            }
            (first as usize, rows)
        }
    };
    let count = rows * cols;
    let mut calls = 0u64;
    comm.all_reduce_into(
        &(count.div_ceil(chunk) as u64),
        &mut calls,
        SystemOperation::max(),
    );
    let mut out = Array2::<f64>::zeros((rows, cols));
    let data = out
        .as_slice_mut()
        .expect("a freshly allocated array is contiguous");
    let base = u128::from(data_offset) + (first_row as u128) * (cols as u128) * 8;
    let mut first_error = None;
    for call in 0..calls as usize {
        let start = (call * chunk).min(count);
        let n = (count - start).min(chunk);
        let at = offset(base + start as u128 * 8)?;
        // SAFETY: `data[start..start + n]` lies inside the array being filled, which
        // nothing else references; any bytes are valid f64 values; every rank makes
        // the same number of collective calls.
        let rc = unsafe {
            ffi::MPI_File_read_at_all(
                file.raw,
                at,
                data.as_mut_ptr().add(start).cast::<c_void>(),
                n as c_int,
                ffi::RSMPI_DOUBLE,
                ffi::RSMPI_STATUS_IGNORE,
            )
        };
        if rc != ffi::MPI_SUCCESS as c_int && first_error.is_none() {
            first_error = Some(rc);
        }
    }
    agree_rc(comm, "MPI_File_read_at_all", first_error.unwrap_or(0))?;
    Ok(out)
}

/// Reads and parses the header on this rank (independent I/O) and checks the file
/// is long enough for the shape it declares.
fn read_header(file: &File) -> Result<NpyHeader> {
    let mut size: ffi::MPI_Offset = 0;
    // SAFETY: an open file handle and a valid out-pointer.
    check("MPI_File_get_size", unsafe {
        ffi::MPI_File_get_size(file.raw, &mut size)
    })?;
    let read = |at: usize, len: usize| -> Result<Vec<u8>> {
        let len = len.min((size as usize).saturating_sub(at));
        let mut buf = vec![0u8; len];
        // SAFETY: `buf` holds `len` (< 2^32, bounded by the header length) writable
        // bytes; the status is ignored.
        let rc = unsafe {
            ffi::MPI_File_read_at(
                file.raw,
                at as ffi::MPI_Offset,
                buf.as_mut_ptr().cast::<c_void>(),
                len as c_int,
                ffi::RSMPI_UINT8_T,
                ffi::RSMPI_STATUS_IGNORE,
            )
        };
        check("MPI_File_read_at", rc)?;
        Ok(buf)
    };
    let prefix = read(0, 12)?;
    let header_len = match prefix.get(6) {
        Some(1) if prefix.len() >= 10 => 10 + u16::from_le_bytes([prefix[8], prefix[9]]) as usize,
        Some(2 | 3) if prefix.len() >= 12 => {
            12 + u32::from_le_bytes([prefix[8], prefix[9], prefix[10], prefix[11]]) as usize
        }
        _ => prefix.len(),
    };
    let bytes = read(0, header_len.min(1 << 24))?;
    let header = parse_npy_header(&bytes)?;
    let need = header.data_offset as u128 + header.rows as u128 * header.cols as u128 * 8;
    if (size as u128) < need {
        return Err(Error::Format(format!(
            "file of {size} bytes is too short for shape ({}, {}) ({need} bytes)",
            header.rows, header.cols
        )));
    }
    Ok(header)
}

/// An open MPI file with `MPI_ERRORS_RETURN`; closed explicitly with `close`, or
/// on drop (both collective).
struct File {
    raw: ffi::MPI_File,
}

impl File {
    /// `MPI_File_open` on `comm`, with the outcome agreed on by all ranks: if the
    /// open failed anywhere, ranks where it succeeded close the file again and all
    /// ranks return the error.
    fn open<C: Communicator>(comm: &C, path: &Path, amode: c_int) -> Result<File> {
        let name = path
            .to_str()
            .and_then(|s| CString::new(s).ok())
            .ok_or_else(|| {
                invalid(
                    "MPI_File_open",
                    format!("path {path:?} is not NUL-free UTF-8"),
                )
            });
        // Agree on the path first: a rank must not skip a collective open.
        let mut bad = 0i32;
        comm.all_reduce_into(&i32::from(name.is_err()), &mut bad, SystemOperation::max());
        let name = match name {
            Err(e) => return Err(e),
            Ok(_) if bad != 0 => {
                return Err(invalid(
                    "MPI_File_open",
                    "the path is invalid on another rank",
                ))
            }
            Ok(name) => name,
        };
        // SAFETY: reading a predefined handle constant.
        let mut raw = unsafe { ffi::RSMPI_FILE_NULL };
        // SAFETY: `name` is a NUL-terminated string alive for the call, `comm` a
        // valid communicator and `raw` a valid out-pointer. Errors of MPI_File_open
        // go to the handler of MPI_FILE_NULL, MPI_ERRORS_RETURN by default.
        let rc = unsafe {
            ffi::MPI_File_open(
                comm.as_raw(),
                name.as_ptr(),
                amode,
                ffi::RSMPI_INFO_NULL,
                &mut raw,
            )
        };
        let opened = rc == ffi::MPI_SUCCESS as c_int;
        let file = opened.then_some(File { raw });
        let rc = if opened {
            // SAFETY: `raw` is the file just opened; ERRORS_RETURN is predefined.
            unsafe { ffi::MPI_File_set_errhandler(raw, ffi::RSMPI_ERRORS_RETURN) }
        } else {
            rc
        };
        match agree_rc(comm, "MPI_File_open", rc) {
            Ok(()) => Ok(file.expect("opened on every rank")),
            Err(e) => {
                if let Some(f) = file {
                    // The open succeeded here but failed elsewhere. Closing is
                    // collective and ranks without the file would not join, so
                    // release the handle locally through the collective-free path:
                    // forget it (a leaked handle beats a hang).
                    std::mem::forget(f);
                }
                Err(e)
            }
        }
    }

    /// Closes the file (collective) with agreement on errors.
    fn close<C: Communicator>(mut self, comm: &C) -> Result<()> {
        // SAFETY: `raw` is an open file handle, closed only here (Drop sees NULL).
        let rc = unsafe { ffi::MPI_File_close(&mut self.raw) };
        std::mem::forget(self);
        agree_rc(comm, "MPI_File_close", rc)
    }
}

impl Drop for File {
    fn drop(&mut self) {
        // SAFETY: `raw` is an open file handle (error paths return before any
        // collective that only some ranks would reach).
        unsafe { ffi::MPI_File_close(&mut self.raw) };
    }
}

/// Agrees on an MPI return code over `comm`: every rank gets the largest code
/// (success is 0, error codes are positive) turned into a `Result`.
fn agree_rc<C: Communicator>(comm: &C, call: &'static str, rc: c_int) -> Result<()> {
    let mut worst: c_int = 0;
    comm.all_reduce_into(&rc, &mut worst, SystemOperation::max());
    check(call, worst)
}

fn offset(bytes: u128) -> Result<ffi::MPI_Offset> {
    ffi::MPI_Offset::try_from(bytes).map_err(|_| {
        invalid(
            "MPI_File",
            format!("offset {bytes} does not fit MPI_Offset"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_aligned_and_parses() {
        for (r, c) in [(0, 0), (1, 1), (123456789, 7), (3, 1 << 40)] {
            let h = npy_header(r, c);
            assert_eq!(h.len() % NPY_ALIGN, 0);
            assert_eq!(h.last(), Some(&b'\n'));
            let p = parse_npy_header(&h).unwrap();
            assert_eq!((p.rows, p.cols, p.data_offset), (r, c, h.len()));
        }
    }

    #[test]
    fn parses_numpy_written_header() {
        // Exactly what numpy 1.x/2.x writes for np.zeros((5, 3)).
        let dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (5, 3), }";
        let mut h = b"\x93NUMPY\x01\x00".to_vec();
        let len = 128 - 10;
        h.extend_from_slice(&(len as u16).to_le_bytes());
        h.extend_from_slice(dict.as_bytes());
        h.resize(127, b' ');
        h.push(b'\n');
        let p = parse_npy_header(&h).unwrap();
        assert_eq!((p.rows, p.cols, p.data_offset), (5, 3, 128));
    }

    #[test]
    fn rejects_other_arrays() {
        let swap = |from: &str, to: &str| {
            let mut h = npy_header(2, 3);
            let text = String::from_utf8(h.split_off(10))
                .unwrap()
                .replace(from, to);
            h.extend_from_slice(text.as_bytes());
            parse_npy_header(&h)
        };
        assert!(matches!(swap("<f8", "<f4"), Err(Error::Format(_))));
        assert!(matches!(swap("False", "True "), Err(Error::Format(_))));
        assert!(matches!(swap("(2, 3)", "(6,  )"), Err(Error::Format(_))));
        assert!(matches!(
            parse_npy_header(b"garbage"),
            Err(Error::Format(_))
        ));
    }

    #[test]
    fn even_slabs_cover_all_rows() {
        for rows in 0..20 {
            for size in 1..6 {
                let mut next = 0;
                for rank in 0..size {
                    let (first, count) = RowSplit::even_slab(rows, rank, size);
                    assert_eq!(first, next);
                    next += count;
                }
                assert_eq!(next, rows);
            }
        }
    }
}
