//! The directory as administrators use it: domains, users (mailboxes) and aliases.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use ldap3::{LdapConn, Mod, Scope, SearchEntry, dn_escape, ldap_escape};
use pigeonair_appliance::address::{MailAddress, Quota};
use pigeonair_appliance::crypt::{random_uuid, sha512_crypt};
use pigeonair_appliance::directory::{
    COUNTERS_DN, DOMAINS_DN, FIRST_MAIL_UID, MAIL_GID, NODES_DN, alias_dn, domain_dn, user_dn,
};
use pigeonair_appliance::types::MailDomain;
use serde::Serialize;

use crate::error::CtlError;
use crate::import::{Password, Record, check_records};

/// slapd's local socket: root on a node binds there with SASL EXTERNAL.
pub const LOCAL_URI: &str = "ldapi://%2Frun%2Fslapd%2Fldapi";

/// How to authenticate.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// Root on a node over ldapi (SASL EXTERNAL).
    LocalRoot,
    /// An administrator's DN and password (simple bind).
    Password {
        /// e.g. `cn=admin,ou=admins,o=pigeonair`.
        dn: String,
        /// The password.
        password: String,
    },
}

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
}

/// An alias.
#[derive(Debug, Clone, Serialize)]
pub struct AliasInfo {
    /// The address.
    pub address: String,
    /// Where it delivers.
    pub targets: Vec<String>,
}

/// A connection to the directory.
pub struct Directory {
    ldap: LdapConn,
    uri: String,
    creds: Credentials,
}

/// How many adds an import keeps in flight on its own connection: slapd works on one while
/// the next is on the wire.
const IMPORT_IN_FLIGHT: usize = 8;

fn first(e: &SearchEntry, attr: &str) -> String {
    e.attrs
        .get(attr)
        .and_then(|v| v.first())
        .cloned()
        .unwrap_or_default()
}

fn all(e: &SearchEntry, attr: &str) -> Vec<String> {
    let mut v = e.attrs.get(attr).cloned().unwrap_or_default();
    v.sort();
    v
}

fn set(values: &[&str]) -> HashSet<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

const USER_ATTRS: [&str; 10] = [
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
];

fn user_info(e: &SearchEntry) -> UserInfo {
    let quota_bytes = first(e, "pigeonairQuotaBytes").parse().unwrap_or(0);
    UserInfo {
        address: first(e, "mail"),
        name: first(e, "cn"),
        status: first(e, "pigeonairAccountStatus"),
        quota_bytes,
        quota: Quota::try_new(&quota_bytes.to_string())
            .map(|q| q.human())
            .unwrap_or_default(),
        uid: first(e, "uidNumber").parse().unwrap_or(0),
        mailbox_id: first(e, "pigeonairMailboxId"),
        home_node: first(e, "mailHost"),
        services: all(e, "pigeonairEnabledService"),
        forward_to: all(e, "pigeonairForwardTo"),
    }
}

/// An entry to add: its DN and attributes.
type NewEntry = (String, Vec<(String, HashSet<String>)>);

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
            set(&[
                "inetOrgPerson",
                "inetLocalMailRecipient",
                "pigeonairMailUser",
            ]),
        ),
        ("cn".into(), set(&[name])),
        ("sn".into(), set(&[name])),
        ("mail".into(), set(&[address.as_str()])),
        ("userPassword".into(), set(&[password_hash])),
        ("uidNumber".into(), set(&[&uid])),
        ("gidNumber".into(), set(&[&gid])),
        ("pigeonairMailboxId".into(), set(&[&id])),
        ("mailHost".into(), set(&[home])),
        ("pigeonairQuotaBytes".into(), set(&[&quota])),
        ("pigeonairAccountStatus".into(), set(&["active"])),
        (
            "pigeonairEnabledService".into(),
            set(&["smtp", "submission", "imap", "pop3"]),
        ),
    ];
    let dn = user_dn(&dn_escape(address.as_str()), &dn_escape(address.domain()));
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
    /// Connects to `uri` and authenticates.
    pub fn connect(uri: &str, creds: &Credentials) -> Result<Self, CtlError> {
        let mut ldap = LdapConn::new(uri).map_err(CtlError::ldap(format!("connect to {uri}")))?;
        match creds {
            Credentials::LocalRoot => ldap
                .sasl_external_bind()
                .and_then(|r| r.success())
                .map_err(CtlError::ldap(
                    "bind as root over ldapi (are you root on a node?)",
                ))?,
            Credentials::Password { dn, password } => ldap
                .simple_bind(dn, password)
                .and_then(|r| r.success())
                .map_err(CtlError::ldap(format!("bind as {dn}")))?,
        };
        Ok(Directory {
            ldap,
            uri: uri.to_owned(),
            creds: creds.clone(),
        })
    }

    fn search(
        &mut self,
        base: &str,
        scope: Scope,
        filter: &str,
        attrs: &[&str],
    ) -> Result<Vec<SearchEntry>, CtlError> {
        match self.ldap.search(base, scope, filter, attrs.to_vec()) {
            Ok(res) => match res.success() {
                Ok((entries, _)) => Ok(entries.into_iter().map(SearchEntry::construct).collect()),
                Err(ldap3::LdapError::LdapResult { result }) if result.rc == 32 => Ok(Vec::new()),
                Err(e) => Err(CtlError::ldap(format!("search {base}"))(e)),
            },
            Err(e) => Err(CtlError::ldap(format!("search {base}"))(e)),
        }
    }

    fn exists(&mut self, dn: &str) -> Result<bool, CtlError> {
        Ok(!self
            .search(dn, Scope::Base, "(objectClass=*)", &["1.1"])?
            .is_empty())
    }

    fn domain_entry(&mut self, domain: &MailDomain) -> Result<SearchEntry, CtlError> {
        self.search(
            &domain_dn(&dn_escape(domain.as_str())),
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
            .search(
                DOMAINS_DN,
                Scope::Subtree,
                &filter,
                &["mail", "pigeonairAliasTarget"],
            )?
            .pop())
    }

    fn count(&mut self, base: &str, filter: &str) -> Result<usize, CtlError> {
        Ok(self.search(base, Scope::Subtree, filter, &["1.1"])?.len())
    }

    fn modify(&mut self, dn: &str, mods: Vec<Mod<String>>, what: &str) -> Result<(), CtlError> {
        self.ldap
            .modify(dn, mods)
            .and_then(|r| r.success())
            .map_err(CtlError::ldap(what.to_owned()))?;
        Ok(())
    }

    // ---- domains

    /// Adds a domain (or, with `alias_of`, an alias domain mapping onto a hosted domain).
    pub fn domain_add(
        &mut self,
        domain: &MailDomain,
        alias_of: Option<&MailDomain>,
    ) -> Result<(), CtlError> {
        let dn = domain_dn(&dn_escape(domain.as_str()));
        if self.exists(&dn)? {
            return Err(CtlError::Exists(format!("domain {domain} exists already")));
        }
        if let Some(target) = alias_of {
            self.domain_entry(target)?;
        }
        let mut attrs = vec![
            ("objectClass".to_owned(), set(&["pigeonairDomain"])),
            ("cn".to_owned(), set(&[domain.as_str()])),
            ("pigeonairAccountStatus".to_owned(), set(&["active"])),
        ];
        if let Some(target) = alias_of {
            attrs.push(("pigeonairAliasDomainOf".to_owned(), set(&[target.as_str()])));
        }
        self.ldap
            .add(&dn, attrs)
            .and_then(|r| r.success())
            .map_err(CtlError::ldap(format!("add domain {domain}")))?;
        for ou in ["users", "aliases"] {
            self.ldap
                .add(
                    &format!("ou={ou},{dn}"),
                    vec![
                        ("objectClass".to_owned(), set(&["organizationalUnit"])),
                        ("ou".to_owned(), set(&[ou])),
                    ],
                )
                .and_then(|r| r.success())
                .map_err(CtlError::ldap(format!("add ou={ou} of {domain}")))?;
        }
        Ok(())
    }

    /// Every domain, sorted by name.
    pub fn domain_list(&mut self) -> Result<Vec<DomainInfo>, CtlError> {
        let entries = self.search(
            DOMAINS_DN,
            Scope::OneLevel,
            "(objectClass=pigeonairDomain)",
            &["cn"],
        )?;
        let mut names: Vec<String> = entries.iter().map(|e| first(e, "cn")).collect();
        names.sort();
        names
            .iter()
            .map(|n| self.domain_show(&domain_arg(n)?))
            .collect()
    }

    /// One domain.
    pub fn domain_show(&mut self, domain: &MailDomain) -> Result<DomainInfo, CtlError> {
        let e = self.domain_entry(domain)?;
        let dn = domain_dn(&dn_escape(domain.as_str()));
        let alias_of = first(&e, "pigeonairAliasDomainOf");
        Ok(DomainInfo {
            name: domain.to_string(),
            status: first(&e, "pigeonairAccountStatus"),
            alias_of: (!alias_of.is_empty()).then_some(alias_of),
            users: self.count(&dn, "(objectClass=pigeonairMailUser)")?,
            aliases: self.count(&dn, "(objectClass=pigeonairAlias)")?,
        })
    }

    /// Enables or disables a domain: a disabled domain neither receives mail nor lets its
    /// users log in.
    pub fn domain_set_status(&mut self, domain: &MailDomain, active: bool) -> Result<(), CtlError> {
        self.domain_entry(domain)?;
        let status = if active { "active" } else { "disabled" };
        self.modify(
            &domain_dn(&dn_escape(domain.as_str())),
            vec![Mod::Replace(
                "pigeonairAccountStatus".into(),
                set(&[status]),
            )],
            &format!("set domain {domain} {status}"),
        )
    }

    /// Removes a domain; refused while it has users unless `with_users`.
    pub fn domain_remove(
        &mut self,
        domain: &MailDomain,
        with_users: bool,
    ) -> Result<usize, CtlError> {
        let info = self.domain_show(domain)?;
        if info.users > 0 && !with_users {
            return Err(CtlError::Refused(format!(
                "domain {domain} has {} user(s): remove them first, or pass --with-users",
                info.users
            )));
        }
        let dn = domain_dn(&dn_escape(domain.as_str()));
        let mut dns: Vec<String> = self
            .search(&dn, Scope::Subtree, "(objectClass=*)", &["1.1"])?
            .into_iter()
            .map(|e| e.dn)
            .collect();
        // Children before parents: deepest DNs first.
        dns.sort_by_key(|d| std::cmp::Reverse(d.matches(',').count()));
        for d in &dns {
            self.ldap
                .delete(d)
                .and_then(|r| r.success())
                .map_err(CtlError::ldap(format!("delete {d}")))?;
        }
        Ok(info.users)
    }

    // ---- users

    /// The next free uid, allocated by compare-and-swap on the counter entry, so concurrent
    /// adds never get the same one.
    fn allocate_uid(&mut self) -> Result<u32, CtlError> {
        self.allocate_uids(1)
    }

    /// The first of `n` consecutive free uids, allocated in one compare-and-swap.
    pub fn allocate_uids(&mut self, n: u32) -> Result<u32, CtlError> {
        for _ in 0..100 {
            let e = self
                .search(
                    COUNTERS_DN,
                    Scope::Base,
                    "(objectClass=pigeonairCounter)",
                    &["pigeonairNextUid"],
                )?
                .pop()
                .ok_or_else(|| {
                    CtlError::NotFound(format!("{COUNTERS_DN} is missing: was the node installed?"))
                })?;
            let current: u32 = first(&e, "pigeonairNextUid")
                .parse()
                .unwrap_or(FIRST_MAIL_UID);
            let mods = vec![
                Mod::Delete("pigeonairNextUid".to_owned(), set(&[&current.to_string()])),
                Mod::Add(
                    "pigeonairNextUid".to_owned(),
                    set(&[&(current + n).to_string()]),
                ),
            ];
            match self
                .ldap
                .modify(COUNTERS_DN, mods)
                .and_then(|r| r.success())
            {
                Ok(_) => return Ok(current),
                // noSuchAttribute: another add took this value first; read again.
                Err(ldap3::LdapError::LdapResult { result }) if result.rc == 16 => continue,
                Err(e) => return Err(CtlError::ldap("allocate a uid")(e)),
            }
        }
        Err(CtlError::Refused(
            "could not allocate a uid: the counter keeps changing".into(),
        ))
    }

    /// The active node with the fewest mailboxes, for a new user's home.
    fn pick_home_node(&mut self) -> Result<String, CtlError> {
        self.node_loads()?
            .into_iter()
            .min_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)))
            .map(|(h, _)| h)
            .ok_or_else(|| {
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
                if !self.exists(&dn)? {
                    return Err(CtlError::NotFound(format!("no node {n:?} in the cluster")));
                }
                n.to_owned()
            }
            None => self.pick_home_node()?,
        };
        let uid = self.allocate_uid()?;
        let hash = format!("{{CRYPT}}{}", sha512_crypt(password));
        let (dn, attrs) = user_entry(address, name, quota, &hash, uid, &home);
        self.ldap
            .add(&dn, attrs)
            .and_then(|r| r.success())
            .map_err(CtlError::ldap(format!("add user {address}")))?;
        self.user_show(address)
    }

    /// Users of `domain` (or all), sorted by address.
    pub fn user_list(&mut self, domain: Option<&MailDomain>) -> Result<Vec<UserInfo>, CtlError> {
        let base = self.search_base(domain)?;
        let mut users: Vec<UserInfo> = self
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
            vec![Mod::Replace("userPassword".into(), set(&[&hash]))],
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
                set(&[status]),
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
                set(&[&quota.bytes().to_string()]),
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
        self.ldap
            .modifydn(&e.dn, &rdn, true, Some(&superior))
            .and_then(|r| r.success())
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
                    set(&[if keep_copy { "TRUE" } else { "FALSE" }]),
                ),
            ]
        };
        self.modify(&e.dn, mods, &format!("set forwarding of {address}"))?;
        self.user_show(address)
    }

    /// Removes a user's entry. The mailbox's files stay on its home node.
    pub fn user_remove(&mut self, address: &MailAddress) -> Result<UserInfo, CtlError> {
        let e = self.user(address)?;
        let info = user_info(&e);
        self.ldap
            .delete(&e.dn)
            .and_then(|r| r.success())
            .map_err(CtlError::ldap(format!("remove {address}")))?;
        Ok(info)
    }

    /// Imports `records` (see [`crate::import`]): checked whole against the directory first,
    /// and with any problem nothing is written.
    pub fn import(&mut self, records: &[Record]) -> Result<ImportReport, CtlError> {
        let hosted: BTreeSet<String> = self
            .search(
                DOMAINS_DN,
                Scope::OneLevel,
                "(objectClass=pigeonairDomain)",
                &["cn"],
            )?
            .iter()
            .map(|e| first(e, "cn"))
            .collect();
        let existing: BTreeSet<String> = self
            .search(DOMAINS_DN, Scope::Subtree, "(mail=*)", &["mail"])?
            .iter()
            .map(|e| first(e, "mail"))
            .collect();
        let mut problems = check_records(records, &hosted, &existing);
        let mut graph = self.alias_graph()?;
        for r in records {
            if let Record::Alias { address, targets } = r {
                graph.insert(
                    address.to_string(),
                    targets.iter().map(|t| t.to_string()).collect(),
                );
            }
        }
        for r in records {
            if let Record::Alias { address, .. } = r
                && let Some(cycle) = find_cycle(&graph, address.as_str())
            {
                problems.push(format!("alias loop: {}", cycle.join(" → ")));
            }
        }
        if !problems.is_empty() {
            return Err(CtlError::Invalid(format!(
                "nothing was imported:\n{}",
                problems.join("\n")
            )));
        }
        let mut report = ImportReport::default();
        for r in records {
            if let Record::Domain(d) = r {
                self.domain_add(d, None)?;
                report.domains += 1;
            }
        }
        let users = records
            .iter()
            .filter(|r| matches!(r, Record::User { .. }))
            .count() as u32;
        let mut uid = if users > 0 {
            self.allocate_uids(users)?
        } else {
            0
        };
        let mut loads = self.node_loads()?;
        let mut entries = Vec::new();
        for r in records {
            if let Record::User {
                address,
                password,
                name,
                quota,
            } = r
            {
                let hash = match password {
                    Password::Clear(p) => format!("{{CRYPT}}{}", sha512_crypt(p)),
                    Password::Hashed(h) => h.clone(),
                };
                // The least loaded active node; ties go to the first by name.
                let home = loads
                    .iter_mut()
                    .min_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)))
                    .map(|(h, n)| {
                        *n += 1;
                        h.clone()
                    })
                    .ok_or_else(|| {
                        CtlError::NotFound(
                            "no active node in the directory to hold mailboxes".into(),
                        )
                    })?;
                let name = name.as_deref().unwrap_or(address.local());
                entries.push(user_entry(address, name, *quota, &hash, uid, &home));
                uid += 1;
            }
        }
        report.users = self.add_many(entries)?;
        for r in records {
            if let Record::Alias { address, targets } = r {
                let dn = alias_dn(&dn_escape(address.as_str()), &dn_escape(address.domain()));
                self.ldap
                    .add(
                        &dn,
                        vec![
                            ("objectClass".into(), set(&["pigeonairAlias"])),
                            ("mail".into(), set(&[address.as_str()])),
                            (
                                "pigeonairAliasTarget".into(),
                                targets.iter().map(|t| t.to_string()).collect(),
                            ),
                            ("pigeonairAccountStatus".into(), set(&["active"])),
                        ],
                    )
                    .and_then(|r| r.success())
                    .map_err(CtlError::ldap(format!("add alias {address}")))?;
                report.aliases += 1;
            }
        }
        Ok(report)
    }

    /// Adds `entries` over a second, asynchronous connection with several adds in flight.
    fn add_many(&self, entries: Vec<NewEntry>) -> Result<usize, CtlError> {
        use futures_util::StreamExt;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| CtlError::Invalid(format!("cannot start the import's runtime: {e}")))?;
        runtime.block_on(async {
            let (conn, ldap) = ldap3::LdapConnAsync::new(&self.uri)
                .await
                .map_err(CtlError::ldap(format!("connect to {}", self.uri)))?;
            ldap3::drive!(conn);
            let mut bind = ldap.clone();
            match &self.creds {
                Credentials::LocalRoot => bind.sasl_external_bind().await,
                Credentials::Password { dn, password } => bind.simple_bind(dn, password).await,
            }
            .and_then(|r| r.success())
            .map_err(CtlError::ldap("bind for the import"))?;
            let results: Vec<Result<(), CtlError>> = futures_util::stream::iter(entries)
                .map(|(dn, attrs)| {
                    let mut ldap = ldap.clone();
                    async move {
                        ldap.add(&dn, attrs)
                            .await
                            .and_then(|r| r.success())
                            .map(|_| ())
                            .map_err(CtlError::ldap(format!("add {dn}")))
                    }
                })
                .buffer_unordered(IMPORT_IN_FLIGHT)
                .collect()
                .await;
            let added = results.iter().filter(|r| r.is_ok()).count();
            match results.into_iter().find_map(Result::err) {
                Some(e) => Err(e),
                None => Ok(added),
            }
        })
    }

    /// Active nodes with the number of mailboxes each is home to.
    fn node_loads(&mut self) -> Result<Vec<(String, usize)>, CtlError> {
        let nodes = self.search(
            NODES_DN,
            Scope::OneLevel,
            "(&(objectClass=pigeonairNode)(pigeonairNodeState=active))",
            &["cn"],
        )?;
        let mut loads = Vec::new();
        for n in nodes {
            let host = first(&n, "cn");
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

    // ---- aliases

    /// Where each local alias delivers, for loop checks.
    fn alias_graph(&mut self) -> Result<BTreeMap<String, Vec<String>>, CtlError> {
        let mut graph = BTreeMap::new();
        for e in self.search(
            DOMAINS_DN,
            Scope::Subtree,
            "(|(objectClass=pigeonairAlias)(pigeonairForwardTo=*))",
            &["mail", "pigeonairAliasTarget", "pigeonairForwardTo"],
        )? {
            let mut targets = all(&e, "pigeonairAliasTarget");
            targets.extend(all(&e, "pigeonairForwardTo"));
            let me = first(&e, "mail");
            // A forward to oneself is "keep a copy", not a loop.
            targets.retain(|t| *t != me);
            graph.insert(me, targets);
        }
        Ok(graph)
    }

    /// Adds `targets` to the alias `address` (made if new). Refused if it would make a loop.
    pub fn alias_add(
        &mut self,
        address: &MailAddress,
        targets: &[MailAddress],
    ) -> Result<AliasInfo, CtlError> {
        let domain = domain_arg(address.domain())?;
        self.domain_entry(&domain)?;
        if self.find_user(address)?.is_some() {
            return Err(CtlError::Exists(format!(
                "{address} is a user: use `pigeonctl user forward` to send its mail elsewhere"
            )));
        }
        if targets.iter().any(|t| t == address) {
            return Err(CtlError::Invalid(format!(
                "alias {address} cannot deliver to itself"
            )));
        }
        let mut graph = self.alias_graph()?;
        let entry = graph.entry(address.to_string()).or_default();
        entry.extend(targets.iter().map(|t| t.to_string()));
        if let Some(cycle) = find_cycle(&graph, address.as_str()) {
            return Err(CtlError::Refused(format!(
                "alias loop: {}: nothing was changed",
                cycle.join(" → ")
            )));
        }
        let values: HashSet<String> = targets.iter().map(|t| t.to_string()).collect();
        match self.find_alias(address)? {
            Some(e) => {
                let have: HashSet<String> = all(&e, "pigeonairAliasTarget").into_iter().collect();
                let new: HashSet<String> = values.difference(&have).cloned().collect();
                if !new.is_empty() {
                    self.modify(
                        &e.dn,
                        vec![Mod::Add("pigeonairAliasTarget".into(), new)],
                        &format!("add targets to {address}"),
                    )?;
                }
            }
            None => {
                let dn = alias_dn(&dn_escape(address.as_str()), &dn_escape(domain.as_str()));
                self.ldap
                    .add(
                        &dn,
                        vec![
                            ("objectClass".into(), set(&["pigeonairAlias"])),
                            ("mail".into(), set(&[address.as_str()])),
                            ("pigeonairAliasTarget".into(), values),
                            ("pigeonairAccountStatus".into(), set(&["active"])),
                        ],
                    )
                    .and_then(|r| r.success())
                    .map_err(CtlError::ldap(format!("add alias {address}")))?;
            }
        }
        self.alias_show(address)
    }

    /// One alias.
    pub fn alias_show(&mut self, address: &MailAddress) -> Result<AliasInfo, CtlError> {
        let e = self
            .find_alias(address)?
            .ok_or_else(|| CtlError::NotFound(format!("no alias {address}")))?;
        Ok(AliasInfo {
            address: first(&e, "mail"),
            targets: all(&e, "pigeonairAliasTarget"),
        })
    }

    /// Removes `targets` from an alias, or the whole alias when `targets` is empty (or would
    /// leave none).
    pub fn alias_remove(
        &mut self,
        address: &MailAddress,
        targets: &[MailAddress],
    ) -> Result<(), CtlError> {
        let e = self
            .find_alias(address)?
            .ok_or_else(|| CtlError::NotFound(format!("no alias {address}")))?;
        let have: HashSet<String> = all(&e, "pigeonairAliasTarget").into_iter().collect();
        let drop: HashSet<String> = targets.iter().map(|t| t.to_string()).collect();
        if let Some(missing) = drop.difference(&have).next() {
            return Err(CtlError::NotFound(format!(
                "alias {address} has no target {missing}"
            )));
        }
        if drop.is_empty() || drop.len() == have.len() {
            self.ldap
                .delete(&e.dn)
                .and_then(|r| r.success())
                .map_err(CtlError::ldap(format!("remove alias {address}")))?;
            return Ok(());
        }
        self.modify(
            &e.dn,
            vec![Mod::Delete("pigeonairAliasTarget".into(), drop)],
            &format!("remove targets from {address}"),
        )
    }

    /// Aliases of `domain` (or all), sorted.
    pub fn alias_list(&mut self, domain: Option<&MailDomain>) -> Result<Vec<AliasInfo>, CtlError> {
        let base = self.search_base(domain)?;
        let mut v: Vec<AliasInfo> = self
            .search(
                &base,
                Scope::Subtree,
                "(objectClass=pigeonairAlias)",
                &["mail", "pigeonairAliasTarget"],
            )?
            .iter()
            .map(|e| AliasInfo {
                address: first(e, "mail"),
                targets: all(e, "pigeonairAliasTarget"),
            })
            .collect();
        v.sort_by(|a, b| a.address.cmp(&b.address));
        Ok(v)
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
