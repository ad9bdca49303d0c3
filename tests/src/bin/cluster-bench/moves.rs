//! `cluster-bench --only moves`: mailbox moves (issue 12), on a 3-node lab of their own.
//!
//! 5. move throughput: a mailbox of N messages of about 30 KB on node1, moved to node2 with
//!    `pigeonctl user move` (wall time of the command, which returns once the move is done)
//!    against a bare `doveadm backup` of the same mailbox from node1 to node2, where it is not
//!    (the same dsync the mover runs, once), alternating, R rounds; MB/s and messages/s and the
//!    ratio (goal ≥ 0.8). Each round moves a mailbox of its own and backs up one twin, all
//!    filled alike, whose copy on node2 is removed after each backup: every copy goes to a node
//!    with nothing of the mailbox. A mover's `doveadm backup` sometimes stalls for good, both
//!    ends idle in epoll with a few KB exchanged (seen moving a 90 MB mailbox back a second
//!    after it arrived, and in a drain of small mailboxes): a move of figures 5 and 6 not done
//!    within its limit is reported and its mover's pigeonaird restarted, so the run goes on;
//!    the drain of figure 7 has no such guard;
//! 6. the lock window: a small mailbox moved back and forth between node1 and node2 M times;
//!    how long deliveries were held (the mover's "deliveries held for X ms" in pigeonaird's
//!    journal: from the lock to the flip of `mailHost`), p50 and p99 (goal p99 < 2 s); and,
//!    while each move runs, a message every 100 ms (to node1 and node2 in turn), each timed from
//!    sending it until Dovecot's LMTP saved it in the mailbox on its home node (the "saved mail
//!    to" line in that node's journal; one host clock);
//! 7. drain time: node2 with K small mailboxes (three messages each) drained with `pigeonctl
//!    node drain mx2.example.com` into node1 and node3; mailboxes/s and the drain's last progress
//!    line.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pigeonair_tests::support::{LabCli, stdout};

use super::{Args, add_users, goal, maildir_count, median, p50_p99, quantile, sh, wait_until};

/// The default lab of `--only moves` (at most 12 characters).
pub const LAB: &str = "bench-move";
/// Messages in the mailbox of figure 5 unless `--messages` says otherwise.
pub const MESSAGES: usize = 3000;
/// The size of each of its messages: 3000 of them make about 90 MB.
const MESSAGE_BYTES: usize = 30_000;
/// Messages in the mailbox of figure 6 (small: the lock window, not the copy, is measured).
const SMALL: usize = 50;
/// How often figure 6 sends a message while a mailbox moves.
const EVERY: Duration = Duration::from_millis(100);
/// How many recipients one filler message of figure 7 has (Postfix takes up to 1000).
const RECIPIENTS_PER_MESSAGE: usize = 100;
/// Messages in each mailbox of figure 7.
const DRAIN_MESSAGES: usize = 3;
/// The nodes' public addresses, node1 and node2.
const PUBLIC: [&str; 2] = ["203.0.113.11", "203.0.113.12"];

fn script() -> String {
    format!("{}/clients/mailbox_state.py", env!("CARGO_MANIFEST_DIR"))
}

/// One MB, as the drain's progress line counts them.
const MB: f64 = 1_000_000.0;

/// `mailbox_state.py ARGS…` at the client address; an error with what it said unless it
/// succeeded.
fn mailbox_state(lab: &LabCli, args: &[&str]) -> anyhow::Result<()> {
    let mut cmd = vec!["python3".to_string(), script()];
    cmd.extend(args.iter().map(|a| a.to_string()));
    let cmd: Vec<&str> = cmd.iter().map(String::as_str).collect();
    let out = lab.client(&cmd);
    anyhow::ensure!(
        out.status.success(),
        "mailbox_state.py {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// The user's mailbox id (its directory under `/var/vmail`), from `pigeonctl user show`.
fn mailbox_id(lab: &LabCli, user: &str) -> anyhow::Result<String> {
    let show = sh(lab, "node1", &format!("pigeonctl user show {user}"))?;
    show.lines()
        .find_map(|l| l.strip_prefix("mailbox id: "))
        .map(|id| id.trim().to_owned())
        .ok_or_else(|| anyhow::anyhow!("no mailbox id in {show}"))
}

/// How a timed move went.
enum Moved {
    /// Done within its limit, in this wall time.
    Took(Duration),
    /// Not done within its limit; what was found, and how it was finished.
    Stalled(String),
}

/// `pigeonctl user move USER --to mxTO.example.com` on node1, followed for at most `limit`. A
/// move not done by then is reported with the `doveadm` processes on the mover (node `from`),
/// whose pigeonaird is then restarted: that ends its dsync (systemd stops the unit's whole
/// cgroup), and the move resumes from its state in the directory and is followed again.
fn move_to(
    lab: &LabCli,
    user: &str,
    from: usize,
    to: usize,
    limit: Duration,
) -> anyhow::Result<Moved> {
    let t = Instant::now();
    let cmd = format!(
        "pigeonctl user move {user} --to mx{to}.example.com --timeout {}s",
        limit.as_secs()
    );
    let out = lab.exec("node1", &["sh", "-c", &cmd]);
    if out.status.success() {
        return Ok(Moved::Took(t.elapsed()));
    }
    let err = String::from_utf8_lossy(&out.stderr);
    anyhow::ensure!(
        err.contains("is not done after"),
        "node1: `{cmd}` failed ({}): {}{err}",
        out.status,
        stdout(&out)
    );
    let mover = format!("node{from}");
    let dsync = sh(lab, &mover, "pgrep -a doveadm || true")?;
    sh(lab, &mover, "systemctl restart pigeonaird")?;
    sh(
        lab,
        "node1",
        &format!("pigeonctl user move {user} --to mx{to}.example.com --timeout 10m"),
    )?;
    Ok(Moved::Stalled(format!(
        "not done after {} s (on {mover}: {}); {mover}'s pigeonaird restarted, the move then done {:.1} s after it began",
        limit.as_secs(),
        dsync.trim().replace('\n', "; "),
        t.elapsed().as_secs_f64()
    )))
}

/// The lines `node`'s pigeonaird logged since `since` about the last move of `user` to node
/// `k`: from its last "copying" on.
fn mover_lines(
    lab: &LabCli,
    node: &str,
    user: &str,
    k: usize,
    since: u64,
) -> anyhow::Result<Vec<String>> {
    let prefix = format!("move of {user} to mx{k}.example.com: ");
    let journal = sh(
        lab,
        node,
        &format!("journalctl -u pigeonaird --since @{since} -o cat"),
    )?;
    let lines: Vec<String> = journal
        .lines()
        .filter_map(|l| l.split_once(&prefix).map(|(_, rest)| rest.to_owned()))
        .collect();
    let start = lines.iter().rposition(|l| l == "copying").unwrap_or(0);
    Ok(lines[start..].to_vec())
}

/// The number in `line` right after `before` and before `after` (`copy pass 1 took 85 ms`).
fn number_between(line: &str, before: &str, after: &str) -> Option<f64> {
    let rest = &line[line.find(before)? + before.len()..];
    rest[..rest.find(after)?].trim().parse().ok()
}

/// How long the mover held deliveries ("deliveries held for X ms"), in ms, from its lines.
fn held_ms(lines: &[String]) -> Option<f64> {
    lines
        .iter()
        .find_map(|l| number_between(l, "deliveries held for ", " ms"))
}

/// The copy passes' times (ms) from the mover's lines ("copy pass N took X ms").
fn copy_passes_ms(lines: &[String]) -> Vec<f64> {
    lines
        .iter()
        .filter_map(|l| number_between(l, " took ", " ms"))
        .collect()
}

/// The mover's own times from its lines: `copy passes 2100 + 310 ms, held 420 ms`.
fn mover_times(lines: &[String]) -> String {
    let passes: Vec<String> = copy_passes_ms(lines)
        .iter()
        .map(|ms| format!("{ms:.0}"))
        .collect();
    match held_ms(lines) {
        Some(held) => format!("copy passes {} ms, held {held:.0} ms", passes.join(" + ")),
        None => "not in pigeonaird's journal".to_owned(),
    }
}

/// Figure 5: `pigeonctl user move` node1 → node2 against a bare `doveadm backup` node1 → node2
/// of the same mailbox, alternating. Every round moves a mailbox of its own (`bigR@`) and
/// backs up the same twin (`big0@`, whose copy on node2 is removed after each backup), all
/// filled alike: no mailbox is copied twice, none moved back.
fn throughput(lab: &LabCli, messages: usize, rounds: usize) -> anyhow::Result<()> {
    const TWIN: &str = "big0@example.com";
    let names: Vec<String> = (0..=rounds).map(|r| format!("big{r}")).collect();
    let users: Vec<(String, usize)> = names.iter().map(|n| (n.clone(), 1)).collect();
    add_users(lab, &users, &["node2", "node3"])?;
    let t = Instant::now();
    for name in &names {
        mailbox_state(
            lab,
            &[
                "fill-sized",
                PUBLIC[0],
                &format!("{name}@example.com"),
                &format!("password-of-{name}"),
                &messages.to_string(),
                &MESSAGE_BYTES.to_string(),
            ],
        )?;
    }
    let filled = t.elapsed();
    let mut ids = Vec::new();
    for name in &names {
        ids.push(mailbox_id(lab, &format!("{name}@example.com"))?);
    }
    let bytes: f64 = sh(
        lab,
        "node1",
        &format!("du -sb /var/vmail/{} | cut -f1", ids[0]),
    )?
    .trim()
    .parse()?;
    println!(
        "== 5. move throughput: {messages} messages of about {} KB in four folders ({:.1} MB on disk on node1, `du -sb`), node1 → node2",
        MESSAGE_BYTES / 1000,
        bytes / MB
    );
    println!(
        "   `pigeonctl user move bigR@example.com` (until done) against a bare `doveadm backup -u {TWIN} tcps:mx2.example.com:2727` on node1, alternating, {rounds} rounds;"
    );
    println!(
        "   {} mailboxes filled alike over IMAP in {:.0} s, each copied to a node2 with nothing of it",
        names.len(),
        filled.as_secs_f64()
    );
    let backup = format!("doveadm backup -u {TWIN} tcps:mx2.example.com:2727");
    let mut moved = Vec::new();
    let mut backed_up = Vec::new();
    // The mover's copy passes and its locked pass (with the lock's writes), without what the
    // move does after the flip.
    let mut copied = Vec::new();
    let mut notes = Vec::new();
    for round in 1..=rounds {
        for k in 0..2 {
            if (k + round) % 2 == 1 {
                let user = format!("big{round}@example.com");
                let since = super::node_seconds(lab, "node1")?;
                let took = move_to(lab, &user, 1, 2, Duration::from_secs(120))?;
                let lines = mover_lines(lab, "node1", &user, 2, since)?;
                match took {
                    Moved::Took(took) => {
                        moved.push(took.as_secs_f64());
                        if let Some(held) = held_ms(&lines) {
                            copied.push((copy_passes_ms(&lines).iter().sum::<f64>() + held) / 1e3);
                        }
                        notes.push(format!(
                            "round {round}: move {:.2} s ({})",
                            took.as_secs_f64(),
                            mover_times(&lines)
                        ));
                    }
                    Moved::Stalled(what) => {
                        notes.push(format!("round {round}: the move STALLED: {what}"));
                    }
                }
            } else {
                sh(lab, "node2", &format!("test ! -e /var/vmail/{}", ids[0]))?;
                let t = Instant::now();
                sh(lab, "node1", &backup)?;
                backed_up.push(t.elapsed().as_secs_f64());
                notes.push(format!(
                    "round {round}: backup {:.2} s",
                    t.elapsed().as_secs_f64()
                ));
                sh(lab, "node2", &format!("rm -rf /var/vmail/{}", ids[0]))?;
            }
        }
    }
    let line = |name: &str, secs: &[f64]| {
        if secs.is_empty() {
            println!("{name:<26} no round");
            return;
        }
        let m = median(secs);
        let all: Vec<String> = secs.iter().map(|s| format!("{s:.2}")).collect();
        println!(
            "{name:<26} {m:6.2} s  {:6.1} MB/s  {:6.0} messages/s   rounds [{}] s",
            bytes / MB / m,
            messages as f64 / m,
            all.join(", ")
        );
    };
    line("pigeonctl user move", &moved);
    line("bare doveadm backup", &backed_up);
    line("  the move's dsync passes", &copied);
    for n in &notes {
        println!("   {n}");
    }
    if !moved.is_empty() {
        let ratio = median(&backed_up) / median(&moved);
        println!(
            "ratio move / backup (MB/s)   {ratio:.2}   (goal ≥ 0.8: {})",
            goal(ratio >= 0.8)
        );
    }
    // The moved mailboxes leave the lab, so the drain below moves only its own.
    for (name, id) in names.iter().zip(&ids).skip(1) {
        sh(
            lab,
            "node1",
            &format!("pigeonctl user remove {name}@example.com"),
        )?;
        sh(lab, "node2", &format!("rm -rf /var/vmail/{id}"))?;
    }
    Ok(())
}

/// Sends a message every EVERY seconds to USER, at each HOST in turn over one SMTP session per
/// host, until its standard input closes (arguments: USER TAG EVERY HOST…); then prints
/// `{"sent": [[Message-ID, time sent], …], "refused": [[Message-ID, why], …]}` (times: the
/// host's clock, seconds since the epoch). Prints `ready` once its sessions are open.
const SENDER: &str = r#"
import json, select, smtplib, sys, time
user, tag, every, hosts = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4:]
sessions = {h: smtplib.SMTP(h, 25, timeout=30) for h in hosts}
print("ready", flush=True)
sent, refused = [], []
start, k = time.time(), 0
while True:
    wait = max(0.0, start + k * every - time.time())
    if select.select([sys.stdin], [], [], wait)[0]:
        break
    h = hosts[k % len(hosts)]
    mid = "<%s-%d@client.example>" % (tag, k)
    msg = ("From: sender@client.example\r\nTo: %s\r\nSubject: sent during a move\r\n"
           "Message-ID: %s\r\n\r\nsent during a move\r\n") % (user, mid)
    t = time.time()
    try:
        sessions[h].sendmail("sender@client.example", [user], msg)
        sent.append([mid, t])
    except (smtplib.SMTPException, OSError) as e:
        refused.append([mid, str(e)])
        sessions[h] = smtplib.SMTP(h, 25, timeout=30)
    k += 1
for s in sessions.values():
    s.quit()
print(json.dumps({"sent": sent, "refused": refused}))
"#;

/// [`SENDER`] for `user` at the client address, started: it has printed `ready`.
fn start_sender(lab: &LabCli, user: &str, tag: &str) -> anyhow::Result<Child> {
    let mut child = Command::new(lab.bin())
        .args([
            "--name",
            lab.name(),
            "client",
            "--",
            "python3",
            "-c",
            SENDER,
        ])
        .args([user, tag, &EVERY.as_secs_f64().to_string()])
        .args(PUBLIC)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    // Unbuffered beyond this line: the sender prints nothing more until its input closes.
    let mut ready = String::new();
    BufReader::new(child.stdout.as_mut().expect("piped")).read_line(&mut ready)?;
    if ready.trim() != "ready" {
        let _ = child.kill();
        let out = child.wait_with_output()?;
        anyhow::bail!(
            "the sender did not start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(child)
}

/// What a [`SENDER`] did.
struct Sent {
    /// Message-ID and when it was sent (seconds since the epoch), of each message accepted.
    accepted: Vec<(String, f64)>,
    /// Message-ID and why, of each message refused.
    refused: Vec<String>,
}

/// Stops a [`start_sender`] sender: what it sent.
fn stop_sender(mut child: Child) -> anyhow::Result<Sent> {
    drop(child.stdin.take());
    let mut text = String::new();
    child
        .stdout
        .take()
        .expect("piped")
        .read_to_string(&mut text)?;
    let out = child.wait_with_output()?;
    anyhow::ensure!(
        out.status.success(),
        "the sender failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(text.trim())?;
    let pairs = |key: &str| -> Vec<(String, serde_json::Value)> {
        v[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| Some((p[0].as_str()?.to_owned(), p[1].clone())))
                    .collect()
            })
            .unwrap_or_default()
    };
    Ok(Sent {
        accepted: pairs("sent")
            .into_iter()
            .filter_map(|(mid, t)| Some((mid, t.as_f64()?)))
            .collect(),
        refused: pairs("refused")
            .into_iter()
            .map(|(mid, why)| format!("{mid}: {why}"))
            .collect(),
    })
}

/// When Dovecot's LMTP on node1 or node2 saved each message whose Message-ID starts with
/// `prefix`, since `since` (the first save of each; the host's clock, seconds since the epoch).
fn saved_at(lab: &LabCli, prefix: &str, since: u64) -> anyhow::Result<BTreeMap<String, f64>> {
    let mut at = BTreeMap::new();
    for node in ["node1", "node2"] {
        let lines = sh(
            lab,
            node,
            &format!(
                "journalctl -u dovecot --since @{since} -o short-unix | grep -F 'msgid={prefix}' | grep -F 'saved mail to' || true"
            ),
        )?;
        for l in lines.lines() {
            let t: Option<f64> = l.split(' ').next().and_then(|t| t.parse().ok());
            let mid = l
                .split_once("msgid=")
                .and_then(|(_, rest)| rest.split_once(": saved"))
                .map(|(mid, _)| mid.to_owned());
            if let (Some(t), Some(mid)) = (t, mid) {
                let e = at.entry(mid).or_insert(t);
                *e = e.min(t);
            }
        }
    }
    Ok(at)
}

/// Figure 6: the lock window of `moves` moves of a small mailbox between node1 and node2, and
/// the delay of mail sent during each.
fn lock_window(lab: &LabCli, moves: usize) -> anyhow::Result<()> {
    const USER: &str = "lock@example.com";
    add_users(lab, &[("lock".to_string(), 1)], &["node2", "node3"])?;
    mailbox_state(
        lab,
        &[
            "fill",
            PUBLIC[0],
            USER,
            "password-of-lock",
            &SMALL.to_string(),
        ],
    )?;
    println!(
        "== 6. the lock window: {USER} ({SMALL} messages) moved {moves} times between node1 and node2 (`pigeonctl user move` on node1), a message sent every {} ms during each (to node1 and node2 in turn)",
        EVERY.as_millis()
    );
    let since = super::node_seconds(lab, "node1")?;
    let mut held = Vec::new();
    let mut walls = Vec::new();
    let mut sent = Vec::new();
    let mut refused = Vec::new();
    let mut missing_held = 0;
    let mut stalls = Vec::new();
    for i in 0..moves {
        // Moves alternate: node1 → node2, then back; the mover is the node the mailbox is on.
        let (from, to) = if i % 2 == 0 { (1, 2) } else { (2, 1) };
        let move_since = super::node_seconds(lab, "node1")?;
        let sender = start_sender(lab, USER, &format!("lock-{i}"))?;
        // A few messages before the move starts, so the figure covers its very beginning.
        std::thread::sleep(3 * EVERY);
        let took = move_to(lab, USER, from, to, Duration::from_secs(60));
        std::thread::sleep(3 * EVERY);
        let during = stop_sender(sender)?;
        match took? {
            Moved::Took(t) => walls.push(t.as_secs_f64() * 1e3),
            Moved::Stalled(what) => stalls.push(format!("move {}: {what}", i + 1)),
        }
        sent.extend(during.accepted);
        refused.extend(during.refused);
        let lines = mover_lines(lab, &format!("node{from}"), USER, to, move_since)?;
        match held_ms(&lines) {
            Some(ms) => held.push(ms),
            None => missing_held += 1,
        }
    }
    anyhow::ensure!(
        !held.is_empty(),
        "no move logged how long it held deliveries"
    );
    println!(
        "deliveries held (lock → mailHost flipped)  {}  max {:.0} ms{}",
        p50_p99(&held),
        held.iter().copied().fold(0.0, f64::max),
        if missing_held > 0 {
            format!("  ({missing_held} move(s) not in the journal)")
        } else {
            String::new()
        }
    );
    if !walls.is_empty() {
        println!(
            "`pigeonctl user move`, until done        {}",
            p50_p99(&walls)
        );
    }
    for s in &stalls {
        println!("   STALLED: {s}");
    }
    let p99 = quantile(&held, 0.99);
    println!("goal p99 < 2 s ({:.0} ms): {}", p99, goal(p99 < 2000.0));
    // Every message accepted is saved once its move is over; wait for the stragglers.
    let mut at = BTreeMap::new();
    let waited = wait_until(
        "the mail sent during the moves, saved",
        Duration::from_secs(120),
        Duration::from_millis(500),
        || {
            at = saved_at(lab, "<lock-", since)?;
            Ok(sent.iter().all(|(mid, _)| at.contains_key(mid)))
        },
    );
    let delays: Vec<f64> = sent
        .iter()
        .filter_map(|(mid, t)| at.get(mid).map(|a| (a - t) * 1e3))
        .collect();
    let late = delays.iter().filter(|d| **d > 1000.0).count();
    println!(
        "mail sent during the moves: {} accepted, {} refused; send → saved on its home node  {}  max {:.0} ms  ({late} over 1 s)",
        sent.len(),
        refused.len(),
        p50_p99(&delays),
        delays.iter().copied().fold(0.0, f64::max)
    );
    if let Err(e) = waited {
        println!("   {} never saved: {e}", sent.len() - delays.len());
    }
    for r in refused.iter().take(3) {
        println!("   refused: {r}");
    }
    for node in ["node1", "node2"] {
        println!(
            "   status=deferred in {node}'s Postfix journal during the moves: {}",
            super::deferrals(lab, node, since)?
        );
    }
    Ok(())
}

/// The users `pigeonctl node list` counts on `host` (its `mailboxes` column).
fn mailboxes_on(lab: &LabCli, host: &str) -> anyhow::Result<usize> {
    let list = sh(lab, "node1", "pigeonctl node list")?;
    list.lines()
        .find(|l| l.starts_with(host))
        .and_then(|l| l.split_whitespace().nth(5))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no mailbox count for {host} in {list}"))
}

/// Sends every RCPT N messages at HOST over one SMTP session, PER recipients to a message
/// (arguments: HOST N PER RCPT…).
const FILLER: &str = r#"
import smtplib, sys
host, n, per, rcpts = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
s = smtplib.SMTP(host, 25, timeout=60)
for k in range(n):
    for i in range(0, len(rcpts), per):
        s.sendmail("filler@client.example", rcpts[i:i + per],
                   "From: filler@client.example\r\nSubject: message %d\r\n"
                   "Message-ID: <drain-%d-%d@client.example>\r\n\r\na small mailbox\r\n" % (k, k, i))
s.quit()
"#;

/// Figure 7: the drain of node2 holding `mailboxes` small mailboxes.
fn drain(lab: &LabCli, mailboxes: usize) -> anyhow::Result<()> {
    let users: Vec<(String, usize)> = (1..=mailboxes).map(|i| (format!("d{i:04}"), 2)).collect();
    let t = Instant::now();
    add_users(lab, &users, &["node2", "node3"])?;
    let added = t.elapsed();
    let base = maildir_count(lab, "node2")?;
    let t = Instant::now();
    let mut cmd = vec![
        "python3".to_string(),
        "-c".into(),
        FILLER.into(),
        PUBLIC[1].into(),
        DRAIN_MESSAGES.to_string(),
        RECIPIENTS_PER_MESSAGE.to_string(),
    ];
    cmd.extend(users.iter().map(|(u, _)| format!("{u}@example.com")));
    let cmd: Vec<&str> = cmd.iter().map(String::as_str).collect();
    let out = lab.client(&cmd);
    anyhow::ensure!(
        out.status.success(),
        "filling the mailboxes on node2: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want = mailboxes * DRAIN_MESSAGES;
    wait_until(
        &format!("{want} messages in node2's Maildirs"),
        Duration::from_secs(300),
        Duration::from_millis(500),
        || Ok(maildir_count(lab, "node2")? >= base + want),
    )?;
    let filled = t.elapsed();
    let on_node2 = mailboxes_on(lab, "mx2.example.com")?;
    let bytes: f64 = sh(lab, "node2", "du -sb /var/vmail | cut -f1")?
        .trim()
        .parse()?;
    println!(
        "== 7. drain: node2 holding {on_node2} mailboxes ({mailboxes} added with `pigeonctl user add --node mx2.example.com` in {:.1} s, {DRAIN_MESSAGES} messages each delivered in {:.1} s; {:.1} MB on disk), `pigeonctl node drain mx2.example.com` on node1 into node1 and node3",
        added.as_secs_f64(),
        filled.as_secs_f64(),
        bytes / MB
    );
    let t = Instant::now();
    let out = lab.exec("node1", &["pigeonctl", "node", "drain", "mx2.example.com"]);
    let took = t.elapsed();
    let progress = String::from_utf8_lossy(&out.stderr).into_owned();
    anyhow::ensure!(
        out.status.success(),
        "the drain failed ({}): {}{progress}",
        out.status,
        stdout(&out)
    );
    let last = progress
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    println!(
        "drained in {:.1} s: {:.2} mailboxes/s ({})",
        took.as_secs_f64(),
        on_node2 as f64 / took.as_secs_f64(),
        stdout(&out).trim()
    );
    println!("   last progress line: {last}");
    println!(
        "   mailboxes after: node1 {}, node2 {}, node3 {}",
        mailboxes_on(lab, "mx1.example.com")?,
        mailboxes_on(lab, "mx2.example.com")?,
        mailboxes_on(lab, "mx3.example.com")?
    );
    Ok(())
}

/// Figures 5, 6 and 7 (`--only moves`), on a lab made by `up --nodes 3`.
pub fn moves_only(lab: &LabCli, args: &Args) -> anyhow::Result<()> {
    lab.run(&["down"]);
    lab.ok(&["up", "--nodes", "3"]);
    throughput(lab, args.messages.unwrap_or(MESSAGES), args.rounds.max(1))?;
    println!();
    lock_window(lab, args.moves.max(1))?;
    println!();
    drain(lab, args.mailboxes.max(1))
}
