//! pigeonaird, PigeonAir's control plane on every node. Today it watches the directory and
//! keeps what the node caches from it in step: when anything in the directory changes, Dovecot's
//! auth cache is flushed, so a password change, a disabled user or a new quota takes effect at
//! once although logins and deliveries are answered from the cache.
//!
//! [`watch`] is the pure part (the sync cookie, coalescing changes into flushes);
//! `main.rs` is the shell (the directory through `pigeonair_directory`, doveadm, the journal).

#![forbid(unsafe_code)]

pub mod watch;
