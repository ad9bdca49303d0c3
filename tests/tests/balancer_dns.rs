//! The balancer in DNS mode on real nodes: a 3-node lab, each node a mail system installed from
//! its own answers file; `pigeonair-balancer` runs on node1 as the appliance runs it (the
//! `.path` unit starts it once /etc/pigeonair/balancer.toml exists) and checks SMTP, IMAP and
//! POP3 — with TLS on 465, 993 and 995 — against the real Postfix and Dovecot of every node.
//! `dig` from the client gets every healthy node; stopping Postfix on node2 takes its address
//! out of the MX target's answer, and starting it again brings it back.
//!
//! A cluster installed DNS-balanced runs two DNS servers, node1 and node2: both answer alike,
//! both are the zone's name servers, and either goes on answering when the other's power is
//! cut (`two_dns_servers_answer_alike_and_either_survives_the_others_power_cut`).

use std::process::Command;
use std::time::Duration;

use pigeonair_tests::support::{LabCli, lab_bin, lab_host_ready, stdout, wait_until};

const DNS: &str = "203.0.113.11";

const CONFIG: &str = r#"
mode = "dns"
[dns]
listen = ["203.0.113.11:53"]
zone = "cluster.example.net"
ttl = 5
mx_domains = ["example.com"]
[check]
interval_ms = 200
timeout_ms = 1000
rise = 2
fall = 2
[[node]]
name = "node1"
address = "203.0.113.11"
[[node]]
name = "node2"
address = "203.0.113.12"
[[node]]
name = "node3"
address = "203.0.113.13"
"#;

/// `dig +short` from the client, sorted.
fn dig(lab: &LabCli, name: &str, kind: &str) -> Vec<String> {
    let out = lab.client(&[
        "dig",
        &format!("@{DNS}"),
        name,
        kind,
        "+short",
        "+time=1",
        "+tries=1",
    ]);
    let mut lines: Vec<String> = stdout(&out)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    lines.sort();
    lines
}

/// The nodes the balancer itself counts as passing every check of `fqdn`'s ports (from
/// `status --json`, sorted). The answer set alone cannot tell: when no node passes, the DNS
/// server answers with every node rather than with none.
fn passing(lab: &LabCli, fqdn: &str) -> Vec<String> {
    let text = stdout(&lab.exec("node1", &["pigeonair-balancer", "status", "--json"]));
    let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) else {
        return Vec::new();
    };
    let mut nodes: Vec<String> = json["rows"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["service"] == fqdn && r["health"] == "up")
        .filter_map(|r| r["node"].as_str().map(str::to_string))
        .collect();
    nodes.sort();
    nodes
}

/// Drops (or, with `on = false`, stops dropping) TCP to `port` at every node's input.
fn block_port(lab: &LabCli, port: u16, on: bool) {
    for node in ["node1", "node2", "node3"] {
        let script = if on {
            format!(
                "nft add table inet t-block && nft add chain inet t-block input '{{ type filter hook input priority -10; }}' && nft add rule inet t-block input tcp dport {port} drop"
            )
        } else {
            "nft delete table inet t-block".to_string()
        };
        let out = lab.exec(node, &["sh", "-c", &script]);
        assert!(
            out.status.success(),
            "{node}: {script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn dns_round_robin_answers_with_healthy_nodes_only() {
    if !lab_host_ready("dns_round_robin_answers_with_healthy_nodes_only") {
        return;
    }
    assert!(
        pigeonair_host::find_tool("dig").is_some(),
        "dig is missing: install bind9-dnsutils (scripts/host-setup does)"
    );
    let lab = LabCli::new(lab_bin(), "t-dns");
    lab.run(&["down"]);
    // A three-node cluster: node2 and node3 join node1 with tokens.
    lab.ok(&["up", "--nodes", "3"]);

    let out = lab.exec_with_input(
        "node1",
        "mkdir -p /etc/pigeonair && cat > /etc/pigeonair/balancer.toml",
        CONFIG,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all = vec![
        "203.0.113.11".to_string(),
        "203.0.113.12".into(),
        "203.0.113.13".into(),
    ];
    let mx = "mx.cluster.example.net";
    // Every node, once each of them passed its checks (the path unit started the daemon).
    let first = wait_until("all three nodes answered", Duration::from_secs(30), || {
        dig(&lab, mx, "A") == all
    });
    println!(
        "dig {mx}: all three nodes {} ms after the config was written",
        first.as_millis()
    );
    let active = lab.exec(
        "node1",
        &["systemctl", "is-active", "pigeonair-balancer.service"],
    );
    assert_eq!(stdout(&active).trim(), "active");
    // Every node passes every check of every name (TLS on 465 and 993 and 995 against the
    // real daemons among them), as the balancer itself reports it per node, and dig gets all
    // three. Checks rise on their own schedule, so each name is waited for.
    let nodes = vec!["node1".to_string(), "node2".into(), "node3".into()];
    for name in ["mx", "smtp", "imap", "pop3"] {
        let fqdn = format!("{name}.cluster.example.net");
        let took = wait_until(
            &format!("{fqdn}: every node passing its checks"),
            Duration::from_secs(60),
            || passing(&lab, &fqdn) == nodes && dig(&lab, &fqdn, "A") == all,
        );
        println!(
            "{fqdn}: every node passing, {} ms after the first answer",
            took.as_millis()
        );
    }
    // The wait above can fail: with 465 dropped on every node no node passes smtp's checks,
    // and the balancer says so, although its answer (every node, as a last resort) is the same.
    block_port(&lab, 465, true);
    let smtp = "smtp.cluster.example.net";
    let down = wait_until(
        "smtp: no node passing with 465 dropped",
        Duration::from_secs(60),
        || passing(&lab, smtp).is_empty(),
    );
    assert_eq!(
        dig(&lab, smtp, "A"),
        all,
        "the all-down fallback answers every node"
    );
    assert_eq!(passing(&lab, "imap.cluster.example.net"), nodes);
    block_port(&lab, 465, false);
    let up = wait_until(
        "smtp: every node passing again",
        Duration::from_secs(60),
        || passing(&lab, smtp) == nodes,
    );
    println!(
        "465 dropped on every node: smtp failing everywhere after {} ms, back {} ms after the drop ended",
        down.as_millis(),
        up.as_millis()
    );
    assert_eq!(dig(&lab, "example.com", "MX"), vec![format!("10 {mx}.")]);
    let full = stdout(&lab.client(&["dig", &format!("@{DNS}"), mx, "A", "+time=1", "+tries=1"]));
    assert!(
        full.contains("flags: qr aa"),
        "authoritative answer expected:\n{full}"
    );
    assert!(full.contains("\t5\tIN\tA\t"), "TTL 5 expected:\n{full}");
    let refused = stdout(&lab.client(&[
        "dig",
        &format!("@{DNS}"),
        "example.org",
        "A",
        "+time=1",
        "+tries=1",
    ]));
    assert!(refused.contains("status: REFUSED"), "{refused}");

    // Postfix stops on node2: its address leaves the MX target's answer, IMAP's stays.
    let stop = lab.exec("node2", &["systemctl", "stop", "postfix"]);
    assert!(stop.status.success());
    let gone = wait_until(
        "node2 out of the MX answer",
        Duration::from_secs(10),
        || dig(&lab, mx, "A") == vec!["203.0.113.11".to_string(), "203.0.113.13".into()],
    );
    println!(
        "postfix stopped on node2: gone from {mx} after {} ms (dig polled every 50 ms)",
        gone.as_millis()
    );
    assert_eq!(
        dig(&lab, "imap.cluster.example.net", "A"),
        all,
        "Dovecot still answers on node2"
    );
    let status = stdout(&lab.exec("node1", &["pigeonair-balancer", "status"]));
    assert!(
        status.contains("mx.cluster.example.net") && status.contains("left out"),
        "{status}"
    );
    let json: serde_json::Value = serde_json::from_str(&stdout(
        &lab.exec("node1", &["pigeonair-balancer", "status", "--json"]),
    ))
    .expect("status --json");
    assert_eq!(json["mode"], "dns");

    let start = lab.exec("node2", &["systemctl", "start", "postfix"]);
    assert!(start.status.success());
    let back = wait_until(
        "node2 back in the MX answer",
        Duration::from_secs(10),
        || dig(&lab, mx, "A") == all,
    );
    println!(
        "postfix started on node2: back in {mx} after {} ms",
        back.as_millis()
    );

    // Every state change is in the journal.
    let journal = stdout(&lab.exec(
        "node1",
        &[
            "journalctl",
            "-u",
            "pigeonair-balancer",
            "--no-pager",
            "-o",
            "cat",
        ],
    ));
    assert!(
        journal.contains("node2 203.0.113.12:25: down after 2 failed checks"),
        "{journal}"
    );
    assert!(
        journal.contains("node2 203.0.113.12:25: up after 2 passed checks"),
        "{journal}"
    );

    // A bad config is refused; the daemon keeps answering from the last good one.
    let bad = CONFIG.replace("ttl = 5", "ttl = 5\n[dns.names]\nmx = [0]");
    lab.exec_with_input("node1", "cat > /etc/pigeonair/balancer.toml", &bad);
    wait_until("refusal in the status", Duration::from_secs(5), || {
        stdout(&lab.exec("node1", &["pigeonair-balancer", "status"])).contains("config REFUSED")
    });
    assert_eq!(dig(&lab, mx, "A"), all);

    // The zone export for ISPs with their own DNS.
    lab.exec_with_input("node1", "cat > /etc/pigeonair/balancer.toml", CONFIG);
    let zone = stdout(&lab.exec(
        "node1",
        &[
            "pigeonair-balancer",
            "zone-export",
            "--serial",
            "2026112901",
        ],
    ));
    assert!(
        zone.contains("mx") && zone.contains("203.0.113.12"),
        "{zone}"
    );
    if pigeonair_host::find_tool("named-checkzone").is_some() {
        let dir = std::env::temp_dir().join(format!("pigeonair-zone-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("zone");
        std::fs::write(&file, &zone).expect("zone");
        let check = Command::new("named-checkzone")
            .arg("cluster.example.net")
            .arg(&file)
            .output()
            .expect("named-checkzone");
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            check.status.success(),
            "{}\n{zone}",
            String::from_utf8_lossy(&check.stdout)
        );
    }
    drop(lab);
}

/// `dig @server name kind +short` from the client, sorted; empty when the server does not
/// answer (dig's own comment lines left out).
fn dig_at(lab: &LabCli, server: &str, name: &str, kind: &str) -> Vec<String> {
    let out = lab.client(&[
        "dig",
        &format!("@{server}"),
        name,
        kind,
        "+short",
        "+time=1",
        "+tries=1",
    ]);
    let mut lines: Vec<String> = stdout(&out)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty() && !l.starts_with(';'))
        .collect();
    lines.sort();
    lines
}

/// A DNS-balanced cluster of three, installed as an operator would (`[cluster] balancer =
/// "dns"`): node1 and node2, the first two nodes, are its DNS servers (role dns), both
/// authoritative with the same answers, and both are the zone's name servers (NS ns1 and ns2
/// with glue); node3 runs no DNS server. node1's power is cut: node2 goes on answering and
/// leaves node1 out once its checks fail; node1 powered on again answers again, with itself
/// back in.
#[test]
fn two_dns_servers_answer_alike_and_either_survives_the_others_power_cut() {
    if !lab_host_ready("two_dns_servers") {
        return;
    }
    let lab = LabCli::new(lab_bin(), "d-dnspair");
    lab.run(&["down"]);
    lab.up_dns_balanced(3);

    let (ns1, ns2, ns3) = ("203.0.113.11", "203.0.113.12", "203.0.113.13");
    let zone = "pigeon.example.com";
    let mx = "mx.pigeon.example.com";
    let all = vec![ns1.to_string(), ns2.into(), ns3.into()];
    let name_servers = vec![format!("ns1.{zone}."), format!("ns2.{zone}.")];
    for server in [ns1, ns2] {
        let took = wait_until(
            &format!("{server}: every node and both name servers"),
            Duration::from_secs(60),
            || {
                dig_at(&lab, server, mx, "A") == all
                    && dig_at(&lab, server, zone, "NS") == name_servers
            },
        );
        println!(
            "{server} answers every node and NS ns1, ns2 ({} ms)",
            took.as_millis()
        );
        assert_eq!(dig_at(&lab, server, &format!("ns1.{zone}"), "A"), [ns1]);
        assert_eq!(dig_at(&lab, server, &format!("ns2.{zone}"), "A"), [ns2]);
        let full = stdout(&lab.client(&[
            "dig",
            &format!("@{server}"),
            zone,
            "NS",
            "+time=1",
            "+tries=1",
        ]));
        assert!(
            full.contains("flags: qr aa"),
            "{server}: not authoritative:\n{full}"
        );
        assert!(
            full.contains(&format!("ns1.{zone}.\t5\tIN\tA\t{ns1}"))
                && full.contains(&format!("ns2.{zone}.\t5\tIN\tA\t{ns2}")),
            "{server}: the glue of both name servers expected:\n{full}"
        );
    }
    // The same data from both, so the same SOA serial (each checks the nodes on its own, so
    // it may differ for a moment while a node's state changes).
    wait_until("the same SOA from both", Duration::from_secs(10), || {
        let a = dig_at(&lab, ns1, zone, "SOA");
        !a.is_empty() && a == dig_at(&lab, ns2, zone, "SOA")
    });
    assert!(
        dig_at(&lab, ns3, mx, "A").is_empty(),
        "node3 is not a DNS server"
    );
    let roles = stdout(&lab.exec("node1", &["pigeonctl", "node", "list"]));
    println!("{roles}");

    // node1's power is cut: node2 keeps answering, and node1 leaves its answers.
    println!("{}", lab.ok(&["kill", "node1"]).trim());
    assert_eq!(dig_at(&lab, ns1, mx, "A"), Vec::<String>::new());
    let gone = wait_until(
        "node2 answering without node1",
        Duration::from_secs(30),
        || dig_at(&lab, ns2, mx, "A") == [ns2, ns3],
    );
    println!(
        "node1 cut: out of node2's answers after {} ms",
        gone.as_millis()
    );
    assert_eq!(dig_at(&lab, ns2, zone, "NS"), name_servers);
    assert_eq!(
        dig_at(&lab, ns2, "example.com", "MX"),
        [format!("10 {mx}.")]
    );

    // node1 powered on again: it answers again, both with node1 back in.
    println!("{}", lab.ok(&["start", "node1"]).trim());
    let back = wait_until(
        "both answering every node again",
        Duration::from_secs(120),
        || dig_at(&lab, ns1, mx, "A") == all && dig_at(&lab, ns2, mx, "A") == all,
    );
    println!(
        "node1 back: every node in both servers' answers {} ms after its boot",
        back.as_millis()
    );
}
