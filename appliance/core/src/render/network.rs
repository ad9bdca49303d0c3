//! The node's network and identity: systemd-networkd files for both interfaces, hostname,
//! hosts and mailname.

use std::fmt::Write as _;

use super::{RenderedFile, Unit};
use crate::cluster::ClusterView;
use crate::plan::Plan;

/// /etc/hosts: localhost, the node itself and every peer by its private address. `mailHost`
/// values are host names, and Postfix resolves them here (`lmtp_host_lookup = native`), so mail
/// for a peer's mailbox needs no DNS. pigeonaird rewrites it when `ou=nodes` changes.
pub fn hosts(plan: &Plan, view: &ClusterView) -> RenderedFile {
    let host = plan.hostname.as_str();
    // The node's own name resolves to its private address: peers and the node itself reach
    // its LMTP and directory over the cluster network.
    let mut hosts = format!(
        "# Written by PigeonAir (pigeonair-install, pigeonaird) from the plan and ou=nodes.\n\
         127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n{}\t{host} {}\n",
        plan.private.address.addr(),
        plan.hostname.short()
    );
    for peer in view.peers(host) {
        let short = peer.hostname.split('.').next().unwrap_or(&peer.hostname);
        if let Some(ip) = peer.private {
            let _ = writeln!(hosts, "{ip}\t{} {short}", peer.hostname);
        }
    }
    RenderedFile::public("/etc/hosts", hosts, Unit::None)
}

/// networkd, /etc/hostname, /etc/hosts and /etc/mailname for `plan` in the cluster `view`.
pub fn render(plan: &Plan, view: &ClusterView) -> Vec<RenderedFile> {
    let mut public = format!(
        "# Written by pigeonair-install: the public network.\n[Match]\nName={}\n\n[Network]\nAddress={}\n",
        plan.public.interface, plan.public.address
    );
    if let Some(gw) = plan.public.gateway {
        let _ = writeln!(public, "Gateway={gw}");
    }
    for dns in &plan.dns {
        let _ = writeln!(public, "DNS={dns}");
    }
    // Addresses set before networkd starts (by a lab or a previous boot) are kept.
    public.push_str("KeepConfiguration=static\n");
    let private = format!(
        "# Written by pigeonair-install: the private cluster network.\n[Match]\nName={}\n\n[Network]\nAddress={}\nKeepConfiguration=static\n",
        plan.private.interface, plan.private.address
    );
    let host = plan.hostname.as_str();
    let mut resolv = String::from("# Written by pigeonair-install.\n");
    for dns in &plan.dns {
        let _ = writeln!(resolv, "nameserver {dns}");
    }
    vec![
        RenderedFile::public(
            "/etc/systemd/network/10-pigeonair-public.network",
            public,
            Unit::Networkd,
        ),
        RenderedFile::public(
            "/etc/systemd/network/20-pigeonair-private.network",
            private,
            Unit::Networkd,
        ),
        RenderedFile::public("/etc/hostname", format!("{host}\n"), Unit::None),
        hosts(plan, view),
        RenderedFile::public("/etc/mailname", format!("{host}\n"), Unit::None),
        RenderedFile::public("/etc/resolv.conf", resolv, Unit::None),
    ]
}
