//! The crate's error type, and the conversion of MPI return codes into it.

use std::ffi::{c_char, c_int};

use mpi::ffi;

/// Everything that can go wrong in `quicklb-transport`.
///
/// Non-exhaustive: match the variants you handle and keep a `_` arm, so that new
/// kinds of failure are not breaking changes.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// An MPI call returned an error code (this crate sets `MPI_ERRORS_RETURN`
    /// on what it creates, so errors come back instead of aborting the job).
    #[error("{call} failed with MPI error {code} (class {class}): {message}")]
    Mpi {
        /// The MPI function that failed, e.g. `"MPI_Win_create"`.
        call: &'static str,
        /// The error code it returned.
        code: i32,
        /// The error class of that code (`MPI_Error_class`).
        class: i32,
        /// `MPI_Error_string` of the code.
        message: String,
    },
    /// An argument was outside what the call accepts; checked before calling MPI.
    #[error("invalid argument to {call}: {reason}")]
    InvalidArgument {
        /// The operation that rejected the argument.
        call: &'static str,
        /// What was wrong, in words.
        reason: String,
    },
    /// A file is not what the reader accepts (e.g. a malformed `.npy` header); the
    /// source says what exactly.
    #[error("not a 2-D '<f8' .npy file")]
    Format(#[from] NpyError),
    /// A buffer of `bytes` bytes could not be allocated (on this rank or, for a
    /// collective call, on another one: the largest failed request is reported).
    #[error("{call}: cannot allocate {bytes} bytes")]
    OutOfMemory {
        /// The operation that needed the memory.
        call: &'static str,
        /// How much it asked for.
        bytes: u64,
    },
}

/// What is wrong with an `.npy` file ([`Error::Format`]'s source).
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NpyError {
    /// The file does not start with `\x93NUMPY`.
    #[error("missing the \\x93NUMPY magic")]
    NoMagic,
    /// A format version other than 1.0, 2.0 and 3.0.
    #[error("unsupported format version {0}")]
    UnsupportedVersion(u8),
    /// The file ends inside its header.
    #[error("header of {declared} bytes is truncated ({available} bytes available)")]
    TruncatedHeader {
        /// The header length the file declares.
        declared: usize,
        /// How many header bytes there are.
        available: usize,
    },
    /// The header dictionary is not UTF-8 text.
    #[error("header is not text")]
    NotText,
    /// A key of the header dictionary is missing.
    #[error("no '{0}' in the header")]
    MissingKey(&'static str),
    /// The element type is not little-endian `f64`.
    #[error("dtype '{0}' is not '<f8'")]
    Dtype(String),
    /// The array is stored in Fortran order.
    #[error("fortran_order is {0}, need False")]
    FortranOrder(String),
    /// The shape is not two non-negative integers.
    #[error("shape {0} is not 2-D")]
    Shape(String),
    /// A dimension is not a number that fits `usize`.
    #[error("bad dimension '{dimension}' in shape {shape}")]
    Dimension {
        /// The text of the dimension.
        dimension: String,
        /// The text of the whole shape.
        shape: String,
    },
    /// The array's byte length (with the header) does not fit a 64-bit file offset.
    #[error("shape ({rows}, {cols}) of f64 does not fit a 64-bit file offset")]
    TooLarge {
        /// Rows the header declares.
        rows: usize,
        /// Columns the header declares.
        cols: usize,
    },
    /// The file is shorter than its header and shape say.
    #[error("file of {size} bytes is too short for shape ({rows}, {cols}) ({needed} bytes)")]
    FileTooShort {
        /// The file's length.
        size: u64,
        /// Rows the header declares.
        rows: usize,
        /// Columns the header declares.
        cols: usize,
        /// The length the header and shape need.
        needed: u64,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Turns the return code of MPI function `call` into a `Result`.
///
/// Inlined into every caller (also across crates, into generic code such as RMA
/// epochs): the success path is one comparison, and building the error, which
/// asks MPI for its class and text, stays out of line in [`mpi_error`].
#[inline(always)]
pub(crate) fn check(call: &'static str, code: c_int) -> Result<()> {
    if code == ffi::MPI_SUCCESS as c_int {
        Ok(())
    } else {
        Err(mpi_error(call, code))
    }
}

/// The [`Error::Mpi`] of a failed call: its code, class and `MPI_Error_string`.
#[cold]
#[inline(never)]
pub(crate) fn mpi_error(call: &'static str, code: c_int) -> Error {
    Error::Mpi {
        call,
        code,
        class: error_class(code),
        message: error_string(code),
    }
}

/// Shorthand for an [`Error::InvalidArgument`].
pub(crate) fn invalid(call: &'static str, reason: impl Into<String>) -> Error {
    Error::InvalidArgument {
        call,
        reason: reason.into(),
    }
}

fn error_class(code: c_int) -> i32 {
    let mut class: c_int = -1;
    // SAFETY: MPI_Error_class only reads `code` and writes one int to a valid pointer.
    unsafe {
        ffi::MPI_Error_class(code, &mut class);
    }
    class
}

fn error_string(code: c_int) -> String {
    let mut buffer = vec![0 as c_char; ffi::MPI_MAX_ERROR_STRING as usize + 1];
    let mut len: c_int = 0;
    // SAFETY: the buffer holds MPI_MAX_ERROR_STRING characters as the standard
    // requires, and `len` is a valid out-pointer.
    let rc = unsafe { ffi::MPI_Error_string(code, buffer.as_mut_ptr(), &mut len) };
    if rc != ffi::MPI_SUCCESS as c_int {
        return format!("unknown MPI error code {code}");
    }
    let bytes: Vec<u8> = buffer[..len.max(0) as usize]
        .iter()
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Makes MPI calls on `comm` return error codes instead of aborting the job.
pub(crate) fn set_errors_return(comm: ffi::MPI_Comm) -> Result<()> {
    // SAFETY: `comm` is a valid communicator handle owned by the caller, and
    // MPI_ERRORS_RETURN is a predefined error handler.
    let rc = unsafe { ffi::MPI_Comm_set_errhandler(comm, ffi::RSMPI_ERRORS_RETURN) };
    check("MPI_Comm_set_errhandler", rc)
}
