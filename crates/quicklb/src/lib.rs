//! Load balancing for uneven MPI workloads (the QUICKLB model).
//!
//! Work in progress: see the crate README.
