//! The cluster grows, end to end on real daemons: `pigeonair-lab up --nodes 3` installs node1
//! and joins node2 and node3 with tokens from node1's `pigeonctl`; each node's slapd is a
//! replica of node1's, mail for any user sent to any node lands in its home node's Maildir
//! once, and IMAP and POP3 at any node read it (proxied to the home node), APPENDs in a row
//! through the proxy included; the join's refusals leave both sides as they were.

use std::time::{Duration, Instant};

use pigeonair_tests::clients::mailclient;
use pigeonair_tests::support::{LabCli, lab_bin, lab_host_ready, stdout, wait_until as wait_for};

const NODES: [&str; 3] = ["node1", "node2", "node3"];
const PASSWORD: &str = "a-user-password";

/// How many nodes `node`'s replica has as active.
fn active_nodes(lab: &LabCli, node: &str) -> usize {
    lab.ldapsearch(
        node,
        "ou=nodes,o=pigeonair",
        "(objectClass=pigeonairNode)",
        &["pigeonairNodeState"],
    )
    .matches("pigeonairNodeState: active")
    .count()
}

/// Messages whose file contains `needle`, per node.
fn count_on(lab: &LabCli, node: &str, needle: &str) -> usize {
    let out = lab.exec(
        node,
        &["sh", "-c", &format!("grep -rl -- '{needle}' /var/vmail/*/Maildir/new /var/vmail/*/Maildir/cur 2>/dev/null | wc -l")],
    );
    stdout(&out).trim().parse().unwrap_or(0)
}

/// node3's join answers with `token` (and node3's own names unless changed by `edit`).
fn join_answers(token: &str, edit: impl Fn(String) -> String) -> String {
    edit(format!(
        "[cluster]\njoin = \"{token}\"\n\n[node]\nhostname = \"mx3.example.com\"\n\n[network]\ndns = []\n\n\
         [network.public]\ninterface = \"eth0\"\naddress = \"203.0.113.13/24\"\ngateway = \"203.0.113.1\"\n\n\
         [network.private]\ninterface = \"eth1\"\naddress = \"10.42.0.13/24\"\n"
    ))
}

fn token(lab: &LabCli, args: &[&str]) -> String {
    let mut cmd = vec!["pigeonctl", "node", "token"];
    cmd.extend(args);
    let out = lab.exec("node1", &cmd);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout(&out).trim().to_owned()
}

/// On bare nodes: node1 installed from the example answers, node2 joined with a token.
fn install_and_join_node2(lab: &LabCli) {
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../appliance/core/examples/single-box.toml"
    ))
    .unwrap();
    let node2 = |token: &str| {
        join_answers(token, |a| {
            a.replace("mx3", "mx2")
                .replace("203.0.113.13", "203.0.113.12")
                .replace("10.42.0.13", "10.42.0.12")
        })
    };
    let out = lab.exec_with_input("node1", "pigeonair-install --answers -", &example);
    assert!(
        out.status.success(),
        "node1: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = lab.exec_with_input(
        "node2",
        "pigeonair-install --answers -",
        &node2(&token(lab, &[])),
    );
    assert!(
        out.status.success(),
        "node2: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // node2 is the second directory provider: it marks itself active in its own database, and
    // node1 has it by replication a moment later.
    // Its entry settles too: the provider role, and the certificate serial its pigeonaird
    // records.
    wait_for(
        "node2 active in node1's directory",
        Duration::from_secs(30),
        || {
            let e = lab
                .try_ldapsearch(
                    "node1",
                    "cn=mx2.example.com,ou=nodes,o=pigeonair",
                    "(objectClass=*)",
                    &["*"],
                )
                .unwrap_or_default();
            e.contains("pigeonairNodeState: active")
                && e.contains("pigeonairNodeRole: provider")
                && e.contains("pigeonairCertSerial:")
        },
    );
}

/// What the cluster and node3 hold, to show a refused join changed neither.
fn snapshot(lab: &LabCli) -> (String, String, String) {
    let nodes = lab.ldapsearch("node1", "ou=nodes,o=pigeonair", "(objectClass=*)", &["*"]);
    let tokens = lab.ldapsearch("node1", "ou=tokens,o=pigeonair", "(objectClass=*)", &["*"]);
    let files = stdout(&lab.exec(
        "node3",
        &["sh", "-c", "ls /etc/pigeonair /etc/pigeonair/cluster 2>&1; systemctl is-active slapd postfix dovecot"],
    ));
    (nodes, tokens, files)
}

#[test]
fn join_refusals_name_the_problem_and_change_nothing_on_either_side() {
    if !lab_host_ready("join_refusals") {
        return;
    }
    let lab = LabCli::new(lab_bin(), "t-join");
    lab.run(&["down"]);
    // node1 installed, node2 joined through a token, node3 a fresh box.
    lab.ok(&["up", "--bare", "--nodes", "3"]);
    install_and_join_node2(&lab);
    let install =
        |answers: &str| lab.exec_with_input("node3", "pigeonair-install --answers -", answers);
    let used = token(&lab, &[]);
    let before = snapshot(&lab);
    let refusals: Vec<(String, String, &str)> = {
        // A token node2 used already (its join in `up` used another; this one is used below).
        let mut v = Vec::new();
        // Malformed: cut short.
        v.push((
            "malformed".into(),
            join_answers(&used[..used.len() - 20], |a| a),
            "cluster.join:",
        ));
        // Another cluster's CA (or a man in the middle): the fingerprint does not match.
        let mut parts: Vec<String> = used.splitn(4, '.').map(String::from).collect();
        let (_, at) = parts[3].split_once('@').unwrap();
        parts[3] = format!("{}@{at}", "A".repeat(43));
        v.push((
            "other CA".into(),
            join_answers(&parts.join("."), |a| a),
            "does not prove it belongs to the token's cluster",
        ));
        // Names already in the cluster.
        v.push((
            "hostname taken".into(),
            join_answers(&used, |a| a.replace("mx3.example.com", "mx2.example.com")),
            "is called mx2.example.com already",
        ));
        v.push((
            "address taken".into(),
            join_answers(&used, |a| a.replace("10.42.0.13/24", "10.42.0.12/24")),
            "has the address 10.42.0.12 already",
        ));
        v
    };
    for (what, answers, says) in &refusals {
        let out = install(answers);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "{what}: the join was accepted");
        assert!(err.contains(says), "{what}: {err}");
        // A refusal is one line; bad answers are the answers file's problem list.
        if *what != "malformed" {
            assert_eq!(err.trim().lines().count(), 1, "{what}: one line: {err}");
        }
        assert_eq!(snapshot(&lab), before, "{what}: something changed");
    }
    // Revoked, expired: the directory's token entry changes state only by the operator.
    let revoked = token(&lab, &[]);
    let id = revoked.split('.').nth(1).unwrap().to_owned();
    let out = lab.exec("node1", &["pigeonctl", "node", "token", "--revoke", &id]);
    assert!(
        out.status.success(),
        "revoke {id}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expired = token(&lab, &["--ttl", "1s"]);
    std::thread::sleep(Duration::from_secs(2));
    let before = snapshot(&lab);
    for (what, t, says) in [
        ("revoked", &revoked, "was revoked"),
        ("expired", &expired, "expired at"),
    ] {
        let out = install(&join_answers(t, |a| a));
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "{what}: accepted");
        assert!(err.contains(says), "{what}: {err}");
        assert_eq!(snapshot(&lab), before, "{what}: something changed");
    }
    // The good token joins; run again it changes nothing; used again by another name it is
    // refused.
    let out = install(&join_answers(&used, |a| a));
    assert!(
        out.status.success(),
        "join: {}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    let again = install(&join_answers(&used, |a| a));
    assert!(stdout(&again).contains("0 changed"), "{}", stdout(&again));
    let listed = stdout(&lab.exec("node1", &["pigeonctl", "node", "token", "--list"]));
    assert!(listed.contains("used by mx3.example.com"), "{listed}");
    let out = lab.exec_with_input(
        "node2",
        "pigeonair-install --answers -",
        &join_answers(&used, |a| {
            a.replace("mx3", "mx9")
                .replace("203.0.113.13", "203.0.113.19")
                .replace("10.42.0.13", "10.42.0.19")
        }),
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("was used already (by mx3.example.com)"));
}

#[test]
fn three_nodes_join_replicate_and_serve_every_users_mail_at_every_node() {
    if !lab_host_ready("three_nodes_join") {
        return;
    }
    let lab = LabCli::new(lab_bin(), "t-cluster");
    lab.run(&["down"]);
    let t = Instant::now();
    let up = lab.ok(&["up", "--nodes", "3"]);
    eprintln!(
        "up --nodes 3 (install node1, join node2 and node3): {:.1} s",
        t.elapsed().as_secs_f64()
    );
    assert!(up.contains("node3: join: joined cluster"), "{up}");

    // Every node's replica knows three active nodes; node2 and node3 consume node1.
    for node in NODES {
        assert_eq!(
            active_nodes(&lab, node),
            3,
            "active nodes in {node}'s replica"
        );
    }
    // node1 and node2 (the second to join) are the providers, each consuming the other;
    // node3 consumes both.
    for (node, providers) in [
        ("node1", &["10.42.0.12"][..]),
        ("node2", &["10.42.0.11"][..]),
        ("node3", &["10.42.0.11", "10.42.0.12"][..]),
    ] {
        let sync = lab.ldapsearch(node, "cn=config", "(olcSyncrepl=*)", &["olcSyncrepl"]);
        assert_eq!(
            sync.matches("provider=ldap://").count(),
            providers.len(),
            "{node}:\n{sync}"
        );
        for p in providers {
            assert!(
                sync.contains(&format!("provider=ldap://{p}/")),
                "{node}:\n{sync}"
            );
        }
    }

    // A user added on node3 (written on its replica, chained to node1) is read on node2's
    // replica; one user homed on each node.
    for i in 1..=3 {
        let user = format!("u{i}@example.com");
        let out = lab.exec_with_input(
            "node3",
            &format!("pigeonctl user add {user} --node mx{i}.example.com --password-stdin"),
            &format!("{PASSWORD}\n"),
        );
        assert!(
            out.status.success(),
            "user add {user} on node3: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let took = wait_for("u1..u3 on node2's replica", Duration::from_secs(10), || {
        lab.ldapsearch(
            "node2",
            "ou=domains,o=pigeonair",
            "(mail=u*@example.com)",
            &["mailHost"],
        )
        .matches("mailHost: mx")
        .count()
            == 3
    });
    eprintln!(
        "users added on node3 readable on node2 after {} ms",
        took.as_millis()
    );

    // Nine cases: a message to each user at each node's public address.
    let run = std::process::id();
    for i in 1..=3 {
        for (n, _) in NODES.iter().enumerate() {
            let id = format!("<c{run}-u{i}-via{}@client.example>", n + 1);
            let out = lab.client(&[
                "swaks",
                "--server",
                &format!("203.0.113.1{}", n + 1),
                "--timeout",
                "20",
                "--to",
                &format!("u{i}@example.com"),
                "--from",
                "sender@client.example",
                "--header",
                &format!("Message-Id: {id}"),
            ]);
            assert!(
                out.status.success(),
                "u{i} via node{}: {}",
                n + 1,
                stdout(&out)
            );
        }
    }
    for i in 1..=3 {
        let home = format!("node{i}");
        for via in 1..=3 {
            let id = format!("c{run}-u{i}-via{via}@client.example");
            wait_for(
                &format!("{id} in {home}'s Maildir"),
                Duration::from_secs(30),
                || count_on(&lab, &home, &id) >= 1,
            );
            for node in NODES {
                let want = usize::from(node == home);
                assert_eq!(count_on(&lab, node, &id), want, "{id} on {node}");
            }
        }
    }

    // IMAP and POP3 for each user at each node read the mail (proxied to the home node).
    for i in 1..=3 {
        let user = format!("u{i}@example.com");
        for n in 1..=3 {
            let host = format!("203.0.113.1{n}");
            let imap = mailclient(&lab, &["imap-count", &host, "993", "tls", &user, PASSWORD]);
            assert!(
                imap.status.success(),
                "IMAP {user} at node{n}: {}",
                String::from_utf8_lossy(&imap.stderr)
            );
            assert_eq!(stdout(&imap).trim(), "3", "IMAP {user} at node{n}");
            let pop = mailclient(&lab, &["pop3", &host, "995", "tls", &user, PASSWORD]);
            assert!(
                pop.status.success(),
                "POP3 {user} at node{n}: {}",
                String::from_utf8_lossy(&pop.stderr)
            );
            assert!(
                stdout(&pop).contains(&format!("c{run}-u{i}-via")),
                "POP3 {user} at node{n}"
            );
        }
    }

    // `pigeonctl node list` on every node: three active nodes, each in sync and reachable.
    for node in NODES {
        let out = lab.exec(node, &["pigeonctl", "--json", "node", "list"]);
        assert!(
            out.status.success(),
            "node list on {node}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let list: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        let list = list.as_array().unwrap();
        assert_eq!(list.len(), 3, "{node}: {list:?}");
        for n in list {
            assert_eq!(n["state"], "active", "{node}: {n}");
            assert_eq!(n["pigeonaird"], "reachable", "{node}: {n}");
            assert_eq!(n["replication"], "in sync", "{node}: {n}");
            assert_eq!(
                n["mailboxes"],
                if n["hostname"] == "mx1.example.com" {
                    2
                } else {
                    1
                },
                "{node}: {n}"
            );
        }
    }

    // The cluster's own services are not reachable from the public side.
    for port in [24, 389, 7443] {
        let out = lab.client(&[
            "timeout",
            "3",
            "bash",
            "-c",
            &format!("</dev/tcp/203.0.113.12/{port}"),
        ]);
        assert!(
            !out.status.success(),
            "port {port} answers on node2's public address"
        );
    }
    // A backend takes the proxy secret only from a peer, and a user's own password only from
    // outside the private network (checked on 993, where proxies connect).
    let secret = stdout(&lab.exec(
        "node1",
        &[
            "sh",
            "-c",
            "sed -n 's/^proxy = \"\\(.*\\)\"$/\\1/p' /etc/pigeonair/secrets.toml",
        ],
    ))
    .trim()
    .to_owned();
    assert_eq!(secret.len(), 32, "the proxy secret");
    let login = mailclient(
        &lab,
        &[
            "imap-count",
            "203.0.113.12",
            "993",
            "tls",
            "u2@example.com",
            &secret,
        ],
    );
    assert_eq!(
        login.status.code(),
        Some(3),
        "the secret from the client was accepted"
    );
    let from_peer = |password: &str| {
        stdout(&lab.exec(
            "node1",
            &["sh", "-c", &format!(
                "(sleep 1; printf 'a LOGIN u2@example.com {password}\\r\\n'; sleep 2; printf 'b LOGOUT\\r\\n') \
                 | timeout 8 openssl s_client -quiet -connect 10.42.0.12:993 2>/dev/null"
            )],
        ))
    };
    let plain = from_peer(PASSWORD);
    assert!(
        plain.contains("a NO"),
        "a peer logged in with the user's own password: {plain}"
    );
    let proxied = from_peer(&secret);
    assert!(
        proxied.contains("a OK"),
        "a peer with the secret was refused: {proxied}"
    );

    // Submission with AUTH at every node, as a user homed on another node.
    for n in 1..=3 {
        let out = lab.client(&[
            "swaks",
            "--server",
            &format!("203.0.113.1{n}"),
            "--port",
            "587",
            "--tls",
            "--auth",
            "PLAIN",
            "--auth-user",
            "u2@example.com",
            "--auth-password",
            PASSWORD,
            "--from",
            "u2@example.com",
            "--to",
            "u3@example.com",
            "--timeout",
            "20",
        ]);
        assert!(
            out.status.success(),
            "submission at node{n}: {}",
            stdout(&out)
        );
    }
}

#[test]
fn appends_in_a_row_through_the_proxy_reach_the_home_node_without_a_stall() {
    if !lab_host_ready("appends_through_proxy") {
        return;
    }
    let lab = LabCli::new(lab_bin(), "t-append");
    lab.run(&["down"]);
    lab.ok(&["up", "--nodes", "2"]);
    let out = lab.exec_with_input(
        "node1",
        "pigeonctl user add a@example.com --node mx2.example.com --password-stdin",
        &format!("{PASSWORD}\n"),
    );
    assert!(
        out.status.success(),
        "user add: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Five sessions of 400 APPENDs at node1, proxied to node2, each literal sent after the
    // backend's "+ OK". Dovecot 2.4.1's multiplexed proxy session over TLS lost one of those
    // answers now and then (a session in two stalled, after 5 to 400 APPENDs) and the client
    // waited for ever; the script gives up after 20 s without an answer (exit 4). Straight to
    // node2 a session takes about 1 s.
    let py = format!("{}/clients/mailclient.py", env!("CARGO_MANIFEST_DIR"));
    for session in 1..=5 {
        let t = Instant::now();
        let out = lab.client(&[
            "timeout",
            "120",
            "python3",
            &py,
            "imap-append",
            "203.0.113.11",
            "993",
            "tls",
            "a@example.com",
            PASSWORD,
            "400",
        ]);
        assert!(
            out.status.success() && stdout(&out).trim() == "400",
            "session {session}: APPENDs through node1 stalled after {} of 400 ({}): {}",
            stdout(&out).trim(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!(
            "session {session}: 400 APPENDs through the proxy in {:.1} s",
            t.elapsed().as_secs_f64()
        );
    }
    let status = stdout(&lab.exec(
        "node2",
        &[
            "doveadm",
            "mailbox",
            "status",
            "-u",
            "a@example.com",
            "messages",
            "INBOX",
        ],
    ));
    assert_eq!(status.trim(), "INBOX messages=2000", "on the home node");
}

/// Every `Message-Id: <TAG…>` in `node`'s mailboxes.
fn ids_on(lab: &LabCli, node: &str, tag: &str) -> Vec<String> {
    let out = lab.exec(
        node,
        &["sh", "-c", &format!(
            "cat /var/vmail/*/Maildir/new/* /var/vmail/*/Maildir/cur/* 2>/dev/null | grep -i '^Message-Id: <{tag}' || true"
        )],
    );
    stdout(&out)
        .lines()
        .filter_map(|l| {
            l.split_once('<')
                .map(|(_, id)| id.trim_end_matches('>').to_owned())
        })
        .collect()
}

#[test]
fn a_node_joins_under_load_and_no_message_is_lost_or_doubled_and_no_login_fails() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    if !lab_host_ready("join_under_load") {
        return;
    }
    let lab = Arc::new(LabCli::new(lab_bin(), "t-grow"));
    lab.run(&["down"]);
    lab.ok(&["up", "--bare", "--nodes", "3"]);
    install_and_join_node2(&lab);
    for (user, home) in [("u1", "mx1"), ("u2", "mx2")] {
        let out = lab.exec_with_input(
            "node1",
            &format!(
                "pigeonctl user add {user}@example.com --node {home}.example.com --password-stdin"
            ),
            &format!("{PASSWORD}\n"),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // The load: batches of SMTP deliveries at node1 and node2 (to u1 on node1 and u2 on node2,
    // in turn) and IMAP logins (direct and proxied), until node3 has joined.
    let joined = Arc::new(AtomicBool::new(false));
    let run = std::process::id();
    let sent = Arc::new(AtomicUsize::new(0));
    let mut load = Vec::new();
    for via in [1, 2] {
        let (lab, joined, sent) = (lab.clone(), joined.clone(), sent.clone());
        load.push(std::thread::spawn(move || {
            let mut batches = Vec::new();
            let mut b = 0;
            while !joined.load(Ordering::SeqCst) || b < 2 {
                // A steady load, a batch a second from each side, not as fast as the client
                // can send: the point is the join under traffic, not a backlog to drain.
                let paced = Instant::now();
                let tag = format!("g{run}-{via}-{b}");
                let out = lab.client(&[
                    env!("CARGO_BIN_EXE_mail-bench"),
                    "send",
                    "--addr",
                    &format!("203.0.113.1{via}:25"),
                    "--messages",
                    "40",
                    "--concurrency",
                    "2",
                    "--rcpt",
                    "u1@example.com",
                    "--rcpt",
                    "u2@example.com",
                    "--tag",
                    &tag,
                ]);
                assert!(
                    out.status.success(),
                    "batch {tag}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                sent.fetch_add(40, Ordering::SeqCst);
                batches.push(tag);
                b += 1;
                std::thread::sleep(Duration::from_secs(1).saturating_sub(paced.elapsed()));
            }
            batches
        }));
    }
    let logins = {
        let (lab, joined) = (lab.clone(), joined.clone());
        std::thread::spawn(move || {
            let (mut ok, mut failed) = (0, Vec::new());
            let mut k = 0;
            while !joined.load(Ordering::SeqCst) || k < 4 {
                let (user, host) = [
                    ("u1", "203.0.113.11"),
                    ("u2", "203.0.113.12"),
                    ("u2", "203.0.113.11"),
                    ("u1", "203.0.113.12"),
                ][k % 4];
                let out = mailclient(
                    &lab,
                    &[
                        "imap-count",
                        host,
                        "993",
                        "tls",
                        &format!("{user}@example.com"),
                        PASSWORD,
                    ],
                );
                if out.status.success() {
                    ok += 1;
                } else {
                    failed.push(format!(
                        "{user} at {host}: {}",
                        String::from_utf8_lossy(&out.stderr)
                    ));
                }
                k += 1;
            }
            (ok, failed)
        })
    };
    std::thread::sleep(Duration::from_secs(2));
    let t = Instant::now();
    let out = lab.exec_with_input(
        "node3",
        "pigeonair-install --answers -",
        &join_answers(&token(&lab, &[]), |a| a),
    );
    let join_took = t.elapsed();
    joined.store(true, Ordering::SeqCst);
    assert!(
        out.status.success(),
        "join of node3 under load: {}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    let batches: Vec<String> = load.into_iter().flat_map(|h| h.join().unwrap()).collect();
    let (ok, failed) = logins.join().unwrap();
    eprintln!(
        "node3 joined in {:.1} s under load: {} messages sent, {ok} IMAP logins",
        join_took.as_secs_f64(),
        sent.load(Ordering::SeqCst)
    );
    assert!(
        failed.is_empty(),
        "logins failed during the join: {failed:?}"
    );
    assert!(ok >= 4);

    // Every message accepted is in its recipient's home node once, and nowhere else.
    let expected: std::collections::BTreeMap<String, &str> = batches
        .iter()
        .flat_map(|tag| {
            (0..40).map(move |i| {
                (
                    format!("{tag}-{i}@client.example"),
                    if i % 2 == 0 { "node1" } else { "node2" },
                )
            })
        })
        .collect();
    let tag = format!("g{run}-");
    let mut seen: std::collections::BTreeMap<String, Vec<&str>> = Default::default();
    // Delivery goes on while messages keep arriving; a minute with none new is a failure,
    // shown with what the nodes still hold in their queues.
    let mut progress = (0, Instant::now());
    loop {
        seen.clear();
        for node in NODES {
            for id in ids_on(&lab, node, &tag) {
                seen.entry(id).or_default().push(node);
            }
        }
        if seen.len() >= expected.len() {
            break;
        }
        if seen.len() > progress.0 {
            progress = (seen.len(), Instant::now());
        }
        if progress.1.elapsed() > Duration::from_secs(60) {
            let queues: Vec<String> = NODES
                .iter()
                .map(|node| {
                    let q = stdout(&lab.exec(node, &["sh", "-c", "postqueue -p | tail -40"]));
                    format!("{node}:\n{q}")
                })
                .collect();
            panic!(
                "{} of {} messages delivered, none more for 60 s; queues:\n{}",
                seen.len(),
                expected.len(),
                queues.join("\n")
            );
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    for (id, home) in &expected {
        assert_eq!(seen.get(id).map(Vec::as_slice), Some(&[*home][..]), "{id}");
    }
    assert_eq!(seen.len(), expected.len(), "messages nobody sent");
}

/// `dig @203.0.113.11 NAME A +short` from the client, sorted.
fn dig(lab: &LabCli, name: &str) -> Vec<String> {
    let out = lab.client(&[
        "dig",
        "@203.0.113.11",
        name,
        "A",
        "+short",
        "+time=1",
        "+tries=1",
    ]);
    let mut v: Vec<String> = stdout(&out)
        .lines()
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect();
    v.sort();
    v
}

#[test]
fn a_dns_balanced_cluster_answers_with_a_joined_node_once_it_is_active() {
    if !lab_host_ready("dns_cluster_grows") {
        return;
    }
    let lab = LabCli::new(lab_bin(), "t-dnsgrow");
    lab.run(&["down"]);
    // node1 installed with a DNS balancer, node2 joined by `up`.
    lab.up_dns_balanced(2);
    let name = "mx.pigeon.example.com";
    let two = wait_for(
        "node1 and node2 in the answers",
        Duration::from_secs(30),
        || dig(&lab, name) == ["203.0.113.11", "203.0.113.12"],
    );
    // node3 added to the running lab and joined: `add` returns once it marked itself active.
    let added = lab.ok(&["add"]);
    assert!(added.contains("node3: join: joined cluster"), "{added}");
    let three = wait_for("node3 in the answers", Duration::from_secs(30), || {
        dig(&lab, name) == ["203.0.113.11", "203.0.113.12", "203.0.113.13"]
    });
    eprintln!(
        "DNS answers: node1 and node2 {} ms after up, node3 {} ms after becoming active",
        two.as_millis(),
        three.as_millis()
    );
    let list = stdout(&lab.exec("node1", &["cat", "/etc/pigeonair/balancer.toml"]));
    assert!(list.contains("mx3.example.com"), "{list}");
}

#[test]
fn a_join_interrupted_on_either_side_converges_when_run_again() {
    if !lab_host_ready("interrupted_join") {
        return;
    }
    let lab = LabCli::new(lab_bin(), "t-rejoin");
    lab.run(&["down"]);
    lab.ok(&["up", "--nodes", "1"]);
    lab.ok(&["add", "--bare"]);
    let answers = join_answers(&token(&lab, &[]), |a| {
        a.replace("mx3", "mx2")
            .replace("203.0.113.13", "203.0.113.12")
            .replace("10.42.0.13", "10.42.0.12")
    });
    let out = lab.exec_with_input("node2", "cat > /root/join.toml", &answers);
    assert!(out.status.success());
    // The joining node's install killed at different moments: before, during and after the
    // member's answer, in the middle of the replica's install.
    let mut outcomes = Vec::new();
    for ms in [150, 400, 800, 1500, 2500] {
        let out = lab.exec(
            "node2",
            &[
                "sh",
                "-c",
                &format!(
                    "timeout -s KILL {:.2} pigeonair-install --answers /root/join.toml",
                    f64::from(ms) / 1000.0
                ),
            ],
        );
        outcomes.push((ms, out.status.code()));
    }
    eprintln!("killed installs (ms, exit code): {outcomes:?}");
    // The member's control plane killed just before the join: the joining node waits for it.
    let out = lab.exec("node1", &["systemctl", "kill", "-s", "KILL", "pigeonaird"]);
    assert!(out.status.success());
    let out = lab.exec(
        "node2",
        &["pigeonair-install", "--answers", "/root/join.toml"],
    );
    assert!(
        out.status.success(),
        "{}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    let again = lab.exec(
        "node2",
        &["pigeonair-install", "--answers", "/root/join.toml"],
    );
    assert!(stdout(&again).contains("0 changed"), "{}", stdout(&again));
    // node2 joined as the second directory provider: it marked itself active in its own
    // database, and node1 has it by replication a moment later.
    let took = wait_for(
        "node2 active in node1's directory",
        Duration::from_secs(30),
        || active_nodes(&lab, "node1") == 2,
    );
    eprintln!(
        "node2 active in node1's directory {} ms after its install",
        took.as_millis()
    );
    // It serves mail: a message for postmaster (on node1) sent to node2.
    let out = lab.client(&[
        "swaks",
        "--server",
        "203.0.113.12",
        "--timeout",
        "20",
        "--to",
        "postmaster@example.com",
        "--from",
        "sender@client.example",
        "--header",
        "Subject: after the interrupted join",
    ]);
    assert!(out.status.success(), "{}", stdout(&out));
    wait_for("the message on node1", Duration::from_secs(30), || {
        count_on(&lab, "node1", "after the interrupted join") == 1
    });

    // The provider's slapd restarting during a join delays it and does not break it.
    lab.ok(&["add", "--bare"]);
    let answers3 = join_answers(&token(&lab, &[]), |a| a);
    let lab = std::sync::Arc::new(lab);
    let joining = {
        let lab = lab.clone();
        std::thread::spawn(move || {
            let t = Instant::now();
            let out = lab.exec_with_input("node3", "pigeonair-install --answers -", &answers3);
            (out, t.elapsed())
        })
    };
    for pause in [300, 1500] {
        std::thread::sleep(Duration::from_millis(pause));
        let out = lab.exec("node1", &["systemctl", "restart", "slapd"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (out, took) = joining.join().unwrap();
    assert!(
        out.status.success(),
        "join while the provider restarted: {}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "join with the provider's slapd restarted twice: {:.1} s",
        took.as_secs_f64()
    );
    assert_eq!(
        active_nodes(&lab, "node3"),
        3,
        "active nodes in node3's replica"
    );
}
