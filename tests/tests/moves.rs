//! Mailbox moves between nodes, end to end in a two-node lab made by joins: `pigeonctl user
//! move` is an LDAP write; node1's pigeonaird copies the mailbox to node2 with dsync, holds
//! deliveries for a moment, flips `mailHost` and removes its old copy.
//!
//! Oracles: the IMAP state read before and after (UIDVALIDITY, UIDNEXT, every message's UID,
//! flags and Message-ID, per folder; subscriptions), a real client's sync state (mbsync, whose
//! local Maildir must not change at all when it syncs again after the move), the files on each
//! node, and mail sent during the move counted by Message-ID.

use std::time::{Duration, Instant};

use pigeonair_tests::support::{LabCli, lab_bin, lab_host_ready, stdout, wait_until as wait_for};

const USER: &str = "mover@example.com";
const PASSWORD: &str = "a-mover-password";
/// Messages in the mailbox before the move, over four folders.
const MESSAGES: usize = 2000;
/// Messages sent while the mailbox moves.
const DURING: usize = 40;

fn script() -> String {
    format!("{}/clients/mailbox_state.py", env!("CARGO_MANIFEST_DIR"))
}

/// The mailbox's IMAP state read at `host` (JSON text; see `mailbox_state.py`).
fn imap_state(lab: &LabCli, host: &str) -> serde_json::Value {
    imap_state_of(lab, host, USER)
}

/// [`imap_state`] of another user (with [`PASSWORD`]).
fn imap_state_of(lab: &LabCli, host: &str, user: &str) -> serde_json::Value {
    let out = lab.client(&["python3", &script(), "state", host, user, PASSWORD]);
    assert!(
        out.status.success(),
        "IMAP state at {host}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON from mailbox_state.py")
}

/// Runs `script` with `sh -c` in `node`; its standard output.
fn sh(lab: &LabCli, node: &str, script: &str) -> String {
    let out = lab.exec(node, &["sh", "-c", script]);
    assert!(
        out.status.success(),
        "{node}: {script}: {}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout(&out)
}

/// An mbsync configuration syncing the user's whole mailbox at `host` into `dir` (IMAPS
/// through an openssl tunnel: the lab's certificates name the nodes, not their addresses).
fn mbsync_config(dir: &str, host: &str) -> String {
    format!(
        "IMAPAccount acct\n\
         Tunnel \"openssl s_client -quiet -verify_quiet -connect {host}:993\"\n\
         User {USER}\nPass {PASSWORD}\nSSLType None\n\n\
         IMAPStore far\nAccount acct\n\n\
         MaildirStore near\nPath {dir}/mail/\nInbox {dir}/mail/INBOX\nSubFolders Verbatim\n\n\
         Channel ch\nFar :far:\nNear :near:\nPatterns *\nCreate Near\nSyncState *\n"
    )
}

/// Runs mbsync with the configuration for `host`; panics unless it succeeds.
fn mbsync(lab: &LabCli, dir: &str, host: &str) {
    std::fs::write(format!("{dir}/rc"), mbsync_config(dir, host)).unwrap();
    let out = lab.client(&["mbsync", "-c", &format!("{dir}/rc"), "ch"]);
    assert!(
        out.status.success(),
        "mbsync against {host}: {}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every message file of the client's local Maildir (names carry mbsync's UIDs and the flags).
fn local_files(dir: &str) -> Vec<String> {
    fn walk(p: &std::path::Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(p).unwrap().flatten() {
            let path = e.path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                let p = path.display().to_string();
                if p.contains("/cur/") || p.contains("/new/") {
                    out.push(p);
                }
            }
        }
    }
    let mut files = Vec::new();
    walk(std::path::Path::new(&format!("{dir}/mail")), &mut files);
    files.sort();
    files
}

/// How many messages on `node` carry `needle` (a Message-ID), over every mailbox and folder.
fn count_on(lab: &LabCli, node: &str, needle: &str) -> usize {
    sh(
        lab,
        node,
        // Message files only: Dovecot's index cache may hold the header too.
        &format!(
            "grep -rl -F -- '{needle}' /var/vmail 2>/dev/null | grep -E '/(cur|new)/' | wc -l"
        ),
    )
    .trim()
    .parse()
    .unwrap()
}

/// `user`'s home node as node1's `pigeonctl user show` has it: its index (0 for mx1 …) and
/// what the command printed.
fn home_of(lab: &LabCli, user: &str) -> (usize, String) {
    let show = sh(lab, "node1", &format!("pigeonctl user show {user}"));
    let host = show
        .lines()
        .find_map(|l| l.strip_prefix("home node:  "))
        .unwrap()
        .trim()
        .to_string();
    let n = ["mx1.example.com", "mx2.example.com", "mx3.example.com"]
        .iter()
        .position(|h| *h == host)
        .unwrap();
    (n, show)
}

/// One message from the client to `user` at `server`, with `message_id`; swaks's output.
fn send(lab: &LabCli, server: &str, user: &str, message_id: &str) -> std::process::Output {
    lab.client(&[
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
        &format!("Message-ID: {message_id}"),
    ])
}

/// Adds `user` (with [`PASSWORD`]) homed on node `n`, and appends `messages` messages over four
/// folders at that node (none when 0).
fn add_user_with_mail(lab: &LabCli, user: &str, n: usize, messages: usize) {
    let out = lab.exec_with_input(
        "node1",
        &format!("pigeonctl user add {user} --node mx{n}.example.com --password-stdin"),
        &format!("{PASSWORD}\n"),
    );
    assert!(out.status.success(), "add {user}: {}", stdout(&out));
    if messages == 0 {
        return;
    }
    let out = lab.client(&[
        "python3",
        &script(),
        "fill",
        &format!("203.0.113.1{n}"),
        user,
        PASSWORD,
        &messages.to_string(),
    ]);
    assert!(
        out.status.success(),
        "fill {user}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A two-node lab `name` made by a join, with [`USER`] homed on node1 holding `messages`
/// messages over four folders.
fn two_nodes_and_a_full_mailbox(name: &str, messages: usize) -> LabCli {
    let lab = LabCli::new(lab_bin(), name);
    lab.run(&["down"]);
    lab.ok(&["up", "--nodes", "2"]);
    add_user_with_mail(&lab, USER, 1, messages);
    lab
}

#[test]
fn a_moved_mailbox_keeps_its_uids_flags_and_folders_and_no_message_is_lost_or_doubled() {
    if !lab_host_ready("mailbox_move") {
        return;
    }
    // A mailbox with a few thousand messages in four folders, some read, flagged, answered.
    let lab = two_nodes_and_a_full_mailbox("t-move", MESSAGES);
    let before = imap_state(&lab, "203.0.113.11");
    let total: usize = before["folders"]
        .as_object()
        .unwrap()
        .values()
        .map(|f| f["messages"].as_array().unwrap().len())
        .sum();
    assert_eq!(total, MESSAGES, "the messages appended");
    let quota_before = sh(
        &lab,
        "node1",
        &format!("doveadm -f flow quota get -u {USER}"),
    );

    // A real client syncs the whole mailbox before the move.
    let dir = format!("/tmp/pigeonair-{}-mbsync", lab.name());
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(format!("{dir}/mail")).unwrap();
    mbsync(&lab, &dir, "203.0.113.11");
    let synced = local_files(&dir);
    assert!(synced.len() >= MESSAGES, "mbsync fetched {}", synced.len());

    // Refusals: nothing is written.
    for (to, says) in [
        ("mx9.example.com", "no such node"),
        ("mx1.example.com", "on mx1.example.com already"),
    ] {
        let out = lab.exec("node2", &["pigeonctl", "user", "move", USER, "--to", to]);
        assert!(!out.status.success(), "move to {to} accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "move to {to}: {err}");
    }
    let show = sh(&lab, "node1", &format!("pigeonctl user show {USER}"));
    assert!(
        !show.contains("move:"),
        "a refused move left a trace: {show}"
    );

    // The move, from node2's pigeonctl, while mail for the user arrives at both nodes.
    let lab = std::sync::Arc::new(lab);
    let sender = {
        let lab = lab.clone();
        std::thread::spawn(move || {
            let mut refused = Vec::new();
            for i in 0..DURING {
                let server = if i % 2 == 0 {
                    "203.0.113.11"
                } else {
                    "203.0.113.12"
                };
                let out = send(&lab, server, USER, &format!("<during-{i}@client.example>"));
                if !out.status.success() {
                    refused.push(i);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            refused
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    let t = Instant::now();
    let out = lab.exec(
        "node2",
        &["pigeonctl", "user", "move", USER, "--to", "mx2.example.com"],
    );
    let took = t.elapsed();
    assert!(
        out.status.success(),
        "move: {}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "moved {MESSAGES} messages in {:.1} s: {}",
        took.as_secs_f64(),
        String::from_utf8_lossy(&out.stderr)
    );
    let refused = sender.join().unwrap();
    assert!(
        refused.is_empty(),
        "messages refused during the move: {refused:?}"
    );

    // The directory: on node2, nothing of the move left.
    let show = sh(&lab, "node1", &format!("pigeonctl user show {USER}"));
    assert!(show.contains("home node:  mx2.example.com"), "{show}");
    assert!(!show.contains("move:"), "{show}");
    let id = show
        .lines()
        .find_map(|l| l.strip_prefix("mailbox id: "))
        .unwrap()
        .trim()
        .to_string();
    // The old copy is gone from node1; the mailbox is on node2.
    let exists = |node: &str| {
        lab.exec(node, &["test", "-d", &format!("/var/vmail/{id}")])
            .status
            .success()
    };
    assert!(!exists("node1"), "the old copy is still on node1");
    assert!(exists("node2"), "no mailbox on node2");

    // Every message sent during the move is in the mailbox once, on node2 only.
    wait_for(
        "the mail sent during the move",
        Duration::from_secs(60),
        || {
            (0..DURING)
                .all(|i| count_on(&lab, "node2", &format!("<during-{i}@client.example>")) == 1)
        },
    );
    for i in 0..DURING {
        let mid = format!("<during-{i}@client.example>");
        assert_eq!(count_on(&lab, "node2", &mid), 1, "{mid} on node2");
        assert_eq!(count_on(&lab, "node1", &mid), 0, "{mid} on node1");
    }

    // The same IMAP state, at node2 and through node1's proxy: the appended folders exactly as
    // before; INBOX as before plus the messages sent during the move.
    for host in ["203.0.113.12", "203.0.113.11"] {
        let after = imap_state(&lab, host);
        assert_eq!(
            after["subscribed"], before["subscribed"],
            "subscriptions at {host}"
        );
        for (name, was) in before["folders"].as_object().unwrap() {
            let now = &after["folders"][name];
            assert_eq!(
                now["uidvalidity"], was["uidvalidity"],
                "{name} UIDVALIDITY at {host}"
            );
            let was_msgs = was["messages"].as_array().unwrap();
            let now_msgs = now["messages"].as_array().unwrap();
            assert_eq!(
                &now_msgs[..was_msgs.len()],
                &was_msgs[..],
                "{name}: UIDs, flags and Message-IDs at {host}"
            );
            let extra = now_msgs.len() - was_msgs.len();
            if name == "INBOX" {
                assert_eq!(
                    extra, DURING,
                    "INBOX at {host}: the messages sent during the move"
                );
            } else {
                assert_eq!(extra, 0, "{name} at {host}");
                assert_eq!(now["uidnext"], was["uidnext"], "{name} UIDNEXT at {host}");
            }
        }
    }
    // Quota usage moved with the mailbox (plus the messages delivered since).
    let quota_after = sh(
        &lab,
        "node2",
        &format!("doveadm -f flow quota get -u {USER}"),
    );
    let messages = |q: &str| -> u64 {
        q.lines()
            .find(|l| l.contains("Type=MESSAGE"))
            .and_then(|l| l.split_whitespace().find_map(|w| w.strip_prefix("Value=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no message count in {q}"))
    };
    assert_eq!(
        messages(&quota_after),
        messages(&quota_before) + DURING as u64,
        "quota usage: before {quota_before}, after {quota_after}"
    );

    // The client syncs again, through node1 (proxied to node2) and then at node2 directly: it
    // finds nothing to download or change, apart from the new INBOX messages.
    std::thread::sleep(Duration::from_secs(1));
    mbsync(&lab, &dir, "203.0.113.11");
    let now = local_files(&dir);
    let kept: Vec<&String> = synced.iter().filter(|f| now.contains(f)).collect();
    assert_eq!(
        kept.len(),
        synced.len(),
        "files of the first sync changed or went"
    );
    assert_eq!(
        now.len(),
        synced.len() + DURING,
        "new files besides the new mail"
    );
    mbsync(&lab, &dir, "203.0.113.12");
    assert_eq!(
        local_files(&dir),
        now,
        "a sync at node2 changed the client's copy"
    );
    let _ = std::fs::remove_dir_all(&dir);

    // Mail after the move, at either node, lands on node2.
    for (i, server) in ["203.0.113.11", "203.0.113.12"].iter().enumerate() {
        let out = send(&lab, server, USER, &format!("<after-{i}@client.example>"));
        assert!(out.status.success(), "{}", stdout(&out));
    }
    wait_for(
        "the mail sent after the move",
        Duration::from_secs(30),
        || (0..2).all(|i| count_on(&lab, "node2", &format!("<after-{i}@client.example>")) == 1),
    );
    for i in 0..2 {
        assert_eq!(
            count_on(&lab, "node1", &format!("<after-{i}@client.example>")),
            0
        );
    }
}

/// An IMAP session at `host` that waits until the server ends it, then logs in again at
/// `again`; prints `ended after S s; again: OK`.
const KICKED: &str = r#"
import imaplib, ssl, sys, time
host, again, user, password = sys.argv[1:5]
c = ssl.create_default_context(); c.check_hostname = False; c.verify_mode = ssl.CERT_NONE
m = imaplib.IMAP4_SSL(host, 993, ssl_context=c, timeout=30)
m.login(user, password)
m.select("INBOX")
print("ready", flush=True)
t = time.time()
try:
    while time.time() - t < 120:
        m.noop()
        time.sleep(0.3)
    sys.exit("the session was never ended")
except (imaplib.IMAP4.abort, OSError):
    pass
ended = time.time() - t
m = imaplib.IMAP4_SSL(again, 993, ssl_context=c, timeout=30)
typ, _ = m.login(user, password)
print("ended after %.1f s; again: %s" % (ended, typ))
"#;

#[test]
fn a_node_drains_under_load_and_every_message_arrives_once_and_no_login_fails() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    if !lab_host_ready("node_drain") {
        return;
    }
    let lab = LabCli::new(lab_bin(), "t-drain");
    lab.run(&["down"]);
    lab.ok(&["up", "--nodes", "3"]);
    let nodes = ["node1", "node2", "node3"];
    let publics = ["203.0.113.11", "203.0.113.12", "203.0.113.13"];
    // Two users per node, each with some mail.
    let mut users = Vec::new();
    for n in 1..=3 {
        for k in 1..=2 {
            let user = format!("d{n}{k}@example.com");
            add_user_with_mail(&lab, &user, n, 60);
            users.push(user);
        }
    }
    let lab = Arc::new(lab);
    let users = Arc::new(users);
    let stop = Arc::new(AtomicBool::new(false));
    let _down = pigeonair_tests::support::LoadGuard::new(&stop, &lab);

    // A session at node2 for one of its users, which the drain must end.
    let kicked = {
        let lab = lab.clone();
        std::thread::spawn(move || {
            lab.client(&[
                "python3",
                "-c",
                KICKED,
                "203.0.113.12",
                "203.0.113.11",
                "d21@example.com",
                PASSWORD,
            ])
        })
    };
    // Steady SMTP load: every user, at every node in turn.
    let sender = {
        let (lab, users, stop) = (lab.clone(), users.clone(), stop.clone());
        std::thread::spawn(move || {
            let (mut sent, mut refused) = (Vec::new(), Vec::new());
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let user = &users[i % users.len()];
                let server = publics[i % 3];
                let mid = format!("<load-{i}@client.example>");
                let out = send(&lab, server, user, &mid);
                if out.status.success() {
                    sent.push((user.clone(), mid));
                } else {
                    refused.push(mid);
                }
                i += 1;
            }
            (sent, refused)
        })
    };
    // New IMAP and POP3 logins all the while, at the nodes that stay.
    let logins = {
        let (lab, users, stop) = (lab.clone(), users.clone(), stop.clone());
        std::thread::spawn(move || {
            let (mut ok, mut failed) = (0, Vec::new());
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let user = &users[i % users.len()];
                let host = ["203.0.113.11", "203.0.113.13"][i % 2];
                let proto = if i % 3 == 0 { "pop3" } else { "imap" };
                let port = if proto == "pop3" { "995" } else { "993" };
                let out = pigeonair_tests::clients::mailclient(
                    &lab,
                    &[
                        if proto == "pop3" {
                            "pop3"
                        } else {
                            "imap-count"
                        },
                        host,
                        port,
                        "tls",
                        user,
                        PASSWORD,
                    ],
                );
                if out.status.success() {
                    ok += 1;
                } else {
                    failed.push(format!(
                        "{proto} {user} at {host}: {}",
                        String::from_utf8_lossy(&out.stderr).trim()
                    ));
                }
                i += 1;
            }
            (ok, failed)
        })
    };

    std::thread::sleep(Duration::from_secs(2));
    let t = Instant::now();
    let out = lab.exec("node1", &["pigeonctl", "node", "drain", "mx2.example.com"]);
    let took = t.elapsed();
    assert!(
        out.status.success(),
        "drain: {}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "drained node2 in {:.1} s:\n{}",
        took.as_secs_f64(),
        String::from_utf8_lossy(&out.stderr)
    );
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    let (sent, refused) = sender.join().unwrap();
    let (logins_ok, logins_failed) = logins.join().unwrap();
    let kicked = kicked.join().unwrap();
    eprintln!(
        "{} messages accepted, {} refused; {logins_ok} logins, {} failed; session at node2: {}",
        sent.len(),
        refused.len(),
        logins_failed.len(),
        stdout(&kicked).trim()
    );
    assert!(refused.is_empty(), "messages refused: {refused:?}");
    assert!(logins_failed.is_empty(), "logins failed: {logins_failed:?}");
    assert!(
        stdout(&kicked).contains("again: OK"),
        "the session at node2: {}{}",
        stdout(&kicked),
        String::from_utf8_lossy(&kicked.stderr)
    );
    assert!(sent.len() > 10, "too little load: {}", sent.len());

    // node2 is drained and holds no mailbox; the others share its users.
    let list = sh(&lab, "node1", "pigeonctl node list");
    let row = |host: &str| {
        list.lines()
            .find(|l| l.starts_with(host))
            .unwrap_or_else(|| panic!("{host} not in {list}"))
            .split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(row("mx2.example.com")[1], "drained", "{list}");
    assert_eq!(row("mx2.example.com")[5], "0", "{list}");
    let left = sh(
        &lab,
        "node2",
        "find /var/vmail -mindepth 1 -maxdepth 1 | wc -l",
    );
    assert_eq!(left.trim(), "0", "mailbox directories left on node2");

    // Every accepted message is in its owner's mailbox exactly once, on the owner's home node.
    let homes: std::collections::BTreeMap<String, usize> = users
        .iter()
        .map(|u| (u.clone(), home_of(&lab, u).0))
        .collect();
    assert!(
        homes.values().all(|&n| n != 1),
        "a user still on node2: {homes:?}"
    );
    wait_for(
        "every accepted message delivered",
        Duration::from_secs(90),
        || {
            sent.iter()
                .all(|(u, mid)| count_on(&lab, nodes[homes[u]], mid) == 1)
        },
    );
    for (user, mid) in &sent {
        for (n, node) in nodes.iter().enumerate() {
            let want = usize::from(n == homes[user]);
            assert_eq!(
                count_on(&lab, node, mid),
                want,
                "{mid} for {user} on {node}"
            );
        }
    }

    // Refusals, and back into service.
    for (args, says) in [
        (
            vec!["node", "drain", "mx9.example.com"],
            "no node mx9.example.com",
        ),
        (vec!["node", "drain", "mx2.example.com"], "drained already"),
        (
            vec!["user", "move", "d11@example.com", "--to", "mx2.example.com"],
            "the node is drained",
        ),
    ] {
        let mut cmd = vec!["pigeonctl"];
        cmd.extend(args);
        let out = lab.exec("node1", &cmd);
        assert!(!out.status.success(), "{cmd:?} accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{cmd:?}: {err}");
    }
    sh(&lab, "node1", "pigeonctl node undrain mx2.example.com");
    let list = sh(&lab, "node1", "pigeonctl node list");
    assert!(
        list.lines()
            .any(|l| l.starts_with("mx2.example.com") && l.contains(" active ")),
        "{list}"
    );

    // Removal: refused for the provider, for an active node and one with mailboxes; node2,
    // drained again, leaves the cluster and its certificate is refused by the others.
    for (node, says) in [
        ("mx1.example.com", "role provider"),
        // The second node to join is the second provider.
        ("mx2.example.com", "role provider"),
        ("mx3.example.com", "is the home node of"),
        ("mx9.example.com", "no node mx9.example.com"),
    ] {
        let out = lab.exec("node1", &["pigeonctl", "node", "remove", node]);
        assert!(!out.status.success(), "remove {node} accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "remove {node}: {err}");
    }
    // node2's certificate against node1's and node3's slapd (SASL EXTERNAL) and control plane.
    let with_node2_cert = |peer: &str| {
        let ldap = lab.exec(
            "node2",
            &[
                "sh",
                "-c",
                &format!(
                    "LDAPTLS_CERT=/etc/pigeonair/cluster/node.crt \
                     LDAPTLS_KEY=/etc/pigeonair/cluster/node.key \
                     LDAPTLS_CACERT=/etc/pigeonair/cluster/ca.crt \
                     ldapwhoami -ZZ -Y EXTERNAL -H ldap://{peer}"
                ),
            ],
        );
        let control = stdout(&lab.exec(
            "node2",
            &[
                "sh",
                "-c",
                &format!(
                    "printf 'GET /v1/status HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n' \
                     | timeout 5 openssl s_client -quiet -verify_quiet \
                     -CAfile /etc/pigeonair/cluster/ca.crt -cert /etc/pigeonair/cluster/node.crt \
                     -key /etc/pigeonair/cluster/node.key -connect {peer}:7443 2>&1"
                ),
            ],
        ));
        (ldap.status.success(), control.contains("HTTP/1.1 200"))
    };
    for peer in ["10.42.0.11", "10.42.0.13"] {
        assert_eq!(
            with_node2_cert(peer),
            (true, true),
            "node2's certificate at {peer} before"
        );
    }
    // node2 steps down to a replica (node1 stays the provider), then can be removed; an
    // active node is refused first.
    sh(&lab, "node1", "pigeonctl node role mx2.example.com replica");
    let out = lab.exec("node1", &["pigeonctl", "node", "remove", "mx2.example.com"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is active: `pigeonctl node drain mx2.example.com` first"),
        "remove of an active replica: {err}"
    );
    sh(&lab, "node1", "pigeonctl node drain mx2.example.com");
    // node3 reads its own replica: it has node2 drained a moment after node1 has.
    wait_for(
        "mx2 drained in node3's directory",
        Duration::from_secs(30),
        || {
            sh(&lab, "node3", "pigeonctl node list")
                .lines()
                .any(|l| l.starts_with("mx2.example.com") && l.contains(" drained "))
        },
    );
    let out = sh(&lab, "node3", "pigeonctl node remove mx2.example.com");
    assert!(out.contains("removed"), "{out}");
    let list = sh(&lab, "node3", "pigeonctl node list");
    assert!(!list.contains("mx2.example.com"), "{list}");
    for peer in ["10.42.0.11", "10.42.0.13"] {
        wait_for(
            &format!("node2's certificate refused at {peer}"),
            Duration::from_secs(10),
            || with_node2_cert(peer) == (false, false),
        );
    }
    // The others forget it: no name in their hosts files.
    for node in ["node1", "node3"] {
        wait_for(
            &format!("{node} forgets mx2"),
            Duration::from_secs(10),
            || !sh(&lab, node, "cat /etc/hosts").contains("mx2.example.com"),
        );
    }
    // Mail still flows between the nodes that stay.
    let out = send(
        &lab,
        "203.0.113.13",
        "d11@example.com",
        "<after-remove@client.example>",
    );
    assert!(out.status.success(), "{}", stdout(&out));
    wait_for("mail after the removal", Duration::from_secs(30), || {
        count_on(
            &lab,
            nodes[homes["d11@example.com"]],
            "<after-remove@client.example>",
        ) == 1
    });

    // node2 made itself a fresh box: nothing of the cluster left, its daemons stopped.
    wait_for("node2 leaves", Duration::from_secs(30), || {
        lab.exec("node2", &["test", "!", "-e", "/etc/pigeonair/answers.toml"])
            .status
            .success()
    });
    for gone in [
        "/etc/pigeonair/cluster",
        "/etc/pigeonair/secrets.toml",
        "/etc/dovecot/dovecot.conf",
    ] {
        let out = lab.exec("node2", &["test", "!", "-e", gone]);
        assert!(out.status.success(), "{gone} is still on node2");
    }
    for unit in ["slapd", "postfix", "dovecot", "pigeonaird"] {
        wait_for(
            &format!("{unit} stopped on node2"),
            Duration::from_secs(20),
            || {
                !lab.exec("node2", &["systemctl", "is-active", "--quiet", unit])
                    .status
                    .success()
            },
        );
    }
    // It joins again with a new token, under its old name, and serves mail.
    let token = sh(&lab, "node1", "pigeonctl node token");
    let answers = format!(
        "[cluster]\njoin = \"{}\"\n\n[node]\nhostname = \"mx2.example.com\"\n\n[network]\ndns = []\n\n\
         [network.public]\ninterface = \"eth0\"\naddress = \"203.0.113.12/24\"\ngateway = \"203.0.113.1\"\n\n\
         [network.private]\ninterface = \"eth1\"\naddress = \"10.42.0.12/24\"\n",
        token.trim()
    );
    let out = lab.exec_with_input("node2", "pigeonair-install --answers -", &answers);
    assert!(
        out.status.success(),
        "the re-join: {}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    // node2 came back as the second directory provider: it marks itself active in its own
    // database, and node1 has it by replication a moment later.
    wait_for(
        "mx2 active in node1's directory",
        Duration::from_secs(30),
        || {
            sh(&lab, "node1", "pigeonctl node list")
                .lines()
                .any(|l| l.starts_with("mx2.example.com") && l.contains(" active "))
        },
    );
    let list = sh(&lab, "node1", "pigeonctl node list");
    assert!(
        list.lines()
            .any(|l| l.starts_with("mx2.example.com") && l.contains(" active ")),
        "{list}"
    );
    for peer in ["10.42.0.11", "10.42.0.13"] {
        assert_eq!(
            with_node2_cert(peer),
            (true, true),
            "node2's new certificate at {peer}"
        );
    }
    let out = send(
        &lab,
        "203.0.113.12",
        "d11@example.com",
        "<after-rejoin@client.example>",
    );
    assert!(out.status.success(), "{}", stdout(&out));
    wait_for(
        "mail through the re-joined node",
        Duration::from_secs(30),
        || {
            count_on(
                &lab,
                nodes[homes["d11@example.com"]],
                "<after-rejoin@client.example>",
            ) == 1
        },
    );
}

/// A script for `node`: waits (up to 60 s) until the user's move is in `state`, then runs
/// `kill`; exits 0 once it has killed, 124 if the state never came.
fn kill_at(user: &str, state: &str, kill: &str) -> String {
    let watch = if state == "dsync" {
        // Anchored, so the pattern never matches this watcher's own command line.
        "pgrep -f '^doveadm backup' >/dev/null".to_string()
    } else {
        format!(
            "ldapsearch -Q -Y EXTERNAL -H ldapi:/// -LLL -b ou=domains,o=pigeonair \
             '(&(mail={user})(pigeonairMoveState={state}))' 1.1 | grep -q '^dn:'"
        )
    };
    format!("timeout 60 sh -c \"until {watch}; do :; done; {kill}\"")
}

#[test]
fn a_move_killed_at_any_step_converges_when_its_node_comes_back() {
    if !lab_host_ready("killed_move") {
        return;
    }
    let lab = two_nodes_and_a_full_mailbox("t-movekill", 1500);
    let baseline = imap_state(&lab, "203.0.113.11");
    let kill_daemon = "systemctl kill -s KILL pigeonaird";
    let kill_dsync = "pkill -9 -f '^doveadm backup'";
    // (from, to, the node killed on, the step, how)
    let rounds = [
        ("node1", "node2", "node1", "copying", kill_daemon),
        ("node2", "node1", "node2", "locked", kill_daemon),
        ("node1", "node2", "node1", "finishing", kill_daemon),
        ("node2", "node1", "node2", "dsync", kill_dsync),
        ("node1", "node2", "node2", "finishing", kill_daemon),
    ];
    let host = |node: &str| format!("mx{}.example.com", &node[4..]);
    let public = |node: &str| format!("203.0.113.1{}", &node[4..]);
    let mut sent = Vec::new();
    let lab = std::sync::Arc::new(lab);
    for (round, (from, to, victim, step, kill)) in rounds.iter().enumerate() {
        let killer = {
            let lab = lab.clone();
            let script = kill_at(USER, step, kill);
            let victim = victim.to_string();
            std::thread::spawn(move || lab.exec(&victim, &["sh", "-c", &script]))
        };
        std::thread::sleep(Duration::from_millis(300));
        // Mail during the move, to both nodes.
        let mailer = {
            let lab = lab.clone();
            std::thread::spawn(move || {
                let mut mids = Vec::new();
                for i in 0..8 {
                    let mid = format!("<kill-{round}-{i}@client.example>");
                    let server = format!("203.0.113.1{}", 1 + i % 2);
                    let out = send(&lab, &server, USER, &mid);
                    assert!(out.status.success(), "{mid}: {}", stdout(&out));
                    mids.push(mid);
                    std::thread::sleep(Duration::from_millis(150));
                }
                mids
            })
        };
        let t = Instant::now();
        let out = lab.exec(
            from,
            &["pigeonctl", "user", "move", USER, "--to", &host(to)],
        );
        let took = t.elapsed();
        let killed = killer.join().unwrap();
        assert!(
            out.status.success(),
            "round {round}: move {from} → {to}: {}{}",
            stdout(&out),
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!(
            "round {round}: {from} → {to}, {kill} on {victim} at {step}: killed {}, move took {:.1} s",
            if killed.status.success() {
                "yes"
            } else {
                "no (the step passed unseen)"
            },
            took.as_secs_f64()
        );
        assert!(
            killed.status.success() || *step == "locked",
            "round {round}: the kill at {step} did not happen"
        );
        sent.extend(mailer.join().unwrap());
        // Converged: the mailbox on `to` only, nothing of the move left, every message once.
        let show = sh(&lab, from, &format!("pigeonctl user show {USER}"));
        assert!(
            show.contains(&format!("home node:  {}", host(to))),
            "{show}"
        );
        assert!(!show.contains("move:"), "round {round}: {show}");
        wait_for("the mail of the round", Duration::from_secs(60), || {
            sent.iter().all(|m| count_on(&lab, to, m) == 1)
        });
        for m in &sent {
            assert_eq!(count_on(&lab, to, m), 1, "round {round}: {m} on {to}");
            assert_eq!(count_on(&lab, from, m), 0, "round {round}: {m} on {from}");
        }
        let left = sh(
            &lab,
            from,
            "find /var/vmail -mindepth 1 -maxdepth 1 | wc -l",
        );
        assert_eq!(left.trim(), "0", "round {round}: left on {from}");
        let now = imap_state(&lab, &public(to));
        for (name, was) in baseline["folders"].as_object().unwrap() {
            let msgs = now["folders"][name]["messages"].as_array().unwrap();
            let was_msgs = was["messages"].as_array().unwrap();
            assert_eq!(
                now["folders"][name]["uidvalidity"], was["uidvalidity"],
                "round {round}: {name} UIDVALIDITY"
            );
            assert_eq!(
                &msgs[..was_msgs.len()],
                &was_msgs[..],
                "round {round}: {name}"
            );
            let extra = if name == "INBOX" { sent.len() } else { 0 };
            assert_eq!(msgs.len(), was_msgs.len() + extra, "round {round}: {name}");
        }
    }
}

#[test]
fn a_rebalance_spreads_one_nodes_mailboxes_over_a_new_node_and_every_user_reads_its_mail() {
    if !lab_host_ready("cluster_rebalance") {
        return;
    }
    let lab = LabCli::new(lab_bin(), "t-rebal");
    lab.run(&["down"]);
    lab.ok(&["up", "--nodes", "2"]);
    // Seven users, all on node1; the first three with some mail.
    let users: Vec<String> = (1..=7).map(|i| format!("r{i}@example.com")).collect();
    for (i, user) in users.iter().enumerate() {
        add_user_with_mail(&lab, user, 1, if i < 3 { 30 - 10 * i } else { 0 });
    }
    // Each mailbox's IMAP state, read through node1 (proxied once it lives elsewhere).
    let state = |user: &str| -> serde_json::Value {
        let out = lab.client(&[
            "python3",
            &script(),
            "state",
            "203.0.113.11",
            user,
            PASSWORD,
        ]);
        assert!(
            out.status.success(),
            "IMAP state of {user}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("JSON from mailbox_state.py")
    };
    let before: Vec<serde_json::Value> = users.iter().map(|u| state(u)).collect();

    // node3 joins, empty.
    let added = lab.ok(&["add"]);
    assert!(added.contains("node3: join: joined cluster"), "{added}");
    let counts = || -> Vec<usize> {
        let list = sh(&lab, "node1", "pigeonctl node list");
        (1..=3)
            .map(|n| {
                let row = list
                    .lines()
                    .find(|l| l.starts_with(&format!("mx{n}.example.com")))
                    .unwrap_or_else(|| panic!("mx{n} not in {list}"));
                assert!(row.contains(" active "), "{list}");
                row.split_whitespace().nth(5).unwrap().parse().unwrap()
            })
            .collect()
    };
    // Every mailbox on node1: ours and the postmaster's the install made.
    let on_one = counts()[0];
    assert!(on_one >= users.len(), "{on_one}");
    assert_eq!(counts(), [on_one, 0, 0]);
    // The fewest moves: node1 keeps a third, rounded up.
    let moves = on_one - on_one.div_ceil(3);

    // The dry run proposes moves to both emptier nodes and writes nothing.
    let dry = sh(&lab, "node1", "pigeonctl cluster rebalance --dry-run");
    eprintln!("rebalance --dry-run:\n{dry}");
    let planned: Vec<&str> = dry.lines().filter(|l| l.starts_with("move ")).collect();
    assert_eq!(planned.len(), moves, "{dry}");
    assert!(
        planned.iter().all(|l| l.contains("mx1.example.com → ")),
        "{dry}"
    );
    for to in ["mx2.example.com", "mx3.example.com"] {
        assert!(
            planned.iter().filter(|l| l.ends_with(to)).count() >= moves / 2,
            "moves to {to}: {dry}"
        );
    }
    assert!(dry.contains("dry run, nothing written"), "{dry}");
    let plan: serde_json::Value = serde_json::from_str(&sh(
        &lab,
        "node1",
        "pigeonctl --json cluster rebalance --dry-run",
    ))
    .unwrap();
    assert_eq!(plan["moves"].as_array().unwrap().len(), moves, "{plan}");
    assert_eq!(plan["after"]["mx1.example.com"], on_one - moves, "{plan}");
    for user in &users {
        let show = sh(&lab, "node1", &format!("pigeonctl user show {user}"));
        assert!(!show.contains("move:"), "the dry run wrote a move: {show}");
    }
    assert_eq!(counts(), [on_one, 0, 0], "the dry run moved something");

    // The rebalance, from node2's pigeonctl.
    let t = Instant::now();
    let out = lab.exec("node2", &["pigeonctl", "cluster", "rebalance"]);
    let took = t.elapsed();
    assert!(
        out.status.success(),
        "rebalance: {}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "rebalance took {:.1} s:\n{}{}",
        took.as_secs_f64(),
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout(&out).contains(&format!("rebalanced: {moves} moves")),
        "{}",
        stdout(&out)
    );
    let after = counts();
    eprintln!("mailboxes per node: [{on_one}, 0, 0] before, {after:?} after");
    assert_eq!(after.iter().sum::<usize>(), on_one);
    assert!(
        after.iter().max().unwrap() - after.iter().min().unwrap() <= 1,
        "{after:?}"
    );
    // Each of our mailboxes is on its home node and nowhere else.
    for user in &users {
        let show = sh(&lab, "node1", &format!("pigeonctl user show {user}"));
        let field = |name: &str| {
            show.lines()
                .find_map(|l| l.strip_prefix(name))
                .unwrap_or_else(|| panic!("no {name} in {show}"))
                .trim()
                .to_owned()
        };
        let (id, home) = (field("mailbox id:"), field("home node:"));
        for n in 1..=3 {
            let here = lab
                .exec(
                    &format!("node{n}"),
                    &["test", "-d", &format!("/var/vmail/{id}")],
                )
                .status
                .success();
            assert_eq!(
                here,
                home == format!("mx{n}.example.com"),
                "{user}'s mailbox {id} on node{n}; its home is {home}"
            );
        }
    }

    // Every user reads the same mail as before: UIDs, flags, folders, and each folder holding
    // mail keeps its UIDVALIDITY. An empty INBOX has come out of its move with a new one (a
    // move's dsync, not the rebalance; a client has nothing cached to lose), so an empty
    // folder's UIDVALIDITY is not compared, only listed.
    let mut new_validity = Vec::new();
    for (user, was) in users.iter().zip(&before) {
        let mut now = state(user);
        for (name, f) in now["folders"].as_object_mut().unwrap() {
            let empty = f["messages"].as_array().is_some_and(|m| m.is_empty());
            if empty && f["uidvalidity"] != was["folders"][name.as_str()]["uidvalidity"] {
                new_validity.push(format!("{user} {name}"));
                f["uidvalidity"] = was["folders"][name.as_str()]["uidvalidity"].clone();
            }
        }
        assert_eq!(&now, was, "{user}'s mailbox after the rebalance");
        let show = sh(&lab, "node1", &format!("pigeonctl user show {user}"));
        assert!(!show.contains("move:"), "a move left behind: {show}");
    }
    eprintln!("empty folders with a new UIDVALIDITY after their move: {new_validity:?}");
    // Run again: nothing to move.
    let again = sh(&lab, "node3", "pigeonctl cluster rebalance");
    assert!(
        again.contains("nothing to move: the active nodes are balanced"),
        "{again}"
    );

    // The lab takes node3 out again as an operator would (drain, remove): its mailboxes go
    // back to the other two, and it is a fresh box.
    let removed = lab.ok(&["remove", "node3"]);
    assert!(removed.contains("it is a fresh box now"), "{removed}");
    let list = sh(&lab, "node1", "pigeonctl node list");
    assert!(!list.contains("mx3.example.com"), "{list}");
    let total: usize = ["mx1.example.com", "mx2.example.com"]
        .iter()
        .map(|h| {
            let row = list.lines().find(|l| l.starts_with(h)).unwrap();
            row.split_whitespace()
                .nth(5)
                .unwrap()
                .parse::<usize>()
                .unwrap()
        })
        .sum();
    assert_eq!(total, on_one, "mailboxes after node3 left: {list}");
    for (user, was) in users.iter().zip(&before) {
        let now = state(user);
        for (name, folder) in was["folders"].as_object().unwrap() {
            assert_eq!(
                now["folders"][name]["messages"], folder["messages"],
                "{user}'s {name} after node3 left"
            );
        }
    }
}

#[test]
fn a_removed_users_mailbox_is_kept_for_its_grace_period_then_deleted_by_its_home_node() {
    if !lab_host_ready("removed_users") {
        return;
    }
    let lab = LabCli::new(lab_bin(), "t-purge");
    lab.run(&["down"]);
    lab.ok(&["up", "--nodes", "2"]);
    let add = |user: &str| {
        add_user_with_mail(&lab, user, 2, 20);
        let show = sh(&lab, "node1", &format!("pigeonctl user show {user}"));
        show.lines()
            .find_map(|l| l.strip_prefix("mailbox id: "))
            .unwrap()
            .trim()
            .to_string()
    };
    let on_node2 = |id: &str| {
        lab.exec("node2", &["test", "-d", &format!("/var/vmail/{id}")])
            .status
            .success()
    };
    let user = "gone@example.com";
    let id = add(user);
    let state_of = |u: &str| {
        let out = lab.client(&["python3", &script(), "state", "203.0.113.11", u, PASSWORD]);
        (out.status.success(), stdout(&out))
    };
    let (ok, was) = state_of(user);
    assert!(ok);

    // Removed with the default grace: no mail, no login, the mailbox kept on node2.
    let out = sh(&lab, "node1", &format!("pigeonctl user remove {user}"));
    assert!(out.contains("stays on mx2.example.com until"), "{out}");
    assert!(on_node2(&id), "the mailbox went at once");
    let out = lab.client(&[
        "swaks",
        "--server",
        "203.0.113.11",
        "--to",
        user,
        "--from",
        "a@client.example",
    ]);
    assert!(!out.status.success(), "mail to a removed user accepted");
    assert!(stdout(&out).contains("550"), "{}", stdout(&out));
    assert!(!state_of(user).0, "a removed user logged in");
    // Restored: everything as it was.
    sh(&lab, "node2", &format!("pigeonctl user restore {user}"));
    let (ok, now) = state_of(user);
    assert!(ok, "the restored user cannot log in");
    assert_eq!(now, was, "the restored mailbox");

    // Removed with a short grace: its home node deletes the mailbox when it ends.
    sh(
        &lab,
        "node1",
        &format!("pigeonctl user remove {user} --grace 3s"),
    );
    wait_for(
        "the mailbox purged after its grace",
        Duration::from_secs(30),
        || !on_node2(&id),
    );
    let out = lab.exec("node1", &["pigeonctl", "user", "restore", user]);
    assert!(!out.status.success(), "a purged user restored");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no removed user"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // --purge: deleted now, and the command says so once it is.
    let other = "purged@example.com";
    let other_id = add(other);
    let out = sh(
        &lab,
        "node1",
        &format!("pigeonctl user remove {other} --purge"),
    );
    assert!(
        out.contains("deleted its mailbox on mx2.example.com"),
        "{out}"
    );
    assert!(!on_node2(&other_id), "the mailbox is still on node2");

    // Bad input names the value; the address is free for a new user, with a new mailbox.
    let out = lab.exec(
        "node1",
        &["pigeonctl", "user", "remove", user, "--grace", "soon"],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--grace \"soon\""), "{err}");
    let again = add(user);
    assert_ne!(again, id, "the new user got the old mailbox id");
}

/// Waits (up to 90 s) in node1 until the directory shows `filter`; whether it came.
fn wait_in_directory(lab: &LabCli, filter: &str) -> bool {
    let watch = format!(
        "ldapsearch -Q -Y EXTERNAL -H ldapi:/// -LLL -b ou=domains,o=pigeonair '{filter}' 1.1 \
         | grep -q '^dn:'"
    );
    lab.exec(
        "node1",
        &[
            "sh",
            "-c",
            &format!("timeout 90 sh -c \"until {watch}; do sleep 0.05; done\""),
        ],
    )
    .status
    .success()
}

#[test]
fn a_drain_survives_its_node_losing_power_and_every_message_arrives_once() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    if !lab_host_ready("drain_power_cut") {
        return;
    }
    let lab = LabCli::new(lab_bin(), "t-drainkill");
    lab.run(&["down"]);
    lab.ok(&["up", "--nodes", "3"]);
    let nodes = ["node1", "node2", "node3"];
    // Nine mailboxes on node2, to be drained; one on each other node.
    let mut users = Vec::new();
    for k in 1..=9 {
        let user = format!("k2{k}@example.com");
        add_user_with_mail(&lab, &user, 2, 80);
        users.push(user);
    }
    for n in [1, 3] {
        let user = format!("k{n}1@example.com");
        add_user_with_mail(&lab, &user, n, 20);
        users.push(user);
    }
    let before: Vec<serde_json::Value> = users
        .iter()
        .map(|u| imap_state_of(&lab, "203.0.113.11", u))
        .collect();
    let lab = Arc::new(lab);
    let users = Arc::new(users);
    let stop = Arc::new(AtomicBool::new(false));
    let _down = pigeonair_tests::support::LoadGuard::new(&stop, &lab);
    // Mail all the while, to every user, through every node (node2 refuses while it is off).
    let sender = {
        let (lab, users, stop) = (lab.clone(), users.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut sent = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let user = &users[i % users.len()];
                let server = format!("203.0.113.1{}", 1 + i % 3);
                let mid = format!("<cut-{i}@client.example>");
                if send(&lab, &server, user, &mid).status.success() {
                    sent.push((user.clone(), mid));
                }
                i += 1;
            }
            sent
        })
    };
    sh(
        &lab,
        "node1",
        "pigeonctl node drain mx2.example.com --no-wait",
    );
    // Power cuts: while a mailbox is being copied away from node2, and while node2 finishes a
    // move (the two-way sync and the removal of its old copy).
    let filters = [
        "(&(mailHost=mx2.example.com)(pigeonairMoveState=copying))",
        "(&(pigeonairMoveFrom=mx2.example.com)(pigeonairMoveState=finishing))",
    ];
    let watch = |filter: &'static str| {
        let lab = lab.clone();
        std::thread::spawn(move || wait_in_directory(&lab, filter))
    };
    let mut next = Some(watch(filters[0]));
    for (round, filter) in filters.iter().enumerate() {
        let seen = next.take().expect("a watch").join().unwrap();
        if !seen {
            let moves = lab.exec(
                "node1",
                &["sh", "-c", "ldapsearch -Q -Y EXTERNAL -H ldapi:/// -LLL -b ou=domains,o=pigeonair                    '(objectClass=pigeonairMailUser)' mail mailHost pigeonairMoveTo pigeonairMoveState pigeonairMoveDetail;                    pigeonctl node list"],
            );
            let journal = lab.exec(
                "node2",
                &["journalctl", "-u", "pigeonaird", "-n", "60", "--no-pager"],
            );
            panic!(
                "round {round}: {filter} never came\n{}\n{}",
                stdout(&moves),
                stdout(&journal)
            );
        }
        let out = lab.ok(&["kill", "node2"]);
        eprintln!("round {round}: at {filter}: {}", out.trim());
        let list = sh(&lab, "node1", "pigeonctl node list");
        assert!(
            list.lines()
                .any(|l| l.starts_with("mx2.example.com") && l.contains("unreachable")),
            "round {round}: {list}"
        );
        std::thread::sleep(Duration::from_secs(3));
        // The drain goes on as soon as node2 is back: the next power cut's moment is watched
        // for from before it starts.
        next = filters.get(round + 1).map(|f| watch(f));
        let out = lab.ok(&["start", "node2"]);
        eprintln!("round {round}: {}", out.lines().next().unwrap_or_default());
        // Run again after the crash, the drain goes on (and retries a move that failed).
        let out = lab.exec(
            "node1",
            &["pigeonctl", "node", "drain", "mx2.example.com", "--no-wait"],
        );
        assert!(
            out.status.success()
                || String::from_utf8_lossy(&out.stderr).contains("drained already"),
            "round {round}: drain again: {}{}",
            stdout(&out),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let t = Instant::now();
    let out = lab.exec(
        "node1",
        &[
            "pigeonctl",
            "node",
            "drain",
            "mx2.example.com",
            "--timeout",
            "300s",
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() || err.contains("drained already"),
        "the drain after the power cuts: {}{err}",
        stdout(&out)
    );
    eprintln!(
        "drain finished {:.1} s after the last power cut",
        t.elapsed().as_secs_f64()
    );
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    let sent = sender.join().unwrap();
    eprintln!("{} messages accepted during the drain", sent.len());
    assert!(sent.len() > 20, "too little load: {}", sent.len());
    let left = sh(
        &lab,
        "node2",
        "find /var/vmail -mindepth 1 -maxdepth 1 | wc -l",
    );
    assert_eq!(left.trim(), "0", "mailbox directories left on node2");

    // Every accepted message once, on its owner's home node; the mail from before kept its
    // UIDs in every folder.
    let homes: std::collections::BTreeMap<String, usize> = users
        .iter()
        .map(|u| {
            let (n, show) = home_of(&lab, u);
            assert!(!show.contains("move:"), "{show}");
            (u.clone(), n)
        })
        .collect();
    assert!(
        homes.values().all(|&n| n != 1),
        "a user on node2: {homes:?}"
    );
    wait_for(
        "every accepted message delivered",
        Duration::from_secs(120),
        || {
            sent.iter()
                .all(|(u, mid)| count_on(&lab, nodes[homes[u]], mid) == 1)
        },
    );
    for (user, mid) in &sent {
        for (n, node) in nodes.iter().enumerate() {
            assert_eq!(
                count_on(&lab, node, mid),
                usize::from(n == homes[user]),
                "{mid} for {user} on {node}"
            );
        }
    }
    for (user, was) in users.iter().zip(&before) {
        let now = imap_state_of(&lab, "203.0.113.11", user);
        for (name, f) in was["folders"].as_object().unwrap() {
            let was_msgs = f["messages"].as_array().unwrap();
            let msgs = now["folders"][name]["messages"].as_array().unwrap();
            assert_eq!(
                now["folders"][name]["uidvalidity"], f["uidvalidity"],
                "{user} {name} UIDVALIDITY"
            );
            assert_eq!(&msgs[..was_msgs.len()], &was_msgs[..], "{user} {name}");
        }
    }
}
