//! DNS round-robin: an authoritative DNS server for the cluster's service names (`mx`, `smtp`,
//! `imap`, … under `dns.zone`) and for the MX of hosted mail domains, answering only with
//! healthy nodes and a short TTL; plus a BIND zone export for ISPs that run their own DNS.
//!
//! # Why the server is embedded in the balancer daemon
//! We answer queries from the health checker's in-memory state instead of rendering zone files
//! for NSD. An answer must change within a second of a node's death; with NSD every health
//! transition would cost a zone-file write and an `nsd-control reload` (and one more process to
//! supervise), racing the next transition. Here the daemon builds a new immutable [`DnsView`]
//! and hands it to the server over a `tokio::sync::watch` channel; the next query sees it.
//!
//! # Layout
//! - this file: [`DnsView`], the snapshot of who is in each answer, and the rule that decides it;
//! - `answer.rs`: query bytes → reply bytes ([`answer`], [`answer_tcp`]), pure;
//! - `zone_text.rs`: [`zone_text`], the BIND zone for external DNS servers, pure;
//! - [`server`]: the thin tokio shell (UDP and TCP sockets).
//!
//! The wire format is `hickory-proto`'s; nothing here encodes DNS messages by hand.
//!
//! # Names served
//! - `<zone>`: SOA and NS, plus MX when the zone itself is a hosted mail domain;
//! - the name servers: with `dns.name_servers` (the cluster's DNS balancers, two or more, all
//!   answering the same), NS `ns1.<zone>.` … `nsN.<zone>.`, each with A/AAAA of its address in
//!   the list, the same on every server so they agree on the zone; without it, NS `ns.<zone>.`
//!   with A/AAAA of the addresses this server listens on (wildcard and loopback addresses left
//!   out: nobody could use them). A service name of the same spelling takes precedence (and
//!   `Config::parse` refuses it for `nsK`);
//! - `<service>.<zone>`: A/AAAA of the nodes in that name's answer (see [`DnsView::new`]);
//! - each hosted mail domain's apex: SOA, NS and `MX 10 <mx_target>.<zone>.` — nothing else,
//!   so a domain that needs SPF, DKIM or web records keeps its own DNS and points its MX at
//!   `<mx_target>.<zone>` (the zone export lists the lines to add).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;

use hickory_proto::rr::Name;

use crate::config::{DnsSettings, NAME_SERVER_LABEL, Node};

mod answer;
pub mod server;
mod zone_text;

pub use answer::{EDNS_UDP_PAYLOAD, answer, answer_tcp};
pub use zone_text::zone_text;

/// The label of the name server's host name under the zone when `dns.name_servers` is not
/// given: the NS record is `ns.<zone>.`. With it, `ns1.<zone>.`, `ns2.<zone>.`, …
pub const NS_LABEL: &str = "ns";

/// The label of the SOA contact (RNAME) under the zone: `hostmaster.<zone>.` (RFC 2142).
pub const HOSTMASTER_LABEL: &str = "hostmaster";

/// SOA timers in seconds: refresh, retry, expire. Only secondaries use them, and we offer no
/// zone transfer, but the zone export carries the same values to an ISP's DNS.
pub const SOA_TIMERS: (i32, i32, i32) = (3_600, 600, 604_800);

/// An immutable snapshot of what the DNS server answers: built from the config and the health
/// checker's state each time either changes, then shared (in an `Arc`) with the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsView {
    ttl: u32,
    serial: u32,
    /// Service names answered with every non-drained node because none was healthy.
    fallback: Vec<String>,
    /// `None` when the zone is not a DNS name (a `DnsSettings` built without `Config::parse`):
    /// then every query is refused.
    zone: Option<Zone>,
}

/// The data of the cluster zone and the hosted domains' apexes; every name fully qualified and
/// lowercase.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Zone {
    apex: Name,
    /// The NS RRset's targets, in order; the first is also the SOA's MNAME. Never empty.
    ns_hosts: Vec<Name>,
    hostmaster: Name,
    /// Owner names under the apex with their addresses, in node order: the service names and
    /// name servers. A name here exists even with no address (NODATA, not NXDOMAIN).
    hosts: BTreeMap<Name, Vec<IpAddr>>,
    /// `<mx_target>.<zone>.`; `None` when that is not a DNS name.
    mx_target: Option<Name>,
    /// Apexes of the hosted mail domains (may include the cluster zone itself).
    mx_domains: Vec<Name>,
}

/// `label` (possibly several labels) under `apex`, fully qualified and lowercase, or `None` if
/// that is not a DNS name.
fn name_under(label: &str, apex: &str) -> Option<Name> {
    let text = if label.is_empty() {
        format!("{apex}.")
    } else {
        format!("{label}.{apex}.")
    };
    Name::from_ascii(text.to_ascii_lowercase())
        .ok()
        .filter(|n| n.is_fqdn() && !n.is_root())
}

/// The addresses a server listening on `listen` can be reached at: wildcard and loopback
/// addresses left out, each address once, in listen order.
fn reachable_listen_addresses(settings: &DnsSettings) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = Vec::new();
    for a in &settings.listen {
        let ip = a.ip();
        if !ip.is_unspecified() && !ip.is_loopback() && !out.contains(&ip) {
            out.push(ip);
        }
    }
    out
}

/// The name servers' labels under the zone, with their addresses, in NS order: `ns1` … `nsN`
/// for `dns.name_servers`, else `ns` at the addresses this server listens on. Shared by the
/// answers and the zone export, so both name the same servers.
fn name_server_hosts(settings: &DnsSettings) -> Vec<(String, Vec<IpAddr>)> {
    if settings.name_servers.is_empty() {
        return vec![(NS_LABEL.to_string(), reachable_listen_addresses(settings))];
    }
    settings
        .name_servers
        .iter()
        .enumerate()
        .map(|(i, ip)| (format!("{NAME_SERVER_LABEL}{}", i + 1), vec![*ip]))
        .collect()
}

impl DnsView {
    /// Builds the snapshot. The rule for each service name (`settings.names`):
    ///
    /// 1. A node is in the name's answer when it is not `drain`ed and `healthy(node, port)`
    ///    holds for every port of that name.
    /// 2. When no node qualifies, the answer holds every non-drained node instead, and the name
    ///    is listed in [`DnsView::fallback_names`] so the daemon can log it. An empty answer
    ///    (NODATA) makes every sending MTA queue or bounce and every client fail at once, while
    ///    a node that failed our check may still work for some clients (a check can fail on
    ///    the checker's side of a partition); resolvers retry other addresses anyway.
    /// 3. With every node drained the name has no address (NODATA): draining is an operator's
    ///    explicit choice.
    ///
    /// Node weights do not apply: DNS cannot express them, and every answer lists all its
    /// addresses (rotated per query, see [`answer`]).
    ///
    /// Names that `Config::parse` would refuse are left out instead of panicking; with an
    /// invalid zone the view refuses every query.
    pub fn new(
        settings: &DnsSettings,
        nodes: &[Node],
        healthy: impl Fn(&Node, u16) -> bool,
    ) -> DnsView {
        let mut fallback = Vec::new();
        let mut hosts = BTreeMap::new();
        for (service, ports) in &settings.names {
            let Some(owner) = name_under(service, &settings.zone) else {
                continue;
            };
            let serving: Vec<&Node> = nodes.iter().filter(|n| !n.drain).collect();
            let passing: Vec<IpAddr> = serving
                .iter()
                .filter(|n| ports.iter().all(|&p| healthy(n, p)))
                .map(|n| n.address)
                .collect();
            let addresses = if passing.is_empty() && !serving.is_empty() {
                fallback.push(service.clone());
                serving.iter().map(|n| n.address).collect()
            } else {
                passing
            };
            hosts.insert(owner, addresses);
        }
        let zone = name_under("", &settings.zone).map(|apex| {
            let ns_hosts: Vec<Name> = name_server_hosts(settings)
                .into_iter()
                .filter_map(|(label, addresses)| {
                    let host = name_under(&label, &settings.zone)?;
                    hosts.entry(host.clone()).or_insert(addresses);
                    Some(host)
                })
                .collect();
            let mut mx_domains: Vec<Name> = Vec::new();
            for d in &settings.mx_domains {
                if let Some(apex) = name_under("", d) {
                    if !mx_domains.contains(&apex) {
                        mx_domains.push(apex);
                    }
                }
            }
            Zone {
                ns_hosts,
                hostmaster: name_under(HOSTMASTER_LABEL, &settings.zone)
                    .expect("hostmaster under a valid zone"),
                hosts,
                mx_target: name_under(&settings.mx_target, &settings.zone),
                mx_domains,
                apex,
            }
        });
        let mut view = DnsView {
            ttl: settings.ttl,
            serial: 0,
            fallback,
            zone,
        };
        view.serial = view.content_serial();
        view
    }

    /// The SOA serial: a 32-bit FNV-1a hash of everything the view answers, so it changes when
    /// the set of answered nodes changes. It is not monotonic; nobody compares our serials by
    /// order because we offer no zone transfer (ISPs get [`zone_text`] with their own serial).
    pub fn serial(&self) -> u32 {
        self.serial
    }

    /// The TTL of every record, in seconds.
    pub fn ttl(&self) -> u32 {
        self.ttl
    }

    /// Service names answered with every non-drained node because no node passed their checks
    /// (rule 2 of [`DnsView::new`]): worth a warning in the log.
    pub fn fallback_names(&self) -> &[String] {
        &self.fallback
    }

    /// The addresses answered for a service name (relative to the zone, e.g. `"imap"`), in node
    /// order; `None` for a name the view does not hold.
    pub fn addresses(&self, service: &str) -> Option<&[IpAddr]> {
        let zone = self.zone.as_ref()?;
        let apex = zone.apex.to_ascii();
        let owner = name_under(service, apex.trim_end_matches('.'))?;
        zone.hosts.get(&owner).map(Vec::as_slice)
    }

    fn content_serial(&self) -> u32 {
        let mut text = format!("ttl {}\n", self.ttl);
        if let Some(z) = &self.zone {
            let _ = writeln!(text, "zone {}", z.apex);
            for (owner, addresses) in &z.hosts {
                let _ = writeln!(text, "{owner} {addresses:?}");
            }
            let _ = writeln!(text, "mx {:?} {:?}", z.mx_target, z.mx_domains);
        }
        fnv1a32(text.as_bytes())
    }
}

/// FNV-1a, 32 bits (offset basis 0x811c9dc5, prime 0x01000193).
fn fnv1a32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |h: u32, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The settings every DNS test starts from: zone `cluster.example.net`, names `mx` (25) and
    /// `imap` (143, 993), hosted domain `example.com`.
    pub(crate) fn settings() -> DnsSettings {
        DnsSettings {
            listen: vec![
                "203.0.113.53:53".parse().unwrap(),
                "[2001:db8::53]:53".parse().unwrap(),
                "0.0.0.0:5353".parse().unwrap(),
            ],
            zone: "cluster.example.net".into(),
            ttl: 5,
            names: [
                ("mx".to_string(), vec![25]),
                ("imap".into(), vec![143, 993]),
            ]
            .into_iter()
            .collect(),
            mx_target: "mx".into(),
            mx_domains: vec!["example.com".into()],
            name_servers: vec![],
        }
    }

    /// [`settings`] as one of a cluster's two DNS balancers (203.0.113.11 and .12) renders
    /// it: listening on `listen` only, both servers in `name_servers`.
    pub(crate) fn pair_settings(listen: &str) -> DnsSettings {
        DnsSettings {
            listen: vec![listen.parse().unwrap()],
            name_servers: ips(&["203.0.113.11", "203.0.113.12"]),
            ..settings()
        }
    }

    fn node(name: &str, address: &str, drain: bool) -> Node {
        Node {
            name: name.into(),
            address: address.parse().unwrap(),
            weight: 100,
            drain,
        }
    }

    /// node1 and node2 (IPv4), node3 (IPv6), node4 (IPv4, drained).
    pub(crate) fn nodes() -> Vec<Node> {
        vec![
            node("node1", "10.42.0.11", false),
            node("node2", "10.42.0.12", false),
            node("node3", "2001:db8::13", false),
            node("node4", "10.42.0.14", true),
        ]
    }

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|a| a.parse().unwrap()).collect()
    }

    #[test]
    fn healthy_non_drained_nodes_are_answered() {
        // node2 fails IMAPS only: out of imap, still in mx.
        let view = DnsView::new(&settings(), &nodes(), |n, p| {
            !(n.name == "node2" && p == 993)
        });
        assert_eq!(
            view.addresses("mx").unwrap(),
            ips(&["10.42.0.11", "10.42.0.12", "2001:db8::13"])
        );
        assert_eq!(
            view.addresses("IMAP").unwrap(),
            ips(&["10.42.0.11", "2001:db8::13"])
        );
        assert!(view.fallback_names().is_empty());
        assert_eq!(
            view.addresses("ns").unwrap(),
            ips(&["203.0.113.53", "2001:db8::53"])
        );
        assert_eq!(view.addresses("smtp"), None);
    }

    #[test]
    fn no_healthy_node_answers_every_non_drained_node() {
        let view = DnsView::new(&settings(), &nodes(), |_, p| p != 25);
        assert_eq!(
            view.addresses("mx").unwrap(),
            ips(&["10.42.0.11", "10.42.0.12", "2001:db8::13"])
        );
        assert_eq!(view.fallback_names(), ["mx"]);
    }

    #[test]
    fn all_drained_answers_nothing() {
        let drained: Vec<Node> = nodes()
            .into_iter()
            .map(|n| Node { drain: true, ..n })
            .collect();
        let view = DnsView::new(&settings(), &drained, |_, _| true);
        assert_eq!(view.addresses("mx").unwrap(), &[] as &[IpAddr]);
        assert!(view.fallback_names().is_empty());
    }

    #[test]
    fn serial_follows_the_answered_set() {
        let all = DnsView::new(&settings(), &nodes(), |_, _| true);
        let again = DnsView::new(&settings(), &nodes(), |_, _| true);
        let fewer = DnsView::new(&settings(), &nodes(), |n, _| n.name != "node1");
        assert_eq!(all.serial(), again.serial());
        assert_ne!(all.serial(), fewer.serial());
    }

    #[test]
    fn two_balancers_name_both_servers_and_agree_on_the_serial() {
        let first = DnsView::new(&pair_settings("203.0.113.11:53"), &nodes(), |_, _| true);
        let second = DnsView::new(&pair_settings("203.0.113.12:53"), &nodes(), |_, _| true);
        assert_eq!(first.addresses("ns1").unwrap(), ips(&["203.0.113.11"]));
        assert_eq!(first.addresses("ns2").unwrap(), ips(&["203.0.113.12"]));
        assert_eq!(first.addresses("ns"), None);
        // Same nodes healthy, same data, same serial, whichever server is asked.
        assert_eq!(first, second);
        assert_eq!(first.serial(), second.serial());
        let fewer = DnsView::new(&pair_settings("203.0.113.12:53"), &nodes(), |n, _| {
            n.name != "node2"
        });
        assert_ne!(first.serial(), fewer.serial());
    }

    #[test]
    fn a_service_named_like_a_name_server_keeps_its_nodes() {
        let mut s = pair_settings("203.0.113.11:53");
        s.names.insert("ns2".into(), vec![25]);
        let view = DnsView::new(&s, &nodes(), |_, _| true);
        assert_eq!(
            view.addresses("ns2").unwrap(),
            ips(&["10.42.0.11", "10.42.0.12", "2001:db8::13"])
        );
    }

    #[test]
    fn invalid_names_are_left_out_not_panicked_on() {
        let mut s = settings();
        s.names.insert("bad name".into(), vec![25]);
        s.mx_domains.push("not a domain".into());
        let view = DnsView::new(&s, &nodes(), |_, _| true);
        assert_eq!(view.addresses("bad name"), None);
        s.zone = "..".into();
        let view = DnsView::new(&s, &nodes(), |_, _| true);
        assert_eq!(view.addresses("mx"), None);
    }
}
