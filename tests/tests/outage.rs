//! A mail node dies (a power cut: `pigeonair-lab kill`, nothing shut down) while mail for its
//! users and others keeps coming in through the other nodes: nothing is bounced or stored on a
//! wrong node, the dead node's mail waits in the accepting nodes' queues, logins for its users
//! get a temporary error (never an authentication failure), and once it is back every accepted
//! message is in its mailbox exactly once, within a minute (pigeonaird retries the queues the
//! moment the node answers, rather than Postfix's backoff).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use pigeonair_tests::clients::{mailclient, text};
use pigeonair_tests::support::{LabCli, lab_bin, lab_host_ready, stdout, wait_until};

const PASSWORD: &str = "an-outage-password";
const NODES: [&str; 3] = ["node1", "node2", "node3"];

fn sh(lab: &LabCli, node: &str, script: &str) -> String {
    let out = lab.exec(node, &["sh", "-c", script]);
    assert!(out.status.success(), "{node}: {script}: {}", text(&out));
    stdout(&out)
}

/// Every Message-ID of `node`'s message files, counted.
fn message_ids(lab: &LabCli, node: &str) -> BTreeMap<String, usize> {
    let text = sh(
        lab,
        node,
        "find /var/vmail -path '*/cur/*' -o -path '*/new/*' | xargs -r grep -h -i '^Message-ID:' || true",
    );
    let mut ids = BTreeMap::new();
    for l in text.lines() {
        if let Some(id) = l.split_once(':').map(|(_, v)| v.trim().to_owned()) {
            *ids.entry(id).or_insert(0) += 1;
        }
    }
    ids
}

#[test]
fn a_dead_nodes_mail_waits_and_arrives_once_when_it_returns() {
    if !lab_host_ready("outage") {
        return;
    }
    let lab = LabCli::new(lab_bin(), "t-outage");
    lab.run(&["down"]);
    lab.ok(&["up", "--nodes", "3"]);
    let mut users: Vec<(String, usize)> = Vec::new();
    for (n, k) in [(2, 1), (2, 2), (2, 3), (1, 1), (3, 1)] {
        let user = format!("o{n}{k}@example.com");
        let out = lab.exec_with_input(
            "node1",
            &format!("pigeonctl user add {user} --node mx{n}.example.com --password-stdin"),
            &format!("{PASSWORD}\n"),
        );
        assert!(out.status.success(), "add {user}: {}", text(&out));
        users.push((user, n - 1));
    }
    let lab = Arc::new(lab);
    let users = Arc::new(users);
    let stop = Arc::new(AtomicBool::new(false));
    let _down = pigeonair_tests::support::LoadGuard::new(&stop, &lab);
    // Mail all the while through node1 and node3 to every user.
    let sender = {
        let (lab, users, stop) = (lab.clone(), users.clone(), stop.clone());
        std::thread::spawn(move || {
            let (mut sent, mut refused) = (Vec::new(), Vec::new());
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let (user, _) = &users[i % users.len()];
                let server = ["203.0.113.11", "203.0.113.13"][i % 2];
                let mid = format!("<outage-{i}@client.example>");
                let out = lab.client(&[
                    "swaks",
                    "--server",
                    server,
                    "--timeout",
                    "20",
                    "--to",
                    user,
                    "--from",
                    "sender@client.example",
                    "--header",
                    &format!("Message-ID: {mid}"),
                ]);
                if out.status.success() {
                    sent.push((user.clone(), mid));
                } else {
                    refused.push((mid, text(&out)));
                }
                i += 1;
            }
            (sent, refused)
        })
    };
    std::thread::sleep(Duration::from_secs(4));
    eprintln!("{}", lab.ok(&["kill", "node2"]).trim());
    let cut = Instant::now();
    // Logins for node2's users at the live nodes: a temporary error, never a wrong password;
    // for the others, a login as usual.
    for host in ["203.0.113.11", "203.0.113.13"] {
        for (proto, port, says) in [
            ("imap", "993", "[UNAVAILABLE]"),
            ("pop3", "995", "[SYS/TEMP]"),
        ] {
            let t = Instant::now();
            let out = mailclient(
                &lab,
                &[proto, host, port, "tls", "o21@example.com", PASSWORD],
            );
            let err = String::from_utf8_lossy(&out.stderr).into_owned();
            eprintln!(
                "{proto} at {host} for a user of the dead node: {:.1} s: {}",
                t.elapsed().as_secs_f64(),
                err.trim()
            );
            assert_eq!(
                out.status.code(),
                Some(3),
                "{proto} at {host}: {}",
                text(&out)
            );
            assert!(err.contains(says), "{proto} at {host}: {err}");
            assert!(
                !err.to_lowercase().contains("authentication failed"),
                "{err}"
            );
        }
        let count = mailclient(
            &lab,
            &[
                "imap-count",
                host,
                "993",
                "tls",
                "o11@example.com",
                PASSWORD,
            ],
        );
        assert!(count.status.success(), "o11 at {host}: {}", text(&count));
    }
    let list = sh(&lab, "node1", "pigeonctl node list");
    assert!(
        list.lines()
            .any(|l| l.starts_with("mx2.example.com") && l.contains("unreachable")),
        "{list}"
    );
    // A while longer down, the load going on.
    while cut.elapsed() < Duration::from_secs(25) {
        std::thread::sleep(Duration::from_millis(500));
    }
    eprintln!(
        "{}",
        lab.ok(&["start", "node2"])
            .lines()
            .next()
            .unwrap_or_default()
    );
    let back = Instant::now();
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::Relaxed);
    let (sent, refused) = sender.join().unwrap();
    eprintln!(
        "{} messages accepted, {} refused by the live nodes",
        sent.len(),
        refused.len()
    );
    assert!(refused.is_empty(), "refused: {refused:?}");
    assert!(sent.len() > 20, "too little load: {}", sent.len());
    let home: BTreeMap<String, usize> = users.iter().cloned().collect();
    // Within a minute of the return; if not, what is missing and what the queues hold.
    let mut missing = Vec::new();
    while back.elapsed() < Duration::from_secs(60) {
        let on: Vec<BTreeMap<String, usize>> = NODES.iter().map(|n| message_ids(&lab, n)).collect();
        missing = sent
            .iter()
            .filter(|(u, mid)| on[home[u]].get(mid).is_none_or(|&c| c < 1))
            .map(|(u, mid)| format!("{mid} for {u}"))
            .collect();
        if missing.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    if !missing.is_empty() {
        let queues: Vec<String> = ["node1", "node3"]
            .iter()
            .map(|n| format!("{n}:\n{}", sh(&lab, n, "postqueue -p | tail -30")))
            .collect();
        panic!(
            "{} of {} accepted messages not in their mailboxes 60 s after node2's return \
             (first: {:?}); queues:\n{}",
            missing.len(),
            sent.len(),
            missing.iter().take(5).collect::<Vec<_>>(),
            queues.join("\n")
        );
    }
    eprintln!(
        "every accepted message delivered {:.1} s after node2's boot finished",
        back.elapsed().as_secs_f64()
    );
    // Exactly once, and only on the owner's home node.
    let on: Vec<BTreeMap<String, usize>> = NODES.iter().map(|n| message_ids(&lab, n)).collect();
    for (user, mid) in &sent {
        for (n, ids) in on.iter().enumerate() {
            let want = usize::from(n == home[user]);
            assert_eq!(
                ids.get(mid).copied().unwrap_or(0),
                want,
                "{mid} for {user} on {}",
                NODES[n]
            );
        }
    }
    // Nothing bounced, nothing left in a queue.
    for node in ["node1", "node3"] {
        let bounced = sh(
            &lab,
            node,
            "journalctl -u postfix@- -u postfix --no-pager -o cat | grep -c 'status=bounced' || true",
        );
        assert_eq!(bounced.trim(), "0", "bounces on {node}");
        wait_until(
            &format!("{node}'s queue empty"),
            Duration::from_secs(10),
            || sh(&lab, node, "postqueue -j | wc -l").trim() == "0",
        );
    }
}
