//! Figure 8: how soon `pigeonair-console` shows a change, on a 3-node lab `bench-cons` (or
//! `--lab NAME`): the console runs on node1 in a tmux session (160×40) and its screen is read
//! every 10 ms. Measured from the moment the change is made until its row shows it:
//! - a state change written to the directory: `pigeonctl node drain` of node3, which holds no
//!   mailbox (active → draining, which node3 soon makes drained), then `node undrain`
//!   (→ active), `--changes` times each (goal < 2 s);
//! - a node losing power (`pigeonair-lab kill node3`) until its row says it does not answer,
//!   and its return (`pigeonair-lab start node3`, from the boot's end) until it answers again.

use std::time::{Duration, Instant};

use pigeonair_tests::support::LabCli;
use pigeonair_tests::tmux::Tmux;

use super::{median, quantile, sh};

/// The default lab.
pub const LAB: &str = "bench-cons";

fn row<'a>(screen: &'a str, short: &str) -> Option<&'a str> {
    screen.lines().find(|l| {
        l.trim_start_matches(['│', '|', ' ', '>'])
            .starts_with(short)
    })
}

/// Seconds from now until `ok` holds for node3's row (at most 30 s).
fn until(console: &Tmux, ok: impl Fn(&str) -> bool) -> anyhow::Result<f64> {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(30) {
        if row(&console.screen(), "mx3").is_some_and(&ok) {
            return Ok(t.elapsed().as_secs_f64());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    anyhow::bail!(
        "the console did not show it within 30 s:\n{}",
        console.screen()
    )
}

fn show(what: &str, v: &[f64]) {
    println!(
        "   {what}: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms ({} changes)",
        median(v) * 1000.0,
        quantile(v, 0.99) * 1000.0,
        v.iter().copied().fold(0.0, f64::max) * 1000.0,
        v.len()
    );
}

/// Figure 8 alone.
pub fn console_only(lab: &LabCli, changes: usize) -> anyhow::Result<()> {
    lab.run(&["down"]);
    lab.ok(&["up", "--nodes", "3"]);
    let console = Tmux::start(
        "pigeonair-bench-console",
        160,
        40,
        &format!(
            "{} --name {} exec node1 -- pigeonair-console",
            lab.bin().display(),
            lab.name()
        ),
    );
    until(&console, |r| r.contains("active"))?;
    println!("-- 8. the console: from a change to its row showing it (goal < 2 s)");
    let (mut drained, mut active) = (Vec::new(), Vec::new());
    for _ in 0..changes {
        sh(
            lab,
            "node1",
            "pigeonctl node drain mx3.example.com --no-wait",
        )?;
        drained.push(until(&console, |r| r.contains("drain"))?);
        until(&console, |r| r.contains("drained"))?;
        sh(lab, "node1", "pigeonctl node undrain mx3.example.com")?;
        active.push(until(&console, |r| r.contains("active"))?);
    }
    show("drain written → draining (or drained) shown", &drained);
    show("undrain written → active shown", &active);
    let (mut down, mut up) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        lab.ok(&["kill", "node3"]);
        down.push(until(&console, |r| r.contains("unreachable"))?);
        lab.ok(&["start", "node3"]);
        up.push(until(&console, |r| {
            !r.contains("unreachable") && r.contains("active")
        })?);
    }
    show("power cut → unreachable shown", &down);
    show("boot finished → answering shown", &up);
    drop(console);
    Ok(())
}
