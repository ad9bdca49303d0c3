//! Applying an import: records checked whole against the directory, then added.

use std::collections::BTreeSet;

use pigeonair_appliance::crypt::sha512_crypt;
use pigeonair_appliance::directory::DOMAINS_DN;
use pigeonair_directory::{AsyncConnection, Scope};

use super::*;

impl Directory {
    /// Imports `records` (see [`crate::import`]): checked whole against the directory first,
    /// and with any problem nothing is written.
    pub fn import(&mut self, records: &[Record]) -> Result<ImportReport, CtlError> {
        let hosted: BTreeSet<String> = self
            .conn
            .search(
                DOMAINS_DN,
                Scope::OneLevel,
                "(objectClass=pigeonairDomain)",
                &["cn"],
            )?
            .iter()
            .map(|e| first(e, "cn").to_owned())
            .collect();
        let existing: BTreeSet<String> = self
            .conn
            .search(DOMAINS_DN, Scope::Subtree, "(mail=*)", &["mail"])?
            .iter()
            .map(|e| first(e, "mail").to_owned())
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
                let (dn, attrs) =
                    alias_entry(address, targets.iter().map(|t| t.to_string()).collect());
                self.conn
                    .add(&dn, attrs)
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
            let mut conn = AsyncConnection::open(&self.local_uri, None).await?;
            conn.bind(&self.creds)
                .await
                .map_err(CtlError::ldap("bind for the import"))?;
            let results: Vec<Result<(), CtlError>> = futures_util::stream::iter(entries)
                .map(|(dn, attrs)| {
                    let mut conn = conn.clone();
                    async move { Ok::<(), CtlError>(conn.add(&dn, attrs).await?) }
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
}
