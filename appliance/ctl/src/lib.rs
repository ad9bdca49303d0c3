//! `pigeonctl`'s library: administrative operations on the directory. Each operation is LDAP
//! reads and writes and nothing else — no command on a node, no file — so it takes effect on
//! mail at once, on every node.
#![forbid(unsafe_code)]

pub mod cluster;
pub mod directory;
pub mod error;
pub mod import;
pub mod rebalance;

pub use directory::Directory;
pub use error::CtlError;
