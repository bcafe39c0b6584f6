//! Shared code of the quicklb demo programs.

pub mod burgers;
pub mod chemistry;
pub mod cli;
pub mod colormap;
pub mod flame;
pub mod gray_scott;
pub mod patterns;
pub mod plot;
pub mod preflight;
pub mod progress;
pub mod step_stats;
