//! One box as a mail system, against the real daemons: a lab node installed from the example
//! answers file, used from the client address with real clients (swaks; Python's imaplib and
//! poplib in tests/clients/mailclient.py).

use std::process::Output;

use pigeonair_tests::clients::{
    NODE1 as NODE, Submission, mailclient, replied, submit, swaks, text,
};
use pigeonair_tests::support::{LabCli, lab_bin, lab_host_ready, stdout};

const PASSWORD: &str = "change-me-now-please";
const POSTMASTER: &str = "postmaster@example.com";

/// The example answers file (the lab's default; its addresses are node1's).
fn example_answers() -> String {
    format!(
        "{}/../appliance/core/examples/single-box.toml",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// Runs `PREFIX pigeonair-install ARGS --answers -` in node1 with `answers` on its standard
/// input (PREFIX: e.g. `timeout -s KILL 1`).
fn install(lab: &LabCli, prefix: &str, args: &str, answers: &str) -> Output {
    std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{} --name {} exec node1 -- {prefix} pigeonair-install {args} --answers - < {answers}",
            lab.bin().display(),
            lab.name()
        ))
        .output()
        .unwrap()
}

/// What an install may change: files under /etc, /var/lib and /var/vmail (size, time, mode,
/// owner) and whether the daemons run.
fn node_snapshot(lab: &LabCli) -> String {
    stdout(&lab.exec(
        "node1",
        &[
            "sh",
            "-c",
            "find /etc /var/lib /var/vmail -xdev -printf '%p %s %T@ %m %u\\n' 2>/dev/null | sort; \
             systemctl is-active slapd postfix dovecot",
        ],
    ))
}

/// A message with CRLF line ends, as it goes over the wire.
fn message(token: &str) -> String {
    format!(
        "From: sender@client.example\r\nTo: {POSTMASTER}\r\nSubject: pigeonair test {token}\r\n\
         Message-ID: <{token}@client.example>\r\n\r\nHello from the client.\r\n\
         A line with trailing spaces   \r\n.a line starting with a dot\r\nbyte check {token}\r\n"
    )
}

#[test]
fn one_box_receives_stores_and_serves_mail() {
    if !lab_host_ready("one_box_mail") {
        return;
    }
    let t0 = std::time::Instant::now();
    // Where the time goes, for a slow CI run (shown with --nocapture or on failure).
    let step = |what: &str| eprintln!("[{:6.1} s] {what}", t0.elapsed().as_secs_f64());
    let lab = LabCli::new(lab_bin(), "t-mail");
    lab.run(&["down"]);
    let up = lab.ok(&["up", "--nodes", "1"]);
    assert!(up.contains("changed"), "{up}");

    step("smtp 25");
    // SMTP on 25 from the client to postmaster; the message is delivered.
    let token = format!("t{}", std::process::id());
    let msg = message(&token);
    let msg_file = std::env::temp_dir().join(format!("pigeonair-msg-{token}.eml"));
    // swaks ends DATA with CRLF . CRLF itself: the file leaves out the last line's CRLF.
    std::fs::write(&msg_file, msg.strip_suffix("\r\n").unwrap()).unwrap();
    let sent = swaks(
        &lab,
        &[
            "--to",
            POSTMASTER,
            "--from",
            "sender@client.example",
            "--data",
            msg_file.to_str().unwrap(),
        ],
    );
    assert!(sent.status.success(), "{}", text(&sent));
    std::fs::remove_file(&msg_file).unwrap();

    step("read back");
    // Read back byte for byte over IMAP and POP3, over TLS and STARTTLS. Postfix and LMTP add
    // trace headers in front; everything the client sent follows unchanged.
    let mut fetched = Vec::new();
    for (proto, port, mode) in [
        ("imap", "993", "tls"),
        ("imap", "143", "starttls"),
        ("pop3", "995", "tls"),
        ("pop3", "110", "starttls"),
    ] {
        let mut got = None;
        for _ in 0..50 {
            let out = mailclient(&lab, &[proto, NODE, port, mode, POSTMASTER, PASSWORD]);
            if out.status.success() && stdout(&out).contains(&token) {
                got = Some(out.stdout);
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let got = got.unwrap_or_else(|| panic!("{proto}/{port}: message not there"));
        assert!(
            got.ends_with(msg.as_bytes()),
            "{proto}/{port} ({mode}): fetched message does not end with what was sent:\n{:?}\nsent:\n{:?}",
            String::from_utf8_lossy(&got[got.len().saturating_sub(msg.len() + 20)..]),
            msg
        );
        fetched.push(got);
    }

    step("cleartext refused");
    // A clear-text password without TLS is refused on 143 and 110.
    for proto_port in [("imap", "143"), ("pop3", "110")] {
        let out = mailclient(
            &lab,
            &[
                proto_port.0,
                NODE,
                proto_port.1,
                "plain",
                POSTMASTER,
                PASSWORD,
            ],
        );
        assert!(
            !out.status.success(),
            "{proto_port:?}: clear-text login accepted"
        );
    }
    step("unknown rcpt");
    // RCPT to an unknown user of a hosted domain: 5xx at RCPT time.
    let out = swaks(
        &lab,
        &[
            "--to",
            "nobody@example.com",
            "--from",
            "a@client.example",
            "--quit-after",
            "RCPT",
        ],
    );
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(replied(&t, "550"), "no 550 at RCPT:\n{t}");

    // No open relay: a foreign recipient from an unauthenticated client is refused.
    let out = swaks(
        &lab,
        &[
            "--to",
            "someone@foreign.example",
            "--from",
            "a@client.example",
            "--quit-after",
            "RCPT",
        ],
    );
    let t = text(&out);
    assert!(!out.status.success(), "open relay:\n{t}");
    assert!(replied(&t, "554") || replied(&t, "454"), "{t}");

    step("submission");
    // Submission on 587: AUTH only after STARTTLS.
    let out = submit(
        &lab,
        Submission::Plain587,
        POSTMASTER,
        "someone@foreign.example",
        POSTMASTER,
        PASSWORD,
        None,
    );
    assert!(
        !out.status.success(),
        "AUTH without TLS accepted:\n{}",
        text(&out)
    );
    // With AUTH after STARTTLS on 587, and on 465 (implicit TLS, RFC 8314) under the same rules,
    // it relays as that user, but only with its own address as sender.
    for how in [Submission::StartTls587, Submission::Implicit465] {
        let out = submit(
            &lab,
            how,
            POSTMASTER,
            "someone@foreign.example",
            POSTMASTER,
            PASSWORD,
            Some("RCPT"),
        );
        let t = text(&out);
        assert!(
            out.status.success(),
            "{how:?}: authenticated relay refused:\n{t}"
        );
        if how == Submission::Implicit465 {
            assert!(t.contains("TLS started"), "465: no TLS:\n{t}");
        }
        let out = submit(
            &lab,
            how,
            "abuse@example.com",
            "someone@foreign.example",
            POSTMASTER,
            PASSWORD,
            Some("RCPT"),
        );
        let t = text(&out);
        assert!(
            !out.status.success(),
            "{how:?}: sent as another address:\n{t}"
        );
        assert!(replied(&t, "553"), "{t}");
    }
    // … and nothing without AUTH, not even to a local mailbox.
    for to in ["someone@foreign.example", POSTMASTER] {
        let out = submit(
            &lab,
            Submission::Implicit465,
            "someone@client.example",
            to,
            "",
            "",
            Some("RCPT"),
        );
        let t = text(&out);
        assert!(
            !out.status.success(),
            "465 without AUTH accepted {to}:\n{t}"
        );
        assert!(replied(&t, "554"), "{t}");
    }
    step("ownership");
    // The mail files belong to postmaster's uid from LDAP, not root.
    let owners = stdout(&lab.exec(
        "node1",
        &[
            "sh",
            "-c",
            "find /var/vmail -mindepth 1 -printf '%u:%g\\n' | sort -u",
        ],
    ));
    assert_eq!(
        owners.trim(),
        "10000:10000",
        "owners of /var/vmail: {owners}"
    );
    let found = stdout(&lab.exec("node1", &["grep", "-rl", &token, "/var/vmail"]));
    assert!(found.contains("/Maildir/"), "{found}");

    step("validators");
    // The validators pass on what was installed.
    for check in [
        vec!["postfix", "check"],
        vec!["sh", "-c", "doveconf -n >/dev/null"],
        vec!["slaptest", "-u", "-F", "/etc/ldap/slapd.d"],
    ] {
        let out = lab.exec("node1", &check);
        assert!(out.status.success(), "{check:?}: {}", text(&out));
        let t = text(&out);
        assert!(!t.contains("warning"), "{check:?} warns: {t}");
    }

    step("firewall");
    // LMTP and LDAP answer only on the private network: a public-side host that routes the
    // private network through the node (Linux would accept it: weak host model) is dropped.
    let reach = |port: &str| {
        lab.client(&["nc", "-z", "-w", "2", "10.42.0.11", port])
            .status
            .success()
    };
    assert!(
        lab.client(&["ip", "route", "add", "10.42.0.0/24", "via", NODE])
            .status
            .success()
    );
    let stop = lab.exec("node1", &["systemctl", "stop", "pigeonair-firewall"]);
    assert!(stop.status.success(), "{}", text(&stop));
    assert!(
        reach("24"),
        "control: without the table, LMTP is reachable from the public side"
    );
    let start = lab.exec("node1", &["systemctl", "start", "pigeonair-firewall"]);
    assert!(start.status.success(), "{}", text(&start));
    for port in ["24", "389"] {
        assert!(!reach(port), "port {port} reachable from the public side");
    }
    assert!(
        lab.client(&["ip", "route", "del", "10.42.0.0/24"])
            .status
            .success()
    );
    let local = lab.exec("node1", &["nc", "-z", "-w", "2", "10.42.0.11", "24"]);
    assert!(
        local.status.success(),
        "LMTP unreachable from the node itself"
    );

    step("password on disk");
    // No clear-text administrator password anywhere on the node's disk (its writable layer
    // holds everything the install wrote, the journal included).
    let upper = "/var/lib/pigeonair-lab/t-mail/node1/upper";
    let out = std::process::Command::new("grep")
        .args(["-r", "-a", "-l", "-F", PASSWORD, upper])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "password found in: {}",
        stdout(&out)
    );

    step("wrong passwords");
    // Wrong passwords last: Dovecot delays every later login from the client after one.
    // A wrong password is refused on submission.
    let out = submit(
        &lab,
        Submission::StartTls587,
        POSTMASTER,
        POSTMASTER,
        POSTMASTER,
        "wrong-password-1",
        Some("AUTH"),
    );
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(replied(&t, "535"), "{t}");

    // A wrong password is refused over IMAP and POP3.
    for (proto, port) in [("imap", "993"), ("pop3", "995")] {
        let out = mailclient(
            &lab,
            &[proto, NODE, port, "tls", POSTMASTER, "wrong-password-1"],
        );
        assert_eq!(out.status.code(), Some(3), "{proto}: {}", text(&out));
    }

    step("re-apply");
    // Re-apply: nothing changes and no daemon restarts.
    let pids = |lab: &LabCli| {
        stdout(&lab.exec(
            "node1",
            &[
                "systemctl",
                "show",
                "-p",
                "MainPID",
                "--value",
                "slapd",
                "postfix",
                "dovecot",
            ],
        ))
    };
    let before = pids(&lab);
    let out = install(&lab, "", "", &example_answers());
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.lines().any(|l| l == "0 changed"), "{t}");
    assert_eq!(pids(&lab), before, "a daemon restarted");
    drop(fetched);
    lab.ok(&["down"]);
}

#[test]
fn bad_answers_are_refused_and_leave_the_node_untouched() {
    if !lab_host_ready("bad_answers") {
        return;
    }
    let lab = LabCli::new(lab_bin(), "t-badans");
    lab.run(&["down"]);
    lab.ok(&["up", "--bare", "--nodes", "1"]);
    let before = node_snapshot(&lab);
    let dir = format!(
        "{}/../appliance/core/tests/resources/parse_answer_fail",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 10, "{} cases", cases.len());
    for case in cases {
        let expected = std::fs::read_to_string(case.with_extension("txt")).unwrap();
        let out = install(&lab, "", "", &case.display().to_string());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {err}", case.display());
        assert!(
            err.contains("nothing was changed"),
            "{}: {err}",
            case.display()
        );
        // Every problem of the case is reported, each naming its field.
        for line in expected.lines().filter(|l| !l.trim().is_empty()) {
            assert!(
                err.contains(line.trim()),
                "{}: {line:?} not in:\n{err}",
                case.display()
            );
        }
    }
    assert_eq!(
        node_snapshot(&lab),
        before,
        "a bad answers file changed the node"
    );
    lab.ok(&["down"]);
}

#[test]
fn an_install_killed_at_any_point_converges_when_run_again() {
    if !lab_host_ready("killed_install") {
        return;
    }
    let lab = LabCli::new(lab_bin(), "t-kill");
    lab.run(&["down"]);
    lab.ok(&["up", "--bare", "--nodes", "1"]);
    let answers = example_answers();
    let run = |limit: Option<&str>| {
        let prefix = limit
            .map(|l| format!("timeout -s KILL {l}"))
            .unwrap_or_default();
        install(&lab, &prefix, "", &answers)
    };
    // SIGKILL at increasing points of a first install, each run starting where the last died.
    let mut killed = 0;
    for limit in ["0.05", "0.2", "0.5", "1", "2", "3", "4", "6"] {
        let out = run(Some(limit));
        if out.status.code() == Some(137) {
            killed += 1;
        }
    }
    assert!(killed >= 3, "only {killed} runs were killed mid-way");
    // What the daemons said, for a failure's message.
    let units = || {
        stdout(&lab.exec(
            "node1",
            &[
                "sh",
                "-c",
                "systemctl status --no-pager -l postfix@- postfix dovecot slapd 2>&1 | tail -n 40; journalctl -q --no-pager -n 40 -u postfix@- -t postfix/master -t postfix/postfix-script",
            ],
        ))
    };
    let out = run(None);
    assert!(out.status.success(), "{}\n{}", text(&out), units());
    let out = run(None);
    let t = text(&out);
    assert!(out.status.success(), "{t}\n{}", units());
    assert!(t.lines().any(|l| l == "0 changed"), "not converged:\n{t}");
    // The converged node serves mail.
    let sent = swaks(
        &lab,
        &[
            "--to",
            POSTMASTER,
            "--from",
            "sender@client.example",
            "--body",
            "after kills",
        ],
    );
    assert!(sent.status.success(), "{}", text(&sent));
    let mut read = false;
    for _ in 0..50 {
        let out = mailclient(&lab, &["imap", NODE, "993", "tls", POSTMASTER, PASSWORD]);
        if out.status.success() && stdout(&out).contains("after kills") {
            read = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(read, "mail not readable after the killed installs");
    let state = stdout(&lab.exec("node1", &["systemctl", "is-system-running"]));
    assert_eq!(state.trim(), "running");
    lab.ok(&["down"]);
}

#[test]
fn dry_run_prints_the_diff_and_changes_nothing() {
    if !lab_host_ready("dry_run") {
        return;
    }
    let lab = LabCli::new(lab_bin(), "t-dry");
    lab.run(&["down"]);
    lab.ok(&["up", "--bare", "--nodes", "1"]);
    let answers = example_answers();
    let run = |args: &str| install(&lab, "", args, &answers);
    let before = node_snapshot(&lab);
    let out = run("--dry-run");
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    // A unified diff of a public file, and secrets never shown.
    assert!(
        t.contains("create /etc/postfix/main.cf (644 root:root)"),
        "{t}"
    );
    assert!(t.contains("+myhostname = mx1.example.com"), "{t}");
    assert!(
        t.contains("create /etc/postfix/ldap/domains.cf (640 root:postfix)"),
        "{t}"
    );
    assert!(
        t.contains("(contents not shown: the file holds secrets)"),
        "{t}"
    );
    assert!(!t.contains("bind_pw ="), "a secret was printed:\n{t}");
    assert!(
        t.lines()
            .any(|l| l.ends_with(" would change") && l != "0 would change"),
        "{t}"
    );
    assert_eq!(node_snapshot(&lab), before, "--dry-run changed the node");

    // After a real install, a dry run finds nothing to do.
    let out = run("");
    assert!(out.status.success(), "{}", text(&out));
    let out = run("--dry-run");
    let t = text(&out);
    assert!(t.lines().any(|l| l == "0 would change"), "{t}");
    // The install logged its steps to the node's journal.
    let journal = stdout(&lab.exec(
        "node1",
        &[
            "journalctl",
            "-t",
            "pigeonair-install",
            "-o",
            "cat",
            "--no-pager",
        ],
    ));
    assert!(journal.contains("[4/6] directory:"), "journal: {journal}");
    assert!(
        journal.contains("0 changed") || journal.contains("changed"),
        "{journal}"
    );
    lab.ok(&["down"]);
}

/// A fresh box has no Postfix queue directories: the first `postfix check` makes them, mkdir
/// then chown, so an install killed between the two leaves a root-owned `public/`. Postfix only
/// warns about it and then cannot bind its pickup socket there (seen in the killed-install
/// test above). The next install must repair it.
#[test]
fn a_half_made_postfix_queue_is_repaired_by_the_next_install() {
    if !lab_host_ready("half_made_queue") {
        return;
    }
    let lab = LabCli::new(lab_bin(), "t-queue");
    lab.run(&["down"]);
    lab.ok(&["up", "--bare", "--nodes", "1"]);
    let out = lab.exec(
        "node1",
        &[
            "sh",
            "-c",
            "mkdir -p /var/spool/postfix/public && chown root:root /var/spool/postfix/public",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = install(&lab, "", "", &example_answers());
    assert!(out.status.success(), "{}", text(&out));
    let owner = stdout(&lab.exec(
        "node1",
        &["stat", "-c", "%U:%G", "/var/spool/postfix/public"],
    ));
    assert_eq!(owner.trim(), "postfix:postdrop");
    let sent = swaks(
        &lab,
        &[
            "--to",
            "postmaster@example.com",
            "--from",
            "a@client.example",
        ],
    );
    assert!(sent.status.success(), "{}", text(&sent));
    lab.ok(&["down"]);
}
