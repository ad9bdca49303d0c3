//! The interactive installer end to end: tmux runs `pigeonair-install` inside a fresh lab node
//! (as staff see it on the console), keystrokes fill it in, the install runs, and the node then
//! receives, stores and serves mail.

use std::time::Duration;

use pigeonair_tests::clients::{NODE1, arrives, mailclient, replied, swaks, text};
use pigeonair_tests::support::{LabCli, lab_bin, lab_host_ready};
use pigeonair_tests::tmux::{self, Tmux};

#[test]
fn staff_install_a_box_through_the_screens() {
    if !lab_host_ready("tui") {
        return;
    }
    if !tmux::available("tui") {
        return;
    }
    let lab = LabCli::new(lab_bin(), "t-tui");
    lab.run(&["down"]);
    lab.ok(&["up", "--no-install", "--nodes", "1"]);
    let cmd = format!(
        "{} --name t-tui exec node1 -- pigeonair-install; sleep 30",
        lab.bin().display()
    );
    let t = Tmux::start("pigeonair-t-tui", 80, 24, &cmd);
    t.wait_for("Welcome to PigeonAir", Duration::from_secs(20));
    t.keys(&["Enter"]);
    // A new cluster (the choice it starts on).
    t.wait_for("Create a new cluster", Duration::from_secs(5));
    t.keys(&["Enter"]);
    // The network screen lists the node's interfaces.
    let s = t.wait_for("Public interface", Duration::from_secs(5));
    assert!(s.contains("eth0") && s.contains("203.0.113.11/24"), "{s}");
    for (i, v) in ["eth0", "203.0.113.11/24", "", "", "eth1", "10.42.0.11/24"]
        .iter()
        .enumerate()
    {
        if !v.is_empty() {
            t.typed(v);
        }
        if i < 5 {
            t.keys(&["Tab"]);
        }
    }
    t.keys(&["Enter"]);
    t.wait_for("Host name (FQDN)", Duration::from_secs(5));
    t.typed("mx1.example.com");
    t.keys(&["Tab"]);
    t.typed("example.com");
    t.keys(&["Tab"]);
    t.typed("pigeon");
    t.keys(&["Enter"]);
    t.wait_for("Password again", Duration::from_secs(5));
    t.typed("typed-at-the-console-1");
    t.keys(&["Tab"]);
    t.typed("typed-at-the-console-1");
    // Root's SSH key left empty: Enter on it (the screen's last field) goes on.
    t.keys(&["Tab", "Enter"]);
    let s = t.wait_for("Answers file", Duration::from_secs(5));
    assert!(
        s.contains("mx1.example.com") && s.contains("eth1 10.42.0.11/24"),
        "{s}"
    );
    t.keys(&["Enter"]);
    let s = t.wait_for(
        "This box is a PigeonAir mail node",
        Duration::from_secs(120),
    );
    assert!(s.contains("6/6 steps"), "{s}");
    t.keys(&["Enter"]);

    // The box is a mail system: SMTP in, IMAP out with the password typed, no open relay.
    let sent = swaks(
        &lab,
        &[
            "--to",
            "postmaster@example.com",
            "--from",
            "x@client.example",
            "--body",
            "via the TUI",
        ],
    );
    assert!(sent.status.success(), "{}", text(&sent));
    assert!(arrives(
        &lab,
        "postmaster@example.com",
        "typed-at-the-console-1",
        "via the TUI"
    ));
    let pop3 = mailclient(
        &lab,
        &[
            "pop3",
            NODE1,
            "995",
            "tls",
            "postmaster@example.com",
            "typed-at-the-console-1",
        ],
    );
    assert!(
        String::from_utf8_lossy(&pop3.stdout).contains("via the TUI"),
        "{}",
        text(&pop3)
    );
    let relay = swaks(
        &lab,
        &[
            "--to",
            "x@foreign.example",
            "--from",
            "x@client.example",
            "--quit-after",
            "RCPT",
        ],
    );
    assert!(replied(&text(&relay), "554"), "{}", text(&relay));
    // The saved answers file holds the hash, not the password, and installs the same node.
    let saved = lab.exec("node1", &["cat", "/root/pigeonair-answers.toml"]);
    let saved = String::from_utf8_lossy(&saved.stdout).into_owned();
    assert!(saved.contains("password_hash = \"$6$"), "{saved}");
    assert!(!saved.contains("typed-at-the-console-1"), "{saved}");
    let again = lab.exec(
        "node1",
        &[
            "pigeonair-install",
            "--answers",
            "/root/pigeonair-answers.toml",
        ],
    );
    assert!(
        text(&again).lines().any(|l| l == "0 changed"),
        "{}",
        text(&again)
    );
    lab.ok(&["down"]);
}
