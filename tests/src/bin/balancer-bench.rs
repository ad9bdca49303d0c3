//! `balancer-bench`: figures for the balancer. Prints, never asserts.
//!
//! - `ipvs`: in a VM with the image's kernel (`balancer-scenario bench-detect` and
//!   `bench-program`): how long a dead real server stays in rotation with the balancer's default
//!   checks (daemon refusing; node silent) and with keepalived's defaults as the anchor; and the
//!   time to program 1,000 services × 3 destinations against `ipvsadm -R` of the same table.
//! - `pair`: in a VM (`balancer-scenario-pair bench-failover`): a balancer pair (VRRPv3,
//!   100 ms adverts, nopreempt), the master's power cut while a client connects to the VIP
//!   again and again: from the cut to the first answered connection (goal < 1 s), and the
//!   longest gap while the cut box comes back.
//! - `dns`: in a 3-node lab: from `systemctl stop postfix` (or node2's link going down) to
//!   node2's address leaving the MX target's answer, polling `dig` from the client every 20 ms.
//!
//! Run as root after `cargo build --release --workspace`:
//! `target/release/balancer-bench ipvs [--runs 10] [--keepalived-runs 3]`,
//! `target/release/balancer-bench dns [--runs 10]`,
//! `target/release/balancer-bench pair [--runs 5]`.

use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use pigeonair_lab::vm::Vm;
use pigeonair_tests::support::{LabCli, stdout};

#[derive(Parser)]
#[command(about = "Measure the balancer's detection time and IPVS programming speed")]
struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(Subcommand)]
enum What {
    /// IPVS in a VM.
    Ipvs {
        #[arg(long, default_value_t = 10)]
        runs: usize,
        #[arg(long, default_value_t = 3)]
        keepalived_runs: usize,
        #[arg(long, default_value_t = 1000)]
        services: usize,
    },
    /// A balancer pair's failover, in a VM.
    Pair {
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// DNS mode in a lab.
    Dns {
        #[arg(long, default_value_t = 10)]
        runs: usize,
    },
    /// DNS mode on a 3-node lab: a mail burst saturates the machine while the balancer checks
    /// node2; how often is the healthy, busy node taken out? The default checks (a short
    /// bound for the connect, a long one for the dialogue) against one short bound for both
    /// (what the checks were before), in the same run.
    Load {
        /// Messages in each burst.
        #[arg(long, default_value_t = 4000)]
        messages: usize,
        /// Concurrent SMTP sessions of each burst.
        #[arg(long, default_value_t = 48)]
        concurrency: usize,
    },
}

fn main() -> anyhow::Result<()> {
    match Args::parse().what {
        What::Ipvs {
            runs,
            keepalived_runs,
            services,
        } => {
            let scenario = std::env::current_exe()?.with_file_name("balancer-scenario");
            let vm = Vm::from_image()?;
            for args in [
                vec!["bench-program".to_string(), services.to_string()],
                vec![
                    "bench-detect".to_string(),
                    runs.to_string(),
                    keepalived_runs.to_string(),
                ],
            ] {
                let mut argv = vec![scenario.display().to_string()];
                argv.extend(args);
                let out = vm.run(&argv, &[], Duration::from_secs(1800))?;
                for line in out.output().lines().filter(|l| {
                    l.starts_with("program ")
                        || l.starts_with("pigeonair-balancer (")
                        || l.starts_with("keepalived")
                        || l.contains("FAILED")
                }) {
                    println!("{line}");
                }
            }
        }
        What::Pair { runs } => {
            let scenario = std::env::current_exe()?.with_file_name("balancer-scenario-pair");
            let vm = Vm::from_image()?;
            let argv = vec![
                scenario.display().to_string(),
                "bench-failover".to_string(),
                runs.to_string(),
            ];
            let out = vm.run(&argv, &[], Duration::from_secs(1800))?;
            for line in out
                .output()
                .lines()
                .filter(|l| l.starts_with("balancer pair") || l.contains("FAILED"))
            {
                println!("{line}");
            }
        }
        What::Dns { runs } => dns(runs)?,
        What::Load {
            messages,
            concurrency,
        } => load(messages, concurrency)?,
    }
    Ok(())
}

const LAB: &str = "bench-dns";
const MX: &str = "mx.cluster.example.net";

fn dig(lab: &LabCli) -> String {
    stdout(&lab.client(&[
        "dig",
        "@203.0.113.11",
        MX,
        "A",
        "+short",
        "+time=1",
        "+tries=1",
    ]))
}

fn until(lab: &LabCli, f: impl Fn(&str) -> bool) -> f64 {
    let t = Instant::now();
    while !f(&dig(lab)) {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "no change within 30 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    t.elapsed().as_secs_f64()
}

fn dns(runs: usize) -> anyhow::Result<()> {
    let bin = std::env::current_exe()?.with_file_name("pigeonair-lab");
    let lab = LabCli::new(bin, LAB);
    lab.run(&["down"]);
    // A three-node cluster: node2 and node3 join node1 with tokens.
    lab.ok(&["up", "--nodes", "3"]);
    let config = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../balancer/examples/balancer-dns.toml"
    ))?
    .replace("drain = true", "");
    lab.exec_with_input(
        "node1",
        "mkdir -p /etc/pigeonair && cat > /etc/pigeonair/balancer.toml",
        &config,
    );
    until(&lab, |a| {
        a.contains("203.0.113.12") && a.lines().count() == 3
    });
    let (mut stopped, mut silent) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        lab.exec("node2", &["systemctl", "stop", "postfix"]);
        stopped.push(until(&lab, |a| !a.contains("203.0.113.12")));
        lab.exec("node2", &["systemctl", "start", "postfix"]);
        until(&lab, |a| a.contains("203.0.113.12"));
        lab.exec("node2", &["ip", "link", "set", "eth0", "down"]);
        silent.push(until(&lab, |a| !a.contains("203.0.113.12")));
        lab.exec("node2", &["ip", "link", "set", "eth0", "up"]);
        lab.exec("node2", &["networkctl", "reconfigure", "eth0"]);
        until(&lab, |a| a.contains("203.0.113.12"));
    }
    let show = |what: &str, mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        println!(
            "DNS mode, {what}: median {:.3} s, max {:.3} s over {} runs (defaults: interval 200 ms, timeout 400 ms, fall 2; dig every 20 ms)",
            v[v.len() / 2],
            v[v.len() - 1],
            v.len()
        );
    };
    show("postfix stopped on node2", stopped);
    show("node2's link down (silent)", silent);
    lab.run(&["down"]);
    Ok(())
}

/// The host's CPU time so far: (busy, total) jiffies from /proc/stat.
fn cpu_jiffies() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let v: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().sum();
    // idle + iowait
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

fn load(messages: usize, concurrency: usize) -> anyhow::Result<()> {
    let bin = std::env::current_exe()?.with_file_name("pigeonair-lab");
    let sender = std::env::current_exe()?.with_file_name("mail-bench");
    let lab = LabCli::new(bin, "bench-load");
    lab.run(&["down"]);
    // A three-node cluster: node2 and node3 join node1 with tokens.
    lab.ok(&["up", "--nodes", "3"]);
    let base = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../balancer/examples/balancer-dns.toml"
    ))?;
    let variants = [
        (
            "default checks (connect 400 ms, dialogue 10 s)",
            base.clone(),
        ),
        (
            "one 400 ms bound for connect and dialogue (as before)",
            base.replace(
                "mode = \"dns\"",
                "mode = \"dns\"\n[check]\ntimeout_ms = 400\nreply_timeout_ms = 400",
            ),
        ),
    ];
    println!(
        "== a healthy node under its own mail load: {messages} messages over {concurrency} SMTP sessions to node2, per variant"
    );
    for (label, config) in variants {
        lab.exec_with_input(
            "node1",
            "mkdir -p /etc/pigeonair && cat > /etc/pigeonair/balancer.toml && systemctl restart pigeonair-balancer.service",
            &config,
        );
        until(&lab, |a| {
            a.contains("203.0.113.12") && a.lines().count() == 3
        });
        std::thread::sleep(Duration::from_secs(2));
        let since = stdout(&lab.exec("node1", &["date", "+%s"]))
            .trim()
            .to_string();
        let (b0, t0) = cpu_jiffies();
        let started = Instant::now();
        let out = lab.client(&[
            &sender.to_string_lossy(),
            "send",
            "--addr",
            "203.0.113.12:25",
            "--messages",
            &messages.to_string(),
            "--concurrency",
            &concurrency.to_string(),
        ]);
        anyhow::ensure!(
            out.status.success(),
            "the burst was refused: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let took = started.elapsed().as_secs_f64();
        let (b1, t1) = cpu_jiffies();
        std::thread::sleep(Duration::from_secs(2));
        let journal = stdout(&lab.exec(
            "node1",
            &[
                "journalctl",
                "-u",
                "pigeonair-balancer",
                "--since",
                &format!("@{since}"),
                "-o",
                "cat",
                "--no-pager",
            ],
        ));
        let outs: Vec<&str> = journal
            .lines()
            .filter(|l| l.starts_with("node2 ") && l.contains("down after"))
            .collect();
        println!(
            "{label}: node2 taken out {} time(s) during a {took:.1} s burst, host CPU {:.0}% busy{}",
            outs.len(),
            100.0 * (b1 - b0) as f64 / (t1 - t0).max(1) as f64,
            outs.first()
                .map(|l| format!("; first: {l}"))
                .unwrap_or_default()
        );
    }
    lab.run(&["down"]);
    Ok(())
}
