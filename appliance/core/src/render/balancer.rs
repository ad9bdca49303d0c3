//! `/etc/pigeonair/balancer.toml` of a cluster whose balancer is DNS round-robin
//! (`cluster.balancer = "dns"`): the provider node runs the authoritative DNS server on its
//! public address, for the zone `CLUSTER.DOMAIN`, answering with the active nodes that pass
//! their checks; hosted domains' MX point at `mx.CLUSTER.DOMAIN`. The file is the contract
//! with `pigeonair-balancer` (its parser is the check: `balancer`'s tests parse what this
//! renders); the installer and pigeonaird both render it from the plan and the cluster view, so
//! a node that becomes active enters the answers as soon as pigeonaird sees it.

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

/// The balancer's file, on the node that runs it (the provider, with a DNS balancer) once the
/// cluster has an active node; `None` elsewhere.
pub fn render(plan: &Plan, view: &ClusterView) -> Option<RenderedFile> {
    if plan.balancer != Balancer::Dns {
        return None;
    }
    let me = view.nodes.get(plan.hostname.as_str())?;
    if !me.roles.iter().any(|r| r == "provider") {
        return None;
    }
    let active: Vec<_> = view
        .nodes
        .values()
        .filter(|n| n.state == "active" && n.public.is_some())
        .collect();
    if active.is_empty() {
        return None;
    }
    let mut text = format!(
        "# Written by PigeonAir (pigeonair-install, pigeonaird) from the plan and ou=nodes:\n\
         # the active nodes, answered while they pass their checks.\n\
         mode = \"dns\"\n\n[dns]\nlisten = [\"{}:53\"]\nzone = \"{}\"\nttl = 5\nmx_domains = [\"{}\"]\n",
        plan.public.address.addr(),
        zone(plan),
        plan.domain
    );
    for n in active {
        let _ = write!(
            text,
            "\n[[node]]\nname = \"{}\"\naddress = \"{}\"\n",
            n.hostname,
            n.public.expect("filtered")
        );
    }
    Some(RenderedFile::public(BALANCER_TOML, text, Unit::None))
}
