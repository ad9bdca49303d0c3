//! `pigeonair-balancer`: the daemon and its status command.
fn main() {}
