//! The DNS server on a loopback port, asked by the real `dig` (Debian: bind9-dnsutils). Fails
//! loudly when `dig` is missing.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;

use pigeonair_balancer::config::{DnsSettings, Node};
use pigeonair_balancer::dns::DnsView;
use pigeonair_balancer::dns::server::DnsListeners;
use tokio::sync::watch;

fn settings(listen: SocketAddr) -> DnsSettings {
    DnsSettings {
        listen: vec![listen],
        zone: "cluster.example.net".into(),
        ttl: 5,
        names: [("mx".to_string(), vec![25]), ("imap".into(), vec![143])]
            .into_iter()
            .collect(),
        mx_target: "mx".into(),
        mx_domains: vec!["example.com".into()],
        name_servers: vec![],
    }
}

fn nodes() -> Vec<Node> {
    ["10.42.0.11", "10.42.0.12", "10.42.0.13"]
        .iter()
        .enumerate()
        .map(|(i, a)| Node {
            name: format!("node{}", i + 1),
            address: a.parse().unwrap(),
            weight: 100,
            drain: i == 2,
        })
        .collect()
}

/// Runs `dig @127.0.0.1 -p PORT ARGS…` and returns its standard output.
fn dig(port: u16, args: &[&str]) -> String {
    let out = Command::new("dig")
        .args(["@127.0.0.1", "-p", &port.to_string(), "+time=2", "+tries=1"])
        .args(args)
        .output()
        .expect("`dig` is missing: apt-get install bind9-dnsutils");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "dig {args:?}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

fn lines(text: &str) -> BTreeSet<String> {
    text.lines().map(str::to_string).collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn dig_sees_healthy_nodes_and_follows_health_changes() {
    // Port 0: the kernel picks TCP's port and UDP takes the same one.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let listeners = rt
        .block_on(DnsListeners::bind(&["127.0.0.1:0".parse().unwrap()]))
        .expect("bind 127.0.0.1");
    let addr = listeners.local_addrs().unwrap()[0];
    let port = addr.port();
    let s = settings(addr);
    let (tx, rx) = watch::channel(Arc::new(DnsView::new(&s, &nodes(), |_, _| true)));
    // The server runs on its own thread, since dig blocks this one.
    let server = std::thread::spawn(move || rt.block_on(listeners.serve(rx)));

    let both = set(&["10.42.0.11", "10.42.0.12"]);
    let udp = dig(port, &["mx.cluster.example.net", "A", "+short"]);
    assert_eq!(lines(&udp), both, "{udp}");
    let tcp = dig(port, &["MX.Cluster.Example.NET", "A", "+short", "+tcp"]);
    assert_eq!(lines(&tcp), both, "{tcp}");

    let mx = dig(port, &["example.com", "MX", "+short"]);
    assert_eq!(mx.trim(), "10 mx.cluster.example.net.", "{mx}");
    let full = dig(port, &["example.com", "MX"]);
    assert!(full.contains("flags: qr aa rd;"), "{full}");
    assert!(full.contains("ADDITIONAL: 3"), "{full}"); // two A records and OPT

    let refused = dig(port, &["www.example.org", "A"]);
    assert!(refused.contains("status: REFUSED"), "{refused}");
    let nx = dig(port, &["nope.cluster.example.net", "A"]);
    assert!(nx.contains("status: NXDOMAIN"), "{nx}");
    assert!(nx.contains("IN\tSOA\tns.cluster.example.net."), "{nx}");

    // node2 fails its SMTP check: the next query no longer gets it.
    tx.send(Arc::new(DnsView::new(&s, &nodes(), |n, _| {
        n.name != "node2"
    })))
    .unwrap();
    let udp = dig(port, &["mx.cluster.example.net", "A", "+short"]);
    assert_eq!(lines(&udp), set(&["10.42.0.11"]), "{udp}");
    let tcp = dig(port, &["mx.cluster.example.net", "A", "+short", "+tcp"]);
    assert_eq!(lines(&tcp), set(&["10.42.0.11"]), "{tcp}");

    assert!(
        !server.is_finished(),
        "the server stopped: {:?}",
        server.join()
    );
}

#[test]
fn a_bind_error_names_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let (_tx, rx) = watch::channel(Arc::new(DnsView::new(&settings(addr), &nodes(), |_, _| {
        true
    })));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let e = rt
        .block_on(pigeonair_balancer::dns::server::serve(vec![addr], rx))
        .unwrap_err();
    assert!(
        e.to_string().starts_with(&format!("DNS TCP bind {addr}: ")),
        "{e}"
    );
}
