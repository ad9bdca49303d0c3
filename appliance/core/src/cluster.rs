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
    /// `provider`, `ca`, `dns` ([`DNS_ROLE`]).
    pub roles: Vec<String>,
    /// A provider's slapd serverID (`pigeonairServerId`); on a node that is becoming a
    /// provider, the one reserved for it. The first node of a cluster made before there were
    /// two providers has none: it is 1.
    pub server_id: Option<u16>,
}

/// A role a node's entry has while its cluster certificate is to be renewed (`pigeonctl node
/// renew NODE` gives it; the node's control plane takes it off once the new certificate is in
/// use).
pub const RENEWING: &str = "renewing-certificate";

/// The role of a node that runs the DNS balancer of a DNS-balanced cluster: an authoritative
/// server for the cluster's zone, named in the zone's NS records with its peers.
pub const DNS_ROLE: &str = "dns";

/// How many nodes of a DNS-balanced cluster get [`DNS_ROLE`]: two, so either can die and
/// resolvers, which know both from the NS records, go on asking the other. The first node
/// gets it at install and the next node to join gets it from the member that lets it in
/// ([`ClusterView::dns_role_on_join`]); later joins and removals do not move it, because
/// the zone's delegation at its parent names these servers' addresses.
pub const DNS_SERVERS_WANTED: usize = 2;

/// Node states whose DNS balancer serves: the node is in the cluster (in service or
/// drained of mail; draining is about mail, not DNS).
fn serves_dns(state: &str) -> bool {
    matches!(state, "active" | "draining" | "drained")
}

/// Node states of a node that has left the cluster or is leaving it for good.
fn gone(state: &str) -> bool {
    matches!(state, "removed" | "left")
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

    /// The nodes that run the DNS balancer of a DNS-balanced cluster, by host name: those
    /// holding [`DNS_ROLE`] that are in the cluster (active, draining or drained) and have a
    /// public address, where the server listens. Every one of them names all of them as the
    /// zone's name servers, so they all answer the same. A cluster where no node holds the
    /// role (installed before it existed) runs it on its provider, as it always did.
    pub fn dns_servers(&self) -> Vec<&NodeView> {
        let serving = |role: &str| -> Vec<&NodeView> {
            self.nodes
                .values()
                .filter(|n| n.roles.iter().any(|r| r == role))
                .filter(|n| serves_dns(&n.state) && n.public.is_some())
                .collect()
        };
        let holders = self
            .nodes
            .values()
            .any(|n| !gone(&n.state) && n.roles.iter().any(|r| r == DNS_ROLE));
        if holders {
            serving(DNS_ROLE)
        } else {
            serving("provider")
        }
    }

    /// The members that get [`DNS_ROLE`] when a node joins a DNS-balanced cluster, and whether
    /// the joining node gets it: it does while fewer than [`DNS_SERVERS_WANTED`] nodes that
    /// have not left hold it. In a cluster where no node holds it yet (installed before the
    /// role existed, so its provider runs the balancer) the providers get it first, so they
    /// go on running it alongside the joining node. Two joins at the same moment may both get
    /// it: a third name server is harmless.
    pub fn dns_role_on_join(&self) -> (Vec<&NodeView>, bool) {
        let holders = |role: &str| -> Vec<&NodeView> {
            self.nodes
                .values()
                .filter(|n| !gone(&n.state) && n.roles.iter().any(|r| r == role))
                .collect()
        };
        let mut count = holders(DNS_ROLE).len();
        let mut members = Vec::new();
        if count == 0 {
            members = holders("provider");
            count = members.len();
        }
        (members, count < DNS_SERVERS_WANTED)
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

    fn node(i: u8, state: &str, roles: &[&str]) -> NodeView {
        NodeView {
            hostname: format!("mx{i}.example.com"),
            private: Some(format!("10.42.0.1{i}").parse().unwrap()),
            public: Some(format!("203.0.113.1{i}").parse().unwrap()),
            state: state.into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            server_id: None,
        }
    }

    fn names(nodes: Vec<&NodeView>) -> Vec<&str> {
        nodes.into_iter().map(|n| n.hostname.as_str()).collect()
    }

    #[test]
    fn the_first_two_nodes_are_the_dns_servers_whatever_joins_later() {
        let mut view = ClusterView::new([node(1, "active", &["provider", "ca", "dns"])]);
        assert_eq!(view.dns_role_on_join(), (vec![], true));
        view = ClusterView::new(
            view.nodes
                .into_values()
                .chain([node(2, "joining", &["dns"])]),
        );
        // Not named before it is in the cluster: resolvers would wait for a server not there.
        assert_eq!(names(view.dns_servers()), ["mx1.example.com"]);
        assert_eq!(view.dns_role_on_join(), (vec![], false));
        let mut view = ClusterView::new(view.nodes.into_values().map(|mut n| {
            n.state = "active".into();
            n
        }));
        view.nodes
            .insert("mx3.example.com".into(), node(3, "active", &[]));
        assert_eq!(
            names(view.dns_servers()),
            ["mx1.example.com", "mx2.example.com"]
        );
        // A drained name server still answers; a removed one is gone and its place is free.
        view.nodes.get_mut("mx2.example.com").unwrap().state = "drained".into();
        assert_eq!(view.dns_servers().len(), 2);
        view.nodes.get_mut("mx2.example.com").unwrap().state = "removed".into();
        assert_eq!(names(view.dns_servers()), ["mx1.example.com"]);
        assert_eq!(view.dns_role_on_join(), (vec![], true));
    }

    #[test]
    fn a_cluster_without_the_dns_role_runs_it_on_its_provider() {
        let view = ClusterView::new([
            node(1, "active", &["provider", "ca"]),
            node(2, "active", &[]),
        ]);
        assert_eq!(names(view.dns_servers()), ["mx1.example.com"]);
        // Its first join gives the role to the provider too, so it goes on answering.
        let (members, joiner) = view.dns_role_on_join();
        assert_eq!(names(members), ["mx1.example.com"]);
        assert!(joiner);
    }

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
