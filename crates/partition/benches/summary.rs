//! Summary table (work in progress).
fn main() {}
