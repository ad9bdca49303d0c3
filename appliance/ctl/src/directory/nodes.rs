//! Join tokens: make one, list them, revoke one. A token's secret is shown once and never
//! stored; its entry holds the SHA-256 of the secret, the expiry and the state.

use std::net::{IpAddr, SocketAddr};

use pigeonair_appliance::cluster::{NODE_ATTRS, NodeView};
use pigeonair_appliance::directory::{DOMAINS_DN, NODES_DN, TOKENS_DN, token_dn};
use pigeonair_directory::{Mod, Scope, SearchEntry, dn_escape, ldap_escape, value_set};
use pigeonair_join::time::{from_generalized, to_generalized};
use pigeonair_join::token::secret_hash;
use pigeonair_join::{CONTROL_PORT, Fingerprint, Token, TokenId};
use serde::Serialize;

use super::Directory;
use crate::error::CtlError;

/// A node as `node list` shows it: its entry and how many mailboxes it is home to. The
/// replication and control-plane columns are filled by asking the node itself.
#[derive(Debug, Clone, Serialize)]
pub struct NodeInfo {
    /// Host name.
    pub hostname: String,
    /// `joining`, `active`, `draining`, `drained`, `removed`.
    pub state: String,
    /// `provider`, `ca`.
    pub roles: Vec<String>,
    /// Public address.
    pub public: Option<std::net::Ipv4Addr>,
    /// Private address.
    pub private: Option<std::net::Ipv4Addr>,
    /// Mailboxes whose home node it is.
    pub mailboxes: usize,
    /// `in sync`, `behind by N ms`, or why it is not known.
    pub replication: String,
    /// `reachable`, or why not.
    pub pigeonaird: String,
    /// Its drain's progress (`pigeonairProgress`), once its control plane has written one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<pigeonair_join::DrainProgress>,
    /// What its pigeonaird answered (`crate::cluster::ask_nodes` fills it in).
    #[serde(skip)]
    pub status: Option<pigeonair_join::NodeStatus>,
}

impl NewToken {
    /// The line of the joining node's answers file that carries it, in its `[cluster]` table.
    pub fn answers_line(&self) -> String {
        format!("join = \"{}\"", self.token)
    }
}

/// A token as `node token --list` shows it (never its secret).
#[derive(Debug, Clone, Serialize)]
pub struct TokenInfo {
    /// Its public id.
    pub id: String,
    /// `unused`, `used`, `revoked`, or `expired` (unused past its expiry).
    pub state: String,
    /// When it stops being accepted (GeneralizedTime, UTC).
    pub expires: String,
    /// The node that joined with it.
    pub used_by: Option<String>,
}

/// A new token: the only time its text is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewToken {
    /// Its public id.
    pub id: String,
    /// The token, for the joining node's answers (`[cluster] join = "…"`).
    pub token: String,
    /// When it stops being accepted (GeneralizedTime, UTC).
    pub expires: String,
    /// The member it joins through.
    pub via: String,
}

const TOKEN_ATTRS: [&str; 4] = [
    "cn",
    "pigeonairTokenState",
    "pigeonairTokenExpires",
    "pigeonairTokenUsedBy",
];

fn first(e: &SearchEntry, attr: &str) -> String {
    super::first(e, attr).to_owned()
}

fn token_info(e: &SearchEntry, now: u64) -> TokenInfo {
    let expires = first(e, "pigeonairTokenExpires");
    let mut state = first(e, "pigeonairTokenState");
    if state == "unused" && from_generalized(&expires).is_none_or(|t| t <= now) {
        state = "expired".into();
    }
    let used_by = Some(first(e, "pigeonairTokenUsedBy")).filter(|s| !s.is_empty());
    TokenInfo {
        id: first(e, "cn"),
        state,
        expires,
        used_by,
    }
}

/// The address (without its prefix length) of a node's `pigeonairPrivateAddress`.
fn private_ip(e: &SearchEntry) -> Option<IpAddr> {
    first(e, "pigeonairPrivateAddress")
        .split('/')
        .next()
        .and_then(|a| a.parse().ok())
}

impl Directory {
    /// Every node, by host name, with its mailbox count (replication and reachability left
    /// for the caller, which asks each node).
    pub fn node_list(&mut self) -> Result<Vec<NodeInfo>, CtlError> {
        let mut attrs = NODE_ATTRS.to_vec();
        attrs.push("pigeonairProgress");
        let entries = self.conn.search(
            NODES_DN,
            Scope::OneLevel,
            "(objectClass=pigeonairNode)",
            &attrs,
        )?;
        let mut nodes: Vec<(NodeView, Option<pigeonair_join::DrainProgress>)> = entries
            .iter()
            .filter_map(|e| {
                let progress = serde_json::from_str(&first(e, "pigeonairProgress")).ok();
                NodeView::from_attrs(&e.attrs).map(|n| (n, progress))
            })
            .collect();
        nodes.sort_by(|a, b| a.0.hostname.cmp(&b.0.hostname));
        let mut out = Vec::new();
        for (n, progress) in nodes {
            let mailboxes = self
                .conn
                .search(
                    DOMAINS_DN,
                    Scope::Subtree,
                    &format!(
                        "(&(objectClass=pigeonairMailUser)(mailHost={}))",
                        ldap_escape(&n.hostname)
                    ),
                    &["1.1"],
                )?
                .len();
            out.push(NodeInfo {
                hostname: n.hostname,
                state: n.state,
                roles: n.roles,
                public: n.public,
                private: n.private,
                mailboxes,
                replication: "unknown".into(),
                pigeonaird: "not asked".into(),
                progress,
                status: None,
            });
        }
        Ok(out)
    }

    /// Makes a token valid for `ttl_secs` from `now` (unix seconds), pinned to the CA
    /// certificate `ca_pem`, joining through `via` (a node holding the CA's key; default: this
    /// node when it holds it, else the first such active node).
    pub fn token_add(
        &mut self,
        ttl_secs: u64,
        via: Option<&str>,
        ca_pem: &[u8],
        now: u64,
    ) -> Result<NewToken, CtlError> {
        let ca = Fingerprint::of_pem(ca_pem).map_err(|e| {
            CtlError::Invalid(format!(
                "the cluster CA certificate is not a PEM certificate ({e}): is this a cluster node?"
            ))
        })?;
        let filter = match via {
            Some(host) => format!("(&(objectClass=pigeonairNode)(cn={}))", ldap_escape(host)),
            None => {
                "(&(objectClass=pigeonairNode)(pigeonairNodeRole=ca)(pigeonairNodeState=active))"
                    .into()
            }
        };
        let mut nodes = self.conn.search(
            NODES_DN,
            Scope::OneLevel,
            &filter,
            &["cn", "pigeonairPrivateAddress", "pigeonairNodeRole"],
        )?;
        nodes.sort_by_key(|e| first(e, "cn"));
        // Made on a node that holds the CA's key (either provider), the token names that
        // node: with the other provider down, a token made on the survivor joins through it.
        let here = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
        if let Some(i) = nodes
            .iter()
            .position(|e| first(e, "cn").eq_ignore_ascii_case(here.trim()))
        {
            let mine = nodes.remove(i);
            nodes.insert(0, mine);
        }
        let node = match (via, nodes.into_iter().next()) {
            (Some(host), None) => {
                return Err(CtlError::NotFound(format!(
                    "--via {host}: no such node (`pigeonctl node list` shows them)"
                )));
            }
            (None, None) => {
                return Err(CtlError::NotFound(
                    "no active node holds the cluster CA's key: tokens cannot be made".into(),
                ));
            }
            (_, Some(n)) => n,
        };
        let host = first(&node, "cn");
        let holds_ca = node
            .attrs
            .get("pigeonairNodeRole")
            .is_some_and(|r| r.iter().any(|v| v.eq_ignore_ascii_case("ca")));
        if !holds_ca {
            return Err(CtlError::Invalid(format!(
                "--via {host}: that node does not hold the cluster CA's key; join through one that does (role ca in `pigeonctl node list`)"
            )));
        }
        let ip = private_ip(&node).ok_or_else(|| {
            CtlError::Invalid(format!(
                "node {host} has no private address in the directory"
            ))
        })?;
        let token = Token::generate(SocketAddr::new(ip, CONTROL_PORT), ca);
        let expires = to_generalized(now + ttl_secs);
        let dn = token_dn(&dn_escape(token.id.as_str()));
        let hash = secret_hash(&token.secret);
        let attrs = vec![
            ("objectClass".to_owned(), value_set(&["pigeonairJoinToken"])),
            ("cn".to_owned(), value_set(&[token.id.as_str()])),
            ("pigeonairTokenHash".to_owned(), value_set(&[hash.as_str()])),
            (
                "pigeonairTokenExpires".to_owned(),
                value_set(&[expires.as_str()]),
            ),
            ("pigeonairTokenState".to_owned(), value_set(&["unused"])),
        ];
        self.conn
            .add(&dn, attrs)
            .map_err(CtlError::ldap(format!("add token {}", token.id)))?;
        Ok(NewToken {
            id: token.id.to_string(),
            token: token.to_string(),
            expires,
            via: host,
        })
    }

    /// [`Directory::token_add`] as `pigeonctl node token` and the console call it: `ttl` as
    /// typed (90s, 30m, 1h, 7d; at most 7d), pinned to this node's cluster CA certificate.
    pub fn token_make(
        &mut self,
        ttl: &str,
        via: Option<&str>,
        now: u64,
    ) -> Result<NewToken, CtlError> {
        let ttl = pigeonair_join::time::parse_ttl(ttl).map_err(CtlError::Invalid)?;
        let ca_path = pigeonair_appliance::render::CLUSTER_CA_CERT;
        let ca = std::fs::read(ca_path).map_err(|e| {
            CtlError::Invalid(format!("{ca_path}: {e}: make tokens on a cluster node"))
        })?;
        self.token_add(ttl, via, &ca, now)
    }

    /// Every token, newest expiry first.
    pub fn token_list(&mut self, now: u64) -> Result<Vec<TokenInfo>, CtlError> {
        let mut tokens: Vec<TokenInfo> = self
            .conn
            .search(
                TOKENS_DN,
                Scope::OneLevel,
                "(objectClass=pigeonairJoinToken)",
                &TOKEN_ATTRS,
            )?
            .iter()
            .map(|e| token_info(e, now))
            .collect();
        tokens.sort_by(|a, b| b.expires.cmp(&a.expires).then(a.id.cmp(&b.id)));
        Ok(tokens)
    }

    /// Revokes an unused token. One LDAP modify that removes the value `unused`: it fails if
    /// a join took the token meanwhile, so a token is never both used and revoked.
    pub fn token_revoke(&mut self, id: &str) -> Result<TokenInfo, CtlError> {
        let id = TokenId::try_new(id).map_err(|e| CtlError::Invalid(e.to_string()))?;
        let dn = token_dn(&dn_escape(id.as_str()));
        let found = self
            .conn
            .search(
                &dn,
                Scope::Base,
                "(objectClass=pigeonairJoinToken)",
                &TOKEN_ATTRS,
            )?
            .pop()
            .ok_or_else(|| CtlError::NotFound(format!("no token {id}")))?;
        let state = first(&found, "pigeonairTokenState");
        if state != "unused" {
            let by = first(&found, "pigeonairTokenUsedBy");
            return Err(CtlError::Refused(match state.as_str() {
                "used" => format!("token {id} was used already (by {by}): nothing to revoke"),
                _ => format!("token {id} is {state} already"),
            }));
        }
        // One modify that removes the value `unused`: false when a join took the token meanwhile.
        let swapped = self
            .conn
            .compare_and_swap(&dn, "pigeonairTokenState", "unused", "revoked")
            .map_err(CtlError::ldap(format!("revoke token {id}")))?;
        if !swapped {
            return Err(CtlError::Refused(format!(
                "token {id} was used while being revoked: `pigeonctl node token --list` shows by whom"
            )));
        }
        let mut info = token_info(&found, 0);
        info.state = "revoked".into();
        Ok(info)
    }
}

/// What a drain would do, before it is asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DrainPreview {
    /// The node.
    pub hostname: String,
    /// Mailboxes whose home node it is.
    pub mailboxes: usize,
    /// How many of them would go to each other active node.
    pub targets: std::collections::BTreeMap<String, usize>,
}

impl DrainPreview {
    /// For people: `12 mailboxes will move to node1 (6), node3 (6)`.
    pub fn text(&self) -> String {
        let spread: Vec<String> = self
            .targets
            .iter()
            .map(|(n, c)| format!("{n} ({c})"))
            .collect();
        match (self.mailboxes, spread.is_empty()) {
            (0, _) => format!("{} holds no mailboxes: nothing will move", self.hostname),
            (n, true) => format!(
                "{n} mailboxes, but no other active node can take them now (moves under way or \
                 failed stay)"
            ),
            (n, false) => format!("{n} mailboxes will move to {}", spread.join(", ")),
        }
    }
}

/// A node's state and drain progress, as `node drain` follows them.
#[derive(Debug, Clone, Serialize)]
pub struct DrainState {
    /// The node.
    pub hostname: String,
    /// `draining` or `drained` (or `active` once undrained).
    pub state: String,
    /// What its pigeonaird has written, once it has started.
    pub progress: Option<pigeonair_join::DrainProgress>,
}

impl Directory {
    fn node_entry(&mut self, host: &str) -> Result<SearchEntry, CtlError> {
        self.conn
            .search(
                NODES_DN,
                Scope::OneLevel,
                &format!("(&(objectClass=pigeonairNode)(cn={}))", ldap_escape(host)),
                &["cn", "pigeonairNodeState", "pigeonairProgress"],
            )?
            .pop()
            .ok_or_else(|| {
                CtlError::NotFound(format!(
                    "no node {host} in the cluster (`pigeonctl node list` shows them)"
                ))
            })
    }

    /// Asks `host`'s control plane for a new cluster certificate (the role
    /// [`pigeonair_appliance::cluster::RENEWING`] on its entry). Refused for a node not in
    /// the cluster (joining or removed). The certificate serials its entry records now.
    pub fn node_renew(&mut self, host: &str) -> Result<Vec<String>, CtlError> {
        let e = self.node_entry(host)?;
        let state = first(&e, "pigeonairNodeState");
        if !matches!(state.as_str(), "active" | "draining" | "drained") {
            return Err(CtlError::Invalid(format!(
                "{host} is {state}: only a node in the cluster (active, draining or drained)                  renews its certificate"
            )));
        }
        let (_, serials) = self.renewal_state(host)?;
        match self.conn.modify(
            &e.dn,
            vec![Mod::Add(
                "pigeonairNodeRole".into(),
                value_set(&[pigeonair_appliance::cluster::RENEWING]),
            )],
        ) {
            Ok(()) => {}
            // Asked for already: this follows the same renewal.
            Err(e) if e.is(pigeonair_directory::ResultCode::ValueExists) => {}
            Err(e) => return Err(CtlError::ldap(format!("renew {host}'s certificate"))(e)),
        }
        Ok(serials)
    }

    /// Whether `host`'s certificate renewal is still asked for, and the serials its entry
    /// records.
    pub fn renewal_state(&mut self, host: &str) -> Result<(bool, Vec<String>), CtlError> {
        let e = self
            .conn
            .search(
                NODES_DN,
                Scope::OneLevel,
                &format!("(&(objectClass=pigeonairNode)(cn={}))", ldap_escape(host)),
                &["pigeonairNodeRole", "pigeonairCertSerial"],
            )?
            .pop()
            .ok_or_else(|| {
                CtlError::NotFound(format!(
                    "no node {host} in the cluster (`pigeonctl node list` shows them)"
                ))
            })?;
        let asked = e.attrs.get("pigeonairNodeRole").is_some_and(|v| {
            v.iter()
                .any(|r| r == pigeonair_appliance::cluster::RENEWING)
        });
        let serials = e
            .attrs
            .get("pigeonairCertSerial")
            .cloned()
            .unwrap_or_default();
        Ok((asked, serials))
    }

    /// The node's state and drain progress.
    pub fn drain_state(&mut self, host: &str) -> Result<DrainState, CtlError> {
        let e = self.node_entry(host)?;
        Ok(DrainState {
            hostname: host.to_owned(),
            state: first(&e, "pigeonairNodeState"),
            progress: serde_json::from_str(&first(&e, "pigeonairProgress")).ok(),
        })
    }

    /// Starts draining `host` (state `draining`): the node's own control plane moves its
    /// mailboxes to the other active nodes. Run again on a draining node, it retries the moves
    /// that failed. Refused for a node that is joining or drained, or when no other active node
    /// can take its mailboxes.
    pub fn node_drain(&mut self, host: &str) -> Result<DrainState, CtlError> {
        let e = self.node_entry(host)?;
        let state = first(&e, "pigeonairNodeState");
        match state.as_str() {
            "active" | "draining" => {}
            "drained" => {
                return Err(CtlError::Invalid(format!(
                    "{host} is drained already (`pigeonctl node undrain {host}` brings it back)"
                )));
            }
            other => {
                return Err(CtlError::Invalid(format!(
                    "{host} is {other}: only an active node can be drained"
                )));
            }
        }
        let others = self
            .node_loads()?
            .into_iter()
            .filter(|(h, _)| h != host)
            .count();
        let mailboxes = self.count(
            DOMAINS_DN,
            &format!(
                "(&(objectClass=pigeonairMailUser)(mailHost={}))",
                ldap_escape(host)
            ),
        )?;
        if others == 0 && mailboxes > 0 {
            return Err(CtlError::Refused(format!(
                "{host} holds {mailboxes} mailboxes and is the only active node: join another \
                 node first"
            )));
        }
        // Moves that failed are asked for again.
        let failed = self.conn.search(
            DOMAINS_DN,
            Scope::Subtree,
            &format!(
                "(&(objectClass=pigeonairMailUser)(mailHost={})(pigeonairMoveState=failed))",
                ldap_escape(host)
            ),
            &["1.1"],
        )?;
        for f in failed {
            self.modify(
                &f.dn,
                vec![
                    Mod::Replace("pigeonairMoveState".into(), Default::default()),
                    Mod::Replace("pigeonairMoveDetail".into(), Default::default()),
                ],
                &format!("retry the failed move of {}", f.dn),
            )?;
        }
        if state == "active" {
            self.modify(
                &e.dn,
                vec![
                    Mod::Replace("pigeonairNodeState".into(), value_set(&["draining"])),
                    Mod::Replace("pigeonairProgress".into(), Default::default()),
                ],
                &format!("drain {host}"),
            )?;
        }
        self.drain_state(host)
    }

    /// Brings a draining or drained node back (`active`): moves its drain asked for and that
    /// have not started are withdrawn; those under way finish.
    pub fn node_undrain(&mut self, host: &str) -> Result<DrainState, CtlError> {
        let e = self.node_entry(host)?;
        let state = first(&e, "pigeonairNodeState");
        if state != "draining" && state != "drained" {
            return Err(CtlError::Invalid(format!(
                "{host} is {state}, not draining or drained"
            )));
        }
        self.modify(
            &e.dn,
            vec![
                Mod::Replace("pigeonairNodeState".into(), value_set(&["active"])),
                Mod::Replace("pigeonairProgress".into(), Default::default()),
            ],
            &format!("undrain {host}"),
        )?;
        let mark = format!("{} {host}", pigeonair_join::DRAIN_MARK);
        let waiting = self.conn.search(
            DOMAINS_DN,
            Scope::Subtree,
            &format!(
                "(&(objectClass=pigeonairMailUser)(mailHost={})(pigeonairMoveTo=*)\
                 (!(pigeonairMoveState=*))(pigeonairMoveDetail={}))",
                ldap_escape(host),
                ldap_escape(&mark)
            ),
            &["1.1"],
        )?;
        for w in waiting {
            self.modify(
                &w.dn,
                vec![
                    Mod::Replace("pigeonairMoveTo".into(), Default::default()),
                    Mod::Replace("pigeonairMoveDetail".into(), Default::default()),
                ],
                &format!("withdraw the drain's move of {}", w.dn),
            )?;
        }
        self.drain_state(host)
    }
}

impl Directory {
    /// Whether this directory's own configuration (cn=config, readable by local root) still
    /// replicates from or refers writes to `uri` (`ldap://ADDRESS/`). Another identity reads no
    /// configuration: false.
    pub fn config_mentions(&mut self, uri: &str) -> Result<bool, CtlError> {
        let found = match self.local().search(
            "cn=config",
            Scope::Subtree,
            "(|(olcSyncrepl=*)(olcUpdateRef=*))",
            &["olcSyncrepl", "olcUpdateRef"],
        ) {
            Ok(found) => found,
            Err(e)
                if e.is(pigeonair_directory::ResultCode::NoSuchObject)
                    || e.is(pigeonair_directory::ResultCode::InsufficientAccess) =>
            {
                return Ok(false);
            }
            Err(e) => return Err(CtlError::ldap("read cn=config")(e)),
        };
        Ok(found.iter().any(|e| {
            e.attrs
                .values()
                .flatten()
                .any(|v| v.contains(&format!("provider={uri} ")) || v == uri)
        }))
    }

    /// `node role NODE replica`: the provider `host` steps down (its entry loses the roles
    /// `provider` and `ca`; it keeps its server ID, never given again). Every node's pigeonaird
    /// then rebuilds slapd from the new view (`host` a replica of the providers left), and
    /// `host`'s removes its copy of the CA's key. Refused unless another provider is
    /// reachable and in sync (`nodes` as `node list` filled them in), so the cluster is never
    /// without a provider that has every change. On a node becoming a provider (`node role
    /// NODE provider` not finished), the move is withdrawn instead.
    pub fn node_step_down(&mut self, host: &str, nodes: &[NodeInfo]) -> Result<String, CtlError> {
        let Some(n) = nodes.iter().find(|n| n.hostname == host) else {
            return Err(CtlError::NotFound(format!(
                "no node {host} in the cluster (`pigeonctl node list` shows them)"
            )));
        };
        let becoming = pigeonair_appliance::providers::BECOMING_PROVIDER;
        if !n.roles.iter().any(|r| r == "provider") && n.roles.iter().any(|r| r == becoming) {
            // A move to provider that has not finished (`node role NODE provider`) is
            // withdrawn: the node stays a replica (its reserved ID is never given again) and
            // drops the CA's key if it got it.
            let e = self.node_entry(host)?;
            self.modify(
                &e.dn,
                vec![Mod::Delete(
                    "pigeonairNodeRole".into(),
                    value_set(&[becoming]),
                )],
                &format!("withdraw {host}'s move to provider"),
            )?;
            return Ok(nodes
                .iter()
                .filter(|o| o.roles.iter().any(|r| r == "provider"))
                .map(|o| o.hostname.clone())
                .collect::<Vec<_>>()
                .join(", "));
        }
        if !n.roles.iter().any(|r| r == "provider") {
            return Err(CtlError::Invalid(format!(
                "{host} is not a provider: nothing to do"
            )));
        }
        let others: Vec<&NodeInfo> = nodes
            .iter()
            .filter(|o| o.hostname != host && o.roles.iter().any(|r| r == "provider"))
            .collect();
        let Some(other) = others
            .iter()
            .find(|o| o.pigeonaird == "reachable" && o.replication == "in sync")
        else {
            let why = if others.is_empty() {
                "it is the cluster's only provider".to_owned()
            } else {
                others
                    .iter()
                    .map(|o| format!("{} is {} ({})", o.hostname, o.replication, o.pigeonaird))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Err(CtlError::Refused(format!(
                "{host} stays a provider: {why}; the cluster needs another provider that answers                  and is in sync first"
            )));
        };
        let e = self.node_entry(host)?;
        let roles: Vec<String> = n
            .roles
            .iter()
            .filter(|r| *r != "provider" && *r != "ca")
            .cloned()
            .collect();
        let roles: Vec<&str> = roles.iter().map(String::as_str).collect();
        self.modify(
            &e.dn,
            vec![Mod::Replace("pigeonairNodeRole".into(), value_set(&roles))],
            &format!("step {host} down"),
        )?;
        Ok(other.hostname.clone())
    }

    /// `node role NODE provider`, up to its write: decided from the directory
    /// ([`pigeonair_appliance::providers::promotion`]: at most two providers, the node active,
    /// a server ID never given, also none still in the data's `contextCSN`) and from `nodes` as
    /// `node list` filled them in (the node's pigeonaird answers and its directory is in sync;
    /// a node holding the CA's key answers, to hand it the key). Then one modify of its entry
    /// reserves the ID and gives it the role `becoming-provider`; its own pigeonaird does the
    /// rest (`pigeonair_control::promotion`). Returns the server ID; a node chosen already
    /// (the command run again) is followed again with nothing written.
    pub fn node_promote(
        &mut self,
        host: &str,
        nodes: &[NodeInfo],
    ) -> Result<pigeonair_appliance::providers::Promotion, CtlError> {
        use pigeonair_appliance::providers::{
            BECOMING_PROVIDER, PromotionRefusal, promotion, server_ids_in,
        };
        let entries = self.conn.search(
            NODES_DN,
            Scope::OneLevel,
            "(objectClass=pigeonairNode)",
            &NODE_ATTRS,
        )?;
        let view = pigeonair_appliance::cluster::ClusterView::new(
            entries
                .iter()
                .filter_map(|e| NodeView::from_attrs(&e.attrs)),
        );
        let suffix = self.conn.search(
            pigeonair_appliance::directory::BASE_DN,
            Scope::Base,
            "(objectClass=*)",
            &["contextCSN"],
        )?;
        let written = server_ids_in(
            suffix
                .first()
                .map(|e| pigeonair_directory::values(e, "contextCSN"))
                .unwrap_or_default(),
        );
        let p = promotion(&view, host, &written).map_err(|e| match e {
            PromotionRefusal::UnknownNode(_) => CtlError::NotFound(e.to_string()),
            PromotionRefusal::AlreadyProvider(_) => CtlError::Invalid(e.to_string()),
            _ => CtlError::Refused(e.to_string()),
        })?;
        let Some(n) = nodes.iter().find(|n| n.hostname.eq_ignore_ascii_case(host)) else {
            return Err(CtlError::NotFound(format!(
                "no node {host} in the cluster (`pigeonctl node list` shows them)"
            )));
        };
        if n.pigeonaird != "reachable" || n.replication != "in sync" {
            return Err(CtlError::Refused(format!(
                "{} stays a replica: its directory is {} and its pigeonaird {}; it becomes a \
                 provider only in sync (`pigeonctl node list`), try again once it is",
                n.hostname, n.replication, n.pigeonaird
            )));
        }
        let holders: Vec<&NodeInfo> = nodes
            .iter()
            .filter(|o| o.hostname != n.hostname && o.roles.iter().any(|r| r == "ca"))
            .collect();
        if !holders.iter().any(|o| o.pigeonaird == "reachable") {
            return Err(CtlError::Refused(format!(
                "{} stays a replica: no node holding the cluster CA's key answers ({}), and a \
                 provider must get the key from one",
                n.hostname,
                holders
                    .iter()
                    .map(|o| format!("{}: {}", o.hostname, o.pigeonaird))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        if p.chosen_already {
            return Ok(p);
        }
        let e = self.node_entry(host)?;
        let id = p.server_id.to_string();
        self.modify(
            &e.dn,
            vec![
                Mod::Replace("pigeonairServerId".into(), value_set(&[id.as_str()])),
                Mod::Add("pigeonairNodeRole".into(), value_set(&[BECOMING_PROVIDER])),
            ],
            &format!("choose {host} to become directory provider {id}"),
        )?;
        Ok(p)
    }

    /// What `node remove` checks in the directory before anything is written: refused for the
    /// directory's provider, the last node, a node still in service (drain it first) and a node
    /// that holds mailboxes. Returns the node as `node list` shows it.
    pub fn node_remove_check(&mut self, host: &str) -> Result<NodeInfo, CtlError> {
        let nodes = self.node_list()?;
        let Some(n) = nodes.iter().find(|n| n.hostname == host).cloned() else {
            return Err(CtlError::NotFound(format!(
                "no node {host} in the cluster (`pigeonctl node list` shows them)"
            )));
        };
        if nodes.len() == 1 {
            return Err(CtlError::Refused(format!(
                "{host} is the cluster's last node: there would be nothing left"
            )));
        }
        if n.roles.iter().any(|r| r == "provider") {
            return Err(CtlError::Refused(format!(
                "{host} holds the writable directory (role provider): it cannot be removed \
                 while it does"
            )));
        }
        if n.roles.iter().any(|r| r == "ca") {
            return Err(CtlError::Refused(format!(
                "{host} holds the cluster CA's key (role ca): it cannot be removed while it does"
            )));
        }
        if n.mailboxes > 0 {
            return Err(CtlError::Refused(format!(
                "{host} is the home node of {} mailboxes: `pigeonctl node drain {host}` first",
                n.mailboxes
            )));
        }
        match n.state.as_str() {
            "drained" | "joining" | "removed" => Ok(n),
            other => Err(CtlError::Refused(format!(
                "{host} is {other}: `pigeonctl node drain {host}` first, so the balancer \
                 stops sending it clients"
            ))),
        }
    }

    /// Marks `host` removed: a node holding the CA's key revokes its certificates and deletes
    /// its entry.
    pub fn node_mark_removed(&mut self, host: &str) -> Result<(), CtlError> {
        let dn = format!("cn={},{NODES_DN}", dn_escape(host));
        self.modify(
            &dn,
            vec![Mod::Replace(
                "pigeonairNodeState".into(),
                value_set(&["removed"]),
            )],
            &format!("remove {host}"),
        )
    }

    /// `node remove` up to the write, as pigeonctl and the console do it: the checks of
    /// [`Directory::node_remove_check`], then the node's own queue (asked of its pigeonaird,
    /// for at most `limit`: refused while it holds mail for hosted domains or cannot tell),
    /// then the node is marked `removed`. A node holding the CA's key then revokes its
    /// certificates and deletes its entry: follow it with [`Directory::node_exists`].
    pub fn node_remove(&mut self, host: &str, limit: std::time::Duration) -> Result<(), CtlError> {
        let info = self.node_remove_check(host)?;
        if info.state == "removed" {
            return Ok(());
        }
        let mut one = vec![info];
        crate::cluster::ask_nodes(&mut one, limit);
        let info = &one[0];
        match info.status.as_ref().and_then(|s| s.queued_hosted) {
            Some(0) => {}
            Some(n) => {
                return Err(CtlError::Refused(format!(
                    "{host} holds {n} queued messages for hosted domains: wait until its queue \
                     has delivered them (`postqueue -p` on it)"
                )));
            }
            None => {
                return Err(CtlError::Refused(format!(
                    "{host}'s mail queue cannot be checked ({}): start it and try again",
                    info.pigeonaird
                )));
            }
        }
        self.node_mark_removed(host)
    }

    /// What draining `host` would do, for a confirmation: its mailboxes and where the drain
    /// planner (`pigeonair_control::drain::choose`, with today's loads) would send them. The
    /// node's control plane plans again as it goes, so the spread is the likely one.
    pub fn drain_preview(&mut self, host: &str) -> Result<DrainPreview, CtlError> {
        let users = self.conn.search(
            DOMAINS_DN,
            Scope::Subtree,
            &format!(
                "(&(objectClass=pigeonairMailUser)(mailHost={}))",
                ldap_escape(host)
            ),
            &["mail", "pigeonairMoveTo", "pigeonairMoveState"],
        )?;
        let mine: Vec<pigeonair_control::drain::Mailbox> = users
            .iter()
            .map(|e| pigeonair_control::drain::Mailbox {
                user: first(e, "mail"),
                // Sizes are on the node's disk, not in the directory: counts only.
                bytes: 0,
                moving: !first(e, "pigeonairMoveTo").is_empty(),
                failed: first(e, "pigeonairMoveState") == "failed",
            })
            .collect();
        let loads = pigeonair_control::drain::loads(&mut self.conn, host)
            .map_err(|e| CtlError::Failed(format!("the other nodes' mailboxes: {e}")))?;
        let mut targets = std::collections::BTreeMap::new();
        for (_, to) in pigeonair_control::drain::choose(&mine, &loads, usize::MAX) {
            *targets.entry(to).or_insert(0) += 1;
        }
        Ok(DrainPreview {
            hostname: host.to_owned(),
            mailboxes: mine.len(),
            targets,
        })
    }

    /// Waits until `host`'s entry is gone (a node holding the CA's key deletes it once it has
    /// revoked its certificates), for at most `limit`.
    pub fn wait_removed(&mut self, host: &str, limit: std::time::Duration) -> Result<(), CtlError> {
        let started = std::time::Instant::now();
        while self.node_exists(host)? {
            if started.elapsed() > limit {
                return Err(CtlError::Failed(format!(
                    "{host} is marked removed, but no node holding the CA's key has revoked its \
                     certificates within {} s: is its pigeonaird running?",
                    limit.as_secs()
                )));
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        Ok(())
    }

    /// Whether `host` still has an entry.
    pub fn node_exists(&mut self, host: &str) -> Result<bool, CtlError> {
        Ok(self
            .conn
            .exists(&format!("cn={},{NODES_DN}", dn_escape(host)))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drain_preview_names_where_the_mailboxes_go() {
        let mut p = DrainPreview {
            hostname: "node2".into(),
            mailboxes: 12,
            targets: [("node1".to_string(), 6), ("node3".to_string(), 6)].into(),
        };
        assert_eq!(p.text(), "12 mailboxes will move to node1 (6), node3 (6)");
        p.targets.clear();
        assert!(p.text().contains("no other active node"), "{}", p.text());
        p.mailboxes = 0;
        assert_eq!(p.text(), "node2 holds no mailboxes: nothing will move");
    }

    #[test]
    fn the_answers_line_carries_the_token() {
        let t = NewToken {
            id: "abc".into(),
            token: "PA1.xyz".into(),
            expires: "20260101000000Z".into(),
            via: "node1".into(),
        };
        assert_eq!(t.answers_line(), r#"join = "PA1.xyz""#);
    }
}
