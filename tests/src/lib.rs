//! PigeonAir's test support: the lab, which boots appliance nodes from the image with
//! systemd-nspawn on a public and a private network, and helpers for end-to-end tests.
#![forbid(unsafe_code)]

pub mod clients;
pub mod lab;
pub mod smtp;
pub mod support;
pub mod vm;
