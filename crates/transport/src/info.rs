//! `Info`: hints (`MPI_Info` key/value pairs) for the MPI objects this crate
//! creates, such as files (`cb_buffer_size`, `romio_cb_write`, `striping_factor`)
//! and windows (`accumulate_ordering`). Window hints are agreed at creation like the
//! other arguments (the same on every rank, or the same error everywhere), and hints
//! that would make this crate's own calls erroneous are refused: `no_locks=true`
//! (windows lock for `lock` and `with_local`) and `same_size=true` unless every
//! rank's size really is the same.
//!
//! An [`Info`] is plain Rust data, built before or after `MPI_Init`; keys and values
//! are checked when they are set (no NUL byte, shorter than `MPI_MAX_INFO_KEY` /
//! `MPI_MAX_INFO_VAL` bytes, a non-empty key). The `MPI_Info` object is created only
//! for the duration of the call that takes the hints, and freed afterwards. Hints
//! are advice: an MPI library ignores the keys it does not know.
//!
//! ```
//! use quicklb_transport::Info;
//!
//! let hints = Info::new()
//!     .with("romio_cb_write", "enable")?
//!     .with("cb_buffer_size", "16777216")?;
//! assert_eq!(hints.get("romio_cb_write"), Some("enable"));
//! assert!(Info::new().with("bad\0key", "x").is_err());
//! # Ok::<(), quicklb_transport::Error>(())
//! ```

use std::ffi::{c_int, CString};

use mpi::ffi;

use crate::error::{check, invalid, Result};

/// Key/value hints for an MPI object (`MPI_Info`); see the [module
/// documentation](self). Setting a key again replaces its value; keys keep the
/// order in which they were first set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Info {
    pairs: Vec<(String, String)>,
}

impl Info {
    /// No hints (`MPI_INFO_NULL` where it is used).
    pub fn new() -> Info {
        Info::default()
    }

    /// Sets `key` to `value`, replacing an earlier value of `key`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) for an empty key, a
    /// NUL byte, or a key or value of `MPI_MAX_INFO_KEY` / `MPI_MAX_INFO_VAL` bytes
    /// or more.
    pub fn set(&mut self, key: &str, value: &str) -> Result<&mut Info> {
        const CALL: &str = "Info::set";
        // Strictly shorter than the constants, so that the C string with its NUL
        // fits MPI's buffers in every implementation.
        let max_key = ffi::MPI_MAX_INFO_KEY as usize - 1;
        let max_value = ffi::MPI_MAX_INFO_VAL as usize - 1;
        if key.is_empty() {
            return Err(invalid(CALL, "the key is empty"));
        }
        if key.contains('\0') || value.contains('\0') {
            return Err(invalid(
                CALL,
                format!("key {key:?} or its value contains a NUL byte"),
            ));
        }
        if key.len() > max_key {
            return Err(invalid(
                CALL,
                format!("key {key:?} is longer than {max_key} bytes (MPI_MAX_INFO_KEY - 1)"),
            ));
        }
        if value.len() > max_value {
            return Err(invalid(
                CALL,
                format!(
                    "the value of {key:?} ({} bytes) is longer than {max_value} bytes (MPI_MAX_INFO_VAL - 1)",
                    value.len()
                ),
            ));
        }
        match self.pairs.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = value.to_owned(),
            None => self.pairs.push((key.to_owned(), value.to_owned())),
        }
        Ok(self)
    }

    /// [`set`](Self::set) by value, for chaining.
    pub fn with(mut self, key: &str, value: &str) -> Result<Info> {
        self.set(key, value)?;
        Ok(self)
    }

    /// The value set for `key`, if any.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The pairs, in the order their keys were first set.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether no key is set.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// A hash (FNV-1a) of the hints, equal on ranks with the same hints.
    pub(crate) fn fingerprint(&self) -> u64 {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let mut sorted: Vec<_> = self.pairs.iter().collect();
        sorted.sort();
        for (k, v) in sorted {
            for byte in k.bytes().chain([0]).chain(v.bytes()).chain([0]) {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
        }
        hash
    }

    /// Refuses hints that would make this crate's calls on the window erroneous.
    /// `sizes` are the agreed window sizes of all ranks (the same on every rank, so
    /// every rank returns the same error).
    pub(crate) fn check_window_hints(&self, call: &'static str, sizes: &[usize]) -> Result<()> {
        if self
            .get("no_locks")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        {
            return Err(invalid(
                call,
                "hint no_locks=true: this window's lock and with_local use locks",
            ));
        }
        if self
            .get("same_size")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
            && sizes.windows(2).any(|w| w[0] != w[1])
        {
            return Err(invalid(
                call,
                "hint same_size=true, but the window sizes differ between ranks",
            ));
        }
        Ok(())
    }

    /// The MPI object for one call: `MPI_INFO_NULL` for no hints, else a new
    /// `MPI_Info` freed when the returned value drops.
    pub(crate) fn to_raw(&self) -> Result<RawInfo> {
        // SAFETY: reading an immutable handle constant exported by the MPI shim.
        let null = unsafe { ffi::RSMPI_INFO_NULL };
        if self.pairs.is_empty() {
            return Ok(RawInfo {
                handle: null,
                owned: false,
            });
        }
        let mut handle = null;
        // SAFETY: a valid out-pointer.
        check("MPI_Info_create", unsafe {
            ffi::MPI_Info_create(&mut handle)
        })?;
        let raw = RawInfo {
            handle,
            owned: true,
        };
        for (key, value) in &self.pairs {
            // `set` rejected NUL bytes, so these conversions succeed.
            let key = CString::new(key.as_str()).expect("no NUL in an Info key");
            let value = CString::new(value.as_str()).expect("no NUL in an Info value");
            // SAFETY: a live info object and two NUL-terminated strings within
            // MPI's length limits (checked by `set`), alive for the call.
            let rc = unsafe { ffi::MPI_Info_set(raw.handle, key.as_ptr(), value.as_ptr()) };
            check("MPI_Info_set", rc)?;
        }
        Ok(raw)
    }
}

/// An `MPI_Info` handle for one call; frees the object it created.
pub(crate) struct RawInfo {
    handle: ffi::MPI_Info,
    owned: bool,
}

impl RawInfo {
    /// The handle to pass to MPI.
    pub(crate) fn handle(&self) -> ffi::MPI_Info {
        self.handle
    }
}

impl Drop for RawInfo {
    fn drop(&mut self) {
        if self.owned {
            // SAFETY: an info object created by `Info::to_raw` and freed only here;
            // MPI objects created with it keep their own copy of the hints.
            let _: c_int = unsafe { ffi::MPI_Info_free(&mut self.handle) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked_and_replaced() {
        let mut info = Info::new();
        info.set("a", "1").unwrap().set("b", "2").unwrap();
        info.set("a", "3").unwrap();
        assert_eq!(info.iter().collect::<Vec<_>>(), [("a", "3"), ("b", "2")]);
        assert_eq!(info.len(), 2);
        assert_eq!(info.get("c"), None);
        let long_key = "k".repeat(ffi::MPI_MAX_INFO_KEY as usize);
        let long_value = "v".repeat(ffi::MPI_MAX_INFO_VAL as usize);
        for (key, value) in [("", "x"), ("a\0b", "x"), ("a", "x\0"), (&long_key, "x")] {
            assert!(Info::new().with(key, value).is_err(), "{key:?} = {value:?}");
        }
        assert!(Info::new().with("a", &long_value).is_err());
        let longest_key = "k".repeat(ffi::MPI_MAX_INFO_KEY as usize - 1);
        assert!(Info::new().with(&longest_key, "x").is_ok());
    }

    #[test]
    fn fingerprints_ignore_order() {
        let ab = Info::new().with("a", "1").unwrap().with("b", "2").unwrap();
        let ba = Info::new().with("b", "2").unwrap().with("a", "1").unwrap();
        assert_eq!(ab.fingerprint(), ba.fingerprint());
        assert_ne!(ab.fingerprint(), Info::new().fingerprint());
    }

    #[test]
    fn hints_that_break_the_window_are_refused() {
        let no_locks = Info::new().with("no_locks", "true").unwrap();
        assert!(no_locks.check_window_hints("t", &[1, 1]).is_err());
        let same = Info::new().with("same_size", "true").unwrap();
        assert!(same.check_window_hints("t", &[2, 2]).is_ok());
        assert!(same.check_window_hints("t", &[2, 3]).is_err());
    }
}
