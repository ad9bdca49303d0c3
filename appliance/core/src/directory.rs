//! The directory's design: where each kind of entry lives (the DIT), the service accounts, and
//! the entries a new cluster is seeded with. Pure: the installer writes these over ldapi.
//!
//! ```text
//! o=pigeonair
//! ├── ou=domains
//! │   └── cn=example.com                      pigeonairDomain
//! │       ├── ou=users
//! │       │   └── mail=postmaster@example.com inetOrgPerson + inetLocalMailRecipient + pigeonairMailUser
//! │       └── ou=aliases
//! │           └── mail=abuse@example.com      pigeonairAlias
//! ├── ou=nodes
//! │   └── cn=mx1.example.com                  pigeonairNode (roles: provider, ca; dns)
//! ├── ou=tokens                               admins only
//! │   └── cn=<token id>                       pigeonairJoinToken (hash, expiry, state)
//! ├── ou=services                             one bind account per service
//! │   ├── cn=postfix                          reads domains, users, aliases (routing only)
//! │   └── cn=dovecot                          reads users (passwords, uid, quota)
//! ├── ou=admins
//! │   └── cn=admin                            writes everything
//! ├── ou=removed                              removed users, kept until their mailbox is purged
//! │   └── pigeonairMailboxId=<id>             the user's entry as it was, + pigeonairPurgeAfter
//! ├── cn=counters                             pigeonairNextUid: next mailbox uidNumber
//! └── cn=revocations                          pigeonairRevocations: the cluster CA's CRL
//!                                             (made by a node holding the CA's key)
//! ```

use std::fmt::Write as _;

use crate::plan::Plan;

/// The directory's suffix.
pub const BASE_DN: &str = "o=pigeonair";
/// The node's own slapd over its Unix socket (root binds there with SASL EXTERNAL).
pub const LDAPI_URL: &str = "ldapi://%2Frun%2Fslapd%2Fldapi";
/// Where domains live.
pub const DOMAINS_DN: &str = "ou=domains,o=pigeonair";
/// Where nodes live.
pub const NODES_DN: &str = "ou=nodes,o=pigeonair";
/// Removed users: each entry moved here as it was (its RDN its mailbox id), with the time its
/// home node purges the mailbox (`pigeonairPurgeAfter`). Outside `ou=domains`, so no service
/// finds it: no mail, no login, and the address is free.
pub const REMOVED_DN: &str = "ou=removed,o=pigeonair";
/// The cluster CA's certificate revocation list (`pigeonairCrlPem`), which every node checks
/// its peers' certificates against.
pub const REVOCATIONS_DN: &str = "cn=revocations,o=pigeonair";
/// Where join tokens live (admins only: they hold the tokens' hashes).
pub const TOKENS_DN: &str = "ou=tokens,o=pigeonair";
/// Where service accounts live.
pub const SERVICES_DN: &str = "ou=services,o=pigeonair";
/// Where administrators live.
pub const ADMINS_DN: &str = "ou=admins,o=pigeonair";
/// The allocation counters.
pub const COUNTERS_DN: &str = "cn=counters,o=pigeonair";
/// Postfix's bind account.
pub const POSTFIX_DN: &str = "cn=postfix,ou=services,o=pigeonair";
/// Dovecot's bind account.
pub const DOVECOT_DN: &str = "cn=dovecot,ou=services,o=pigeonair";
/// The first administrator.
pub const ADMIN_DN: &str = "cn=admin,ou=admins,o=pigeonair";
/// Root on a node, as slapd sees it over ldapi with SASL EXTERNAL.
pub const LOCAL_ROOT_DN: &str = "gidNumber=0+uidNumber=0,cn=peercred,cn=external,cn=auth";
/// The group id every mailbox shares; each mailbox has its own uid.
pub const MAIL_GID: u32 = 10000;
/// The first mailbox uid (postmaster's).
pub const FIRST_MAIL_UID: u32 = 10000;
/// Where mailboxes live: `/var/vmail/<pigeonairMailboxId>`.
pub const VMAIL_DIR: &str = "/var/vmail";

/// The DN of a domain.
pub fn domain_dn(domain: &str) -> String {
    format!("cn={domain},{DOMAINS_DN}")
}

/// The DN of a user (mailbox).
pub fn user_dn(address: &str, domain: &str) -> String {
    format!("mail={address},ou=users,{}", domain_dn(domain))
}

/// The DN of an alias.
pub fn alias_dn(address: &str, domain: &str) -> String {
    format!("mail={address},ou=aliases,{}", domain_dn(domain))
}

/// The DN of a node.
pub fn node_dn(hostname: &str) -> String {
    format!("cn={hostname},{NODES_DN}")
}

/// The DN of a join token.
pub fn token_dn(id: &str) -> String {
    format!("cn={id},{TOKENS_DN}")
}

/// An entry to add: DN and attributes, values in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its DN.
    pub dn: String,
    /// `(attribute, values)`.
    pub attrs: Vec<(String, Vec<String>)>,
}

impl Entry {
    fn new(dn: impl Into<String>) -> Self {
        Entry {
            dn: dn.into(),
            attrs: Vec::new(),
        }
    }

    fn attr(mut self, name: &str, values: &[&str]) -> Self {
        self.attrs.push((
            name.to_owned(),
            values.iter().map(|v| (*v).to_owned()).collect(),
        ));
        self
    }

    /// The entry as LDIF.
    pub fn to_ldif(&self) -> String {
        let mut out = format!("dn: {}\n", self.dn);
        for (name, values) in &self.attrs {
            for v in values {
                let _ = writeln!(out, "{name}: {v}");
            }
        }
        out
    }
}

/// Hashed credentials and ids the seed needs, made by the installer (random salts and ids).
#[derive(Debug, Clone)]
pub struct SeedSecrets {
    /// `{CRYPT}$6$…` of the administrator password (also postmaster's).
    pub admin_hash: String,
    /// `{CRYPT}$6$…` of Postfix's bind password.
    pub postfix_hash: String,
    /// `{CRYPT}$6$…` of Dovecot's bind password.
    pub dovecot_hash: String,
    /// postmaster's pigeonairMailboxId.
    pub postmaster_mailbox_id: String,
}

/// The roles of a cluster's first node: `provider` and `ca`, and `dns` when the cluster is
/// DNS-balanced.
pub fn first_node_roles(plan: &Plan) -> &'static [&'static str] {
    if plan.balancer == crate::plan::Balancer::Dns {
        &["provider", "ca", crate::cluster::DNS_ROLE]
    } else {
        &["provider", "ca"]
    }
}

/// The entries of a new cluster, parents before children. The installer adds each one that is
/// missing and never changes one that exists (an administrator may have changed it since).
pub fn seed_entries(plan: &Plan, s: &SeedSecrets) -> Vec<Entry> {
    let domain = plan.domain.as_str();
    let postmaster = format!("postmaster@{domain}");
    let host = plan.hostname.as_str();
    let ou = |dn: &str, name: &str| {
        Entry::new(dn)
            .attr("objectClass", &["organizationalUnit"])
            .attr("ou", &[name])
    };
    let service = |dn: &str, name: &str, hash: &str, what: &str| {
        Entry::new(dn)
            .attr(
                "objectClass",
                &["applicationProcess", "simpleSecurityObject"],
            )
            .attr("cn", &[name])
            .attr("userPassword", &[hash])
            .attr("description", &[what])
    };
    let next_uid = (FIRST_MAIL_UID + 1).to_string();
    let uid = FIRST_MAIL_UID.to_string();
    let gid = MAIL_GID.to_string();
    vec![
        Entry::new(BASE_DN)
            .attr("objectClass", &["organization"])
            .attr("o", &["pigeonair"])
            .attr(
                "description",
                &[&format!("PigeonAir cluster {}", plan.cluster)],
            ),
        ou(DOMAINS_DN, "domains"),
        ou(NODES_DN, "nodes"),
        ou(TOKENS_DN, "tokens"),
        ou(SERVICES_DN, "services"),
        ou(ADMINS_DN, "admins"),
        Entry::new(COUNTERS_DN)
            .attr("objectClass", &["pigeonairCounter"])
            .attr("cn", &["counters"])
            .attr("pigeonairNextUid", &[&next_uid]),
        service(
            POSTFIX_DN,
            "postfix",
            &s.postfix_hash,
            "Postfix: reads domains, users and aliases",
        ),
        service(
            DOVECOT_DN,
            "dovecot",
            &s.dovecot_hash,
            "Dovecot: reads users",
        ),
        Entry::new(ADMIN_DN)
            .attr(
                "objectClass",
                &["organizationalRole", "simpleSecurityObject"],
            )
            .attr("cn", &["admin"])
            .attr("userPassword", &[&s.admin_hash])
            .attr("description", &["PigeonAir administrator"]),
        Entry::new(node_dn(host))
            .attr("objectClass", &["pigeonairNode"])
            .attr("cn", &[host])
            .attr(
                "pigeonairPublicAddress",
                &[&plan.public.address.to_string()],
            )
            .attr(
                "pigeonairPrivateAddress",
                &[&plan.private.address.to_string()],
            )
            .attr("pigeonairNodeState", &["active"])
            // The first node holds the writable directory and the cluster CA's key, and in a
            // DNS-balanced cluster runs one of its two DNS servers (the next node to join
            // gets the other: `ClusterView::dns_role_on_join`).
            .attr("pigeonairNodeRole", first_node_roles(plan)),
        Entry::new(domain_dn(domain))
            .attr("objectClass", &["pigeonairDomain"])
            .attr("cn", &[domain])
            .attr("pigeonairAccountStatus", &["active"]),
        ou(&format!("ou=users,{}", domain_dn(domain)), "users"),
        ou(&format!("ou=aliases,{}", domain_dn(domain)), "aliases"),
        Entry::new(user_dn(&postmaster, domain))
            .attr(
                "objectClass",
                &[
                    "inetOrgPerson",
                    "inetLocalMailRecipient",
                    "pigeonairMailUser",
                ],
            )
            .attr("cn", &["Postmaster"])
            .attr("sn", &["Postmaster"])
            .attr("mail", &[&postmaster])
            .attr("userPassword", &[&s.admin_hash])
            .attr("uidNumber", &[&uid])
            .attr("gidNumber", &[&gid])
            .attr("pigeonairMailboxId", &[&s.postmaster_mailbox_id])
            .attr("mailHost", &[host])
            .attr("pigeonairQuotaBytes", &["0"])
            .attr("pigeonairAccountStatus", &["active"])
            .attr(
                "pigeonairEnabledService",
                &["smtp", "submission", "imap", "pop3"],
            ),
        Entry::new(alias_dn(&format!("abuse@{domain}"), domain))
            .attr("objectClass", &["pigeonairAlias"])
            .attr("mail", &[&format!("abuse@{domain}")])
            .attr("pigeonairAliasTarget", &[&postmaster])
            .attr("pigeonairAccountStatus", &["active"]),
    ]
}
