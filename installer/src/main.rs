//! pigeonair-install
fn main() {}
