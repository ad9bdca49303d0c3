//! Domains: add, list, show, enable, disable, remove.

use pigeonair_appliance::directory::{DOMAINS_DN, domain_dn};
use pigeonair_appliance::types::MailDomain;
use pigeonair_directory::{Mod, Scope, dn_escape, ldap_escape};

use super::*;

impl Directory {
    /// Adds a domain (or, with `alias_of`, an alias domain mapping onto a hosted domain).
    pub fn domain_add(
        &mut self,
        domain: &MailDomain,
        alias_of: Option<&MailDomain>,
    ) -> Result<(), CtlError> {
        let dn = domain_dn(&dn_escape(domain.as_str()));
        if self.conn.exists(&dn)? {
            return Err(CtlError::Exists(format!("domain {domain} exists already")));
        }
        if let Some(target) = alias_of {
            let t = self.domain_entry(target)?;
            if !first(&t, "pigeonairAliasDomainOf").is_empty() {
                return Err(CtlError::Invalid(format!(
                    "{target} is itself an alias domain: map {domain} onto {} instead",
                    first(&t, "pigeonairAliasDomainOf")
                )));
            }
        }
        let mut attrs = vec![
            ("objectClass".to_owned(), value_set(&["pigeonairDomain"])),
            ("cn".to_owned(), value_set(&[domain.as_str()])),
            ("pigeonairAccountStatus".to_owned(), value_set(&["active"])),
        ];
        if let Some(target) = alias_of {
            attrs.push((
                "pigeonairAliasDomainOf".to_owned(),
                value_set(&[target.as_str()]),
            ));
        }
        self.conn
            .add(&dn, attrs)
            .map_err(CtlError::ldap(format!("add domain {domain}")))?;
        for ou in ["users", "aliases"] {
            // An alias domain's users and aliases are those of its target: LDAP alias entries
            // that Postfix's alias-domains table follows.
            let attrs = match alias_of {
                Some(target) => vec![
                    (
                        "objectClass".to_owned(),
                        value_set(&["alias", "extensibleObject"]),
                    ),
                    ("ou".to_owned(), value_set(&[ou])),
                    (
                        "aliasedObjectName".to_owned(),
                        value_set(&[&format!(
                            "ou={ou},{}",
                            domain_dn(&dn_escape(target.as_str()))
                        )]),
                    ),
                ],
                None => vec![
                    ("objectClass".to_owned(), value_set(&["organizationalUnit"])),
                    ("ou".to_owned(), value_set(&[ou])),
                ],
            };
            self.conn
                .add(&format!("ou={ou},{dn}"), attrs)
                .map_err(CtlError::ldap(format!("add ou={ou} of {domain}")))?;
        }
        Ok(())
    }

    /// Every domain, sorted by name.
    pub fn domain_list(&mut self) -> Result<Vec<DomainInfo>, CtlError> {
        let entries = self.conn.search(
            DOMAINS_DN,
            Scope::OneLevel,
            "(objectClass=pigeonairDomain)",
            &["cn"],
        )?;
        let mut names: Vec<String> = entries.iter().map(|e| first(e, "cn").to_owned()).collect();
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
        let alias_of = first(&e, "pigeonairAliasDomainOf").to_owned();
        Ok(DomainInfo {
            name: domain.to_string(),
            status: first(&e, "pigeonairAccountStatus").to_owned(),
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
                value_set(&[status]),
            )],
            &format!("set domain {domain} {status}"),
        )
    }

    /// Removes a domain; refused while it has users unless `with_users`.
    pub fn domain_remove(
        &mut self,
        domain: &MailDomain,
        with_users: bool,
        purge_after: u64,
    ) -> Result<usize, CtlError> {
        let info = self.domain_show(domain)?;
        let aliases_of: Vec<String> = self
            .conn
            .search(
                DOMAINS_DN,
                Scope::OneLevel,
                &format!(
                    "(&(objectClass=pigeonairDomain)(pigeonairAliasDomainOf={}))",
                    ldap_escape(domain.as_str())
                ),
                &["cn"],
            )?
            .iter()
            .map(|e| first(e, "cn").to_owned())
            .collect();
        if !aliases_of.is_empty() {
            return Err(CtlError::Refused(format!(
                "domain {domain} is the target of alias domain(s) {}: remove them first",
                aliases_of.join(", ")
            )));
        }
        if info.users > 0 && !with_users {
            return Err(CtlError::Refused(format!(
                "domain {domain} has {} user(s): remove them first, or pass --with-users",
                info.users
            )));
        }
        let dn = domain_dn(&dn_escape(domain.as_str()));
        // Its users go to ou=removed (their mailboxes purged by their home nodes later, or
        // restored), everything else is deleted.
        let users = self.conn.search(
            &dn,
            Scope::Subtree,
            "(objectClass=pigeonairMailUser)",
            &["pigeonairMailboxId"],
        )?;
        for u in users {
            let id = first(&u, "pigeonairMailboxId").to_owned();
            self.retire(&u.dn, &id, purge_after)?;
        }
        let mut dns: Vec<String> = self
            .conn
            .search(&dn, Scope::Subtree, "(objectClass=*)", &["1.1"])?
            .into_iter()
            .map(|e| e.dn)
            .collect();
        // Children before parents: deepest DNs first.
        dns.sort_by_key(|d| std::cmp::Reverse(d.matches(',').count()));
        for d in &dns {
            self.conn.delete(d)?;
        }
        Ok(info.users)
    }
}
