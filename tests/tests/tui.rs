//! The interactive installer end to end: tmux runs `pigeonair-install` inside a fresh lab node
//! (as staff see it on the console), keystrokes fill it in, the install runs, and the node then
//! receives, stores and serves mail.

use std::process::Command;
use std::time::{Duration, Instant};

use pigeonair_tests::clients::{NODE1, arrives, mailclient, replied, swaks, text};
use pigeonair_tests::support::{LabCli, lab_bin, lab_host_ready};

const SESSION: &str = "pigeonair-t-tui";

fn tmux(args: &[&str]) -> std::process::Output {
    Command::new("tmux").args(args).output().unwrap()
}

fn screen() -> String {
    String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-t", SESSION]).stdout).into_owned()
}

/// Waits until the screen shows `needle`.
fn wait_for(needle: &str, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    loop {
        let s = screen();
        if s.contains(needle) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "{needle:?} never appeared; the screen:\n{s}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn keys(k: &[&str]) {
    let mut args = vec!["send-keys", "-t", SESSION];
    args.extend(k);
    assert!(tmux(&args).status.success());
    std::thread::sleep(Duration::from_millis(150));
}

/// Types `text` literally.
fn typed(text: &str) {
    assert!(
        tmux(&["send-keys", "-t", SESSION, "-l", text])
            .status
            .success()
    );
}

struct Session;
impl Drop for Session {
    fn drop(&mut self) {
        let _ = tmux(&["kill-session", "-t", SESSION]);
    }
}

#[test]
fn staff_install_a_box_through_the_screens() {
    if !lab_host_ready("tui") {
        return;
    }
    if Command::new("tmux").arg("-V").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "tmux is missing: run scripts/host-setup"
        );
        eprintln!("SKIPPED tui: tmux is missing");
        return;
    }
    let lab = LabCli::new(lab_bin(), "t-tui");
    lab.run(&["down"]);
    lab.ok(&["up", "--no-install", "--nodes", "1"]);
    let _ = tmux(&["kill-session", "-t", SESSION]);
    let _session = Session;
    let cmd = format!(
        "{} --name t-tui exec node1 -- pigeonair-install; sleep 30",
        lab.bin().display()
    );
    assert!(
        tmux(&[
            "new-session",
            "-d",
            "-s",
            SESSION,
            "-x",
            "80",
            "-y",
            "24",
            &cmd
        ])
        .status
        .success()
    );

    wait_for("Welcome to PigeonAir", Duration::from_secs(20));
    keys(&["Enter"]);
    // The network screen lists the node's interfaces.
    let s = wait_for("Public interface", Duration::from_secs(5));
    assert!(s.contains("eth0") && s.contains("203.0.113.11/24"), "{s}");
    for (i, v) in ["eth0", "203.0.113.11/24", "", "", "eth1", "10.42.0.11/24"]
        .iter()
        .enumerate()
    {
        if !v.is_empty() {
            typed(v);
        }
        if i < 5 {
            keys(&["Tab"]);
        }
    }
    keys(&["Enter"]);
    wait_for("Host name (FQDN)", Duration::from_secs(5));
    typed("mx1.example.com");
    keys(&["Tab"]);
    typed("example.com");
    keys(&["Tab"]);
    typed("pigeon");
    keys(&["Enter"]);
    wait_for("Password again", Duration::from_secs(5));
    typed("typed-at-the-console-1");
    keys(&["Tab"]);
    typed("typed-at-the-console-1");
    keys(&["Enter"]);
    let s = wait_for("Answers file", Duration::from_secs(5));
    assert!(
        s.contains("mx1.example.com") && s.contains("eth1 10.42.0.11/24"),
        "{s}"
    );
    keys(&["Enter"]);
    let s = wait_for(
        "This box is a PigeonAir mail node",
        Duration::from_secs(120),
    );
    assert!(s.contains("5/5 steps"), "{s}");
    keys(&["Enter"]);

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
