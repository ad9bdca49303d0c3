//! What the in-VM scenario programs (`balancer-scenario`, `balancer-scenario-pair`) share:
//! shell commands, network namespaces, waiting, and the step lines they print.

use std::fs::File;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use nix::sched::{CloneFlags, setns};

/// A step's result: what it measured, or what broke.
pub type Res<T> = Result<T, String>;

/// Runs `cmd` with `sh -c`: its standard output, or an error with its exit and stderr.
pub fn sh(cmd: &str) -> Res<String> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd}: exit {:?}: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `f` on a thread inside network namespace `ns`; sockets it makes stay in that namespace.
pub fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/run/netns/{ns}");
    thread::spawn(move || {
        let file = File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        setns(file, CloneFlags::CLONE_NEWNET).unwrap_or_else(|e| panic!("setns {path}: {e}"));
        f()
    })
    .join()
    .expect("netns thread")
}

/// Polls `f` every `every` until it says yes (how long that took) or `limit` has passed.
pub fn wait_for(
    what: &str,
    limit: Duration,
    every: Duration,
    mut f: impl FnMut() -> Res<bool>,
) -> Res<Duration> {
    let start = Instant::now();
    loop {
        if f()? {
            return Ok(start.elapsed());
        }
        if start.elapsed() > limit {
            return Err(format!("{what}: not within {} ms", limit.as_millis()));
        }
        thread::sleep(every);
    }
}

/// Prints `ok: NAME: DETAIL` for a step that worked; names the step in its error.
pub fn step(name: &str, r: Res<String>) -> Res<()> {
    match r {
        Ok(detail) => {
            println!("ok: {name}: {detail}");
            Ok(())
        }
        Err(e) => Err(format!("{name}: {e}")),
    }
}

/// `msg` as the error unless `cond` holds.
pub fn expect(cond: bool, msg: impl FnOnce() -> String) -> Res<()> {
    if cond { Ok(()) } else { Err(msg()) }
}

/// The median and the maximum of `v` (not empty).
pub fn median(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[v.len() - 1])
}
