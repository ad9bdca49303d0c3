//! Seeding the directory over ldapi as root (SASL EXTERNAL): every seed entry that is missing is
//! added; one that exists is left as it is. The service accounts' passwords are converged to
//! the node's secrets (checked by binding with them).

use std::collections::HashSet;

use pigeonair_appliance::directory::{DOVECOT_DN, Entry, LDAPI_URL, POSTFIX_DN};
use pigeonair_appliance::render::Secrets;
use pigeonair_directory::{Connection, Credentials, DirectoryError, Mod, can_bind};

use pigeonair_appliance::crypt::sha512_crypt;

/// Seeding failed.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// An LDAP operation failed.
    #[error("directory: {0}")]
    Ldap(#[from] DirectoryError),
}

/// Connects to the local slapd as root.
pub fn connect_as_root() -> Result<Connection, SeedError> {
    Ok(Connection::connect(LDAPI_URL, &Credentials::LocalRoot)?)
}

/// Adds each entry of `entries` that does not exist; returns the DNs added.
pub fn add_missing(ldap: &mut Connection, entries: &[Entry]) -> Result<Vec<String>, SeedError> {
    let mut added = Vec::new();
    for entry in entries {
        if ldap.exists(&entry.dn)? {
            continue;
        }
        ldap.add_entry(entry)?;
        added.push(entry.dn.clone());
    }
    Ok(added)
}

/// Sets the service accounts' passwords to `secrets` where a bind with them fails; returns the
/// DNs changed.
pub fn converge_service_passwords(
    ldap: &mut Connection,
    secrets: &Secrets,
) -> Result<Vec<String>, SeedError> {
    let mut changed = Vec::new();
    for (dn, password) in [
        (POSTFIX_DN, &secrets.postfix_ldap),
        (DOVECOT_DN, &secrets.dovecot_ldap),
    ] {
        if can_bind(LDAPI_URL, dn, password)? {
            continue;
        }
        let hash = format!("{{CRYPT}}{}", sha512_crypt(password));
        ldap.modify(
            dn,
            vec![Mod::Replace(
                "userPassword".to_owned(),
                HashSet::from([hash]),
            )],
        )
        .map_err(|e| e.described_as(format!("set the password of {dn}")))?;
        changed.push(dn.to_owned());
    }
    Ok(changed)
}
