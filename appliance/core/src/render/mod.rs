//! Renderers: pure functions from a [`Plan`] (and the node's service secrets) to the files the
//! node needs, with owner, mode and the unit that reads them. Apply compares these with the
//! node and writes only what differs.

pub mod balancer;
pub mod direct_routing;
pub mod dovecot;
pub mod firewall;
pub mod network;
pub mod postfix;
pub mod slapd;
pub mod ssh;
pub mod template;

use serde::Serialize;

use crate::cluster::ClusterView;
use crate::plan::Plan;

/// A systemd unit whose configuration a file belongs to: after the file changes, apply
/// validates the new configuration and reloads or restarts this unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// slapd.service (its cn=config is built from the rendered LDIF).
    Slapd,
    /// postfix.service.
    Postfix,
    /// dovecot.service.
    Dovecot,
    /// systemd-networkd.service.
    Networkd,
    /// pigeonair-firewall.service (PigeonAir's nftables table).
    Firewall,
    /// ssh.service: on only when the plan has SSH keys for root.
    Ssh,
    /// Kernel parameters in /etc/sysctl.d: apply loads a changed file itself with
    /// systemd-sysctl; at boot systemd-sysctl.service loads them all. No unit is reloaded.
    Sysctl,
    /// Files no daemon needs reloading for (hosts, mailname, hostname).
    None,
}

impl Unit {
    /// The systemd unit's name, if the file belongs to one.
    pub fn service(self) -> Option<&'static str> {
        match self {
            Unit::Slapd => Some("slapd.service"),
            Unit::Postfix => Some("postfix.service"),
            Unit::Dovecot => Some("dovecot.service"),
            Unit::Networkd => Some("systemd-networkd.service"),
            Unit::Firewall => Some("pigeonair-firewall.service"),
            Unit::Ssh => Some("ssh.service"),
            Unit::Sysctl | Unit::None => None,
        }
    }
}

/// One file of the node as the plan wants it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RenderedFile {
    /// Absolute path on the node.
    pub path: String,
    /// Contents.
    pub contents: String,
    /// Permission bits.
    pub mode: u32,
    /// Owning user (a name in the node's /etc/passwd).
    pub owner: String,
    /// Owning group.
    pub group: String,
    /// The unit that reads it.
    pub unit: Unit,
}

impl RenderedFile {
    /// A file owned by root, mode 0644.
    pub fn public(path: &str, contents: String, unit: Unit) -> Self {
        RenderedFile {
            path: path.to_owned(),
            contents,
            mode: 0o644,
            owner: "root".into(),
            group: "root".into(),
            unit,
        }
    }

    /// A file readable only by root and `group` (mode 0640): it holds a secret.
    pub fn secret(path: &str, contents: String, group: &str, unit: Unit) -> Self {
        RenderedFile {
            path: path.to_owned(),
            contents,
            mode: 0o640,
            owner: "root".into(),
            group: group.to_owned(),
            unit,
        }
    }
}

/// The cluster's secrets, made at the first node's install, handed to each joining node over
/// the join's TLS channel, and kept in `/etc/pigeonair/secrets.toml` (root only).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, Serialize)]
pub struct Secrets {
    /// Postfix's bind password (`cn=postfix,ou=services,…`).
    pub postfix_ldap: String,
    /// Dovecot's bind password (`cn=dovecot,ou=services,…`).
    pub dovecot_ldap: String,
    /// What a proxying node presents to a mailbox's home node (empty in a file written before
    /// clusters: made then).
    #[serde(default)]
    pub proxy: String,
    /// Dovecot's `doveadm_password`, for mailbox moves between nodes (likewise).
    #[serde(default)]
    pub doveadm: String,
}

/// Where PigeonAir keeps the node's TLS key and certificate (made with openssl at install).
pub const TLS_CERT: &str = "/etc/pigeonair/tls/node.crt";
/// The node's TLS key.
pub const TLS_KEY: &str = "/etc/pigeonair/tls/node.key";
/// The cluster CA's certificate, on every node: what peers' certificates are checked against.
pub const CLUSTER_CA_CERT: &str = "/etc/pigeonair/cluster/ca.crt";
/// The cluster CA's revocation list on every node (once the CA has revoked a certificate:
/// pigeonaird writes it from the directory).
pub const CLUSTER_CRL: &str = "/etc/pigeonair/cluster/crl.pem";
/// The CA's certificate followed by the list: what slapd loads (OpenSSL takes both from one
/// file), so checking the list never depends on a second setting staying in step.
pub const CLUSTER_CA_AND_CRL: &str = "/etc/pigeonair/cluster/ca-crl.pem";
/// The cluster CA's key, only on the nodes with the `ca` role (root only; never printed, never
/// in the directory).
pub const CLUSTER_CA_KEY: &str = "/etc/pigeonair/cluster/ca.key";
/// This node's certificate from the cluster CA (host name and private address): replication,
/// the control plane, proxying and LMTP between nodes.
pub const CLUSTER_CERT: &str = "/etc/pigeonair/cluster/node.crt";
/// This node's key for [`CLUSTER_CERT`] (root and ssl-cert, which openldap joins).
pub const CLUSTER_KEY: &str = "/etc/pigeonair/cluster/node.key";

/// Every file the plan wants on the node in the cluster `view`, sorted by path.
pub fn render_all(plan: &Plan, secrets: &Secrets, view: &ClusterView) -> Vec<RenderedFile> {
    let mut files = Vec::new();
    files.extend(network::render(plan, view));
    files.extend(direct_routing::render(plan));
    files.extend(firewall::render(plan));
    files.extend(ssh::render(plan));
    files.extend(slapd::render(plan, view));
    files.extend(postfix::render(plan, secrets));
    files.extend(dovecot::render(plan, secrets));
    files.extend(balancer::render(plan, view));
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}
