//! Figures 10 and 11: the two directory providers, on a 3-node lab `bench-prov` (or `--lab
//! NAME`): node1 and node2 providers, node3 a replica of both.
//!
//! 10. Provider failover seen by a writing client: `pigeonctl user add` in a loop on node3 (a
//!     replica: pigeonctl there works on the first provider that answers) and, beside it, an
//!     `ldapmodify` loop on node2 (the provider that stays: its writes are local), each write's
//!     start and end taken
//!     with the nodes' clock (one host clock). node1 is killed (`pigeonair-lab kill`: a power
//!     cut); measured from the end of the kill to the end of the first successful write that
//!     started after it (goal < 2 s), with the writes that failed and the longest time without
//!     a successful write around the kill, against the same writer's latency before the kill.
//! 11. Catch-up of a provider that missed 10,000 changes: with node1 still down, 10,000
//!     entries are added on node2 (one `ldapadd` over ldapi), node1 is powered on again, and
//!     measured from the end of its boot until its suffix's `contextCSN` is node2's and both
//!     hold the same number of entries (`slapcat`), against the time node2 took to make the
//!     changes.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pigeonair_tests::support::LabCli;

use super::{context_csn, goal, quantile, sh, sh_in, wait_until};

/// The default lab.
pub const LAB: &str = "bench-prov";
/// Changes node1 misses in figure 11.
const MISSED: usize = 10_000;
/// Where a writer logs `START END ok|fail` per write (seconds since the epoch).
const LOG: &str = "/run/bench-writes";
/// A writer stops once this file exists.
const STOP: &str = "/run/bench-writes.stop";

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// What a writer writes.
#[derive(Clone, Copy)]
enum Writer {
    /// `pigeonctl user add` (a uid from a provider's counter, the user's entry), users homed
    /// on node3: what an administrator or a provisioning system does.
    UserAdd,
    /// `ldapmodify` over ldapi of one attribute of one entry (`cn=bench-writes`): a bare LDAP
    /// write, with no counter to share with the other writer.
    Modify,
}

/// A writer in a loop on `node`, each write's start, end and outcome logged in the node.
fn start_writer(lab: &LabCli, node: &str, tag: &str, what: Writer) -> anyhow::Result<Child> {
    let write = match what {
        Writer::UserAdd => format!(
            "echo password-of-{tag} | pigeonctl user add {tag}-$i@example.com \
             --node mx3.example.com --password-stdin"
        ),
        Writer::Modify => format!(
            "printf 'dn: cn=bench-writes,o=pigeonair\\nchangetype: modify\\nreplace: \
             description\\ndescription: {tag} %s\\n' $i | ldapmodify -Q -Y EXTERNAL -H ldapi:///"
        ),
    };
    let script = format!(
        "rm -f {LOG} {STOP}; i=0; while [ ! -e {STOP} ]; do i=$((i+1)); s=$(date +%s.%N); \
         if {write} >/dev/null 2>>{LOG}.err; then r=ok; else r=fail; fi; \
         echo \"$s $(date +%s.%N) $r\" >> {LOG}; done"
    );
    Ok(Command::new(lab.bin())
        .args([
            "--name",
            lab.name(),
            "exec",
            node,
            "--",
            "sh",
            "-c",
            &script,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?)
}

/// One write as the writer logged it.
struct Write {
    start: f64,
    end: f64,
    ok: bool,
}

fn stop_writer(lab: &LabCli, node: &str, mut child: Child) -> anyhow::Result<Vec<Write>> {
    sh(lab, node, &format!("touch {STOP}"))?;
    child.wait()?;
    let text = sh(lab, node, &format!("cat {LOG}"))?;
    Ok(text
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some(Write {
                start: f.next()?.parse().ok()?,
                end: f.next()?.parse().ok()?,
                ok: f.next()? == "ok",
            })
        })
        .collect())
}

/// What one writer saw around a kill that ended at `killed`.
fn failover_line(name: &str, writes: &[Write], killed: f64) -> (String, Option<f64>) {
    let before: Vec<f64> = writes
        .iter()
        .filter(|w| w.ok && w.end < killed)
        .map(|w| (w.end - w.start) * 1000.0)
        .collect();
    let first = writes
        .iter()
        .filter(|w| w.ok && w.start >= killed)
        .map(|w| w.end - killed)
        .reduce(f64::min);
    let failed = writes.iter().filter(|w| !w.ok && w.end >= killed).count();
    // The longest time without a successful write, from the last before the kill.
    let mut ends: Vec<f64> = writes.iter().filter(|w| w.ok).map(|w| w.end).collect();
    ends.sort_by(f64::total_cmp);
    let gap = ends
        .windows(2)
        .filter(|p| p[1] >= killed)
        .map(|p| p[1] - p[0])
        .fold(0.0, f64::max);
    let after: Vec<f64> = writes
        .iter()
        .filter(|w| w.ok && w.start >= killed)
        .map(|w| (w.end - w.start) * 1000.0)
        .collect();
    let p50 = |v: &[f64]| {
        if v.is_empty() {
            "-".to_owned()
        } else {
            format!("{:.0} ms", quantile(v, 0.5))
        }
    };
    (
        format!(
            "   {name:<34} first write after the kill {:>7}  longest without a write {:5.2} s  \
             failed {failed:>3}  write p50 before {:>7}, after {:>7} ({} writes)",
            first
                .map(|s| format!("{s:.2} s"))
                .unwrap_or_else(|| "none".into()),
            gap,
            p50(&before),
            p50(&after),
            writes.len()
        ),
        first,
    )
}

/// Entries in `node`'s directory (slapcat: a search is held to 1,000 entries).
fn entries(lab: &LabCli, node: &str) -> anyhow::Result<usize> {
    Ok(sh(lab, node, "slapcat -n1 | grep -c '^dn: '")?
        .trim()
        .parse()?)
}

/// Figures 10 and 11 alone.
pub fn providers_only(lab: &LabCli) -> anyhow::Result<()> {
    lab.run(&["down"]);
    lab.ok(&["up", "--nodes", "3"]);
    println!("-- 10. provider failover seen by a writing client (node1 killed)");
    sh_in(
        lab,
        "node2",
        "ldapadd -Q -Y EXTERNAL -H ldapi:/// >/dev/null",
        "dn: cn=bench-writes,o=pigeonair\nobjectClass: organizationalRole\ncn: bench-writes\n",
    )?;
    let replica = start_writer(lab, "node3", "fo3", Writer::UserAdd)?;
    let provider = start_writer(lab, "node2", "fo2", Writer::Modify)?;
    std::thread::sleep(Duration::from_secs(5));
    let t = Instant::now();
    lab.ok(&["kill", "node1"]);
    let killed = now();
    let kill_took = t.elapsed();
    std::thread::sleep(Duration::from_secs(30));
    let on_replica = stop_writer(lab, "node3", replica)?;
    let on_provider = stop_writer(lab, "node2", provider)?;
    println!(
        "   (`pigeonair-lab kill node1` took {:.2} s; times from its end)",
        kill_took.as_secs_f64()
    );
    let (line, first) = failover_line("user add on node3 (replica):", &on_replica, killed);
    println!("{line}");
    let (line, _) = failover_line("ldapmodify on node2 (provider):", &on_provider, killed);
    println!("{line}");
    // The replica's writes from just before the kill on: when each started (from the kill)
    // and how long it took.
    let around: Vec<String> = on_replica
        .iter()
        .filter(|w| w.end >= killed)
        .take(12)
        .map(|w| {
            format!(
                "{:+.2} s {:.2} s {}",
                w.start - killed,
                w.end - w.start,
                if w.ok { "ok" } else { "failed" }
            )
        })
        .collect();
    println!(
        "   node3's writes from the kill on (start, took): {}",
        around.join(" | ")
    );
    println!(
        "   kill → first successful write through the replica: {} (goal < 2 s: {})",
        first
            .map(|s| format!("{s:.2} s"))
            .unwrap_or_else(|| "none in 30 s".into()),
        goal(first.is_some_and(|s| s < 2.0))
    );
    let errors = sh(
        lab,
        "node3",
        &format!("sort {LOG}.err | uniq -c | sort -rn | head -3"),
    )?;
    for l in errors.lines() {
        println!("   node3's pigeonctl said: {}", l.trim());
    }

    println!("-- 11. catch-up of a provider that missed {MISSED} changes");
    let ldif: String = std::iter::once(
        "dn: ou=bench,o=pigeonair\nobjectClass: organizationalUnit\nou: bench\n\n".to_owned(),
    )
    .chain((1..=MISSED).map(|i| {
        format!(
            "dn: cn=missed-{i},ou=bench,o=pigeonair\nobjectClass: organizationalRole\n\
             cn: missed-{i}\ndescription: change {i} made while node1 was down\n\n"
        )
    }))
    .collect();
    let t = Instant::now();
    sh_in(
        lab,
        "node2",
        "ldapadd -Q -Y EXTERNAL -H ldapi:/// >/dev/null",
        &ldif,
    )?;
    let made = t.elapsed();
    println!(
        "   {} adds on node2 (one ldapadd over ldapi): {:.1} s ({:.0}/s)",
        MISSED + 1,
        made.as_secs_f64(),
        (MISSED + 1) as f64 / made.as_secs_f64()
    );
    let t = Instant::now();
    lab.ok(&["start", "node1"]);
    let boot = t.elapsed();
    let want = entries(lab, "node2")?;
    let caught_up = wait_until(
        "node1 caught up with node2",
        Duration::from_secs(600),
        Duration::from_millis(200),
        || {
            let (a, b) = (context_csn(lab, "node1"), context_csn(lab, "node2")?);
            Ok(a.is_ok_and(|a| a == b) && entries(lab, "node1").is_ok_and(|n| n == want))
        },
    )?;
    println!(
        "   node1 powered on: boot {:.1} s, then caught up (contextCSN and {want} entries the \
         same as node2's) in {:.1} s: {:.1} s from power-on, {:.1}× the time node2 took to \
         make the changes",
        boot.as_secs_f64(),
        caught_up.as_secs_f64(),
        (boot + caught_up).as_secs_f64(),
        caught_up.as_secs_f64() / made.as_secs_f64()
    );
    Ok(())
}
