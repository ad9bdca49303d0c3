//! `/etc/pigeonair/balancer.toml` of a cluster whose balancer is DNS round-robin
//! (`cluster.balancer = "dns"`): each DNS server node ([`ClusterView::dns_servers`]: the two
//! holding role `dns`, the first node and the next to join) runs the authoritative DNS server
//! on its public address, for the zone `CLUSTER.DOMAIN`, answering with the active nodes that
//! pass their checks; hosted domains' MX point at `mx.CLUSTER.DOMAIN`. A node that is draining
//! or drained stays in the file with `drain = true` (never answered); a node still joining is
//! not in it. The servers' files differ only in `listen`: `name_servers` lists every server's
//! public address (the zone's NS `ns1`, `ns2`, … with glue), so they answer the same.
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

/// The balancer's file, on a node that runs it (a DNS server of a DNS-balanced cluster, see
/// [`ClusterView::dns_servers`]) once the cluster has a node in service; `None` elsewhere.
pub fn render(plan: &Plan, view: &ClusterView) -> Option<RenderedFile> {
    if plan.balancer != Balancer::Dns {
        return None;
    }
    let servers = view.dns_servers();
    if !servers
        .iter()
        .any(|n| n.hostname.eq_ignore_ascii_case(plan.hostname.as_str()))
    {
        return None;
    }
    let name_servers: Vec<String> = servers
        .iter()
        .filter_map(|n| Some(format!("\"{}\"", n.public?)))
        .collect();
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
         # nodes never. name_servers: every DNS server node (role dns), the zone's NS.\n",
    );
    let _ = write!(
        text,
        "mode = \"dns\"\n\n[dns]\nlisten = [\"{}:53\"]\nzone = \"{}\"\nttl = 5\nmx_domains = [\"{}\"]\nname_servers = [{}]\n",
        plan.public.address.addr(),
        zone(plan),
        plan.domain,
        name_servers.join(", ")
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
