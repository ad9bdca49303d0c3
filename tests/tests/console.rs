//! Cluster work from the screens, end to end, driven with tmux keystrokes as staff type them:
//! the console on node1 makes a token; node3, a fresh box, joins with it through the installer's
//! screens (a wrong token first: its reason on screen, nothing written anywhere); node3 turns
//! active in the console and serves mail; then node2 is drained (its progress on screen) and
//! removed from the console, and its former users' mail arrives at their new home nodes.

use std::time::Duration;

use pigeonair_tests::clients::{mailclient, text};
use pigeonair_tests::support::{LabCli, lab_bin, lab_host_ready, stdout, wait_until};
use pigeonair_tests::tmux::{self, Tmux};

const PASSWORD: &str = "a-console-password";

fn sh(lab: &LabCli, node: &str, script: &str) -> String {
    let out = lab.exec(node, &["sh", "-c", script]);
    assert!(out.status.success(), "{node}: {script}: {}", text(&out));
    stdout(&out)
}

/// What a refused join must leave as it was: node1's nodes and tokens, node3's files.
fn untouched(lab: &LabCli) -> (String, String) {
    let directory = sh(
        lab,
        "node1",
        "ldapsearch -Q -Y EXTERNAL -H ldapi:/// -LLL -b o=pigeonair \
         '(|(objectClass=pigeonairNode)(objectClass=pigeonairJoinToken))' '*' | sort",
    );
    let files = stdout(&lab.exec(
        "node3",
        &[
            "sh",
            "-c",
            "ls /etc/pigeonair /var/lib/ldap 2>&1; systemctl is-active slapd postfix dovecot",
        ],
    ));
    (directory, files)
}

fn add_user(lab: &LabCli, user: &str, node: &str) {
    let out = lab.exec_with_input(
        "node1",
        &format!("pigeonctl user add {user} --node {node} --password-stdin"),
        &format!("{PASSWORD}\n"),
    );
    assert!(out.status.success(), "add {user}: {}", text(&out));
}

/// One message from the client through node1.
fn send(lab: &LabCli, user: &str, body: &str) {
    let out = lab.client(&[
        "swaks",
        "--server",
        "203.0.113.11",
        "--timeout",
        "20",
        "--to",
        user,
        "--from",
        "x@client.example",
        "--body",
        body,
    ]);
    assert!(out.status.success(), "to {user}: {}", text(&out));
}

/// Whether `body` is `user`'s newest message, read over IMAPS at `host`.
fn reads(lab: &LabCli, host: &str, user: &str, body: &str) -> bool {
    let out = mailclient(lab, &["imap", host, "993", "tls", user, PASSWORD]);
    out.status.success() && stdout(&out).contains(body)
}

/// The row of the console's node table for `short` (`mx2`).
fn row<'a>(screen: &'a str, short: &str) -> Option<&'a str> {
    screen.lines().find(|l| {
        l.trim_start_matches(['│', '|', ' ', '>'])
            .starts_with(short)
    })
}

#[test]
fn staff_grow_and_shrink_the_cluster_from_the_console_and_the_installer() {
    if !lab_host_ready("console") || !tmux::available("console") {
        return;
    }
    let lab = LabCli::new(lab_bin(), "t-console");
    lab.run(&["down"]);
    lab.ok(&["up", "--nodes", "2"]);
    lab.ok(&["add", "--bare"]);
    // node2 holds mailboxes, so its drain has work to do.
    for k in 1..=3 {
        let user = format!("c2{k}@example.com");
        add_user(&lab, &user, "mx2.example.com");
        send(&lab, &user, &format!("before-the-drain-{k}"));
    }
    let bin = lab.bin().display().to_string();
    // Wide enough for the token's line whole.
    let console = Tmux::start(
        "pigeonair-t-console",
        160,
        40,
        &format!("{bin} --name t-console exec node1 -- pigeonair-console; sleep 30"),
    );
    let s = console.wait_until("mx1 and mx2 active", Duration::from_secs(30), |s| {
        ["mx1", "mx2"]
            .iter()
            .all(|n| row(s, n).is_some_and(|r| r.contains("active")))
    });
    eprintln!("the console:\n{s}");

    // Add node: a token, shown with the answers file's line.
    console.keys(&["a"]);
    console.wait_for("Add a node", Duration::from_secs(5));
    console.keys(&["Enter"]);
    let s = console.wait_for("join = \"PA1.", Duration::from_secs(20));
    let token = s
        .lines()
        .find_map(|l| l.split("join = \"").nth(1))
        .and_then(|t| t.split('"').next())
        .expect("the token on screen")
        .to_owned();
    assert!(
        token.starts_with("PA1.") && token.contains("@10.42.0.11:"),
        "{token}"
    );
    let fingerprint = sh(
        &lab,
        "node1",
        "openssl x509 -noout -fingerprint -sha256 -in /etc/pigeonair/cluster/ca.crt",
    );
    let fingerprint = fingerprint.trim().split('=').nth(1).unwrap().to_owned();

    // node3's installer: join, with a wrong token first (another secret).
    let installer = Tmux::start(
        "pigeonair-t-console-install",
        80,
        24,
        &format!("{bin} --name t-console exec node3 -- pigeonair-install; sleep 30"),
    );
    installer.wait_for("Welcome to PigeonAir", Duration::from_secs(20));
    installer.keys(&["Enter"]);
    installer.wait_for("Join an existing cluster", Duration::from_secs(5));
    installer.keys(&["Down", "Enter"]);
    installer.wait_for("Public interface", Duration::from_secs(5));
    for (i, v) in ["eth0", "203.0.113.13/24", "", "", "eth1", "10.42.0.13/24"]
        .iter()
        .enumerate()
    {
        if !v.is_empty() {
            installer.typed(v);
        }
        if i < 5 {
            installer.keys(&["Tab"]);
        }
    }
    installer.keys(&["Enter"]);
    installer.wait_for("Join token", Duration::from_secs(5));
    installer.typed("mx3.example.com");
    installer.keys(&["Tab"]);
    let mut parts: Vec<&str> = token.split('.').collect();
    let other_secret = "A".repeat(parts[2].len());
    parts[2] = &other_secret;
    let wrong = parts.join(".");
    let before = untouched(&lab);
    installer.typed(&wrong);
    installer.keys(&["Enter"]);
    let s = installer.wait_for("Confirm the cluster", Duration::from_secs(20));
    // The fingerprint on screen, over two lines, is node1's CA's.
    let shown: String = s
        .lines()
        .skip_while(|l| !l.contains("Fingerprint="))
        .take(2)
        .map(|l| {
            l.trim_matches(['│', '|', ' '])
                .trim_start_matches("sha256 Fingerprint=")
                .trim()
                .to_owned()
        })
        .collect();
    assert_eq!(shown, fingerprint, "{s}");
    installer.keys(&["Enter"]);
    let s = installer.wait_for("Join failed", Duration::from_secs(30));
    eprintln!("the wrong token:\n{s}");
    assert!(s.contains("refused"), "{s}");
    assert_eq!(untouched(&lab), before, "a refused join changed something");
    // Esc goes back to the token; the right one joins.
    installer.keys(&["Escape"]);
    installer.wait_for("Join token", Duration::from_secs(5));
    for _ in 0..wrong.len() {
        installer.keys(&["BSpace"]);
    }
    installer.typed(&token);
    installer.keys(&["Enter"]);
    installer.wait_for("Confirm the cluster", Duration::from_secs(20));
    installer.keys(&["Enter"]);
    let s = installer.wait_for(
        "This box is a PigeonAir mail node",
        Duration::from_secs(180),
    );
    assert!(
        s.contains("cluster pigeon") && s.contains("joined node"),
        "{s}"
    );
    installer.keys(&["Enter"]);

    // node3 turns active on the console's add-node screen and in the table, and serves mail.
    console.keys(&["Escape"]);
    console.wait_until("mx3 active", Duration::from_secs(30), |s| {
        row(s, "mx3").is_some_and(|r| r.contains("active"))
    });
    add_user(&lab, "c31@example.com", "mx3.example.com");
    send(&lab, "c31@example.com", "for-a-user-on-node3");
    wait_until("mail on node3", Duration::from_secs(20), || {
        reads(
            &lab,
            "203.0.113.13",
            "c31@example.com",
            "for-a-user-on-node3",
        )
    });

    // node2 joined second, so it is the cluster's second directory provider: an operator
    // hands that role back first (`node remove` refuses a provider).
    sh(&lab, "node1", "pigeonctl node role mx2.example.com replica");
    // Drain node2 from the console: the rows are sorted, node2 is the second.
    console.keys(&["Down"]);
    console.keys(&["d"]);
    let s = console.wait_for("mailboxes will move to", Duration::from_secs(10));
    assert!(s.contains("mx2.example.com"), "{s}");
    console.keys(&["y"]);
    let s = console.wait_for("Drain of mx2.example.com", Duration::from_secs(10));
    eprintln!("the drain:\n{s}");
    let s = console.wait_for("state: drained", Duration::from_secs(180));
    assert!(s.contains("3/3"), "{s}");
    console.keys(&["Escape"]);
    console.wait_until("mx2 drained", Duration::from_secs(10), |s| {
        row(s, "mx2").is_some_and(|r| r.contains("drained"))
    });
    console.keys(&["r"]);
    console.wait_for("cannot be undone", Duration::from_secs(10));
    console.keys(&["y"]);
    let s = console.wait_for("is removed from the cluster", Duration::from_secs(120));
    eprintln!("the removal:\n{s}");
    console.keys(&["Escape"]);
    console.wait_until("mx2 gone", Duration::from_secs(30), |s| {
        row(s, "mx2").is_none()
    });

    // Mail for node2's former users is delivered at their new home nodes.
    let list = sh(&lab, "node1", "pigeonctl node list");
    assert!(!list.contains("mx2.example.com"), "{list}");
    for k in 1..=3 {
        let user = format!("c2{k}@example.com");
        let show = sh(&lab, "node1", &format!("pigeonctl user show {user}"));
        assert!(!show.contains("mx2.example.com"), "{show}");
        send(&lab, &user, &format!("after-the-removal-{k}"));
        wait_until(&format!("mail for {user}"), Duration::from_secs(30), || {
            reads(
                &lab,
                "203.0.113.11",
                &user,
                &format!("after-the-removal-{k}"),
            )
        });
    }
    drop(installer);
    drop(console);
    lab.ok(&["down"]);
}
