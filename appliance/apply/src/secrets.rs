//! The node's service secrets (`/etc/pigeonair/secrets.toml`, root only): made once at the
//! first install and reused, so rendering is the same on every apply.

use std::path::Path;

use pigeonair_appliance::render::{RenderedFile, Secrets, Unit};

use crate::files::{self, FileError, Root};
use pigeonair_appliance::crypt::random_secret;

/// Where the secrets live on the node.
pub const SECRETS_FILE: &str = "/etc/pigeonair/secrets.toml";

/// The secrets on the node, or new ones (not yet written) when there are none.
/// Returns whether they are new.
pub fn load_or_make(root: &Root) -> Result<(Secrets, bool), FileError> {
    let path = root.path(SECRETS_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => match toml::from_str::<Secrets>(&text) {
            // A file from before clusters lacks the cluster's own secrets: add them.
            Ok(mut s) if s.proxy.is_empty() || s.doveadm.is_empty() => {
                for field in [&mut s.proxy, &mut s.doveadm] {
                    if field.is_empty() {
                        *field = random_secret(32);
                    }
                }
                Ok((s, true))
            }
            Ok(s) => Ok((s, false)),
            // A damaged file (an apply killed while writing is impossible: writes are
            // atomic) is replaced; the service accounts' passwords are converged to it.
            Err(_) => Ok((make(), true)),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((make(), true)),
        Err(source) => Err(FileError::Io {
            path: Path::new(&path).to_owned(),
            source,
        }),
    }
}

fn make() -> Secrets {
    Secrets {
        postfix_ldap: random_secret(32),
        dovecot_ldap: random_secret(32),
        proxy: random_secret(32),
        doveadm: random_secret(32),
    }
}

/// The secrets as a file to write.
pub fn as_file(secrets: &Secrets) -> RenderedFile {
    RenderedFile {
        path: SECRETS_FILE.into(),
        contents: format!(
            "# The cluster's secrets (service accounts' LDAP bind passwords, proxy, doveadm), made by\n# pigeonair-install.\n{}",
            toml::to_string(secrets).expect("secrets serialise")
        ),
        mode: 0o600,
        owner: "root".into(),
        group: "root".into(),
        unit: Unit::None,
    }
}

/// Writes the secrets.
pub fn save(root: &Root, secrets: &Secrets) -> Result<(), FileError> {
    files::write_file(root, &as_file(secrets))
}
