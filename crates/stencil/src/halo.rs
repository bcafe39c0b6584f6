//! Halo exchange between ranks (work in progress).
