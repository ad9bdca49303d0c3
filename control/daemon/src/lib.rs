//! pigeonaird, PigeonAir's control plane on every node. Today it watches the directory and
//! keeps what the node caches from it in step: when anything in the directory changes, Dovecot's
//! auth cache is flushed, so a password change, a disabled user or a new quota takes effect at
//! once although logins and deliveries are answered from the cache.
//!
//! It also serves the control plane on the private address ([`server`]): today the member's
//! side of a join ([`join`]); [`client`] is the joining node's side, which `pigeonair-install`
//! uses. The join protocol itself (tokens, certificates, messages) is `pigeonair-join`, pure.
//!
//! [`watch`] is the pure part (the sync cookie, coalescing changes into flushes);
//! `main.rs` is the shell (the directory through `pigeonair_directory`, doveadm, the journal).

#![forbid(unsafe_code)]

pub mod client;
pub mod drain;
pub mod join;
pub mod journal;
pub mod moves;
pub mod node_status;
pub mod peers;
pub mod promotion;
pub mod purge;
pub mod reconcile;
pub mod renewal;
pub mod revocation;
pub mod server;
pub mod watch;
