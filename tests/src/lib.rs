//! PigeonAir's end-to-end test support: driving the `pigeonair-lab` binary from tests and
//! benchmarks, real mail clients at a lab's client address, and a minimal SMTP/LMTP sender.
//! The lab itself is crate `pigeonair-lab` (`lab/`).
#![forbid(unsafe_code)]

pub mod clients;
pub mod scenario;
pub mod smtp;
pub mod support;
pub mod tmux;
