//! `mail-bench`: figures for one installed node. Prints, never asserts.
//!
//! - install: `pigeonair-install --answers -` on a fresh node, and from its start until a
//!   message sent over SMTP is in the Maildir ("time to serving mail");
//! - no-op re-apply time;
//! - delivery throughput: N messages over SMTP from the client with concurrency C, counted
//!   when in the Maildir, against the same messages injected straight into Dovecot's LMTP on
//!   the node (the ratio is the figure).
//!
//! Run as root after `scripts/build`: `target/debug/mail-bench [--messages 1000] [--concurrency 4]`.

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use pigeonair_tests::smtp::{self, Protocol};
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
}

#[derive(Subcommand)]
enum Inner {
    /// Send N messages (used inside the client namespace or the node).
    Send {
        #[arg(long)]
        lmtp: bool,
        #[arg(long)]
        addr: SocketAddr,
        #[arg(long)]
        messages: usize,
        #[arg(long)]
        concurrency: usize,
        /// Recipients, taken in turn (default: postmaster@example.com).
        #[arg(long = "rcpt")]
        rcpts: Vec<String>,
    },
}

const RCPT: &str = "postmaster@example.com";

fn maildir_count(lab: &LabCli) -> usize {
    let out = lab.exec(
        "node1",
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
    if let Some(Inner::Send {
        lmtp,
        addr,
        messages,
        concurrency,
        rcpts,
    }) = args.inner
    {
        let rcpts = if rcpts.is_empty() {
            vec![RCPT.to_string()]
        } else {
            rcpts
        };
        let proto = if lmtp { Protocol::Lmtp } else { Protocol::Smtp };
        return Ok(smtp::send_many(addr, proto, &rcpts, messages, concurrency)?);
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
    let copy = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{} --name {} exec node1 -- sh -c 'cat > /usr/local/bin/mail-bench && chmod +x /usr/local/bin/mail-bench' < {}",
            lab.bin().display(),
            lab.name(),
            me.display()
        ))
        .output()?;
    anyhow::ensure!(copy.status.success(), "copy into the node failed");
    let lmtp_rate = throughput(&lab, "LMTP straight into Dovecot", n, || {
        lab.exec(
            "node1",
            &[
                "mail-bench",
                "send",
                "--lmtp",
                "--addr",
                "10.42.0.11:24",
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
