//! The lab's address plan and the network it makes, as data: which namespaces, bridges, veth
//! pairs and addresses. Pure; [`super::net`] runs the commands.
//!
//! ```text
//!  namespace pal-LAB-hub:   bridge brpub (public)          bridge brpriv (private cluster)
//!                             |        |                       |
//!  pal-LAB-client: eth0 203.0.113.250  |                       |
//!  pal-LAB-nodeI:           eth0 203.0.113.(10+I)          eth1 10.42.0.(10+I)
//! ```
//! The hub holds no address, so the client reaches the nodes' public addresses and has no route
//! to the private network. Nothing is made in the root namespace; every name carries the lab's,
//! so two labs with the same subnets run side by side.

use std::net::Ipv4Addr;

use super::names::{LabName, MAX_NODES, NodeName};

/// The public network (TEST-NET-3, never routed on the Internet), a /24.
pub const PUBLIC_NET: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 0);
/// The private cluster network, a /24.
pub const PRIVATE_NET: Ipv4Addr = Ipv4Addr::new(10, 42, 0, 0);
/// Prefix length of both networks.
pub const PREFIX: u8 = 24;
/// Node `I` has host number `NODE_HOST_OFFSET + I` on both networks.
pub const NODE_HOST_OFFSET: u8 = 10;
/// The client's host number on the public network. `.240`–`.249` are kept for service
/// addresses (the balancer's virtual IPs).
pub const CLIENT_HOST: u8 = 250;

/// The lab cannot be planned as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// Node count outside the address plan.
    #[error(
        "--nodes {0}: a lab has 1 to {MAX_NODES} nodes (addresses .11 to .210 of 203.0.113.0/24 and 10.42.0.0/24)"
    )]
    NodeCount(u32),
    /// A node name outside this lab.
    #[error("unknown node {name}: lab {lab} has {nodes}")]
    UnknownNode {
        /// The name asked for.
        name: String,
        /// The lab.
        lab: String,
        /// The nodes it has, e.g. `node1 … node3`.
        nodes: String,
    },
}

/// One node's place in the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodePlan {
    /// `nodeI`.
    pub name: NodeName,
    /// Address on the public network (`eth0`).
    pub public: Ipv4Addr,
    /// Address on the private cluster network (`eth1`).
    pub private: Ipv4Addr,
}

/// The whole lab: its name, nodes and client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabPlan {
    /// The lab's name.
    pub lab: LabName,
    /// Its nodes, in order.
    pub nodes: Vec<NodePlan>,
    /// The client's public address.
    pub client: Ipv4Addr,
}

fn host(net: Ipv4Addr, host: u8) -> Ipv4Addr {
    let [a, b, c, _] = net.octets();
    Ipv4Addr::new(a, b, c, host)
}

impl LabPlan {
    /// Plans a lab of `count` nodes.
    pub fn new(lab: LabName, count: u32) -> Result<Self, PlanError> {
        if !(1..=u32::from(MAX_NODES)).contains(&count) {
            return Err(PlanError::NodeCount(count));
        }
        let nodes = (1..=count as u16)
            .map(|i| {
                let n = NODE_HOST_OFFSET + i as u8;
                NodePlan {
                    name: NodeName::try_from_index(i).expect("index within MAX_NODES"),
                    public: host(PUBLIC_NET, n),
                    private: host(PRIVATE_NET, n),
                }
            })
            .collect();
        Ok(LabPlan {
            lab,
            nodes,
            client: host(PUBLIC_NET, CLIENT_HOST),
        })
    }

    /// The node called `name`, or an error listing the lab's nodes.
    pub fn node(&self, name: &str) -> Result<&NodePlan, PlanError> {
        name.parse::<NodeName>()
            .ok()
            .and_then(|n| self.nodes.iter().find(|p| p.name == n))
            .ok_or_else(|| PlanError::UnknownNode {
                name: name.to_owned(),
                lab: self.lab.to_string(),
                nodes: match self.nodes.len() {
                    1 => "node1 only".to_owned(),
                    n => format!("node1 … node{n}"),
                },
            })
    }

    /// The namespace holding the bridges.
    pub fn hub_netns(&self) -> String {
        format!("pal-{}-hub", self.lab)
    }

    /// The client's namespace.
    pub fn client_netns(&self) -> String {
        format!("pal-{}-client", self.lab)
    }

    /// A node's namespace; also its nspawn machine name.
    pub fn node_netns(&self, node: NodeName) -> String {
        format!("pal-{}-{node}", self.lab)
    }

    /// Every `ip` command (arguments after `ip`) that builds the lab's network, in order.
    pub fn network_commands(&self) -> Vec<Vec<String>> {
        let mut cmds = self.hub_commands();
        cmds.extend(self.client_commands());
        for node in &self.nodes {
            cmds.extend(self.node_commands(node));
        }
        cmds
    }

    fn hub_commands(&self) -> Vec<Vec<String>> {
        let hub = self.hub_netns();
        let mut cmds = vec![argv(&["netns", "add", &hub])];
        for bridge in ["brpub", "brpriv"] {
            cmds.push(argv(&["-n", &hub, "link", "add", bridge, "type", "bridge"]));
            cmds.push(argv(&["-n", &hub, "link", "set", bridge, "up"]));
        }
        cmds
    }

    fn client_commands(&self) -> Vec<Vec<String>> {
        let ns = self.client_netns();
        let mut cmds = vec![
            argv(&["netns", "add", &ns]),
            argv(&["-n", &ns, "link", "set", "lo", "up"]),
        ];
        cmds.extend(port(
            &self.hub_netns(),
            "client",
            "brpub",
            &ns,
            "eth0",
            self.client,
        ));
        cmds
    }

    /// The commands that add one node to the lab's network.
    pub fn node_commands(&self, node: &NodePlan) -> Vec<Vec<String>> {
        let ns = self.node_netns(node.name);
        let hub = self.hub_netns();
        let i = node.name.index();
        let mut cmds = vec![
            argv(&["netns", "add", &ns]),
            argv(&["-n", &ns, "link", "set", "lo", "up"]),
        ];
        cmds.extend(port(
            &hub,
            &format!("n{i}pub"),
            "brpub",
            &ns,
            "eth0",
            node.public,
        ));
        cmds.extend(port(
            &hub,
            &format!("n{i}priv"),
            "brpriv",
            &ns,
            "eth1",
            node.private,
        ));
        cmds
    }
}

/// A veth pair from a bridge in the hub to `dev` in namespace `ns`, with `addr`.
fn port(
    hub: &str,
    hub_end: &str,
    bridge: &str,
    ns: &str,
    dev: &str,
    addr: Ipv4Addr,
) -> Vec<Vec<String>> {
    let cidr = format!("{addr}/{PREFIX}");
    vec![
        argv(&[
            "-n", hub, "link", "add", hub_end, "type", "veth", "peer", "name", dev, "netns", ns,
        ]),
        argv(&["-n", hub, "link", "set", hub_end, "master", bridge, "up"]),
        argv(&["-n", ns, "addr", "add", &cidr, "dev", dev]),
        argv(&["-n", ns, "link", "set", dev, "up"]),
    ]
}

fn argv(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| (*w).to_owned()).collect()
}

/// Whether the namespace `name` is one that lab `lab` makes (`pal-LAB-hub`, `pal-LAB-client`,
/// `pal-LAB-nodeI`). Exact, so lab `a` never claims lab `a-b`'s namespaces.
pub fn lab_owns_netns(lab: &LabName, name: &str) -> bool {
    let Some(rest) = name
        .strip_prefix("pal-")
        .and_then(|r| r.strip_prefix(lab.as_str()))
        .and_then(|r| r.strip_prefix('-'))
    else {
        return false;
    };
    rest == "hub" || rest == "client" || rest.parse::<NodeName>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(n: u32) -> LabPlan {
        LabPlan::new(LabName::try_new("t").unwrap(), n).unwrap()
    }

    #[test]
    fn addresses() {
        let p = plan(3);
        assert_eq!(p.nodes[0].public, Ipv4Addr::new(203, 0, 113, 11));
        assert_eq!(p.nodes[2].private, Ipv4Addr::new(10, 42, 0, 13));
        assert_eq!(p.client, Ipv4Addr::new(203, 0, 113, 250));
        let last = plan(200);
        assert_eq!(last.nodes[199].public, Ipv4Addr::new(203, 0, 113, 210));
    }

    #[test]
    fn node_count_bounds() {
        let lab = LabName::try_new("t").unwrap();
        for bad in [0, 201, 100_000] {
            assert_eq!(
                LabPlan::new(lab.clone(), bad).unwrap_err(),
                PlanError::NodeCount(bad)
            );
        }
        assert_eq!(
            PlanError::NodeCount(0).to_string(),
            "--nodes 0: a lab has 1 to 200 nodes (addresses .11 to .210 of 203.0.113.0/24 and 10.42.0.0/24)"
        );
    }

    #[test]
    fn unknown_node_lists_the_lab() {
        let p = plan(3);
        assert_eq!(p.node("node2").unwrap().name.index(), 2);
        assert_eq!(
            p.node("node4").unwrap_err().to_string(),
            "unknown node node4: lab t has node1 … node3"
        );
        assert_eq!(
            plan(1).node("web").unwrap_err().to_string(),
            "unknown node web: lab t has node1 only"
        );
    }

    #[test]
    fn network_commands_golden() {
        let text: Vec<String> = plan(1)
            .network_commands()
            .iter()
            .map(|c| c.join(" "))
            .collect();
        assert_eq!(
            text.join("\n"),
            "netns add pal-t-hub
-n pal-t-hub link add brpub type bridge
-n pal-t-hub link set brpub up
-n pal-t-hub link add brpriv type bridge
-n pal-t-hub link set brpriv up
netns add pal-t-client
-n pal-t-client link set lo up
-n pal-t-hub link add client type veth peer name eth0 netns pal-t-client
-n pal-t-hub link set client master brpub up
-n pal-t-client addr add 203.0.113.250/24 dev eth0
-n pal-t-client link set eth0 up
netns add pal-t-node1
-n pal-t-node1 link set lo up
-n pal-t-hub link add n1pub type veth peer name eth0 netns pal-t-node1
-n pal-t-hub link set n1pub master brpub up
-n pal-t-node1 addr add 203.0.113.11/24 dev eth0
-n pal-t-node1 link set eth0 up
-n pal-t-hub link add n1priv type veth peer name eth1 netns pal-t-node1
-n pal-t-hub link set n1priv master brpriv up
-n pal-t-node1 addr add 10.42.0.11/24 dev eth1
-n pal-t-node1 link set eth1 up"
        );
    }

    #[test]
    fn netns_ownership_is_exact() {
        let a = LabName::try_new("a").unwrap();
        assert!(lab_owns_netns(&a, "pal-a-hub"));
        assert!(lab_owns_netns(&a, "pal-a-client"));
        assert!(lab_owns_netns(&a, "pal-a-node12"));
        assert!(!lab_owns_netns(&a, "pal-a-b-hub"));
        assert!(!lab_owns_netns(&a, "pal-ab-hub"));
        assert!(!lab_owns_netns(&a, "pal-a-node0"));
        assert!(!lab_owns_netns(&a, "other"));
    }
}
