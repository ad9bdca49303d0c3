//! The cluster CA and this node's certificate from it, made at the first node's install
//! (`control/join`'s profile; openssl does the cryptography). A joining node gets its
//! certificate from a member instead, over the join; the CA's key stays where it was made.

use std::net::IpAddr;
use std::path::Path;
use std::process::Command;

use pigeonair_appliance::render::{
    CLUSTER_CA_AND_CRL, CLUSTER_CA_CERT, CLUSTER_CA_KEY, CLUSTER_CERT, CLUSTER_CRL, CLUSTER_KEY,
};
use pigeonair_host::{self as host, HostError};
use pigeonair_join::csr;

/// Whether this node has its cluster certificate and key (and the CA's certificate).
pub fn present() -> bool {
    [CLUSTER_CA_CERT, CLUSTER_CERT, CLUSTER_KEY]
        .iter()
        .all(|p| Path::new(p).exists())
}

/// Making the cluster's certificates failed.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// OpenSSL refused (a damaged key or certificate on disk, most likely).
    #[error("{what}: openssl: {source}")]
    Openssl {
        /// What was being made or read.
        what: String,
        /// OpenSSL's errors.
        source: openssl::error::ErrorStack,
    },
    /// A command failed.
    #[error(transparent)]
    Host(#[from] HostError),
}

fn io(path: &str) -> impl FnOnce(std::io::Error) -> CaError + '_ {
    move |source| CaError::Io {
        path: path.into(),
        source,
    }
}

fn ssl(what: &str) -> impl FnOnce(openssl::error::ErrorStack) -> CaError + '_ {
    move |source| CaError::Openssl {
        what: what.into(),
        source,
    }
}

/// Writes `contents` to `path` through a temporary file, with `mode` and `group`.
fn put(path: &str, contents: &[u8], mode: &str, group: &str) -> Result<(), CaError> {
    let tmp = format!("{path}.new");
    std::fs::write(&tmp, contents).map_err(io(path))?;
    host::run(Command::new("chgrp").args([group, &tmp]))?;
    host::run(Command::new("chmod").args([mode, &tmp]))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

/// What slapd reads as its CA file: the cluster CA's certificate, then its revocation list.
pub fn crl_bundle(ca_pem: &str, crl_pem: &str) -> String {
    format!("{}\n{}", ca_pem.trim_end(), crl_pem)
}

/// Puts the cluster's revocation list `crl_pem` on disk: the list itself (pigeonaird checks
/// peers against it) and slapd's bundle with the CA's certificate (already on disk), each only
/// where it differs. Returns the paths written.
pub fn write_crl(crl_pem: &str) -> Result<Vec<String>, CaError> {
    let ca = std::fs::read_to_string(CLUSTER_CA_CERT).map_err(io(CLUSTER_CA_CERT))?;
    let bundle = crl_bundle(&ca, crl_pem);
    let mut written = Vec::new();
    for (path, text) in [
        (CLUSTER_CRL, crl_pem),
        (CLUSTER_CA_AND_CRL, bundle.as_str()),
    ] {
        if std::fs::read_to_string(path).ok().as_deref() != Some(text) {
            put(path, text.as_bytes(), "0644", "root")?;
            written.push(path.to_owned());
        }
    }
    Ok(written)
}

/// Makes the cluster CA for `domain` (unless its key is here already), its first revocation
/// list (empty; slapd's first configuration checks peers against it, and pigeonaird stores
/// this one in the directory rather than sign another), and this node's certificate for
/// `hostname` and `private_address`. The node's certificate is written last, so [`present`]
/// is true only when everything is in place.
pub fn make(domain: &str, hostname: &str, private_address: IpAddr) -> Result<(), CaError> {
    let dir = Path::new(CLUSTER_CA_KEY).parent().expect("has a parent");
    std::fs::create_dir_all(dir).map_err(io(CLUSTER_CA_KEY))?;
    let (ca, ca_key) = if Path::new(CLUSTER_CA_KEY).exists() && Path::new(CLUSTER_CA_CERT).exists()
    {
        let cert = std::fs::read(CLUSTER_CA_CERT).map_err(io(CLUSTER_CA_CERT))?;
        let key = std::fs::read(CLUSTER_CA_KEY).map_err(io(CLUSTER_CA_KEY))?;
        (
            openssl::x509::X509::from_pem(&cert).map_err(ssl(CLUSTER_CA_CERT))?,
            openssl::pkey::PKey::private_key_from_pem(&key).map_err(ssl(CLUSTER_CA_KEY))?,
        )
    } else {
        let (ca, key) = csr::make_ca(domain).map_err(ssl("make the cluster CA"))?;
        // The key first: a CA certificate on disk always has its key beside it.
        put(
            CLUSTER_CA_KEY,
            &key.private_key_to_pem_pkcs8().map_err(ssl("CA key"))?,
            "0600",
            "root",
        )?;
        put(
            CLUSTER_CA_CERT,
            &ca.to_pem().map_err(ssl("CA certificate"))?,
            "0644",
            "root",
        )?;
        (ca, key)
    };
    if !Path::new(CLUSTER_CRL).exists() {
        let list = csr::crl(&ca, &ca_key, &[]).map_err(ssl("sign the revocation list"))?;
        let pem = list.to_pem().map_err(ssl("revocation list"))?;
        write_crl(&String::from_utf8_lossy(&pem))?;
    }
    let key = csr::new_key().map_err(ssl("node key"))?;
    let req = csr::request(&key, hostname).map_err(ssl("node certificate request"))?;
    let cert = csr::sign(&ca, &ca_key, &req, hostname, private_address)
        .map_err(ssl("sign the node certificate"))?;
    put(
        CLUSTER_KEY,
        &key.private_key_to_pem_pkcs8().map_err(ssl("node key"))?,
        "0640",
        "ssl-cert",
    )?;
    put(
        CLUSTER_CERT,
        &cert.to_pem().map_err(ssl("node certificate"))?,
        "0644",
        "root",
    )
}
