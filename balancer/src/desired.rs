//! The IPVS table the balancer wants, from the config and the health of each (node, port). Pure.
//!
//! A destination is:
//! - in rotation at the node's weight while its checks pass;
//! - quiesced (weight 0: no new connections, established ones continue) when the node is
//!   drained, or for `remove_after` after its checks start failing;
//! - absent after that, and before its first `rise` successes.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Instant;

use crate::config::{IpvsSettings, Node};
use crate::health::Health;
use crate::ipvs::table::{Destination, Service, ServiceKey};
use crate::reconcile::Table;

/// Health by (node name, port).
pub type HealthMap = BTreeMap<(String, u16), Health>;

/// What a (node, port) is in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DestState {
    /// In rotation at this weight.
    Active(u32),
    /// Weight 0.
    Quiesced,
    /// Not in the table.
    Absent,
}

/// The rule above for one (node, port).
pub fn dest_state(
    settings: &IpvsSettings,
    node: &Node,
    health: Option<&Health>,
    now: Instant,
) -> DestState {
    let Some(h) = health else {
        return DestState::Absent;
    };
    if h.up {
        if node.drain {
            DestState::Quiesced
        } else {
            DestState::Active(node.weight)
        }
    } else if h.ever_up
        && (node.drain || now.saturating_duration_since(h.since) < settings.remove_after)
    {
        DestState::Quiesced
    } else {
        DestState::Absent
    }
}

/// The services the balancer owns under `settings`: one TCP service per port on the VIP.
pub fn service_keys(settings: &IpvsSettings) -> impl Iterator<Item = (u16, ServiceKey)> + '_ {
    settings
        .ports
        .iter()
        .map(|&port| (port, ServiceKey::tcp(SocketAddr::new(settings.vip, port))))
}

/// The services on the VIP, one per port, and their destinations.
pub fn desired_table(
    settings: &IpvsSettings,
    nodes: &[Node],
    health: &HealthMap,
    now: Instant,
) -> Table {
    let persistence = (settings.persistence > 0).then_some(settings.persistence);
    let mut table = Table::new();
    for (port, key) in service_keys(settings) {
        let service = Service::new(key, &settings.scheduler, persistence);
        let mut dests = Vec::new();
        for node in nodes {
            let weight =
                match dest_state(settings, node, health.get(&(node.name.clone(), port)), now) {
                    DestState::Active(w) => w,
                    DestState::Quiesced => 0,
                    DestState::Absent => continue,
                };
            dests.push(Destination {
                addr: node.address,
                port,
                forwarding: settings.forwarding.into(),
                weight,
                upper_threshold: 0,
                lower_threshold: 0,
            });
        }
        table.insert(key, (service, dests));
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Mode};
    use std::time::Duration;

    fn settings() -> (IpvsSettings, Vec<Node>) {
        let c = Config::parse(
            "mode = \"ipvs\"\n[ipvs]\nvip = \"203.0.113.240\"\nports = [25]\nremove_after = 30\n\
             [[node]]\nname = \"n1\"\naddress = \"10.42.0.11\"\n[[node]]\nname = \"n2\"\naddress = \"10.42.0.12\"\nweight = 7\n",
        )
        .unwrap();
        let Mode::Ipvs(i) = c.mode else {
            unreachable!()
        };
        (i, c.nodes)
    }

    #[test]
    fn failed_servers_are_quiesced_then_removed() {
        let (s, nodes) = settings();
        let t0 = Instant::now();
        let mut health = HealthMap::new();
        let weights = |h: &HealthMap, at: Instant| -> Vec<(String, u32)> {
            desired_table(&s, &nodes, h, at)
                .values()
                .next()
                .unwrap()
                .1
                .iter()
                .map(|d| (d.addr.to_string(), d.weight))
                .collect()
        };
        assert!(
            weights(&health, t0).is_empty(),
            "unchecked nodes get nothing"
        );
        for n in ["n1", "n2"] {
            let h = health
                .entry((n.to_string(), 25))
                .or_insert_with(|| Health::new(t0));
            for _ in 0..3 {
                h.observe(Ok(()), 3, 2, t0);
            }
        }
        assert_eq!(
            weights(&health, t0),
            vec![("10.42.0.11".into(), 100), ("10.42.0.12".into(), 7)]
        );
        let h = health.get_mut(&("n2".to_string(), 25)).unwrap();
        h.observe(Err("timeout".into()), 3, 2, t0);
        h.observe(Err("timeout".into()), 3, 2, t0 + Duration::from_secs(1));
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(
            weights(&health, t1 + Duration::from_secs(29)),
            vec![("10.42.0.11".into(), 100), ("10.42.0.12".into(), 0)]
        );
        assert_eq!(
            weights(&health, t1 + Duration::from_secs(30)),
            vec![("10.42.0.11".into(), 100)]
        );
    }

    #[test]
    fn drained_nodes_keep_weight_zero() {
        let (s, mut nodes) = settings();
        nodes[0].drain = true;
        let t0 = Instant::now();
        let mut h = Health::new(t0);
        for _ in 0..3 {
            h.observe(Ok(()), 3, 2, t0);
        }
        assert_eq!(dest_state(&s, &nodes[0], Some(&h), t0), DestState::Quiesced);
        assert_eq!(
            dest_state(&s, &nodes[1], Some(&h), t0),
            DestState::Active(7)
        );
    }
}
