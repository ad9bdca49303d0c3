//! The answers file (TOML) and its validation into a [`Plan`]. Every problem is reported at
//! once, each naming its field, e.g.
//! `network.private.address: "10.0.0.5/33": prefix length must be 0..=32`.

use std::fmt;
use std::net::Ipv4Addr;

use serde::Deserialize;

use crate::plan::{AdminPassword, Balancer, Plan, PrivateNetwork, PublicNetwork, StorageModel};
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

fn balancer(s: &str) -> Result<Balancer, String> {
    match s {
        "none" => Ok(Balancer::None),
        "ipvs" | "dns" => Err(format!(
            "{s:?}: this version supports \"none\" (a single box) only"
        )),
        _ => Err(format!("{s:?}: expected \"none\"")),
    }
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
    let raw: RawAnswers =
        toml::from_str(text).map_err(|e| AnswersError::Syntax(e.to_string().trim().to_owned()))?;
    validate(&raw)
}

/// Validates answers into a plan, reporting every problem.
pub fn validate(raw: &RawAnswers) -> Result<Plan, AnswersError> {
    let mut c = Checker::default();
    let cluster = c.required("cluster.name", &raw.cluster.name, ClusterName::try_new);
    let storage = match &raw.cluster.storage {
        None => Some(StorageModel::Distributed),
        v => c.optional("cluster.storage", v, storage),
    };
    let balancer = match &raw.cluster.balancer {
        None => Some(Balancer::None),
        v => c.optional("cluster.balancer", v, balancer),
    };
    let domain = c.required("mail.domain", &raw.mail.domain, MailDomain::try_new);
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
    let admin_password = match (&raw.admin.password, &raw.admin.password_hash) {
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
    };
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
        public: PublicNetwork {
            interface: pub_if.expect("checked"),
            address: pub_addr.expect("checked"),
            gateway,
        },
        private: PrivateNetwork {
            interface: priv_if.expect("checked"),
            address: priv_addr.expect("checked"),
        },
        dns,
        admin_password: admin_password.expect("checked"),
    })
}

/// The answers file for `plan`, with the administrator password as `password_hash`: what the
/// installer saves on the node and the TUI saves from its summary. It parses back to the same
/// plan (with the hash in place of clear text).
pub fn to_toml(plan: &Plan, admin_hash: &str) -> String {
    let mut text = format!(
        "# PigeonAir answers file (saved by pigeonair-install; the password is kept as a hash).\n\
         [cluster]\nname = \"{}\"\nstorage = \"distributed\"\nbalancer = \"none\"\n\n\
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
        "\n[network.private]\ninterface = \"{}\"\naddress = \"{}\"\n\n[admin]\npassword_hash = \"{admin_hash}\"\n",
        plan.private.interface, plan.private.address
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_answers_parse_back_to_the_same_plan() {
        let plan = parse_answers(include_str!("../examples/single-box.toml")).unwrap();
        let hash = "$6$abcdefgh12345678$iVJtDoj0HJxHKse63Ugg6qgORVar9xPcJGzsf17nDjM8sahjgPLuBj0lsy8ViSpMd.B0uCVQCHvB13BjoqiYe0";
        let again = parse_answers(&to_toml(&plan, hash)).unwrap();
        let expected = Plan {
            admin_password: AdminPassword::Hash(hash.into()),
            ..plan
        };
        assert_eq!(again, expected);
    }
}
