//! Shared code of the quicklb demo programs.

pub mod burgers;
pub mod chemistry;
pub mod plot;
