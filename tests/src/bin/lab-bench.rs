//! `lab-bench`: figures for the image and the lab. Prints, never asserts.
//!
//! - cold image build (`--cold`: into a scratch store, removed afterwards) and warm rebuild;
//! - `pigeonair-lab up` of 1 and of 3 nodes with a warm image, and `down`, over `--runs` runs;
//! - memory of an idle node (sum of PSS and RSS of the processes in its cgroup).
//!
//! Run as root after `cargo build --release --workspace`:
//! `target/release/lab-bench [--cold] [--runs 5]`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;
use pigeonair_image::{Debs, ImageSpec, ImageStore, Mirror, ensure_image};
use pigeonair_lab::{cgroup, procs};
use pigeonair_tests::support::LabCli;

#[derive(Parser)]
#[command(about = "Measure image build, lab up/down and idle node memory")]
struct Args {
    /// Also measure a cold image build (about a minute; needs the Debian mirror).
    #[arg(long)]
    cold: bool,
    /// Runs of each up/down measurement.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Seconds to let nodes settle before reading their memory.
    #[arg(long, default_value_t = 10)]
    settle: u64,
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let t = Instant::now();
    let r = f();
    (r, t.elapsed())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let lab_bin = std::env::current_exe()?
        .parent()
        .map(|d| d.join("pigeonair-lab"))
        .filter(|p| p.is_file())
        .ok_or_else(|| anyhow::anyhow!("pigeonair-lab not built beside lab-bench: run `cargo build --workspace` (same profile)"))?;
    let mirror = Mirror::from_host()?;
    let spec = ImageSpec::appliance();
    let no_debs = Debs::default();
    let mut sink = std::io::sink();

    println!("== image");
    if args.cold {
        let scratch = PathBuf::from(format!(
            "/var/tmp/pigeonair-bench-store-{}",
            std::process::id()
        ));
        let store = ImageStore::new(&scratch);
        let (r, cold) =
            timed(|| ensure_image(&store, &spec, &mirror, &no_debs, &mut std::io::stdout()));
        r?;
        let (r, warm) = timed(|| ensure_image(&store, &spec, &mirror, &no_debs, &mut sink));
        r?;
        let size = du(&scratch);
        std::fs::remove_dir_all(&scratch)?;
        println!("cold build          {}", secs(cold));
        println!("warm rebuild        {}", secs(warm));
        println!("image size          {size}");
    } else {
        let store = ImageStore::from_env();
        ensure_image(&store, &spec, &mirror, &no_debs, &mut sink)?;
        let (r, warm) = timed(|| ensure_image(&store, &spec, &mirror, &no_debs, &mut sink));
        r?;
        println!(
            "warm rebuild        {} (cold build: pass --cold)",
            secs(warm)
        );
    }

    println!("== lab (warm image, {} runs, median [min–max])", args.runs);
    for nodes in [1u32, 3] {
        let lab = LabCli::new(&lab_bin, "bench");
        lab.run(&["down"]);
        let n = nodes.to_string();
        let mut ups = Vec::new();
        let mut downs = Vec::new();
        for _ in 0..args.runs {
            let (_, up) = timed(|| lab.ok(&["up", "--bare", "--nodes", &n]));
            let (_, down) = timed(|| lab.ok(&["down"]));
            ups.push(up);
            downs.push(down);
        }
        let range = |v: &[Duration]| {
            format!(
                "[{:.2}–{:.2}]",
                v.iter().min().unwrap().as_secs_f64(),
                v.iter().max().unwrap().as_secs_f64()
            )
        };
        println!(
            "up   --nodes {nodes}     {} {}",
            secs(median(ups.clone())),
            range(&ups)
        );
        println!(
            "down ({nodes} node(s))    {} {}",
            secs(median(downs.clone())),
            range(&downs)
        );
    }

    println!("== idle node memory (3-node lab, after {} s)", args.settle);
    let lab = LabCli::new(&lab_bin, "bench");
    lab.ok(&["up", "--bare", "--nodes", "3"]);
    std::thread::sleep(Duration::from_secs(args.settle));
    for node in ["node1", "node2", "node3"] {
        let rel = cgroup::lab_relative("bench").join(node).join("payload");
        let pids = cgroup::processes(&rel);
        let (pss, rss) = pids
            .iter()
            .filter_map(|p| procs::memory_kib(*p))
            .fold((0, 0), |(a, b), (p, r)| (a + p, b + r));
        println!(
            "{node}: {} processes, PSS {:.1} MiB, RSS {:.1} MiB",
            pids.len(),
            pss as f64 / 1024.0,
            rss as f64 / 1024.0
        );
    }
    drop(lab);
    Ok(())
}

fn du(dir: &std::path::Path) -> String {
    std::process::Command::new("du")
        .args(["-sh"])
        .arg(dir)
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .next()
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "?".into())
}
