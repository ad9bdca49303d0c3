//! Renewing a node's cluster certificate, both sides.
//!
//! A node's pigeonaird renews its certificate ([`tick`], every second from the moves loop) when
//! less than a third of its validity is left (`pigeonair_join::csr::renewal_due`), or when
//! `pigeonctl node renew NODE` gave its entry the role [`RENEWING`]:
//! 1. a new EC P-256 key and a request for it;
//! 2. signed by a node holding the role `ca`: itself if it holds the CA's key, else the first
//!    holder that answers `POST /v1/renew` (mutual TLS with the current certificate;
//!    [`may_renew`] decides on the holder's side). Either provider will do, so a renewal
//!    works with one of them down. The new serial is recorded on the node's entry before the
//!    certificate is handed out, so removing the node revokes it too;
//! 3. the new certificate is checked (the cluster CA's signature, the new key, this node's
//!    name), both files are written beside the old ones and renamed into place, the key
//!    first ([`finish_interrupted`] completes a pair a crash left half-renamed);
//! 4. the daemons that present it pick it up without a restart: Dovecot (`systemctl reload`);
//!    slapd (its TLS settings set again through cn=config, which makes it load them), once
//!    every other provider answers (`load_in_slapd`); pigeonaird and pigeonctl read the
//!    files for every connection;
//! 5. the role [`RENEWING`] is taken off the entry: `pigeonctl node renew` returns then.
//!
//! The old certificate stays valid until it expires (removing the node revokes every
//! certificate issued to it).

use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use openssl::asn1::Asn1Time;
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;
use pigeonair_appliance::cluster::{ClusterView, RENEWING};
use pigeonair_appliance::render::{CLUSTER_CA_CERT, CLUSTER_CA_KEY, CLUSTER_CERT, CLUSTER_KEY};
use pigeonair_directory::{Mod, ResultCode, Scope, first, value_set, values};
use pigeonair_join::csr;
use pigeonair_join::{RenewRequest, RenewResponse};

/// How long after a failed renewal the next try comes.
const RETRY: Duration = Duration::from_secs(15);

/// How often slapd's loading of a new certificate is tried while a provider does not answer.
const SLAPD_EVERY: Duration = Duration::from_secs(3);

/// The suffix of the new files before they are renamed into place.
const NEW: &str = ".pigeonaird-new";

/// Whether a node holding the CA's key (`me`) signs a new certificate for `peer` (the host
/// name its verified cluster certificate names) connecting from `from`, as `view` (the
/// holder's directory) has the cluster: `me` holds the role `ca`, and `peer` has an entry,
/// is in the cluster (not joining, not removed) and connects from its private address. The
/// peer's private address for the new certificate, or why not.
pub fn may_renew(view: &ClusterView, me: &str, peer: &str, from: IpAddr) -> Result<IpAddr, String> {
    let n = crate::promotion::holder_and_peer(view, me, peer)?;
    if !matches!(n.state.as_str(), "active" | "draining" | "drained") {
        return Err(format!(
            "{peer} is {} in this node's directory: only a node in the cluster renews its \
             certificate",
            n.state
        ));
    }
    crate::promotion::from_its_private_address(n, from)?;
    Ok(from)
}

fn read_ca() -> Result<(X509, PKey<Private>), String> {
    let cert = std::fs::read(CLUSTER_CA_CERT).map_err(|e| format!("{CLUSTER_CA_CERT}: {e}"))?;
    let key = std::fs::read(CLUSTER_CA_KEY).map_err(|e| format!("{CLUSTER_CA_KEY}: {e}"))?;
    Ok((
        X509::from_pem(&cert).map_err(|e| format!("{CLUSTER_CA_CERT}: {e}"))?,
        PKey::private_key_from_pem(&key).map_err(|e| format!("{CLUSTER_CA_KEY}: {e}"))?,
    ))
}

/// Signs `csr_pem` for `host` (private address `private`) with the CA's key on this node and
/// records the new serial on `host`'s entry in this node's directory (a provider's: the role
/// `ca` goes with it) before the certificate is returned.
fn sign_and_record(csr_pem: &str, host: &str, private: IpAddr) -> Result<String, String> {
    let req = csr::check_request(csr_pem.as_bytes(), host).map_err(|e| e.to_string())?;
    let (ca, ca_key) = read_ca()?;
    let cert = csr::sign(&ca, &ca_key, &req, host, private).map_err(|e| format!("sign: {e}"))?;
    let serial = csr::serial_hex(&cert).map_err(|e| e.to_string())?;
    let mut conn = crate::reconcile::local_directory()?;
    let recorded = conn.modify(
        &pigeonair_appliance::directory::node_dn(&pigeonair_directory::dn_escape(host)),
        vec![Mod::Add(
            "pigeonairCertSerial".to_owned(),
            value_set(&[serial.as_str()]),
        )],
    );
    let _ = conn.unbind();
    match recorded {
        Ok(()) => {}
        Err(e) if e.is(ResultCode::ValueExists) => {}
        Err(e) => {
            return Err(format!(
                "record the new serial {serial} on {host}'s entry: {e}"
            ));
        }
    }
    let pem = cert.to_pem().map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&pem).into_owned())
}

/// The holder's side of `POST /v1/renew`: a new certificate for `peer` connecting from
/// `from`, or why not.
pub fn renew_for(
    me: &str,
    peer: &str,
    from: IpAddr,
    req: &RenewRequest,
) -> Result<RenewResponse, String> {
    let view = crate::reconcile::cluster_view()?;
    let private = may_renew(&view, me, peer, from)?;
    if !Path::new(CLUSTER_CA_KEY).exists() {
        return Err(format!(
            "{me} holds the role ca but has no CA key at {CLUSTER_CA_KEY}"
        ));
    }
    let certificate_pem = sign_and_record(&req.csr_pem, peer, private)?;
    log::info!("signed a new cluster certificate for {peer} ({from})");
    Ok(RenewResponse { certificate_pem })
}

/// Checks `cert_pem` is a certificate for `me` with `key`'s public key, signed by the cluster
/// CA in `ca_pem`.
pub fn check_new(
    ca_pem: &[u8],
    cert_pem: &[u8],
    key: &PKey<Private>,
    me: &str,
) -> Result<X509, String> {
    let ca = X509::from_pem(ca_pem).map_err(|e| format!("{CLUSTER_CA_CERT}: {e}"))?;
    let cert = X509::from_pem(cert_pem).map_err(|e| format!("the new certificate: {e}"))?;
    let ca_public = ca.public_key().map_err(|e| e.to_string())?;
    if !cert.verify(&ca_public).unwrap_or(false) {
        return Err("the new certificate is not signed by the cluster CA".into());
    }
    let public = cert.public_key().map_err(|e| e.to_string())?;
    if !public.public_eq(key) {
        return Err("the new certificate is not for the key this node made".into());
    }
    let cn = cert
        .subject_name()
        .entries_by_nid(openssl::nid::Nid::COMMONNAME)
        .next()
        .and_then(|e| e.data().to_string().ok())
        .unwrap_or_default();
    if !cn.eq_ignore_ascii_case(me) {
        return Err(format!("the new certificate names {cn:?}, not {me}"));
    }
    Ok(cert)
}

/// Writes `contents` to `path` + [`NEW`], synced, with the owner, group and mode of `path`.
fn write_beside(path: &str, contents: &[u8]) -> Result<String, String> {
    use std::io::Write;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let meta = std::fs::metadata(path).map_err(|e| format!("{path}: {e}"))?;
    let tmp = format!("{path}{NEW}");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|e| format!("{tmp}: {e}"))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
        .and_then(|()| std::os::unix::fs::chown(&tmp, Some(meta.uid()), Some(meta.gid())))
        .and_then(|()| f.write_all(contents))
        .and_then(|()| f.sync_all())
        .and_then(|()| {
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(meta.mode() & 0o7777))
        })
        .map_err(|e| format!("{tmp}: {e}"))?;
    Ok(tmp)
}

/// Completes a renewal a crash interrupted between its two renames (the new key in place, the
/// new certificate still beside the old one), and drops new files left before the first.
/// Returns whether it completed one.
pub fn finish_interrupted(dir: &Path) -> Result<bool, String> {
    let at = |name: &str| dir.join(name);
    let (cert, key) = (file_name(CLUSTER_CERT), file_name(CLUSTER_KEY));
    let new_cert = at(&format!("{cert}{NEW}"));
    let new_key = at(&format!("{key}{NEW}"));
    if new_key.exists() {
        // The key was not renamed yet: the old pair is whole. Start again.
        let _ = std::fs::remove_file(&new_key);
        let _ = std::fs::remove_file(&new_cert);
        return Ok(false);
    }
    if !new_cert.exists() {
        return Ok(false);
    }
    let pending = std::fs::read(&new_cert).map_err(|e| format!("{}: {e}", new_cert.display()))?;
    let key_pem = std::fs::read(at(&key)).map_err(|e| format!("{key}: {e}"))?;
    let fits = match (
        X509::from_pem(&pending),
        PKey::private_key_from_pem(&key_pem),
    ) {
        (Ok(c), Ok(k)) => c.public_key().is_ok_and(|p| p.public_eq(&k)),
        _ => false,
    };
    if !fits {
        let _ = std::fs::remove_file(&new_cert);
        return Ok(false);
    }
    std::fs::rename(&new_cert, at(&cert)).map_err(|e| format!("{cert}: {e}"))?;
    Ok(true)
}

fn file_name(path: &str) -> String {
    Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Puts the new pair in place: both written beside the old ones, then the key renamed, then
/// the certificate.
fn install(key: &PKey<Private>, cert: &X509) -> Result<(), String> {
    let key_pem = key.private_key_to_pem_pkcs8().map_err(|e| e.to_string())?;
    let cert_pem = cert.to_pem().map_err(|e| e.to_string())?;
    let new_cert = write_beside(CLUSTER_CERT, &cert_pem)?;
    let new_key = write_beside(CLUSTER_KEY, &key_pem)?;
    std::fs::rename(&new_key, CLUSTER_KEY).map_err(|e| format!("{CLUSTER_KEY}: {e}"))?;
    std::fs::rename(&new_cert, CLUSTER_CERT).map_err(|e| format!("{CLUSTER_CERT}: {e}"))?;
    Ok(())
}

/// Marks slapd as still to load the certificate on disk ([`load_in_slapd`]). In `/run`: a
/// reboot starts slapd, which reads its files then.
const SLAPD_TO_LOAD: &str = "/run/pigeonair/slapd-tls-reload";

/// Whether every other directory provider in `view` accepts a connection on its LDAP port.
fn providers_answer(view: &ClusterView, me: &str) -> bool {
    view.nodes
        .values()
        .filter(|n| n.has_role("provider") && !n.hostname.eq_ignore_ascii_case(me))
        .all(|n| {
            n.private.is_some_and(|ip| {
                let addr = std::net::SocketAddr::new(ip.into(), 389);
                std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_ok()
            })
        })
}

/// Has slapd load the certificate on disk, when [`SLAPD_TO_LOAD`] says it has not yet:
/// its TLS settings set (again) through cn=config make it load its files for the next
/// connections. Only while every other provider answers: a change of cn=config pauses slapd
/// until its running operations end, and a replication connection to a provider that is
/// down holds that up for seconds (2–5 s measured), with every lookup waiting. Until then
/// slapd presents the old certificate, which stays valid. Whether it loaded.
fn load_in_slapd(view: &ClusterView, me: &str) -> Result<bool, String> {
    if !Path::new(SLAPD_TO_LOAD).exists() || !providers_answer(view, me) {
        return Ok(false);
    }
    let mut c = crate::reconcile::local_directory()?;
    let config = c
        .search(
            "cn=config",
            Scope::Base,
            "(objectClass=*)",
            &["olcTLSCertificateFile", "olcTLSCertificateKeyFile"],
        )
        .map_err(|e| format!("cn=config: {e}"))?
        .pop()
        .ok_or("cn=config: no entry")?;
    let cert = first(&config, "olcTLSCertificateFile")
        .unwrap_or(CLUSTER_CERT)
        .to_owned();
    let key = first(&config, "olcTLSCertificateKeyFile")
        .unwrap_or(CLUSTER_KEY)
        .to_owned();
    c.modify_config(
        "cn=config",
        vec![
            Mod::Replace("olcTLSCertificateFile".into(), value_set(&[cert.as_str()])),
            Mod::Replace(
                "olcTLSCertificateKeyFile".into(),
                value_set(&[key.as_str()]),
            ),
        ],
    )
    .map_err(|e| format!("slapd's TLS settings: {e}"))?;
    let _ = c.unbind();
    let _ = std::fs::remove_file(SLAPD_TO_LOAD);
    Ok(true)
}

/// Has the daemons load the certificate on disk: Dovecot reloads now, slapd when it can
/// ([`load_in_slapd`]).
fn reload_users() -> Result<(), String> {
    if let Some(dir) = Path::new(SLAPD_TO_LOAD).parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(SLAPD_TO_LOAD, b"").map_err(|e| format!("{SLAPD_TO_LOAD}: {e}"))?;
    let out = std::process::Command::new("systemctl")
        .args(["reload", "dovecot"])
        .output()
        .map_err(|e| format!("systemctl reload dovecot: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "systemctl reload dovecot: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

/// A new certificate for `me` (private address `private`) from the holders in `view`:
/// signed here if this node holds the CA's key, else by the first holder that answers.
/// The signer's name and the certificate.
fn obtain(
    view: &ClusterView,
    me: &str,
    private: IpAddr,
    csr_pem: &str,
) -> Result<(String, String), String> {
    if view.nodes.get(me).is_some_and(|n| n.has_role("ca")) && Path::new(CLUSTER_CA_KEY).exists() {
        return Ok((me.to_owned(), sign_and_record(csr_pem, me, private)?));
    }
    let req = RenewRequest {
        csr_pem: csr_pem.to_owned(),
    };
    crate::promotion::from_a_holder(view, me, |runtime, addr| {
        runtime
            .block_on(crate::client::renew(addr, &req))
            .map(|r| r.certificate_pem)
    })
    .map_err(|why| format!("no holder of the CA's key signed ({why})"))
}

/// What a renewal did, for the journal and `pigeonctl node renew`.
fn renew(view: &ClusterView, me: &str, private: IpAddr) -> Result<String, String> {
    let key = csr::new_key().map_err(|e| e.to_string())?;
    let req = csr::request(&key, me).map_err(|e| e.to_string())?;
    let req_pem = req.to_pem().map_err(|e| e.to_string())?;
    let (signer, cert_pem) = obtain(view, me, private, &String::from_utf8_lossy(&req_pem))?;
    let ca_pem = std::fs::read(CLUSTER_CA_CERT).map_err(|e| format!("{CLUSTER_CA_CERT}: {e}"))?;
    let cert = check_new(&ca_pem, cert_pem.as_bytes(), &key, me)
        .map_err(|e| format!("from {signer}: {e}"))?;
    install(&key, &cert)?;
    let serial = csr::serial_hex(&cert).map_err(|e| e.to_string())?;
    Ok(format!(
        "renewed this node's cluster certificate: serial {serial}, valid until {} (signed by \
         {signer})",
        csr::expiry_date(&cert)
    ))
}

/// The state [`tick`] keeps between calls.
#[derive(Default)]
pub struct Renewal {
    not_before: Option<Instant>,
    checked_files: bool,
    slapd_next: Option<Instant>,
}

/// This node's renewal, when one is due or asked for (see the module's documentation). What
/// it did, or nothing.
pub fn tick(me: &str, state: &mut Renewal) -> Result<Option<String>, String> {
    if !state.checked_files {
        if let Some(dir) = Path::new(CLUSTER_CERT).parent() {
            if finish_interrupted(dir)? {
                log::warn!(
                    "a certificate renewal was interrupted between its renames: completed now"
                );
                reload_users()?;
            }
        }
        state.checked_files = true;
    }
    if Path::new(SLAPD_TO_LOAD).exists() && state.slapd_next.is_none_or(|t| Instant::now() >= t) {
        state.slapd_next = Some(Instant::now() + SLAPD_EVERY);
        let view = crate::reconcile::cluster_view()?;
        if load_in_slapd(&view, me)? {
            log::info!("slapd uses this node's new cluster certificate");
        }
    }
    if state.not_before.is_some_and(|t| Instant::now() < t) {
        return Ok(None);
    }
    let pem = std::fs::read(CLUSTER_CERT).map_err(|e| format!("{CLUSTER_CERT}: {e}"))?;
    let cert = X509::from_pem(&pem).map_err(|e| format!("{CLUSTER_CERT}: {e}"))?;
    let now = Asn1Time::days_from_now(0).map_err(|e| e.to_string())?;
    let due = csr::renewal_due(&cert, &now);
    let mut conn = crate::reconcile::local_directory()?;
    let entry =
        crate::reconcile::own_entry(&mut conn, me, &["pigeonairNodeRole", "pigeonairNodeState"])?;
    let _ = conn.unbind();
    let Some(entry) = entry else {
        return Ok(None);
    };
    let asked = values(&entry, "pigeonairNodeRole")
        .iter()
        .any(|r| r.eq_ignore_ascii_case(RENEWING));
    let in_cluster = matches!(
        first(&entry, "pigeonairNodeState"),
        Some("active" | "draining" | "drained")
    );
    if !(due || asked) || !in_cluster {
        return Ok(None);
    }
    let outcome = (|| {
        let view = crate::reconcile::cluster_view()?;
        let private = view
            .nodes
            .get(me)
            .and_then(|n| n.private)
            .ok_or("this node's entry has no private address")?;
        let line = renew(&view, me, private.into())?;
        reload_users()?;
        let line = if load_in_slapd(&view, me)? {
            line
        } else {
            format!(
                "{line}; slapd goes on with the old one until every directory provider \
                 answers"
            )
        };
        Ok::<_, String>(line)
    })();
    let line = match outcome {
        Ok(line) => line,
        Err(e) => {
            state.not_before = Some(Instant::now() + RETRY);
            return Err(format!(
                "renewing this node's certificate ({}): {e}; trying again in {} s",
                if asked { "asked for" } else { "due" },
                RETRY.as_secs()
            ));
        }
    };
    log::info!("{line}");
    if asked {
        let mut conn = crate::reconcile::local_directory()?;
        let done = conn.modify(
            &entry.dn,
            vec![Mod::Delete(
                "pigeonairNodeRole".to_owned(),
                value_set(&[RENEWING]),
            )],
        );
        let _ = conn.unbind();
        match done {
            Ok(()) => {}
            Err(e) if e.is(ResultCode::NoSuchAttribute) => {}
            Err(e) => return Err(format!("{line}, but the role {RENEWING} stays: {e}")),
        }
    }
    Ok(Some(line))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pigeonair_appliance::cluster::NodeView;

    fn node(i: u8, state: &str, roles: &[&str]) -> NodeView {
        NodeView {
            hostname: format!("mx{i}.example.com"),
            private: Some(format!("10.42.0.1{i}").parse().unwrap()),
            public: None,
            state: state.into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            server_id: None,
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_holder_signs_only_for_a_node_in_the_cluster_from_its_own_address() {
        let view = ClusterView::new(vec![
            node(1, "active", &["provider", "ca"]),
            node(2, "active", &["provider", "ca"]),
            node(3, "draining", &[RENEWING]),
            node(4, "joining", &[]),
            node(5, "removed", &[]),
            node(6, "active", &[]),
        ]);
        let me = "mx2.example.com";
        assert_eq!(
            may_renew(&view, me, "mx3.example.com", ip("10.42.0.13")),
            Ok(ip("10.42.0.13"))
        );
        assert!(may_renew(&view, me, "MX1.example.com", ip("10.42.0.11")).is_ok());
        let refused = |peer: &str, from: &str, why: &str| {
            let e = may_renew(&view, me, peer, ip(from)).unwrap_err();
            assert!(e.contains(why), "{peer} from {from}: {e}");
        };
        refused(
            "mx3.example.com",
            "10.42.0.16",
            "not from its private address 10.42.0.13",
        );
        refused("mx4.example.com", "10.42.0.14", "is joining");
        refused("mx5.example.com", "10.42.0.15", "is removed");
        refused("mx9.example.com", "10.42.0.19", "no entry");
        let e = may_renew(
            &view,
            "mx6.example.com",
            "mx3.example.com",
            ip("10.42.0.13"),
        )
        .unwrap_err();
        assert!(e.contains("does not hold the role ca"), "{e}");
    }

    #[test]
    fn a_new_certificate_is_checked_before_it_is_used() {
        let (ca, ca_key) = csr::make_ca("example.com").unwrap();
        let (other_ca, other_key) = csr::make_ca("example.com").unwrap();
        let ca_pem = ca.to_pem().unwrap();
        let key = csr::new_key().unwrap();
        let req = csr::request(&key, "mx3.example.com").unwrap();
        let sign = |ca: &X509, ca_key: &PKey<Private>, req: &openssl::x509::X509Req, host: &str| {
            csr::sign(ca, ca_key, req, host, ip("10.42.0.13"))
                .unwrap()
                .to_pem()
                .unwrap()
        };
        let good = sign(&ca, &ca_key, &req, "mx3.example.com");
        assert!(check_new(&ca_pem, &good, &key, "mx3.example.com").is_ok());
        let e = check_new(&ca_pem, &good, &key, "mx4.example.com").unwrap_err();
        assert!(e.contains("names"), "{e}");
        let e = check_new(
            &ca_pem,
            &sign(&other_ca, &other_key, &req, "mx3.example.com"),
            &key,
            "mx3.example.com",
        )
        .unwrap_err();
        assert!(e.contains("not signed by the cluster CA"), "{e}");
        let stranger = csr::request(&csr::new_key().unwrap(), "mx3.example.com").unwrap();
        let e = check_new(
            &ca_pem,
            &sign(&ca, &ca_key, &stranger, "mx3.example.com"),
            &key,
            "mx3.example.com",
        )
        .unwrap_err();
        assert!(e.contains("not for the key"), "{e}");
    }

    #[test]
    fn a_renewal_interrupted_between_its_renames_is_completed_and_one_before_them_dropped() {
        let dir = std::env::temp_dir().join(format!("pigeonair-renewal-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (ca, ca_key) = csr::make_ca("example.com").unwrap();
        let pair = || {
            let key = csr::new_key().unwrap();
            let req = csr::request(&key, "mx3.example.com").unwrap();
            let cert = csr::sign(&ca, &ca_key, &req, "mx3.example.com", ip("10.42.0.13")).unwrap();
            (
                key.private_key_to_pem_pkcs8().unwrap(),
                cert.to_pem().unwrap(),
            )
        };
        let (cert, key) = (file_name(CLUSTER_CERT), file_name(CLUSTER_KEY));
        let write = |name: &str, b: &[u8]| std::fs::write(dir.join(name), b).unwrap();
        let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
        let (old_key, old_cert) = pair();
        let (new_key, new_cert) = pair();
        write(&key, &old_key);
        write(&cert, &old_cert);
        assert!(!finish_interrupted(&dir).unwrap(), "nothing to finish");
        // Crashed before the first rename: both new files dropped, the old pair kept.
        write(&format!("{key}{NEW}"), &new_key);
        write(&format!("{cert}{NEW}"), &new_cert);
        assert!(!finish_interrupted(&dir).unwrap());
        assert_eq!(
            (read(&key), read(&cert)),
            (old_key.clone(), old_cert.clone())
        );
        assert!(!dir.join(format!("{cert}{NEW}")).exists());
        // Crashed between the renames: the new certificate follows the new key.
        write(&key, &new_key);
        write(&format!("{cert}{NEW}"), &new_cert);
        assert!(finish_interrupted(&dir).unwrap());
        assert_eq!(
            (read(&key), read(&cert)),
            (new_key.clone(), new_cert.clone())
        );
        // A stray new certificate that is not the key's is dropped.
        write(&format!("{cert}{NEW}"), &old_cert);
        assert!(!finish_interrupted(&dir).unwrap());
        assert_eq!(read(&cert), new_cert);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
