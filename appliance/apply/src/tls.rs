//! The node's TLS key and self-signed certificate, made with openssl at the first install
//! (the cluster CA comes with cluster growth). The key is readable by root and the ssl-cert
//! group, which openldap joins so that slapd can read it.

use std::process::Command;

use pigeonair_appliance::render::{TLS_CERT, TLS_KEY};
use pigeonair_host::{self as host, HostError};

/// Whether the node has its key and certificate.
pub fn present() -> bool {
    std::path::Path::new(TLS_CERT).exists() && std::path::Path::new(TLS_KEY).exists()
}

/// Makes the key and a certificate for `fqdn` valid for ten years.
pub fn make(fqdn: &str) -> Result<(), HostError> {
    let dir = std::path::Path::new(TLS_KEY)
        .parent()
        .expect("key path has a parent");
    std::fs::create_dir_all(dir).map_err(|source| HostError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let key_tmp = format!("{TLS_KEY}.new");
    let cert_tmp = format!("{TLS_CERT}.new");
    host::run(Command::new("openssl").args([
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "3650",
        "-subj",
        &format!("/CN={fqdn}"),
        "-addext",
        &format!("subjectAltName=DNS:{fqdn}"),
        "-keyout",
        &key_tmp,
        "-out",
        &cert_tmp,
    ]))?;
    host::run(Command::new("chgrp").args(["ssl-cert", &key_tmp]))?;
    host::run(Command::new("chmod").args(["0640", &key_tmp]))?;
    host::run(Command::new("chmod").args(["0644", &cert_tmp]))?;
    // The certificate last: `present()` is true only once both are in place.
    for (tmp, path) in [(&key_tmp, TLS_KEY), (&cert_tmp, TLS_CERT)] {
        std::fs::rename(tmp, path).map_err(|source| HostError::Io {
            path: path.into(),
            source,
        })?;
    }
    Ok(())
}
