//! The directory as administrators use it: domains, users (mailboxes) and aliases.

mod aliases;
mod domains;
mod import;
mod nodes;
mod rebalance;
mod users;

pub use nodes::{DrainPreview, DrainState, NewToken, NodeInfo, TokenInfo};
pub use rebalance::{Asked, Step};

use std::collections::{BTreeMap, HashSet};

use pigeonair_appliance::address::{MailAddress, Quota};
use pigeonair_appliance::crypt::random_uuid;
use pigeonair_appliance::directory::{DOMAINS_DN, MAIL_GID, alias_dn, domain_dn, user_dn};
use pigeonair_appliance::directory::{LDAPI_URL, NODES_DN};
use pigeonair_appliance::types::MailDomain;
use pigeonair_directory::{
    Attrs, ClusterTls, Connection, Credentials, Mod, Scope, SearchEntry, dn_escape, ldap_escape,
    sorted_values, value_set,
};
use serde::Serialize;

use crate::error::CtlError;
use crate::import::{Password, Record, check_records};

/// A domain as `domain show` and `domain list` print it.
#[derive(Debug, Clone, Serialize)]
pub struct DomainInfo {
    /// Its name.
    pub name: String,
    /// `active` or `disabled`.
    pub status: String,
    /// For an alias domain: the domain it maps onto.
    pub alias_of: Option<String>,
    /// Number of users.
    pub users: usize,
    /// Number of aliases.
    pub aliases: usize,
}

/// A user (mailbox).
#[derive(Debug, Clone, Serialize)]
pub struct UserInfo {
    /// The address.
    pub address: String,
    /// Display name.
    pub name: String,
    /// `active` or `disabled`.
    pub status: String,
    /// Quota in bytes (0: no limit).
    pub quota_bytes: u64,
    /// Quota as people read it.
    pub quota: String,
    /// The mailbox's uid.
    pub uid: u32,
    /// The stable mailbox id (its directory).
    pub mailbox_id: String,
    /// The home node (`mailHost`).
    pub home_node: String,
    /// Enabled services.
    pub services: Vec<String>,
    /// Forwarding addresses (the user's own address among them means "keep a copy").
    pub forward_to: Vec<String>,
    /// A move of the mailbox under way or failed, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moving: Option<MoveInfo>,
}

/// A mailbox move as the directory shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MoveInfo {
    /// The node it goes to (while the move is asked for, not yet flipped).
    pub to: Option<String>,
    /// The node its old copy is on (after the flip, until that copy is removed).
    pub from: Option<String>,
    /// `copying`, `locked`, `finishing`, `failed`, or none yet (asked for).
    pub state: Option<String>,
    /// Progress or the reason it failed.
    pub detail: Option<String>,
}

/// An alias.
#[derive(Debug, Clone, Serialize)]
pub struct AliasInfo {
    /// The address.
    pub address: String,
    /// Where it delivers.
    pub targets: Vec<String>,
}

/// A connection to the directory, with the credentials it was made with (an import opens a
/// second, asynchronous one with them).
pub struct Directory {
    conn: Connection,
    creds: Credentials,
    /// What the caller asked to connect to (an import's second connection goes there too).
    local_uri: String,
}

/// How long pigeonctl waits for this node's slapd to answer again when it is restarting.
const SLAPD_RESTART_LIMIT: std::time::Duration = std::time::Duration::from_secs(15);

/// How long a provider may take to accept a connection (StartTLS and bind included) before
/// the next one is tried: on the private network an answering provider takes milliseconds.
const PROVIDER_CONNECT_LIMIT: std::time::Duration = std::time::Duration::from_millis(700);

/// How many adds an import keeps in flight on its own connection: slapd works on one while
/// the next is on the wire.
const IMPORT_IN_FLIGHT: usize = 8;

/// The first value of `attr`, or "" if it has none.
fn first<'a>(e: &'a SearchEntry, attr: &str) -> &'a str {
    pigeonair_directory::first(e, attr).unwrap_or_default()
}

const USER_ATTRS: [&str; 14] = [
    "mail",
    "cn",
    "pigeonairAccountStatus",
    "pigeonairQuotaBytes",
    "uidNumber",
    "pigeonairMailboxId",
    "mailHost",
    "pigeonairEnabledService",
    "pigeonairForwardTo",
    "pigeonairKeepCopy",
    "pigeonairMoveTo",
    "pigeonairMoveFrom",
    "pigeonairMoveState",
    "pigeonairMoveDetail",
];

fn user_info(e: &SearchEntry) -> UserInfo {
    let quota_bytes = first(e, "pigeonairQuotaBytes").parse().unwrap_or(0);
    UserInfo {
        address: first(e, "mail").to_owned(),
        name: first(e, "cn").to_owned(),
        status: first(e, "pigeonairAccountStatus").to_owned(),
        quota_bytes,
        quota: Quota::try_new(&quota_bytes.to_string())
            .map(|q| q.human())
            .unwrap_or_default(),
        uid: first(e, "uidNumber").parse().unwrap_or(0),
        mailbox_id: first(e, "pigeonairMailboxId").to_owned(),
        home_node: first(e, "mailHost").to_owned(),
        services: sorted_values(e, "pigeonairEnabledService"),
        forward_to: sorted_values(e, "pigeonairForwardTo"),
        moving: {
            let some = |a: &str| {
                Some(first(e, a))
                    .filter(|v| !v.is_empty())
                    .map(str::to_owned)
            };
            let m = MoveInfo {
                to: some("pigeonairMoveTo"),
                from: some("pigeonairMoveFrom"),
                state: some("pigeonairMoveState"),
                detail: some("pigeonairMoveDetail"),
            };
            (m.to.is_some() || m.from.is_some() || m.state.is_some()).then_some(m)
        },
    }
}

/// An entry to add: its DN and attributes.
type NewEntry = (String, Attrs);

/// The DN and attributes of a new user (mailbox) with a new mailbox id.
fn user_entry(
    address: &MailAddress,
    name: &str,
    quota: Quota,
    password_hash: &str,
    uid: u32,
    home: &str,
) -> NewEntry {
    let uid = uid.to_string();
    let quota = quota.bytes().to_string();
    let id = random_uuid();
    let gid = MAIL_GID.to_string();
    let attrs = vec![
        (
            "objectClass".into(),
            value_set(&[
                "inetOrgPerson",
                "inetLocalMailRecipient",
                "pigeonairMailUser",
            ]),
        ),
        ("cn".into(), value_set(&[name])),
        ("sn".into(), value_set(&[name])),
        ("mail".into(), value_set(&[address.as_str()])),
        ("userPassword".into(), value_set(&[password_hash])),
        ("uidNumber".into(), value_set(&[&uid])),
        ("gidNumber".into(), value_set(&[&gid])),
        ("pigeonairMailboxId".into(), value_set(&[&id])),
        ("mailHost".into(), value_set(&[home])),
        ("pigeonairQuotaBytes".into(), value_set(&[&quota])),
        ("pigeonairAccountStatus".into(), value_set(&["active"])),
        (
            "pigeonairEnabledService".into(),
            value_set(&["smtp", "submission", "imap", "pop3"]),
        ),
    ];
    let dn = user_dn(&dn_escape(address.as_str()), &dn_escape(address.domain()));
    (dn, attrs)
}

/// The DN and attributes of a new alias delivering to `targets`.
fn alias_entry(address: &MailAddress, targets: HashSet<String>) -> NewEntry {
    let dn = alias_dn(&dn_escape(address.as_str()), &dn_escape(address.domain()));
    let attrs = vec![
        ("objectClass".into(), value_set(&["pigeonairAlias"])),
        ("mail".into(), value_set(&[address.as_str()])),
        ("pigeonairAliasTarget".into(), targets),
        ("pigeonairAccountStatus".into(), value_set(&["active"])),
    ];
    (dn, attrs)
}

/// What an import added.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    /// Domains added.
    pub domains: usize,
    /// Users added.
    pub users: usize,
    /// Aliases added.
    pub aliases: usize,
}

/// Parses a domain name given on the command line.
pub fn domain_arg(s: &str) -> Result<MailDomain, CtlError> {
    MailDomain::try_new(s).map_err(|e| CtlError::Invalid(format!("domain {e}")))
}

/// Parses an address given on the command line.
pub fn address_arg(s: &str) -> Result<MailAddress, CtlError> {
    MailAddress::try_new(s).map_err(|e| CtlError::Invalid(format!("address {e}")))
}

impl Directory {
    /// Connects to `uri` and authenticates. Root on a node that is not a directory provider
    /// works on a provider directly ([`Directory::provider_direct`]), so reads see its own
    /// writes at once and a dead provider costs a moment, not each write's chaining timeout.
    pub fn connect(uri: &str, creds: &Credentials) -> Result<Self, CtlError> {
        // This node's slapd restarting (pigeonaird rebuilds it when the providers change: about
        // a second without its socket) is waited for, up to SLAPD_RESTART_LIMIT.
        let started = std::time::Instant::now();
        let local = loop {
            match Connection::connect(uri, creds) {
                Ok(c) => break c,
                Err(e)
                    if uri == LDAPI_URL
                        && matches!(e.ldap(), pigeonair_directory::LdapError::Io { .. })
                        && started.elapsed() < SLAPD_RESTART_LIMIT =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                Err(e) => return Err(e.into()),
            }
        };
        let conn = if uri == LDAPI_URL && *creds == Credentials::LocalRoot {
            Self::provider_direct(local)
        } else {
            local
        };
        Ok(Directory {
            conn,
            creds: creds.clone(),
            local_uri: uri.to_owned(),
        })
    }

    /// On a node that is not a provider, a connection to the first provider that answers
    /// within [`PROVIDER_CONNECT_LIMIT`] (in server ID order), as this node (its cluster
    /// certificate), followed by `local` (each write returns once this node's directory has
    /// it too). On a provider, or when no provider answers, `local` itself: writes are then
    /// chained by slapd as before, and an error says what failed.
    fn provider_direct(mut local: Connection) -> Connection {
        let Ok(entries) = local.search(
            NODES_DN,
            Scope::OneLevel,
            "(objectClass=pigeonairNode)",
            &pigeonair_appliance::cluster::NODE_ATTRS,
        ) else {
            return local;
        };
        let view = pigeonair_appliance::cluster::ClusterView::new(
            entries
                .iter()
                .filter_map(|e| pigeonair_appliance::cluster::NodeView::from_attrs(&e.attrs)),
        );
        let providers = pigeonair_appliance::providers::providers(&view);
        let me = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
        let mine = providers
            .iter()
            .find(|p| p.hostname.eq_ignore_ascii_case(me.trim()));
        if providers.is_empty() {
            return local;
        }
        use pigeonair_appliance::render::{CLUSTER_CA_CERT, CLUSTER_CERT, CLUSTER_KEY};
        let Ok(tls) = ClusterTls::read(CLUSTER_CA_CERT, CLUSTER_CERT, CLUSTER_KEY) else {
            return local;
        };
        // All at once, so a dead provider costs nothing: on a provider, the others, which
        // each write waits for; elsewhere the first to answer is worked on, the others wait.
        let (tx, rx) = std::sync::mpsc::channel();
        let others: Vec<_> = providers.iter().filter(|p| Some(*p) != mine).collect();
        for p in &others {
            let (tx, tls, uri) = (tx.clone(), tls.clone(), p.uri());
            std::thread::spawn(move || {
                if let Ok(conn) = Connection::to_provider(&uri, &tls, PROVIDER_CONNECT_LIMIT) {
                    let _ = tx.send(conn);
                }
            });
        }
        drop(tx);
        let mut limit = std::time::Instant::now()
            + PROVIDER_CONNECT_LIMIT
            + std::time::Duration::from_millis(300);
        let mut answered = Vec::new();
        while answered.len() < others.len() {
            let left = limit.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(conn) => answered.push(conn),
                Err(_) => break,
            }
            // Off the providers, the first answer is worked on at once: the others have a
            // moment more to answer as witnesses (on the private network they take
            // milliseconds), a dead one is not waited for.
            if mine.is_none() && answered.len() == 1 {
                limit =
                    limit.min(std::time::Instant::now() + std::time::Duration::from_millis(100));
            }
        }
        if mine.is_some() {
            return local.witnessed_by(answered);
        }
        if answered.is_empty() {
            return local;
        }
        let first = answered.remove(0);
        first.followed_by(local).witnessed_by(answered)
    }

    /// This node's own directory: the connection itself, or the one following the provider.
    pub(crate) fn local(&mut self) -> &mut Connection {
        if self.conn.follower().is_some() {
            return self.conn.follower().expect("checked");
        }
        &mut self.conn
    }

    fn domain_entry(&mut self, domain: &MailDomain) -> Result<SearchEntry, CtlError> {
        let dn = domain_dn(&dn_escape(domain.as_str()));
        self.conn
            .search(
                &dn,
                Scope::Base,
                "(objectClass=pigeonairDomain)",
                &["cn", "pigeonairAccountStatus", "pigeonairAliasDomainOf"],
            )?
            .pop()
            .ok_or_else(|| {
                CtlError::NotFound(format!(
                    "domain {domain} is not hosted here: add it with `pigeonctl domain add {domain}`"
                ))
            })
    }

    /// Where to search for entries of `domain` (which must exist), or of every domain.
    fn search_base(&mut self, domain: Option<&MailDomain>) -> Result<String, CtlError> {
        Ok(match domain {
            Some(d) => {
                self.domain_entry(d)?;
                domain_dn(&dn_escape(d.as_str()))
            }
            None => DOMAINS_DN.to_owned(),
        })
    }

    fn find_user(&mut self, address: &MailAddress) -> Result<Option<SearchEntry>, CtlError> {
        let filter = format!(
            "(&(objectClass=pigeonairMailUser)(mail={}))",
            ldap_escape(address.as_str())
        );
        Ok(self
            .conn
            .search(DOMAINS_DN, Scope::Subtree, &filter, &USER_ATTRS)?
            .pop())
    }

    fn user(&mut self, address: &MailAddress) -> Result<SearchEntry, CtlError> {
        self.find_user(address)?
            .ok_or_else(|| CtlError::NotFound(format!("no user {address}")))
    }

    fn find_alias(&mut self, address: &MailAddress) -> Result<Option<SearchEntry>, CtlError> {
        let filter = format!(
            "(&(objectClass=pigeonairAlias)(mail={}))",
            ldap_escape(address.as_str())
        );
        Ok(self
            .conn
            .search(
                DOMAINS_DN,
                Scope::Subtree,
                &filter,
                &["mail", "pigeonairAliasTarget"],
            )?
            .pop())
    }

    pub(super) fn count(&mut self, base: &str, filter: &str) -> Result<usize, CtlError> {
        Ok(self
            .conn
            .search(base, Scope::Subtree, filter, &["1.1"])?
            .len())
    }

    fn modify(&mut self, dn: &str, mods: Vec<Mod<String>>, what: &str) -> Result<(), CtlError> {
        self.conn.modify(dn, mods).map_err(CtlError::ldap(what))
    }
}

/// A path from `start` back to itself through `graph`, if there is one.
pub fn find_cycle(graph: &BTreeMap<String, Vec<String>>, start: &str) -> Option<Vec<String>> {
    fn walk(
        graph: &BTreeMap<String, Vec<String>>,
        node: &str,
        start: &str,
        path: &mut Vec<String>,
        seen: &mut HashSet<String>,
    ) -> bool {
        for next in graph.get(node).into_iter().flatten() {
            if next == start {
                path.push(next.clone());
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if walk(graph, next, start, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start.to_owned()];
    let mut seen = HashSet::new();
    walk(graph, start, start, &mut path, &mut seen).then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycles() {
        let mut g = BTreeMap::new();
        g.insert("a@x.org".to_string(), vec!["b@x.org".to_string()]);
        g.insert(
            "b@x.org".to_string(),
            vec!["c@x.org".to_string(), "ext@y.org".to_string()],
        );
        assert_eq!(find_cycle(&g, "a@x.org"), None);
        g.insert("c@x.org".to_string(), vec!["a@x.org".to_string()]);
        assert_eq!(
            find_cycle(&g, "a@x.org").unwrap(),
            ["a@x.org", "b@x.org", "c@x.org", "a@x.org"]
        );
    }
}
