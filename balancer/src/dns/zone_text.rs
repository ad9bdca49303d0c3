//! The cluster zone as BIND zone text, for ISPs that serve it from their own DNS: pure.

use std::fmt::Write as _;
use std::net::IpAddr;

use super::{HOSTMASTER_LABEL, NS_LABEL, SOA_TIMERS, name_server_hosts};
use crate::config::{DnsSettings, Node};

/// Renders the cluster zone (`settings.zone`) in BIND's master-file format (RFC 1035 §5):
/// `$ORIGIN`, `$TTL`, SOA, the name servers (NS `ns1.<zone>.` … `nsN.<zone>.` with glue for
/// `dns.name_servers`, the cluster's DNS balancers; else NS `ns.<zone>.` with the addresses the
/// balancer listens on: the same names as the live answers), and one A/AAAA per (service name,
/// non-drained node). Health does not enter: a DNS server that cannot
/// check nodes must list them all and leave retrying to clients. A comment block at the end
/// holds the MX record each hosted mail domain's own zone needs (an MX for the zone itself,
/// when it is a mail domain, is a record here).
///
/// `serial` is the ISP's to choose (e.g. `YYYYMMDDnn`): unlike [`super::DnsView::serial`] it
/// must increase with every export, since secondaries compare serials.
pub fn zone_text(settings: &DnsSettings, nodes: &[Node], serial: u32) -> String {
    let zone = &settings.zone;
    let mx_target = format!("{}.{zone}.", settings.mx_target);
    let (refresh, retry, expire) = SOA_TIMERS;
    let servers = name_server_hosts(settings);
    let primary = servers
        .first()
        .map_or(NS_LABEL, |(label, _)| label.as_str());
    let mut t = String::new();
    // Writing to a String cannot fail; `let _` keeps the renderer free of unwraps.
    let _ = write!(
        t,
        "; Zone {zone}. of a PigeonAir cluster, exported by pigeonair-balancer for DNS servers\n\
         ; that are not the balancer's own. Every non-drained node is listed, healthy or not:\n\
         ; without the balancer's checks, clients must retry the next address themselves.\n\
         ; If your name servers serve this zone, replace the NS records and their addresses.\n\
         $ORIGIN {zone}.\n\
         $TTL {ttl}\n\
         @ IN SOA {primary}.{zone}. {HOSTMASTER_LABEL}.{zone}. (\n    \
         {serial} ; serial\n    \
         {refresh} ; refresh (s)\n    \
         {retry} ; retry (s)\n    \
         {expire} ; expire (s)\n    \
         {ttl} ) ; negative-answer TTL (s)\n",
        ttl = settings.ttl,
    );
    for (label, _) in &servers {
        let _ = writeln!(t, "@ IN NS {label}.{zone}.");
    }
    if settings.mx_domains.iter().any(|d| d == zone) {
        let _ = writeln!(t, "@ IN MX 10 {mx_target}");
    }
    for (label, addresses) in servers {
        if settings.names.contains_key(&label) {
            continue;
        }
        if addresses.is_empty() {
            let _ = writeln!(
                t,
                "; {label} has no address: the balancer listens on wildcard or loopback \
                 addresses only. Give {label} your name server's address."
            );
        }
        address_lines(&mut t, &label, addresses.into_iter());
    }
    for service in settings.names.keys() {
        let before = t.len();
        address_lines(
            &mut t,
            service,
            nodes.iter().filter(|n| !n.drain).map(|n| n.address),
        );
        if t.len() == before {
            let _ = writeln!(t, "; {service}: every node is drained, so no address");
        }
    }
    let others: Vec<&String> = settings.mx_domains.iter().filter(|d| *d != zone).collect();
    if !others.is_empty() {
        let _ = writeln!(t, ";\n; Add to each hosted mail domain's own zone:");
        for d in others {
            let _ = writeln!(t, "; {d}. IN MX 10 {mx_target}");
        }
    }
    t
}

/// One `owner IN A|AAAA address` line per address.
fn address_lines(t: &mut String, owner: &str, addresses: impl Iterator<Item = IpAddr>) {
    for a in addresses {
        let rtype = if a.is_ipv4() { "A" } else { "AAAA" };
        let _ = writeln!(t, "{owner} IN {rtype} {a}");
    }
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;
    use crate::dns::tests::{nodes, pair_settings, settings};

    const GOLDEN: &str = "\
; Zone cluster.example.net. of a PigeonAir cluster, exported by pigeonair-balancer for DNS servers
; that are not the balancer's own. Every non-drained node is listed, healthy or not:
; without the balancer's checks, clients must retry the next address themselves.
; If your name servers serve this zone, replace the NS records and their addresses.
$ORIGIN cluster.example.net.
$TTL 5
@ IN SOA ns.cluster.example.net. hostmaster.cluster.example.net. (
    2026112901 ; serial
    3600 ; refresh (s)
    600 ; retry (s)
    604800 ; expire (s)
    5 ) ; negative-answer TTL (s)
@ IN NS ns.cluster.example.net.
ns IN A 203.0.113.53
ns IN AAAA 2001:db8::53
imap IN A 10.42.0.11
imap IN A 10.42.0.12
imap IN AAAA 2001:db8::13
mx IN A 10.42.0.11
mx IN A 10.42.0.12
mx IN AAAA 2001:db8::13
;
; Add to each hosted mail domain's own zone:
; example.com. IN MX 10 mx.cluster.example.net.
";

    #[test]
    fn golden_zone() {
        assert_eq!(zone_text(&settings(), &nodes(), 2_026_112_901), GOLDEN);
    }

    /// Two DNS balancers (`dns.name_servers`): both are NS, each with its glue, and the SOA's
    /// primary is the first. The export is the same whichever of the two prints it.
    const GOLDEN_PAIR: &str = "\
; Zone cluster.example.net. of a PigeonAir cluster, exported by pigeonair-balancer for DNS servers
; that are not the balancer's own. Every non-drained node is listed, healthy or not:
; without the balancer's checks, clients must retry the next address themselves.
; If your name servers serve this zone, replace the NS records and their addresses.
$ORIGIN cluster.example.net.
$TTL 5
@ IN SOA ns1.cluster.example.net. hostmaster.cluster.example.net. (
    2026112901 ; serial
    3600 ; refresh (s)
    600 ; retry (s)
    604800 ; expire (s)
    5 ) ; negative-answer TTL (s)
@ IN NS ns1.cluster.example.net.
@ IN NS ns2.cluster.example.net.
ns1 IN A 203.0.113.11
ns2 IN A 203.0.113.12
imap IN A 10.42.0.11
imap IN A 10.42.0.12
imap IN AAAA 2001:db8::13
mx IN A 10.42.0.11
mx IN A 10.42.0.12
mx IN AAAA 2001:db8::13
;
; Add to each hosted mail domain's own zone:
; example.com. IN MX 10 mx.cluster.example.net.
";

    #[test]
    fn golden_zone_with_two_name_servers() {
        let first = pair_settings("203.0.113.11:53");
        assert_eq!(zone_text(&first, &nodes(), 2_026_112_901), GOLDEN_PAIR);
        let second = pair_settings("203.0.113.12:53");
        assert_eq!(zone_text(&second, &nodes(), 2_026_112_901), GOLDEN_PAIR);
    }

    #[test]
    fn zone_that_is_a_mail_domain_gets_its_mx_here() {
        let mut s = settings();
        s.mx_domains = vec![s.zone.clone()];
        let t = zone_text(&s, &nodes(), 1);
        assert!(
            t.contains("@ IN NS ns.cluster.example.net.\n@ IN MX 10 mx.cluster.example.net.\n"),
            "{t}"
        );
        assert!(!t.contains("Add to each hosted"), "{t}");
    }

    #[test]
    fn drained_services_and_wildcard_listeners_are_explained() {
        let mut s = settings();
        s.listen = vec!["0.0.0.0:53".parse().unwrap()];
        let drained: Vec<Node> = nodes()
            .into_iter()
            .map(|n| Node { drain: true, ..n })
            .collect();
        let t = zone_text(&s, &drained, 1);
        assert!(t.contains("; ns has no address"), "{t}");
        assert!(
            t.contains("; mx: every node is drained, so no address"),
            "{t}"
        );
    }

    /// BIND's own checker accepts the export. Needs `named-checkzone` (Debian: bind9utils,
    /// installed by scripts/host-setup); fails loudly when it is missing.
    #[test]
    fn named_checkzone_accepts_the_export() {
        named_checkzone_accepts(&settings(), "one");
        named_checkzone_accepts(&pair_settings("203.0.113.11:53"), "pair");
    }

    fn named_checkzone_accepts(settings: &DnsSettings, case: &str) {
        let dir =
            std::env::temp_dir().join(format!("pigeonair-zone-{}-{case}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("cluster.example.net.zone");
        std::fs::write(&path, zone_text(settings, &nodes(), 2_026_112_901)).unwrap();
        let out = Command::new("named-checkzone")
            .arg("cluster.example.net")
            .arg(&path)
            .output()
            .expect("named-checkzone is missing: apt-get install bind9utils");
        let _ = std::fs::remove_dir_all(&dir);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("serial 2026112901"), "{text}");
    }
}
