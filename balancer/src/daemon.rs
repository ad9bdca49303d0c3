//! The daemon: reads the config (and re-reads it when it changes), checks every (node, port),
//! and keeps the kernel's IPVS table — or the DNS server's answers — equal to what the health
//! of the nodes calls for. Every state change goes to the journal.
//!
//! One supervisor loop wakes every second and at once on a health transition; it reloads the
//! config if the file changed, restarts the checkers if the config did, then reconciles. A bad
//! config is refused whole and the previous one stays in force; a kernel error on one change is
//! logged and the others still apply. Stopping the daemon leaves the table as it is, so mail
//! keeps flowing while the balancer is restarted.
//!
//! With `[ipvs.pair]` the daemon also runs the kernel's sync daemons (master and backup) and
//! keepalived for VRRP ([`crate::pair`]); keepalived, not this daemon, then holds the VIP, and
//! is started only once the table reflects a first round of checks, so a box never takes the
//! VIP with an empty table. Stopping the daemon stops keepalived: the peer takes the VIP.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use log::{error, info, warn};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::config::{Config, Mode, check_for_port};
use crate::desired::{DestState, HealthMap, desired_table, dest_state, service_keys};
use crate::dns::DnsView;
use crate::health::{Health, Transition};
use crate::ipvs::socket::{IpvsSocket, KernelTable};
use crate::ipvs::sync::{SyncDaemon, sync_changes};
use crate::ipvs::table::ServiceKey;
use crate::pair::keepalived::Keepalived;
use crate::reconcile::{Change, Table, reconcile};
use crate::status::{Row, Status};

/// Where the daemon keeps what survives a restart (the services it owns).
pub const DEFAULT_STATE_DIR: &str = "/var/lib/pigeonair-balancer";

/// Where things are.
#[derive(Debug, Clone)]
pub struct Options {
    /// The config file.
    pub config: PathBuf,
    /// The status file.
    pub status: PathBuf,
    /// The state directory.
    pub state_dir: PathBuf,
}

struct Shared {
    config: Option<Arc<Config>>,
    config_text: Option<String>,
    config_error: Option<String>,
    generation: u64,
    health: HealthMap,
    kernel: Option<KernelTable>,
    /// The sync daemons running, as last read (pair only).
    sync: Vec<SyncDaemon>,
    /// Pair only: keepalived's pid and whether this box holds the VIP (is VRRP master).
    vrrp: Option<(Option<u32>, Option<bool>)>,
    errors: Vec<String>,
}

/// Sysctls that make a dead real server's connections fail fast instead of hanging until
/// their entries expire (keepalived users' known trap), and let a persistent client move on.
pub const IPVS_SYSCTLS: [(&str, &str); 2] = [
    ("/proc/sys/net/ipv4/vs/expire_nodest_conn", "1"),
    ("/proc/sys/net/ipv4/vs/expire_quiescent_template", "1"),
];

fn set_sysctl(path: &str, value: &str) {
    match fs::read_to_string(path) {
        Ok(v) if v.trim() == value => {}
        _ => match fs::write(path, value) {
            Ok(()) => info!(
                "set {} = {value}",
                path.trim_start_matches("/proc/sys/").replace('/', ".")
            ),
            Err(e) => warn!("cannot set {path} to {value}: {e}"),
        },
    }
}

/// Runs until SIGTERM or SIGINT.
pub fn run(opts: Options) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(supervise(opts))
}

async fn supervise(opts: Options) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let shared = Arc::new(Mutex::new(Shared {
        config: None,
        config_text: None,
        config_error: None,
        generation: 0,
        health: HealthMap::new(),
        kernel: None,
        sync: Vec::new(),
        vrrp: None,
        errors: Vec::new(),
    }));
    let mut keepalived = Keepalived::new(&opts.state_dir);
    let started = Instant::now();
    let wake = Arc::new(Notify::new());
    let mut checkers: Vec<JoinHandle<()>> = Vec::new();
    let ipvs: Arc<Mutex<Option<IpvsSocket>>> = Arc::new(Mutex::new(None));
    let mut owned = load_owned(&opts.state_dir);
    let mut view_tx: Option<watch::Sender<Arc<DnsView>>> = None;
    let mut dns_task: Option<(Vec<SocketAddr>, JoinHandle<()>)> = None;
    let mut last_status = String::new();
    info!(
        "pigeonair-balancer started; config {}",
        opts.config.display()
    );
    loop {
        // 1. The config, if the file changed.
        if let Some(new) = reload(&opts.config, &shared) {
            for c in checkers.drain(..) {
                c.abort();
            }
            {
                let mut s = shared.lock().expect("not poisoned");
                // Keep the health of (node, port) pairs whose address did not change.
                let keep: BTreeSet<(String, u16)> = new
                    .nodes
                    .iter()
                    .flat_map(|n| {
                        new.checked_ports()
                            .into_iter()
                            .map(move |p| (n.name.clone(), p))
                    })
                    .collect();
                let old = s.config.clone();
                s.health.retain(|k, _| {
                    keep.contains(k)
                        && old.as_ref().is_none_or(|o| {
                            o.nodes.iter().find(|n| n.name == k.0).map(|n| n.address)
                                == new.nodes.iter().find(|n| n.name == k.0).map(|n| n.address)
                        })
                });
                s.config = Some(new.clone());
            }
            if let Mode::Ipvs(i) = &new.mode {
                owned.extend(service_keys(i).map(|(_, key)| key));
                save_owned(&opts.state_dir, &owned);
            }
            for node in &new.nodes {
                for port in new.checked_ports() {
                    checkers.push(tokio::spawn(checker(
                        new.clone(),
                        node.name.clone(),
                        SocketAddr::new(node.address, port),
                        shared.clone(),
                        wake.clone(),
                    )));
                }
            }
        }
        let config = shared.lock().expect("not poisoned").config.clone();
        // 2. Make the world match.
        if let Some(config) = &config {
            match &config.mode {
                Mode::Ipvs(i) => {
                    if dns_task.take().is_some_and(|(_, t)| {
                        t.abort();
                        true
                    }) {
                        info!("DNS server stopped (mode is now ipvs)");
                    }
                    let (desired, checked) = {
                        let s = shared.lock().expect("not poisoned");
                        let checked = config.nodes.iter().all(|n| {
                            config.checked_ports().iter().all(|&p| {
                                s.health
                                    .get(&(n.name.clone(), p))
                                    .is_some_and(|h| h.checks > 0)
                            })
                        });
                        (
                            desired_table(i, &config.nodes, &s.health, Instant::now()),
                            checked,
                        )
                    };
                    // A pair's VIP is keepalived's; a single balancer adds it itself.
                    let vip_interface = i.interface.clone().filter(|_| i.pair.is_none());
                    let sync_wanted: Vec<SyncDaemon> = match (&i.pair, &i.interface) {
                        (Some(p), Some(interface)) => {
                            SyncDaemon::pair(interface, p.virtual_router_id).to_vec()
                        }
                        _ => Vec::new(),
                    };
                    let vip = i.vip;
                    let nat = i.forwarding == crate::config::Forwarding::Nat;
                    let ipvs = ipvs.clone();
                    let owned_now = owned.clone();
                    let outcome = tokio::task::spawn_blocking(move || {
                        let pass = Pass {
                            desired: &desired,
                            owned: &owned_now,
                            vip_interface: vip_interface.as_deref(),
                            vip,
                            nat,
                            sync: &sync_wanted,
                        };
                        apply_ipvs(&ipvs, &pass)
                    })
                    .await?;
                    let vrrp = match (&i.pair, &i.interface) {
                        (Some(p), Some(interface)) => {
                            // Not before the table reflects a first round of checks (or 10 s),
                            // so this box never becomes master with nothing to forward to.
                            let ready = outcome.is_ok()
                                && (checked || started.elapsed() > Duration::from_secs(10));
                            let mut error = None;
                            if ready || keepalived.pid().is_some() {
                                let text = crate::pair::keepalived_conf::render(i, interface, p);
                                match keepalived.ensure(&text) {
                                    Ok(Some(what)) => info!("{what}"),
                                    Ok(None) => {}
                                    Err(e) => error = Some(e),
                                }
                            }
                            let holds = crate::vip::has_address(interface, i.vip).ok();
                            Some((keepalived.pid(), holds, error))
                        }
                        _ => {
                            keepalived.stop();
                            None
                        }
                    };
                    let mut s = shared.lock().expect("not poisoned");
                    s.vrrp = vrrp.as_ref().map(|(pid, holds, _)| (*pid, *holds));
                    let vrrp_error = vrrp.and_then(|(_, _, e)| e);
                    match outcome {
                        Ok((kernel, sync, mut errors, removed)) => {
                            s.sync = sync;
                            errors.extend(vrrp_error);
                            if !removed.is_empty() {
                                let wanted: BTreeSet<ServiceKey> =
                                    service_keys(i).map(|(_, key)| key).collect();
                                owned.retain(|k| wanted.contains(k) || !removed.contains(k));
                                save_owned(&opts.state_dir, &owned);
                            }
                            s.kernel = Some(kernel);
                            // Each refusal once, not once a second while it persists.
                            for e in errors.iter().filter(|e| !s.errors.contains(e)) {
                                error!("{e}; the rest of the table is as it was");
                            }
                            if errors.is_empty() && !s.errors.is_empty() {
                                info!("IPVS table converged again");
                            }
                            s.errors = errors;
                        }
                        Err(e) => {
                            if s.errors != [e.clone()] {
                                error!("{e}");
                            }
                            s.errors = vec![e];
                        }
                    }
                }
                Mode::Dns(d) => {
                    keepalived.stop();
                    let view = {
                        let s = shared.lock().expect("not poisoned");
                        DnsView::new(d, &config.nodes, |n, p| {
                            s.health.get(&(n.name.clone(), p)).is_some_and(|h| h.up)
                        })
                    };
                    let view_tx =
                        view_tx.get_or_insert_with(|| watch::channel(Arc::new(view.clone())).0);
                    if *view_tx.borrow().as_ref() != view {
                        let before: BTreeSet<String> =
                            view_tx.borrow().fallback_names().iter().cloned().collect();
                        for name in view
                            .fallback_names()
                            .iter()
                            .filter(|n| !before.contains(*n))
                        {
                            warn!(
                                "DNS {name}: no node passes its checks; answering with every node that is not drained"
                            );
                        }
                        info!("DNS answers changed (serial {})", view.serial());
                        view_tx.send_replace(Arc::new(view));
                    }
                    let restart = match &dns_task {
                        Some((listen, task)) => listen != &d.listen || task.is_finished(),
                        None => true,
                    };
                    if restart {
                        if let Some((_, t)) = dns_task.take() {
                            t.abort();
                        }
                        let listen = d.listen.clone();
                        let rx = view_tx.subscribe();
                        let shared2 = shared.clone();
                        let l2 = listen.clone();
                        let task = tokio::spawn(async move {
                            match crate::dns::server::serve(l2.clone(), rx).await {
                                Ok(()) => {}
                                Err(e) => {
                                    error!("DNS server on {l2:?}: {e}");
                                    shared2.lock().expect("not poisoned").errors =
                                        vec![format!("DNS server: {e}")];
                                }
                            }
                        });
                        info!("DNS server answering on {listen:?}");
                        dns_task = Some((listen, task));
                    }
                }
            }
        }
        // 3. Status.
        let view = view_tx.as_ref().map(|t| t.borrow().clone());
        let status = status_of(
            &opts,
            &shared.lock().expect("not poisoned"),
            view.as_deref(),
        );
        let json = serde_json::to_string_pretty(&status)?;
        if json != last_status {
            write_atomic(&opts.status, json.as_bytes());
            last_status = json;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = wake.notified() => {}
            _ = hup.recv() => { info!("SIGHUP: re-reading {}", opts.config.display()); shared.lock().expect("not poisoned").config_text = None; }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    keepalived.stop();
    info!(
        "pigeonair-balancer stopping; the IPVS table and DNS answers stay as they are until it starts again"
    );
    Ok(())
}

/// Reads the config file; returns the new config when it changed and is good.
fn reload(path: &Path, shared: &Arc<Mutex<Shared>>) -> Option<Arc<Config>> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            let mut s = shared.lock().expect("not poisoned");
            let msg = format!("{}: {e}", path.display());
            if s.config_error.as_deref() != Some(&msg) {
                error!("config {msg}; keeping the previous config");
                s.config_error = Some(msg);
            }
            return None;
        }
    };
    let mut s = shared.lock().expect("not poisoned");
    if s.config_text.as_deref() == Some(text.as_str()) {
        return None;
    }
    s.config_text = Some(text.clone());
    match Config::parse(&text) {
        Ok(c) => {
            if s.config.as_deref() == Some(&c) {
                s.config_error = None;
                return None;
            }
            s.generation += 1;
            s.config_error = None;
            info!(
                "config {} loaded (generation {}): mode {}, {} nodes",
                path.display(),
                s.generation,
                match c.mode {
                    Mode::Ipvs(_) => "ipvs",
                    Mode::Dns(_) => "dns",
                },
                c.nodes.len()
            );
            Some(Arc::new(c))
        }
        Err(e) => {
            let msg = e.to_string();
            error!(
                "config {} refused, keeping the previous one: {}",
                path.display(),
                msg.replace('\n', "; ")
            );
            s.config_error = Some(msg);
            None
        }
    }
}

/// Checks one (node, port) for as long as the config stands. A check starts every `interval`
/// even while earlier ones still wait for their connect `timeout`, so a silent node is seen
/// after about `interval + timeout + (fall - 1) × interval`, not `fall × timeout`. Outcomes are
/// taken as they come, except that one older than an outcome already taken is dropped: a late
/// failure never overrides a newer success, and a check stuck waiting for a reply does not hold
/// back the newer ones behind it.
/// No more than `timeout / interval + 1` checks are in flight: a busy node that is slow to
/// answer (within `reply_timeout`) is not sent more and more connections.
async fn checker(
    config: Arc<Config>,
    node: String,
    addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    wake: Arc<Notify>,
) {
    use futures_util::StreamExt;
    use futures_util::stream::FuturesUnordered;
    let (protocol, tls) = check_for_port(addr.port());
    let c = config.check;
    let key = (node.clone(), addr.port());
    let most_in_flight = (c.timeout.as_millis() / c.interval.as_millis().max(1)) as usize + 1;
    let mut in_flight = FuturesUnordered::new();
    // Checks are numbered in the order they start; `taken` is the newest whose outcome counted.
    let mut started: u64 = 0;
    let mut taken: u64 = 0;
    let mut tick = tokio::time::interval(c.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = tick.tick(), if in_flight.len() < most_in_flight => {
                started += 1;
                let n = started;
                let check = crate::probe::check(addr, protocol, tls, c.timeout, c.reply_timeout);
                in_flight.push(async move { (n, check.await) });
            }
            Some((n, outcome)) = in_flight.next() => {
                if n < taken {
                    continue;
                }
                taken = n;
                let error = outcome.as_ref().err().cloned();
                let transition = {
                    let mut s = shared.lock().expect("not poisoned");
                    let now = Instant::now();
                    let h = s.health.entry(key.clone()).or_insert_with(|| Health::new(now));
                    h.observe(outcome, c.rise, c.fall, now)
                };
                match transition {
                    Some(Transition::Up) => {
                        info!("{node} {addr}: up after {} passed checks; back in rotation", c.rise)
                    }
                    Some(Transition::Down) => warn!(
                        "{node} {addr}: down after {} failed checks ({}); out of rotation",
                        c.fall,
                        error.unwrap_or_default()
                    ),
                    None => {}
                }
                if transition.is_some() {
                    wake.notify_one();
                }
            }
        }
    }
}

type IpvsOutcome = Result<
    (
        KernelTable,
        Vec<SyncDaemon>,
        Vec<String>,
        BTreeSet<ServiceKey>,
    ),
    String,
>;

/// What one reconcile pass against the kernel is to make true.
struct Pass<'a> {
    desired: &'a Table,
    owned: &'a BTreeSet<ServiceKey>,
    /// Where to add the VIP; `None` when someone else holds it (keepalived, for a pair).
    vip_interface: Option<&'a str>,
    vip: std::net::IpAddr,
    nat: bool,
    /// The sync daemons wanted (a pair's master and backup), or none.
    sync: &'a [SyncDaemon],
}

/// One reconcile pass against the kernel: VIP, sysctls, sync daemons, table. Blocking
/// (netlink).
fn apply_ipvs(socket: &Mutex<Option<IpvsSocket>>, pass: &Pass) -> IpvsOutcome {
    let Pass {
        desired,
        owned,
        vip_interface: interface,
        vip,
        nat,
        sync,
    } = *pass;
    let mut guard = socket.lock().expect("not poisoned");
    if guard.is_none() {
        let s = match IpvsSocket::open() {
            Ok(s) => s,
            Err(crate::ipvs::socket::IpvsError::NoIpvs) => {
                // The family appears once the module is loaded; ask for it once.
                let _ = std::process::Command::new("modprobe").arg("ip_vs").status();
                IpvsSocket::open().map_err(|e| e.to_string())?
            }
            Err(e) => return Err(e.to_string()),
        };
        for (path, value) in IPVS_SYSCTLS {
            set_sysctl(path, value);
        }
        if nat {
            // NAT: replies from the real servers are routed back through the balancer.
            set_sysctl("/proc/sys/net/ipv4/ip_forward", "1");
        }
        *guard = Some(s);
    }
    let mut errors = Vec::new();
    if let Some(interface) = interface {
        match crate::vip::ensure_vip(interface, vip) {
            Ok(true) => info!("VIP {vip} added to {interface}"),
            Ok(false) => {}
            Err(e) => errors.push(e),
        }
    }
    let sock = guard.as_mut().expect("opened above");
    let mut running = Vec::new();
    if !sync.is_empty() {
        match sock.daemons() {
            Ok(d) => running = d,
            Err(e) => {
                *guard = None;
                return Err(format!("reading the IPVS sync daemons: {e}"));
            }
        }
        let changes = sync_changes(sync, &running);
        if !changes.is_empty() {
            let sock = guard.as_mut().expect("opened above");
            match sock.execute(&changes) {
                Ok(outcomes) => {
                    for (m, o) in changes.iter().zip(outcomes) {
                        match o {
                            Ok(()) => info!("IPVS: {}", crate::ipvs::socket::describe(m)),
                            Err(e) => errors.push(e.to_string()),
                        }
                    }
                }
                Err(e) => {
                    *guard = None;
                    return Err(format!("starting the IPVS sync daemons: {e}"));
                }
            }
            running = guard
                .as_mut()
                .expect("opened above")
                .daemons()
                .unwrap_or_default();
        }
    }
    let sock = guard.as_mut().expect("opened above");
    let kernel = match sock.table() {
        Ok(t) => t,
        Err(e) => {
            *guard = None;
            return Err(format!("reading the IPVS table: {e}"));
        }
    };
    let plain: Table = kernel
        .iter()
        .map(|(k, (s, d))| (*k, (s.clone(), d.iter().map(|(d, _)| *d).collect())))
        .collect();
    let changes = reconcile(desired, &plain, owned);
    if changes.is_empty() {
        return Ok((kernel, running, errors, BTreeSet::new()));
    }
    let requests: Vec<_> = changes.iter().map(Change::request).collect();
    let outcomes = match sock.execute(&requests) {
        Ok(o) => o,
        Err(e) => {
            *guard = None;
            return Err(format!("programming IPVS: {e}"));
        }
    };
    let mut removed = BTreeSet::new();
    for (change, outcome) in changes.iter().zip(outcomes) {
        match outcome {
            Ok(()) => {
                info!("{}", describe(change));
                if let Change::RemoveService(k) = change {
                    removed.insert(*k);
                }
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    // Show what the kernel has now (counters included).
    let kernel = sock.table().unwrap_or(kernel);
    Ok((kernel, running, errors, removed))
}

fn describe(c: &Change) -> String {
    match c {
        Change::AddService(s) => format!("IPVS: added service {} ({})", s.key, s.scheduler),
        Change::EditService(s) => format!("IPVS: put back service {} ({})", s.key, s.scheduler),
        Change::RemoveService(k) => format!("IPVS: removed service {k}"),
        Change::AddDest(k, d) => {
            format!("IPVS: {k}: added {}:{} weight {}", d.addr, d.port, d.weight)
        }
        Change::EditDest(k, d) => {
            format!("IPVS: {k}: {}:{} now weight {}", d.addr, d.port, d.weight)
        }
        Change::RemoveDest(k, d) => format!("IPVS: {k}: removed {}:{}", d.addr, d.port),
    }
}

fn status_of(opts: &Options, s: &Shared, view: Option<&DnsView>) -> Status {
    let mut st = Status {
        pid: std::process::id(),
        config_path: opts.config.display().to_string(),
        mode: "none".into(),
        generation: s.generation,
        config_error: s.config_error.clone(),
        errors: s.errors.clone(),
        ..Status::default()
    };
    let Some(config) = &s.config else { return st };
    let now = Instant::now();
    let health_of = |node: &str, port: u16| {
        let h = s.health.get(&(node.to_string(), port));
        let (label, since) = match h {
            None => ("unchecked", 0),
            Some(h) if h.checks == 0 => ("unchecked", 0),
            Some(h) => (
                if h.up { "up" } else { "down" },
                now.saturating_duration_since(h.since).as_secs(),
            ),
        };
        (h, label.to_string(), since)
    };
    match &config.mode {
        Mode::Ipvs(i) => {
            st.mode = "ipvs".into();
            let forwarding = match i.forwarding {
                crate::config::Forwarding::Nat => "NAT",
                crate::config::Forwarding::Dr => "direct-routing",
                crate::config::Forwarding::Tunnel => "tunnel",
            };
            st.summary = format!(
                "VIP {} on {}, {forwarding} forwarding, scheduler {}",
                i.vip,
                i.interface.as_deref().unwrap_or("(not managed)"),
                i.scheduler
            );
            if let Some(p) = &i.pair {
                let (pid, holds) = s.vrrp.unwrap_or((None, None));
                let role = match (pid, holds) {
                    (None, _) => "keepalived not running".to_string(),
                    (Some(pid), Some(true)) => {
                        format!("VRRP master, holds the VIP (keepalived {pid})")
                    }
                    (Some(pid), Some(false)) => format!("VRRP backup (keepalived {pid})"),
                    (Some(pid), None) => format!("keepalived {pid}"),
                };
                let sync: Vec<String> = s.sync.iter().map(|d| d.state.to_string()).collect();
                let _ = write!(
                    st.summary,
                    "; pair with {} (virtual router {}, priority {}): {role}; sync daemons: {}",
                    p.peer,
                    p.virtual_router_id,
                    p.priority,
                    if sync.is_empty() {
                        "none".to_string()
                    } else {
                        sync.join(" and ")
                    }
                );
            }
            for (port, key) in service_keys(i) {
                for n in &config.nodes {
                    let (h, label, since) = health_of(&n.name, port);
                    let kernel_dest =
                        s.kernel
                            .as_ref()
                            .and_then(|k| k.get(&key))
                            .and_then(|(_, ds)| {
                                ds.iter()
                                    .find(|(d, _)| d.addr == n.address && d.port == port)
                                    .copied()
                            });
                    let state = match dest_state(i, n, h, now) {
                        DestState::Active(_) => "active",
                        DestState::Quiesced if n.drain => "drained",
                        DestState::Quiesced => "quiesced",
                        DestState::Absent => "absent",
                    };
                    st.rows.push(Row {
                        service: key.to_string(),
                        node: n.name.clone(),
                        address: SocketAddr::new(n.address, port).to_string(),
                        health: label,
                        health_for_s: since,
                        state: state.into(),
                        weight: kernel_dest.map(|(d, _)| d.weight),
                        active_conns: kernel_dest.map(|(_, c)| c.active),
                        inactive_conns: kernel_dest.map(|(_, c)| c.inactive),
                        last_error: h.and_then(|h| h.last_error.clone()),
                    });
                }
            }
        }
        Mode::Dns(d) => {
            st.mode = "dns".into();
            let listen: Vec<String> = d.listen.iter().map(|l| l.to_string()).collect();
            let serial = view.map(|v| v.serial()).unwrap_or(0);
            st.summary = format!(
                "zone {} on {}, TTL {} s, serial {serial}",
                d.zone,
                listen.join(" "),
                d.ttl
            );
            for (name, ports) in &d.names {
                let fqdn = format!("{name}.{}", d.zone);
                let answered = view.and_then(|v| v.addresses(name)).unwrap_or_default();
                for n in &config.nodes {
                    let mut worst: Option<(Option<&Health>, String, u64)> = None;
                    for &p in ports {
                        let (h, label, since) = health_of(&n.name, p);
                        if worst.as_ref().is_none_or(|w| w.1 == "up" && label != "up") {
                            worst = Some((h, label, since));
                        }
                    }
                    let (h, label, since) = worst.unwrap_or((None, "unchecked".into(), 0));
                    st.rows.push(Row {
                        service: fqdn.clone(),
                        node: n.name.clone(),
                        address: n.address.to_string(),
                        health: label,
                        health_for_s: since,
                        state: if n.drain {
                            "drained".into()
                        } else if answered.contains(&n.address) {
                            "answered".into()
                        } else {
                            "left out".into()
                        },
                        last_error: h.and_then(|h| h.last_error.clone()),
                        ..Row::default()
                    });
                }
            }
        }
    }
    st
}

fn write_atomic(path: &Path, bytes: &[u8]) {
    let result = (|| {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("tmp");
        fs::write(&tmp, bytes)?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        warn!("cannot write {}: {e}", path.display());
    }
}

fn owned_path(dir: &Path) -> PathBuf {
    dir.join("owned-services.json")
}

fn load_owned(dir: &Path) -> BTreeSet<ServiceKey> {
    let path = owned_path(dir);
    match fs::read_to_string(&path) {
        Ok(t) => match serde_json::from_str::<Vec<String>>(&t) {
            Ok(keys) => keys
                .iter()
                .filter_map(|k| k.parse::<SocketAddr>().ok())
                .map(ServiceKey::tcp)
                .collect(),
            Err(e) => {
                warn!("{}: {e}; starting with no owned services", path.display());
                BTreeSet::new()
            }
        },
        Err(_) => BTreeSet::new(),
    }
}

fn save_owned(dir: &Path, owned: &BTreeSet<ServiceKey>) {
    let keys: Vec<String> = owned
        .iter()
        .filter_map(|k| match k {
            ServiceKey::Addr { addr, .. } => Some(addr.to_string()),
            ServiceKey::Fwmark { .. } => None,
        })
        .collect();
    let json = serde_json::to_string_pretty(&keys).expect("strings serialize");
    write_atomic(&owned_path(dir), json.as_bytes());
}

/// The kernel's counters keyed for the status command's own live read.
pub fn kernel_rows(table: &KernelTable) -> BTreeMap<(String, String), (u32, u32, u32)> {
    let mut m = BTreeMap::new();
    for (k, (_, ds)) in table {
        for (d, c) in ds {
            m.insert(
                (k.to_string(), SocketAddr::new(d.addr, d.port).to_string()),
                (d.weight, c.active, c.inactive),
            );
        }
    }
    m
}
