//! Users (mailboxes): add with a fresh uid and a home node, show, change, rename, forward, remove.

use std::collections::{BTreeMap, HashSet};

use pigeonair_appliance::address::{MailAddress, Quota};
use pigeonair_appliance::crypt::sha512_crypt;
use pigeonair_appliance::directory::{COUNTERS_DN, DOMAINS_DN, NODES_DN, REMOVED_DN, domain_dn};
use pigeonair_appliance::types::MailDomain;
use pigeonair_directory::{Mod, Scope, dn_escape, ldap_escape, value_set};

use super::*;
use pigeonair_appliance::providers::{counter_dn, providers, uid_block};

/// Why a counter gave no uid.
enum Allocation {
    /// Its provider refused the swap or did not answer: try the next provider's counter.
    Elsewhere(pigeonair_directory::DirectoryError),
    /// Stop: the error for the operator.
    Fatal(CtlError),
}
use Allocation::{Elsewhere, Fatal};

impl Directory {
    /// The next free uid, allocated by compare-and-swap on the counter entry, so concurrent
    /// adds never get the same one.
    fn allocate_uid(&mut self) -> Result<u32, CtlError> {
        self.allocate_uids(1)
    }

    /// The first of `n` consecutive free uids, allocated in one compare-and-swap on a
    /// provider's own counter (see `pigeonair_appliance::providers::counter_dn`). With two
    /// providers each hands out uids from its own block, and each lets only its own counter
    /// be changed through it: on a provider, root uses that provider's counter (its writes
    /// are applied there); elsewhere the counters are tried in server ID order, and a swap
    /// refused (the write reached another provider: this one's down) goes on to the next
    /// counter. Two writers can never both win one value, whichever providers they reach.
    pub fn allocate_uids(&mut self, n: u32) -> Result<u32, CtlError> {
        let order = self.counter_order()?;
        let mut tried = Vec::new();
        let mut last = None;
        for id in order {
            match self.allocate_from(id, n) {
                Ok(uid) => return Ok(uid),
                Err(Elsewhere(e)) => {
                    tried.push(format!("provider {id}'s: {e}"));
                    last = Some(e);
                }
                Err(Fatal(e)) => return Err(e),
            }
        }
        let what = format!(
            "allocate a uid: no provider took the swap of its counter ({}); is one reachable? \
             (`pigeonctl node list`)",
            tried.join("; ")
        );
        Err(match last {
            Some(e) => CtlError::Directory(e.described_as(what)),
            None => CtlError::Refused(what),
        })
    }

    /// The server IDs whose counters this connection may use, in the order to try them.
    /// (Provider `id` lets a swap of its own counter alone through; see `allocate_uids`.)
    fn counter_order(&mut self) -> Result<Vec<u16>, CtlError> {
        let entries = self.conn.search(
            NODES_DN,
            Scope::OneLevel,
            "(objectClass=pigeonairNode)",
            &pigeonair_appliance::cluster::NODE_ATTRS,
        )?;
        let view = pigeonair_appliance::cluster::ClusterView::new(
            entries
                .iter()
                .filter_map(|e| pigeonair_appliance::cluster::NodeView::from_attrs(&e.attrs)),
        );
        let providers = providers(&view);
        if providers.is_empty() {
            return Ok(vec![1]);
        }
        // Root over ldapi on a provider: local writes are applied on this very provider.
        if self.conn.uri().starts_with("ldapi:")
            && let Ok(host) = std::fs::read_to_string("/etc/hostname")
            && let Some(me) = providers
                .iter()
                .find(|p| p.hostname.eq_ignore_ascii_case(host.trim()))
        {
            return Ok(vec![me.server_id]);
        }
        // Straight to a provider (root on another node): its own counter is the one it takes.
        if let Some(p) = providers.iter().find(|p| p.uri() == self.conn.uri()) {
            return Ok(vec![p.server_id]);
        }
        Ok(providers.iter().map(|p| p.server_id).collect())
    }

    /// `n` uids from provider `id`'s counter; `Elsewhere` when its provider refused (the
    /// write went to another provider) or did not answer.
    fn allocate_from(&mut self, id: u16, n: u32) -> Result<u32, Allocation> {
        let dn = counter_dn(id);
        let block = uid_block(id);
        for attempt in 0..200u64 {
            if attempt > 0 {
                // The replica read may lag the provider by a moment.
                std::thread::sleep(std::time::Duration::from_millis(attempt.min(20)));
            }
            let e = self
                .conn
                .search(
                    &dn,
                    Scope::Base,
                    "(objectClass=pigeonairCounter)",
                    &["pigeonairNextUid"],
                )
                .map_err(|e| Fatal(e.into()))?
                .pop();
            let Some(e) = e else {
                if id <= 1 {
                    return Err(Fatal(CtlError::NotFound(format!(
                        "{COUNTERS_DN} is missing: was the node installed?"
                    ))));
                }
                // Provider `id`'s first allocation: its counter starts at its block.
                let next = (block.start + n).to_string();
                let attrs = vec![
                    ("objectClass".to_owned(), value_set(&["pigeonairCounter"])),
                    (
                        "cn".to_owned(),
                        value_set(&[format!("server-{id}").as_str()]),
                    ),
                    ("pigeonairNextUid".to_owned(), value_set(&[next.as_str()])),
                ];
                match self.conn.add(&dn, attrs) {
                    Ok(()) => return Ok(block.start),
                    Err(e) if e.is(pigeonair_directory::ResultCode::AlreadyExists) => continue,
                    Err(e) => return Err(Elsewhere(e)),
                }
            };
            let current: u32 = first(&e, "pigeonairNextUid")
                .parse()
                .unwrap_or(block.start)
                .max(block.start);
            if current.saturating_add(n) > block.end {
                return Err(Fatal(CtlError::Refused(format!(
                    "provider {id}'s uids ({}..{}) are used up: make another node a provider \
                     (`pigeonctl node role NODE provider`) and this one a replica",
                    block.start, block.end
                ))));
            }
            let old = first(&e, "pigeonairNextUid").to_owned();
            match self.conn.compare_and_swap(
                &dn,
                "pigeonairNextUid",
                &old,
                &(current + n).to_string(),
            ) {
                Ok(true) => return Ok(current),
                // Another add took this value first; read again.
                Ok(false) => continue,
                Err(e) => return Err(Elsewhere(e)),
            }
        }
        Err(Fatal(CtlError::Refused(
            "could not allocate a uid: the counter keeps changing".into(),
        )))
    }

    /// The active node with the fewest mailboxes, for a new user's home; of those that
    /// answer on the private network (LMTP, where mail for the user will go) when any does,
    /// so a node that is down gets no new mailboxes.
    fn pick_home_node(&mut self) -> Result<String, CtlError> {
        let loads = self.node_loads()?;
        let addresses: BTreeMap<String, std::net::Ipv4Addr> = self
            .conn
            .search(
                NODES_DN,
                Scope::OneLevel,
                "(objectClass=pigeonairNode)",
                &pigeonair_appliance::cluster::NODE_ATTRS,
            )?
            .iter()
            .filter_map(|e| pigeonair_appliance::cluster::NodeView::from_attrs(&e.attrs))
            .filter_map(|n| Some((n.hostname, n.private?)))
            .collect();
        let up = answering(
            loads
                .iter()
                .filter_map(|(h, _)| Some((h.clone(), *addresses.get(h)?)))
                .collect(),
        );
        choose_home(&loads, &up).ok_or_else(|| {
            CtlError::NotFound("no active node in the directory to hold mailboxes".into())
        })
    }

    /// Adds a user with `password` (clear text, stored hashed) and returns it.
    pub fn user_add(
        &mut self,
        address: &MailAddress,
        name: Option<&str>,
        quota: Quota,
        password: &str,
        node: Option<&str>,
    ) -> Result<UserInfo, CtlError> {
        // Arguments first: nothing is looked up for a request that cannot be valid.
        let name = name.unwrap_or(address.local());
        if name.is_empty() || name.chars().count() > 128 || name.chars().any(char::is_control) {
            return Err(CtlError::Invalid(format!(
                "--name {name:?}: use 1 to 128 characters without control characters"
            )));
        }
        let domain = domain_arg(address.domain())?;
        let d = self.domain_entry(&domain)?;
        if !first(&d, "pigeonairAliasDomainOf").is_empty() {
            return Err(CtlError::Invalid(format!(
                "{domain} is an alias domain: add the user to {} instead",
                first(&d, "pigeonairAliasDomainOf")
            )));
        }
        if self.find_user(address)?.is_some() {
            return Err(CtlError::Exists(format!("user {address} exists already")));
        }
        if self.find_alias(address)?.is_some() {
            return Err(CtlError::Exists(format!("{address} is an alias already")));
        }
        let home = match node {
            Some(n) => {
                let dn = format!("cn={},{NODES_DN}", dn_escape(n));
                if !self.conn.exists(&dn)? {
                    return Err(CtlError::NotFound(format!("no node {n:?} in the cluster")));
                }
                n.to_owned()
            }
            None => self.pick_home_node()?,
        };
        let uid = self.allocate_uid()?;
        let hash = format!("{{CRYPT}}{}", sha512_crypt(password));
        let (dn, attrs) = user_entry(address, name, quota, &hash, uid, &home);
        self.conn
            .add(&dn, attrs)
            .map_err(CtlError::ldap(format!("add user {address}")))?;
        self.user_show(address)
    }

    /// Users of `domain` (or all), sorted by address.
    pub fn user_list(&mut self, domain: Option<&MailDomain>) -> Result<Vec<UserInfo>, CtlError> {
        let base = self.search_base(domain)?;
        let mut users: Vec<UserInfo> = self
            .conn
            .search(
                &base,
                Scope::Subtree,
                "(objectClass=pigeonairMailUser)",
                &USER_ATTRS,
            )?
            .iter()
            .map(user_info)
            .collect();
        users.sort_by(|a, b| a.address.cmp(&b.address));
        Ok(users)
    }

    /// One user.
    pub fn user_show(&mut self, address: &MailAddress) -> Result<UserInfo, CtlError> {
        Ok(user_info(&self.user(address)?))
    }

    /// Sets a user's password.
    pub fn user_passwd(&mut self, address: &MailAddress, password: &str) -> Result<(), CtlError> {
        let e = self.user(address)?;
        let hash = format!("{{CRYPT}}{}", sha512_crypt(password));
        self.modify(
            &e.dn,
            vec![Mod::Replace("userPassword".into(), value_set(&[&hash]))],
            &format!("set the password of {address}"),
        )
    }

    /// Enables or disables a user: a disabled user neither receives mail nor logs in.
    pub fn user_set_status(&mut self, address: &MailAddress, active: bool) -> Result<(), CtlError> {
        let e = self.user(address)?;
        let status = if active { "active" } else { "disabled" };
        self.modify(
            &e.dn,
            vec![Mod::Replace(
                "pigeonairAccountStatus".into(),
                value_set(&[status]),
            )],
            &format!("set {address} {status}"),
        )
    }

    /// Sets a user's quota.
    pub fn user_quota(&mut self, address: &MailAddress, quota: Quota) -> Result<(), CtlError> {
        let e = self.user(address)?;
        self.modify(
            &e.dn,
            vec![Mod::Replace(
                "pigeonairQuotaBytes".into(),
                value_set(&[&quota.bytes().to_string()]),
            )],
            &format!("set the quota of {address}"),
        )
    }

    /// Renames a user to `new` (in the same or another hosted domain). The mailbox keeps its id,
    /// so its mail stays where it is and is found under the new address; with `keep_alias`
    /// the old address becomes an alias of the new one, so mail to it still arrives.
    pub fn user_rename(
        &mut self,
        old: &MailAddress,
        new: &MailAddress,
        keep_alias: bool,
    ) -> Result<UserInfo, CtlError> {
        let e = self.user(old)?;
        let new_domain = domain_arg(new.domain())?;
        let d = self.domain_entry(&new_domain)?;
        if !first(&d, "pigeonairAliasDomainOf").is_empty() {
            return Err(CtlError::Invalid(format!(
                "{new_domain} is an alias domain"
            )));
        }
        if self.find_user(new)?.is_some() || self.find_alias(new)?.is_some() {
            return Err(CtlError::Exists(format!("{new} exists already")));
        }
        let rdn = format!("mail={}", dn_escape(new.as_str()));
        let superior = format!("ou=users,{}", domain_dn(&dn_escape(new_domain.as_str())));
        self.conn
            .rename(&e.dn, &rdn, Some(&superior))
            .map_err(CtlError::ldap(format!("rename {old} to {new}")))?;
        if keep_alias {
            self.alias_add(old, std::slice::from_ref(new))?;
        }
        self.user_show(new)
    }

    /// Forwards a user's mail to `targets` (with `keep_copy`, the user keeps a copy), or stops
    /// forwarding when `targets` is empty. Refused if it would make a loop.
    pub fn user_forward(
        &mut self,
        address: &MailAddress,
        targets: &[MailAddress],
        keep_copy: bool,
    ) -> Result<UserInfo, CtlError> {
        let e = self.user(address)?;
        if targets.iter().any(|t| t == address) {
            return Err(CtlError::Invalid(format!(
                "{address} cannot forward to itself: use --keep-copy to keep a copy"
            )));
        }
        let mut graph = self.alias_graph()?;
        graph.insert(
            address.to_string(),
            targets.iter().map(|t| t.to_string()).collect(),
        );
        if let Some(cycle) = find_cycle(&graph, address.as_str()) {
            return Err(CtlError::Refused(format!(
                "forwarding loop: {}: nothing was changed",
                cycle.join(" → ")
            )));
        }
        // Keeping a copy is forwarding to oneself too: Postfix delivers an address that
        // expands to itself to its own mailbox.
        let mut values: HashSet<String> = targets.iter().map(|t| t.to_string()).collect();
        if keep_copy && !targets.is_empty() {
            values.insert(address.to_string());
        }
        let mods = if values.is_empty() {
            vec![
                Mod::Replace("pigeonairForwardTo".into(), HashSet::new()),
                Mod::Replace("pigeonairKeepCopy".into(), HashSet::new()),
            ]
        } else {
            vec![
                Mod::Replace("pigeonairForwardTo".into(), values),
                Mod::Replace(
                    "pigeonairKeepCopy".into(),
                    value_set(&[if keep_copy { "TRUE" } else { "FALSE" }]),
                ),
            ]
        };
        self.modify(&e.dn, mods, &format!("set forwarding of {address}"))?;
        self.user_show(address)
    }

    /// Removes a user: its entry moves to `ou=removed` as it was, so it neither receives mail
    /// nor logs in and the address is free, and its home node's control plane deletes the
    /// mailbox at `purge_after` (unix seconds; now for `--purge`) unless it is restored
    /// first. Refused while the mailbox is being moved.
    pub fn user_remove(
        &mut self,
        address: &MailAddress,
        purge_after: u64,
    ) -> Result<UserInfo, CtlError> {
        let e = self.user(address)?;
        let info = user_info(&e);
        if let Some(m) = &info.moving {
            if m.state.as_deref() != Some("failed") {
                return Err(CtlError::Refused(format!(
                    "{address}'s mailbox is being moved ({}): wait for the move, or cancel it",
                    m.state.as_deref().unwrap_or("asked for")
                )));
            }
        }
        self.retire(&e.dn, &info.mailbox_id, purge_after)?;
        Ok(info)
    }

    /// Moves the user entry `dn` into `ou=removed` with its purge time.
    pub(super) fn retire(
        &mut self,
        dn: &str,
        mailbox_id: &str,
        purge_after: u64,
    ) -> Result<(), CtlError> {
        if !self.conn.exists(REMOVED_DN)? {
            self.conn
                .add(
                    REMOVED_DN,
                    vec![
                        ("objectClass".into(), value_set(&["organizationalUnit"])),
                        ("ou".into(), value_set(&["removed"])),
                    ],
                )
                .or_else(|e| {
                    if e.is(pigeonair_directory::ResultCode::AlreadyExists) {
                        Ok(())
                    } else {
                        Err(e)
                    }
                })?;
        }
        let when = pigeonair_join::time::to_generalized(purge_after);
        self.modify(
            dn,
            vec![Mod::Replace(
                "pigeonairPurgeAfter".into(),
                value_set(&[when.as_str()]),
            )],
            &format!("set when {dn} is purged"),
        )?;
        self.conn
            .move_keeping_rdn(
                dn,
                &format!("pigeonairMailboxId={}", dn_escape(mailbox_id)),
                REMOVED_DN,
            )
            .map_err(CtlError::ldap(format!("move {dn} to {REMOVED_DN}")))
    }

    /// Removed users with `address`, newest purge time first: (dn, purge time, info).
    fn removed(
        &mut self,
        address: &MailAddress,
    ) -> Result<Vec<(String, String, UserInfo)>, CtlError> {
        if !self.conn.exists(REMOVED_DN)? {
            return Ok(Vec::new());
        }
        let mut attrs: Vec<&str> = USER_ATTRS.to_vec();
        attrs.push("pigeonairPurgeAfter");
        let mut found: Vec<(String, String, UserInfo)> = self
            .conn
            .search(
                REMOVED_DN,
                Scope::OneLevel,
                &format!(
                    "(&(objectClass=pigeonairMailUser)(mail={}))",
                    ldap_escape(address.as_str())
                ),
                &attrs,
            )?
            .iter()
            .map(|e| {
                (
                    e.dn.clone(),
                    first(e, "pigeonairPurgeAfter").to_owned(),
                    user_info(e),
                )
            })
            .collect();
        found.sort_by(|a, b| b.1.cmp(&a.1));
        Ok(found)
    }

    /// Whether a removed user's mailbox is still gone when this returns: waits (bounded) for
    /// the home node to purge the removed entry `dn`.
    pub fn wait_purged(
        &mut self,
        address: &MailAddress,
        limit: std::time::Duration,
    ) -> Result<bool, CtlError> {
        let started = std::time::Instant::now();
        loop {
            if self.removed(address)?.is_empty() {
                return Ok(true);
            }
            if started.elapsed() > limit {
                return Ok(false);
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }

    /// Brings back the most recently removed user with `address`, mailbox and all, while its
    /// mailbox is not purged yet. Refused when the address is taken again or its domain gone.
    pub fn user_restore(&mut self, address: &MailAddress) -> Result<UserInfo, CtlError> {
        let Some((dn, purge_after, info)) = self.removed(address)?.into_iter().next() else {
            return Err(CtlError::NotFound(format!(
                "no removed user {address} whose mailbox is still kept"
            )));
        };
        // Past its grace, the home node may be deleting the mailbox already: too late.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        if pigeonair_join::time::from_generalized(&purge_after).is_none_or(|t| t <= now) {
            return Err(CtlError::NotFound(format!(
                "no removed user {address} whose mailbox is still kept (its grace ended at \
                 {purge_after}; its home node deletes it)"
            )));
        }
        let domain = domain_arg(address.domain())?;
        self.domain_entry(&domain)?;
        if self.find_user(address)?.is_some() || self.find_alias(address)?.is_some() {
            return Err(CtlError::Exists(format!(
                "{address} is in use again: remove or rename that one first"
            )));
        }
        self.conn
            .move_keeping_rdn(
                &dn,
                &format!("mail={}", dn_escape(address.as_str())),
                &format!("ou=users,{}", domain_dn(&dn_escape(domain.as_str()))),
            )
            .map_err(CtlError::ldap(format!("restore {address}")))?;
        let e = self.user(address)?;
        self.modify(
            &e.dn,
            vec![Mod::Replace(
                "pigeonairPurgeAfter".into(),
                Default::default(),
            )],
            &format!("restore {address}"),
        )?;
        let _ = info;
        self.user_show(address)
    }

    /// Active nodes with the number of mailboxes each is home to.
    /// Asks for `address`'s mailbox to be moved to node `to`: its home node's control plane
    /// carries the move out (see `pigeonaird`). Refused, with nothing written, for an unknown or
    /// inactive node, the node it is on, or while a move elsewhere is under way. Asking again
    /// for the same move, or after a failed one, is accepted.
    pub fn user_move(&mut self, address: &MailAddress, to: &str) -> Result<UserInfo, CtlError> {
        let e = self.user(address)?;
        let u = user_info(&e);
        let node = self
            .conn
            .search(
                NODES_DN,
                Scope::OneLevel,
                &format!("(&(objectClass=pigeonairNode)(cn={}))", ldap_escape(to)),
                &["cn", "pigeonairNodeState"],
            )?
            .pop()
            .ok_or_else(|| {
                CtlError::NotFound(format!(
                    "--to {to}: no such node in the cluster (`pigeonctl node list` shows them)"
                ))
            })?;
        let state = first(&node, "pigeonairNodeState");
        if state != "active" {
            return Err(CtlError::Invalid(format!(
                "--to {to}: the node is {state}, and only an active node takes mailboxes"
            )));
        }
        if u.home_node.is_empty() {
            return Err(CtlError::Invalid(format!(
                "{address} has no home node (mailHost) to move from"
            )));
        }
        if let Some(m) = &u.moving {
            let failed = m.state.as_deref() == Some("failed");
            if let Some(from) = &m.from {
                return Err(CtlError::Invalid(format!(
                    "{address} has just moved to {}; its old copy on {from} is being removed: \
                     try again in a moment",
                    u.home_node
                )));
            }
            match &m.to {
                // The same move asked for again: nothing to write.
                Some(t) if t == to && !failed => return Ok(u),
                Some(t) if !failed => {
                    return Err(CtlError::Invalid(format!(
                        "{address} is being moved to {t} already: wait for it, or `pigeonctl \
                         user move {address} --cancel`"
                    )));
                }
                _ => {}
            }
        }
        if u.home_node == to {
            return Err(CtlError::Invalid(format!(
                "--to {to}: {address} is on {to} already"
            )));
        }
        self.modify(
            &e.dn,
            vec![
                Mod::Replace("pigeonairMoveTo".into(), value_set(&[to])),
                Mod::Replace("pigeonairMoveState".into(), Default::default()),
                Mod::Replace("pigeonairMoveDetail".into(), Default::default()),
            ],
            &format!("ask for the move of {address} to {to}"),
        )?;
        self.user_show(address)
    }

    /// Cancels a move that has not taken its lock yet (a copy on the other node is left for
    /// the next move there to start from). Refused once the mailbox is locked or flipped.
    pub fn user_move_cancel(&mut self, address: &MailAddress) -> Result<UserInfo, CtlError> {
        let e = self.user(address)?;
        let u = user_info(&e);
        let Some(m) = &u.moving else {
            return Err(CtlError::Invalid(format!("{address} is not being moved")));
        };
        if m.from.is_some() || m.state.as_deref() == Some("locked") {
            return Err(CtlError::Invalid(format!(
                "{address}'s move is in its last step ({}): it finishes in a moment",
                m.state.as_deref().unwrap_or("locked")
            )));
        }
        self.modify(
            &e.dn,
            vec![
                Mod::Replace("pigeonairMoveTo".into(), Default::default()),
                Mod::Replace("pigeonairMoveState".into(), Default::default()),
                Mod::Replace("pigeonairMoveDetail".into(), Default::default()),
            ],
            &format!("cancel the move of {address}"),
        )?;
        self.user_show(address)
    }

    pub(super) fn node_loads(&mut self) -> Result<Vec<(String, usize)>, CtlError> {
        let nodes = self.conn.search(
            NODES_DN,
            Scope::OneLevel,
            "(&(objectClass=pigeonairNode)(pigeonairNodeState=active))",
            &["cn"],
        )?;
        let mut loads = Vec::new();
        for n in nodes {
            let host = first(&n, "cn").to_owned();
            let users = self.count(
                DOMAINS_DN,
                &format!(
                    "(&(objectClass=pigeonairMailUser)(mailHost={}))",
                    ldap_escape(&host)
                ),
            )?;
            loads.push((host, users));
        }
        Ok(loads)
    }
}

/// How long a node's LMTP port may take to accept a connection when a home is chosen.
const HOME_PROBE_LIMIT: std::time::Duration = std::time::Duration::from_millis(300);

/// The hosts of `nodes` whose LMTP port on the private network accepts a connection, tried
/// all at once.
fn answering(nodes: Vec<(String, std::net::Ipv4Addr)>) -> HashSet<String> {
    let probes: Vec<_> = nodes
        .into_iter()
        .map(|(host, ip)| {
            std::thread::spawn(move || {
                let addr = std::net::SocketAddr::from((ip, 24));
                std::net::TcpStream::connect_timeout(&addr, HOME_PROBE_LIMIT)
                    .is_ok()
                    .then_some(host)
            })
        })
        .collect();
    probes
        .into_iter()
        .filter_map(|p| p.join().ok().flatten())
        .collect()
}

/// The least-loaded of `loads` (host, mailboxes; ties by name) among those in `up`, or among
/// all of them when none is up (nothing answers: the choice is what it always was).
fn choose_home(loads: &[(String, usize)], up: &HashSet<String>) -> Option<String> {
    let least = |it: &mut dyn Iterator<Item = &(String, usize)>| {
        it.min_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)))
            .map(|(h, _)| h.clone())
    };
    least(&mut loads.iter().filter(|(h, _)| up.contains(h))).or_else(|| least(&mut loads.iter()))
}

#[cfg(test)]
mod home_tests {
    use super::*;

    #[test]
    fn a_new_home_is_the_least_loaded_node_that_answers() {
        let loads = vec![
            ("mx1.example.com".to_owned(), 0),
            ("mx2.example.com".to_owned(), 5),
            ("mx3.example.com".to_owned(), 5),
        ];
        let up = |hs: &[&str]| hs.iter().map(|h| h.to_string()).collect::<HashSet<_>>();
        assert_eq!(
            choose_home(&loads, &up(&["mx1.example.com", "mx2.example.com"])).as_deref(),
            Some("mx1.example.com")
        );
        // mx1 is down: of the equally loaded others, the first by name.
        assert_eq!(
            choose_home(&loads, &up(&["mx2.example.com", "mx3.example.com"])).as_deref(),
            Some("mx2.example.com")
        );
        assert_eq!(
            choose_home(&loads, &up(&["mx3.example.com"])).as_deref(),
            Some("mx3.example.com")
        );
        // None answers: the least loaded, as before.
        assert_eq!(
            choose_home(&loads, &up(&[])).as_deref(),
            Some("mx1.example.com")
        );
        assert_eq!(choose_home(&[], &up(&[])), None);
    }
}
