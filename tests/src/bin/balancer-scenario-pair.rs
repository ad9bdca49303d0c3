//! A balancer pair fails over: run as root inside the VM (`tests/tests/balancer.rs` boots it
//! with `pigeonair_lab::vm`). Two balancer boxes, a client and three real servers are network
//! namespaces on one link, the VM's root namespace being the switch and the client's router:
//!
//! ```text
//!  b-client 198.51.100.2 ── 198.51.100.1 [root: router, bridge b-lan 10.42.0.1/24]
//!                                             ├── b-lb1 10.42.0.2  (priority 150)
//!                                             ├── b-lb2 10.42.0.3  (priority 100)
//!                                             └── b-rs1..3 10.42.0.11-13 (VIP on lo, DR)
//!  VIP 10.42.0.100: held by whichever balancer keepalived makes master
//! ```
//!
//! Each balancer box runs `pigeonair-balancer run` with its own `[ipvs.pair]` file; the daemon
//! runs keepalived and the kernel's sync daemons in that box. Killing a box is a power cut:
//! every process in its namespace is SIGKILLed and its link goes down. Bringing it back is a
//! boot: what a power cut loses (the kernel's IPVS table, sync daemons, addresses) is wiped,
//! the link comes up and the daemon starts again with the same disk (state directory).
//!
//! A client prober connects to the VIP again and again (150 ms connect limit, then at once
//! again), so "kill to first answered connection" is measured to within one attempt.
//! `pair` runs the story step by step; `bench-failover RUNS` kills the master RUNS times,
//! alternating boxes, and prints the figures.

use pigeonair_tests::scenario::{Res, expect, in_netns, median, sh, step, wait_for};
use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const VIP: &str = "10.42.0.100";
const PORTS: [u16; 3] = [25, 110, 143];
const WORK: &str = "/run/tmp/b-pair";
/// How long a step waits for an event: generous, because TCG on a loaded two-core host can be
/// many times slower than hardware; each step reports what it measured.
const BOUND: Duration = Duration::from_secs(60);

/// A balancer box: namespace, address, VRRP priority.
#[derive(Clone, Copy)]
struct Box_ {
    ns: &'static str,
    addr: &'static str,
    priority: u8,
}

const LB1: Box_ = Box_ {
    ns: "b-lb1",
    addr: "10.42.0.2",
    priority: 150,
};
const LB2: Box_ = Box_ {
    ns: "b-lb2",
    addr: "10.42.0.3",
    priority: 100,
};

impl Box_ {
    fn peer(self) -> Box_ {
        if self.ns == LB1.ns { LB2 } else { LB1 }
    }

    fn dir(self) -> PathBuf {
        Path::new(WORK).join(self.ns)
    }

    /// Round robin: with `wlc` a server holding one of the scenario's long sessions is never
    /// picked by a few dozen short ones (active connections weigh 256 inactive), and "new
    /// connections reach every server" is what the scenario checks.
    fn config(self) -> String {
        let mut c = format!(
            "mode = \"ipvs\"\n[ipvs]\nvip = \"{VIP}\"\ninterface = \"eth0\"\nforwarding = \"dr\"\n\
             scheduler = \"rr\"\nports = [25, 110, 143]\nremove_after = 5\n\
             [ipvs.pair]\npeer = \"{}\"\npriority = {}\nvirtual_router_id = 51\nadvert_interval_ms = 100\n\
             [check]\ninterval_ms = 200\ntimeout_ms = 1000\nrise = 2\nfall = 2\n",
            self.peer().addr,
            self.priority
        );
        for i in 1..=3 {
            c.push_str(&format!(
                "[[node]]\nname = \"b-rs{i}\"\naddress = \"10.42.0.1{i}\"\n"
            ));
        }
        c
    }

    /// Link up with its address and route: a fresh boot's network.
    fn network_up(self) -> Res<()> {
        sh(&format!(
            "ip -n {ns} link set lo up && ip -n {ns} addr flush dev eth0 \
             && ip -n {ns} addr add {addr}/24 dev eth0 && ip -n {ns} link set eth0 up \
             && ip -n {ns} route replace default via 10.42.0.1",
            ns = self.ns,
            addr = self.addr
        ))
        .map(|_| ())
    }

    /// Starts `pigeonair-balancer run` in the box, its output (and keepalived's) in a log.
    fn start(self) -> Res<()> {
        std::fs::create_dir_all(self.dir()).map_err(|e| e.to_string())?;
        std::fs::write(self.dir().join("balancer.toml"), self.config())
            .map_err(|e| e.to_string())?;
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.dir().join("log"))
            .map_err(|e| e.to_string())?;
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let bin = exe.with_file_name("pigeonair-balancer");
        let mut child: Child = Command::new("ip")
            .args(["netns", "exec", self.ns])
            .arg(&bin)
            .args(["run", "--config"])
            .arg(self.dir().join("balancer.toml"))
            .arg("--status-file")
            .arg(self.dir().join("status.json"))
            .arg("--state-dir")
            .arg(self.dir().join("state"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("{}: {e}", bin.display()))?;
        // Reaped by a thread so a killed daemon does not linger as a zombie.
        thread::spawn(move || {
            let _ = child.wait();
        });
        Ok(())
    }

    /// A power cut: every process in the box SIGKILLed at once, its link down.
    fn power_cut(self) -> Res<Instant> {
        let pids = sh(&format!("ip netns pids {}", self.ns))?;
        let pids: Vec<&str> = pids.split_whitespace().collect();
        // The link first: the kernel forwards without processes, so the box stops answering
        // and advertising when its link goes, and the cut is timed from then (a connection
        // started while `ip` ran could still pass the dying box).
        sh(&format!("ip -n {} link set eth0 down", self.ns))?;
        let at = Instant::now();
        if !pids.is_empty() {
            sh(&format!(
                "kill -KILL {} 2>/dev/null || true",
                pids.join(" ")
            ))?;
        }
        Ok(at)
    }

    /// Powers the box on: the kernel state a power cut loses is gone, the disk is kept.
    fn boot(self) -> Res<()> {
        let _ = sh(&format!(
            "ip netns exec {ns} ipvsadm --stop-daemon master; ip netns exec {ns} ipvsadm --stop-daemon backup; \
             ip netns exec {ns} ipvsadm -C",
            ns = self.ns
        ));
        self.network_up()?;
        self.start()
    }

    /// What its status says of VRRP: "VRRP master" or "VRRP backup" once keepalived runs.
    fn vrrp_role(self) -> Option<&'static str> {
        let s = std::fs::read_to_string(self.dir().join("status.json")).ok()?;
        ["VRRP master", "VRRP backup"]
            .into_iter()
            .find(|r| s.contains(r))
    }

    /// How often its keepalived has entered the BACKUP state (from its log): the status says
    /// "VRRP backup" as soon as keepalived runs, but keepalived takes seconds to start its VRRP
    /// process under TCG, and a box is a ready backup only once it is in that state.
    fn backup_entries(self) -> usize {
        std::fs::read_to_string(self.dir().join("log"))
            .unwrap_or_default()
            .matches("(pigeonair_vip) Entering BACKUP STATE")
            .count()
    }

    fn holds_vip(self) -> bool {
        sh(&format!("ip -n {} -4 addr show dev eth0", self.ns))
            .is_ok_and(|t| t.contains(&format!("inet {VIP}/32")))
    }

    fn ipvsadm(self, args: &str) -> Res<String> {
        sh(&format!("ip netns exec {} ipvsadm {args}", self.ns))
    }

    fn log_tail(self) -> String {
        let text = std::fs::read_to_string(self.dir().join("log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(25)..].join("\n")
    }
}

fn topology() -> Res<()> {
    sh("modprobe ip_vs && sysctl -qw net.ipv4.ip_forward=1")?;
    sh(
        "ip netns add b-client && ip link add b-vc type veth peer name eth0 netns b-client \
         && ip addr add 198.51.100.1/24 dev b-vc && ip link set b-vc up \
         && ip -n b-client addr add 198.51.100.2/24 dev eth0 && ip -n b-client link set eth0 up \
         && ip -n b-client link set lo up && ip -n b-client route add default via 198.51.100.1",
    )?;
    sh(
        "ip link add b-lan type bridge && ip addr add 10.42.0.1/24 dev b-lan && ip link set b-lan up",
    )?;
    let mut ports: Vec<(String, String)> = vec![
        ("b-lb1".into(), "vb-lb1".into()),
        ("b-lb2".into(), "vb-lb2".into()),
    ];
    ports.extend((1..=3).map(|i| (format!("b-rs{i}"), format!("vb-rs{i}"))));
    for (ns, port) in &ports {
        sh(&format!(
            "ip netns add {ns} && ip link add {port} type veth peer name eth0 netns {ns} \
             && ip link set {port} master b-lan && ip link set {port} up"
        ))?;
    }
    for i in 1..=3 {
        // What the appliance renders for direct routing: the VIP held locally, never
        // announced or answered for in ARP.
        sh(&format!(
            "ip -n b-rs{i} link set lo up && ip -n b-rs{i} addr add 10.42.0.1{i}/24 dev eth0 \
             && ip -n b-rs{i} link set eth0 up && ip -n b-rs{i} route add default via 10.42.0.1 \
             && ip netns exec b-rs{i} sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
             && ip -n b-rs{i} addr add {VIP}/32 dev lo"
        ))?;
    }
    LB1.network_up()?;
    LB2.network_up()
}

/// Tiny SMTP/POP3/IMAP responders that name their server in every reply.
fn real_server(ns: &'static str) {
    for port in PORTS {
        let listener = in_netns(ns, move || {
            TcpListener::bind(("0.0.0.0", port)).expect("bind")
        });
        thread::spawn(move || {
            for s in listener.incoming().flatten() {
                thread::spawn(move || converse(s, ns, port));
            }
        });
    }
}

fn converse(s: TcpStream, name: &str, port: u16) {
    let mut w = s.try_clone().expect("clone");
    let greeting = match port {
        25 => format!("220 {name} ESMTP\r\n"),
        110 => format!("+OK {name} POP3\r\n"),
        _ => format!("* OK {name} IMAP\r\n"),
    };
    if w.write_all(greeting.as_bytes()).is_err() {
        return;
    }
    let mut r = BufReader::new(s);
    let mut line = String::new();
    while r.read_line(&mut line).is_ok_and(|n| n > 0) {
        let cmd = line.trim().to_ascii_uppercase();
        line.clear();
        let reply = match port {
            25 if cmd == "QUIT" => "221 bye\r\n".to_string(),
            25 => format!("250 {name}\r\n"),
            110 => format!("+OK {name}\r\n"),
            _ => format!("* OK {name}\r\n"),
        };
        if w.write_all(reply.as_bytes()).is_err() || cmd == "QUIT" {
            return;
        }
    }
}

/// A client connection through the VIP.
struct Session {
    server: String,
    r: BufReader<TcpStream>,
}

fn connect_within(port: u16, connect: Duration, reply: Duration) -> Res<Session> {
    let addr: SocketAddr = format!("{VIP}:{port}").parse().expect("addr");
    let s = in_netns("b-client", move || {
        TcpStream::connect_timeout(&addr, connect)
    })
    .map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_read_timeout(Some(reply)).map_err(|e| e.to_string())?;
    let mut r = BufReader::new(s);
    let mut greeting = String::new();
    r.read_line(&mut greeting)
        .map_err(|e| format!("greeting from {addr}: {e}"))?;
    let skip = if greeting.starts_with("* OK") { 2 } else { 1 };
    let server = greeting
        .split_whitespace()
        .nth(skip)
        .ok_or_else(|| format!("greeting from {addr}: {greeting:?}"))?
        .to_string();
    Ok(Session { server, r })
}

fn connect(port: u16) -> Res<Session> {
    connect_within(port, Duration::from_secs(2), Duration::from_secs(3))
}

impl Session {
    fn noop(&mut self) -> Res<String> {
        self.r
            .get_mut()
            .write_all(b"NOOP\r\n")
            .map_err(|e| format!("NOOP: {e}"))?;
        let mut l = String::new();
        self.r
            .read_line(&mut l)
            .map_err(|e| format!("NOOP reply: {e}"))?;
        Ok(l.trim().to_string())
    }

    fn local_port(&self) -> u16 {
        self.r.get_ref().local_addr().map(|a| a.port()).unwrap_or(0)
    }
}

/// Connects to the VIP again and again in the background and keeps, for every answered
/// connection (a greeting read), when it was started and when it was answered, so outages can
/// be measured afterwards.
struct Prober {
    stop: Arc<AtomicBool>,
    answered: Arc<Mutex<Vec<(Instant, Instant)>>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Prober {
    fn start() -> Prober {
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(Mutex::new(Vec::new()));
        let (s, a) = (stop.clone(), answered.clone());
        let thread = thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let started = Instant::now();
                let r = connect_within(25, Duration::from_millis(150), Duration::from_millis(500));
                if r.is_ok() {
                    a.lock()
                        .expect("not poisoned")
                        .push((started, Instant::now()));
                    thread::sleep(Duration::from_millis(10));
                }
            }
        });
        Prober {
            stop,
            answered,
            thread: Some(thread),
        }
    }

    /// From `t` to the answer of the first connection started after `t` (one started before
    /// may be answered later: with direct routing the greeting does not pass the balancer).
    fn first_after(&self, t: Instant, limit: Duration) -> Res<Duration> {
        let start = Instant::now();
        loop {
            if let Some((_, end)) = self
                .answered
                .lock()
                .expect("not poisoned")
                .iter()
                .find(|(started, _)| *started > t)
            {
                return Ok(*end - t);
            }
            if start.elapsed() > limit {
                return Err(format!(
                    "no connection to the VIP answered within {} s",
                    limit.as_secs()
                ));
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// The longest time without an answered connection between `from` and `to`.
    fn longest_gap(&self, from: Instant, to: Instant) -> Duration {
        let a = self.answered.lock().expect("not poisoned");
        let mut times: Vec<Instant> = a
            .iter()
            .map(|&(_, end)| end)
            .filter(|&x| x >= from && x <= to)
            .collect();
        times.insert(0, from);
        times.push(to);
        times
            .windows(2)
            .map(|w| w[1] - w[0])
            .max()
            .unwrap_or_default()
    }
}

impl Drop for Prober {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Servers reached by `n` new connections to the VIP.
fn spread(n: usize) -> Res<BTreeSet<String>> {
    let mut seen = BTreeSet::new();
    for _ in 0..n {
        seen.insert(connect(25)?.server);
    }
    Ok(seen)
}

/// `ipvsadm -Ln` without the counters: services and destinations with method and weight.
fn table_shape(b: Box_) -> Res<BTreeSet<String>> {
    Ok(b.ipvsadm("-Ln")?
        .lines()
        .filter(|l| l.starts_with("TCP") || l.trim_start().starts_with("-> 10."))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f[..f.len().min(4)].join(" ")
        })
        .collect())
}

/// Both boxes up, lb1 master, lb2 backup with the same table, the prober answered.
fn bring_up() -> Res<()> {
    topology()?;
    for i in 1..=3 {
        real_server(["b-rs1", "b-rs2", "b-rs3"][i - 1]);
    }
    LB1.start()?;
    poll("b-lb1 holds the VIP", BOUND, || Ok(LB1.holds_vip()))?;
    LB2.start()?;
    poll("b-lb2's table equals b-lb1's", BOUND, || {
        let (a, b) = (table_shape(LB1)?, table_shape(LB2)?);
        Ok(a.len() == 3 + 9 && a == b)
    })?;
    poll("b-lb2 is VRRP backup", BOUND, || {
        Ok(LB2.vrrp_role() == Some("VRRP backup") && LB2.backup_entries() > 0)
    })?;
    expect(LB1.holds_vip() && !LB2.holds_vip(), || {
        "the VIP is not on b-lb1 alone".into()
    })
}

fn both_daemons(b: Box_) -> Res<bool> {
    let t = b.ipvsadm("-L --daemon")?;
    Ok(t.contains("master sync daemon (mcast=eth0, syncid=51")
        && t.contains("backup sync daemon (mcast=eth0, syncid=51"))
}

fn scenario() -> Res<()> {
    std::fs::create_dir_all(WORK).map_err(|e| e.to_string())?;
    let r = story();
    if r.is_err() {
        for b in [LB1, LB2] {
            println!("--- {} log tail:\n{}", b.ns, b.log_tail());
        }
    }
    r
}

fn story() -> Res<()> {
    step("both balancers up, b-lb1 master, the same table on both", {
        bring_up().map(|()| {
            format!(
                "{} services+destinations on each; VIP on b-lb1 only: {}",
                table_shape(LB1).map(|t| t.len()).unwrap_or(0),
                !LB2.holds_vip()
            )
        })
    })?;
    step(
        "keepalived runs VRRP only and the sync daemons run on both (ipvsadm -L --daemon)",
        {
            poll("sync daemons on both", BOUND, || {
                Ok(both_daemons(LB1)? && both_daemons(LB2)?)
            })
            .and_then(|_| {
                let conf = std::fs::read_to_string(LB1.dir().join("state/keepalived.conf"))
                    .map_err(|e| e.to_string())?;
                expect(
                    conf.contains("vrrp_instance") && !conf.contains("virtual_server"),
                    || format!("keepalived.conf: {conf}"),
                )?;
                Ok(LB2.ipvsadm("-L --daemon")?.trim().replace('\n', "; "))
            })
        },
    )?;
    step(
        "new connections to the VIP reach every real server (through b-lb1)",
        {
            spread(30).and_then(|seen| {
                expect(seen.len() == 3, || format!("reached only {seen:?}"))?;
                Ok(format!("{seen:?}"))
            })
        },
    )?;
    // A held session, whose entry the backup must have before the master dies.
    let mut held = connect(25)?;
    let held_server = held.server.clone();
    for _ in 0..3 {
        held.noop()?;
    }
    let port = held.local_port();
    step(
        "the backup has the held session's connection entry (ipvsadm -Lnc on b-lb2)",
        {
            poll("entry synced to b-lb2", BOUND, || {
                Ok(LB2.ipvsadm("-Lnc")?.lines().any(|l| {
                    l.contains(&format!("198.51.100.2:{port}")) && l.contains("ESTABLISHED")
                }))
            })
            .map(|t| format!("after {:.2} s", t.as_secs_f64()))
        },
    )?;
    let prober = Prober::start();
    prober.first_after(Instant::now(), BOUND)?;
    thread::sleep(Duration::from_millis(500));
    let killed = LB1.power_cut()?;
    let mut outage = Duration::ZERO;
    step("the master's power is cut: the VIP answers from b-lb2", {
        prober.first_after(killed, BOUND).and_then(|t| {
            outage = t;
            expect(LB2.holds_vip(), || "b-lb2 does not hold the VIP".into())?;
            Ok(format!(
                "kill to first answered connection {:.3} s (goal < 1 s)",
                t.as_secs_f64()
            ))
        })
    })?;
    step(
        "the held session survives the failover (same real server)",
        {
            held.noop().and_then(|reply| {
                expect(reply == format!("250 {held_server}"), || {
                    format!("NOOP got {reply:?}, expected 250 {held_server}")
                })?;
                Ok(format!("{held_server} answered NOOP through b-lb2"))
            })
        },
    )?;
    step("new connections reach every real server through b-lb2", {
        spread(30).and_then(|seen| {
            expect(seen.len() == 3, || format!("reached only {seen:?}"))?;
            Ok(format!("{seen:?}"))
        })
    })?;
    let back = Instant::now();
    step(
        "b-lb1 comes back as backup: no second outage longer than the first",
        {
            let entries = LB1.backup_entries();
            LB1.boot()
            .and_then(|()| {
                poll("b-lb1's sync daemons", BOUND, || both_daemons(LB1))?;
                // Keepalived starts after the first round of checks; give VRRP time to settle.
                poll("b-lb1's keepalived in BACKUP state", BOUND, || {
                    Ok(LB1.vrrp_role() == Some("VRRP backup") && LB1.backup_entries() > entries)
                })?;
                thread::sleep(Duration::from_secs(3));
                let gap = prober.longest_gap(back, Instant::now());
                expect(!LB1.holds_vip() && LB2.holds_vip(), || {
                    "the VIP moved back to b-lb1 (nopreempt should keep it on b-lb2)".into()
                })?;
                expect(gap <= outage, || {
                    format!(
                        "longest gap while b-lb1 returned {:.3} s > first outage {:.3} s",
                        gap.as_secs_f64(),
                        outage.as_secs_f64()
                    )
                })?;
                Ok(format!(
                    "longest gap between answered connections while it returned {:.3} s (first outage {:.3} s); VIP stays on b-lb2",
                    gap.as_secs_f64(),
                    outage.as_secs_f64()
                ))
            })
        },
    )?;
    // The returning box learns sessions from the new master; the next failover keeps them.
    let mut held2 = connect(25)?;
    let server2 = held2.server.clone();
    for _ in 0..3 {
        held2.noop()?;
    }
    let port2 = held2.local_port();
    poll("entry synced to b-lb1", BOUND, || {
        Ok(LB1
            .ipvsadm("-Lnc")?
            .lines()
            .any(|l| l.contains(&format!("198.51.100.2:{port2}")) && l.contains("ESTABLISHED")))
    })?;
    let killed = LB2.power_cut()?;
    step(
        "then b-lb2 loses power: b-lb1 takes the VIP back with the sessions it was sent",
        {
            prober.first_after(killed, BOUND).and_then(|t| {
            let reply = held2.noop()?;
            expect(reply == format!("250 {server2}"), || {
                format!("NOOP got {reply:?}, expected 250 {server2}")
            })?;
            Ok(format!(
                "kill to first answered connection {:.3} s; {server2} still answers the held session",
                t.as_secs_f64()
            ))
        })
        },
    )?;
    drop(prober);
    let _ = LB1.power_cut();
    Ok(())
}

/// Kills the master `runs` times (alternating boxes, each returning before the next kill).
fn bench_failover(runs: usize) -> Res<()> {
    std::fs::create_dir_all(WORK).map_err(|e| e.to_string())?;
    bring_up()?;
    let prober = Prober::start();
    prober.first_after(Instant::now(), BOUND)?;
    let (mut failovers, mut returns) = (Vec::new(), Vec::new());
    let mut master = LB1;
    for i in 0..runs {
        // A random phase of the advert interval.
        thread::sleep(Duration::from_millis(500 + 37 * (i as u64 % 5)));
        let killed = master.power_cut()?;
        let t = prober.first_after(killed, BOUND)?;
        failovers.push(t.as_secs_f64());
        let back = Instant::now();
        let entries = master.backup_entries();
        master.boot()?;
        poll(
            "the returned box's keepalived in BACKUP state",
            BOUND,
            || Ok(master.vrrp_role() == Some("VRRP backup") && master.backup_entries() > entries),
        )?;
        thread::sleep(Duration::from_secs(2));
        returns.push(prober.longest_gap(back, Instant::now()).as_secs_f64());
        master = master.peer();
        expect(master.holds_vip(), || {
            format!("{} does not hold the VIP", master.ns)
        })?;
    }
    drop(prober);
    let (m, x) = median(failovers);
    println!(
        "balancer pair (VRRPv3 advert 100 ms, nopreempt), power cut of the master to first answered connection: median {m:.3} s, max {x:.3} s over {runs} runs (goal < 1 s)"
    );
    let (m, x) = median(returns);
    println!(
        "balancer pair, the cut box returning (as backup): longest gap between answered connections median {m:.3} s, max {x:.3} s"
    );
    Ok(())
}

/// [`wait_for`], polling every 10 ms.
fn poll(what: &str, limit: Duration, f: impl FnMut() -> Res<bool>) -> Res<Duration> {
    wait_for(what, limit, Duration::from_millis(10), f)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("pair") => scenario(),
        Some("bench-failover") => {
            bench_failover(args.get(1).and_then(|n| n.parse().ok()).unwrap_or(5))
        }
        _ => Err("usage: balancer-scenario-pair pair | bench-failover RUNS".into()),
    };
    match result {
        Ok(()) => {
            println!("SCENARIO PASSED");
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("SCENARIO FAILED: {e}");
            ExitCode::from(1)
        }
    }
}
