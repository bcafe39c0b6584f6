//! Load-balancing planners for uneven MPI workloads, pure and MPI-free.
//!
//! Work in progress: see the crate README.
