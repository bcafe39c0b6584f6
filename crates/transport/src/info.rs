//! [`Info`]: key/value hints (`MPI_Info`) for the calls that create windows.
//!
//! Hints let MPI pick a faster implementation; MPI ignores keys it does not know.
//! The hints are agreed at creation like the other arguments: they must be the same
//! on every rank, or creation fails with the same error everywhere. Hints that would
//! make this crate's own calls erroneous are refused: `no_locks=true` (the windows'
//! `lock` and `with_local` use locks), and `same_size=true` unless every rank's size
//! really is the same (MPI would compute remote addresses from this rank's size).
//!
//! ```
//! use quicklb_transport::Info;
//! let hints = Info::new().set("accumulate_ordering", "none")?;
//! assert_eq!(hints.get("accumulate_ordering"), Some("none"));
//! # Ok::<(), quicklb_transport::Error>(())
//! ```

use std::ffi::{c_char, CString};

use mpi::ffi;

use crate::error::{check, invalid, Result};

/// Key/value hints for window creation; [`Info::new`] is empty (`MPI_INFO_NULL`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Info {
    pairs: Vec<(String, String)>,
}

impl Info {
    /// No hints.
    pub fn new() -> Self {
        Info::default()
    }

    /// Adds (or replaces) the hint `key = value`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) if the key or value
    /// contains a NUL byte, the key is empty or longer than `MPI_MAX_INFO_KEY`, or the
    /// value is longer than `MPI_MAX_INFO_VAL`.
    pub fn set(mut self, key: &str, value: &str) -> Result<Self> {
        if key.is_empty() || key.len() > ffi::MPI_MAX_INFO_KEY as usize || key.contains('\0') {
            return Err(invalid("Info::set", format!("invalid hint key {key:?}")));
        }
        if value.len() > ffi::MPI_MAX_INFO_VAL as usize || value.contains('\0') {
            return Err(invalid(
                "Info::set",
                format!("invalid value for hint {key:?}"),
            ));
        }
        match self.pairs.iter_mut().find(|(k, _)| k == key) {
            Some(pair) => pair.1 = value.to_owned(),
            None => self.pairs.push((key.to_owned(), value.to_owned())),
        }
        Ok(self)
    }

    /// The value of hint `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Whether no hint is set.
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

    /// The `MPI_Info` object for a call, freed on drop (`MPI_INFO_NULL` if empty).
    pub(crate) fn to_raw(&self) -> Result<RawInfo> {
        // SAFETY: reading a predefined handle constant.
        let mut raw = unsafe { ffi::RSMPI_INFO_NULL };
        if self.pairs.is_empty() {
            return Ok(RawInfo { raw, owned: false });
        }
        // SAFETY: a valid out-pointer.
        check("MPI_Info_create", unsafe { ffi::MPI_Info_create(&mut raw) })?;
        let info = RawInfo { raw, owned: true };
        for (k, v) in &self.pairs {
            // `set` refused NUL bytes, so these conversions succeed.
            let (k, v) = (
                CString::new(k.as_str()).map_err(|_| invalid("Info", "NUL in key"))?,
                CString::new(v.as_str()).map_err(|_| invalid("Info", "NUL in value"))?,
            );
            // SAFETY: a valid info object and NUL-terminated strings within the MPI
            // length limits (checked by `set`); MPI copies them.
            let rc = unsafe {
                ffi::MPI_Info_set(
                    info.raw,
                    k.as_ptr() as *mut c_char,
                    v.as_ptr() as *mut c_char,
                )
            };
            check("MPI_Info_set", rc)?;
        }
        Ok(info)
    }
}

/// An `MPI_Info` handle made by [`Info::to_raw`], freed on drop.
pub(crate) struct RawInfo {
    pub(crate) raw: ffi::MPI_Info,
    owned: bool,
}

impl Drop for RawInfo {
    fn drop(&mut self) {
        if self.owned {
            // SAFETY: `raw` was created by MPI_Info_create and is freed only here;
            // MPI keeps its own copy of the hints it uses.
            unsafe { ffi::MPI_Info_free(&mut self.raw) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_replaces_and_rejects_bad_keys() {
        let info = Info::new().set("a", "1").unwrap().set("a", "2").unwrap();
        assert_eq!(info.get("a"), Some("2"));
        assert!(Info::new().set("", "x").is_err());
        assert!(Info::new().set("k\0", "x").is_err());
        assert!(Info::new().set("k", "x\0").is_err());
    }

    #[test]
    fn fingerprints_ignore_order() {
        let ab = Info::new().set("a", "1").unwrap().set("b", "2").unwrap();
        let ba = Info::new().set("b", "2").unwrap().set("a", "1").unwrap();
        assert_eq!(ab.fingerprint(), ba.fingerprint());
        assert_ne!(ab.fingerprint(), Info::new().fingerprint());
    }

    #[test]
    fn hints_that_break_the_window_are_refused() {
        let no_locks = Info::new().set("no_locks", "true").unwrap();
        assert!(no_locks.check_window_hints("t", &[1, 1]).is_err());
        let same = Info::new().set("same_size", "true").unwrap();
        assert!(same.check_window_hints("t", &[2, 2]).is_ok());
        assert!(same.check_window_hints("t", &[2, 3]).is_err());
    }
}
