//! The cluster view: the nodes as the directory has them (`ou=nodes`). Files that depend on
//! the other nodes (the hosts file today) are rendered from a plan and this view, by the
//! installer and by pigeonaird alike, so both write the same thing.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::Serialize;

/// A node's entry: its names, addresses and state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeView {
    /// Host name (the entry's `cn`, the value of its users' `mailHost`).
    pub hostname: String,
    /// Private address (without prefix length).
    pub private: Option<Ipv4Addr>,
    /// Public address (without prefix length).
    pub public: Option<Ipv4Addr>,
    /// `joining`, `active`, `draining`, `removed`.
    pub state: String,
    /// `provider`, `ca`.
    pub roles: Vec<String>,
    /// A provider's slapd serverID (`pigeonairServerId`); on a node that is becoming a
    /// provider, the one reserved for it. The first node of a cluster made before there were
    /// two providers has none: it is 1.
    pub server_id: Option<u16>,
}

/// The attributes a [`NodeView`] is read from.
pub const NODE_ATTRS: [&str; 6] = [
    "cn",
    "pigeonairPrivateAddress",
    "pigeonairPublicAddress",
    "pigeonairNodeState",
    "pigeonairNodeRole",
    "pigeonairServerId",
];

fn address(v: Option<&Vec<String>>) -> Option<Ipv4Addr> {
    v?.first()?.split('/').next()?.parse().ok()
}

impl NodeView {
    /// From an entry's attributes (as an LDAP search returns them); `None` without a `cn`.
    pub fn from_attrs(attrs: &std::collections::HashMap<String, Vec<String>>) -> Option<Self> {
        let hostname = attrs.get("cn")?.first()?.to_ascii_lowercase();
        Some(NodeView {
            hostname,
            private: address(attrs.get("pigeonairPrivateAddress")),
            public: address(attrs.get("pigeonairPublicAddress")),
            state: attrs
                .get("pigeonairNodeState")
                .and_then(|v| v.first().cloned())
                .unwrap_or_default(),
            roles: attrs.get("pigeonairNodeRole").cloned().unwrap_or_default(),
            server_id: attrs
                .get("pigeonairServerId")
                .and_then(|v| v.first()?.parse().ok()),
        })
    }

    /// Whether the node has `role` (`provider`, `ca`).
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r.eq_ignore_ascii_case(role))
    }
}

/// Every node of the cluster, by host name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ClusterView {
    /// The nodes, sorted by host name.
    pub nodes: BTreeMap<String, NodeView>,
}

impl ClusterView {
    /// A view of `nodes`.
    pub fn new(nodes: impl IntoIterator<Item = NodeView>) -> Self {
        ClusterView {
            nodes: nodes.into_iter().map(|n| (n.hostname.clone(), n)).collect(),
        }
    }

    /// The nodes other than `me` that have a private address (removed nodes left out).
    pub fn peers<'a>(&'a self, me: &'a str) -> impl Iterator<Item = &'a NodeView> + 'a {
        self.nodes.values().filter(move |n| {
            !n.hostname.eq_ignore_ascii_case(me) && n.private.is_some() && n.state != "removed"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn attrs(pairs: &[(&str, &str)]) -> HashMap<String, Vec<String>> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), vec![v.to_string()]))
            .collect()
    }

    #[test]
    fn entries_become_views_and_peers_leave_out_the_node_itself() {
        let view = ClusterView::new(
            [
                attrs(&[
                    ("cn", "MX1.example.com"),
                    ("pigeonairPrivateAddress", "10.42.0.11/24"),
                ]),
                attrs(&[
                    ("cn", "mx2.example.com"),
                    ("pigeonairPrivateAddress", "10.42.0.12/24"),
                    ("pigeonairNodeState", "joining"),
                ]),
                attrs(&[("cn", "mx3.example.com"), ("pigeonairNodeState", "active")]),
                attrs(&[("pigeonairPrivateAddress", "10.42.0.14/24")]),
            ]
            .iter()
            .filter_map(NodeView::from_attrs),
        );
        assert_eq!(view.nodes.len(), 3);
        let peers: Vec<&str> = view
            .peers("mx1.example.com")
            .map(|n| n.hostname.as_str())
            .collect();
        assert_eq!(peers, ["mx2.example.com"]);
        assert_eq!(
            view.nodes["mx2.example.com"].private,
            Some("10.42.0.12".parse().unwrap())
        );
    }
}
