//! Two directory providers, end to end on real daemons: in a 3-node lab node1 (made the
//! cluster) and node2 (the second to join) are providers, node3 a replica of both. node1
//! loses power: writes, a join (node4, with a token node2 made) and mail and logins go on
//! through node2 and the replicas; node1, powered on again, catches up by itself, and every
//! node's directory (slapcat, entry by entry) is the same. With node1 down, node3's and
//! node2's certificates are renewed (node2 signs both), and the new ones are what node3's
//! slapd, Dovecot and control plane present and what its replication uses. And both providers taking adds at
//! once (500 users each) give 1,000 users with distinct uids, the same on every node.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use pigeonair_tests::clients::mailclient;
use pigeonair_tests::support::{LabCli, lab_bin, lab_host_ready, stdout, wait_until};

const PASSWORD: &str = "a-user-password";

fn user_add(lab: &LabCli, node: &str, user: &str, home: &str) -> std::process::Output {
    lab.exec_with_input(
        node,
        &format!("pigeonctl user add {user} --node {home} --password-stdin"),
        &format!("{PASSWORD}\n"),
    )
}

/// `node`'s whole directory as slapcat dumps it: entry text by DN, each entry's lines sorted.
fn slapcat(lab: &LabCli, node: &str) -> BTreeMap<String, String> {
    let out = lab.exec(node, &["slapcat", "-n1", "-o", "ldif-wrap=no"]);
    assert!(
        out.status.success(),
        "slapcat on {node}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout(&out)
        .split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            // The suffix's contextCSN is left out: slapcat reads it from the database, where
            // syncprov writes it only at its checkpoint (100 writes or a minute) or at
            // shutdown, so it lags per node; the live values are compared (ldapsearch) instead.
            let mut lines: Vec<&str> = e
                .lines()
                .filter(|l| !l.starts_with("contextCSN: "))
                .collect();
            let dn = lines
                .iter()
                .find(|l| l.starts_with("dn: "))
                .map(|l| l.to_string())
                .unwrap_or_default();
            lines.sort();
            (dn, lines.join("\n"))
        })
        .collect()
}

/// The differences between two dumps, for a message (at most 10).
fn differences(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> Vec<String> {
    let dns: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    dns.into_iter()
        .filter(|dn| a.get(*dn) != b.get(*dn))
        .take(10)
        .map(|dn| format!("{dn}:\n  {:?}\n  {:?}", a.get(dn), b.get(dn)))
        .collect()
}

/// Waits until every node's dump is node `reference`'s; returns how long it took.
fn wait_same_directory(lab: &LabCli, reference: &str, others: &[&str]) -> Duration {
    let t = Instant::now();
    loop {
        let want = slapcat(lab, reference);
        let live = |n: &str| {
            let out = lab.exec(
                n,
                &[
                    "ldapsearch",
                    "-Q",
                    "-Y",
                    "EXTERNAL",
                    "-H",
                    "ldapi:///",
                    "-LLL",
                    "-s",
                    "base",
                    "-b",
                    "o=pigeonair",
                    "contextCSN",
                ],
            );
            let mut v: Vec<String> = stdout(&out)
                .lines()
                .filter(|l| l.starts_with("contextCSN: "))
                .map(str::to_owned)
                .collect();
            v.sort();
            v
        };
        let stamp = live(reference);
        let stamps_differ: Vec<&str> = others
            .iter()
            .copied()
            .filter(|n| live(n) != stamp)
            .collect();
        let diffs: Vec<(String, Vec<String>)> = others
            .iter()
            .map(|n| (n.to_string(), differences(&want, &slapcat(lab, n))))
            .filter(|(_, d)| !d.is_empty())
            .collect();
        if diffs.is_empty() && stamps_differ.is_empty() {
            return t.elapsed();
        }
        assert!(
            t.elapsed() < Duration::from_secs(90),
            "directories still differ from {reference}'s after 90 s: {diffs:#?}; \
             contextCSN differs on {stamps_differ:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn roles(lab: &LabCli, node: &str) -> BTreeMap<String, Vec<String>> {
    let out = lab.exec(node, &["pigeonctl", "--json", "node", "list"]);
    assert!(
        out.status.success(),
        "node list on {node}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["hostname"].as_str().unwrap().to_owned(),
                n["roles"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r.as_str().unwrap().to_owned())
                    .collect(),
            )
        })
        .collect()
}

fn imap_login_works(lab: &LabCli, host: &str, user: &str) -> bool {
    mailclient(lab, &["imap-count", host, "993", "tls", user, PASSWORD])
        .status
        .success()
}

fn send(lab: &LabCli, host: &str, to: &str, id: &str) {
    let out = lab.client(&[
        "swaks",
        "--server",
        host,
        "--timeout",
        "20",
        "--to",
        to,
        "--from",
        "sender@client.example",
        "--header",
        &format!("Message-Id: <{id}>"),
    ]);
    assert!(out.status.success(), "{to} via {host}: {}", stdout(&out));
}

fn count_on(lab: &LabCli, node: &str, needle: &str) -> usize {
    let out = lab.exec(
        node,
        &[
            "sh",
            "-c",
            &format!(
                "grep -rl -- '{needle}' /var/vmail/*/Maildir/new /var/vmail/*/Maildir/cur 2>/dev/null | wc -l"
            ),
        ],
    );
    stdout(&out).trim().parse().unwrap_or(0)
}

#[test]
fn a_provider_lost_and_back_catches_up_while_the_other_takes_writes_and_joins() {
    if !lab_host_ready("providers") {
        return;
    }
    let lab = LabCli::new(lab_bin(), "p-prov");
    lab.run(&["down"]);
    lab.ok(&["up", "--nodes", "3"]);

    // node1 and node2 are providers and hold the CA's key; node3 replicates from both.
    let r = roles(&lab, "node3");
    for host in ["mx1.example.com", "mx2.example.com"] {
        assert!(
            r[host].contains(&"provider".to_owned()) && r[host].contains(&"ca".to_owned()),
            "{r:?}"
        );
    }
    assert!(
        r["mx2.example.com"].contains(&"provider".to_owned())
            && r["mx2.example.com"].contains(&"ca".to_owned()),
        "{r:?}"
    );
    assert!(r["mx3.example.com"].is_empty(), "{r:?}");
    let config = |node: &str| {
        lab.ldapsearch(
            node,
            "cn=config",
            "(objectClass=*)",
            &["olcServerID", "olcSyncrepl", "olcMultiProvider"],
        )
    };
    let c1 = config("node1");
    assert!(c1.contains("olcServerID: 1"), "{c1}");
    assert!(
        c1.contains("provider=ldap://10.42.0.12/") && c1.contains("olcMultiProvider: TRUE"),
        "{c1}"
    );
    let c2 = config("node2");
    assert!(c2.contains("olcServerID: 2"), "{c2}");
    assert!(
        c2.contains("provider=ldap://10.42.0.11/") && c2.contains("olcMultiProvider: TRUE"),
        "{c2}"
    );
    let c3 = config("node3");
    assert!(
        !c3.contains("olcServerID") && !c3.contains("olcMultiProvider"),
        "{c3}"
    );
    assert!(
        c3.contains("provider=ldap://10.42.0.11/") && c3.contains("provider=ldap://10.42.0.12/"),
        "{c3}"
    );
    assert!(
        lab.exec("node2", &["test", "-s", "/etc/pigeonair/cluster/ca.key"])
            .status
            .success(),
        "node2 holds the CA's key"
    );

    // Users homed on node2 and node3, added before the power cut.
    for (user, home) in [
        ("a2@example.com", "mx2.example.com"),
        ("a3@example.com", "mx3.example.com"),
    ] {
        let out = user_add(&lab, "node3", user, home);
        assert!(
            out.status.success(),
            "user add {user}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    wait_until("a2, a3 on node2", Duration::from_secs(10), || {
        lab.ldapsearch(
            "node2",
            "ou=domains,o=pigeonair",
            "(|(mail=a2@example.com)(mail=a3@example.com))",
            &["1.1"],
        )
        .matches("dn: ")
        .count()
            == 2
    });

    // Power cut on node1.
    lab.ok(&["kill", "node1"]);
    let cut = Instant::now();

    // Writes go on: on node2 (a provider: local) and on node3 (pigeonctl there works on the
    // first provider to answer: node2).
    let out = user_add(&lab, "node2", "b2@example.com", "mx2.example.com");
    assert!(
        out.status.success(),
        "user add on node2 with node1 down: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let t = Instant::now();
    let out = user_add(&lab, "node3", "b3@example.com", "mx3.example.com");
    assert!(
        out.status.success(),
        "user add on node3 with node1 down: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "user add on node3 (straight to node2, node1 silent): {} ms",
        t.elapsed().as_millis()
    );
    // Returned, the write is in node3's own directory already.
    assert!(
        lab.ldapsearch(
            "node3",
            "o=pigeonair",
            "(mail=b3@example.com)",
            &["mailHost"]
        )
        .contains("mailHost: mx3.example.com"),
        "node3's directory has b3 when pigeonctl returns"
    );

    // A node joins through node2 (its token names node2).
    let t = Instant::now();
    lab.ok(&["add", "--via", "node2"]);
    eprintln!(
        "node4 joined through node2 with node1 down: {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let r = roles(&lab, "node2");
    assert!(r["mx4.example.com"].is_empty(), "node4 is a replica: {r:?}");
    let c4 = config("node4");
    assert!(
        c4.contains("provider=ldap://10.42.0.11/") && c4.contains("provider=ldap://10.42.0.12/"),
        "{c4}"
    );

    // Certificates renew with node1 down: node3's signed by node2, node2's by itself.
    let serial_of = |node: &str| {
        let out = lab.exec(
            node,
            &[
                "openssl",
                "x509",
                "-noout",
                "-serial",
                "-in",
                "/etc/pigeonair/cluster/node.crt",
            ],
        );
        stdout(&out)
            .trim()
            .trim_start_matches("serial=")
            .to_lowercase()
            .trim_start_matches('0')
            .to_owned()
    };
    for (node, host, signer) in [
        ("node3", "mx3.example.com", "mx2.example.com"),
        ("node2", "mx2.example.com", "mx2.example.com"),
    ] {
        let old = serial_of(node);
        let t = Instant::now();
        let out = lab.exec(node, &["pigeonctl", "node", "renew", host]);
        assert!(
            out.status.success(),
            "node renew {host} with node1 down: {}{}",
            stdout(&out),
            String::from_utf8_lossy(&out.stderr)
        );
        let new = serial_of(node);
        eprintln!(
            "{host}'s certificate renewed with node1 down in {:.2} s: {old} -> {new}: {}",
            t.elapsed().as_secs_f64(),
            stdout(&out).trim()
        );
        assert_ne!(old, new, "{host}'s certificate is the same");
        assert!(stdout(&out).contains(&new), "{}", stdout(&out));
        let journal = lab.exec(
            node,
            &["journalctl", "-u", "pigeonaird", "--no-pager", "-o", "cat"],
        );
        assert!(
            stdout(&journal).contains(&format!("signed by {signer}")),
            "{}",
            stdout(&journal)
        );
        // Recorded on its entry (so a removal revokes it), the role taken off.
        let entry = lab.ldapsearch(
            "node2",
            "ou=nodes,o=pigeonair",
            &format!("(cn={host})"),
            &["pigeonairCertSerial", "pigeonairNodeRole"],
        );
        assert!(
            entry
                .lines()
                .filter_map(|l| l.strip_prefix("pigeonairCertSerial: "))
                .any(|v| v.to_lowercase().trim_start_matches('0') == new),
            "{entry}"
        );
        assert!(!entry.contains("renewing-certificate"), "{entry}");
    }
    // What node3 presents now, to node2: Dovecot to proxies (IMAPS on the private address)
    // and for dsync (doveadm), and its control plane. slapd keeps the old one while node1 is
    // down (loading it would pause slapd while its replication waits for node1): checked
    // after node1's return.
    let new3 = serial_of("node3");
    let presented = |port: &str| {
        let script = format!(
            "echo | timeout 10 openssl s_client -connect 10.42.0.13:{port} {} 2>/dev/null \
             | openssl x509 -noout -serial",
            if port == "389" { "-starttls ldap" } else { "" }
        );
        let out = lab.exec("node2", &["sh", "-c", &script]);
        stdout(&out)
            .trim()
            .trim_start_matches("serial=")
            .to_lowercase()
            .trim_start_matches('0')
            .to_owned()
    };
    for port in ["993", "2727", "7443"] {
        assert_eq!(
            presented(port),
            new3,
            "node3's port {port} presents another certificate"
        );
    }
    let slapd = presented("389");
    assert!(
        !slapd.is_empty() && slapd != new3,
        "node3's slapd took the new certificate with node1 down: {slapd}"
    );
    let out = lab.exec("node3", &["pigeonctl", "node", "renew", "mx9.example.com"]);
    assert!(
        !out.status.success()
            && String::from_utf8_lossy(&out.stderr).contains("no node mx9.example.com"),
        "renew of an unknown node: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Mail and logins go on for users on node2 and node3 (and node4 reads them too).    // Mail and logins go on for users on node2 and node3 (and node4 reads them too).
    let run = std::process::id();
    for (user, home) in [
        ("a2", "node2"),
        ("b2", "node2"),
        ("a3", "node3"),
        ("b3", "node3"),
    ] {
        for via in ["203.0.113.12", "203.0.113.13"] {
            let id = format!("p{run}-{user}-via{via}@client.example");
            send(&lab, via, &format!("{user}@example.com"), &id);
            wait_until(&format!("{id} on {home}"), Duration::from_secs(30), || {
                count_on(&lab, home, &id) == 1
            });
        }
        for host in ["203.0.113.12", "203.0.113.13", "203.0.113.14"] {
            assert!(
                imap_login_works(&lab, host, &format!("{user}@example.com")),
                "IMAP {user} at {host} with node1 down"
            );
        }
    }
    eprintln!("node1 down for {:.1} s", cut.elapsed().as_secs_f64());

    // node1 powers on and catches up: the users and node4 written while it was down.
    lab.ok(&["start", "node1"]);
    let t = Instant::now();
    wait_until("node1 has b2, b3 and mx4", Duration::from_secs(60), || {
        let users = lab
            .try_ldapsearch(
                "node1",
                "ou=domains,o=pigeonair",
                "(|(mail=b2@example.com)(mail=b3@example.com))",
                &["1.1"],
            )
            .unwrap_or_default();
        let nodes = lab
            .try_ldapsearch(
                "node1",
                "ou=nodes,o=pigeonair",
                "(cn=mx4.example.com)",
                &["pigeonairNodeState"],
            )
            .unwrap_or_default();
        users.matches("dn: ").count() == 2 && nodes.contains("pigeonairNodeState: active")
    });
    eprintln!(
        "node1 caught up {} ms after its boot",
        t.elapsed().as_millis()
    );
    wait_until(
        "node3's slapd presents its new certificate",
        Duration::from_secs(20),
        || presented("389") == new3,
    );
    // node3's replication connects again with its new certificate and gets a new write.
    lab.ok(&["exec", "node3", "--", "systemctl", "restart", "slapd"]);
    let out = user_add(&lab, "node2", "r3@example.com", "mx3.example.com");
    assert!(
        out.status.success(),
        "user add on node2: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_until("r3 on node3", Duration::from_secs(20), || {
        lab.try_ldapsearch(
            "node3",
            "ou=domains,o=pigeonair",
            "(mail=r3@example.com)",
            &["1.1"],
        )
        .is_ok_and(|s| s.contains("dn: "))
    });

    // A write on node1 reaches everyone again.
    let out = user_add(&lab, "node1", "c1@example.com", "mx3.example.com");
    assert!(
        out.status.success(),
        "user add on node1 after its return: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let took = wait_same_directory(&lab, "node1", &["node2", "node3", "node4"]);
    eprintln!(
        "every node's slapcat the same {} ms later",
        took.as_millis()
    );

    // Nothing lost or doubled: each user once, uids distinct.
    let users = lab.ldapsearch(
        "node3",
        "ou=domains,o=pigeonair",
        "(objectClass=pigeonairMailUser)",
        &["mail", "uidNumber"],
    );
    let mails: Vec<&str> = users
        .lines()
        .filter_map(|l| l.strip_prefix("mail: "))
        .collect();
    let uids: BTreeSet<&str> = users
        .lines()
        .filter_map(|l| l.strip_prefix("uidNumber: "))
        .collect();
    for u in ["a2", "a3", "b2", "b3", "c1"] {
        assert_eq!(
            mails
                .iter()
                .filter(|m| **m == format!("{u}@example.com"))
                .count(),
            1,
            "{u}: {users}"
        );
    }
    assert_eq!(uids.len(), mails.len(), "distinct uids: {users}");
}

#[test]
fn both_providers_adding_500_users_at_once_give_1000_distinct_uids_on_every_node() {
    if !lab_host_ready("providers_uids") {
        return;
    }
    let lab = LabCli::new(lab_bin(), "p-uids");
    lab.run(&["down"]);
    lab.ok(&["up", "--nodes", "3"]);
    let script = |tag: &str| {
        format!(
            "for i in $(seq 1 500); do echo {PASSWORD} | pigeonctl user add {tag}-$i@example.com \
             --node mx3.example.com --password-stdin >/dev/null || exit 1; done"
        )
    };
    let t = Instant::now();
    let runs: Vec<_> = [("node1", "p1"), ("node2", "p2")]
        .into_iter()
        .map(|(node, tag)| {
            let mut cmd = std::process::Command::new(lab.bin());
            cmd.args([
                "--name",
                lab.name(),
                "exec",
                node,
                "--",
                "sh",
                "-c",
                &script(tag),
            ]);
            (node, cmd.spawn().expect("spawn pigeonair-lab exec"))
        })
        .collect();
    for (node, mut child) in runs {
        assert!(
            child.wait().expect("wait").success(),
            "500 adds on {node} failed"
        );
    }
    eprintln!(
        "1,000 adds, 500 on each provider at once: {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let took = wait_same_directory(&lab, "node1", &["node2", "node3"]);
    eprintln!(
        "every node's slapcat the same {} ms later",
        took.as_millis()
    );
    // From slapcat: a search is held to 1,000 entries (olcSizeLimit) for root on a replica.
    let users: Vec<String> = slapcat(&lab, "node3")
        .into_values()
        .filter(|e| e.contains("\nmail: p1-") || e.contains("\nmail: p2-"))
        .collect();
    let uid = |e: &String| {
        e.lines()
            .find_map(|l| l.strip_prefix("uidNumber: ")?.parse::<u32>().ok())
    };
    let uids: Vec<u32> = users.iter().filter_map(uid).collect();
    let distinct: BTreeSet<u32> = uids.iter().copied().collect();
    assert_eq!(users.len(), 1000, "users");
    assert_eq!(uids.len(), 1000, "uids");
    assert_eq!(distinct.len(), 1000, "distinct uids");
    // Each provider handed out its own block's uids.
    let p2 = users
        .iter()
        .filter(|e| e.contains("\nmail: p2-"))
        .filter_map(uid)
        .filter(|u| (20_000_000..30_000_000).contains(u))
        .count();
    assert_eq!(p2, 500, "node2's adds took uids from provider 2's block");
}

/// Whether `user` is in `node`'s directory.
fn has_user(lab: &LabCli, node: &str, user: &str) -> bool {
    lab.ldapsearch(
        node,
        "ou=domains,o=pigeonair",
        &format!("(mail={user})"),
        &["1.1"],
    )
    .contains("dn: ")
}

/// The uid of `user` in `node`'s directory.
fn uid_of(lab: &LabCli, node: &str, user: &str) -> u32 {
    lab.ldapsearch(
        node,
        "ou=domains,o=pigeonair",
        &format!("(mail={user})"),
        &["uidNumber"],
    )
    .lines()
    .find_map(|l| l.strip_prefix("uidNumber: ")?.parse().ok())
    .unwrap_or_else(|| panic!("{user} has no uid on {node}"))
}

#[test]
fn the_provider_role_moves_to_a_replica_one_at_a_time_and_writes_go_on() {
    if !lab_host_ready("providers_role") {
        return;
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let lab = LabCli::new(lab_bin(), "rl-role");
    lab.run(&["down"]);
    lab.ok(&["up", "--nodes", "3"]);
    let _guard = pigeonair_tests::support::LoadGuard::new(&stop, &lab);
    let has_key = |node: &str| {
        lab.exec(node, &["test", "-s", "/etc/pigeonair/cluster/ca.key"])
            .status
            .success()
    };

    // A third provider is refused, naming the two and what to do.
    let out = lab.exec(
        "node3",
        &["pigeonctl", "node", "role", "mx3.example.com", "provider"],
    );
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{said}");
    assert!(
        said.contains("mx1.example.com (provider)")
            && said.contains("mx2.example.com (provider)")
            && said.contains("pigeonctl node role NODE replica"),
        "{said}"
    );

    // mx2 hands its place back.
    let out = lab.ok(&[
        "exec",
        "node1",
        "--",
        "pigeonctl",
        "node",
        "role",
        "mx2.example.com",
        "replica",
    ]);
    eprintln!("{}", out.trim());
    wait_until("node2 drops the CA's key", Duration::from_secs(30), || {
        !has_key("node2")
    });
    wait_until("node3 sees mx2 a replica", Duration::from_secs(30), || {
        roles(&lab, "node3")["mx2.example.com"].is_empty()
    });

    // A writer adds a user every moment through node1 (the one provider until the move
    // finishes) or, when node1 does not take it, through node3 (the node becoming one): every
    // write must land on one of them.
    let writer = {
        let stop = stop.clone();
        let lab = LabCli::new(lab.bin(), lab.name());
        std::thread::spawn(move || {
            let mut written = Vec::new();
            let mut lost = Vec::new();
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                i += 1;
                let user = format!("w{i}@example.com");
                let first = user_add(&lab, "node1", &user, "mx1.example.com");
                let second = (!first.status.success())
                    .then(|| user_add(&lab, "node3", &user, "mx1.example.com"));
                // Exit 4: the first attempt's add got through before it failed.
                match second.as_ref().map(|o| o.status.code()) {
                    None | Some(Some(0)) | Some(Some(4)) => written.push(user),
                    Some(_) => lost.push(format!(
                        "{user}: node1: {} node3: {}",
                        String::from_utf8_lossy(&first.stderr).trim(),
                        String::from_utf8_lossy(&second.unwrap().stderr).trim()
                    )),
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            std::mem::forget(lab);
            (written, lost)
        })
    };
    std::thread::sleep(Duration::from_secs(1));

    // mx3 becomes a provider, asked on node2 (a replica). Every slapd has just been rebuilt
    // for mx2's step-down while the writer goes on, so mx3's directory may be a moment
    // behind: the command refuses then, saying to try again once it is in sync, and an
    // operator does.
    let t = Instant::now();
    let out = loop {
        let out = lab.exec(
            "node2",
            &["pigeonctl", "node", "role", "mx3.example.com", "provider"],
        );
        let refused = String::from_utf8_lossy(&out.stderr).contains("only in sync");
        if out.status.success() || !refused || t.elapsed() > Duration::from_secs(30) {
            break out;
        }
        eprintln!("not yet: {}", String::from_utf8_lossy(&out.stderr).trim());
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(
        out.status.success(),
        "node role mx3 provider: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = stdout(&out);
    eprintln!("{} ({:.1} s)", said.trim(), t.elapsed().as_secs_f64());
    assert!(
        said.contains("mx3.example.com is directory provider 3")
            && said.contains("mx1.example.com replicates with it"),
        "{said}"
    );
    // Writes for a few seconds more while every slapd settles, then the writer stops.
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (written, lost) = writer.join().expect("the writer");
    eprintln!(
        "{} users written during the move, {} lost",
        written.len(),
        lost.len()
    );
    assert!(lost.is_empty(), "writes lost during the move: {lost:#?}");
    assert!(written.len() > 5, "the writer wrote: {written:?}");

    // Roles and every slapd: mx1 and mx3 providers (3 a fresh server ID), mx2 a replica of
    // both.
    let r = roles(&lab, "node2");
    for host in ["mx1.example.com", "mx3.example.com"] {
        assert!(
            r[host].contains(&"provider".to_owned()) && r[host].contains(&"ca".to_owned()),
            "{r:?}"
        );
    }
    assert!(r["mx2.example.com"].is_empty(), "{r:?}");
    let config = |node: &str| {
        lab.ldapsearch(
            node,
            "cn=config",
            "(objectClass=*)",
            &["olcServerID", "olcSyncrepl", "olcMultiProvider"],
        )
    };
    wait_until("every slapd follows", Duration::from_secs(60), || {
        let c1 = config("node1");
        let c2 = config("node2");
        let c3 = config("node3");
        c1.contains("olcServerID: 1")
            && c1.contains("provider=ldap://10.42.0.13/")
            && !c1.contains("provider=ldap://10.42.0.12/")
            && c3.contains("olcServerID: 3")
            && c3.contains("olcMultiProvider: TRUE")
            && c3.contains("provider=ldap://10.42.0.11/")
            && !c2.contains("olcServerID")
            && c2.contains("provider=ldap://10.42.0.11/")
            && c2.contains("provider=ldap://10.42.0.13/")
    });
    assert!(has_key("node3"), "node3 holds the CA's key");
    assert!(!has_key("node2"), "node2 no longer holds the CA's key");
    // node1, the provider the cluster had, restarted its slapd only once mx3 took writes.
    let journal = stdout(&lab.exec(
        "node1",
        &["journalctl", "-u", "pigeonaird", "--no-pager", "-o", "cat"],
    ));
    assert!(
        journal.contains("mx3.example.com writes as directory provider 3 now"),
        "node1's pigeonaird journal: {journal}"
    );
    assert!(
        journal.contains("gave the cluster CA's key to mx3.example.com"),
        "node1's pigeonaird journal: {journal}"
    );

    // Again: it is one already; and mx2 back would be a third.
    let out = lab.exec(
        "node1",
        &["pigeonctl", "node", "role", "mx3.example.com", "provider"],
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = lab.exec(
        "node1",
        &["pigeonctl", "node", "role", "mx2.example.com", "provider"],
    );
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{said}");
    assert!(said.contains("mx3.example.com (provider)"), "{said}");

    // A user added on each provider is everywhere; node3's comes from provider 3's uids.
    for (node, user) in [
        ("node1", "after1@example.com"),
        ("node3", "after3@example.com"),
    ] {
        let out = user_add(&lab, node, user, "mx2.example.com");
        assert!(
            out.status.success(),
            "user add {user} on {node}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for node in ["node1", "node2", "node3"] {
        wait_until(
            &format!("both users on {node}"),
            Duration::from_secs(30),
            || {
                has_user(&lab, node, "after1@example.com")
                    && has_user(&lab, node, "after3@example.com")
            },
        );
    }
    let uid3 = uid_of(&lab, "node2", "after3@example.com");
    assert!(
        (30_000_000..40_000_000).contains(&uid3),
        "after3's uid {uid3} is from provider 3's block"
    );
    // The writer's users too, each once.
    for user in written.iter().step_by(5) {
        assert!(has_user(&lab, "node2", user), "{user} on node2");
    }

    // node3 holds the CA's key: a node joins through it (its token, its signature).
    let t = Instant::now();
    lab.ok(&["add", "--via", "node3"]);
    eprintln!(
        "node4 joined through node3: {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let r = roles(&lab, "node3");
    assert!(r["mx4.example.com"].is_empty(), "node4 is a replica: {r:?}");
    wait_until("node4 active on node1", Duration::from_secs(30), || {
        lab.try_ldapsearch(
            "node1",
            "ou=nodes,o=pigeonair",
            "(cn=mx4.example.com)",
            &["pigeonairNodeState"],
        )
        .unwrap_or_default()
        .contains("pigeonairNodeState: active")
    });
    let took = wait_same_directory(&lab, "node1", &["node2", "node3", "node4"]);
    eprintln!(
        "every node's slapcat the same {} ms later",
        took.as_millis()
    );
}
