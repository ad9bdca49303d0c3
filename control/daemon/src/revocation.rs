//! Revoking a removed node's certificates, and every node checking its peers against the list.
//!
//! Every certificate the cluster CA issues is recorded on its node's entry
//! (`pigeonairCertSerial`; a node also records its own current one). `pigeonctl node remove`
//! sets the node `removed`. A node holding the CA's key then ([`ca_tick`]) signs a new
//! certificate revocation list with every serial of every removed node added to those already
//! revoked, stores it in the directory ([`REVOCATIONS_DN`], `pigeonairCrlPem`), and only then
//! deletes the removed node's entry. Every node ([`apply_crl`]) writes the list next to the CA's
//! certificate and has its slapd (SASL EXTERNAL binds, replication) and its control plane check
//! peers' certificates against it, so a removed node's certificate is refused everywhere.

use std::path::Path;
use std::time::Duration;

use log::info;
use openssl::pkey::PKey;
use openssl::x509::{X509, X509Crl};
use pigeonair_appliance::directory::{NODES_DN, REVOCATIONS_DN, node_dn};
use pigeonair_appliance::render::{CLUSTER_CA_CERT, CLUSTER_CA_KEY, CLUSTER_CERT};
use pigeonair_directory::{Connection, Mod, Scope, first, ldap_escape, value_set, values};
use pigeonair_join::csr;

pub use pigeonair_appliance::render::{CLUSTER_CA_AND_CRL, CLUSTER_CRL};

/// How long a removed node has to say it left before its certificates are revoked anyway.
pub const LEAVE_PATIENCE: Duration = Duration::from_secs(30);

fn connect() -> Result<Connection, String> {
    crate::reconcile::local_directory()
}

/// The list in the directory, if there is one yet.
fn stored_crl(c: &mut Connection) -> Result<Option<String>, String> {
    match c.search(
        REVOCATIONS_DN,
        Scope::Base,
        "(objectClass=pigeonairRevocations)",
        &["pigeonairCrlPem"],
    ) {
        Ok(mut found) => Ok(found
            .pop()
            .and_then(|e| first(&e, "pigeonairCrlPem").map(str::to_owned))),
        Err(e) if e.is(pigeonair_directory::ResultCode::NoSuchObject) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

/// This node's own certificate serial on its entry (the first node's was made at install,
/// before the directory existed).
pub fn record_own_serial(me: &str) -> Result<(), String> {
    let pem = std::fs::read(CLUSTER_CERT).map_err(|e| format!("{CLUSTER_CERT}: {e}"))?;
    let cert = X509::from_pem(&pem).map_err(|e| format!("{CLUSTER_CERT}: {e}"))?;
    let serial = csr::serial_hex(&cert).map_err(|e| e.to_string())?;
    let mut c = connect()?;
    let Some(node) = crate::reconcile::own_entry(&mut c, me, &["pigeonairCertSerial"])? else {
        return Ok(());
    };
    if !values(&node, "pigeonairCertSerial").contains(&serial) {
        c.modify(
            &node.dn,
            vec![Mod::Add(
                "pigeonairCertSerial".into(),
                value_set(&[serial.as_str()]),
            )],
        )
        .map_err(|e| e.to_string())?;
        info!("recorded this node's certificate serial {serial}");
    }
    Ok(())
}

/// On a node holding the CA's key: the list exists, covers every removed node's certificates,
/// and those nodes' entries are gone.
pub fn ca_tick() -> Result<(), String> {
    if !Path::new(CLUSTER_CA_KEY).exists() {
        return Ok(());
    }
    let mut c = connect()?;
    let stored = stored_crl(&mut c)?;
    // A removed node has said it left (it has wiped itself), or has not answered for
    // LEAVE_PATIENCE (it is off): revoke.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let removed: Vec<_> = c
        .search(
            NODES_DN,
            Scope::OneLevel,
            "(&(objectClass=pigeonairNode)(|(pigeonairNodeState=removed)(pigeonairNodeState=left)))",
            &["cn", "pigeonairCertSerial", "pigeonairNodeState", "modifyTimestamp"],
        )
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|n| {
            first(n, "pigeonairNodeState") == Some("left")
                || first(n, "modifyTimestamp")
                    .and_then(pigeonair_join::time::from_generalized)
                    .is_none_or(|t| now.saturating_sub(t) >= LEAVE_PATIENCE.as_secs())
        })
        .collect();
    let mut revoked = match &stored {
        Some(pem) => {
            let list =
                X509Crl::from_pem(pem.as_bytes()).map_err(|e| format!("{REVOCATIONS_DN}: {e}"))?;
            csr::revoked(&list)
        }
        None => Vec::new(),
    };
    let before = revoked.clone();
    for n in &removed {
        for s in values(n, "pigeonairCertSerial") {
            let s = s.to_lowercase();
            if !revoked.contains(&s) {
                revoked.push(s);
            }
        }
    }
    revoked.sort();
    // The list the install made (slapd's configuration already checks it) is stored as it
    // is, so no node rewrites it or changes slapd's settings for a new one.
    let made_at_install = match stored {
        None => first_list(&revoked)?,
        Some(_) => None,
    };
    if let Some(pem) = made_at_install {
        store_crl(&mut c, &pem, false)?;
        info!("certificate revocation list made at install stored in the directory");
    } else if stored.is_none() || revoked != before {
        let ca = X509::from_pem(
            &std::fs::read(CLUSTER_CA_CERT).map_err(|e| format!("{CLUSTER_CA_CERT}: {e}"))?,
        )
        .map_err(|e| format!("{CLUSTER_CA_CERT}: {e}"))?;
        let key = PKey::private_key_from_pem(
            &std::fs::read(CLUSTER_CA_KEY).map_err(|e| format!("{CLUSTER_CA_KEY}: {e}"))?,
        )
        .map_err(|e| format!("{CLUSTER_CA_KEY}: {e}"))?;
        let list = csr::crl(&ca, &key, &revoked).map_err(|e| format!("sign the CRL: {e}"))?;
        let pem = String::from_utf8_lossy(&list.to_pem().map_err(|e| e.to_string())?).into_owned();
        store_crl(&mut c, &pem, stored.is_some())?;
        info!(
            "certificate revocation list signed: {} serials revoked",
            revoked.len()
        );
    }
    // Their certificates revoked, the removed nodes leave the directory.
    for n in removed {
        let host = first(&n, "cn").unwrap_or_default().to_owned();
        c.delete(&node_dn(&ldap_escape(&host)))
            .map_err(|e| e.to_string())?;
        info!("node {host} removed: its certificates are revoked and its entry deleted");
    }
    Ok(())
}

/// Puts `pem` in the directory: replaces the stored list, or adds the entry when `replace` is
/// false (there is none yet).
fn store_crl(c: &mut Connection, pem: &str, replace: bool) -> Result<(), String> {
    if replace {
        c.modify(
            REVOCATIONS_DN,
            vec![Mod::Replace("pigeonairCrlPem".into(), value_set(&[pem]))],
        )
    } else {
        c.add(
            REVOCATIONS_DN,
            vec![
                ("objectClass".into(), value_set(&["pigeonairRevocations"])),
                ("cn".into(), value_set(&["revocations"])),
                ("pigeonairCrlPem".into(), value_set(&[pem])),
            ],
        )
    }
    .map_err(|e| e.to_string())
}

/// The list on disk ([`CLUSTER_CRL`], which the install signs with the CA), when it is the
/// CA's and revokes exactly `revoked`.
fn first_list(revoked: &[String]) -> Result<Option<String>, String> {
    let Ok(pem) = std::fs::read_to_string(CLUSTER_CRL) else {
        return Ok(None);
    };
    let ca = X509::from_pem(
        &std::fs::read(CLUSTER_CA_CERT).map_err(|e| format!("{CLUSTER_CA_CERT}: {e}"))?,
    )
    .map_err(|e| format!("{CLUSTER_CA_CERT}: {e}"))?;
    let Ok(list) = X509Crl::from_pem(pem.as_bytes()) else {
        return Ok(None);
    };
    let key = ca
        .public_key()
        .map_err(|e| format!("{CLUSTER_CA_CERT}: {e}"))?;
    let mut on_disk = csr::revoked(&list);
    on_disk.sort();
    Ok((list.verify(&key).unwrap_or(false) && on_disk == revoked).then_some(pem))
}

/// On every node: the list from the directory on disk, and slapd checking it. Returns what it
/// changed. `rebuild` runs between the two: when it rebuilds slapd (from a configuration
/// rendered with the check, as the list is on disk by then) nothing is changed live. A live
/// change of cn=config pauses slapd until its running operations end, and a syncrepl refresh
/// or connection under way holds that up to its timeout (4 s): every lookup waits.
pub fn apply_crl(
    rebuild: impl FnOnce() -> Result<Option<String>, String>,
) -> Result<Vec<String>, String> {
    let mut c = connect()?;
    let Some(pem) = stored_crl(&mut c)? else {
        return Ok(rebuild()?.into_iter().collect());
    };
    let mut changed = pigeonair_apply::cluster_ca::write_crl(&pem).map_err(|e| e.to_string())?;
    let _ = c.unbind();
    if let Some(line) = rebuild()? {
        // slapd started again and read the list with its configuration.
        changed.push(line);
        return Ok(changed);
    }
    let mut c = connect()?;
    // slapd reads its CA file when its TLS settings change: setting them (again) after the
    // list changed makes it load the new one for the next connections.
    let config = c
        .search(
            "cn=config",
            Scope::Base,
            "(objectClass=*)",
            &["olcTLSCACertificateFile", "olcTLSCRLCheck"],
        )
        .map_err(|e| format!("cn=config: {e}"))?
        .pop()
        .ok_or("cn=config: no entry")?;
    let in_step = first(&config, "olcTLSCACertificateFile") == Some(CLUSTER_CA_AND_CRL)
        && first(&config, "olcTLSCRLCheck") == Some("peer");
    if !in_step || !changed.is_empty() {
        c.modify_config(
            "cn=config",
            vec![
                Mod::Replace(
                    "olcTLSCACertificateFile".into(),
                    value_set(&[CLUSTER_CA_AND_CRL]),
                ),
                Mod::Replace("olcTLSCRLCheck".into(), value_set(&["peer"])),
            ],
        )
        .map_err(|e| format!("cn=config: {e}"))?;
        changed.push("slapd's TLS settings (the revocation list checked)".into());
    }
    Ok(changed)
}

/// On a node that was removed (its own state `removed`): says it left, turns itself into a
/// fresh box ([`pigeonair_apply::leave`]) and stops its control plane. Returns whether it left.
pub fn leave_if_removed(me: &str) -> Result<bool, String> {
    let mut c = connect()?;
    let Some(node) = crate::reconcile::own_entry(&mut c, me, &["pigeonairNodeState"])? else {
        return Ok(false);
    };
    if first(&node, "pigeonairNodeState") != Some("removed") {
        return Ok(false);
    }
    log::warn!("this node was removed from the cluster: leaving it and becoming a fresh box");
    // What the install wrote, to remove it.
    let text = std::fs::read_to_string(pigeonair_apply::SAVED_ANSWERS)
        .map_err(|e| format!("{}: {e}", pigeonair_apply::SAVED_ANSWERS))?;
    let plan = pigeonair_appliance::parse_answers(&text).map_err(|e| e.to_string())?;
    let secrets = std::fs::read_to_string(pigeonair_apply::secrets::SECRETS_FILE)
        .ok()
        .and_then(|t| toml::from_str(&t).ok())
        .unwrap_or(pigeonair_appliance::render::Secrets {
            postfix_ldap: String::new(),
            dovecot_ldap: String::new(),
            proxy: String::new(),
            doveadm: String::new(),
        });
    let view = crate::reconcile::cluster_view().unwrap_or_default();
    let rendered = pigeonair_appliance::render::render_all(&plan, &secrets, &view);
    // The CA's holder revokes once it reads this (through the chain overlay to the provider).
    c.modify(
        &node.dn,
        vec![Mod::Replace(
            "pigeonairNodeState".into(),
            value_set(&["left"]),
        )],
    )
    .map_err(|e| e.to_string())?;
    let _ = c.unbind();
    for line in pigeonair_apply::leave::leave(&rendered) {
        info!("leaving: {line}");
    }
    info!("left the cluster: this box is fresh and can be joined again with a new token");
    let _ = std::process::Command::new("systemctl")
        .args(["disable", "pigeonaird.service"])
        .output();
    Ok(true)
}
