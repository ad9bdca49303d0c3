//! IPVS direct routing on a node. The balancer owns the virtual service address (VIP) on the
//! wire: it answers ARP for it and passes each packet, unchanged, to a node's MAC address on
//! the public link. A node must therefore accept packets addressed to the VIP, which it does
//! by carrying the VIP as a host address on the loopback interface (the classic LVS-DR
//! arrangement, which needs no optional kernel driver), and must never answer ARP (or, for
//! IPv6, neighbour discovery) for it: clients would then reach that node directly and bypass
//! the balancer. Nothing is rendered for NAT forwarding, DNS or no balancer.

use std::fmt::Write as _;
use std::net::IpAddr;

use super::{RenderedFile, Unit};
use crate::plan::Plan;
use crate::types::InterfaceName;

/// The interface that carries the VIP: the loopback interface.
pub const VIP_INTERFACE: &str = "lo";
/// systemd-networkd's configuration of the loopback interface: the VIP as a host address.
pub const NETWORK: &str = "/etc/systemd/network/30-pigeonair-vip.network";
/// The ARP sysctls; loaded by apply when written, and at boot by systemd-sysctl.service.
pub const SYSCTL: &str = "/etc/sysctl.d/60-pigeonair-dr.conf";

/// The VIP on the loopback interface and the ARP sysctls, when the plan's balancer forwards
/// by direct routing; nothing otherwise.
pub fn render(plan: &Plan) -> Vec<RenderedFile> {
    let Some(vip) = plan.balancer.direct_routing_vip() else {
        return Vec::new();
    };
    let host_prefix = match vip {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    };
    // networkd adds the VIP next to the kernel's own 127.0.0.1/8 and ::1, which it keeps (also
    // across a restart); it never configures link-local addresses or router advertisements on
    // lo, and systemd-networkd-wait-online ignores lo, so nothing else is needed here. An IPv6
    // node answers neighbour solicitations only for addresses of the interface they arrive on,
    // so an IPv6 VIP on lo is never announced on the public link.
    let network = format!(
        "# Written by pigeonair-install: IPVS direct routing. The balancer owns the VIP {vip} on
# the wire and passes its connections to this node unchanged; the VIP as a host address on
# the loopback interface lets the node accept them without announcing it on the public link
# (see {SYSCTL}). 127.0.0.1/8 and ::1 stay as they are.
[Match]
Name={VIP_INTERFACE}

[Network]
Address={vip}/{host_prefix}
"
    );
    let public = &plan.public.interface;
    let mut sysctl = format!(
        "# Written by pigeonair-install: IPVS direct routing. The balancer owns the VIP
# {vip} on the wire; this node has it too (on {VIP_INTERFACE}) to accept the
# connections the balancer passes on, and must never answer ARP for it, or clients would
# reach this node directly.
# arp_ignore=1: answer ARP only for addresses of the interface the request arrived on, so the
# VIP on {VIP_INTERFACE} is never announced (Linux would otherwise answer for it on {public}).
# arp_announce=2: ARP requests this node sends always carry its own address on the
# outgoing interface, never the VIP, so neighbours never learn the VIP at this node's MAC.
net.ipv4.conf.all.arp_ignore = 1
net.ipv4.conf.all.arp_announce = 2
"
    );
    let _ = writeln!(sysctl, "{} = 1", conf_key(public, "arp_ignore"));
    let _ = writeln!(sysctl, "{} = 2", conf_key(public, "arp_announce"));
    vec![
        RenderedFile::public(NETWORK, network, Unit::Networkd),
        RenderedFile::public(SYSCTL, sysctl, Unit::Sysctl),
    ]
}

/// The sysctl key `net.ipv4.conf.IFACE.KEY`. A name with a dot (a VLAN, `eth0.100`) is
/// written with slashes: in sysctl.d, a key whose first separator is `/` keeps its dots.
fn conf_key(interface: &InterfaceName, key: &str) -> String {
    let name = interface.as_str();
    if name.contains('.') {
        format!("net/ipv4/conf/{name}/{key}")
    } else {
        format!("net.ipv4.conf.{name}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vlan_interface_is_keyed_with_slashes() {
        let vlan = InterfaceName::try_new("eth0.100").unwrap();
        assert_eq!(
            conf_key(&vlan, "arp_ignore"),
            "net/ipv4/conf/eth0.100/arp_ignore"
        );
        let plain = InterfaceName::try_new("eth0").unwrap();
        assert_eq!(
            conf_key(&plain, "arp_announce"),
            "net.ipv4.conf.eth0.arp_announce"
        );
    }

    #[test]
    fn nothing_without_direct_routing() {
        let example = include_str!("../../examples/single-box.toml");
        for balancer in [
            "balancer = \"none\"",
            "balancer = \"dns\"",
            "balancer = \"ipvs\"\n[balancer]\nvip = \"203.0.113.240\"\nforwarding = \"nat\"\n",
        ] {
            let text = example.replace("balancer = \"none\"", balancer);
            let plan = crate::parse_answers(&text).unwrap();
            assert!(render(&plan).is_empty(), "{balancer}");
        }
    }
}
