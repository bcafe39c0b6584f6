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

use crate::error::{check, invalid, Error, NpyError, Result};
use crate::info::Info;

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
/// it describes a 2-D, C-order, little-endian `f64` array whose header and data fit
/// a 64-bit file offset. `bytes` must contain the whole header; more bytes after it
/// are ignored.
///
/// ```
/// use quicklb_transport::{io::parse_npy_header, Error, NpyError};
///
/// let huge = quicklb_transport::io::npy_header(1 << 62, 1 << 61);
/// assert!(matches!(parse_npy_header(&huge), Err(Error::Format(NpyError::TooLarge { .. }))));
/// ```
pub fn parse_npy_header(bytes: &[u8]) -> Result<NpyHeader> {
    Ok(parse_header(bytes)?)
}

fn parse_header(bytes: &[u8]) -> Result<NpyHeader, NpyError> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(NpyError::NoMagic);
    }
    let (dict_start, header_len) = match bytes[6] {
        1 => (10, u16::from_le_bytes([bytes[8], bytes[9]]) as usize),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(NpyError::TruncatedHeader {
                    declared: 12,
                    available: bytes.len(),
                });
            }
            let len = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
            (12, len as usize)
        }
        v => return Err(NpyError::UnsupportedVersion(v)),
    };
    let end = dict_start + header_len;
    if bytes.len() < end {
        return Err(NpyError::TruncatedHeader {
            declared: header_len,
            available: bytes.len().saturating_sub(dict_start),
        });
    }
    let dict = std::str::from_utf8(&bytes[dict_start..end]).map_err(|_| NpyError::NotText)?;
    let descr = dict_value(dict, "descr").ok_or(NpyError::MissingKey("descr"))?;
    let descr = descr.trim_matches(|c| c == '\'' || c == '"');
    if descr != "<f8" && !(descr == "=f8" && cfg!(target_endian = "little")) {
        return Err(NpyError::Dtype(descr.to_owned()));
    }
    let order = dict_value(dict, "fortran_order").ok_or(NpyError::MissingKey("fortran_order"))?;
    if order != "False" {
        return Err(NpyError::FortranOrder(order.to_owned()));
    }
    let shape = dict_value(dict, "shape").ok_or(NpyError::MissingKey("shape"))?;
    let dims: Vec<&str> = shape
        .trim_start_matches('(')
        .trim_end_matches(')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if dims.len() != 2 {
        return Err(NpyError::Shape(shape.to_owned()));
    }
    let dim = |s: &str| {
        s.parse::<usize>().map_err(|_| NpyError::Dimension {
            dimension: s.to_owned(),
            shape: shape.to_owned(),
        })
    };
    let (rows, cols) = (dim(dims[0])?, dim(dims[1])?);
    // Header plus data must be addressable with MPI_Offset (i64), which also bounds
    // every product of row and column counts computed later, and the row count
    // (also when there are no columns).
    let fits = rows
        .checked_mul(cols.max(1))
        .and_then(|n| n.checked_mul(8))
        .and_then(|b| b.checked_add(end))
        .is_some_and(|total| i64::try_from(total).is_ok());
    if !fits {
        return Err(NpyError::TooLarge { rows, cols });
    }
    Ok(NpyHeader {
        rows,
        cols,
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
/// Errors (on every rank): [`Error::InvalidArgument`] for mismatched columns, a
/// path containing NUL or a path that differs between ranks; [`Error::Mpi`] if the file cannot be opened, resized,
/// written or closed on any rank.
pub fn write_npy<C: Communicator>(
    comm: &C,
    path: impl AsRef<Path>,
    local: ArrayView2<'_, f64>,
) -> Result<()> {
    write_npy_with(comm, path, local, &Info::new())
}

/// [`write_npy`] with MPI-IO hints for opening the file (`MPI_File_open`'s info
/// argument), e.g. `cb_buffer_size` or `romio_cb_write`.
///
/// ```no_run
/// # use mpi::traits::*;
/// # let universe = mpi::initialize().unwrap();
/// # let world = universe.world();
/// # let local = ndarray::Array2::<f64>::zeros((2, 3));
/// use quicklb_transport::{io::write_npy_with, Info};
/// let hints = Info::new().with("romio_cb_write", "enable")?;
/// write_npy_with(&world, "field.npy", local.view(), &hints)?;
/// # Ok::<(), quicklb_transport::Error>(())
/// ```
pub fn write_npy_with<C: Communicator>(
    comm: &C,
    path: impl AsRef<Path>,
    local: ArrayView2<'_, f64>,
    hints: &Info,
) -> Result<()> {
    write_npy_impl(comm, path.as_ref(), local, IO_CHUNK, hints)
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
    write_npy_impl(comm, path.as_ref(), local, chunk, &Info::new())
}

fn write_npy_impl<C: Communicator>(
    comm: &C,
    path: &Path,
    local: ArrayView2<'_, f64>,
    chunk: usize,
    hints: &Info,
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
    let file = File::open(comm, path, amode, hints)?;

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
/// Rank 0 reads the header and broadcasts it with the file's length; every rank
/// validates it (dtype `'<f8'`, C order, 2-D shape, a size that fits 64-bit
/// offsets, file long enough for the shape), so every rank returns the same
/// [`Error::Format`] for a bad file. A missing file, or a path that differs between
/// ranks, is an error on every rank; so are row counts that do not add up to the
/// file's rows ([`Error::InvalidArgument`]) and rows that do not fit in this or
/// another rank's memory ([`Error::OutOfMemory`], before any data is read).
pub fn read_npy<C: Communicator>(
    comm: &C,
    path: impl AsRef<Path>,
    split: RowSplit,
) -> Result<Array2<f64>> {
    read_npy_with(comm, path, split, &Info::new())
}

/// [`read_npy`] with MPI-IO hints for opening the file (`MPI_File_open`'s info
/// argument).
pub fn read_npy_with<C: Communicator>(
    comm: &C,
    path: impl AsRef<Path>,
    split: RowSplit,
    hints: &Info,
) -> Result<Array2<f64>> {
    read_npy_impl(comm, path.as_ref(), split, IO_CHUNK, hints)
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
    read_npy_impl(comm, path.as_ref(), split, chunk, &Info::new())
}

fn read_npy_impl<C: Communicator>(
    comm: &C,
    path: &Path,
    split: RowSplit,
    chunk: usize,
    hints: &Info,
) -> Result<Array2<f64>> {
    const CALL: &str = "read_npy";
    let chunk = chunk.clamp(1, c_int::MAX as usize);
    let amode = ffi::MPI_MODE_RDONLY as c_int;
    let file = File::open(comm, path, amode, hints)?;
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
    // Rank 0 reads the header bytes; [MPI error code, file length, header length]
    // and the bytes travel to every rank, which parses them: the same typed result
    // everywhere.
    let mut meta = [0i64; 3];
    let mut bytes = Vec::new();
    if comm.rank() == 0 {
        match read_header_bytes(file) {
            Ok((size, b)) => {
                meta = [0, size, b.len() as i64];
                bytes = b;
            }
            Err(rc) => meta[0] = i64::from(rc),
        }
    }
    let root = comm.process_at_rank(0);
    root.broadcast_into(&mut meta[..]);
    if meta[0] != 0 {
        return check("MPI_File_read_at", meta[0] as c_int).map(|()| unreachable!());
    }
    bytes.resize(meta[2] as usize, 0);
    root.broadcast_into(&mut bytes[..]);
    let header = parse_header(&bytes)?;
    let size = meta[1] as u64;
    // `parse_header` bounded header plus data by i64::MAX: no overflow here.
    let needed = (header.data_offset + header.rows * header.cols * 8) as u64;
    if size < needed {
        return Err(NpyError::FileTooShort {
            size,
            rows: header.rows,
            cols: header.cols,
            needed,
        }
        .into());
    }
    let (total_rows, cols, data_offset) = (header.rows, header.cols, header.data_offset as u64);

    let size = comm.size() as usize;
    let rank = comm.rank() as usize;
    let (first_row, rows) = match split {
        RowSplit::Even => RowSplit::even_slab(total_rows, rank, size),
        RowSplit::Count(rows) => {
            // Signed sums (MPICH 4.0 mishandles some 64-bit unsigned reductions).
            // A claim above the file's rows is flagged rather than summed, so the
            // sum stays within i64 (parse_header bounds the file's rows).
            let too_many = i64::from(rows > total_rows);
            let claim = [rows.min(total_rows) as i64, too_many];
            let mut sums = [0i64; 2];
            comm.all_reduce_into(&claim[..], &mut sums[..], SystemOperation::sum());
            let sum = sums[0];
            if sums[1] != 0 {
                return Err(invalid(
                    call,
                    format!("a rank asks for more rows than the file has ({total_rows})"),
                ));
            }
            if sum != total_rows as i64 {
                return Err(invalid(
                    call,
                    format!("row counts add up to {sum}, the file has {total_rows} rows"),
                ));
            }
            let mut first = 0i64;
            comm.exclusive_scan_into(&(rows as i64), &mut first, SystemOperation::sum());
            if rank == 0 {
                first = 0;
            }
            (first as usize, rows)
        }
    };
    // rows <= total_rows, so this is bounded like the file.
    let count = rows * cols;
    let mut out = allocate(comm, count, call)?;
    let mut calls = 0i64;
    comm.all_reduce_into(
        &(count.div_ceil(chunk) as i64),
        &mut calls,
        SystemOperation::max(),
    );
    let base = u128::from(data_offset) + (first_row as u128) * (cols as u128) * 8;
    let mut first_error = None;
    for call in 0..calls as usize {
        let start = (call * chunk).min(count);
        let n = (count - start).min(chunk);
        let at = offset(base + start as u128 * 8)?;
        // SAFETY: `out[start..start + n]` lies inside the vector being filled, which
        // nothing else references; any bytes are valid f64 values; every rank makes
        // the same number of collective calls.
        let rc = unsafe {
            ffi::MPI_File_read_at_all(
                file.raw,
                at,
                out.as_mut_ptr().add(start).cast::<c_void>(),
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
    Ok(Array2::from_shape_vec((rows, cols), out).expect("rows * cols elements"))
}

/// A zeroed vector of `count` `f64`, or the same [`Error::OutOfMemory`] on every
/// rank if any rank cannot have its own (collective). Asks the allocator without
/// aborting (`try_reserve_exact`), after refusing outright what exceeds the
/// machine's physical memory (which an overcommitting allocator would grant and the
/// kernel would kill for when the zeros are written).
fn allocate<C: Communicator>(comm: &C, count: usize, call: &'static str) -> Result<Vec<f64>> {
    let bytes = count as u64 * 8;
    let mut out = Vec::new();
    let fits = physical_memory().is_none_or(|total| bytes <= total)
        && out.try_reserve_exact(count).is_ok();
    let failed = if fits {
        0
    } else {
        bytes.min(i64::MAX as u64) as i64
    };
    let mut worst = 0i64;
    comm.all_reduce_into(&failed, &mut worst, SystemOperation::max());
    if worst != 0 {
        return Err(Error::OutOfMemory {
            call,
            bytes: worst as u64,
        });
    }
    out.resize(count, 0.0);
    Ok(out)
}

/// The machine's physical memory in bytes (`MemTotal` of `/proc/meminfo`), where
/// the system tells.
fn physical_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// Reads the file length and the header bytes on this rank (independent I/O):
/// the first 12 bytes, then as many as the header length they declare (at most
/// 16 MiB). On failure, the MPI error code.
fn read_header_bytes(file: &File) -> std::result::Result<(i64, Vec<u8>), c_int> {
    let mut size: ffi::MPI_Offset = 0;
    // SAFETY: an open file handle and a valid out-pointer.
    let rc = unsafe { ffi::MPI_File_get_size(file.raw, &mut size) };
    if rc != ffi::MPI_SUCCESS as c_int {
        return Err(rc);
    }
    let read = |len: usize| -> std::result::Result<Vec<u8>, c_int> {
        let len = len.min(usize::try_from(size).unwrap_or(0));
        let mut buf = vec![0u8; len];
        // SAFETY: `buf` holds `len` (at most 2^24 + 12) writable bytes; the status
        // is ignored.
        let rc = unsafe {
            ffi::MPI_File_read_at(
                file.raw,
                0,
                buf.as_mut_ptr().cast::<c_void>(),
                len as c_int,
                ffi::RSMPI_UINT8_T,
                ffi::RSMPI_STATUS_IGNORE,
            )
        };
        if rc == ffi::MPI_SUCCESS as c_int {
            Ok(buf)
        } else {
            Err(rc)
        }
    };
    let prefix = read(12)?;
    let header_len = match prefix.get(6) {
        Some(1) if prefix.len() >= 10 => 10 + u16::from_le_bytes([prefix[8], prefix[9]]) as usize,
        Some(2 | 3) if prefix.len() >= 12 => {
            12 + u32::from_le_bytes([prefix[8], prefix[9], prefix[10], prefix[11]]) as usize
        }
        _ => prefix.len(),
    };
    Ok((size, read(header_len.min((1 << 24) + 12))?))
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
    fn open<C: Communicator>(comm: &C, path: &Path, amode: c_int, hints: &Info) -> Result<File> {
        const CALL: &str = "MPI_File_open";
        let name = path
            .to_str()
            .and_then(|s| CString::new(s).ok())
            .ok_or_else(|| invalid(CALL, format!("path {path:?} is not NUL-free UTF-8")));
        let info = hints.to_raw();
        // Agree on the arguments first: a rank must not skip a collective open, and
        // ranks opening different paths would wait in it for ever. One all-reduce
        // of the maximum of [failed, length, hash halves] and of their negations
        // (the minimum): the path is the same everywhere if both agree.
        let bytes = path.as_os_str().as_encoded_bytes();
        let hash = fnv1a(bytes);
        let local_bad = i64::from(name.is_err() || info.is_err());
        let fields = [
            bytes.len() as i64,
            (hash >> 32) as i64,
            (hash & 0xffff_ffff) as i64,
        ];
        let mut mine = [local_bad, 0, 0, 0, 0, 0, 0];
        for (i, f) in fields.iter().enumerate() {
            mine[1 + 2 * i] = *f;
            mine[2 + 2 * i] = -*f;
        }
        let mut all = [0i64; 7];
        comm.all_reduce_into(&mine[..], &mut all[..], SystemOperation::max());
        let same_path = (0..3).all(|i| all[1 + 2 * i] == -all[2 + 2 * i]);
        let name = name?;
        let info = info?;
        if all[0] != 0 {
            return Err(invalid(
                CALL,
                "the path or the hints are invalid on another rank",
            ));
        }
        if !same_path {
            return Err(invalid(
                CALL,
                format!("the path differs between ranks (here {path:?}); every rank must open the same file"),
            ));
        }
        // SAFETY: reading a predefined handle constant.
        let mut raw = unsafe { ffi::RSMPI_FILE_NULL };
        // SAFETY: `name` is a NUL-terminated string alive for the call, `comm` a
        // valid communicator and `raw` a valid out-pointer. Errors of MPI_File_open
        // go to the handler of MPI_FILE_NULL, MPI_ERRORS_RETURN by default.
        let rc = unsafe {
            ffi::MPI_File_open(comm.as_raw(), name.as_ptr(), amode, info.handle(), &mut raw)
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

/// 64-bit FNV-1a of `bytes`: a digest to compare paths across ranks.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
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

    /// A header declaring `shape`, otherwise valid.
    fn header_with_shape(shape: &str) -> Vec<u8> {
        let dict = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}");
        let mut h = b"\x93NUMPY\x01\x00".to_vec();
        h.extend_from_slice(&(dict.len() as u16 + 1).to_le_bytes());
        h.extend_from_slice(dict.as_bytes());
        h.push(b'\n');
        h
    }

    #[test]
    fn sizes_that_overflow_are_rejected() {
        let too_large = |shape: &str| {
            matches!(
                parse_npy_header(&header_with_shape(shape)),
                Err(Error::Format(NpyError::TooLarge { .. }))
            )
        };
        // 2^63 x 2^62 elements: the product overflows u64 and even u128 bytes.
        assert!(too_large("(9223372036854775808, 4611686018427387904)"));
        assert!(too_large(&format!("({}, 2)", usize::MAX)));
        assert!(too_large(&format!("({}, 0)", usize::MAX)));
        assert!(too_large("(1, 1152921504606846976)")); // 2^60 f64 = 2^63 bytes
        assert!(too_large("(1, 1152921504606846975)")); // plus the header
        let fits = parse_npy_header(&header_with_shape("(1, 1152921504606846960)")).unwrap();
        assert_eq!((fits.rows, fits.cols), (1, 1152921504606846960));
        assert!(matches!(
            parse_npy_header(&header_with_shape("(18446744073709551616, 1)")),
            Err(Error::Format(NpyError::Dimension { .. }))
        ));
        assert!(matches!(
            parse_npy_header(&header_with_shape("(-1, 1)")),
            Err(Error::Format(NpyError::Dimension { .. }))
        ));
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let mut h = npy_header(2, 2);
        h[6] = 9;
        assert_eq!(
            parse_npy_header(&h),
            Err(Error::Format(NpyError::UnsupportedVersion(9)))
        );
        let h = npy_header(2, 2);
        assert!(matches!(
            parse_npy_header(&h[..20]),
            Err(Error::Format(NpyError::TruncatedHeader { .. }))
        ));
        let source = std::error::Error::source(&Error::Format(NpyError::NoMagic))
            .expect("a format error has its cause as source");
        assert!(source.to_string().contains("magic"));
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
