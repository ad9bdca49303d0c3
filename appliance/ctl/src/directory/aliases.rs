//! Aliases: add (loops refused), show, remove, list.

use std::collections::{BTreeMap, HashSet};

use pigeonair_appliance::address::MailAddress;
use pigeonair_appliance::directory::DOMAINS_DN;
use pigeonair_appliance::types::MailDomain;
use pigeonair_directory::{Mod, Scope, sorted_values};

use super::*;

impl Directory {
    /// Where each local alias delivers, for loop checks.
    pub(super) fn alias_graph(&mut self) -> Result<BTreeMap<String, Vec<String>>, CtlError> {
        let mut graph = BTreeMap::new();
        for e in self.conn.search(
            DOMAINS_DN,
            Scope::Subtree,
            "(|(objectClass=pigeonairAlias)(pigeonairForwardTo=*))",
            &["mail", "pigeonairAliasTarget", "pigeonairForwardTo"],
        )? {
            let mut targets = sorted_values(&e, "pigeonairAliasTarget");
            targets.extend(sorted_values(&e, "pigeonairForwardTo"));
            let me = first(&e, "mail").to_owned();
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
                let have: HashSet<String> = pigeonair_directory::values(&e, "pigeonairAliasTarget")
                    .iter()
                    .cloned()
                    .collect();
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
                let (dn, attrs) = alias_entry(address, values);
                self.conn
                    .add(&dn, attrs)
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
            address: first(&e, "mail").to_owned(),
            targets: sorted_values(&e, "pigeonairAliasTarget"),
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
        let have: HashSet<String> = pigeonair_directory::values(&e, "pigeonairAliasTarget")
            .iter()
            .cloned()
            .collect();
        let drop: HashSet<String> = targets.iter().map(|t| t.to_string()).collect();
        if let Some(missing) = drop.difference(&have).next() {
            return Err(CtlError::NotFound(format!(
                "alias {address} has no target {missing}"
            )));
        }
        if drop.is_empty() || drop.len() == have.len() {
            self.conn
                .delete(&e.dn)
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
            .conn
            .search(
                &base,
                Scope::Subtree,
                "(objectClass=pigeonairAlias)",
                &["mail", "pigeonairAliasTarget"],
            )?
            .iter()
            .map(|e| AliasInfo {
                address: first(e, "mail").to_owned(),
                targets: sorted_values(e, "pigeonairAliasTarget"),
            })
            .collect();
        v.sort_by(|a, b| a.address.cmp(&b.address));
        Ok(v)
    }
}
