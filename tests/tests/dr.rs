//! IPVS direct routing on a node, against the real kernel: a lab node installed with
//! `balancer = "ipvs"`, `forwarding = "dr"` (answers: `parse_answer/ipvs-dr.toml`, whose
//! addresses are node1's) carries the VIP 203.0.113.240 on `lo`, put there by the rendered
//! networkd file alone, accepts packets for it and never answers ARP for it, while its own
//! address answers as before.

use std::process::Output;
use std::time::{Duration, Instant};

use pigeonair_tests::clients::{NODE1 as NODE, text};
use pigeonair_tests::support::{LabCli, lab_bin, lab_host_ready, stdout};

const VIP: &str = "203.0.113.240";
const SYSCTL_FILE: &str = "/etc/sysctl.d/60-pigeonair-dr.conf";
const NETWORK_FILE: &str = "/etc/systemd/network/30-pigeonair-vip.network";

fn answers() -> String {
    format!(
        "{}/../appliance/core/tests/resources/parse_answer/ipvs-dr.toml",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// Runs `script` with `sh -c` in node1.
fn node_sh(lab: &LabCli, script: &str) -> Output {
    lab.exec("node1", &["sh", "-c", script])
}

/// Runs `script` with `sh -c` at the client address.
fn client_sh(lab: &LabCli, script: &str) -> Output {
    lab.client(&["sh", "-c", script])
}

/// Whether one ping from the client to `addr` is answered within a second.
fn client_pings(lab: &LabCli, addr: &str) -> bool {
    client_sh(lab, &format!("ping -c1 -W1 {addr}"))
        .status
        .success()
}

/// The client's neighbour entry for `addr` (empty when there is none).
fn client_neighbour(lab: &LabCli, addr: &str) -> String {
    stdout(&client_sh(lab, &format!("ip neigh show {addr}")))
}

#[test]
fn a_direct_routing_node_accepts_the_vip_and_never_answers_arp_for_it() {
    if !lab_host_ready("dr") {
        return;
    }
    let lab = LabCli::new(lab_bin(), "t-dr");
    lab.run(&["down"]);
    let up = lab.ok(&["up", "--nodes", "1", "--answers", &answers()]);
    assert!(up.contains(&format!("loaded {SYSCTL_FILE}")), "{up}");

    // The ARP settings are in force, for all interfaces and the public one by name.
    for (key, want) in [
        ("net.ipv4.conf.all.arp_ignore", "1"),
        ("net.ipv4.conf.all.arp_announce", "2"),
        ("net.ipv4.conf.eth0.arp_ignore", "1"),
        ("net.ipv4.conf.eth0.arp_announce", "2"),
    ] {
        let out = node_sh(&lab, &format!("sysctl -n {key}"));
        assert_eq!(stdout(&out).trim(), want, "{key}: {}", text(&out));
    }

    // The VIP is on lo, put there by networkd from the rendered file (apply starts networkd;
    // give it a moment), next to the loopback's own addresses.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let shown = stdout(&node_sh(&lab, "ip -br addr show lo"));
        if shown.contains(&format!("{VIP}/32")) {
            for own in ["127.0.0.1/8", "::1/128"] {
                assert!(shown.contains(own), "{own} gone from lo: {shown:?}");
            }
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no {VIP}/32 on lo: {shown:?}\n{}",
            text(&node_sh(
                &lab,
                "journalctl -u systemd-networkd --no-pager | tail -20"
            ))
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let status = node_sh(&lab, "networkctl status lo --no-pager");
    assert!(
        stdout(&status).contains(NETWORK_FILE),
        "networkd does not configure lo from {NETWORK_FILE}: {}",
        text(&status)
    );

    // From the client, on the same link: the VIP does not resolve, the node's address does.
    assert!(!client_pings(&lab, VIP), "the node answered for the VIP");
    let neighbour = client_neighbour(&lab, VIP);
    assert!(
        !neighbour.contains("lladdr"),
        "the VIP resolved: {neighbour}"
    );
    assert!(
        client_pings(&lab, NODE),
        "node1's own address does not answer"
    );
    let neighbour = client_neighbour(&lab, NODE);
    assert!(neighbour.contains("lladdr"), "{neighbour}");

    // What the balancer does: a packet for the VIP sent to node1's MAC address. The node
    // accepts it and answers the client directly.
    let via = client_sh(&lab, &format!("ip route add {VIP}/32 via {NODE}"));
    assert!(via.status.success(), "{}", text(&via));
    assert!(
        client_pings(&lab, VIP),
        "node1 did not accept a packet for the VIP"
    );
    let _ = client_sh(&lab, &format!("ip route del {VIP}/32 via {NODE}"));

    // Without the settings, node1 would answer ARP for the VIP (so the silence above is theirs),
    // and loading the file again silences it.
    let off = node_sh(
        &lab,
        "sysctl -w net.ipv4.conf.all.arp_ignore=0 net.ipv4.conf.eth0.arp_ignore=0",
    );
    assert!(off.status.success(), "{}", text(&off));
    let _ = client_sh(&lab, &format!("ip neigh flush to {VIP}"));
    assert!(
        client_pings(&lab, VIP),
        "without arp_ignore node1 should answer ARP for the VIP"
    );
    let on = node_sh(
        &lab,
        &format!("/usr/lib/systemd/systemd-sysctl {SYSCTL_FILE}"),
    );
    assert!(on.status.success(), "{}", text(&on));
    let _ = client_sh(&lab, &format!("ip neigh flush to {VIP}"));
    assert!(!client_pings(&lab, VIP), "the node answered for the VIP");

    // Applying the same answers again changes nothing.
    let again = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{} --name {} exec node1 -- pigeonair-install --answers - < {}",
            lab.bin().display(),
            lab.name(),
            answers()
        ))
        .output()
        .unwrap();
    let t = text(&again);
    assert!(again.status.success(), "{t}");
    assert!(t.lines().any(|l| l == "0 changed"), "{t}");
}
