//! `/etc/pigeonair/balancer.toml` of a cluster whose balancer is DNS round-robin
//! (`cluster.balancer = "dns"`): the provider node runs the authoritative DNS server on its
//! public address, for the zone `CLUSTER.DOMAIN`, answering with the active nodes that pass
//! their checks; hosted domains' MX point at `mx.CLUSTER.DOMAIN`. A node that is draining or
//! drained stays in the file with `drain = true` (never answered); a node still joining is not
//! in it.
//!
//! An IPVS balancer is a box in front of the nodes (they hold the VIP without answering ARP
//! for it), not a node, so nothing here renders its file: an operator writes it (README).
//!
//! The file is the contract with `pigeonair-balancer` (its parser is the check: `balancer`'s
//! tests parse what this renders); the installer and pigeonaird both render it from the plan
//! and the cluster view, so a node that becomes active enters the answers as soon as
//! pigeonaird sees it.

use std::fmt::Write as _;

use super::{RenderedFile, Unit};
use crate::cluster::ClusterView;
use crate::plan::{Balancer, Plan};

/// Where the balancer reads its desired state.
pub const BALANCER_TOML: &str = "/etc/pigeonair/balancer.toml";

/// The DNS zone the cluster's balancer answers for.
pub fn zone(plan: &Plan) -> String {
    format!("{}.{}", plan.cluster, plan.domain)
}

/// Node states the balancer knows about, and whether each is drained.
fn in_balancer(state: &str) -> Option<bool> {
    match state {
        "active" => Some(false),
        "draining" | "drained" => Some(true),
        _ => None,
    }
}

/// The balancer's file, on the node that runs it (the provider of a DNS-balanced cluster)
/// once the cluster has a node in service; `None` elsewhere.
pub fn render(plan: &Plan, view: &ClusterView) -> Option<RenderedFile> {
    if plan.balancer != Balancer::Dns {
        return None;
    }
    let me = view.nodes.get(plan.hostname.as_str())?;
    if !me.roles.iter().any(|r| r == "provider") {
        return None;
    }
    let nodes: Vec<_> = view
        .nodes
        .values()
        .filter_map(|n| Some((n, in_balancer(&n.state)?, n.public?)))
        .collect();
    if nodes.is_empty() {
        return None;
    }
    let mut text = String::from(
        "# Written by PigeonAir (pigeonair-install, pigeonaird) from the plan and ou=nodes:\n\
         # the active nodes, answered while they pass their checks; draining and drained\n\
         # nodes never.\n",
    );
    let _ = write!(
        text,
        "mode = \"dns\"\n\n[dns]\nlisten = [\"{}:53\"]\nzone = \"{}\"\nttl = 5\nmx_domains = [\"{}\"]\n",
        plan.public.address.addr(),
        zone(plan),
        plan.domain
    );
    for (n, drained, address) in nodes {
        let _ = write!(
            text,
            "\n[[node]]\nname = \"{}\"\naddress = \"{address}\"\n",
            n.hostname
        );
        if drained {
            text.push_str("drain = true\n");
        }
    }
    Some(RenderedFile::public(BALANCER_TOML, text, Unit::None))
}
