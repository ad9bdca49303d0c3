//! `pigeonctl` against the real directory and daemons of an installed lab node: every
//! operation is an LDAP write that takes effect on mail at once, with no restart and no file
//! changed on the node but the directory's data.

use std::process::Output;

use pigeonair_tests::clients::{
    NODE1 as NODE, Submission, arrives, imap_newest, mailclient, submit, swaks, text,
};
use pigeonair_tests::support::{LabCli, lab_bin, lab_host_ready, stdout};

/// `pigeonctl ARGS` as root in node1, with `stdin` on its standard input.
fn ctl(lab: &LabCli, args: &[&str], stdin: &str) -> Output {
    let mut cmd = std::process::Command::new(lab.bin());
    cmd.args(["--name", lab.name(), "exec", "node1", "--", "pigeonctl"])
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn ctl_ok(lab: &LabCli, args: &[&str], stdin: &str) -> String {
    let out = ctl(lab, args, stdin);
    assert!(out.status.success(), "pigeonctl {args:?}: {}", text(&out));
    stdout(&out)
}

fn smtp(lab: &LabCli, to: &str, body: &str) -> Output {
    swaks(
        lab,
        &["--to", to, "--from", "x@client.example", "--body", body],
    )
}

fn imap(lab: &LabCli, user: &str, password: &str) -> Output {
    imap_newest(lab, user, password)
}

fn pop3(lab: &LabCli, user: &str, password: &str) -> Output {
    mailclient(lab, &["pop3", NODE, "995", "tls", user, password])
}

fn node_files(lab: &LabCli) -> String {
    stdout(&lab.exec(
        "node1",
        &[
            "sh",
            "-c",
            "find /etc /var/lib /var/vmail /var/spool/postfix/etc -xdev -path /var/lib/ldap -prune -o \
             -printf '%p %s %T@\\n' 2>/dev/null | sort",
        ],
    ))
}

fn daemon_pids(lab: &LabCli) -> String {
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
}

#[test]
fn administration_is_ldap_writes_that_take_effect_at_once() {
    if !lab_host_ready("admin") {
        return;
    }
    let lab = LabCli::new(lab_bin(), "t-admin");
    lab.run(&["down"]);
    lab.ok(&["up", "--nodes", "1"]);
    let pids = daemon_pids(&lab);

    // A new user can at once receive mail and log in; nothing on the node changed but the
    // directory's data, and no daemon restarted.
    let files = node_files(&lab);
    let added = ctl_ok(
        &lab,
        &[
            "user",
            "add",
            "alice@example.com",
            "--name",
            "Alice",
            "--password-stdin",
            "--json",
        ],
        "alice-secret-1\n",
    );
    let user: serde_json::Value = serde_json::from_str(&added).unwrap();
    assert_eq!(user["user"]["address"], "alice@example.com");
    assert_eq!(user["user"]["uid"], 10001);
    assert_eq!(
        node_files(&lab),
        files,
        "pigeonctl changed files on the node"
    );
    let sent = smtp(&lab, "alice@example.com", "first for alice");
    assert!(sent.status.success(), "{}", text(&sent));
    assert!(arrives(
        &lab,
        "alice@example.com",
        "alice-secret-1",
        "first for alice"
    ));
    let out = pop3(&lab, "alice@example.com", "alice-secret-1");
    assert!(stdout(&out).contains("first for alice"), "{}", text(&out));
    let owner = stdout(&lab.exec(
        "node1",
        &[
            "sh",
            "-c",
            "find /var/vmail -type f \\( -path '*/Maildir/new/*' -o -path '*/Maildir/cur/*' \\) -printf '%u\\n' | sort -u",
        ],
    ));
    assert!(
        owner.lines().any(|l| l == "10001"),
        "alice's mail not owned by her uid: {owner}"
    );

    // Disabled user: login refused, mail refused at RCPT; enabled again: both work.
    ctl_ok(&lab, &["user", "disable", "alice@example.com"], "");
    assert_eq!(
        imap(&lab, "alice@example.com", "alice-secret-1")
            .status
            .code(),
        Some(3)
    );
    let out = smtp(&lab, "alice@example.com", "while disabled");
    assert!(
        !out.status.success() && text(&out).contains("550"),
        "{}",
        text(&out)
    );
    ctl_ok(&lab, &["user", "enable", "alice@example.com"], "");
    assert!(
        smtp(&lab, "alice@example.com", "after enable")
            .status
            .success()
    );
    assert!(arrives(
        &lab,
        "alice@example.com",
        "alice-secret-1",
        "after enable"
    ));

    // Disabled domain: the same for the whole domain.
    ctl_ok(&lab, &["domain", "disable", "example.com"], "");
    assert_eq!(
        imap(&lab, "alice@example.com", "alice-secret-1")
            .status
            .code(),
        Some(3)
    );
    assert!(
        !smtp(&lab, "alice@example.com", "domain disabled")
            .status
            .success()
    );
    ctl_ok(&lab, &["domain", "enable", "example.com"], "");
    assert!(
        smtp(&lab, "alice@example.com", "domain enabled")
            .status
            .success()
    );
    assert!(arrives(
        &lab,
        "alice@example.com",
        "alice-secret-1",
        "domain enabled"
    ));

    // Aliases deliver where they say; a two-alias loop is refused and changes nothing.
    ctl_ok(
        &lab,
        &[
            "alias",
            "add",
            "team@example.com",
            "alice@example.com",
            "postmaster@example.com",
        ],
        "",
    );
    assert!(
        smtp(&lab, "team@example.com", "to the team")
            .status
            .success()
    );
    assert!(arrives(
        &lab,
        "alice@example.com",
        "alice-secret-1",
        "to the team"
    ));
    assert!(arrives(
        &lab,
        "postmaster@example.com",
        "change-me-now-please",
        "to the team"
    ));
    ctl_ok(
        &lab,
        &["alias", "add", "a1@example.com", "a2@example.com"],
        "",
    );
    let before = ctl_ok(&lab, &["alias", "list", "--json"], "");
    let out = ctl(
        &lab,
        &["alias", "add", "a2@example.com", "a1@example.com"],
        "",
    );
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    assert!(
        text(&out).contains("alias loop: a2@example.com → a1@example.com → a2@example.com"),
        "{}",
        text(&out)
    );
    assert_eq!(ctl_ok(&lab, &["alias", "list", "--json"], ""), before);

    // Quota: a message that would go over it is refused at delivery with 552 5.2.2 and the
    // sender is told why (a bounce); the user can still read and delete; raising it lets mail in.
    ctl_ok(&lab, &["user", "quota", "alice@example.com", "1K"], "");
    let out = smtp(&lab, "alice@example.com", "over the quota");
    assert!(out.status.success(), "{}", text(&out));
    let mut bounced = String::new();
    for _ in 0..100 {
        bounced = stdout(&lab.exec(
            "node1",
            &[
                "sh",
                "-c",
                "journalctl -q --no-pager -o cat -t postfix/lmtp | grep status=bounced || true",
            ],
        ));
        if !bounced.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(
        bounced.contains("552 5.2.2"),
        "no 552 5.2.2 bounce: {bounced:?}"
    );
    assert!(bounced.contains("quota exceeded"), "{bounced}");
    let out = imap(&lab, "alice@example.com", "alice-secret-1");
    assert!(
        out.status.success(),
        "over quota, alice cannot read: {}",
        text(&out)
    );
    let out = mailclient(
        &lab,
        &[
            "imap-delete-all",
            NODE,
            "993",
            "tls",
            "alice@example.com",
            "alice-secret-1",
        ],
    );
    assert!(
        out.status.success(),
        "over quota, alice cannot delete: {}",
        text(&out)
    );
    ctl_ok(&lab, &["user", "quota", "alice@example.com", "1G"], "");
    assert!(
        smtp(&lab, "alice@example.com", "quota raised")
            .status
            .success()
    );
    assert!(arrives(
        &lab,
        "alice@example.com",
        "alice-secret-1",
        "quota raised"
    ));

    // Rename: old mail is in the mailbox under the new address; the old address is an alias.
    ctl_ok(
        &lab,
        &[
            "user",
            "rename",
            "alice@example.com",
            "alice.smith@example.com",
        ],
        "",
    );
    assert!(arrives(
        &lab,
        "alice.smith@example.com",
        "alice-secret-1",
        "quota raised"
    ));
    assert!(
        smtp(&lab, "alice@example.com", "to the old address")
            .status
            .success()
    );
    assert!(arrives(
        &lab,
        "alice.smith@example.com",
        "alice-secret-1",
        "to the old address"
    ));
    assert_eq!(
        imap(&lab, "alice@example.com", "alice-secret-1")
            .status
            .code(),
        Some(3)
    );
    let dirs = stdout(&lab.exec("node1", &["sh", "-c", "ls /var/vmail | wc -l"]));
    assert_eq!(dirs.trim(), "2", "rename moved or made a mailbox directory");

    // Forwarding: with a copy, both get the mail; without, only the target; a loop is refused.
    ctl_ok(
        &lab,
        &["user", "add", "bob@example.com", "--password-stdin"],
        "bob-secret-12\n",
    );
    ctl_ok(
        &lab,
        &[
            "user",
            "forward",
            "alice.smith@example.com",
            "--to",
            "bob@example.com",
            "--keep-copy",
        ],
        "",
    );
    assert!(
        smtp(&lab, "alice.smith@example.com", "forwarded with a copy")
            .status
            .success()
    );
    assert!(arrives(
        &lab,
        "bob@example.com",
        "bob-secret-12",
        "forwarded with a copy"
    ));
    assert!(arrives(
        &lab,
        "alice.smith@example.com",
        "alice-secret-1",
        "forwarded with a copy"
    ));
    ctl_ok(
        &lab,
        &[
            "user",
            "forward",
            "alice.smith@example.com",
            "--to",
            "bob@example.com",
        ],
        "",
    );
    assert!(
        smtp(&lab, "alice.smith@example.com", "forwarded alone")
            .status
            .success()
    );
    assert!(arrives(
        &lab,
        "bob@example.com",
        "bob-secret-12",
        "forwarded alone"
    ));
    let kept = stdout(&lab.exec("node1", &["grep", "-rl", "forwarded alone", "/var/vmail"]));
    assert_eq!(kept.lines().count(), 1, "not only bob got it: {kept}");
    let out = ctl(
        &lab,
        &[
            "user",
            "forward",
            "bob@example.com",
            "--to",
            "alice.smith@example.com",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    assert!(text(&out).contains("forwarding loop"), "{}", text(&out));
    ctl_ok(
        &lab,
        &["user", "forward", "alice.smith@example.com", "--off"],
        "",
    );
    assert!(
        smtp(&lab, "alice.smith@example.com", "no longer forwarded")
            .status
            .success()
    );
    assert!(arrives(
        &lab,
        "alice.smith@example.com",
        "alice-secret-1",
        "no longer forwarded"
    ));

    // An alias domain: its addresses deliver to the same users of its target; unknown ones
    // are refused at RCPT (no catch-all, no backscatter); the target cannot be removed under it.
    ctl_ok(
        &lab,
        &["domain", "add", "example.net", "--alias-of", "example.com"],
        "",
    );
    assert!(
        smtp(&lab, "bob@example.net", "via the alias domain")
            .status
            .success()
    );
    assert!(arrives(
        &lab,
        "bob@example.com",
        "bob-secret-12",
        "via the alias domain"
    ));
    let out = smtp(&lab, "nobody@example.net", "unknown in the alias domain");
    assert!(
        !out.status.success() && text(&out).contains("550"),
        "{}",
        text(&out)
    );
    let out = ctl(
        &lab,
        &["domain", "remove", "example.com", "--with-users"],
        "",
    );
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    assert!(
        text(&out).contains("target of alias domain(s) example.net"),
        "{}",
        text(&out)
    );

    // The cluster's last node is never removed, nor drained while it holds mailboxes.
    let out = ctl(&lab, &["node", "remove", "mx1.example.com"], "");
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    assert!(
        text(&out).contains("the cluster's last node"),
        "{}",
        text(&out)
    );
    let out = ctl(&lab, &["node", "drain", "mx1.example.com"], "");
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    assert!(
        text(&out).contains("the only active node"),
        "{}",
        text(&out)
    );

    // Bad input: a clear error naming the value, a meaningful exit code, nothing changed.
    let users_before = ctl_ok(&lab, &["user", "list", "--json"], "");
    let long = format!("{}@example.com", "x".repeat(65));
    let long_name = "n".repeat(200);
    let cases: Vec<(Vec<&str>, &str, i32)> = vec![
        (
            vec!["user", "add", "not-an-address", "--random-password"],
            "not-an-address",
            2,
        ),
        (
            vec!["user", "add", "carol@unknown.example", "--random-password"],
            "unknown.example is not hosted here",
            3,
        ),
        (
            vec![
                "user",
                "add",
                "alice.smith@example.com",
                "--random-password",
            ],
            "exists already",
            4,
        ),
        (
            vec![
                "user",
                "add",
                "carol@example.com",
                "--quota",
                "-1",
                "--random-password",
            ],
            "\"-1\"",
            2,
        ),
        (
            vec![
                "user",
                "add",
                "carol@example.com",
                "--quota",
                "2Q",
                "--random-password",
            ],
            "\"2Q\"",
            2,
        ),
        (
            vec!["user", "add", &long, "--random-password"],
            "1 to 64",
            2,
        ),
        (
            vec!["user", "add", "*@example.com", "--random-password"],
            "\"*@example.com\"",
            2,
        ),
        (
            vec!["user", "add", ")(uid=*@example.com", "--random-password"],
            ")(uid=*",
            2,
        ),
        (
            vec!["user", "add", "x,cn=admin@example.com", "--random-password"],
            ",cn=admin",
            2,
        ),
        (vec!["user", "show", "*"], "\"*\"", 2),
        (vec!["domain", "add", "exa)(mple.com"], "exa)(mple.com", 2),
        (
            vec![
                "user",
                "add",
                "carol@example.com",
                "--name",
                &long_name,
                "--random-password",
            ],
            "--name",
            2,
        ),
    ];
    for (args, needle, code) in &cases {
        let out = ctl(&lab, args, "");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(*code), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {needle:?} not in {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    }
    // A NUL in an argument cannot even be passed; non-UTF-8 is refused by name.
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{} --name t-admin exec node1 -- pigeonctl user show \"$(printf 'a\\377@example.com')\"", lab.bin().display()))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("UTF-8"),
        "{}",
        text(&out)
    );
    assert_eq!(
        ctl_ok(&lab, &["user", "list", "--json"], ""),
        users_before,
        "bad input changed users"
    );

    // Concurrent adds never get the same uid.
    let handles: Vec<_> = (0..12)
        .map(|i| {
            let bin = lab.bin().to_owned();
            std::thread::spawn(move || {
                std::process::Command::new(bin)
                    .args([
                        "--name",
                        "t-admin",
                        "exec",
                        "node1",
                        "--",
                        "pigeonctl",
                        "user",
                        "add",
                    ])
                    .arg(format!("par{i}@example.com"))
                    .args(["--random-password", "--json"])
                    .output()
                    .unwrap()
            })
        })
        .collect();
    let mut uids = std::collections::BTreeSet::new();
    for h in handles {
        let out = h.join().unwrap();
        assert!(out.status.success(), "{}", text(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        uids.insert(v["user"]["uid"].as_u64().unwrap());
    }
    assert_eq!(uids.len(), 12, "uids collided: {uids:?}");

    // Strings meant to inject filters, sent as login names by IMAP and SMTP clients, are refused.
    for login in [
        "*",
        ")(mail=*",
        "*)(objectClass=*",
        "postmaster@example.com)(mail=*",
    ] {
        let out = imap(&lab, login, "change-me-now-please");
        assert_eq!(
            out.status.code(),
            Some(3),
            "IMAP login {login:?}: {}",
            text(&out)
        );
    }
    let out = submit(
        &lab,
        Submission::StartTls587,
        "postmaster@example.com",
        "x@foreign.example",
        "*",
        "change-me-now-please",
        Some("AUTH"),
    );
    assert!(
        !out.status.success(),
        "SMTP AUTH as '*' accepted:\n{}",
        text(&out)
    );

    // An administrator password is required from elsewhere; a service account cannot write.
    let secrets = stdout(&lab.exec("node1", &["cat", "/etc/pigeonair/secrets.toml"]));
    let postfix_pw = secrets
        .lines()
        .find_map(|l| l.strip_prefix("postfix_ldap = \""))
        .and_then(|l| l.strip_suffix('"'))
        .unwrap();
    lab.exec(
        "node1",
        &[
            "sh",
            "-c",
            &format!("umask 077; printf '%s' '{postfix_pw}' > /root/pf"),
        ],
    );
    lab.exec("node1", &["sh", "-c", "umask 077; printf 'wrong-password' > /root/wrong; printf 'change-me-now-please' > /root/admin"]);
    let remote = |dn: &str, file: &str| {
        ctl(
            &lab,
            &[
                "--uri",
                "ldap://10.42.0.11",
                "--bind-dn",
                dn,
                "--password-file",
                file,
                "domain",
                "add",
                "remote.example",
            ],
            "",
        )
    };
    let out = remote("cn=postfix,ou=services,o=pigeonair", "/root/pf");
    assert_eq!(
        out.status.code(),
        Some(5),
        "service account wrote: {}",
        text(&out)
    );
    assert!(text(&out).contains("insufficient access"), "{}", text(&out));
    let out = remote("cn=admin,ou=admins,o=pigeonair", "/root/wrong");
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    assert!(text(&out).contains("invalid credentials"), "{}", text(&out));
    let out = ctl(
        &lab,
        &[
            "--uri",
            "ldap://10.42.0.11",
            "--bind-dn",
            "cn=admin,ou=admins,o=pigeonair",
            "domain",
            "add",
            "remote.example",
        ],
        "",
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "no password given: {}",
        text(&out)
    );
    let out = remote("cn=admin,ou=admins,o=pigeonair", "/root/admin");
    assert!(
        out.status.success(),
        "administrator refused: {}",
        text(&out)
    );

    assert_eq!(daemon_pids(&lab), pids, "a daemon restarted");
    lab.ok(&["down"]);
}

#[test]
fn import_checks_the_whole_file_first_and_its_users_work_at_once() {
    if !lab_host_ready("import") {
        return;
    }
    let lab = LabCli::new(lab_bin(), "t-import");
    lab.run(&["down"]);
    lab.ok(&["up", "--nodes", "1"]);
    let import = |name: &str, content: &str| {
        let out = lab.exec(
            "node1",
            &[
                "sh",
                "-c",
                &format!("cat > /root/{name} <<'EOF'\n{content}EOF"),
            ],
        );
        assert!(out.status.success());
        ctl(&lab, &["import", &format!("/root/{name}")], "")
    };
    let before = ctl_ok(&lab, &["user", "list", "--json"], "");
    // A file with problems: every one reported with its line, nothing imported.
    let out = import(
        "bad.csv",
        "domain,example.org\nuser,ok@example.org,clear-text-pw\nuser,*@example.org,clear-text-pw\n\
         user,x@example.org,short\nalias,loop@example.org,x)(@example.org\n",
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in ["nothing was imported", "line 3:", "line 4:", "line 5:"] {
        assert!(err.contains(needle), "{needle:?} not in {err}");
    }
    let out = import(
        "dup.csv",
        "user,postmaster@example.com,clear-text-pw\nuser,n@nowhere.org,clear-text-pw\n",
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("postmaster@example.com exists already"),
        "{err}"
    );
    assert!(err.contains("domain nowhere.org is not hosted"), "{err}");
    assert_eq!(ctl_ok(&lab, &["user", "list", "--json"], ""), before);

    // A migration with a hashed and a clear password: both log in at once; the alias delivers.
    let hash = String::from_utf8(
        std::process::Command::new("openssl")
            .args(["passwd", "-6", "migrated-password-1"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let out = import(
        "good.csv",
        &format!(
            "# migration from the old system\ndomain,example.org\n\
             user,ann@example.org,{{CRYPT}}{},\"Ann, from before\",1G\n\
             user,ben@example.org,clear-text-pw-2\nalias,both@example.org,ann@example.org ben@example.org\n",
            hash.trim()
        ),
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stdout(&out).contains("imported 1 domain(s), 2 user(s), 1 alias(es)"),
        "{}",
        text(&out)
    );
    assert!(
        swaks(
            &lab,
            &[
                "--to",
                "both@example.org",
                "--from",
                "x@client.example",
                "--body",
                "migrated"
            ]
        )
        .status
        .success()
    );
    assert!(arrives(
        &lab,
        "ann@example.org",
        "migrated-password-1",
        "migrated"
    ));
    assert!(arrives(
        &lab,
        "ben@example.org",
        "clear-text-pw-2",
        "migrated"
    ));
    let ann = ctl_ok(&lab, &["user", "show", "ann@example.org", "--json"], "");
    let ann: serde_json::Value = serde_json::from_str(&ann).unwrap();
    assert_eq!(ann["name"], "Ann, from before");
    assert_eq!(ann["quota"], "1G");

    // LDIF too.
    let out = import(
        "one.ldif",
        &format!(
            "dn: mail=cid@example.org,ou=users,cn=example.org,ou=domains,o=old\nmail: cid@example.org\n\
             cn: Cid\nuserPassword: {{CRYPT}}{}\n",
            hash.trim()
        ),
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        imap(&lab, "cid@example.org", "migrated-password-1")
            .status
            .code()
            != Some(3)
    );
    lab.ok(&["down"]);
}
