//! The answers file (TOML) and its validation into a [`Plan`]. Every problem is reported at
//! once, each naming its field, e.g.
//! `network.private.address: "10.0.0.5/33": prefix length must be 0..=32`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use serde::Deserialize;

use crate::plan::{
    AdminPassword, Balancer, Forwarding, Plan, PrivateNetwork, PublicNetwork, Role, StorageModel,
};
use crate::providers::DirectoryChoice;
use crate::types::{ClusterName, Fqdn, InterfaceName, Ipv4Cidr, MailDomain};

/// Shortest administrator password accepted.
pub const MIN_PASSWORD_LEN: usize = 10;

/// The answers file as written, before validation. Unknown keys are refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAnswers {
    /// `[cluster]`
    #[serde(default)]
    pub cluster: RawCluster,
    /// `[balancer]` (only with `cluster.balancer = "ipvs"`)
    pub balancer: Option<RawBalancer>,
    /// `[mail]`
    #[serde(default)]
    pub mail: RawMail,
    /// `[node]`
    #[serde(default)]
    pub node: RawNode,
    /// `[network]`
    #[serde(default)]
    pub network: RawNetwork,
    /// `[admin]`
    #[serde(default)]
    pub admin: RawAdmin,
    /// `[disk]`: the disk an install from the ISO erases (checked by
    /// [`crate::disk::validate_disk`] against the machine's disks).
    pub disk: Option<crate::disk::RawDisk>,
    /// `[ssh]`
    pub ssh: Option<RawSsh>,
}

/// `[ssh]`: root's SSH access, by key only.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSsh {
    /// `authorized_keys`: public key lines, as in a `.pub` file.
    pub authorized_keys: Option<Vec<String>>,
}

/// `[cluster]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCluster {
    /// `name`
    pub name: Option<String>,
    /// `storage`
    pub storage: Option<String>,
    /// `balancer`
    pub balancer: Option<String>,
    /// `join`: a joining node's token (`pigeonctl node token` on a member). Its answers then
    /// hold only `[node]` and `[network]`; the rest comes from the cluster.
    pub join: Option<String>,
    /// `provider`: on a node that joined, the private address of the directory provider it
    /// replicates from (saved answers only; written by the install that joined).
    pub provider: Option<String>,
    /// `directory`: a joining node's answers only: `auto` (the default: the node becomes one of
    /// the directory's providers while the cluster has fewer than two) or `replica` (it stays a
    /// read-only replica).
    pub directory: Option<String>,
}

/// `[balancer]`: the IPVS balancer's virtual service.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBalancer {
    /// `vip`
    pub vip: Option<String>,
    /// `forwarding`
    pub forwarding: Option<String>,
}

/// `[mail]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMail {
    /// `domain`
    pub domain: Option<String>,
}

/// `[node]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNode {
    /// `hostname`
    pub hostname: Option<String>,
}

/// `[network]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNetwork {
    /// `dns`
    pub dns: Option<Vec<String>>,
    /// `[network.public]`
    #[serde(default)]
    pub public: RawInterface,
    /// `[network.private]`
    #[serde(default)]
    pub private: RawInterface,
}

/// `[network.public]` or `[network.private]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInterface {
    /// `interface`
    pub interface: Option<String>,
    /// `address`
    pub address: Option<String>,
    /// `gateway` (public only)
    pub gateway: Option<String>,
}

/// `[admin]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    /// `password`
    pub password: Option<String>,
    /// `password_hash`
    pub password_hash: Option<String>,
}

/// One problem with one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The field, as a dotted path (`network.private.address`).
    pub field: String,
    /// What is wrong and, where it helps, what to write instead.
    pub message: String,
}

/// The answers file cannot become a plan.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswersError {
    /// Not valid TOML, or a key that does not exist, or a value of the wrong type.
    #[error("{0}")]
    Syntax(String),
    /// One or more fields are invalid.
    #[error("{}", render_problems(.0))]
    Invalid(Vec<Problem>),
}

fn render_problems(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Collects problems while fields are checked one by one.
#[derive(Default)]
struct Checker {
    problems: Vec<Problem>,
}

impl Checker {
    fn problem(&mut self, field: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            field: field.to_owned(),
            message: message.into(),
        });
    }

    /// A required field, parsed with `parse`.
    fn required<T>(
        &mut self,
        field: &str,
        value: &Option<String>,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        match value {
            None => {
                self.problem(field, "missing");
                None
            }
            Some(v) => self.optional(field, &Some(v.clone()), parse),
        }
    }

    fn optional<T>(
        &mut self,
        field: &str,
        value: &Option<String>,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let v = value.as_deref()?;
        match parse(v) {
            Ok(t) => Some(t),
            Err(e) => {
                self.problem(field, e);
                None
            }
        }
    }
}

fn ipv4(s: &str) -> Result<Ipv4Addr, String> {
    s.parse()
        .map_err(|_| format!("{s:?} is not an IPv4 address"))
}

fn storage(s: &str) -> Result<StorageModel, String> {
    match s {
        "distributed" => Ok(StorageModel::Distributed),
        "shared" => Err(format!(
            "{s:?}: this version supports \"distributed\" storage only"
        )),
        _ => Err(format!("{s:?}: expected \"distributed\"")),
    }
}

/// `cluster.balancer` alone; an IPVS balancer's details are in `[balancer]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BalancerKind {
    None,
    Dns,
    Ipvs,
}

fn balancer_kind(s: &str) -> Result<BalancerKind, String> {
    match s {
        "none" => Ok(BalancerKind::None),
        "dns" => Ok(BalancerKind::Dns),
        "ipvs" => Ok(BalancerKind::Ipvs),
        _ => Err(format!(
            "{s:?}: expected \"none\" (a single box), \"dns\" or \"ipvs\""
        )),
    }
}

fn forwarding(s: &str) -> Result<Forwarding, String> {
    match s {
        "dr" => Ok(Forwarding::Dr),
        "nat" => Ok(Forwarding::Nat),
        _ => Err(format!(
            "{s:?}: expected \"dr\" (direct routing, the default) or \"nat\""
        )),
    }
}

fn vip(s: &str) -> Result<IpAddr, String> {
    let ip: IpAddr = s
        .parse()
        .map_err(|_| format!("{s:?} is not an IPv4 or IPv6 address"))?;
    let broadcast = matches!(ip, IpAddr::V4(v4) if v4.is_broadcast());
    if ip.is_unspecified() || ip.is_loopback() || ip.is_multicast() || broadcast {
        return Err(format!("{s:?} cannot be a service's address"));
    }
    Ok(ip)
}

/// This node's networks as far as they parsed: what an IPVS VIP is checked against.
struct NodeNetworks {
    public: Option<Ipv4Cidr>,
    gateway: Option<Ipv4Addr>,
    private: Option<Ipv4Cidr>,
}

/// The first thing wrong with `vip` for this node, if any.
fn vip_problem(vip: IpAddr, forwarding: Forwarding, nets: &NodeNetworks) -> Option<String> {
    const OWN: &str = "the VIP must be an address of its own, used by no node and no router";
    let v4 = match vip {
        IpAddr::V4(v4) => Some(v4),
        IpAddr::V6(_) => None,
    };
    let named = [
        (nets.public, "network.public.address"),
        (nets.private, "network.private.address"),
    ];
    for (net, field) in named {
        let Some(net) = net else { continue };
        if v4 == Some(net.addr()) {
            return Some(format!("\"{vip}\" is this node's address ({field}): {OWN}"));
        }
    }
    if v4.is_some() && v4 == nets.gateway {
        return Some(format!("\"{vip}\" is network.public.gateway: {OWN}"));
    }
    for (net, field) in named {
        let (Some(net), Some(ip)) = (net, v4) else {
            continue;
        };
        // /31 and /32 networks have no network or broadcast address (RFC 3021).
        if net.prefix() < 31 && (ip == net.network() || ip == net.broadcast()) {
            let which = if ip == net.network() {
                "network"
            } else {
                "broadcast"
            };
            return Some(format!(
                "\"{vip}\" is the {which} address of {field}'s network {}, not a host's",
                net.network_cidr()
            ));
        }
    }
    if forwarding == Forwarding::Dr
        && let Some(public) = nets.public
        && !v4.is_some_and(|ip| public.contains(ip))
    {
        return Some(format!(
            "\"{vip}\" is not in network.public.address's network {}: with forwarding = \"dr\" \
             the balancer passes each packet unchanged to a node's MAC address on the public \
             network's link, so the VIP must be an address of that network (or use \
             forwarding = \"nat\")",
            public.network_cidr()
        ));
    }
    None
}

/// The balancer from `cluster.balancer` (already parsed as `kind`) and the `[balancer]` table.
fn balancer(
    c: &mut Checker,
    kind: Option<BalancerKind>,
    table: Option<&RawBalancer>,
    nets: &NodeNetworks,
) -> Option<Balancer> {
    let kind = kind?;
    let simple = match kind {
        BalancerKind::None => Some(Balancer::None),
        BalancerKind::Dns => Some(Balancer::Dns),
        BalancerKind::Ipvs => None,
    };
    if let Some(simple) = simple {
        if table.is_some() {
            c.problem(
                "balancer",
                format!(
                    "a [balancer] table is only for cluster.balancer = \"ipvs\" (here {:?}): \
                     remove it",
                    simple.kind()
                ),
            );
            return None;
        }
        return Some(simple);
    }
    let empty = RawBalancer::default();
    let table = table.unwrap_or(&empty);
    if table.vip.is_none() {
        c.problem(
            "balancer.vip",
            "missing: cluster.balancer = \"ipvs\" needs the virtual service address the \
             balancer answers on, e.g. [balancer] vip = \"203.0.113.240\"",
        );
    }
    let vip = c.optional("balancer.vip", &table.vip, vip);
    let forwarding = match &table.forwarding {
        None => Some(Forwarding::Dr),
        f => c.optional("balancer.forwarding", f, forwarding),
    };
    let (vip, forwarding) = (vip?, forwarding?);
    if let Some(problem) = vip_problem(vip, forwarding, nets) {
        c.problem("balancer.vip", problem);
        return None;
    }
    Some(Balancer::Ipvs { vip, forwarding })
}

/// `cluster.balancer` and the `[balancer]` table that give `balancer`: what the answers file
/// says, for front ends that carry a plan's balancer through unchanged.
pub fn raw_balancer(balancer: &Balancer) -> (String, Option<RawBalancer>) {
    let table = match balancer {
        Balancer::Ipvs { vip, forwarding } => Some(RawBalancer {
            vip: Some(vip.to_string()),
            forwarding: Some(forwarding.as_str().to_owned()),
        }),
        Balancer::None | Balancer::Dns => None,
    };
    (balancer.kind().to_owned(), table)
}

fn clear_password(s: &str) -> Result<AdminPassword, String> {
    if s.chars().count() < MIN_PASSWORD_LEN {
        return Err(format!(
            "too short: use at least {MIN_PASSWORD_LEN} characters"
        ));
    }
    if s.len() > 1024 || s.chars().any(char::is_control) {
        return Err("use at most 1024 characters and no control characters".into());
    }
    Ok(AdminPassword::Clear(s.to_owned()))
}

/// Checks a SHA512-CRYPT hash: `$6$[rounds=N$]SALT$HASH`, salt of 1–16 and hash of 86
/// characters from `./0-9A-Za-z`.
fn password_hash(s: &str) -> Result<AdminPassword, String> {
    let h = s.strip_prefix("{CRYPT}").unwrap_or(s);
    let b64 = |t: &str| {
        t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'/')
    };
    let mut parts: Vec<&str> = h.split('$').collect();
    // ["", "6", (rounds=N,) salt, hash]
    if parts.len() == 5 && parts[2].starts_with("rounds=") {
        parts.remove(2);
    }
    let ok = parts.len() == 4
        && parts[0].is_empty()
        && parts[1] == "6"
        && (1..=16).contains(&parts[2].len())
        && b64(parts[2])
        && parts[3].len() == 86
        && b64(parts[3]);
    if ok {
        Ok(AdminPassword::Hash(h.to_owned()))
    } else {
        Err("expected a SHA512-CRYPT hash ($6$SALT$HASH), as `openssl passwd -6` prints".into())
    }
}

/// Parses and validates an answers file.
pub fn parse_answers(text: &str) -> Result<Plan, AnswersError> {
    validate(&parse_raw(text)?)
}

/// Validates answers into a plan, reporting every problem.
pub fn validate(raw: &RawAnswers) -> Result<Plan, AnswersError> {
    let mut c = Checker::default();
    let cluster = c.required("cluster.name", &raw.cluster.name, ClusterName::try_new);
    let storage = match &raw.cluster.storage {
        None => Some(StorageModel::Distributed),
        v => c.optional("cluster.storage", v, storage),
    };
    let balancer_kind = match &raw.cluster.balancer {
        None => Some(BalancerKind::None),
        v => c.optional("cluster.balancer", v, balancer_kind),
    };
    let domain = c.required("mail.domain", &raw.mail.domain, MailDomain::try_new);
    let (hostname, public, private, dns) = node_networks(&mut c, raw);
    let nets = NodeNetworks {
        public: public.as_ref().map(|p| p.address),
        gateway: public.as_ref().and_then(|p| p.gateway),
        private: private.as_ref().map(|p| p.address),
    };
    let balancer = balancer(&mut c, balancer_kind, raw.balancer.as_ref(), &nets);
    if raw.cluster.join.is_some() {
        c.problem(
            "cluster.join",
            "these are a joining node's answers: pigeonair-install joins with them (they hold only \
             [cluster] join, [node] and [network])",
        );
    }
    if raw.cluster.directory.is_some() {
        c.problem(
            "cluster.directory",
            "only a joining node's answers choose it (with [cluster] join): remove it; \
             `pigeonctl node role` changes a member's part",
        );
    }
    let role = match &raw.cluster.provider {
        Some(_) => {
            if raw.admin.password.is_some() || raw.admin.password_hash.is_some() {
                c.problem(
                    "admin",
                    "a node that joined has no [admin] of its own (the cluster's administrator is in the directory): remove it",
                );
            }
            c.optional("cluster.provider", &raw.cluster.provider, ipv4)
                .map(|provider| Role::Joined { provider })
        }
        None => {
            admin_password(&mut c, &raw.admin).map(|admin_password| Role::First { admin_password })
        }
    };
    let ssh_keys = ssh_keys(&mut c, raw.ssh.as_ref());
    if !c.problems.is_empty() {
        return Err(AnswersError::Invalid(c.problems));
    }
    // Every value is Some when no problem was recorded.
    Ok(Plan {
        cluster: cluster.expect("checked"),
        storage: storage.expect("checked"),
        balancer: balancer.expect("checked"),
        domain: domain.expect("checked"),
        hostname: hostname.expect("checked"),
        public: public.expect("checked"),
        private: private.expect("checked"),
        dns,
        role: role.expect("checked"),
        ssh_keys,
    })
}

/// `[ssh] authorized_keys`: each line checked, none twice.
fn ssh_keys(c: &mut Checker, ssh: Option<&RawSsh>) -> Vec<crate::ssh::SshPublicKey> {
    let mut keys: Vec<crate::ssh::SshPublicKey> = Vec::new();
    let lines = ssh
        .and_then(|s| s.authorized_keys.as_deref())
        .unwrap_or_default();
    for (i, line) in lines.iter().enumerate() {
        let field = format!("ssh.authorized_keys[{i}]");
        match crate::ssh::SshPublicKey::try_new(line) {
            Ok(k) if keys.contains(&k) => c.problem(&field, "the same key is listed twice"),
            Ok(k) => keys.push(k),
            Err(e) => c.problem(&field, &e),
        }
    }
    keys
}

fn admin_password(c: &mut Checker, admin: &RawAdmin) -> Option<AdminPassword> {
    match (&admin.password, &admin.password_hash) {
        (Some(_), Some(_)) => {
            c.problem(
                "admin.password",
                "give admin.password or admin.password_hash, not both",
            );
            None
        }
        (None, None) => {
            c.problem("admin.password", "missing (or give admin.password_hash)");
            None
        }
        (p @ Some(_), None) => c.optional("admin.password", p, clear_password),
        (None, h @ Some(_)) => c.optional("admin.password_hash", h, password_hash),
    }
}

/// `[node]` and `[network]`: what every node's answers have, first or joining.
fn node_networks(
    c: &mut Checker,
    raw: &RawAnswers,
) -> (
    Option<Fqdn>,
    Option<PublicNetwork>,
    Option<PrivateNetwork>,
    Vec<Ipv4Addr>,
) {
    let hostname = c.required("node.hostname", &raw.node.hostname, Fqdn::try_new);

    let pub_raw = &raw.network.public;
    let pub_if = c.required(
        "network.public.interface",
        &pub_raw.interface,
        InterfaceName::try_new,
    );
    let pub_addr = c.required(
        "network.public.address",
        &pub_raw.address,
        Ipv4Cidr::try_new,
    );
    let gateway = c.optional("network.public.gateway", &pub_raw.gateway, ipv4);
    if let (Some(addr), Some(gw)) = (pub_addr, gateway) {
        if !addr.contains(gw) {
            c.problem(
                "network.public.gateway",
                format!(
                    "\"{gw}\" is not in network.public.address's network {}",
                    addr.network_cidr()
                ),
            );
        } else if gw == addr.addr() {
            c.problem(
                "network.public.gateway",
                format!("\"{gw}\" is this node's own address"),
            );
        }
    }
    let priv_raw = &raw.network.private;
    let priv_if = c.required(
        "network.private.interface",
        &priv_raw.interface,
        InterfaceName::try_new,
    );
    let priv_addr = c.required(
        "network.private.address",
        &priv_raw.address,
        Ipv4Cidr::try_new,
    );
    if priv_raw.gateway.is_some() {
        c.problem(
            "network.private.gateway",
            "the private cluster network has no gateway: remove it",
        );
    }
    if let (Some(p), Some(q)) = (pub_addr, priv_addr)
        && p.overlaps(&q)
    {
        c.problem(
            "network.private.address",
            format!(
                "\"{q}\": network {} overlaps network.public.address's {}",
                q.network_cidr(),
                p.network_cidr()
            ),
        );
    }
    if let (Some(a), Some(b)) = (&pub_if, &priv_if)
        && a == b
    {
        c.problem(
            "network.private.interface",
            format!("\"{b}\" is the public interface too: the cluster network needs its own"),
        );
    }
    let mut dns = Vec::new();
    for (i, server) in raw.network.dns.iter().flatten().enumerate() {
        if let Some(ip) = c.optional(&format!("network.dns[{i}]"), &Some(server.clone()), ipv4) {
            dns.push(ip);
        }
    }
    let public = match (pub_if, pub_addr) {
        (Some(interface), Some(address)) => Some(PublicNetwork {
            interface,
            address,
            gateway,
        }),
        _ => None,
    };
    let private = match (priv_if, priv_addr) {
        (Some(interface), Some(address)) => Some(PrivateNetwork { interface, address }),
        _ => None,
    };
    (hostname, public, private, dns)
}

/// A joining node's answers: its token, host name and networks. The rest of its plan comes
/// from the cluster during the join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinAnswers {
    /// `cluster.join`, as written (the installer parses it as a token).
    pub token: String,
    /// This node's host name.
    pub hostname: Fqdn,
    /// The public network.
    pub public: PublicNetwork,
    /// The private cluster network.
    pub private: PrivateNetwork,
    /// DNS resolvers.
    pub dns: Vec<Ipv4Addr>,
    /// Whether the node may become a directory provider (`cluster.directory`).
    pub directory: DirectoryChoice,
    /// `[ssh] authorized_keys`: this node's own (each box chooses its SSH access).
    pub ssh_keys: Vec<crate::ssh::SshPublicKey>,
}

/// `cluster.directory`: `auto` or `replica`.
fn directory_choice(s: &str) -> Result<DirectoryChoice, String> {
    match s {
        "auto" => Ok(DirectoryChoice::Auto),
        "replica" => Ok(DirectoryChoice::Replica),
        other => Err(format!(
            "\"{other}\": expected \"auto\" (the default: the node becomes a directory provider \
             while the cluster has fewer than two) or \"replica\" (it never does by itself)"
        )),
    }
}

/// What an answers file asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answers {
    /// Install (or re-apply) this plan: a first node, or a node that joined already.
    Install(Plan),
    /// Join a cluster.
    Join(JoinAnswers),
}

/// Reads an answers file's TOML, before validation.
pub fn parse_raw(text: &str) -> Result<RawAnswers, AnswersError> {
    toml::from_str(text).map_err(|e| AnswersError::Syntax(e.to_string().trim().to_owned()))
}

/// Parses an answers file of either kind. A join token is checked only for being there (its
/// format is `pigeonair-join`'s, which builds on this crate: `pigeonair_installer::join::check`
/// checks it too, with [`validate_join`]).
pub fn parse_any(text: &str) -> Result<Answers, AnswersError> {
    let raw = parse_raw(text)?;
    if raw.cluster.join.is_none() {
        return validate(&raw).map(Answers::Install);
    }
    validate_join(&raw, &|_| Ok(())).map(Answers::Join)
}

/// Validates a joining node's answers (`[cluster] join`, `[node]`, `[network]`), reporting
/// every problem; `check_token` says what is wrong with a token that is there (the
/// installer parses it as a `pigeonair_join::Token`).
pub fn validate_join(
    raw: &RawAnswers,
    check_token: &dyn Fn(&str) -> Result<(), String>,
) -> Result<JoinAnswers, AnswersError> {
    let mut c = Checker::default();
    let token = c.required("cluster.join", &raw.cluster.join, |t| {
        let t = t.trim();
        if t.is_empty() {
            Err("empty: paste the token `pigeonctl node token` printed on a member".into())
        } else {
            check_token(t).map(|()| t.to_owned())
        }
    });
    let from_cluster = "comes from the cluster when a node joins: remove it";
    for (field, set) in [
        ("cluster.name", raw.cluster.name.is_some()),
        ("cluster.storage", raw.cluster.storage.is_some()),
        ("cluster.balancer", raw.cluster.balancer.is_some()),
        ("cluster.provider", raw.cluster.provider.is_some()),
        ("balancer", raw.balancer.is_some()),
        ("mail.domain", raw.mail.domain.is_some()),
        (
            "admin",
            raw.admin.password.is_some() || raw.admin.password_hash.is_some(),
        ),
    ] {
        if set {
            c.problem(field, from_cluster);
        }
    }
    let directory = match &raw.cluster.directory {
        None => Some(DirectoryChoice::Auto),
        v => c.optional("cluster.directory", v, directory_choice),
    };
    let (hostname, public, private, dns) = node_networks(&mut c, raw);
    let ssh_keys = ssh_keys(&mut c, raw.ssh.as_ref());
    if !c.problems.is_empty() {
        return Err(AnswersError::Invalid(c.problems));
    }
    Ok(JoinAnswers {
        ssh_keys,
        token: token.expect("checked"),
        hostname: hostname.expect("checked"),
        public: public.expect("checked"),
        private: private.expect("checked"),
        dns,
        directory: directory.expect("checked"),
    })
}

/// The answers file for `plan`, with the administrator password as `password_hash`: what the
/// installer saves on the node and the TUI saves from its summary. It parses back to the same
/// plan (with the hash in place of clear text).
pub fn to_toml(plan: &Plan, admin_hash: &str) -> String {
    let provider = match &plan.role {
        Role::Joined { provider } => format!("provider = \"{provider}\"\n"),
        Role::First { .. } => String::new(),
    };
    let (kind, table) = raw_balancer(&plan.balancer);
    let table = table
        .map(|t| {
            format!(
                "[balancer]\nvip = \"{}\"\nforwarding = \"{}\"\n\n",
                t.vip.unwrap_or_default(),
                t.forwarding.unwrap_or_default()
            )
        })
        .unwrap_or_default();
    let mut text = format!(
        "# PigeonAir answers file (saved by pigeonair-install; the password is kept as a hash).\n\
         [cluster]\nname = \"{}\"\nstorage = \"distributed\"\nbalancer = \"{kind}\"\n{provider}\n{table}\
         [mail]\ndomain = \"{}\"\n\n[node]\nhostname = \"{}\"\n\n[network]\ndns = [{}]\n\n\
         [network.public]\ninterface = \"{}\"\naddress = \"{}\"\n",
        plan.cluster,
        plan.domain,
        plan.hostname,
        plan.dns
            .iter()
            .map(|d| format!("\"{d}\""))
            .collect::<Vec<_>>()
            .join(", "),
        plan.public.interface,
        plan.public.address,
    );
    if let Some(gw) = plan.public.gateway {
        text.push_str(&format!("gateway = \"{gw}\"\n"));
    }
    text.push_str(&format!(
        "\n[network.private]\ninterface = \"{}\"\naddress = \"{}\"\n",
        plan.private.interface, plan.private.address
    ));
    if let Role::First { .. } = plan.role {
        text.push_str(&format!("\n[admin]\npassword_hash = \"{admin_hash}\"\n"));
    }
    if !plan.ssh_keys.is_empty() {
        text.push_str("\n[ssh]\nauthorized_keys = [\n");
        for k in &plan.ssh_keys {
            // A TOML string, quoted and escaped by the toml crate (a comment may hold quotes).
            text.push_str(&format!("    {},\n", toml::Value::String(k.to_string())));
        }
        text.push_str("]\n");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_answers_parse_back_to_the_same_plan() {
        let hash = "$6$abcdefgh12345678$iVJtDoj0HJxHKse63Ugg6qgORVar9xPcJGzsf17nDjM8sahjgPLuBj0lsy8ViSpMd.B0uCVQCHvB13BjoqiYe0";
        let single_box = parse_answers(include_str!("../examples/single-box.toml")).unwrap();
        let plans = [
            single_box.clone(),
            parse_answers(include_str!("../tests/resources/parse_answer/dns.toml")).unwrap(),
            parse_answers(include_str!("../tests/resources/parse_answer/ipvs-dr.toml")).unwrap(),
            parse_answers(include_str!("../tests/resources/parse_answer/ssh.toml")).unwrap(),
            Plan {
                balancer: Balancer::Ipvs {
                    vip: "2001:db8::240".parse().unwrap(),
                    forwarding: Forwarding::Nat,
                },
                ..single_box
            },
        ];
        for plan in plans {
            let text = to_toml(&plan, hash);
            let again = parse_answers(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
            let expected = Plan {
                role: Role::First {
                    admin_password: AdminPassword::Hash(hash.into()),
                },
                ..plan
            };
            assert_eq!(again, expected, "{text}");
        }
    }

    #[test]
    fn ipvs_forwarding_defaults_to_direct_routing() {
        let text = include_str!("../examples/single-box.toml").replace(
            "balancer = \"none\"",
            "balancer = \"ipvs\"\n[balancer]\nvip = \"203.0.113.240\"\n",
        );
        // `balancer` is [cluster]'s last key: the table follows it.
        let plan = parse_answers(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(
            plan.balancer,
            Balancer::Ipvs {
                vip: "203.0.113.240".parse().unwrap(),
                forwarding: Forwarding::Dr
            }
        );
    }
}
