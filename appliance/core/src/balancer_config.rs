//! The balancer's desired state: `/etc/pigeonair/balancer.toml`, written by the cluster's
//! control plane (or by hand on a small site). Parsing is pure and reports every problem at once,
//! each naming its field, e.g. `ipvs.scheduler: "fastest": unknown scheduler; use one of rr, …`.
//! A file with any problem is refused whole, so the daemon keeps the last good state.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Where the daemon reads its desired state by default.
pub const DEFAULT_PATH: &str = "/etc/pigeonair/balancer.toml";

/// The mail ports PigeonAir balances when `ipvs.ports` is not given: SMTP, SMTPS, submission,
/// POP3, POP3S, IMAP, IMAPS.
pub const MAIL_PORTS: [u16; 7] = [25, 465, 587, 110, 995, 143, 993];

/// IPVS schedulers in Debian's kernel (`net/netfilter/ipvs/ip_vs_*.c`).
pub const SCHEDULERS: [&str; 14] = [
    "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos",
];

/// The largest weight IPVS accepts (the kernel takes an `int`; ipvsadm caps it at 65535).
pub const MAX_WEIGHT: u32 = 65_535;

/// The whole desired state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Config {
    /// IPVS or DNS round-robin.
    pub mode: Mode,
    /// The real servers (cluster nodes).
    pub nodes: Vec<Node>,
    /// How nodes are checked.
    pub check: CheckSettings,
}

/// How connections are spread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "mode")]
pub enum Mode {
    /// Linux IPVS on this box, answering on a virtual IP.
    Ipvs(IpvsSettings),
    /// An authoritative DNS server answering with healthy nodes only.
    Dns(DnsSettings),
}

/// `[ipvs]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IpvsSettings {
    /// The virtual IP clients connect to.
    pub vip: IpAddr,
    /// The balancer's interface the VIP is added to; `None` leaves the VIP to someone else.
    pub interface: Option<String>,
    /// How packets reach real servers.
    pub forwarding: Forwarding,
    /// IPVS scheduler name (one of [`SCHEDULERS`]).
    pub scheduler: String,
    /// Client persistence in seconds; 0 means none.
    pub persistence: u32,
    /// TCP ports balanced, each its own virtual service.
    pub ports: Vec<u16>,
    /// How long a failed real server stays in the table at weight 0 (so established sessions
    /// can finish) before it is removed.
    pub remove_after: Duration,
    /// `[ipvs.pair]`: this box is one of two balancers sharing the VIP by VRRP; `None` for a
    /// single balancer.
    pub pair: Option<PairSettings>,
}

/// `[ipvs.pair]`: two balancer boxes share the VIP by VRRP (keepalived, VRRP only, unicast to
/// the peer), both program the same IPVS table, and the kernel's sync daemons copy the
/// connection table between them. The VIP lives on `ipvs.interface` of whichever is master.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PairSettings {
    /// The other balancer's address on `ipvs.interface`: VRRP adverts go to it by unicast,
    /// and only its adverts are believed.
    pub peer: IpAddr,
    /// VRRP priority, 1..=254: the higher one takes the VIP when both start together. A box
    /// that comes back does not take the VIP back (no preemption), so its return costs nothing.
    pub priority: u8,
    /// VRRP virtual router id, 1..=255, the same on both boxes and unique on the link; also
    /// the IPVS sync id.
    pub virtual_router_id: u8,
    /// Time between VRRP adverts (VRRPv3, 10 ms steps): the backup takes over after three
    /// missed adverts and a skew (`3 × interval + (256 − priority) / 256 × interval`).
    pub advert_interval: Duration,
}

/// The advert interval when `advert_interval_ms` is not given: 100 ms, so the backup takes
/// over about 0.35 s after the master dies, while a stall of up to about 0.3 s (three adverts)
/// on a loaded box is not taken for a death.
pub const DEFAULT_ADVERT_INTERVAL: Duration = Duration::from_millis(100);

/// IPVS forwarding method: the plan's (one type for the answers file and this file).
pub use crate::plan::Forwarding;

/// The name servers listed in `dns.name_servers` are `ns1.<zone>.`, `ns2.<zone>.`, …: this
/// prefix and their position, counted from 1.
pub const NAME_SERVER_LABEL: &str = "ns";

/// `[dns]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DnsSettings {
    /// Addresses the DNS server listens on (UDP and TCP).
    pub listen: Vec<SocketAddr>,
    /// The zone the server is authoritative for; service names live under it.
    pub zone: String,
    /// TTL of every answer, in seconds: short, so resolvers come back soon after a change.
    pub ttl: u32,
    /// Service names (relative to `zone`) and the ports a node must pass to be in the answer.
    pub names: BTreeMap<String, Vec<u16>>,
    /// The name (relative to `zone`) hosted domains' MX records point at.
    pub mx_target: String,
    /// Hosted mail domains whose MX this server answers.
    pub mx_domains: Vec<String>,
    /// The addresses of every DNS server answering for the zone (this one among them), in
    /// order: the zone's NS records are then `ns1.<zone>.` … `nsN.<zone>.`, each with its
    /// address as glue, so resolvers know every server and go on to the next when one is dead.
    /// Empty: one NS, `ns.<zone>.`, at the addresses this server listens on.
    pub name_servers: Vec<IpAddr>,
}

/// `[check]`: per real server and port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CheckSettings {
    /// Time between the starts of two checks.
    pub interval: Duration,
    /// How long the TCP connect may take: the node's kernel answers it, busy or not, so a short
    /// bound catches a node that is off or unplugged.
    pub timeout: Duration,
    /// How long the TLS handshake and the dialogue may take once connected: the daemon answers
    /// them, and a node saturated by its own mail load answers late, so this bound is long.
    pub reply_timeout: Duration,
    /// Consecutive successes that bring a failed server back.
    pub rise: u32,
    /// Consecutive failures that take a server out of rotation.
    pub fall: u32,
}

impl Default for CheckSettings {
    /// Detection within a second: a refused connection is seen after two checks (≤ 0.4 s), a
    /// silent node when the second of two overlapping connects times out (≤ 0.8 s). A daemon
    /// that accepts but does not answer is out after 10 s; a busy one is never out.
    fn default() -> Self {
        CheckSettings {
            interval: Duration::from_millis(200),
            timeout: Duration::from_millis(400),
            reply_timeout: Duration::from_secs(10),
            rise: 3,
            fall: 2,
        }
    }
}

/// `[[node]]`: a real server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Node {
    /// The node's name (for logs and status).
    pub name: String,
    /// Where the balancer reaches it: the real-server address, and the answer in DNS mode.
    pub address: IpAddr,
    /// Relative share of new connections.
    pub weight: u32,
    /// Drained: weight 0 so no new connections arrive, while established ones continue.
    pub drain: bool,
}

/// What kind of greeting a port speaks, and whether TLS comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Protocol {
    /// `220` greeting, `EHLO`, `QUIT`.
    Smtp,
    /// `* OK` greeting.
    Imap,
    /// `+OK` greeting.
    Pop3,
}

/// The check for a port: its protocol and whether the connection starts with TLS.
pub fn check_for_port(port: u16) -> (Protocol, bool) {
    match port {
        465 => (Protocol::Smtp, true),
        993 => (Protocol::Imap, true),
        995 => (Protocol::Pop3, true),
        143 => (Protocol::Imap, false),
        110 => (Protocol::Pop3, false),
        _ => (Protocol::Smtp, false),
    }
}

impl Config {
    /// Every port any node is checked on.
    pub fn checked_ports(&self) -> Vec<u16> {
        match &self.mode {
            Mode::Ipvs(i) => i.ports.clone(),
            Mode::Dns(d) => {
                let set: BTreeSet<u16> = d.names.values().flatten().copied().collect();
                set.into_iter().collect()
            }
        }
    }

    /// Parses and validates a TOML document.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError {
            problems: vec![Problem {
                field: e
                    .span()
                    .map(|s| format!("line {}", text[..s.start].matches('\n').count() + 1))
                    .unwrap_or_else(|| "file".into()),
                message: e.message().to_string(),
            }],
        })?;
        raw.validate()
    }
}

/// One problem with a field (`ipvs.scheduler`, `node[2].address`): the answers file's type.
pub use crate::answers::Problem;

/// Every problem found in a config file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The problems, in file order.
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}: {}", p.field, p.message)?;
        }
        Ok(())
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    mode: String,
    ipvs: Option<RawIpvs>,
    dns: Option<RawDns>,
    #[serde(default)]
    check: RawCheck,
    #[serde(default)]
    node: Vec<RawNode>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIpvs {
    vip: String,
    interface: Option<String>,
    forwarding: Option<String>,
    scheduler: Option<String>,
    persistence: Option<u32>,
    ports: Option<Vec<i64>>,
    remove_after: Option<u64>,
    pair: Option<RawPair>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPair {
    peer: String,
    priority: Option<i64>,
    virtual_router_id: i64,
    advert_interval_ms: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDns {
    listen: Vec<String>,
    zone: String,
    ttl: Option<u32>,
    names: Option<BTreeMap<String, Vec<i64>>>,
    mx_target: Option<String>,
    #[serde(default)]
    mx_domains: Vec<String>,
    #[serde(default)]
    name_servers: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    interval_ms: Option<u64>,
    timeout_ms: Option<u64>,
    reply_timeout_ms: Option<u64>,
    rise: Option<u32>,
    fall: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    name: String,
    address: String,
    weight: Option<i64>,
    #[serde(default)]
    drain: bool,
}

/// Collects problems while fields are checked.
#[derive(Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem {
            field: field.into(),
            message: message.into(),
        });
    }
}

fn port(p: &mut Problems, field: &str, v: i64) -> Option<u16> {
    match u16::try_from(v) {
        Ok(0) | Err(_) => {
            p.add(field, format!("{v}: a port must be 1..=65535"));
            None
        }
        Ok(port) => Some(port),
    }
}

/// A DNS name: labels of a-z, 0-9 and '-', not starting or ending with '-', each ≤ 63 bytes.
pub fn valid_dns_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

fn dns_name(p: &mut Problems, field: &str, v: &str) -> Option<String> {
    if valid_dns_name(v) {
        Some(v.trim_end_matches('.').to_ascii_lowercase())
    } else {
        p.add(
            field,
            format!("{v:?}: not a DNS name (labels of a-z, 0-9 and '-')"),
        );
        None
    }
}

impl RawConfig {
    fn validate(self) -> Result<Config, ConfigError> {
        let mut p = Problems::default();
        let d = CheckSettings::default();
        let check = CheckSettings {
            interval: Duration::from_millis(
                self.check
                    .interval_ms
                    .unwrap_or(d.interval.as_millis() as u64),
            ),
            timeout: Duration::from_millis(
                self.check
                    .timeout_ms
                    .unwrap_or(d.timeout.as_millis() as u64),
            ),
            reply_timeout: Duration::from_millis(
                self.check
                    .reply_timeout_ms
                    .unwrap_or(d.reply_timeout.as_millis() as u64),
            ),
            rise: self.check.rise.unwrap_or(d.rise),
            fall: self.check.fall.unwrap_or(d.fall),
        };
        if check.interval < Duration::from_millis(10) {
            p.add(
                "check.interval_ms",
                format!("{}: must be at least 10", check.interval.as_millis()),
            );
        }
        if check.timeout < Duration::from_millis(10) {
            p.add(
                "check.timeout_ms",
                format!("{}: must be at least 10", check.timeout.as_millis()),
            );
        }
        if check.reply_timeout < Duration::from_millis(10) {
            p.add(
                "check.reply_timeout_ms",
                format!("{}: must be at least 10", check.reply_timeout.as_millis()),
            );
        }
        if check.rise == 0 {
            p.add("check.rise", "0: must be at least 1");
        }
        if check.fall == 0 {
            p.add("check.fall", "0: must be at least 1");
        }

        let mut nodes = Vec::new();
        let mut names = BTreeSet::new();
        let mut addresses = BTreeSet::new();
        if self.node.is_empty() {
            p.add(
                "node",
                "no [[node]] given: the balancer needs at least one real server",
            );
        }
        for (i, n) in self.node.iter().enumerate() {
            let f = |k: &str| format!("node[{i}].{k}");
            if n.name.is_empty()
                || n.name.len() > 63
                || !n
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            {
                p.add(
                    f("name"),
                    format!("{:?}: use 1-63 of a-z, 0-9, '-' and '.'", n.name),
                );
            } else if !names.insert(n.name.clone()) {
                p.add(
                    f("name"),
                    format!("{:?}: another node has this name", n.name),
                );
            }
            let address = match n.address.parse::<IpAddr>() {
                Ok(a) if a.is_unspecified() || a.is_multicast() => {
                    p.add(f("address"), format!("{a}: not a unicast address"));
                    None
                }
                Ok(a) => {
                    if !addresses.insert(a) {
                        p.add(f("address"), format!("{a}: another node has this address"));
                    }
                    Some(a)
                }
                Err(_) => {
                    p.add(
                        f("address"),
                        format!("{:?}: not an IPv4 or IPv6 address", n.address),
                    );
                    None
                }
            };
            let weight = match n.weight {
                None => Some(100),
                Some(w) if (0..=MAX_WEIGHT as i64).contains(&w) => Some(w as u32),
                Some(w) => {
                    p.add(f("weight"), format!("{w}: must be 0..={MAX_WEIGHT}"));
                    None
                }
            };
            if let (Some(address), Some(weight)) = (address, weight) {
                nodes.push(Node {
                    name: n.name.clone(),
                    address,
                    weight,
                    drain: n.drain,
                });
            }
        }

        let mode = match self.mode.as_str() {
            "ipvs" => {
                if self.dns.is_some() {
                    p.add(
                        "dns",
                        "a [dns] table with mode = \"ipvs\": remove it or set mode = \"dns\"",
                    );
                }
                match self.ipvs {
                    None => {
                        p.add(
                            "ipvs",
                            "mode = \"ipvs\" needs an [ipvs] table with at least `vip`",
                        );
                        None
                    }
                    Some(raw) => raw.validate(&mut p, &addresses).map(Mode::Ipvs),
                }
            }
            "dns" => {
                if self.ipvs.is_some() {
                    p.add(
                        "ipvs",
                        "an [ipvs] table with mode = \"dns\": remove it or set mode = \"ipvs\"",
                    );
                }
                match self.dns {
                    None => {
                        p.add(
                            "dns",
                            "mode = \"dns\" needs a [dns] table with `listen` and `zone`",
                        );
                        None
                    }
                    Some(raw) => raw.validate(&mut p).map(Mode::Dns),
                }
            }
            other => {
                p.add("mode", format!("{other:?}: use \"ipvs\" or \"dns\""));
                None
            }
        };
        if !p.0.is_empty() {
            return Err(ConfigError { problems: p.0 });
        }
        let mode = mode.expect("no problems means the mode was built");
        if let Mode::Ipvs(i) = &mode {
            if nodes.iter().any(|n| n.address.is_ipv4() != i.vip.is_ipv4()) {
                // IPVS can forward across families only by tunnelling; keep the table simple.
                return Err(ConfigError {
                    problems: vec![Problem {
                        field: "node".into(),
                        message: format!(
                            "every node address must be of the VIP's family ({})",
                            i.vip
                        ),
                    }],
                });
            }
        }
        Ok(Config { mode, nodes, check })
    }
}

impl RawIpvs {
    fn validate(self, p: &mut Problems, node_addresses: &BTreeSet<IpAddr>) -> Option<IpvsSettings> {
        let vip = match self.vip.parse::<IpAddr>() {
            Ok(v) if v.is_unspecified() || v.is_multicast() || v.is_loopback() => {
                p.add("ipvs.vip", format!("{v}: not a usable service address"));
                None
            }
            Ok(v) if node_addresses.contains(&v) => {
                p.add(
                    "ipvs.vip",
                    format!("{v}: this is a node's address; the VIP must be an address of its own"),
                );
                None
            }
            Ok(v) => Some(v),
            Err(_) => {
                p.add(
                    "ipvs.vip",
                    format!("{:?}: not an IPv4 or IPv6 address", self.vip),
                );
                None
            }
        };
        if let Some(i) = &self.interface {
            if i.is_empty() || i.len() > 15 || i.contains('/') || i.contains(char::is_whitespace) {
                p.add("ipvs.interface", format!("{i:?}: not an interface name"));
            }
        }
        let forwarding = match self.forwarding.as_deref().unwrap_or("dr") {
            "nat" => Some(Forwarding::Nat),
            "dr" => Some(Forwarding::Dr),
            "tunnel" => Some(Forwarding::Tunnel),
            other => {
                p.add(
                    "ipvs.forwarding",
                    format!("{other:?}: use \"nat\", \"dr\" or \"tunnel\""),
                );
                None
            }
        };
        let scheduler = self.scheduler.unwrap_or_else(|| "wlc".into());
        if !SCHEDULERS.contains(&scheduler.as_str()) {
            p.add(
                "ipvs.scheduler",
                format!(
                    "{scheduler:?}: unknown scheduler; use one of {}",
                    SCHEDULERS.join(", ")
                ),
            );
        }
        let mut ports = Vec::new();
        for (i, v) in self
            .ports
            .unwrap_or_else(|| MAIL_PORTS.iter().map(|&p| p as i64).collect())
            .into_iter()
            .enumerate()
        {
            if let Some(port) = port(p, &format!("ipvs.ports[{i}]"), v) {
                if ports.contains(&port) {
                    p.add(format!("ipvs.ports[{i}]"), format!("{port}: listed twice"));
                } else {
                    ports.push(port);
                }
            }
        }
        if ports.is_empty() {
            p.add("ipvs.ports", "no ports: list at least one, e.g. [25]");
        }
        let pair = match self.pair {
            None => None,
            Some(raw) => {
                if self.interface.is_none() {
                    p.add(
                        "ipvs.interface",
                        "a balancer pair needs it: VRRP runs there and the master holds the VIP there",
                    );
                }
                if forwarding == Some(Forwarding::Nat) {
                    p.add(
                        "ipvs.forwarding",
                        "\"nat\" with [ipvs.pair]: NAT needs the nodes' default route to move with the VIP, which the pair does not do; use \"dr\" or \"tunnel\"",
                    );
                }
                raw.validate(p, vip, node_addresses)
            }
        };
        Some(IpvsSettings {
            vip: vip?,
            interface: self.interface,
            forwarding: forwarding?,
            scheduler,
            persistence: self.persistence.unwrap_or(0),
            ports,
            remove_after: Duration::from_secs(self.remove_after.unwrap_or(60)),
            pair,
        })
    }
}

impl RawPair {
    fn validate(
        self,
        p: &mut Problems,
        vip: Option<IpAddr>,
        node_addresses: &BTreeSet<IpAddr>,
    ) -> Option<PairSettings> {
        let peer = match self.peer.parse::<IpAddr>() {
            Ok(a) if a.is_unspecified() || a.is_multicast() || a.is_loopback() => {
                p.add("ipvs.pair.peer", format!("{a}: not a unicast address"));
                None
            }
            Ok(a) if Some(a) == vip => {
                p.add(
                    "ipvs.pair.peer",
                    format!("{a}: this is the VIP; give the other balancer's own address"),
                );
                None
            }
            Ok(a) if node_addresses.contains(&a) => {
                p.add(
                    "ipvs.pair.peer",
                    format!("{a}: this is a node's address; give the other balancer's"),
                );
                None
            }
            Ok(a) if vip.is_some_and(|v| v.is_ipv4() != a.is_ipv4()) => {
                p.add(
                    "ipvs.pair.peer",
                    format!("{a}: VRRP for the VIP runs in the VIP's address family; give the peer's address of that family"),
                );
                None
            }
            Ok(a) => Some(a),
            Err(_) => {
                p.add(
                    "ipvs.pair.peer",
                    format!("{:?}: not an IPv4 or IPv6 address", self.peer),
                );
                None
            }
        };
        let priority = match self.priority.unwrap_or(100) {
            v @ 1..=254 => Some(v as u8),
            v => {
                p.add(
                    "ipvs.pair.priority",
                    format!("{v}: must be 1..=254 (255 is VRRP's address owner, which a balancer is not)"),
                );
                None
            }
        };
        let virtual_router_id = match self.virtual_router_id {
            v @ 1..=255 => Some(v as u8),
            v => {
                p.add(
                    "ipvs.pair.virtual_router_id",
                    format!(
                        "{v}: must be 1..=255, the same on both balancers and unique on the link"
                    ),
                );
                None
            }
        };
        let default_ms = DEFAULT_ADVERT_INTERVAL.as_millis() as i64;
        let advert_interval = match self.advert_interval_ms.unwrap_or(default_ms) {
            v @ 10..=40_950 if v % 10 == 0 => Some(Duration::from_millis(v as u64)),
            v => {
                p.add(
                    "ipvs.pair.advert_interval_ms",
                    format!(
                        "{v}: VRRPv3 counts in centiseconds: use a multiple of 10 from 10 to 40950"
                    ),
                );
                None
            }
        };
        Some(PairSettings {
            peer: peer?,
            priority: priority?,
            virtual_router_id: virtual_router_id?,
            advert_interval: advert_interval?,
        })
    }
}

impl RawDns {
    fn validate(self, p: &mut Problems) -> Option<DnsSettings> {
        let mut listen = Vec::new();
        for (i, l) in self.listen.iter().enumerate() {
            match l.parse::<SocketAddr>() {
                Ok(a) if a.port() == 0 => {
                    p.add(format!("dns.listen[{i}]"), format!("{l:?}: port 0"))
                }
                Ok(a) => listen.push(a),
                Err(_) => p.add(
                    format!("dns.listen[{i}]"),
                    format!("{l:?}: use ADDRESS:PORT, e.g. 203.0.113.11:53 or [2001:db8::1]:53"),
                ),
            }
        }
        if self.listen.is_empty() {
            p.add("dns.listen", "empty: give at least one ADDRESS:PORT");
        }
        let zone = dns_name(p, "dns.zone", &self.zone);
        let ttl = self.ttl.unwrap_or(5);
        if ttl > 86_400 {
            p.add(
                "dns.ttl",
                format!("{ttl}: at most 86400 seconds (and keep it short)"),
            );
        }
        let raw_names = self.names.unwrap_or_else(|| {
            [
                ("mx", vec![25]),
                ("smtp", vec![587, 465]),
                ("imap", vec![143, 993]),
                ("pop3", vec![110, 995]),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect()
        });
        let mut names = BTreeMap::new();
        for (name, ports) in raw_names {
            let field = format!("dns.names.{name}");
            let Some(n) = dns_name(p, &field, &name) else {
                continue;
            };
            let ports: Vec<u16> = ports
                .into_iter()
                .enumerate()
                .filter_map(|(i, v)| port(p, &format!("{field}[{i}]"), v))
                .collect();
            if ports.is_empty() {
                p.add(
                    field,
                    "no ports: a node is in this name's answer when it passes these ports' checks",
                );
                continue;
            }
            names.insert(n, ports);
        }
        let mx_target = self.mx_target.unwrap_or_else(|| "mx".into());
        if !names.contains_key(&mx_target.to_ascii_lowercase()) {
            p.add(
                "dns.mx_target",
                format!("{mx_target:?}: not one of dns.names"),
            );
        }
        let mut mx_domains = Vec::new();
        for (i, d) in self.mx_domains.iter().enumerate() {
            if let Some(d) = dns_name(p, &format!("dns.mx_domains[{i}]"), d) {
                mx_domains.push(d);
            }
        }
        let mut name_servers = Vec::new();
        for (i, a) in self.name_servers.iter().enumerate() {
            let field = format!("dns.name_servers[{i}]");
            match a.parse::<IpAddr>() {
                Ok(ip) if ip.is_unspecified() || ip.is_multicast() || ip.is_loopback() => p.add(
                    field,
                    format!(
                        "{ip}: not an address resolvers can reach; give the server's public address"
                    ),
                ),
                Ok(ip) if name_servers.contains(&ip) => p.add(field, format!("{ip}: listed twice")),
                Ok(ip) => name_servers.push(ip),
                Err(_) => p.add(
                    field,
                    format!("{a:?}: not an IPv4 or IPv6 address; give the server's public address"),
                ),
            }
        }
        for i in 1..=self.name_servers.len() {
            let label = format!("{NAME_SERVER_LABEL}{i}");
            if names.contains_key(&label) {
                p.add(
                    format!("dns.names.{label}"),
                    format!(
                        "the name server dns.name_servers[{}] is {label}.<zone>: give the service another name",
                        i - 1
                    ),
                );
            }
        }
        Some(DnsSettings {
            listen,
            zone: zone?,
            ttl,
            names,
            mx_target: mx_target.to_ascii_lowercase(),
            mx_domains,
            name_servers,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
mode = "ipvs"
[ipvs]
vip = "203.0.113.240"
forwarding = "nat"
[[node]]
name = "node1"
address = "10.42.0.11"
[[node]]
name = "node2"
address = "10.42.0.12"
weight = 50
"#;

    #[test]
    fn good_ipvs_file_gets_defaults() {
        let c = Config::parse(GOOD).unwrap();
        let Mode::Ipvs(i) = &c.mode else { panic!() };
        assert_eq!(i.scheduler, "wlc");
        assert_eq!(i.ports, MAIL_PORTS);
        assert_eq!(i.forwarding, Forwarding::Nat);
        assert_eq!(c.nodes[1].weight, 50);
        assert_eq!(c.check, CheckSettings::default());
    }

    fn problems(text: &str) -> String {
        Config::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn bad_values_are_named() {
        let e = problems(&GOOD.replace(
            "forwarding = \"nat\"",
            "scheduler = \"fastest\"\nports = [25, 0]",
        ));
        assert!(
            e.contains("ipvs.scheduler: \"fastest\": unknown scheduler; use one of rr"),
            "{e}"
        );
        assert!(
            e.contains("ipvs.ports[1]: 0: a port must be 1..=65535"),
            "{e}"
        );
        let e = problems(&GOOD.replace("203.0.113.240", "10.42.0.12"));
        assert!(
            e.contains("ipvs.vip: 10.42.0.12: this is a node's address"),
            "{e}"
        );
        let e = problems(&GOOD.replace("weight = 50", "weight = -1"));
        assert!(e.contains("node[1].weight: -1"), "{e}");
        let e = problems(&GOOD.replace("mode = \"ipvs\"", "mode = \"anycast\""));
        assert!(e.contains("mode: \"anycast\""), "{e}");
        let e = problems("mode = \"ipvs\"\nbogus = 1\n");
        assert!(e.starts_with("line 2:"), "{e}");
    }

    const PAIR: &str = r#"
mode = "ipvs"
[ipvs]
vip = "203.0.113.240"
interface = "eth0"
[ipvs.pair]
peer = "10.42.0.3"
virtual_router_id = 51
[[node]]
name = "node1"
address = "10.42.0.11"
"#;

    #[test]
    fn a_pair_gets_defaults_and_its_mistakes_are_named() {
        let c = Config::parse(PAIR).unwrap();
        let Mode::Ipvs(i) = &c.mode else { panic!() };
        let pair = i.pair.unwrap();
        assert_eq!(pair.peer, "10.42.0.3".parse::<IpAddr>().unwrap());
        assert_eq!(pair.priority, 100);
        assert_eq!(pair.virtual_router_id, 51);
        assert_eq!(pair.advert_interval, Duration::from_millis(100));
        let e = problems(&PAIR.replace("interface = \"eth0\"\n", ""));
        assert!(
            e.contains("ipvs.interface: a balancer pair needs it"),
            "{e}"
        );
        let e = problems(&PAIR.replace(
            "interface = \"eth0\"",
            "interface = \"eth0\"\nforwarding = \"nat\"",
        ));
        assert!(
            e.contains("ipvs.forwarding: \"nat\" with [ipvs.pair]"),
            "{e}"
        );
        let e = problems(&PAIR.replace("10.42.0.3", "10.42.0.11"));
        assert!(
            e.contains("ipvs.pair.peer: 10.42.0.11: this is a node's address"),
            "{e}"
        );
        let e = problems(&PAIR.replace("10.42.0.3", "2001:db8::3"));
        assert!(
            e.contains(
                "ipvs.pair.peer: 2001:db8::3: VRRP for the VIP runs in the VIP's address family"
            ),
            "{e}"
        );
        let e = problems(&PAIR.replace(
            "virtual_router_id = 51",
            "virtual_router_id = 0\npriority = 255\nadvert_interval_ms = 105",
        ));
        assert!(
            e.contains("ipvs.pair.virtual_router_id: 0: must be 1..=255"),
            "{e}"
        );
        assert!(
            e.contains("ipvs.pair.priority: 255: must be 1..=254"),
            "{e}"
        );
        assert!(
            e.contains("ipvs.pair.advert_interval_ms: 105: VRRPv3 counts in centiseconds"),
            "{e}"
        );
        let e = problems(&PAIR.replace(
            "virtual_router_id = 51",
            "virtual_router_id = 51\nauth = \"x\"",
        ));
        assert!(e.contains("unknown field `auth`"), "{e}");
    }

    #[test]
    fn dns_mode_defaults_and_checks() {
        let text = r#"
mode = "dns"
[dns]
listen = ["203.0.113.11:53"]
zone = "Cluster.Example.NET."
mx_domains = ["example.com"]
[[node]]
name = "node1"
address = "203.0.113.11"
"#;
        let c = Config::parse(text).unwrap();
        let Mode::Dns(d) = &c.mode else { panic!() };
        assert_eq!(d.zone, "cluster.example.net");
        assert_eq!(d.names["mx"], vec![25]);
        assert_eq!(c.checked_ports(), vec![25, 110, 143, 465, 587, 993, 995]);
        let e = problems(&text.replace("203.0.113.11:53", "203.0.113.11"));
        assert!(e.contains("dns.listen[0]"), "{e}");
    }

    #[test]
    fn dns_name_servers_are_addresses_each_once() {
        let text = r#"
mode = "dns"
[dns]
listen = ["203.0.113.11:53"]
zone = "cluster.example.net"
name_servers = ["203.0.113.11", "203.0.113.12"]
[[node]]
name = "node1"
address = "203.0.113.11"
"#;
        let c = Config::parse(text).unwrap();
        let Mode::Dns(d) = &c.mode else { panic!() };
        assert_eq!(
            d.name_servers,
            [
                "203.0.113.11".parse::<IpAddr>().unwrap(),
                "203.0.113.12".parse().unwrap()
            ]
        );
        let e = problems(&text.replace(
            "\"203.0.113.11\", \"203.0.113.12\"",
            "\"203.0.113.11\", \"mx2\", \"0.0.0.0\", \"203.0.113.11\"",
        ));
        assert!(
            e.contains("dns.name_servers[1]: \"mx2\": not an IPv4 or IPv6 address"),
            "{e}"
        );
        assert!(
            e.contains("dns.name_servers[2]: 0.0.0.0: not an address resolvers can reach"),
            "{e}"
        );
        assert!(
            e.contains("dns.name_servers[3]: 203.0.113.11: listed twice"),
            "{e}"
        );
        let e = problems(&text.replace(
            "name_servers",
            "names = { mx = [25], ns2 = [25] }\nname_servers",
        ));
        assert!(
            e.contains("dns.names.ns2: the name server dns.name_servers[1] is ns2.<zone>"),
            "{e}"
        );
    }
}

#[cfg(test)]
mod example_tests {
    use super::*;

    #[test]
    fn shipped_examples_parse() {
        for text in [
            include_str!("../../../balancer/examples/balancer-ipvs.toml"),
            include_str!("../../../balancer/examples/balancer-ipvs-pair.toml"),
            include_str!("../../../balancer/examples/balancer-dns.toml"),
        ] {
            Config::parse(text).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}
