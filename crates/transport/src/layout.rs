//! Agreeing the layout of a window (lengths, element size and element type of every
//! rank) before the collective call that creates it, so that a bad argument on one
//! rank is the same error on every rank instead of a hang or a mismatched window.

use std::ffi::c_void;

use mpi::ffi;

use crate::error::{check, invalid, Result};

/// What each rank contributes: its length, `size_of::<T>()`, `align_of::<T>()`, a
/// hash of the element type's name and MPI datatype size, and a hash of the hints.
const FIELDS: usize = 5;

/// Whether the window is one contiguous allocation of all ranks' segments (a shared
/// memory window), whose total must fit as well.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Span {
    /// Every rank's part is a separate allocation (`MPI_Win_create`/`allocate`).
    PerRank,
    /// All parts are one node-wide allocation (`MPI_Win_allocate_shared`).
    Node,
}

/// Exchanges `len` and the element type of every rank of `comm` (one
/// `MPI_Allgather`) and checks them: the element type must be the same on every rank
/// and not zero-sized, and every rank's `len * size_of::<T>()` bytes (and, for
/// [`Span::Node`], their sum) must fit an `MPI_Aint`. Every rank sees the same
/// numbers, so every rank returns the same error. `hints` (a hash of the
/// [`Info`](crate::Info)) must be equal on every rank too. Returns the lengths by rank.
pub(crate) fn agree<T: mpi::datatype::Equivalence>(
    comm: ffi::MPI_Comm,
    call: &'static str,
    len: usize,
    span: Span,
    hints: u64,
) -> Result<Vec<usize>> {
    let mine: [u64; FIELDS] = [
        len as u64,
        std::mem::size_of::<T>() as u64,
        std::mem::align_of::<T>() as u64,
        type_fingerprint::<T>(),
        hints,
    ];
    let mut size: std::ffi::c_int = 0;
    // SAFETY: a valid communicator and a valid out-pointer.
    check("MPI_Comm_size", unsafe {
        ffi::MPI_Comm_size(comm, &mut size)
    })?;
    let ranks = usize::try_from(size).unwrap_or(0);
    let mut all = vec![0u64; FIELDS * ranks];
    // SAFETY: the send buffer holds FIELDS u64s, the receive buffer FIELDS per rank of
    // `comm`, as MPI_UINT64_T with these counts requires; the communicator is valid.
    let rc = unsafe {
        ffi::MPI_Allgather(
            mine.as_ptr().cast::<c_void>(),
            FIELDS as std::ffi::c_int,
            ffi::RSMPI_UINT64_T,
            all.as_mut_ptr().cast::<c_void>(),
            FIELDS as std::ffi::c_int,
            ffi::RSMPI_UINT64_T,
            comm,
        )
    };
    check("MPI_Allgather", rc)?;
    check_layout(call, &all, span)
}

/// The checks of [`agree`] on the gathered fields (`FIELDS` per rank).
fn check_layout(call: &'static str, all: &[u64], span: Span) -> Result<Vec<usize>> {
    let first = &all[..FIELDS.min(all.len())];
    let mut total: u128 = 0;
    let mut sizes = Vec::with_capacity(all.len() / FIELDS);
    for (rank, fields) in all.chunks_exact(FIELDS).enumerate() {
        let [len, elem, align, fingerprint, hints] =
            [fields[0], fields[1], fields[2], fields[3], fields[4]];
        if hints != first[4] {
            return Err(invalid(
                call,
                format!("the hints (Info) of rank {rank} differ from rank 0's"),
            ));
        }
        if elem != first[1] || align != first[2] || fingerprint != first[3] {
            return Err(invalid(
                call,
                format!(
                    "the element type differs between ranks: rank {rank} has a {elem}-byte type \
                     (alignment {align}), rank 0 a {}-byte type (alignment {}){}",
                    first[1],
                    first[2],
                    if elem == first[1] && align == first[2] {
                        " of another name or MPI datatype"
                    } else {
                        ""
                    }
                ),
            ));
        }
        if elem == 0 {
            return Err(invalid(call, "zero-sized element type"));
        }
        let bytes = u128::from(len) * u128::from(elem);
        if bytes > ffi::MPI_Aint::MAX as u128 || len > usize::MAX as u64 {
            return Err(invalid(
                call,
                format!("rank {rank}: {len} elements of {elem} bytes overflow an MPI_Aint"),
            ));
        }
        total += bytes;
        sizes.push(len as usize);
    }
    if span == Span::Node && total > ffi::MPI_Aint::MAX as u128 {
        return Err(invalid(
            call,
            format!("the segments of all ranks add up to {total} bytes, more than an MPI_Aint"),
        ));
    }
    Ok(sizes)
}

/// A hash (FNV-1a) of `T`'s type name and its MPI datatype's size: equal on all ranks
/// that use the same element type.
fn type_fingerprint<T: mpi::datatype::Equivalence>() -> u64 {
    use mpi::raw::AsRaw;
    let mut type_size: std::ffi::c_int = 0;
    let datatype = T::equivalent_datatype();
    // SAFETY: a committed datatype handle from rsmpi and a valid out-pointer.
    unsafe { ffi::MPI_Type_size(datatype.as_raw(), &mut type_size) };
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let name = std::any::type_name::<T>().bytes();
    for byte in name.chain(type_size.to_le_bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rank(len: u64, elem: u64, fp: u64) -> [u64; FIELDS] {
        [len, elem, elem, fp, 0]
    }

    #[test]
    fn same_type_and_fitting_lengths_agree() {
        let all: Vec<u64> = [rank(3, 8, 7), rank(0, 8, 7), rank(5, 8, 7)].concat();
        assert_eq!(
            check_layout("t", &all, Span::PerRank).unwrap(),
            vec![3, 0, 5]
        );
    }

    #[test]
    fn a_different_type_on_one_rank_is_rejected() {
        let all: Vec<u64> = [rank(3, 8, 7), rank(3, 1, 9)].concat();
        let e = check_layout("t", &all, Span::PerRank).unwrap_err();
        assert!(e.to_string().contains("rank 1 has a 1-byte type"), "{e}");
        let same_size: Vec<u64> = [rank(3, 8, 7), rank(3, 8, 9)].concat();
        assert!(check_layout("t", &same_size, Span::PerRank).is_err());
    }

    #[test]
    fn different_hints_are_rejected() {
        let mut all: Vec<u64> = [rank(3, 8, 7), rank(3, 8, 7)].concat();
        all[FIELDS + 4] = 1;
        let e = check_layout("t", &all, Span::PerRank).unwrap_err();
        assert!(e.to_string().contains("hints"), "{e}");
    }

    #[test]
    fn overflowing_lengths_are_rejected() {
        let all: Vec<u64> = [rank(3, 8, 7), rank(u64::MAX / 4, 8, 7)].concat();
        let e = check_layout("t", &all, Span::PerRank).unwrap_err();
        assert!(e.to_string().contains("rank 1"), "{e}");
        let half = (ffi::MPI_Aint::MAX as u64) / 8 / 2 + 1;
        let node: Vec<u64> = [rank(half, 8, 7), rank(half, 8, 7)].concat();
        assert!(check_layout("t", &node, Span::PerRank).is_ok());
        assert!(check_layout("t", &node, Span::Node).is_err());
    }
}
