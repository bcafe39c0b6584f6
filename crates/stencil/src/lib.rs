//! Diffusion stencils on `ndarray` views and their halo exchange.
//!
//! Work in progress: see the crate README.
