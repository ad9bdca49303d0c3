//! Figure 9: a node's queued mail after a power cut, on a 3-node lab `bench-outage` (or
//! `--lab NAME`). node2 is killed (`pigeonair-lab kill`: nothing shut down), `--messages`
//! messages (default 500) to five users homed on node2 are sent to node1's public address while
//! it is down (accepted and queued there with a temporary failure), node2 stays down 20 s more
//! so Postfix's first retries have failed too, then it is powered on again. Measured from the end
//! of its boot until every message is in node2's Maildirs (goal < 60 s; Postfix alone would wait
//! out its backoff, up to `maximal_backoff_time`, 4000 s). Also: the time a login for one of
//! node2's users at node1 takes to get its temporary error while node2 is down.

use std::time::{Duration, Instant};

use pigeonair_tests::support::LabCli;

use super::{Tools, add_users, maildir_count, send, sh, wait_until};

/// The default lab.
pub const LAB: &str = "bench-outage";

/// Figure 9 alone.
pub fn outage_only(lab: &LabCli, tools: &Tools, messages: usize) -> anyhow::Result<()> {
    lab.run(&["down"]);
    lab.ok(&["up", "--nodes", "3"]);
    let users: Vec<(String, usize)> = (1..=5).map(|i| (format!("q{i}"), 2)).collect();
    add_users(lab, &users, &["node2", "node3"])?;
    let rcpts: Vec<String> = users
        .iter()
        .map(|(u, _)| format!("{u}@example.com"))
        .collect();
    println!("-- 9. a node's queued mail after a power cut ({messages} messages)");
    lab.ok(&["kill", "node2"]);
    let t = Instant::now();
    let out = lab.client(&[
        "python3",
        &format!("{}/clients/mailclient.py", env!("CARGO_MANIFEST_DIR")),
        "imap",
        "203.0.113.11",
        "993",
        "tls",
        "q1@example.com",
        "password-of-q1",
    ]);
    println!(
        "   a login at node1 for a user of the dead node: {:.1} s to \"{}\"",
        t.elapsed().as_secs_f64(),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let out = send(lab, tools, "203.0.113.11:25", messages, 4, &rcpts);
    anyhow::ensure!(
        out.status.success(),
        "the load: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let queued = sh(lab, "node1", "postqueue -j | wc -l")?;
    println!(
        "   sent while node2 was down: {messages}; queued on node1: {}",
        queued.trim()
    );
    std::thread::sleep(Duration::from_secs(20));
    lab.ok(&["start", "node2"]);
    let took = wait_until(
        "node2's queued mail delivered",
        Duration::from_secs(600),
        Duration::from_millis(200),
        || Ok(maildir_count(lab, "node2")? >= messages),
    )?;
    println!(
        "   boot finished → all {messages} in node2's Maildirs: {:.1} s (goal < 60 s: {})",
        took.as_secs_f64(),
        super::goal(took < Duration::from_secs(60))
    );
    Ok(())
}
