//! A gateway simulator that speaks the real openclaw gateway contract.
fn main() {}
