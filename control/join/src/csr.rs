//! The cluster CA and the node certificate profile.
//!
//! Every key is EC P-256. The CA is self-signed (`CA:TRUE`, keyCertSign and cRLSign). A node's
//! certificate names the node by its host name (CN and a DNS SAN) and its private address (an
//! IP SAN: peers connect to addresses), is good for TLS servers and clients alike (replication,
//! the control plane, IMAP/POP3 proxying and LMTP run both ways), and whatever else a CSR asks
//! for is ignored: the profile, not the request, decides what is signed.

use std::net::IpAddr;

use openssl::asn1::{Asn1Integer, Asn1Time, Asn1TimeRef};
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName, SubjectKeyIdentifier,
};
use openssl::x509::{
    X509, X509Crl, X509CrlBuilder, X509CrlRef, X509NameBuilder, X509Ref, X509Req, X509ReqBuilder,
    X509RevokedBuilder,
};

/// How long the CA and node certificates are valid, in days (ten years). A node's certificate
/// is renewed by its control plane once less than a third of its validity is left
/// ([`renewal_due`]), or when `pigeonctl node renew` asks; a node certificate never outlives
/// the CA that signs it.
pub const VALID_DAYS: u32 = 3650;

/// Why a certificate request or signing failed.
#[derive(Debug, thiserror::Error)]
pub enum CsrError {
    /// Not a PEM certificate request.
    #[error("not a PEM certificate request")]
    NotPem,
    /// The request's signature does not verify with its own key.
    #[error("the request's signature does not match its key")]
    Signature,
    /// The CN is not the node's host name.
    #[error("the request is for CN {found:?}, not for the host name {hostname:?}")]
    WrongName {
        /// The CN in the request.
        found: String,
        /// The host name in the join request.
        hostname: String,
    },
    /// Not an EC P-256 key.
    #[error("the request's key is not EC P-256")]
    KeyType,
    /// OpenSSL failed.
    #[error("openssl: {0}")]
    Openssl(#[from] ErrorStack),
}

/// A new EC P-256 key.
pub fn new_key() -> Result<PKey<Private>, ErrorStack> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
    PKey::from_ec_key(EcKey::generate(&group)?)
}

fn serial() -> Result<Asn1Integer, ErrorStack> {
    let mut bn = BigNum::new()?;
    // 127 random bits, top bit clear: a positive serial of at most 16 bytes (RFC 5280).
    bn.rand(127, MsbOption::MAYBE_ZERO, false)?;
    bn.to_asn1_integer()
}

/// A new cluster CA for the cluster named `name` (its first node's mail domain): the
/// certificate and its key.
pub fn make_ca(name: &str) -> Result<(X509, PKey<Private>), ErrorStack> {
    let key = new_key()?;
    let mut subject = X509NameBuilder::new()?;
    subject.append_entry_by_nid(Nid::ORGANIZATIONNAME, "PigeonAir cluster")?;
    subject.append_entry_by_nid(Nid::COMMONNAME, &format!("PigeonAir cluster CA {name}"))?;
    let subject = subject.build();
    let mut b = X509::builder()?;
    b.set_version(2)?;
    b.set_serial_number(&*serial()?)?;
    b.set_subject_name(&subject)?;
    b.set_issuer_name(&subject)?;
    b.set_pubkey(&key)?;
    b.set_not_before(&*Asn1Time::days_from_now(0)?)?;
    b.set_not_after(&*Asn1Time::days_from_now(VALID_DAYS)?)?;
    b.append_extension(BasicConstraints::new().critical().ca().build()?)?;
    b.append_extension(
        KeyUsage::new()
            .critical()
            .key_cert_sign()
            .crl_sign()
            .build()?,
    )?;
    let ski = SubjectKeyIdentifier::new().build(&b.x509v3_context(None, None))?;
    b.append_extension(ski)?;
    b.sign(&key, MessageDigest::sha256())?;
    Ok((b.build(), key))
}

/// A certificate request for `key`, CN = `hostname`.
pub fn request(key: &PKey<Private>, hostname: &str) -> Result<X509Req, ErrorStack> {
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_nid(Nid::COMMONNAME, hostname)?;
    let name = name.build();
    let mut b = X509ReqBuilder::new()?;
    b.set_version(0)?;
    b.set_subject_name(&name)?;
    b.set_pubkey(key)?;
    b.sign(key, MessageDigest::sha256())?;
    Ok(b.build())
}

/// Parses and checks a request: PEM, its own signature, an EC P-256 key, CN = `hostname`.
pub fn check_request(pem: &[u8], hostname: &str) -> Result<X509Req, CsrError> {
    let req = X509Req::from_pem(pem).map_err(|_| CsrError::NotPem)?;
    let key = req.public_key()?;
    if !req.verify(&key).unwrap_or(false) {
        return Err(CsrError::Signature);
    }
    let p256 = key
        .ec_key()
        .ok()
        .and_then(|k| k.group().curve_name())
        .is_some_and(|n| n == Nid::X9_62_PRIME256V1);
    if !p256 {
        return Err(CsrError::KeyType);
    }
    let cn = req
        .subject_name()
        .entries_by_nid(Nid::COMMONNAME)
        .next()
        .and_then(|e| e.data().to_string().ok())
        .unwrap_or_default();
    if cn != hostname {
        return Err(CsrError::WrongName {
            found: cn,
            hostname: hostname.to_owned(),
        });
    }
    Ok(req)
}

/// Signs a node certificate for the checked request `req` with the cluster profile.
pub fn sign(
    ca: &X509,
    ca_key: &PKey<Private>,
    req: &X509Req,
    hostname: &str,
    private_address: IpAddr,
) -> Result<X509, ErrorStack> {
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_nid(Nid::COMMONNAME, hostname)?;
    let name = name.build();
    let mut b = X509::builder()?;
    b.set_version(2)?;
    b.set_serial_number(&*serial()?)?;
    b.set_subject_name(&name)?;
    b.set_issuer_name(ca.subject_name())?;
    b.set_pubkey(&*req.public_key()?)?;
    b.set_not_before(&*Asn1Time::days_from_now(0)?)?;
    let until = Asn1Time::days_from_now(VALID_DAYS)?;
    if ca.not_after() < until {
        b.set_not_after(ca.not_after())?;
    } else {
        b.set_not_after(&until)?;
    }
    b.append_extension(BasicConstraints::new().critical().build()?)?;
    b.append_extension(
        KeyUsage::new()
            .critical()
            .digital_signature()
            .key_agreement()
            .build()?,
    )?;
    b.append_extension(
        ExtendedKeyUsage::new()
            .server_auth()
            .client_auth()
            .build()?,
    )?;
    let san = SubjectAlternativeName::new()
        .dns(hostname)
        .ip(&private_address.to_string())
        .build(&b.x509v3_context(Some(ca), None))?;
    b.append_extension(san)?;
    b.sign(ca_key, MessageDigest::sha256())?;
    Ok(b.build())
}

/// Whether `cert` is due for renewal at `now`: less than a third of its validity left (or
/// expired). A certificate that cannot be read as dated is due.
pub fn renewal_due(cert: &X509Ref, now: &Asn1TimeRef) -> bool {
    let span = |a: &Asn1TimeRef, b: &Asn1TimeRef| {
        a.diff(b)
            .map(|d| i64::from(d.days) * 86_400 + i64::from(d.secs))
    };
    match (
        span(cert.not_before(), cert.not_after()),
        span(now, cert.not_after()),
    ) {
        (Ok(life), Ok(left)) => left * 3 < life,
        _ => true,
    }
}

/// When `cert` stops being valid, as `YYYY-MM-DD` (UTC), for people.
pub fn expiry_date(cert: &X509Ref) -> String {
    let epoch = Asn1Time::from_unix(0);
    match epoch.and_then(|e| e.diff(cert.not_after())) {
        Ok(d) => {
            let unix = u64::try_from(i64::from(d.days) * 86_400 + i64::from(d.secs)).unwrap_or(0);
            let g = crate::time::to_generalized(unix);
            format!("{}-{}-{}", &g[0..4], &g[4..6], &g[6..8])
        }
        Err(_) => cert.not_after().to_string(),
    }
}

/// A certificate's serial number in lower-case hex (as nodes' entries record it).
pub fn serial_hex(cert: &X509Ref) -> Result<String, ErrorStack> {
    Ok(cert.serial_number().to_bn()?.to_hex_str()?.to_lowercase())
}

/// The cluster CA's certificate revocation list, revoking `serials` (hex), valid as long as
/// the CA: every node checks its peers' certificates against it.
pub fn crl(ca: &X509, ca_key: &PKey<Private>, serials: &[String]) -> Result<X509Crl, ErrorStack> {
    let mut b = X509CrlBuilder::new()?;
    b.set_issuer_name(ca.subject_name())?;
    let now = Asn1Time::days_from_now(0)?;
    b.set_last_update(&now)?;
    b.set_next_update(&*Asn1Time::days_from_now(VALID_DAYS)?)?;
    // The CA's key identifier, and a CRL number that grows (the time it was made).
    let dummy = X509::builder()?;
    b.append_extension(
        openssl::x509::extension::AuthorityKeyIdentifier::new()
            .keyid(true)
            .build(&dummy.x509v3_context(Some(ca), None))?,
    )?;
    let number = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    b.append_extension(
        openssl::x509::CrlNumber::new(BigNum::from_dec_str(&number.to_string())?)?.build()?,
    )?;
    for s in serials {
        let mut r = X509RevokedBuilder::new()?;
        r.set_serial_number(&*BigNum::from_hex_str(s)?.to_asn1_integer()?)?;
        r.set_revocation_date(&now)?;
        b.add_revoked(r.build())?;
    }
    b.sort()?;
    b.sign(ca_key, MessageDigest::sha256())?;
    b.build()
}

/// The serials (hex, sorted) `crl` revokes.
pub fn revoked(crl: &X509CrlRef) -> Vec<String> {
    let mut out: Vec<String> = crl
        .get_revoked()
        .map(|stack| {
            stack
                .iter()
                .filter_map(|r| r.serial_number().to_bn().ok()?.to_hex_str().ok())
                .map(|s| s.to_lowercase())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::stack::Stack;
    use openssl::x509::store::X509StoreBuilder;
    use openssl::x509::{X509StoreContext, X509VerifyResult};

    #[test]
    fn a_revoked_certificate_fails_a_crl_check_and_the_others_pass() {
        use openssl::x509::verify::X509VerifyFlags;
        let (ca, ca_key) = make_ca("example.com").unwrap();
        let issue = |host: &str, ip: &str| {
            let key = new_key().unwrap();
            let req = request(&key, host).unwrap();
            sign(&ca, &ca_key, &req, host, ip.parse().unwrap()).unwrap()
        };
        let gone = issue("mx2.example.com", "10.42.0.12");
        let kept = issue("mx3.example.com", "10.42.0.13");
        let list = crl(&ca, &ca_key, &[serial_hex(&gone).unwrap()]).unwrap();
        assert_eq!(revoked(&list), [serial_hex(&gone).unwrap()]);
        let file =
            std::env::temp_dir().join(format!("pigeonair-crl-test-{}.pem", std::process::id()));
        std::fs::write(&file, list.to_pem().unwrap()).unwrap();
        let check = |cert: &X509| {
            let mut store = X509StoreBuilder::new().unwrap();
            store.add_cert(ca.clone()).unwrap();
            store
                .add_lookup(openssl::x509::store::X509Lookup::file())
                .unwrap()
                .load_crl_file(&file, openssl::ssl::SslFiletype::PEM)
                .unwrap();
            store.set_flags(X509VerifyFlags::CRL_CHECK).unwrap();
            let store = store.build();
            let mut ctx = X509StoreContext::new().unwrap();
            ctx.init(&store, cert, &Stack::new().unwrap(), |c| c.verify_cert())
                .unwrap()
        };
        assert!(!check(&gone), "the revoked certificate passed");
        assert!(check(&kept), "another certificate failed");
        let _ = std::fs::remove_file(&file);
        assert!(revoked(&crl(&ca, &ca_key, &[]).unwrap()).is_empty());
    }

    fn verifies(ca: &X509, cert: &X509) -> bool {
        let mut store = X509StoreBuilder::new().unwrap();
        store.add_cert(ca.clone()).unwrap();
        let store = store.build();
        let mut ctx = X509StoreContext::new().unwrap();
        let chain = Stack::new().unwrap();
        ctx.init(&store, cert, &chain, |c| {
            let ok = c.verify_cert()?;
            assert_eq!(ok, c.error() == X509VerifyResult::OK);
            Ok(ok)
        })
        .unwrap()
    }

    #[test]
    fn a_certificate_is_due_for_renewal_with_a_third_of_its_life_left() {
        let (ca, ca_key) = make_ca("example.com").unwrap();
        let key = new_key().unwrap();
        let req = request(&key, "mx2.example.com").unwrap();
        let cert = sign(
            &ca,
            &ca_key,
            &req,
            "mx2.example.com",
            "10.42.0.12".parse().unwrap(),
        )
        .unwrap();
        let at = |days: u32| Asn1Time::days_from_now(days).unwrap();
        assert!(!renewal_due(&cert, &at(0)), "a new certificate");
        assert!(!renewal_due(&cert, &at(VALID_DAYS * 2 / 3 - 2)));
        assert!(renewal_due(&cert, &at(VALID_DAYS * 2 / 3 + 2)));
        assert!(renewal_due(&cert, &at(VALID_DAYS + 1)), "expired");
        // It never outlives the CA: a CA with a year left signs for that year.
        let mut b = X509::builder().unwrap();
        b.set_version(2).unwrap();
        b.set_serial_number(&serial().unwrap()).unwrap();
        b.set_subject_name(ca.subject_name()).unwrap();
        b.set_issuer_name(ca.subject_name()).unwrap();
        b.set_pubkey(&ca_key).unwrap();
        b.set_not_before(&at(0)).unwrap();
        b.set_not_after(&at(365)).unwrap();
        b.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
            .unwrap();
        b.sign(&ca_key, MessageDigest::sha256()).unwrap();
        let short_ca = b.build();
        let cert = sign(
            &short_ca,
            &ca_key,
            &req,
            "mx2.example.com",
            "10.42.0.12".parse().unwrap(),
        )
        .unwrap();
        assert_eq!(cert.not_after(), short_ca.not_after());
        assert!(expiry_date(&cert).len() == 10, "{}", expiry_date(&cert));
        assert!(!renewal_due(&cert, &at(0)));
    }

    #[test]
    fn a_signed_node_certificate_follows_the_profile_and_verifies() {
        let (ca, ca_key) = make_ca("example.com").unwrap();
        let key = new_key().unwrap();
        let req = request(&key, "mx2.example.com").unwrap();
        let pem = req.to_pem().unwrap();
        let req = check_request(&pem, "mx2.example.com").unwrap();
        let cert = sign(
            &ca,
            &ca_key,
            &req,
            "mx2.example.com",
            "10.42.0.12".parse().unwrap(),
        )
        .unwrap();
        assert!(verifies(&ca, &cert));
        let sans: Vec<String> = cert
            .subject_alt_names()
            .unwrap()
            .iter()
            .map(|n| {
                n.dnsname()
                    .map(String::from)
                    .or_else(|| n.ipaddress().map(|b| format!("{b:?}")))
                    .unwrap()
            })
            .collect();
        assert_eq!(
            sans,
            vec!["mx2.example.com".to_string(), "[10, 42, 0, 12]".into()]
        );
        assert!(cert.public_key().unwrap().public_eq(&key));
        // Another CA's certificate does not verify.
        let (other, _) = make_ca("example.com").unwrap();
        assert!(!verifies(&other, &cert));
    }

    #[test]
    fn requests_are_checked() {
        let key = new_key().unwrap();
        let pem = request(&key, "mx2.example.com").unwrap().to_pem().unwrap();
        assert!(matches!(
            check_request(&pem, "mx3.example.com"),
            Err(CsrError::WrongName { .. })
        ));
        assert!(matches!(
            check_request(b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n", "x.y"),
            Err(CsrError::NotPem)
        ));
        let rsa = PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap();
        let pem = request(&rsa, "mx2.example.com").unwrap().to_pem().unwrap();
        assert!(matches!(
            check_request(&pem, "mx2.example.com"),
            Err(CsrError::KeyType)
        ));
    }
}
