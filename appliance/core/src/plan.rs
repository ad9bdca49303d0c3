//! The plan: everything an install needs, validated. Both front ends (the answers file and the
//! TUI) produce it; renderers and apply take nothing else.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

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
    /// Whether this node made the cluster or joined it.
    pub role: Role,
    /// The public keys root logs in with over SSH (`[ssh] authorized_keys`); none: sshd is
    /// off. Never a password.
    pub ssh_keys: Vec<crate::ssh::SshPublicKey>,
}

/// Whether a node made the cluster or joined it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The cluster's first node: it makes the directory (the writable provider), the cluster
    /// CA and the cluster's secrets.
    First {
        /// The administrator's password (`postmaster@` gets it too).
        admin_password: AdminPassword,
    },
    /// A node that joined: its directory is a replica of the provider's.
    Joined {
        /// The provider's private address (its slapd listens on `ldap://ADDRESS/`).
        provider: Ipv4Addr,
    },
}

impl Plan {
    /// The administrator's password, on the node that made the cluster.
    pub fn admin_password(&self) -> Option<&AdminPassword> {
        match &self.role {
            Role::First { admin_password } => Some(admin_password),
            Role::Joined { .. } => None,
        }
    }
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

/// How traffic is spread over nodes. Serialized as `"none"`, `"dns"` or
/// `{"ipvs": {"vip": "203.0.113.240", "forwarding": "dr"}}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Balancer {
    /// A single box: no balancer.
    None,
    /// Clients find the nodes through several DNS records for one name; the nodes need
    /// nothing of their own for it.
    Dns,
    /// A Linux IPVS balancer in front of the nodes answers on a virtual service address.
    Ipvs {
        /// The virtual service address (VIP) clients connect to.
        vip: IpAddr,
        /// How the balancer passes each connection to a node.
        forwarding: Forwarding,
    },
}

impl Balancer {
    /// The word the answers file uses for it (`cluster.balancer`).
    pub fn kind(&self) -> &'static str {
        match self {
            Balancer::None => "none",
            Balancer::Dns => "dns",
            Balancer::Ipvs { .. } => "ipvs",
        }
    }

    /// The VIP every node must accept packets for, when the balancer forwards by direct
    /// routing.
    pub fn direct_routing_vip(&self) -> Option<IpAddr> {
        match self {
            Balancer::Ipvs {
                vip,
                forwarding: Forwarding::Dr,
            } => Some(*vip),
            _ => None,
        }
    }
}

/// How an IPVS balancer passes a connection to a node (ipvsadm's `-m`, `-g` and `-i`;
/// `IP_VS_CONN_F_*`). The answers file offers `nat` and `dr`; a hand-written balancer.toml may
/// also say `tunnel`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Forwarding {
    /// NAT (masquerading): the balancer rewrites the destination to the node's address, and
    /// replies return through it. The nodes need nothing of their own.
    Nat,
    /// Direct routing (gatewaying): the balancer sends the packet unchanged to the node's MAC
    /// address on the shared public link; the node accepts it for the VIP and replies to the
    /// client directly.
    Dr,
    /// IP-in-IP tunnelling: the balancer encapsulates the packet to the node, which replies
    /// directly.
    Tunnel,
}

impl Forwarding {
    /// The word the answers file uses for it (`balancer.forwarding`).
    pub fn as_str(self) -> &'static str {
        match self {
            Forwarding::Nat => "nat",
            Forwarding::Dr => "dr",
            Forwarding::Tunnel => "tunnel",
        }
    }
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
