//! The plan: everything an install needs, validated. Both front ends (the answers file and the
//! TUI) produce it; renderers and apply take nothing else.

use std::fmt;
use std::net::Ipv4Addr;

use serde::Serialize;

use crate::types::{ClusterName, Fqdn, InterfaceName, Ipv4Cidr, MailDomain};

/// A validated install plan for one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// The cluster's name.
    pub cluster: ClusterName,
    /// Where mailboxes live.
    pub storage: StorageModel,
    /// How traffic is spread over nodes.
    pub balancer: Balancer,
    /// The primary mail domain (gets `postmaster@`).
    pub domain: MailDomain,
    /// This node's host name.
    pub hostname: Fqdn,
    /// The public network (mail clients, other MTAs).
    pub public: PublicNetwork,
    /// The private cluster network (replication, LMTP, proxying).
    pub private: PrivateNetwork,
    /// DNS resolvers for the node.
    pub dns: Vec<Ipv4Addr>,
    /// The administrator's password (`postmaster@` gets it too).
    pub admin_password: AdminPassword,
}

/// The public side of the node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublicNetwork {
    /// Interface.
    pub interface: InterfaceName,
    /// Address with prefix.
    pub address: Ipv4Cidr,
    /// Default gateway, in the same network.
    pub gateway: Option<Ipv4Addr>,
}

/// The private cluster side of the node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrivateNetwork {
    /// Interface.
    pub interface: InterfaceName,
    /// Address with prefix.
    pub address: Ipv4Cidr,
}

/// Where mailboxes live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageModel {
    /// Each mailbox lives on its home node.
    Distributed,
}

/// How traffic is spread over nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Balancer {
    /// A single box: no balancer.
    None,
}

/// The administrator's password as the plan holds it: clear text from a person (hashed during
/// apply, never written), or a SHA512-CRYPT hash from a saved answers file.
#[derive(Clone, PartialEq, Eq)]
pub enum AdminPassword {
    /// Clear text; shown as `(clear text)`, never printed.
    Clear(String),
    /// `$6$…` (SHA512-CRYPT).
    Hash(String),
}

impl fmt::Debug for AdminPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdminPassword::Clear(_) => f.write_str("Clear(<redacted>)"),
            AdminPassword::Hash(h) => write!(f, "Hash({h})"),
        }
    }
}

impl Serialize for AdminPassword {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            AdminPassword::Clear(_) => s.serialize_str("(clear text, hashed at install)"),
            AdminPassword::Hash(h) => s.serialize_str(h),
        }
    }
}
