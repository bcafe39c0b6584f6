//! Criterion benchmarks (work in progress).
fn main() {}
