//! The `haechi` command.
fn main() {}
