//! The crate's error type, and the conversion of MPI return codes into it.

use std::ffi::{c_char, c_int};

use mpi::ffi;

/// Everything that can go wrong in `quicklb-transport`.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
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
    /// A file-format or I/O problem outside MPI itself (e.g. a malformed `.npy` header).
    #[error("{0}")]
    Format(String),
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Turns the return code of MPI function `call` into a `Result`.
pub(crate) fn check(call: &'static str, code: c_int) -> Result<()> {
    if code == ffi::MPI_SUCCESS as c_int {
        Ok(())
    } else {
        Err(Error::Mpi {
            call,
            code,
            class: error_class(code),
            message: error_string(code),
        })
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
