//! MPI test of the Gray-Scott demo (being written).
fn main() {}
