//! `mail-bench`: figures for one installed node. Prints, never asserts.
//!
//! - install: `pigeonair-install --answers -` on a fresh node, and from its start until a
//!   message sent over SMTP is in the Maildir ("time to serving mail");
//! - no-op re-apply time;
//! - delivery throughput: N messages over SMTP from the client with concurrency C, counted
//!   when in the Maildir, against the same messages injected straight into Dovecot's LMTP on
//!   the node, on the Unix socket Postfix delivers to (the ratio is the figure).
//!
//! - `--compare-stock`: instead, the same loads against PigeonAir (node1) and, in the same run,
//!   a stock Postfix + Dovecot box set up by hand on node2 (hash map, passwd-file: see
//!   `tests/stock/setup.sh`): SMTP accept rate, time until every message is in its mailbox,
//!   and the ratio, for a burst to one mailbox and for mail spread over 30 mailboxes.
//!
//! Run as root after `scripts/build`: `target/release/mail-bench [--messages 1000] [--concurrency 4]
//! [--compare-stock]`.

use std::process::Command;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use pigeonair_tests::smtp::{self, Endpoint, Protocol};
use pigeonair_tests::support::LabCli;

#[derive(Parser)]
#[command(about = "Measure install time, re-apply time and delivery throughput of one node")]
struct Args {
    #[command(subcommand)]
    inner: Option<Inner>,
    /// Messages per throughput run.
    #[arg(long, default_value_t = 1000)]
    messages: usize,
    /// Concurrent connections.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Compare PigeonAir with a stock Postfix + Dovecot box under the same loads, in one run.
    #[arg(long)]
    compare_stock: bool,
    /// Rounds of the comparison (the boxes alternate; medians are printed).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
}

#[derive(Subcommand)]
enum Inner {
    /// Send N messages (used inside the client namespace or the node).
    Send {
        #[arg(long)]
        lmtp: bool,
        #[arg(long)]
        /// ADDRESS:PORT, or the path of a Unix socket.
        addr: Endpoint,
        #[arg(long)]
        messages: usize,
        #[arg(long)]
        concurrency: usize,
        /// Recipients, taken in turn (default: postmaster@example.com).
        #[arg(long = "rcpt")]
        rcpts: Vec<String>,
        /// Give message I the Message-Id <TAG-I@client.example>.
        #[arg(long)]
        tag: Option<String>,
    },
    /// Send N messages one after another, timing each SMTP command; prints p50 and p99.
    Latency {
        #[arg(long)]
        /// ADDRESS:PORT, or the path of a Unix socket.
        addr: Endpoint,
        #[arg(long)]
        messages: usize,
        /// Recipients, taken in turn (default: postmaster@example.com).
        #[arg(long = "rcpt")]
        rcpts: Vec<String>,
    },
}

/// Which duration of a transaction's [`smtp::Timings`].
type Step = fn(&smtp::Timings) -> Duration;

/// `latency`: one session at a time, so each figure is the server's own time for a command.
fn latency(addr: &Endpoint, n: usize, rcpts: &[String]) -> anyhow::Result<()> {
    let mut all: Vec<smtp::Timings> = Vec::with_capacity(n);
    for i in 0..n {
        let rcpt = &rcpts[i % rcpts.len()];
        let body = format!(
            "From: bench@client.example\r\nTo: {rcpt}\r\nSubject: latency {i}\r\n\r\nshort\r\n"
        );
        all.push(smtp::send_timed(
            addr,
            Protocol::Smtp,
            "bench@client.example",
            rcpt,
            &body,
        )?);
    }
    let pct = |f: Step| {
        let mut v: Vec<f64> = all.iter().map(|t| f(t).as_secs_f64() * 1e3).collect();
        v.sort_by(f64::total_cmp);
        (v[v.len() / 2], v[(v.len() * 99 / 100).min(v.len() - 1)])
    };
    let rows: [(&str, Step); 5] = [
        ("banner", |t| t.banner),
        ("EHLO", |t| t.hello),
        ("MAIL", |t| t.mail),
        ("RCPT", |t| t.rcpt),
        ("end of data", |t| t.end_of_data),
    ];
    for (name, f) in rows {
        let (p50, p99) = pct(f);
        println!("{name:<12} p50 {p50:6.2} ms   p99 {p99:6.2} ms");
    }
    Ok(())
}

const RCPT: &str = "postmaster@example.com";
/// Dovecot's LMTP socket in Postfix's chroot: where Postfix delivers on both boxes.
const LMTP_SOCKET: &str = "/var/spool/postfix/private/dovecot-lmtp";

fn maildir_count(lab: &LabCli) -> usize {
    maildir_count_on(lab, "node1")
}

fn maildir_count_on(lab: &LabCli, node: &str) -> usize {
    let out = lab.exec(
        node,
        &[
            "sh",
            "-c",
            "find /var/vmail -path '*/Maildir/new/*' -type f | wc -l",
        ],
    );
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

fn wait_count(lab: &LabCli, target: usize, limit: Duration) -> Option<Instant> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if maildir_count(lab) >= target {
            return Some(Instant::now());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// Runs `send` and returns messages per second until all `n` are in the Maildir.
fn throughput(
    lab: &LabCli,
    what: &str,
    n: usize,
    send: impl FnOnce() -> std::process::Output,
) -> anyhow::Result<f64> {
    let base = maildir_count(lab);
    let t = Instant::now();
    let out = send();
    anyhow::ensure!(
        out.status.success(),
        "{what}: sending failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let done = wait_count(lab, base + n, Duration::from_secs(600))
        .ok_or_else(|| anyhow::anyhow!("{what}: messages did not all arrive"))?;
    let secs = (done - t).as_secs_f64();
    let rate = n as f64 / secs;
    println!("{what:<34} {rate:.1} msg/s ({secs:.2} s)");
    Ok(rate)
}

/// How long a comparison load may wait for its messages to reach the mailboxes: a box that
/// defers (Postfix retries after minutes) is reported with what it delivered by then.
const COMPARE_WAIT: Duration = Duration::from_secs(60);

/// One load against one box: seconds until the SMTP client had every message accepted, and
/// either the seconds until every message was in its Maildir or, past `COMPARE_WAIT`, how many
/// were.
fn load(
    lab: &LabCli,
    node: &str,
    addr: &str,
    rcpts: &[String],
    n: usize,
    c: usize,
) -> anyhow::Result<(f64, Result<f64, usize>)> {
    load_via(lab, node, Via::Smtp(addr), rcpts, n, c)
}

/// How a load reaches a box.
#[derive(Clone, Copy)]
enum Via<'a> {
    /// SMTP from the client address to this address.
    Smtp(&'a str),
    /// LMTP from inside the node into Dovecot's socket (`mail-bench` copied to the node).
    LmtpSocket,
}

/// [`load`], over SMTP or straight into Dovecot.
fn load_via(
    lab: &LabCli,
    node: &str,
    via: Via,
    rcpts: &[String],
    n: usize,
    c: usize,
) -> anyhow::Result<(f64, Result<f64, usize>)> {
    let me = std::env::current_exe()?;
    let base = maildir_count_on(lab, node);
    let (program, lmtp, addr) = match via {
        Via::Smtp(addr) => (me.to_string_lossy().into_owned(), None, addr),
        Via::LmtpSocket => (
            "/usr/local/bin/mail-bench".to_string(),
            Some("--lmtp"),
            LMTP_SOCKET,
        ),
    };
    let mut args = vec![program, "send".into()];
    args.extend(lmtp.map(String::from));
    args.extend([
        "--addr".into(),
        addr.into(),
        "--messages".into(),
        n.to_string(),
        "--concurrency".into(),
        c.to_string(),
    ]);
    for r in rcpts {
        args.extend(["--rcpt".to_string(), r.clone()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let t = Instant::now();
    let out = match via {
        Via::Smtp(_) => lab.client(&args),
        Via::LmtpSocket => lab.exec(node, &args),
    };
    anyhow::ensure!(
        out.status.success(),
        "{node}: sending failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let accepted = t.elapsed().as_secs_f64();
    loop {
        let count = maildir_count_on(lab, node) - base;
        if count >= n {
            return Ok((accepted, Ok(t.elapsed().as_secs_f64())));
        }
        if t.elapsed() > COMPARE_WAIT {
            // Leave nothing queued for the next load to count.
            lab.exec(node, &["postsuper", "-d", "ALL"]);
            return Ok((accepted, Err(count)));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `--compare-stock`: PigeonAir on node1 against a stock box on node2, same loads, one run.
fn compare_stock(
    lab: &LabCli,
    answers: &str,
    n: usize,
    c: usize,
    rounds: usize,
) -> anyhow::Result<()> {
    lab.run(&["down"]);
    lab.ok(&["up", "--bare", "--nodes", "2"]);
    install(lab, answers)?;
    let users: Vec<String> = (1..=30).map(|i| format!("u{i:02}")).collect();
    let csv: String = users
        .iter()
        .map(|u| format!("user,{u}@example.com,password-of-{u}\n"))
        .collect();
    let out = lab.exec_with_input(
        "node1",
        "cat > /tmp/users.csv && pigeonctl import /tmp/users.csv",
        &csv,
    );
    anyhow::ensure!(
        out.status.success(),
        "import on node1: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let script = include_str!("../../stock/setup.sh");
    let out = lab.exec_with_input(
        "node2",
        &format!(
            "cat > /tmp/stock-setup.sh && sh /tmp/stock-setup.sh mx2.example.com example.com postmaster {}",
            users.join(" ")
        ),
        script,
    );
    anyhow::ensure!(
        out.status.success(),
        "stock box on node2: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let boxes = [
        ("PigeonAir", "node1", "203.0.113.11:25"),
        ("stock", "node2", "203.0.113.12:25"),
    ];
    // Warm both (first connections, caches, proxymap) before measuring.
    for (_, node, addr) in boxes {
        let _ = load(lab, node, addr, &[RCPT.to_string()], 20, 2)?;
    }
    let one = vec![RCPT.to_string()];
    let spread: Vec<String> = users.iter().map(|u| format!("{u}@example.com")).collect();
    println!("== PigeonAir against a stock Postfix + Dovecot box (hash map, passwd-file)");
    println!("   {n} messages, {c} SMTP sessions, median of {rounds} rounds, boxes alternating");
    for (what, rcpts) in [("to one mailbox", &one), ("over 30 mailboxes", &spread)] {
        let mut figures: Vec<(Vec<f64>, Vec<f64>)> = vec![(Vec::new(), Vec::new()); 2];
        let mut short: Vec<Vec<usize>> = vec![Vec::new(); 2];
        for round in 0..rounds {
            for k in 0..2 {
                // Alternate which box goes first, so neither always runs on a warmer machine.
                let i = (k + round) % 2;
                let (_, node, addr) = boxes[i];
                let (accepted, done) = load(lab, node, addr, rcpts, n, c)?;
                figures[i].0.push(n as f64 / accepted);
                match done {
                    Ok(secs) => figures[i].1.push(n as f64 / secs),
                    Err(count) => short[i].push(count),
                }
            }
        }
        println!("-- {what}");
        let mut rates = Vec::new();
        for (i, (name, _, _)) in boxes.iter().enumerate() {
            let accepted = median(figures[i].0.clone());
            let stored = (short[i].is_empty()).then(|| median(figures[i].1.clone()));
            let stored_text = match stored {
                Some(r) => format!("{r:7.1} msg/s"),
                None => format!(
                    "not all within {} s: {:?} of {n} (the rest deferred)",
                    COMPARE_WAIT.as_secs(),
                    short[i]
                ),
            };
            println!(
                "{name:<10} SMTP accepted {accepted:7.1} msg/s   in the mailboxes {stored_text}"
            );
            rates.push((accepted, stored));
        }
        let stored_ratio = match (rates[0].1, rates[1].1) {
            (Some(a), Some(b)) => format!("{:.2}", a / b),
            (Some(_), None) => "PigeonAir delivered all, the stock box did not".into(),
            (None, _) => "PigeonAir did not deliver all".into(),
        };
        println!(
            "ratio PigeonAir / stock: accepted {:.2}, in the mailboxes {stored_ratio}",
            rates[0].0 / rates[1].0
        );
    }
    // What Postfix costs on each box: the same load over SMTP against straight into the
    // Dovecot socket Postfix delivers to.
    println!("-- over 30 mailboxes: SMTP against LMTP straight into Dovecot's socket");
    for (name, node, addr) in boxes {
        copy_into(lab, node)?;
        let (mut smtp, mut lmtp) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            for (via, into) in [(Via::Smtp(addr), &mut smtp), (Via::LmtpSocket, &mut lmtp)] {
                if let (_, Ok(secs)) = load_via(lab, node, via, &spread, n, c)? {
                    into.push(n as f64 / secs);
                }
            }
        }
        if smtp.is_empty() || lmtp.is_empty() {
            println!(
                "{name:<10} not all delivered within {} s",
                COMPARE_WAIT.as_secs()
            );
            continue;
        }
        let (s, l) = (median(smtp), median(lmtp));
        println!(
            "{name:<10} SMTP {s:7.1} msg/s   LMTP {l:7.1} msg/s   ratio SMTP / LMTP {:.2}",
            s / l
        );
    }
    println!("-- per-command SMTP latency, one session at a time, 300 messages over 30 mailboxes");
    let me = std::env::current_exe()?;
    for (name, _, addr) in boxes {
        let mut args = vec![
            me.to_string_lossy().into_owned(),
            "latency".into(),
            "--addr".into(),
            addr.into(),
            "--messages".into(),
            "300".into(),
        ];
        for r in &spread {
            args.extend(["--rcpt".to_string(), r.clone()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = lab.client(&args);
        anyhow::ensure!(
            out.status.success(),
            "{name}: latency run failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            println!("{name:<10} {line}");
        }
    }
    lab.ok(&["down"]);
    Ok(())
}

/// Copies this program into `node` as /usr/local/bin/mail-bench (for loads sent from inside).
fn copy_into(lab: &LabCli, node: &str) -> anyhow::Result<()> {
    let me = std::env::current_exe()?;
    let copy = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{} --name {} exec {node} -- sh -c 'cat > /usr/local/bin/mail-bench && chmod +x /usr/local/bin/mail-bench' < {}",
            lab.bin().display(),
            lab.name(),
            me.display()
        ))
        .output()?;
    anyhow::ensure!(copy.status.success(), "copy into {node} failed");
    Ok(())
}

fn install(lab: &LabCli, answers: &str) -> anyhow::Result<Duration> {
    let t = Instant::now();
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{} --name {} exec node1 -- pigeonair-install --answers - < {answers}",
            lab.bin().display(),
            lab.name()
        ))
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "install failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(t.elapsed())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(Inner::Latency {
        addr,
        messages,
        rcpts,
    }) = &args.inner
    {
        let rcpts = if rcpts.is_empty() {
            vec![RCPT.to_string()]
        } else {
            rcpts.clone()
        };
        return latency(addr, (*messages).max(1), &rcpts);
    }
    if let Some(Inner::Send {
        lmtp,
        addr,
        messages,
        concurrency,
        rcpts,
        tag,
    }) = args.inner
    {
        let rcpts = if rcpts.is_empty() {
            vec![RCPT.to_string()]
        } else {
            rcpts
        };
        let proto = if lmtp { Protocol::Lmtp } else { Protocol::Smtp };
        return Ok(smtp::send_many_tagged(
            &addr,
            proto,
            &rcpts,
            messages,
            concurrency,
            tag.as_deref(),
        )?);
    }
    let dir = std::env::current_exe()?
        .parent()
        .map(|d| d.to_owned())
        .ok_or_else(|| anyhow::anyhow!("no directory"))?;
    let lab = LabCli::new(dir.join("pigeonair-lab"), "bench3");
    let answers = format!(
        "{}/../appliance/core/examples/single-box.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    if args.compare_stock {
        let lab = LabCli::new(dir.join("pigeonair-lab"), "bench-stock");
        return compare_stock(&lab, &answers, args.messages, args.concurrency, args.rounds);
    }
    lab.run(&["down"]);
    lab.ok(&["up", "--bare", "--nodes", "1"]);

    println!("== install (package present in the image)");
    let started = Instant::now();
    let took = install(&lab, &answers)?;
    let sent = lab.client(&[
        "swaks",
        "--server",
        "203.0.113.11",
        "--to",
        RCPT,
        "--from",
        "a@client.example",
    ]);
    anyhow::ensure!(sent.status.success(), "first message refused");
    let served = wait_count(&lab, 1, Duration::from_secs(30))
        .ok_or_else(|| anyhow::anyhow!("first message never arrived"))?;
    println!("pigeonair-install           {:.2} s", took.as_secs_f64());
    println!(
        "install start → mail in Maildir {:.2} s",
        (served - started).as_secs_f64()
    );

    println!("== no-op re-apply (5 runs)");
    let mut runs: Vec<Duration> = (0..5)
        .map(|_| install(&lab, &answers))
        .collect::<Result<_, _>>()?;
    runs.sort();
    println!(
        "re-apply                    median {:.2} s [{:.2}–{:.2}]",
        runs[2].as_secs_f64(),
        runs[0].as_secs_f64(),
        runs[4].as_secs_f64()
    );

    let (n, c) = (args.messages, args.concurrency);
    println!("== delivery throughput: {n} messages, concurrency {c}");
    let me = std::env::current_exe()?;
    // SMTP from the client address to port 25.
    let smtp_rate = throughput(&lab, "SMTP → Postfix → LMTP → Maildir", n, || {
        lab.client(&[
            me.to_str().unwrap_or_default(),
            "send",
            "--addr",
            "203.0.113.11:25",
            "--messages",
            &n.to_string(),
            "--concurrency",
            &c.to_string(),
        ])
    })?;
    // The same messages straight into Dovecot's LMTP, sent from inside the node.
    copy_into(&lab, "node1")?;
    // Into the socket Postfix delivers to, so the two paths end in the same listener.
    let lmtp_rate = throughput(&lab, "LMTP straight into Dovecot", n, || {
        lab.exec(
            "node1",
            &[
                "mail-bench",
                "send",
                "--lmtp",
                "--addr",
                LMTP_SOCKET,
                "--messages",
                &n.to_string(),
                "--concurrency",
                &c.to_string(),
            ],
        )
    })?;
    println!(
        "ratio SMTP / LMTP                {:.2}",
        smtp_rate / lmtp_rate
    );
    lab.ok(&["down"]);
    Ok(())
}
