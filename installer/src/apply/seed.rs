//! Seeding the directory over ldapi as root (SASL EXTERNAL): every seed entry that is missing is
//! added; one that exists is left as it is. The service accounts' passwords are converged to
//! the node's secrets (checked by binding with them).

use std::collections::HashSet;

use ldap3::{LdapConn, LdapError, Mod, Scope};
use pigeonair_appliance::directory::{DOVECOT_DN, Entry, POSTFIX_DN};
use pigeonair_appliance::render::Secrets;

use pigeonair_appliance::crypt::sha512_crypt;

/// The ldapi URL of slapd's socket (path percent-encoded).
pub const LDAPI_URL: &str = pigeonair_appliance::directory::LDAPI_URL;

/// Seeding failed.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// An LDAP operation failed.
    #[error("directory: {what}: {source}")]
    Ldap {
        /// What was being done.
        what: String,
        /// Why.
        source: Box<LdapError>,
    },
}

fn ldap_err(what: impl Into<String>) -> impl FnOnce(LdapError) -> SeedError {
    let what = what.into();
    move |source| SeedError::Ldap {
        what,
        source: Box::new(source),
    }
}

/// Connects to the local slapd as root.
pub fn connect_as_root() -> Result<LdapConn, SeedError> {
    let mut ldap = LdapConn::new(LDAPI_URL).map_err(ldap_err(format!("connect to {LDAPI_URL}")))?;
    ldap.sasl_external_bind()
        .and_then(|r| r.success())
        .map_err(ldap_err("bind as root (SASL EXTERNAL over ldapi)"))?;
    Ok(ldap)
}

/// Whether `dn` exists.
pub fn exists(ldap: &mut LdapConn, dn: &str) -> Result<bool, SeedError> {
    match ldap.search(dn, Scope::Base, "(objectClass=*)", vec!["1.1"]) {
        Ok(res) => match res.success() {
            Ok(_) => Ok(true),
            Err(LdapError::LdapResult { result }) if result.rc == 32 => Ok(false),
            Err(e) => Err(ldap_err(format!("look up {dn}"))(e)),
        },
        Err(e) => Err(ldap_err(format!("look up {dn}"))(e)),
    }
}

/// Adds each entry of `entries` that does not exist; returns the DNs added.
pub fn add_missing(ldap: &mut LdapConn, entries: &[Entry]) -> Result<Vec<String>, SeedError> {
    let mut added = Vec::new();
    for entry in entries {
        if exists(ldap, &entry.dn)? {
            continue;
        }
        let attrs: Vec<(String, HashSet<String>)> = entry
            .attrs
            .iter()
            .map(|(name, values)| (name.clone(), values.iter().cloned().collect()))
            .collect();
        ldap.add(&entry.dn, attrs)
            .and_then(|r| r.success())
            .map_err(ldap_err(format!("add {}", entry.dn)))?;
        added.push(entry.dn.clone());
    }
    Ok(added)
}

/// Whether a simple bind as `dn` with `password` succeeds.
fn can_bind(dn: &str, password: &str) -> Result<bool, SeedError> {
    let mut ldap = LdapConn::new(LDAPI_URL).map_err(ldap_err("connect"))?;
    let ok = ldap
        .simple_bind(dn, password)
        .map(|r| r.rc == 0)
        .map_err(ldap_err(format!("bind as {dn}")))?;
    let _ = ldap.unbind();
    Ok(ok)
}

/// Sets the service accounts' passwords to `secrets` where a bind with them fails; returns the
/// DNs changed.
pub fn converge_service_passwords(
    ldap: &mut LdapConn,
    secrets: &Secrets,
) -> Result<Vec<String>, SeedError> {
    let mut changed = Vec::new();
    for (dn, password) in [
        (POSTFIX_DN, &secrets.postfix_ldap),
        (DOVECOT_DN, &secrets.dovecot_ldap),
    ] {
        if can_bind(dn, password)? {
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
        .and_then(|r| r.success())
        .map_err(ldap_err(format!("set the password of {dn}")))?;
        changed.push(dn.to_owned());
    }
    Ok(changed)
}
