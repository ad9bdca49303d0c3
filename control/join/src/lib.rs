//! How a node joins a PigeonAir cluster, as pure code: no sockets, no files, no directory.
//!
//! 1. An administrator runs `pigeonctl node token` on a member: it makes a [`Token`] (the
//!    address of a member to join through, the SHA-256 fingerprint of the cluster CA's
//!    certificate, an id and a random secret) and stores only the id, the secret's hash and the
//!    expiry in the directory ([`token::secret_hash`]).
//! 2. The joining node's `pigeonair-install` reads the token from its answers, connects to the
//!    member's control plane over TLS and accepts the connection only if the chain the member
//!    presents holds the CA with that fingerprint ([`Fingerprint::of_pem`]), before it sends
//!    anything. Then it sends a [`JoinRequest`]: the token's id and secret, its own names and
//!    addresses, and a CSR ([`csr::request`]) for a key that never leaves it.
//! 3. The member checks the request ([`JoinRequest::check`], then the token against the
//!    directory), signs a certificate with the cluster profile ([`csr::sign`]) and answers with
//!    a [`JoinResponse`]: the certificate, the CA's, and what the node needs to become a replica
//!    (the directory's base and provider, the service accounts' secrets). A refusal is a
//!    [`Refusal`] with one line for the operator.

pub mod csr;
pub mod messages;
pub mod time;
pub mod token;

pub use messages::{
    ClusterSettings, DRAIN_MARK, DiscardCopy, DiskUse, DrainProgress, Hello, JoinRequest,
    JoinResponse, JournalLines, MovedNotice, NodeStatus, ProviderGrant, Refusal, RefusalKind,
    RenewRequest, RenewResponse, csn_covers, csn_micros,
};
pub use token::{Fingerprint, Token, TokenError, TokenId};

/// The control plane's port (HTTPS with mutual TLS), on the private address only (the node's
/// firewall table, `pigeonair_appliance::render::firewall`, drops it elsewhere).
pub const CONTROL_PORT: u16 = pigeonair_appliance::render::firewall::CONTROL_PORT;
