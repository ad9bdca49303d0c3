//! PigeonAir's one LDAP client. pigeonctl, the installer's seeding and pigeonaird all talk to
//! the directory through this crate:
//!
//! - [`Credentials`]: root on a node over ldapi with SASL EXTERNAL, or an administrator's (or a
//!   service account's) DN and password with a simple bind;
//! - [`Connection`] (blocking) and [`AsyncConnection`] (tokio, for many operations in flight):
//!   connect, bind, search, add, modify, delete, rename, compare-and-swap;
//! - [`Changes`]: the RFC 4533 persistent search pigeonaird follows the directory with;
//! - [`DirectoryError`]: every failure, saying what was being done and on which DN or URI
//!   ("search ou=domains,o=pigeonair: …"), and [`ResultCode`], the one place that says what
//!   an LDAP result code means here (noSuchObject is an empty search, and so on);
//! - [`first`], [`values`], [`sorted_values`], [`value_set`], [`attrs`]: reading
//!   [`SearchEntry`]s and building what adds and modifies take.
//!
//! The directory's design (DNs, the seed, the ldapi URL) is pure and lives in
//! `pigeonair_appliance::directory`; this crate is the IO.
#![forbid(unsafe_code)]

mod conn;
mod entry;
mod error;
mod nonblocking;
mod persist;

pub use conn::{ClusterTls, Connection, Credentials, can_bind, stamps_cover};
pub use entry::{Attrs, attrs, first, sorted_values, value_set, values};
pub use error::{DirectoryError, ResultCode};
pub use nonblocking::AsyncConnection;
pub use persist::{Changes, SyncMessage};

/// What callers pass and get back, from the LDAP library this crate is built on, so that no
/// other crate needs to depend on it.
pub use ldap3::{LdapError, LdapResult, Mod, Scope, SearchEntry, dn_escape, ldap_escape};

/// A directory operation's result.
pub type Result<T, E = DirectoryError> = std::result::Result<T, E>;
